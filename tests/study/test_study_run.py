"""End to end: `study run` on a tiny configuration (offline teacher as teacher and judge,
tiny model), rerun with zero work, then a judge change re-runs only judging and report."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from instructscale.cli.main import app
from instructscale.errors import ConfigError
from instructscale.study import Study, load_study

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
TINY_STUDY = {
    "name": "tiny study",
    "seed": 0,
    "teacher": {"offline_demo": True, "concurrency": 4},
    "data": {"generate": {"target": 60, "num_new_tasks": 10, "dedup_fields": "instruction+input",
                          "rouge_threshold": 0.9}},
    "eval": {"demo_world_per_category": 1},
    "subsets": {"sizes": [20, 50]},
    "base_model": {"tiny": {"arch": "gpt2", "vocab_size": 400, "hidden_size": 32, "num_layers": 1,
                            "num_heads": 2, "max_positions": 128}},
    "train": {"preset": "demo", "max_steps": 2, "max_length": 96},
    "respond": {"preset": "greedy", "max_new_tokens": 8, "batch_size": 16},
    "judges": [{"name": "teacher", "kind": "llm", "options": {"repeats": 2}},
               {"name": "reference", "kind": "reference"}],
    "report": {"bootstrap_samples": 100},
}


def write_study(tmp_path, **changes):
    data = json.loads(json.dumps(TINY_STUDY))
    data["run_dir"] = str(tmp_path / "run")
    data.update(changes)
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def run(path, *args):
    result = CliRunner().invoke(app, ["study", "run", str(path), *args])
    assert result.exit_code == 0, result.output
    return result.output


def outcomes(path, *overrides):
    return dict(Study(load_study(path, list(overrides)), source=str(path)).run())


def test_study_runs_end_to_end_then_skips_everything_then_rejudges_only(tmp_path):
    path = write_study(tmp_path)
    first = outcomes(path)
    assert set(first.values()) == {"ran"}
    assert list(first) == ["eval", "pool", "subsets", "base", "train:20", "train:50", "respond:0", "respond:20",
                           "respond:50", "judge:teacher", "judge:reference", "report"]
    run_dir = tmp_path / "run"
    index = json.loads((run_dir / "index.json").read_text())
    assert [s["size"] for s in index["scales"]] == [0, 20, 50]
    assert (run_dir / "report" / "report.html").exists()
    assert index["primary_judge"] == "teacher"
    eval_items = (run_dir / "eval" / "eval.jsonl").read_text().splitlines()
    teacher_rows = (run_dir / "judgements" / "teacher.jsonl").read_text().splitlines()
    assert len(teacher_rows) == 3 * len(eval_items) * 2  # scales x items x repeats
    manifest = json.loads((run_dir / "manifests" / "train__50.json").read_text())
    assert manifest["status"] == "done" and manifest["versions"]["torch"] and manifest["seconds"] >= 0

    rerun = run(path)  # nothing to do; the CLI still prints the table and what the reader must know under it
    assert "0 unit(s) ran" in rerun and re.search(r"warning: judge 'teacher' is the teacher model", rerun)

    rejudged = outcomes(path, "judges.0.options.repeats=3")
    assert {k for k, v in rejudged.items() if v == "ran"} == {"judge:teacher", "report"}
    teacher_rows = (run_dir / "judgements" / "teacher.jsonl").read_text().splitlines()
    assert len(teacher_rows) == 3 * len(eval_items) * 3

    study = Study(load_study(path, ["judges.0.options.repeats=3", "train.learning_rate=0.01"]), source=str(path))
    states = {row.unit: row.state for row in study.status()}
    assert states["train:20"] == "changed" and states["eval"] == "done" and states["judge:reference"] == "changed"


def test_cli_run_prints_table_and_report_path_and_status(tmp_path):
    path = write_study(tmp_path, subsets={"sizes": [20]}, judges=[{"name": "reference", "kind": "reference"}])
    out = run(path)
    assert "HTML report" in out and "report.html" in out and "verdict" in out
    status = CliRunner().invoke(app, ["study", "status", str(path)])
    assert status.exit_code == 0 and "done" in status.output and "pending" not in status.output


def test_invalid_config_fails_before_any_work_naming_the_field(tmp_path):
    path = write_study(tmp_path, train={"preset": "demo", "learning_rate": "fast"})
    result = CliRunner().invoke(app, ["study", "run", str(path)])
    assert result.exit_code == 2
    assert "study.yaml" in result.output and "train.learning_rate" in result.output
    assert not (tmp_path / "run").exists()
    fixed = load_study(path, ["train.learning_rate=0.1", "judges.0.options.repeats=0"])
    with pytest.raises(ConfigError, match="judges.0.options.repeats"):
        Study(fixed, source=str(path))


def test_only_a_later_stage_needs_earlier_stages_done(tmp_path):
    path = write_study(tmp_path)
    study = Study(load_study(path), source=str(path))
    with pytest.raises(ConfigError, match="needs"):
        study.run(only=["subsets"])
    with pytest.raises(ConfigError, match="unknown stage"):
        study.run(only=["training"])


@pytest.mark.parametrize("preset", ["demo", "demo_arms", "replica", "replica_lora"])
def test_init_writes_a_commented_file_that_loads_back_as_the_preset(tmp_path, preset):
    out = tmp_path / f"{preset}.yaml"
    result = CliRunner().invoke(app, ["study", "init", str(out), "--preset", preset])
    assert result.exit_code == 0, result.output
    text = out.read_text(encoding="utf-8")
    assert "# Where every stage writes its outputs" in text
    assert load_study(out) == load_study(CONFIGS / f"{preset}.yaml")


def test_demo_run_against_an_external_openai_compatible_server(tmp_path, monkeypatch):
    """`demo run --teacher-url`: the teacher and judge are a server the user runs (here the
    demo teacher served on its own port), reached over HTTP like any real one."""
    from instructscale.demo import serve

    monkeypatch.chdir(tmp_path)
    tiny = ["data.generate.target=40", "eval.demo_world_per_category=1", "subsets.sizes=[20]",
            "base_model.tiny={arch: gpt2, vocab_size: 400, hidden_size: 32, num_layers: 1, num_heads: 2, "
            "max_positions: 128}", "train.min_steps=0", "train.max_steps=2", "train.max_length=96",
            "respond.max_new_tokens=8", "judges.0.options.repeats=1", "report.bootstrap_samples=100"]
    server = serve(seed=0)
    try:
        args = ["demo", "run", "--run-dir", "run", "--teacher-url", server.base_url, "--teacher-model", "local"]
        result = CliRunner().invoke(app, [*args, *[x for o in tiny for x in ("--set", o)]])
        requests = server.request_count
    finally:
        server.stop()
    assert result.exit_code == 0, result.output
    assert requests > 0 and "offline demo teacher" not in result.output
    judged = [json.loads(line) for line in (tmp_path / "run" / "judgements" / "teacher.jsonl").read_text().splitlines()]
    assert judged and {j["judge"] for j in judged} == {"local"}


def test_a_copied_run_read_from_elsewhere_names_its_own_report(tmp_path, monkeypatch):
    """Manifests hold paths relative to the run dir, so a copied run (`--set run_dir=COPY`, run
    from another working directory) prints a report path that exists, inside the copy."""
    import shutil

    monkeypatch.chdir(tmp_path)
    path = write_study(tmp_path, subsets={"sizes": [20]}, judges=[{"name": "reference", "kind": "reference"}],
                       run_dir="run")
    run(path)
    shutil.copytree(tmp_path / "run", tmp_path / "copies" / "run")
    shutil.rmtree(tmp_path / "run")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    out = run(path, "--set", f"run_dir={tmp_path / 'copies' / 'run'}")
    shown = Path(re.search(r"HTML report: (\S+)", out).group(1))
    assert shown.is_file() and shown.is_relative_to((tmp_path / "copies" / "run").resolve()), out
    manifest = json.loads((tmp_path / "copies" / "run" / "manifests" / "report.json").read_text())
    assert manifest["summary"]["files"]["html"] == "report/report.html"


def test_results_file_holds_the_study_settings(tiny_study_run):
    results = json.loads((tiny_study_run / "report" / "results.json").read_text())
    study = results["config"]["study"]
    assert study["name"] == "tiny study" and study["subsets"]["sizes"] == [20, 50]
    assert set(results["results"]["main"]) >= {"macro", "micro"} and results["judges"]["teacher"] == "demo-teacher"
    assert sum(1 for _ in (tiny_study_run / "report" / "samples.jsonl").open()) > 0


def test_limit_shrinks_a_real_config_into_its_own_run_dir():
    cfg = load_study(CONFIGS / "replica.yaml", limit=3)
    full = load_study(CONFIGS / "replica.yaml")
    assert cfg.run_dir == full.run_dir + "-smoke3" and cfg.eval.limit_per_category == 3
    assert cfg.subsets.sizes == [15, 30, 45, 60] and cfg.data.generate["target"] == 95
    assert cfg.train["max_steps"] == 3 and cfg.base_model == full.base_model and cfg.teacher == full.teacher
    assert all(j.options.get("limit") == 3 for j in cfg.judges if j.kind == "lm-eval")
    arms, full_arms = load_study(CONFIGS / "demo_arms.yaml", limit=2), load_study(CONFIGS / "demo_arms.yaml")
    assert arms.subsets.sizes == [10 * (i + 1) for i in range(len(full_arms.subsets.sizes))]
    assert [a.name for a in arms.arms] == [a.name for a in full_arms.arms]


def test_smoke_run_end_to_end_leaves_the_real_run_alone(tmp_path):
    path = write_study(tmp_path, eval={"demo_world_per_category": 3},
                       judges=[{"name": "reference", "kind": "reference"}])
    out = run(path, "--limit", "1")
    smoke = tmp_path / "run-smoke1"
    assert not (tmp_path / "run").exists() and (smoke / "report" / "report.html").is_file(), out
    items = [json.loads(line) for line in (smoke / "eval" / "eval.jsonl").read_text().splitlines()]
    categories = [i["category"] for i in items]
    assert len(categories) == len(set(categories))  # one item per category
    assert [sum(1 for _ in (smoke / "subsets" / f"subset_{n}.jsonl").open()) for n in (5, 10)] == [5, 10]
    assert json.loads((smoke / "manifests" / "eval.json").read_text())["status"] == "done"


def test_a_renamed_judge_rebuilds_the_report_and_the_index_lists_the_current_judges(tmp_path):
    first = [{"name": "reference", "kind": "reference"}, {"name": "second", "kind": "reference"}]
    path = write_study(tmp_path, subsets={"sizes": [20]}, judges=first)
    run(path)
    renamed = write_study(tmp_path, subsets={"sizes": [20]}, judges=[first[0], {**first[1], "name": "metrics"}])
    again = outcomes(renamed)  # the primary judge is still 'reference': only the second one's name changed
    assert again["judge:metrics"] == "ran" and again["report"] == "ran"
    assert {k for k, v in again.items() if v != "skipped"} == {"judge:metrics", "report"}
    index = json.loads((tmp_path / "run" / "index.json").read_text())
    assert list(index["judgements"]) == ["reference", "metrics"] and index["primary_judge"] == "reference"
    assert "metrics" in (tmp_path / "run" / "report" / "report.html").read_text()


def test_the_printed_report_path_is_this_run_dirs_and_only_when_the_report_was_selected(tiny_study_run, tmp_path):
    import shutil

    copy = tmp_path / "copied"
    shutil.copytree(tiny_study_run, copy)
    data = yaml.safe_load((tiny_study_run.parent / "study.yaml").read_text(encoding="utf-8"))
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump({**data, "run_dir": str(copy)}, allow_unicode=True), encoding="utf-8")
    early = run(path, "--only", "eval,pool,subsets")
    assert "HTML report" not in early and "verdict" not in early
    out = " ".join(run(path).split())
    assert "0 unit(s) ran" in out
    assert f"HTML report: {(copy / 'report' / 'report.html').resolve()}" in out and str(tiny_study_run) not in out
