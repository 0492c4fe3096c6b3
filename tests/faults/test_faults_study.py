"""A study whose judge server fails every call: `study run` leaves the judge unit partial
(never done), the report waits, and the run exits non-zero; once the server is healthy,
the next `study run` makes exactly the missing judge requests and finishes done. Also the
ledger rule itself, without a study, and the run directory lock."""

from __future__ import annotations

import json
import os

import yaml
from typer.testing import CliRunner

from instructscale.cli.main import app
from instructscale.datafiles import read_jsonl_resumable
from instructscale.llm.fake_server import Fault
from instructscale.locks import exclusive
from instructscale.study import Study, load_study
from instructscale.study.units import Ledger, make_unit

from conftest import KEY_ENV, SECRET, files_holding  # noqa: I001  (tests/faults/conftest.py)


def tiny_study(tmp_path, judge_url):
    data = {
        "name": "faults", "seed": 0, "run_dir": str(tmp_path / "run"),
        "teacher": {"offline_demo": True, "concurrency": 4},
        "data": {"generate": {"target": 30, "num_new_tasks": 10, "dedup_fields": "instruction+input",
                              "rouge_threshold": 0.9}},
        "eval": {"demo_world_per_category": 1},
        "subsets": {"sizes": [20]},
        "base_model": {"tiny": {"arch": "gpt2", "vocab_size": 300, "hidden_size": 16, "num_layers": 1,
                                "num_heads": 2, "max_positions": 96}},
        "train": {"preset": "demo", "max_steps": 1, "min_steps": 1, "max_length": 64},
        "respond": {"preset": "greedy", "max_new_tokens": 4, "batch_size": 32},
        "judges": [{"name": "api", "kind": "llm", "use_teacher": False,
                    "options": {"repeats": 1, "reasks": 0, "client": {
                        "base_url": judge_url, "model": "judge-m", "api_key_env": KEY_ENV, "max_attempts": 2,
                        "backoff_base_s": 0.01, "concurrency": 8}}}],
        "report": {"bootstrap_samples": 100},
    }
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def manifest(run_dir, unit):
    return json.loads((run_dir / "manifests" / f"{unit.replace(':', '__')}.json").read_text())


def test_failed_judge_calls_leave_the_unit_partial_and_the_next_run_redoes_exactly_them(
        fake_server, secret_key, tmp_path):
    srv = fake_server(["评语。得分: 0.5"])
    srv.always(Fault.echo_auth())  # a 500 on every call, its text repeating the key
    path = tiny_study(tmp_path, srv.base_url)
    run_dir = tmp_path / "run"

    first = CliRunner().invoke(app, ["study", "run", str(path)])
    assert first.exit_code != 0
    assert "judge:api" in first.output and "rerun `study run`" in first.output
    judged = manifest(run_dir, "judge:api")
    assert judged["status"] == "partial" and judged["summary"]["api_failures"] > 0
    keys = judged["summary"]["api_failures"]
    assert srv.request_count == 2 * keys  # every judgement tried twice
    assert not (run_dir / "manifests" / "report.json").exists()  # the report waits for the judge
    states = {row.unit: row.state for row in Study(load_study(path), source=str(path)).status()}
    assert states["judge:api"] == "partial" and states["respond:20"] == "done"
    assert SECRET not in first.output and files_holding(tmp_path, SECRET) == []

    srv.reset()  # healthy
    second = CliRunner().invoke(app, ["study", "run", str(path)])
    assert second.exit_code == 0, second.output
    redone = manifest(run_dir, "judge:api")
    # exactly the failed judgements, once each: two scales that answered alike share a cached reply
    assert srv.request_count + redone["summary"]["cache_hits"] == keys
    assert len({json.dumps(b["messages"]) for b in srv.requests}) == srv.request_count
    assert redone["status"] == "done" and manifest(run_dir, "report")["status"] == "done"
    rows, _ = read_jsonl_resumable(run_dir / "judgements" / "api.jsonl")
    assert len(rows) == keys and all(r["score"] == 0.5 and r["error"] is None for r in rows)
    third = dict(Study(load_study(path), source=str(path)).run())
    assert set(third.values()) == {"skipped"} and srv.request_count + redone["summary"]["cache_hits"] == keys


def test_a_unit_whose_summary_names_unfinished_work_is_partial_and_runs_again(tmp_path):
    calls = []

    def work():
        calls.append(1)
        return {"incomplete": "3 API failures"} if len(calls) == 1 else {"ok": True}

    ledger = Ledger(tmp_path)
    first = make_unit("judge:x", "judge", {"a": 1})
    after = make_unit("report", "report", {}, after=[first])
    assert ledger.execute(first, work)[0] == "partial" and ledger.state(first) == "partial"
    assert ledger.waits(after) and "judge:x" in ledger.unfinished and "report" in ledger.unfinished
    ledger = Ledger(tmp_path)  # the next study run
    assert ledger.execute(first, work)[0] == "ran" and ledger.state(first) == "done" and len(calls) == 2
    assert not ledger.waits(after) and ledger.execute(first, work)[0] == "skipped"


def test_a_second_study_run_on_the_same_run_directory_fails_at_once_naming_the_holder(fake_server, tmp_path):
    srv = fake_server(["得分: 1"])
    path = tiny_study(tmp_path, srv.base_url)
    (tmp_path / "run").mkdir()
    with exclusive(tmp_path / "run"):
        result = CliRunner().invoke(app, ["study", "run", str(path)])
    assert result.exit_code != 0 and f"PID {os.getpid()}" in result.output and "in use" in result.output
    assert not (tmp_path / "run" / "manifests").exists()  # nothing ran


def test_a_truncated_model_is_damaged_not_done_and_the_next_run_retrains_only_it(fake_server, tmp_path):
    srv = fake_server(["评语。得分: 1"])
    path = tiny_study(tmp_path, srv.base_url)
    run_dir = tmp_path / "run"
    assert CliRunner().invoke(app, ["study", "run", str(path)]).exit_code == 0
    weights = run_dir / "models" / "scale_20" / "model.safetensors"
    whole = weights.read_bytes()
    assert manifest(run_dir, "train:20")["outputs"]["models/scale_20/model.safetensors"]["size"] == len(whole)
    weights.write_bytes(whole[: len(whole) // 2])

    states = {row.unit: row.state for row in Study(load_study(path), source=str(path)).status()}
    assert states["train:20"] == "damaged" and states["respond:20"] == "done" and states["base"] == "done"
    status = CliRunner().invoke(app, ["study", "status", str(path)])
    assert status.exit_code == 0 and "damaged" in status.output
    respond = CliRunner().invoke(app, ["respond", "--model", f"m={weights.parent}", "--eval",
                                       str(run_dir / "eval" / "eval.jsonl"), "--out", str(tmp_path / "r.jsonl")])
    assert respond.exit_code == 2 and "Traceback" not in respond.output and "SafetensorError" not in respond.output
    assert "cannot load model" in respond.output and len(respond.output.strip().splitlines()) <= 3

    again = CliRunner().invoke(app, ["study", "run", str(path)])
    assert again.exit_code == 0, again.output
    assert "train:20: models/scale_20/model.safetensors has" in " ".join(again.output.split())
    assert weights.read_bytes() == whole  # the same deterministic training, redone from scratch
    states = {row.unit: row.state for row in Study(load_study(path), source=str(path)).status()}
    assert set(states.values()) == {"done"}
    third = dict(Study(load_study(path), source=str(path)).run())
    assert set(third.values()) == {"skipped"}


def test_a_done_unit_whose_output_file_changed_or_vanished_runs_again(tmp_path):
    out = tmp_path / "out.txt"
    calls = []

    def work():
        calls.append(1)
        out.write_text("result", encoding="utf-8")
        return {}

    unit = make_unit("respond:1", "respond", {"a": 1}, outputs=[out])
    assert Ledger(tmp_path).execute(unit, work)[0] == "ran" and Ledger(tmp_path).state(unit) == "done"
    out.write_text("resulT", encoding="utf-8")  # same size, other bytes
    assert Ledger(tmp_path).state(unit) == "damaged"
    assert Ledger(tmp_path).execute(unit, work)[0] == "ran" and len(calls) == 2 and Ledger(tmp_path).state(unit) == "done"
    out.unlink()
    assert Ledger(tmp_path).state(unit) == "damaged"
