"""CLI for whole studies: `instructscale study init | run | status`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

study_app = typer.Typer(help="Run a whole scaling study from one YAML file.", no_args_is_help=True)

PRESETS = ["demo", "demo_arms", "replica", "replica_lora"]
SET_HELP = "Override a setting of the file: key.path=value (YAML value), repeatable, e.g. train.max_steps=5."


def preset_study(name: str):
    """A shipped study file (src/instructscale/data/studies/NAME.yaml, also under configs/)."""
    from importlib import resources

    from instructscale.errors import ConfigError

    if name not in PRESETS:
        raise ConfigError(f"unknown study preset '{name}' (have: {', '.join(PRESETS)})")
    return resources.files("instructscale").joinpath(f"data/studies/{name}.yaml")


def _csv(value: Optional[str]) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


@study_app.command("init")
def init(
    out: Path = typer.Argument(Path("study.yaml"), help="Where to write the example study file."),
    preset: str = typer.Option("replica", "--preset", help=f"Starting point: {', '.join(PRESETS)}."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing file."),
):
    """Write a study file with every field commented, starting from a shipped preset."""
    from importlib import resources

    from instructscale.console import stdout
    from instructscale.datafiles import write_text
    from instructscale.errors import ConfigError
    from instructscale.study import commented_yaml, load_study

    if out.exists() and not force:
        raise ConfigError(f"{out} exists; pass --force to overwrite it")
    with resources.as_file(preset_study(preset)) as path:
        cfg = load_study(path)
    header = (f"# instructscale study file (preset '{preset}'). Run: instructscale study run {out}\n"
              "# Stage option blocks (data.generate, train, respond, judges[].options, report) take the\n"
              "# options of that stage's config; see docs/ for each stage.\n")
    write_text(out, header + commented_yaml(cfg) + "\n")
    stdout.print(f"wrote {out}")


@study_app.command("run")
def run(
    study: Path = typer.Argument(..., help="Study YAML file."),
    only: Optional[str] = typer.Option(None, "--only", help="Comma-separated stages to run (others must be done): "
                                       "eval, pool, subsets, base, train, respond, judge, report; "
                                       "arm:NAME runs every stage of that arm."),
    start: Optional[str] = typer.Option(None, "--from", help="Run this stage and every later one."),
    arm: Optional[str] = typer.Option(None, "--arm", help="Comma-separated arms: run only their units (shared "
                                      "units such as judges run once every arm they read is done)."),
    force: bool = typer.Option(False, "--force", help="Re-run selected stages even if nothing changed."),
    overrides: list[str] = typer.Option([], "--set", help=SET_HELP),
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help="Smoke run: N eval items per category, subsets "
                                        "of 5N, 10N, ..., 3 training steps, into RUN_DIR-smokeN (the real run is "
                                        "untouched)."),
):
    """Run every stage that is not done with the same settings; finished ones are skipped."""
    run_study(study, only=_csv(only), start=start, arms=_csv(arm), force=force, overrides=overrides, limit=limit)


def run_study(path, *, only=None, start=None, arms=None, force=False, overrides=(), limit=None):
    from instructscale.cli.report import print_notes
    from instructscale.console import console, stdout
    from instructscale.report.tables import rich_table
    from instructscale.study import Study, load_study

    cfg = load_study(path, overrides, limit=limit)
    study = Study(cfg, source=str(path))
    outcomes = study.run(only=only, start=start, arms=arms, force=force)
    ran = [name for name, outcome in outcomes if outcome == "ran"]
    console.print(f"{len(ran)} unit(s) ran, {len(outcomes) - len(ran)} skipped as unchanged")
    # the report of this run directory, and only when the report unit was run (or selected and unchanged)
    summary = study.report_summary() if dict(outcomes).get("report") in ("ran", "skipped") else None
    if summary is not None:
        stdout.print(summary.table())
        for arm, rows in list(summary.arms.items())[1:]:  # the headline table is the first arm's
            stdout.print(rich_table(rows, [c.label for c in rows[0].cells] if rows else [],
                                    title=f"arm {arm}: mean score ({summary.judge})"))
        print_notes(summary)
        html = study.report_config().out / Path(summary.files["html"]).name  # a copied run dir names its own
        stdout.print(f"HTML report: {html.resolve()}", soft_wrap=True)
    return study, outcomes


@study_app.command("status")
def status(
    study: Path = typer.Argument(..., help="Study YAML file."),
    overrides: list[str] = typer.Option([], "--set", help=SET_HELP),
):
    """Show each unit as done, changed (settings differ), damaged (an output changed since), partial or pending,
    then arms x scales."""
    from rich.table import Table

    from instructscale.console import stdout
    from instructscale.study import Study, load_study

    s = Study(load_study(study, overrides), source=str(study))
    table = Table(title=f"{s.cfg.name} ({s.run_dir})")
    for col in ("unit", "stage", "scale", "arms", "state", "seconds"):
        table.add_column(col)
    for row in s.status():
        table.add_row(row.unit, row.stage, row.scale or "", ",".join(row.arms) or "all", _colored(row.state),
                      "" if row.seconds is None else f"{row.seconds:.1f}")
    stdout.print(table)
    grid = s.grid()
    sizes = sorted({size for cells in grid.values() for size in cells})
    arms = Table(title="arms x scales (train and respond of every seed)")
    for col in ("arm", *(str(size) for size in sizes)):
        arms.add_column(col)
    for name, cells in grid.items():
        arms.add_row(name, *(_colored(cells[size]) if size in cells else "[dim]waits for subsets" for size in sizes))
    stdout.print(arms)


def _colored(state: str) -> str:
    colors = {"done": "green", "changed": "yellow", "partial": "red", "damaged": "red", "pending": "dim"}
    return f"[{colors.get(state.split()[-1], 'yellow')}]{state}"


def register(app: typer.Typer) -> None:
    """Add this stage's commands to the main app."""
    app.add_typer(study_app, name="study")
