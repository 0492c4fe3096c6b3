"""Experiment trackers (TensorBoard, Weights & Biases, MLflow).

Training logs through the trainer's own integrations (`report_to`); this module checks that
the chosen trackers are installed and logs what the trainer cannot: the study's result, one
table of per-category scores per scale with their CIs, as a run summary in the same tracker.
Tracker credentials and projects come from their usual environment variables
(WANDB_API_KEY / WANDB_PROJECT / WANDB_MODE, MLFLOW_TRACKING_URI / MLFLOW_EXPERIMENT_NAME).
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

from instructscale.errors import ConfigError

TRACKERS = ("tensorboard", "wandb", "mlflow")
SUMMARY_DIR = "tensorboard/study"  # under the run directory, next to models/*/runs/ (training logs)
COLUMNS = ["category", "scale", "size", "mean", "ci_low", "ci_high", "scored_items"]


def check_trackers(names: list[str]) -> list[str]:
    """The trackers, each importable; a missing one is a ConfigError naming what to install."""
    for name in names:
        if name not in TRACKERS:
            raise ConfigError(f"unknown tracker '{name}' in report_to (have: {', '.join(TRACKERS)}, none)")
        if importlib.util.find_spec(name) is None:
            raise ConfigError(f"report_to names {name}, which is not installed: pip install {name}")
    return list(names)


def summary_rows(summary) -> list[list]:
    """The report's headline numbers in long form: one row per category (then macro, micro) and scale."""
    return [[r.category, c.label, c.size, c.mean, c.ci_low, c.ci_high, c.scored_items]
            for r in summary.rows for c in r.cells]


def log_study_summary(run_dir: str | Path, summary, trackers: list[str]) -> dict[str, str]:
    """Log the per-category score table of a finished report to every tracker; returns
    tracker -> where it went."""
    rows = summary_rows(summary)
    logged = {}
    for name in check_trackers(trackers):
        logged[name] = {"tensorboard": _tensorboard, "wandb": _wandb, "mlflow": _mlflow}[name](
            Path(run_dir), summary.name, summary.judge, rows)
    return logged


def _markdown(rows: list[list]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for row in rows:
        lines.append("| " + " | ".join("-" if v is None else f"{v:.4f}" if isinstance(v, float) else str(v)
                                        for v in row) + " |")
    return "\n".join(lines)


def _tensorboard(run_dir: Path, name: str, judge: str, rows: list[list]) -> str:
    """The table as text, and each category's mean as a scalar curve whose step is the number of
    training examples (so TensorBoard draws score against data size). The folder holds only the
    latest report's summary: a rerun replaces it instead of adding a second copy of every point."""
    from torch.utils.tensorboard import SummaryWriter

    out = run_dir / SUMMARY_DIR
    shutil.rmtree(out, ignore_errors=True)
    with SummaryWriter(log_dir=str(out)) as writer:
        writer.add_text("study/scores", f"**{name}**, judge `{judge}`\n\n" + _markdown(rows))
        for category, _, size, mean, *_ in rows:
            if mean is not None:
                writer.add_scalar(f"score/{category}", mean, global_step=size)
    return str(out)


def _wandb(run_dir: Path, name: str, judge: str, rows: list[list]) -> str:
    import wandb

    run = wandb.init(name=f"{name} (summary)", job_type="study-summary", dir=str(run_dir),
                     config={"study": name, "judge": judge}, reinit="finish_previous")
    run.log({"scores": wandb.Table(columns=COLUMNS, data=rows)})
    for category, _, size, mean, *_ in rows:
        if mean is not None:
            run.summary[f"score/{category}@{size}"] = mean
    url = run.url or run.dir
    run.finish()
    return str(url)


def _mlflow(run_dir: Path, name: str, judge: str, rows: list[list]) -> str:
    import mlflow

    with mlflow.start_run(run_name=f"{name} (summary)") as run:
        mlflow.log_params({"study": name, "judge": judge})
        mlflow.log_table({col: [row[i] for row in rows] for i, col in enumerate(COLUMNS)}, "scores.json")
        for category, _, size, mean, *_ in rows:
            if mean is not None:
                mlflow.log_metric(f"score_{category}", mean, step=size)
        return run.info.run_id
