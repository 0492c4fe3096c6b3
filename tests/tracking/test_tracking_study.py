"""A study logs training to TensorBoard in each scale's folder, and its score table (per
category and scale) to the same tracker in RUN_DIR/tensorboard/study."""

from __future__ import annotations

import json

import pytest


def _accumulator(logdir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(logdir), size_guidance={"tensors": 0})
    acc.Reload()
    return acc


def test_every_scale_has_training_curves_and_the_study_logs_its_score_table(tiny_study_run):
    for scale in ("scale_20", "scale_50"):
        (logdir,) = {p.parent for p in (tiny_study_run / "models" / scale / "runs").rglob("events.out.tfevents.*")}
        loss = _accumulator(logdir).Scalars("train/loss")
        log = [json.loads(line) for line in (tiny_study_run / "models" / scale / "train_log.jsonl").read_text().splitlines()]
        assert [e.step for e in loss] == [r["step"] for r in log]
        assert [e.value for e in loss] == pytest.approx([r["loss"] for r in log])

    scores = json.loads((tiny_study_run / "report" / "scores.json").read_text())
    acc = _accumulator(tiny_study_run / "tensorboard" / "study")
    for row in scores["rows"]:
        points = acc.Scalars(f"score/{row['category']}")
        cells = [c for c in row["cells"] if c["mean"] is not None]
        assert [e.step for e in points] == [c["size"] for c in cells]
        assert [e.value for e in points] == pytest.approx([c["mean"] for c in cells])
    (text,) = acc.Tensors("study/scores/text_summary")
    table = text.tensor_proto.string_val[0].decode()
    macro = next(r for r in scores["rows"] if r["category"] == "macro")["cells"][-1]
    assert f"| macro | 50 | 50 | {macro['mean']:.4f} | {macro['ci_low']:.4f} | {macro['ci_high']:.4f} |" in table
