"""`study run --force` of a small study on the same machine reproduces its numbers exactly:
every stage reruns (generation, training, responses, judging, report) and scores.csv and the
CIs in scores_long.csv come out byte-identical."""

import json
import re

import yaml
from typer.testing import CliRunner

from instructscale.cli.main import app

STUDY = {
    "name": "determinism", "seed": 0,
    "teacher": {"offline_demo": True, "concurrency": 4},
    "data": {"generate": {"target": 40, "num_new_tasks": 10, "dedup_fields": "instruction+input",
                          "rouge_threshold": 0.9}},
    "eval": {"demo_world_per_category": 1},
    "subsets": {"sizes": [15, 35]},
    "base_model": {"tiny": {"arch": "gpt2", "vocab_size": 400, "hidden_size": 32, "num_layers": 1, "num_heads": 2,
                            "max_positions": 128}},
    "train": {"preset": "demo", "max_steps": 3, "max_length": 96},
    "respond": {"preset": "greedy", "max_new_tokens": 8, "batch_size": 16},
    "judges": [{"name": "teacher", "kind": "llm", "options": {"repeats": 2}},
               {"name": "reference", "kind": "reference"}],
    "report": {"bootstrap_samples": 100},
}


# two full study runs: about 30 s on an idle 2-core machine
def test_study_run_force_gives_identical_scores(tmp_path):
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump({**STUDY, "run_dir": str(tmp_path / "run")}), encoding="utf-8")
    report = tmp_path / "run" / "report"
    first = CliRunner().invoke(app, ["study", "run", str(path)])
    assert first.exit_code == 0, first.output
    before = {name: (report / name).read_bytes() for name in ("scores.csv", "scores_long.csv")}
    again = CliRunner().invoke(app, ["study", "run", str(path), "--force"])
    assert again.exit_code == 0, again.output
    assert re.search(r"\b0 skipped", again.output), again.output  # everything really ran again
    for unit in ("respond__35", "judge__teacher"):  # from scratch, not resumed from the first run's files
        summary = json.loads((tmp_path / "run" / "manifests" / f"{unit}.json").read_text(encoding="utf-8"))["summary"]
        assert summary["resumed"] == 0 and summary["new"] > 0, summary
    assert {name: (report / name).read_bytes() for name in before} == before
