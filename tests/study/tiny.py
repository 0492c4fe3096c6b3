"""A tiny deterministic study (offline teacher as teacher and judge, two scales of a one-layer
GPT-2): about 15 s sequentially on an idle 2-core machine. Shared by the study tests."""

from __future__ import annotations

import yaml

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


def write_tiny_study(folder, run_dir=None, **changes):
    """Write the tiny study (top-level sections replaced by `changes`) to FOLDER/study.yaml."""
    path = folder / "study.yaml"
    data = {**STUDY, "run_dir": str(run_dir or folder / "run"), **changes}
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path
