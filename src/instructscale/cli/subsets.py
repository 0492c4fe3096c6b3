"""CLI for the subsets stage: `instructscale subsets --pool POOL --sizes ... --out DIR`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def subsets(
    pool: Path = typer.Option(..., "--pool", help="Training pool (JSON Lines of instruction examples, or any readable format)."),
    sizes: str = typer.Option(..., "--sizes", help="Comma-separated counts (200000,600000) or fractions (0.1,0.3)."),
    out: Path = typer.Option(..., "--out", help="Folder for subset_<size>.jsonl files and manifest.json."),
    seed: int = typer.Option(0, "--seed", help="Seed of the one ordering all subsets are prefixes of."),
    stratify: bool = typer.Option(False, "--stratify", help="Keep the pool's category proportions in every subset."),
    exclude_eval: Optional[Path] = typer.Option(None, "--exclude-eval", help="Evaluation set; pool examples that overlap it are removed first."),
    overlap_threshold: float = typer.Option(0.8, "--overlap-threshold", help="Similarity above which an example overlaps an eval item."),
):
    """Make nested, deterministic subsets of a pool (every smaller subset inside every larger one)."""
    from rich.table import Table

    from instructscale.console import stdout
    from instructscale.subsets import SubsetsConfig, make_subsets

    manifest = make_subsets(SubsetsConfig(pool=pool, sizes=sizes, out=out, seed=seed, stratify=stratify,
                                          exclude_eval=exclude_eval, overlap_threshold=overlap_threshold))
    table = Table("subset", "size", "file", "categories")
    for s in manifest.subsets:
        table.add_row(s.name, str(s.size), s.file, str(len(s.categories)))
    stdout.print(table)
    stdout.print(f"manifest: {out / 'manifest.json'}")


def register(app: typer.Typer) -> None:
    """Add this stage's commands to the main app."""
    app.command("subsets")(subsets)
