"""CLI for the generate stage: `instructscale generate --target N --out FILE`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from instructscale.cli import client_options as options


def generate(
    target: int = typer.Option(..., "--target", min=1, help="Examples to reach in --out (those already there count)."),
    out: Path = typer.Option(..., "--out", help="Generated examples (JSON Lines of InstructionExample), appended; a rerun continues."),
    seeds: Optional[Path] = typer.Option(None, "--seeds", help="Seed tasks, Alpaca seed JSON Lines [default: the built-in Chinese set]."),
    base_url: str = typer.Option("https://api.openai.com/v1", "--base-url", help="OpenAI-compatible endpoint of the teacher."),
    model: str = typer.Option("gpt-3.5-turbo", "--teacher-model", help="Teacher model name."),
    old_model: Optional[str] = options.old_spelling("--model"),
    api_key_env: str = options.API_KEY_ENV,
    concurrency: int = typer.Option(8, "--concurrency", min=1, help="Requests in flight at once."),
    prompt: str = typer.Option("zh", "--prompts", help="Prompt template: zh, en, or a YAML file."),
    old_prompt: Optional[str] = options.old_spelling("--prompt"),
    num_seed_examples: int = typer.Option(3, "--num-seed-examples", min=0, help="Seed tasks shown per request (Alpaca: 3)."),
    num_new_tasks: int = typer.Option(20, "--num-new-tasks", min=1, help="New tasks asked for per request (Alpaca: 20)."),
    mix_generated: int = typer.Option(0, "--mix-generated", min=0, help="Generated tasks shown in place of as many seed examples per request."),
    rouge_threshold: float = typer.Option(0.7, "--rouge-threshold", help="Char-level ROUGE-L at or above which a task is a near-duplicate."),
    dedup_fields: str = typer.Option("instruction", "--dedup-fields", help="instruction, or instruction+input."),
    tag_with_teacher: bool = typer.Option(False, "--tag-with-teacher", help="Ask the teacher for categories the rules cannot tell."),
    temperature: float = typer.Option(1.0, "--temperature", help="Teacher sampling temperature (Alpaca: 1.0)."),
    max_tokens: int = typer.Option(3072, "--max-tokens", help="Longest teacher reply."),
    max_requests: Optional[int] = typer.Option(None, "--max-requests", min=1, help="Stop after this many requests [default: 10x the ideal number]."),
    timeout: float = options.TIMEOUT,
    max_attempts: int = options.MAX_ATTEMPTS,
    rpm: Optional[float] = options.RPM,
    tpm: Optional[float] = options.TPM,
    price_table: Optional[str] = options.PRICE_TABLE,
    max_failed_share: float = options.MAX_FAILED_SHARE,
    seed: int = typer.Option(0, "--seed", help="Seed of the example sampling."),
    dry_run: bool = options.DRY_RUN,
    batch: bool = options.BATCH,
    batch_poll: float = options.BATCH_POLL,
    batch_wait: Optional[float] = options.BATCH_WAIT,
):
    """Generate instruction data the Alpaca way (seed tasks as examples, a teacher LLM), with counted filters and
    Chinese-aware near-duplicate removal."""
    from rich.table import Table

    from instructscale.console import stdout
    from instructscale.errors import ConfigError
    from instructscale.generate import GenerateConfig, run_generate
    from instructscale.llm import ClientConfig
    from instructscale.llm.failures import raise_for_failures

    model, prompt = old_model or model, old_prompt or prompt
    if dedup_fields not in ("instruction", "instruction+input"):
        raise ConfigError(f"--dedup-fields must be instruction or instruction+input, not '{dedup_fields}'")
    client = ClientConfig(base_url=base_url, model=model, api_key_env=api_key_env, concurrency=concurrency, rpm=rpm,
                          tpm=tpm, max_attempts=max_attempts, timeout_s=timeout, price_table=price_table,
                          max_failed_share=max_failed_share, batch=batch, batch_poll_s=batch_poll,
                          batch_wait_s=batch_wait, params={"temperature": temperature, "max_tokens": max_tokens})
    s = run_generate(GenerateConfig(
        out=out, target=target, client=client, seeds=seeds, prompt=prompt, num_seed_examples=num_seed_examples,
        num_new_tasks=num_new_tasks, mix_generated=mix_generated, rouge_threshold=rouge_threshold,
        dedup_fields=dedup_fields, tag_with_teacher=tag_with_teacher, max_requests=max_requests, dry_run=dry_run,
        seed=seed))
    if s.estimate is not None:
        e = s.estimate
        cost = options.cost_text(e, digits=2) + ("" if e["cost_usd_at_cap"] is None else
                                                 f"; ${e['cost_usd_at_cap']:.2f} at the request cap of {e['request_cap']}")
        stdout.print(f"dry run: {e['needed']} examples to generate ({s.resumed} already in {out}): at least "
                     f"{e['requests']} requests, ~{e['prompt_tokens']} prompt + ~{e['completion_tokens']} completion "
                     f"tokens if every task were kept (expect 1.5-3x), cost {cost}")
        return
    filters = Table(title="filtered")
    filters.add_column("reason")
    filters.add_column("count", justify="right")
    for reason, n in s.filtered.items():
        filters.add_row(reason, str(n))
    composition = Table(title="category composition")
    composition.add_column("category")
    composition.add_column("examples", justify="right")
    composition.add_column("share", justify="right")
    for category, n in s.categories.items():
        composition.add_row(category, str(n), f"{n / max(s.kept, 1):.1%}")
    stdout.print(filters)
    stdout.print(composition)
    tokens = s.usage.get("prompt_tokens", 0) + s.usage.get("completion_tokens", 0)
    cost = s.usage.get("cost_usd")
    stdout.print(f"{s.kept}/{s.target} examples in {out} ({s.new} new, {s.resumed} resumed); {s.parsed} tasks parsed, "
                 f"{sum(s.filtered.values())} dropped; {s.requests} requests ({s.failed_requests} failed), "
                 f"{tokens} tokens" + (f", ${cost:.4f}" if cost is not None else ""))
    if not s.reached_target:  # failures that left work undone: the target was not reached
        raise_for_failures("generate", s.failed_requests, s.api_calls, client.max_failed_share, s.last_api_error)


def register(app: typer.Typer) -> None:
    """Add this stage's commands to the main app."""
    app.command("generate")(generate)
