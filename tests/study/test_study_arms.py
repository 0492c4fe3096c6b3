"""Study arms and training seeds: a finished study gains an arm and seeds without
retraining what it has, `--arm` runs one arm (judging waits for the others), the run index
lists every model with its arm and seed, the report shows every arm (curves, verdicts,
arm minus baseline over the same items, training data, answers side by side), and a
study without arms keeps its unit names and fingerprints."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from instructscale.cli.main import app
from instructscale.errors import ConfigError
from instructscale.study import Study, load_study
from tests.study.test_study_run import CONFIGS, run, write_study

ARMS = ["arms=[{name: main}, {name: strat, subsets: {stratify: true}, train: {learning_rate: 0.01}}]",
        "train.seeds=[0, 1]"]
ONE_JUDGE = {"judges": [{"name": "reference", "kind": "reference"}], "subsets": {"sizes": [20]}}


def ran(outcomes) -> set[str]:
    return {name for name, outcome in outcomes if outcome == "ran"}


def test_a_finished_study_gains_an_arm_and_seeds_then_runs_one_arm(tmp_path):
    path = write_study(tmp_path, **ONE_JUDGE)
    Study(load_study(path), source=str(path)).run()

    study = Study(load_study(path, ARMS), source=str(path))
    first = study.run(arms=["strat"])
    assert ran(first) == {"subsets@strat", "train:20@strat", "train:20_seed1@strat", "respond:20@strat",
                          "respond:20_seed1@strat"}  # the judge waits for main's new seed
    states = {row.unit: row.state for row in study.status()}
    assert states["train:20_seed1"] == "pending" and states["judge:reference"] == "changed"

    second = study.run()
    assert ran(second) == {"train:20_seed1", "respond:20_seed1", "judge:reference", "report"}
    assert dict(second)["train:20"] == "skipped" and dict(second)["respond:0"] == "skipped"

    run_dir = tmp_path / "run"
    index = json.loads((run_dir / "index.json").read_text())
    entries = {(s["arm"], s["size"], s["seed"]): s for s in index["scales"]}
    assert set(entries) == {("main", 0, None), ("main", 20, 0), ("main", 20, 1),
                            ("strat", 0, None), ("strat", 20, 0), ("strat", 20, 1)}
    assert entries[("main", 0, None)]["model"] == entries[("strat", 0, None)]["model"] == "scale_0"
    assert entries[("strat", 20, 1)]["model"] == "scale_20_seed1@strat"
    assert entries[("strat", 20, 0)]["subset"] == "subsets@strat/subset_20.jsonl"
    assert index["teacher_model"] == "demo-teacher" and index["judge_models"] == {}
    judged = {json.loads(line)["model"] for line in (run_dir / "judgements" / "reference.jsonl").open()}
    assert judged == {e["model"] for e in index["scales"]}
    seeds = {json.loads((run_dir / "models" / m / "instructscale.json").read_text())["train"]["seed"]
             for m in ("scale_20", "scale_20_seed1@strat")}
    assert seeds == {0, 1}

    out = run(path, *[x for s in ARMS for x in ("--set", s)])  # nothing to do: prints every arm's table
    assert "arm strat: mean score" in out
    report = tmp_path / "run" / "report"
    arms = json.loads((report / "arms.json").read_text())
    assert arms["arms"] == ["main", "strat"]
    assert {(m["arm"], m["size"]) for m in arms["means"]} == {("main", 0), ("main", 20), ("strat", 0), ("strat", 20)}
    diffs = {(d["arm"], d["size"], d["category"]): d for d in arms["differences"]}
    assert {k[:2] for k in diffs} == {("strat", 20)} and ("strat", 20, "macro") in diffs
    eval_items = (tmp_path / "run" / "eval" / "eval.jsonl").read_text().splitlines()
    assert sum(d["items"] for k, d in diffs.items() if k[2] != "macro") == len(eval_items)
    assert [c["name"] for c in arms["composition"]["strat"]] == ["20"]
    html = (report / "report.html").read_text(encoding="utf-8")
    assert 'id="arm-verdicts"' in html and 'id="arm-differences"' in html and "One curve per arm" in html
    data = json.loads(html.split('id="items-data">')[1].split("</script>")[0])
    assert data["arms"] == ["main", "strat"]
    labels = {(a["arm"], a["label"]) for a in data["items"][0]["answers"]}
    assert labels == {("main", "0"), ("strat", "0"), ("main", "20 seed 0"), ("main", "20 seed 1"),
                      ("strat", "20 seed 0"), ("strat", "20 seed 1")}

    status = CliRunner().invoke(app, ["study", "status", str(path), *[x for s in ARMS for x in ("--set", s)]])
    assert status.exit_code == 0, status.output
    assert "arms x scales" in status.output and "strat" in status.output and "pending" not in status.output

    changed = Study(load_study(path, [*ARMS, "arms.1.train.learning_rate=0.02"]), source=str(path))
    grid = changed.grid()
    assert grid["main"] == {0: "done", 20: "done"} and grid["strat"][20] == "0/2 done"
    assert ran(changed.run(only=["train", "respond", "arm:strat"])) == {
        "train:20@strat", "train:20_seed1@strat", "respond:20@strat", "respond:20_seed1@strat"}


def test_a_study_without_arms_keeps_its_unit_names_and_fingerprints(tmp_path):
    path = write_study(tmp_path)
    plain = Study(load_study(path), source=str(path))
    explicit = Study(load_study(path, ["arms=[{name: main}]"]), source=str(path))
    fingerprints = {u.name: u.fingerprint for u in plain.units()}
    assert list(fingerprints) == ["eval", "pool", "subsets", "base", "train:20", "train:50", "respond:0",
                                  "respond:20", "respond:50", "judge:teacher", "judge:reference", "report"]
    assert {u.name: u.fingerprint for u in explicit.units()} == fingerprints
    subsets = next(u for u in plain.units() if u.name == "subsets")
    assert set(subsets.settings["subsets"]) == {"sizes", "stratify", "exclude_eval_overlaps", "overlap_threshold"}
    one_seed = Study(load_study(path, ["train.seeds=[0]"]), source=str(path))
    assert {u.name: u.fingerprint for u in one_seed.units()} == fingerprints  # seed 0 is the study's seed


def test_an_arm_with_its_own_base_model_gets_its_own_scale_0_and_shares_the_rest(tmp_path):
    path = write_study(tmp_path)
    big = "{arch: gpt2, vocab_size: 400, hidden_size: 64, num_layers: 1, num_heads: 2, max_positions: 128}"
    study = Study(load_study(path, [f"arms=[{{name: small}}, {{name: big, base_model: {{tiny: {big}}}}}]"]),
                  source=str(path))
    graph = study.graph()
    units = {u.name: u for u in graph.units}
    assert {"subsets", "base", "base@big", "respond:0", "respond:0@big", "train:20@small", "train:50@big"} <= set(units)
    assert "subsets@big" not in units and graph.arms_of["subsets"] == ("small", "big")
    assert list(units["train:20@big"].after) == ["subsets", "base@big"]
    assert list(units["respond:0@big"].after) == ["base@big", "eval"]
    assert units["train:20@small"].fingerprint != units["train:20@big"].fingerprint
    assert [r.name for r in graph.models["big"]] == ["scale_0@big", "scale_20@big", "scale_50@big"]


@pytest.mark.parametrize(("overrides", "message"), [
    (["train.seeds=[0, 0]"], "train.seeds: seeds must be unique"),
    (["train.seeds=3"], "train.seeds: expected a non-empty list"),
    (["arms=[{name: a}, {name: a}]"], "arms: names must be unique"),
    (["arms=[{name: 'a@b'}]"], "arms.0.name"),
    (["arms=[{name: a, train: {learning_rate: fast}}]"], "arms.0.train.learning_rate"),
    (["arms=[{name: a, subsets: {sizes: []}}]", "subsets.sizes=[]"], "subsets"),
])
def test_bad_arms_and_seeds_fail_before_any_work(tmp_path, overrides, message):
    path = write_study(tmp_path)
    with pytest.raises(ConfigError, match=message.replace("[", r"\[")):
        Study(load_study(path, overrides), source=str(path))
    assert not (tmp_path / "run").exists()


def test_selection_names_unknown_arms_and_stages(tmp_path):
    path = write_study(tmp_path)
    study = Study(load_study(path, ["arms=[{name: main}, {name: other, train: {learning_rate: 0.01}}]"]),
                  source=str(path))
    with pytest.raises(ConfigError, match="unknown arm 'nope'"):
        study.run(only=["arm:nope"])
    with pytest.raises(ConfigError, match="unknown arm 'nope'"):
        study.run(arms=["nope"])
    with pytest.raises(ConfigError, match="unknown stage"):
        study.run(only=["arms:other"])


def test_an_llm_quality_arm_rates_the_pool_with_the_teacher_into_the_shared_cache(tmp_path):
    path = write_study(tmp_path)
    arms = ["arms=[{name: random}, {name: quality, subsets: {select: llm-quality}}]"]
    study = Study(load_study(path, arms), source=str(path))
    assert ran(study.run(only=["eval", "pool", "subsets"])) == {"eval", "pool", "subsets", "subsets@quality"}
    run_dir = tmp_path / "run"
    manifest = json.loads((run_dir / "subsets@quality" / "manifest.json").read_text())
    assert manifest["selection"]["method"] == "llm-quality"
    assert manifest["selection"]["settings"]["model"] == "demo-teacher"
    assert json.loads((run_dir / "subsets" / "manifest.json").read_text())["selection"]["method"] == "random"
    assert (run_dir / "cache" / "llm_cache.sqlite").exists()
    units = {u.name: u for u in study.units()}
    assert units["subsets@quality"].settings["teacher"] == {"offline_demo": True, "seed": 0}
    assert "teacher" not in units["subsets"].settings
    assert list(units["train:20@quality"].after) == ["subsets@quality", "base"]



def test_the_arms_demo_is_the_demo_with_planted_noise_and_a_quality_arm(tmp_path):
    """configs/demo_arms.yaml (shipped as the preset behind `demo run --arms`): the demo's
    settings, a noisy pool shared by a random and an llm-quality arm."""
    from instructscale.cli.study import preset_study

    demo = load_study(CONFIGS / "demo.yaml")
    arms = load_study(CONFIGS / "demo_arms.yaml")
    assert load_study(preset_study("demo_arms")) == arms
    assert arms.train == demo.train and arms.base_model == demo.base_model and arms.judges == demo.judges
    assert arms.teacher.demo_noise_rate > 0 and demo.teacher.demo_noise_rate == 0
    units = {u.name: u for u in Study(arms, source="demo_arms.yaml").units()}
    assert units["pool"].settings["teacher"]["noise_rate"] == arms.teacher.demo_noise_rate
    assert "noise_rate" not in {u.name: u for u in Study(demo, source="demo.yaml").units()}["pool"].settings["teacher"]
    assert {"subsets", "subsets@quality", "base", "train:1000@random", "train:1000@quality"} <= set(units)
