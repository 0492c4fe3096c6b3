"""Training logs to TensorBoard through the trainer's own integration, in the run's folder."""

from __future__ import annotations

import importlib.util
import json

import pytest

from instructscale.errors import ConfigError
from instructscale.train import resolve_config, run_train


def _scalars(logdir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(logdir))
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def test_tensorboard_events_hold_loss_lr_grad_norm_and_token_rate(tiny_pool_path, tiny_base_model, tmp_path):
    out = tmp_path / "scale_48"
    cfg = resolve_config("demo", data=tiny_pool_path, base_model=str(tiny_base_model("gpt2")), out=out,
                         max_steps=3, max_length=64)
    assert cfg.report_to == ["tensorboard"]  # the default
    run_train(cfg)
    event_files = list((out / "runs").rglob("events.out.tfevents.*"))
    assert len(event_files) == 1
    scalars = _scalars(event_files[0].parent)
    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert [s for s, _ in scalars["train/loss"]] == [1, 2, 3]
    assert [v for _, v in scalars["train/loss"]] == pytest.approx([r["loss"] for r in log], rel=1e-6)
    assert [v for _, v in scalars["train/learning_rate"]] == pytest.approx([3e-3] * 3)
    assert len(scalars["train/grad_norm"]) == 3 and all(v > 0 for _, v in scalars["train/grad_norm"])
    rates = [v for _, v in scalars["train/tokens_per_second"]]
    assert len(rates) == 3 and all(v > 0 for v in rates)
    assert [r["tokens_per_second"] for r in log] == pytest.approx(rates, rel=1e-5)


def test_report_to_none_writes_no_tracker_logs(tiny_pool_path, tiny_base_model, tmp_path):
    from typer.testing import CliRunner

    from instructscale.cli.main import app

    out = tmp_path / "quiet"
    result = CliRunner().invoke(app, ["train", "--data", str(tiny_pool_path), "--base-model", str(tiny_base_model("gpt2")),
                                      "--out", str(out), "--preset", "demo", "--max-steps", "1", "--max-length", "64",
                                      "--report-to", "none"])
    assert result.exit_code == 0, result.output
    assert json.loads((out / "instructscale.json").read_text())["train"]["report_to"] == []
    assert not (out / "runs").exists()


def test_report_to_accepts_the_trainer_spellings_and_refuses_unknown_or_missing_trackers():
    assert resolve_config("demo", report_to="tensorboard,wandb").report_to == ["tensorboard", "wandb"]
    assert resolve_config("demo", report_to=[]).report_to == []
    with pytest.raises(ConfigError, match="report_to"):
        resolve_config("demo", report_to="comet")
    from instructscale.tracking import check_trackers

    missing = [t for t in ("wandb", "mlflow") if importlib.util.find_spec(t) is None]
    for name in missing:
        with pytest.raises(ConfigError, match=f"pip install {name}"):
            check_trackers([name])
