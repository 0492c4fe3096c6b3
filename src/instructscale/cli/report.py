"""CLI for the report stage: `instructscale report RUN_DIR [--out] [--judge] [--compare RUN_B]`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def report(
    run_dir: Path = typer.Argument(..., help="Study run directory (holds index.json)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Output folder [default: RUN_DIR/report]."),
    judge: Optional[str] = typer.Option(None, "--judge", help="Judge for the headline numbers [default: the run's primary judge]."),
    compare: list[Path] = typer.Option([], "--compare", help="Another run directory to show side by side; repeat for more."),
    bootstrap_samples: int = typer.Option(2000, "--bootstrap-samples", min=100, help="Bootstrap resamples for the 95% CIs."),
    seed: int = typer.Option(0, "--seed", help="Bootstrap seed."),
    delta: float = typer.Option(0.15, "--delta", help="Smallest gain that matters, score per tenfold data: a slope "
                                                       "whose 95% CI lies within +-delta shows no meaningful gain."),
    poor_score: float = typer.Option(0.4, "--poor-score", help="A flat category whose mean at the largest scale is "
                                                               "below this (whole CI) is flat_poor."),
    target: float = typer.Option(0.8, "--target", help="Fitted curves report the data needed to reach this score."),
):
    """Tables, Figure 1 (score vs data size, 95% bootstrap bands), trend verdicts, judge diagnostics
    and a self-contained HTML report with an item browser."""
    from instructscale.console import console, stdout
    from instructscale.report import ReportConfig, VerdictThresholds, build_report

    cfg = ReportConfig(run_dir=run_dir, out=out, primary_judge=judge, compare=compare,
                       bootstrap_samples=bootstrap_samples, seed=seed,
                       thresholds=VerdictThresholds(delta=delta, poor_score=poor_score), target_score=target)
    summary = build_report(cfg)
    stdout.print(summary.table())
    print_notes(summary)
    console.print(f"report: {summary.files['html']}")
    if "leaderboard_markdown" in summary.files:
        console.print(f"leaderboard of runs and arms: {summary.files['leaderboard_markdown']} (and .csv)")


def print_notes(summary) -> None:
    """What a reader must see under the table: what would decide each undetermined verdict,
    ignored judgements, and warnings (e.g. the judge is the teacher). `study run` prints them too."""
    from instructscale.console import console, stdout
    from instructscale.report.tables import display_name

    for row in summary.rows:
        if row.trend.decide:
            stdout.print(f"{display_name(row.category)} is undetermined: {row.trend.decide}")
    if summary.unknown_models:
        console.print(f"[yellow]judgements of models that are no scale in the index were ignored: "
                      f"{', '.join(summary.unknown_models)}[/yellow]")
    for warning in summary.warnings:
        console.print(f"[yellow]warning: {warning}[/yellow]")


def register(app: typer.Typer) -> None:
    """Add this stage's commands to the main app."""
    app.command("report")(report)
