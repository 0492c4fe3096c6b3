"""CLI for sharing a study: `instructscale export RUN_DIR --out DIR` (Hub-ready folders with
cards, optionally uploaded), `--format` for other trainers, and `instructscale import` of
ShareGPT / OpenAI `messages` conversations as a pool."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def export(
    source: Path = typer.Argument(..., help="Study run directory (holds index.json), or one pool / subset file (--format other than hub)."),
    out: Path = typer.Option(..., "--out", help="Output folder."),
    fmt: str = typer.Option("hub", "--format", help="hub (Parquet dataset + models with cards), alpaca, sharegpt, messages, llamafactory."),
    push_to_hub: Optional[str] = typer.Option(None, "--push-to-hub", help="ORG/NAME: upload the dataset there and each model to ORG/NAME-<model> (token: HF_TOKEN or huggingface-cli login)."),
    private: bool = typer.Option(False, "--private", help="Create the Hub repos as private."),
    models: bool = typer.Option(True, "--models/--no-models", help="Export each scale's model (hub format)."),
    license: str = typer.Option("other", "--license", help="License id in the cards (apache-2.0, cc-by-nc-4.0, ...); "
                                "'other' says the terms are the teacher's and the base model's."),
):
    """Export a study's data and models for the Hub and for other trainers."""
    from instructscale.console import console
    from instructscale.errors import ConfigError

    if fmt == "hub":
        from instructscale.export import export_run

        summary = export_run(source, out, repo_id=push_to_hub, models=models, license=license)
        splits = ", ".join(f"{name} ({n})" for name, n in summary.splits.items())
        console.print(f"dataset: {summary.dataset}: {splits}")
        for name, folder in summary.models.items():
            console.print(f"model {name}: {folder}")
        if push_to_hub:
            from instructscale.export.push import push_export

            push_export(summary, private=private)
        return
    if push_to_hub:
        raise ConfigError("--push-to-hub uploads the hub format; leave out --format to use it")
    from instructscale.export.formats import write_format

    splits, prefix, extra = _splits(source, llamafactory=fmt == "llamafactory")
    for path in write_format(splits, fmt, out, dataset_prefix=prefix, **extra):
        console.print(f"wrote {path}")


def _splits(source: Path, llamafactory: bool = False):
    """(split name -> examples, dataset prefix, LLaMA-Factory extras) of a run directory or of one
    data file. The extras: the run's eval set, and the training settings and base model its first
    trained model recorded (else the replica preset and a BASE_MODEL placeholder)."""
    import json

    from instructscale.datafiles import read_records
    from instructscale.records import EvalItem, InstructionExample

    extra: dict = {}
    if (source / "index.json").exists():
        from instructscale.export.hub import run_splits
        from instructscale.runindex import load_index

        index = load_index(source)
        splits, prefix = run_splits(index), index.name
        if llamafactory:
            extra["eval_items"] = read_records(index.resolve(index.eval), EvalItem)
            metas = sorted((source / "models").glob("*/instructscale.json"))
            if metas:
                meta = json.loads(metas[0].read_text(encoding="utf-8"))
                base = meta.get("base_model")
                extra.update(train=meta.get("train"), base_model=str(Path(base).resolve()) if base and Path(base).exists()
                             else base)
    else:
        splits, prefix = {source.stem: read_records(source, InstructionExample)}, source.stem
    if llamafactory and extra.get("train") is None:
        from instructscale.train.config import presets

        extra["train"] = presets()["replica"]
    return splits, prefix, extra


def import_conversations(
    source: Path = typer.Argument(..., help="ShareGPT ('conversations' of from/value) or OpenAI ('messages' of role/content) rows: JSON Lines, JSON, Parquet, ..."),
    out: Path = typer.Option(..., "--out", help="Pool file to write (JSON Lines of instruction examples)."),
    multi_turn: str = typer.Option("split", "--multi-turn", help="split: one example per assistant turn, earlier turns as input; reject: leave multi-turn conversations out (counted)."),
):
    """Read chat conversations as an instruction pool, usable by subsets, train and study (data.pool)."""
    from instructscale.console import console
    from instructscale.datafiles import write_jsonl
    from instructscale.errors import ConfigError
    from instructscale.export.formats import read_conversations

    if multi_turn not in ("split", "reject"):
        raise ConfigError(f"--multi-turn must be split or reject, got '{multi_turn}'")
    examples, counts = read_conversations(source, multi_turn=multi_turn)
    write_jsonl(out, examples)
    console.print(f"{counts['conversations']} conversations -> {counts['examples']} examples in {out}"
                  f" ({counts['rejected_multi_turn']} multi-turn rejected, {counts['no_reply']} without a reply)")


def register(app: typer.Typer) -> None:
    """Add this stage's commands to the main app."""
    app.command("export")(export)
    app.command("import")(import_conversations)
