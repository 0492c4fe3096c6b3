"""`study plan`: the whole study's cost from its settings, checked against the same numbers
worked out here by hand from the config, the price table, Table 1 and the GPU table."""

from __future__ import annotations

import json
import math
from pathlib import Path

import yaml
from typer.testing import CliRunner

from instructscale.cli.main import app
from instructscale.generate.seeds import load_seed_tasks
from instructscale.llm.usage import estimate_tokens
from instructscale.study import Study, load_study
from instructscale.study.plan import Assumptions, plan_study

from test_study_run import write_study

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "src" / "instructscale" / "data"


def _replica_json(*args):
    result = CliRunner().invoke(app, ["study", "plan", str(ROOT / "configs" / "replica.yaml"), "--json",
                                      "--set", "run_dir=/nonexistent/replica", *args])
    assert result.exit_code == 0, result.output
    plan = json.loads(result.output)
    return plan, {u["unit"]: u for u in plan["units"]}


def test_replica_plan_matches_a_hand_computation_from_its_settings():
    plan, units = _replica_json()
    prices = yaml.safe_load((DATA / "prices.yaml").read_text())["gpt-3.5-turbo"]
    a100 = yaml.safe_load((DATA / "gpus.yaml").read_text())["A100-80GB"]["tflops"] * 1e12
    table1 = yaml.safe_load((DATA / "categories.yaml").read_text())
    items = sum(round(c["paper_count"] * 1000 / sum(d["paper_count"] for d in table1)) for c in table1)
    assert 995 <= items <= 1005  # Table 1's shape at the public release's 1,000 items

    # 2M examples, 20 a request, half kept
    assert units["pool"]["requests"] == math.ceil(2_000_000 / 20 / 0.5)
    # the judge: 5 models (scale 0 and 4 scales) x every item x 3 repeats, 5% re-asked, 100-token replies
    judge = units["judge:chatgpt"]
    assert judge["requests"] == math.ceil(5 * items * 3 * 1.05)
    assert judge["output_tokens"] == judge["requests"] * 100
    assert judge["usd"] == (judge["input_tokens"] * prices["input"] + judge["output_tokens"] * prices["output"]) / 1e6
    per_ask = judge["input_tokens"] / (5 * items * 3 * 1.05)
    assert 128 < per_ask < 1000  # a prompt, the question and a 128-token answer
    # training 2M: 2 epochs at batch 64, rows as long as the seed tasks plus the template, 8 x N x tokens
    # (gradient checkpointing), bloomz-7b1 = 7.1e9 parameters read from the name
    seeds = load_seed_tasks(None)
    row = sum(estimate_tokens(f"{s.instruction} {s.input} {s.output}") for s in seeds) / len(seeds) + 16
    flops = 8 * 7.1e9 * math.ceil(2_000_000 * 2 / 64) * 64 * row
    train = units["train:2000000"]
    assert math.isclose(train["gpu_hours"], flops / (a100 * 0.35) / 3600, rel_tol=1e-9)
    assert math.isclose(train["wall_hours"], train["gpu_hours"] / 8, rel_tol=1e-9)
    assert math.isclose(train["disk_gb"], 7.1e9 * 4 / 1e9)
    assert units["judge:reference"]["usd"] == 0 and units["respond:0"]["requests"] == 0  # vllm: no API
    total = plan["total"]
    assert math.isclose(total["usd"], sum(u["usd"] for u in plan["units"]))
    assert any("eval_set.jsonl does not exist" in n for n in plan["notes"])
    for unit in plan["units"]:
        assert {"unit", "stage", "requests", "input_tokens", "output_tokens", "usd", "gpu_hours"} <= set(unit)


def test_plan_assumptions_are_settable_and_scale_the_numbers():
    _, base = _replica_json()
    _, h100 = _replica_json("--gpu", "H100-80GB", "--gpus", "16", "--params", "3.55e9")
    ratio = base["train:200000"]["gpu_hours"] / h100["train:200000"]["gpu_hours"]
    assert math.isclose(ratio, 2 * 989 / 312, rel_tol=1e-9)  # half the parameters on a 989-TFLOP/s GPU
    assert math.isclose(h100["train:200000"]["wall_hours"], h100["train:200000"]["gpu_hours"] / 16)


def test_done_units_cost_nothing_and_the_rest_is_still_priced(tmp_path):
    path = write_study(tmp_path)
    study = Study(load_study(path), source=str(path))
    before = {r.unit: r for r in plan_study(study, Assumptions()).rows}
    assert before["pool"].requests > 0 and before["judge:teacher"].requests > 0
    assert before["judge:teacher"].usd is None  # the offline teacher is not in the price table
    result = CliRunner().invoke(app, ["study", "run", str(path), "--only", "eval,pool"])
    assert result.exit_code == 0, result.output
    after = {r.unit: r for r in plan_study(Study(load_study(path), source=str(path))).rows}
    assert after["pool"].state == "done" and after["pool"].requests == 0 and after["eval"].state == "done"
    assert after["judge:teacher"].requests == before["judge:teacher"].requests


def test_plan_prints_a_table_the_notes_and_the_formulas(tmp_path):
    path = write_study(tmp_path, eval={"path": str(tmp_path / "eval_set.jsonl")})
    result = CliRunner().invoke(app, ["study", "plan", str(path)])
    assert result.exit_code == 0, result.output
    flat = " ".join(result.output.split())
    assert "judge:teacher" in flat and "total" in flat
    assert "eval_set.jsonl does not exist; get the study's public release" in flat
    assert "GPU-hours = FLOPs / (312 TFLOP/s of a A100-80GB x 0.35) / 3600" in flat
    assert not (tmp_path / "run").exists()  # planning writes nothing


def test_the_plan_prices_api_work_online_and_through_the_batch_api():
    plan, units = _replica_json()
    prices = yaml.safe_load((DATA / "prices.yaml").read_text())["gpt-3.5-turbo"]
    for name in ("pool", "judge:chatgpt"):
        row = units[name]
        assert row["usd"] == row["usd_online"] > 0
        assert math.isclose(row["usd_batch"], row["usd_online"] * prices["batch"], rel_tol=1e-12)
    assert math.isclose(plan["total"]["usd_batch"], sum(u["usd_batch"] or 0 for u in plan["units"]), rel_tol=1e-12)
    # generation in batch mode is priced at the batch price; the table shows both columns
    _, batched = _replica_json("--set", "data.generate.client.batch=true")
    assert batched["pool"]["usd"] == batched["pool"]["usd_batch"] == units["pool"]["usd_batch"]
    result = CliRunner().invoke(app, ["study", "plan", str(ROOT / "configs" / "replica.yaml"),
                                      "--set", "run_dir=/nonexistent/replica"])
    assert "batch USD" in result.output and "516.70" in result.output and "258.35" in result.output
