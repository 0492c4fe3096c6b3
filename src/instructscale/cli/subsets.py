"""CLI for the subsets stage: `instructscale subsets --pool POOL --sizes ... --out DIR [--select METHOD]`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from instructscale.cli import client_options as options


def subsets(
    pool: Path = typer.Option(..., "--pool", help="Training pool (JSON Lines of instruction examples, or any readable format)."),
    sizes: str = typer.Option(..., "--sizes", help="Comma-separated counts (200000,600000) or fractions (0.1,0.3)."),
    out: Path = typer.Option(..., "--out", help="Folder for subset_<size>.jsonl files and manifest.json."),
    seed: int = typer.Option(0, "--seed", help="Seed of the one ordering all subsets are prefixes of (and of tie-breaks)."),
    stratify: bool = typer.Option(False, "--stratify", help="Keep the pool's category proportions in every subset."),
    exclude_eval: Optional[Path] = typer.Option(None, "--exclude-eval", help="Evaluation set; pool examples that overlap it are removed first."),
    overlap_threshold: float = typer.Option(0.8, "--overlap-threshold", help="Similarity above which an example overlaps an eval item."),
    unknown: str = typer.Option("error", "--unknown", help="Pool categories outside the 12 (after the eval set's normalisation): error (default), other (keep as 'other') or drop (leave the example out)."),
    select: str = typer.Option("random", "--select", help="Ranking: random, llm-quality, ifd, length or diversity."),
    mix: Optional[str] = typer.Option(None, "--mix", help="Category shares of every subset, e.g. math=0.3,code=0.2 (other categories share the rest)."),
    drop: Optional[str] = typer.Option(None, "--drop", help="Comma-separated categories left out of every subset."),
    model: str = typer.Option("gpt-3.5-turbo", "--rater-model", help="llm-quality: rater model name."),
    old_model: Optional[str] = options.old_spelling("--model"),
    base_url: str = typer.Option("https://api.openai.com/v1", "--base-url", help="llm-quality: OpenAI-compatible endpoint of the rater."),
    api_key_env: str = options.API_KEY_ENV,
    concurrency: int = typer.Option(8, "--concurrency", min=1, help="llm-quality: requests in flight at once."),
    prompts: str = typer.Option("zh", "--prompts", help="llm-quality: rating prompt, zh, en or a YAML file of the same shape."),
    reasks: int = typer.Option(2, "--reasks", min=0, help="llm-quality: extra asks, with a format reminder, when a reply has no valid rating."),
    cache: Optional[Path] = typer.Option(None, "--cache", help="llm-quality: SQLite reply cache (default: llm_cache.sqlite next to the --out folder)."),
    no_cache: bool = typer.Option(False, "--no-cache", help="llm-quality: neither read nor write the reply cache."),
    max_tokens: int = typer.Option(128, "--max-tokens", help="llm-quality: longest rater reply."),
    timeout: float = options.TIMEOUT,
    max_attempts: int = options.MAX_ATTEMPTS,
    rpm: Optional[float] = options.RPM,
    tpm: Optional[float] = options.TPM,
    price_table: Optional[str] = options.PRICE_TABLE,
    dry_run: bool = options.DRY_RUN,
    batch: bool = options.BATCH,
    batch_poll: float = options.BATCH_POLL,
    batch_wait: Optional[float] = options.BATCH_WAIT,
    base_model: Optional[str] = typer.Option(None, "--base-model", help="ifd: base model (Hub id or folder) that computes the losses."),
    template: str = typer.Option("belle", "--template", help="ifd: prompt template, as in training."),
    max_length: int = typer.Option(512, "--max-length", help="ifd: tokens per example."),
    batch_size: int = typer.Option(8, "--batch-size", min=1, help="ifd: examples per forward pass."),
):
    """Make nested, deterministic subsets of a pool (every smaller subset inside every larger one)."""
    from rich.table import Table

    from instructscale.cli.evalset import label_policy
    from instructscale.console import stdout
    from instructscale.errors import ConfigError
    from instructscale.llm import ClientConfig
    from instructscale.subsets import SelectConfig, SubsetsConfig, estimate_subsets, make_subsets
    from instructscale.subsets.select import DEFAULT_RATING_PARAMS

    methods = ("random", "llm-quality", "ifd", "length", "diversity")
    if select not in methods:
        raise ConfigError(f"--select must be one of {', '.join(methods)}, not '{select}'")
    model = old_model or model
    client = None
    if select == "llm-quality":
        client = ClientConfig(base_url=base_url, model=model, api_key_env=api_key_env, concurrency=concurrency, rpm=rpm,
                              tpm=tpm, max_attempts=max_attempts, timeout_s=timeout, price_table=price_table,
                              batch=batch, batch_poll_s=batch_poll, batch_wait_s=batch_wait,
                              params={**DEFAULT_RATING_PARAMS, "max_tokens": max_tokens})
    selection = SelectConfig(method=select, mix=mix or {}, drop=drop or [], client=client, prompts=prompts,
                             reasks=reasks, cache=cache, use_cache=not no_cache, base_model=base_model,
                             template=template, max_length=max_length, batch_size=batch_size)
    cfg = SubsetsConfig(pool=pool, sizes=sizes, out=out, seed=seed, stratify=stratify, exclude_eval=exclude_eval,
                        overlap_threshold=overlap_threshold, unknown=label_policy(unknown), select=selection)
    if dry_run:
        e = estimate_subsets(cfg)
        stdout.print(f"dry run: {select} over {e['pool_size']} examples, sizes {e['sizes']}: ~{e['requests']} requests "
                     f"({e.get('cached', 0)} cached), ~{e['prompt_tokens']} prompt + ~{e['completion_tokens']} "
                     f"completion tokens, cost {options.cost_text(e) if e['requests'] else '$0'}")
        return
    manifest = make_subsets(cfg)
    table = Table("subset", "size", "file", "categories")
    for s in manifest.subsets:
        table.add_row(s.name, str(s.size), s.file, str(len(s.categories)))
    stdout.print(table)
    summary = manifest.selection.summary
    if select == "llm-quality":
        stdout.print(f"rated {summary['rated']}, unrated {summary['unrated']} (after {summary['reasks']} re-asks); "
                     f"{summary['requests']} requests, {summary['cache_hits']} cache hits")
    stdout.print(f"manifest: {out / 'manifest.json'}")


def register(app: typer.Typer) -> None:
    """Add this stage's commands to the main app."""
    app.command("subsets")(subsets)
