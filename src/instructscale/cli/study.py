"""CLI for whole studies: `instructscale study init | plan | run | status`."""

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
    no_preflight: bool = typer.Option(False, "--no-preflight", help="Skip the preflight's network checks (API "
                                      "servers answer, Hub ids exist); the local checks still run."),
    executor: Optional[str] = typer.Option(None, "--executor", help="Where units run: local (this process), "
                                           "workers (parallel processes on this machine's GPUs) or slurm (one job "
                                           "per unit); default: the study file's executor.kind (docs/executors.md)."),
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help="Smoke run: N eval items per category, subsets "
                                        "of 5N, 10N, ..., 3 training steps, into RUN_DIR-smokeN (the real run is "
                                        "untouched)."),
):
    """Run every stage that is not done with the same settings; finished ones are skipped."""
    run_study(study, only=_csv(only), start=start, arms=_csv(arm), force=force, overrides=overrides,
              network_checks=not no_preflight, executor=executor, limit=limit)


@study_app.command("run-unit", hidden=True)
def run_unit(
    study: Path = typer.Argument(..., help="Study YAML file (as the driver resolved it)."),
    unit: str = typer.Argument(..., help="Unit name, e.g. train:200."),
    fingerprint: Optional[str] = typer.Option(None, "--fingerprint", help="Refuse to run unless the unit's is this."),
    teacher_url: Optional[str] = typer.Option(None, "--teacher-url", help="The driver's offline demo teacher."),
    executor: str = typer.Option("local", "--executor", help="Recorded in the manifest."),
    force: bool = typer.Option(False, "--force", help="Re-run even if done."),
):
    """Run one unit in this process (what the workers and SLURM executors start); exit code 3: partial."""
    from instructscale.study import Study, load_study
    from instructscale.study.executors import PARTIAL_EXIT

    s = Study(load_study(study), source=str(study))
    if teacher_url and s.cfg.teacher.offline_demo:
        s.teacher_url = teacher_url
    if s.run_unit(unit, fingerprint=fingerprint, force=force, executor=executor) == "partial":
        raise typer.Exit(PARTIAL_EXIT)


def run_study(path, *, only=None, start=None, arms=None, force=False, overrides=(), network_checks=True,
              executor=None, limit=None):
    from instructscale.cli.report import print_notes
    from instructscale.console import console, stdout
    from instructscale.report.tables import rich_table
    from instructscale.study import Study, load_study

    cfg = load_study(path, overrides, limit=limit)
    study = Study(cfg, source=str(path))
    outcomes = study.run(only=only, start=start, arms=arms, force=force, network_checks=network_checks,
                         executor=executor)
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


@study_app.command("plan")
def plan(
    study: Path = typer.Argument(..., help="Study YAML file."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object: units, total, assumptions, formulas, notes."),
    gpu: str = typer.Option("A100-80GB", "--gpu", help="GPU kind (data/gpus.yaml: peak bf16 TFLOP/s)."),
    gpus: int = typer.Option(8, "--gpus", min=1, help="GPUs a training run spreads over."),
    train_util: float = typer.Option(0.35, "--train-utilisation", min=0.001, max=1.0,
                                     help="Share of peak FLOP/s training reaches."),
    respond_util: float = typer.Option(0.10, "--respond-utilisation", min=0.001, max=1.0,
                                       help="Share of peak FLOP/s generation reaches."),
    params: Optional[float] = typer.Option(None, "--params", help="Base model parameters (e.g. 7.1e9); default: "
                                           "from its config.json or its name."),
    eval_items: int = typer.Option(1000, "--eval-items", min=1, help="Eval set file missing: plan with Table 1's "
                                   "shape, this many items."),
    kept_share: float = typer.Option(0.5, "--kept-share", min=0.01, max=1.0,
                                     help="Share of generated tasks kept after filters and deduplication."),
    overrides: list[str] = typer.Option([], "--set", help=SET_HELP),
):
    """Price the whole study before spending: per unit API requests, tokens, dollars, GPU-hours, wall-clock and
    disk, from the settings alone (no network, GPU or finished work needed); done units cost nothing."""
    import json

    from rich.console import Console

    from instructscale.console import stdout
    from instructscale.study import Study, load_study
    from instructscale.study.plan import Assumptions, plan_study

    s = Study(load_study(study, overrides), source=str(study))
    p = plan_study(s, Assumptions(gpu=gpu, gpus=gpus, train_utilisation=train_util, respond_utilisation=respond_util,
                                  params=params, eval_items=eval_items, kept_share=kept_share))
    if as_json:
        stdout.print_json(json.dumps(p.to_json(), ensure_ascii=False))
        return
    out = stdout if stdout.is_terminal else Console(width=100)  # a log or a pipe: wide enough for every column
    out.print(p.table(f"plan: {s.cfg.name}"))
    for line in p.lines():
        stdout.print(line, markup=False, soft_wrap=True)


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
    from instructscale.study.preflight import eval_source_hint

    s = Study(load_study(study, overrides), source=str(study))
    table = Table(title=f"{s.cfg.name} ({s.run_dir})")
    rows = s.status()
    jobs = any(row.job for row in rows)
    for col in ("unit", "stage", "scale", "arms", "state", "seconds", *(["SLURM job"] if jobs else [])):
        table.add_column(col)
    for row in rows:
        table.add_row(row.unit, row.stage, row.scale or "", ",".join(row.arms) or "all", _colored(row.state),
                      "" if row.seconds is None else f"{row.seconds:.1f}", *([row.job or ""] if jobs else []))
    stdout.print(table)
    grid = s.grid()
    sizes = sorted({size for cells in grid.values() for size in cells})
    arms = Table(title="arms x scales (train and respond of every seed)")
    for col in ("arm", *(str(size) for size in sizes)):
        arms.add_column(col)
    for name, cells in grid.items():
        arms.add_row(name, *(_colored(cells[size]) if size in cells else "[dim]waits for subsets" for size in sizes))
    stdout.print(arms)
    hint = eval_source_hint(s)
    if hint:
        stdout.print(hint, markup=False, soft_wrap=True)


def _colored(state: str) -> str:
    colors = {"done": "green", "changed": "yellow", "partial": "red", "damaged": "red", "pending": "dim"}
    return f"[{colors.get(state.split()[-1], 'yellow')}]{state}"


def register(app: typer.Typer) -> None:
    """Add this stage's commands to the main app."""
    app.add_typer(study_app, name="study")
