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


def test_held_out_split_logs_eval_loss_and_the_run_is_named_by_the_model(tiny_pool_path, tiny_base_model, tmp_path):
    """eval_share holds a seeded part of the subset out: eval loss is logged every eval_steps and at
    the end (into the metadata); the TensorBoard run is OUT/runs/<model name>, not a timestamp."""
    out = tmp_path / "scale_48_seed1@quality"
    cfg = resolve_config("demo", data=tiny_pool_path, base_model=str(tiny_base_model("gpt2")), out=out,
                         max_steps=4, max_length=64, eval_share=0.25, eval_steps=2)
    run_train(cfg)
    (logdir,) = {p.parent for p in (out / "runs").rglob("events.out.tfevents.*")}
    assert logdir == out / "runs" / out.name
    scalars = _scalars(logdir)
    assert [s for s, _ in scalars["eval/loss"]] == [2, 4, 4]  # every eval_steps, then the final evaluation
    assert all(v > 0 for _, v in scalars["eval/loss"])
    meta = json.loads((out / "instructscale.json").read_text())
    assert meta["metrics"]["eval_loss"] == pytest.approx(scalars["eval/loss"][-1][1], rel=1e-5)
    assert meta["n_examples"] == 48 and meta["train"]["eval_share"] == 0.25


def test_held_out_rows_are_seeded_and_disjoint():
    from instructscale.train.run import held_out

    rows = [{"i": i} for i in range(40)]
    train, held = held_out(rows, 0.1, seed=3)
    assert len(held) == 4 and len(train) == 36 and not {r["i"] for r in train} & {r["i"] for r in held}
    assert held_out(rows, 0.1, seed=3) == (train, held) and held_out(rows, 0.1, seed=4)[1] != held
    assert held_out(rows, 0.0, seed=3) == (rows, [])


def test_trainer_args_are_checked_against_sftconfig_and_reach_the_trainer(tiny_pool_path, tiny_base_model, tmp_path):
    from instructscale.train import prepare_training

    with pytest.raises(ConfigError, match="neftune_noise_alfa.*did you mean 'neftune_noise_alpha'"):
        resolve_config("demo", trainer_args={"neftune_noise_alfa": 5})
    with pytest.raises(ConfigError, match="output_dir"):
        resolve_config("demo", trainer_args={"output_dir": "/tmp/elsewhere"})
    cfg = resolve_config("demo", data=tiny_pool_path, base_model=str(tiny_base_model("gpt2")), out=tmp_path / "m",
                         max_steps=1, max_length=64, trainer_args={"neftune_noise_alpha": 5.0, "max_grad_norm": 0.5})
    args = prepare_training(cfg).trainer.args
    assert (args.neftune_noise_alpha, args.max_grad_norm) == (5.0, 0.5)


def test_new_training_fields_at_their_defaults_keep_earlier_fingerprints():
    from instructscale.train.config import LATER_FIELDS

    cfg = resolve_config("replica")
    exclude = {"data", "out", "base_model", "report_to"}
    assert cfg.identity(exclude) == cfg.model_dump(mode="json", exclude=exclude | set(LATER_FIELDS))
    assert "eval_share" in resolve_config("replica", eval_share=0.1).identity(exclude)
