"""CLI for evaluation sets: `instructscale evalset import | stats | build | export | merge | decontam | advise`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

evalset_app = typer.Typer(help="Evaluation sets: import, Table 1 statistics, build and annotate, decontamination.",
                          no_args_is_help=True)

POLICY_HELP = "Unknown category labels: error (default), other (keep as 'other') or drop (skip the item)."


def label_policy(value: str) -> str:
    from instructscale.errors import ConfigError

    if value not in ("error", "other", "drop"):
        raise ConfigError(f"--unknown must be error, other or drop, not '{value}'")
    return value


@evalset_app.command("import")
def import_(
    source: Path = typer.Argument(..., help="Evaluation set: public release (question/class/std_answer) or canonical."),
    out: Path = typer.Option(..., "--out", help="Canonical JSON Lines (EvalItem records)."),
    unknown: str = typer.Option("error", "--unknown", help=POLICY_HELP),
):
    """Convert an evaluation set to the canonical format; duplicates are reported and dropped."""
    from instructscale.console import stdout
    from instructscale.datafiles import write_jsonl
    from instructscale.evalset import evalset_stats, import_evalset, stats_table

    result = import_evalset(source, label_policy(unknown))
    write_jsonl(out, result.items)
    stdout.print(stats_table(evalset_stats(result.items), title=f"{out}"))
    stdout.print(f"{len(result.items)} items written to {out} ({result.public_format} rows in the public release "
                 f"format); {len(result.duplicates)} duplicate question(s) dropped"
                 + (f", e.g. {result.duplicates[0]}" if result.duplicates else ""))
    if result.unknown_labels:
        stdout.print(f"unknown labels ({'dropped' if unknown == 'drop' else 'kept as other'}): {result.unknown_labels}")


@evalset_app.command("stats")
def stats(
    path: Path = typer.Argument(..., help="Evaluation set in either format."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of a table."),
    unknown: str = typer.Option("error", "--unknown", help=POLICY_HELP),
):
    """Table 1: per category the count, average prompt length in characters, items with a reference."""
    from instructscale.console import stdout
    from instructscale.evalset import evalset_stats, read_eval_items, stats_table

    result = evalset_stats(read_eval_items(path, label_policy(unknown)))
    if as_json:
        typer.echo(json.dumps(result, ensure_ascii=False))
    else:
        stdout.print(stats_table(result, title=str(path)))


@evalset_app.command("build")
def build(
    pool: Path = typer.Option(..., "--pool", help="Categorized instruction examples (e.g. a generated pool)."),
    out: Path = typer.Option(..., "--out", help="Evaluation set to write (draft references)."),
    factor: float = typer.Option(1.0, "--factor", help="Scale the study's Table 1 counts (0.1: a tenth)."),
    counts: Optional[str] = typer.Option(None, "--counts", help="Explicit counts instead: math=20,code=10,..."),
    seed: int = typer.Option(0, "--seed"),
):
    """Sample an evaluation set per category from a pool; the pool's outputs become draft answers."""
    from instructscale.console import stdout
    from instructscale.datafiles import read_records, write_jsonl
    from instructscale.errors import ConfigError
    from instructscale.evalset import build_evalset, evalset_stats, stats_table
    from instructscale.records import InstructionExample

    explicit = None
    if counts:
        try:
            explicit = {k.strip(): int(v) for k, v in (p.split("=") for p in counts.split(",") if p.strip())}
        except ValueError:
            raise ConfigError(f"--counts expects category=count pairs, got '{counts}'") from None
    result = build_evalset(read_records(pool, InstructionExample), factor=factor, counts=explicit, seed=seed)
    write_jsonl(out, result.items)
    stdout.print(stats_table(evalset_stats(result.items), title=str(out)))
    if result.shortfall:
        stdout.print(f"[yellow]the pool had too few examples for: {result.shortfall}")
    if result.uncategorized:
        stdout.print(f"{result.uncategorized} pool examples without a category were not sampled")


@evalset_app.command("export")
def export(
    path: Path = typer.Argument(..., help="Evaluation set with draft references."),
    out: Path = typer.Option(..., "--out", help="Sheet path stem: writes STEM.csv and STEM.jsonl."),
):
    """Write an annotation sheet: annotators correct the `reference` column."""
    from instructscale.console import stdout
    from instructscale.evalset import export_sheet, read_eval_items

    csv_path, jsonl_path = export_sheet(read_eval_items(path), out)
    stdout.print(f"annotation sheet: {csv_path} and {jsonl_path}")


@evalset_app.command("merge")
def merge(
    path: Path = typer.Argument(..., help="The evaluation set the sheet was exported from."),
    sheet: Path = typer.Option(..., "--sheet", help="The corrected sheet (CSV or JSON Lines)."),
    out: Path = typer.Option(..., "--out", help="Evaluation set with the annotators' references."),
):
    """Read a corrected annotation sheet back; ids are checked, edits counted."""
    from instructscale.console import stdout
    from instructscale.datafiles import write_jsonl
    from instructscale.evalset import merge_sheet, read_eval_items

    result = merge_sheet(read_eval_items(path), sheet)
    write_jsonl(out, result.items)
    stdout.print(f"{len(result.items)} items written to {out}: annotators changed {result.changed} answer(s) "
                 f"and cleared {result.cleared}")


@evalset_app.command("decontam")
def decontam(
    path: Path = typer.Argument(..., help="Evaluation set."),
    pool: Path = typer.Option(..., "--pool", help="Training pool to check."),
    threshold: float = typer.Option(0.8, "--threshold", help="Character 3-gram Jaccard at or above which a pair overlaps."),
    out: Optional[Path] = typer.Option(None, "--out", help="Write the overlapping pairs as JSON Lines."),
):
    """Report exact and near-duplicate overlaps between an evaluation set and a training pool."""
    from collections import Counter

    from instructscale.console import progress, stdout
    from instructscale.datafiles import iter_rows, validate_row, write_jsonl
    from instructscale.evalset import find_overlaps, read_eval_items
    from instructscale.records import InstructionExample

    items = read_eval_items(path)
    with progress() as bar:  # the pool is streamed, never held in memory: it may have millions of rows
        task = bar.add_task("pool examples checked", total=None)

        def examples():
            for line, row in iter_rows(pool):
                yield validate_row(InstructionExample, row, path=pool, line=line)
                bar.advance(task)

        overlaps = find_overlaps(items, examples(), threshold)
    kinds = Counter(o.kind for o in overlaps)
    stdout.print(f"{len(overlaps)} overlapping pairs ({kinds.get('exact', 0)} exact, {kinds.get('near', 0)} near) "
                 f"involving {len({o.eval_id for o in overlaps})} of {len(items)} evaluation items and "
                 f"{len({o.example_id for o in overlaps})} pool examples")
    if out is not None:
        write_jsonl(out, overlaps)
        stdout.print(f"pairs written to {out}")


@evalset_app.command("advise")
def advise(
    path: Optional[Path] = typer.Argument(None, help="Evaluation set: its categories and current item counts."),
    delta: Optional[float] = typer.Option(None, "--delta", help="Smallest gain that matters, per tenfold data "
                                                                "[default: the report's verdict delta]."),
    sizes: str = typer.Option("200000,600000,1000000,2000000", "--sizes", help="Planned tuned scales (examples)."),
    sd: float = typer.Option(0.25, "--sd", help="Assumed per-item SD of a score (without a pilot)."),
    correlation: float = typer.Option(0.5, "--correlation", help="Assumed correlation of an item's scores at two "
                                                                 "scales (without a paired pilot)."),
    pilot: Optional[Path] = typer.Option(None, "--pilot", help="Pilot judgements (JSON Lines): per-category SDs "
                                                               "measured instead of assumed."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of a table."),
):
    """Items per category needed to detect a gain of delta (80% power, two-sided 5%), before a study runs."""
    from instructscale.categories import CATEGORY_IDS
    from instructscale.console import stdout
    from instructscale.datafiles import read_records
    from instructscale.errors import ConfigError
    from instructscale.evalset import read_eval_items
    from instructscale.evalset.power import advise as advise_sizes, advice_table
    from instructscale.records import Judgement
    from instructscale.report.config import VerdictThresholds

    defaults = VerdictThresholds()
    try:
        planned = [int(float(v)) for v in sizes.split(",") if v.strip()]
    except ValueError:
        raise ConfigError(f"--sizes expects comma-separated example counts, got '{sizes}'") from None
    if len(set(planned)) < 2 or min(planned) <= 0:
        raise ConfigError(f"--sizes needs two or more different positive sizes, got '{sizes}'")
    if not 0 < sd <= 1 or not -1 < correlation < 1 or (delta is not None and delta <= 0):
        raise ConfigError("--sd must be in (0, 1], --correlation in (-1, 1) and --delta above 0")
    items = read_eval_items(path) if path else []
    current = {}
    for item in items:
        current[item.category] = current.get(item.category, 0) + 1
    judgements = read_records(pilot, Judgement) if pilot else []
    if items:  # the evaluation set knows each item's category
        category_of = {i.id: i.category for i in items}
        judgements = [j.model_copy(update={"category": category_of.get(j.item_id, j.category)}) for j in judgements]
    categories = (list(current) or list(dict.fromkeys(j.category or "other" for j in judgements))
                  or list(CATEGORY_IDS))
    rows = advise_sizes(categories, delta or defaults.delta, planned, defaults.late_points, sd, correlation,
                        current, judgements)
    if as_json:
        typer.echo(json.dumps({"delta": delta or defaults.delta, "sizes": sorted(set(planned)),
                               "rows": [r.model_dump() for r in rows]}, ensure_ascii=False))
    else:
        stdout.print(advice_table(rows, delta or defaults.delta))


def register(app: typer.Typer) -> None:
    """Add this stage's commands to the main app."""
    app.add_typer(evalset_app, name="evalset")
