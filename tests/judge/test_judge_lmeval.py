"""The `lm-eval` judge: EleutherAI's lm-evaluation-harness on every model of a study (the tiny
models of tiny_study_run, the packaged local task), and the report's benchmark curves."""

from __future__ import annotations

import json

import pytest

from instructscale.errors import ConfigError
from instructscale.judge.lmeval import LmEvalConfig, model_args, run_lm_eval
from needs import needs_module

pytestmark = needs_module("lm_eval", "pip install -e '.[lmeval]'")


def test_the_study_benchmarks_every_model_and_the_report_sets_it_beside_the_judge(tiny_study_run):
    index = json.loads((tiny_study_run / "index.json").read_text())
    assert index["benchmarks"] == {"bench": "benchmarks/bench.json"} and "bench" not in index["judgements"]
    results = json.loads((tiny_study_run / "benchmarks" / "bench.json").read_text())
    assert set(results["models"]) == {s["model"] for s in index["scales"]}
    for scores in results["models"].values():
        score = scores["instructscale_demo_mc"]
        assert score["metric"] == "acc_norm" and score["samples"] == 8
        assert score["value"] * 8 == pytest.approx(round(score["value"] * 8))  # a share of 8 items
        assert score["stderr"] is not None

    report = json.loads((tiny_study_run / "report" / "benchmarks.json").read_text())
    (row,) = report["rows"]
    assert [p["size"] for p in row["points"]] == [0, 20, 50] and row["n"] == 3
    assert [p["value"] for p in row["points"]] == [results["models"][f"scale_{n}"]["instructscale_demo_mc"]["value"]
                                                   for n in (0, 20, 50)]
    macro = next(r for r in json.loads((tiny_study_run / "report" / "scores.json").read_text())["rows"]
                 if r["category"] == "macro")
    assert [p["judge_overall"] for p in row["points"]] == [c["mean"] for c in macro["cells"]]
    assert (tiny_study_run / "report" / "benchmarks.png").stat().st_size > 1000
    assert "instructscale_demo_mc" in (tiny_study_run / "report" / "benchmarks.md").read_text()
    html = (tiny_study_run / "report" / "report.html").read_text()
    assert 'id="benchmarks-table"' in html and "instructscale_demo_mc" in html and 'id="benchmarks-img"' in html


def test_models_already_scored_with_the_same_settings_are_not_run_again(tiny_study_run, tmp_path):
    stored = tiny_study_run / "benchmarks" / "bench.json"
    out = tmp_path / "bench.json"
    out.write_bytes(stored.read_bytes())
    cfg = LmEvalConfig(**{**json.loads(stored.read_text())["settings"], "out": out})
    models = {"scale_20": str(tiny_study_run / "models" / "scale_20")}
    assert run_lm_eval(cfg, models)["scale_20"]["instructscale_demo_mc"].model_dump() == \
        json.loads(stored.read_text())["models"]["scale_20"]["instructscale_demo_mc"]
    assert out.read_bytes() == stored.read_bytes()  # nothing evaluated, nothing rewritten


def test_unknown_tasks_and_adapters(tmp_path):
    cfg = LmEvalConfig(tasks=["no_such_task_anywhere"], out=tmp_path / "r.json")
    with pytest.raises(ConfigError, match="no task no_such_task_anywhere"):
        run_lm_eval(cfg, {"m": str(tmp_path)})
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "instructscale.json").write_text(json.dumps({"adapter": True, "base_model": "org/base"}))
    assert model_args(str(adapter)) == f"pretrained=org/base,peft={adapter},tokenizer={adapter}"


def test_benchmark_command_scores_a_model_alone(tiny_base_model, tmp_path):
    from typer.testing import CliRunner

    from instructscale.cli.main import app

    base = tiny_base_model("gpt2")
    out = tmp_path / "bench.json"
    args = ["benchmark", "--model", f"base={base}", "--tasks", "instructscale_demo_mc", "--limit", "4", "--out", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    score = json.loads(out.read_text())["models"]["base"]["instructscale_demo_mc"]
    assert ["base", "instructscale_demo_mc", "acc_norm", f"{score['value']:.4f}"] == result.output.splitlines()[-1].split()
    assert score["samples"] == 4
    bad = CliRunner().invoke(app, ["benchmark", "--model", "nopath", "--tasks", "x", "--out", str(out)])
    assert bad.exit_code == 2 and "NAME=PATH" in bad.output
