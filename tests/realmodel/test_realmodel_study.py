"""A 3-scale mini-study on the packaged SmolLM2 (a GGUF file as `base_model.path`): the
offline teacher writes the pool, each scale trains a LoRA adapter with the model's chat
template, every scale (the untuned base included) is asked with that one template, both
judges score, and the report is built."""

from __future__ import annotations

import json

import pytest
import yaml
from smollm2 import needs_smollm2

from instructscale.datafiles import file_sha256
from instructscale.study import Study, load_study

pytestmark = [pytest.mark.realmodel, needs_smollm2(), pytest.mark.timeout(1800)]


def test_three_scale_study_on_smollm2_builds_a_report(smollm2, smollm2_dir, tmp_path):
    study = {
        "name": "smollm2 mini study", "run_dir": str(tmp_path / "run"), "seed": 0,
        "teacher": {"offline_demo": True, "concurrency": 4},
        "data": {"generate": {"target": 60, "num_new_tasks": 10, "dedup_fields": "instruction+input",
                              "rouge_threshold": 0.9}},
        "eval": {"demo_world_per_category": 1},
        "subsets": {"sizes": [8, 16, 32]},
        "base_model": {"path": str(smollm2)},
        "train": {"preset": "demo", "template": "chat", "lora": True, "learning_rate": 1e-3, "max_steps": 2,
                  "epochs": 1, "max_length": 96, "effective_batch_size": 4, "per_device_batch_size": 4,
                  "report_to": "none"},
        "respond": {"preset": "greedy", "max_new_tokens": 12, "batch_size": 16},
        "judges": [{"name": "teacher", "kind": "llm", "options": {"repeats": 1}},
                   {"name": "reference", "kind": "reference"}],
        "report": {"bootstrap_samples": 100},
    }
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(study, allow_unicode=True), encoding="utf-8")
    outcomes = dict(Study(load_study(path), source=str(path)).run())
    assert set(outcomes.values()) == {"ran"} and "report" in outcomes

    run = tmp_path / "run"
    manifest = lambda unit: json.loads((run / "manifests" / f"{unit}.json").read_text())  # noqa: E731
    assert manifest("base")["settings"]["sha256"] == file_sha256(smollm2)
    assert manifest("base")["summary"]["hf_folder"] == smollm2_dir
    assert {manifest(f"respond__{s}")["summary"]["template"] for s in (0, 8, 16, 32)} == {"chat"}
    templates = {json.loads(line)["settings"]["template"] for s in (0, 8, 16, 32)
                 for line in (run / "responses" / f"scale_{s}.jsonl").read_text().splitlines()}
    assert templates == {"chat"}
    index = json.loads((run / "index.json").read_text())
    assert [s["size"] for s in index["scales"]] == [0, 8, 16, 32]
    html = (run / "report" / "report.html").read_text()
    assert "scale_32" in html or "32" in html
