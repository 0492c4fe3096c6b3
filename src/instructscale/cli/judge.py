"""CLI for the judge stage: `instructscale judge --eval EVAL --responses RESPONSES --out OUT`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from instructscale.cli import client_options as options


def judge(
    eval_path: Path = typer.Option(..., "--eval", help="Evaluation set (JSON Lines of EvalItem: id, category, question, reference)."),
    responses: list[Path] = typer.Option(..., "--responses", help="Response file(s) (JSON Lines of Response); repeat for several."),
    out: Path = typer.Option(..., "--out", help="Judgements (JSON Lines), appended; a rerun skips finished ones."),
    scorer: str = typer.Option("llm", "--scorer", help="llm (an API judge) or reference (offline metrics vs the reference answer)."),
    judge_model: str = typer.Option("gpt-3.5-turbo", "--judge-model", help="Judge model name (the study used ChatGPT)."),
    base_url: str = typer.Option("https://api.openai.com/v1", "--base-url", help="OpenAI-compatible endpoint (vLLM, llama.cpp, Ollama, ...)."),
    api_key_env: str = options.API_KEY_ENV,
    repeats: int = typer.Option(3, "--repeats", min=1, help="Judgements per answer; the item score is their mean (the study: 3)."),
    concurrency: int = typer.Option(8, "--concurrency", min=1, help="Requests in flight at once."),
    prompts: str = typer.Option("zh", "--prompts", help="Prompt set: zh (the study's), en, or a YAML / JSON Lines (class, prompt) file."),
    cache: Optional[Path] = typer.Option(None, "--cache", help="SQLite reply cache [default: llm_cache.sqlite next to --out]."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Neither read nor write the reply cache."),
    temperature: float = typer.Option(1.0, "--temperature", help="Judge sampling temperature (repeats differ only if > 0)."),
    max_tokens: Optional[int] = typer.Option(None, "--max-tokens", help="Longest judge reply [default: 512; 256 for a judge on a local server]."),
    max_input_tokens: Optional[int] = typer.Option(None, "--max-input-tokens", help="Question, reference and answer together (estimated tokens); longer ones are cut [default: 6000; 1200 for a local judge]."),
    seed: Optional[int] = typer.Option(0, "--seed", help="Seed sent as seed + repeat index, where the server supports it."),
    reasks: int = typer.Option(2, "--reasks", min=0, help="Extra requests, with a format reminder, when a reply has no valid score."),
    timeout: float = options.TIMEOUT,
    max_attempts: int = options.MAX_ATTEMPTS,
    rpm: Optional[float] = options.RPM,
    tpm: Optional[float] = options.TPM,
    price_table: Optional[str] = options.PRICE_TABLE,
    max_failed_share: float = options.MAX_FAILED_SHARE,
    batch: bool = options.BATCH,
    batch_poll: float = options.BATCH_POLL,
    batch_wait: Optional[float] = options.BATCH_WAIT,
    code_timeout: float = typer.Option(10.0, "--code-timeout", help="Time limit in seconds for running code tests (reference scorer)."),
    dry_run: bool = options.DRY_RUN,
):
    """Score responses with an LLM judge (the study's category prompts, `得分:` in [0, 1]) or offline metrics."""
    from instructscale.console import stdout
    from instructscale.errors import ConfigError
    from instructscale.judge import JudgeConfig, run_judge
    from instructscale.judge.summary import stats_table
    from instructscale.llm import ClientConfig
    from instructscale.llm.failures import raise_for_failures

    if scorer not in ("llm", "reference"):
        raise ConfigError(f"--scorer must be llm or reference, not '{scorer}'")
    client = ClientConfig(base_url=base_url, model=judge_model, api_key_env=api_key_env, concurrency=concurrency,
                          rpm=rpm, tpm=tpm, max_attempts=max_attempts, timeout_s=timeout, price_table=price_table,
                          max_failed_share=max_failed_share, batch=batch, batch_poll_s=batch_poll,
                          batch_wait_s=batch_wait,
                          params={"temperature": temperature, **({"max_tokens": max_tokens} if max_tokens else {})})
    summary = run_judge(JudgeConfig(
        eval=eval_path, responses=responses, out=out, scorer=scorer, client=client if scorer == "llm" else None,
        prompts=prompts, repeats=repeats, reasks=reasks, seed=seed, cache=cache, use_cache=not no_cache,
        dry_run=dry_run, code_timeout_s=code_timeout, max_input_tokens=max_input_tokens))
    if summary.estimate is not None:
        e = summary.estimate
        stdout.print(f"dry run: {e['judgements']} judgements to do ({e.get('cached', 0)} cached), "
                     f"~{e['requests']} requests, ~{e['prompt_tokens']} prompt + ~{e['completion_tokens']} "
                     f"completion tokens, cost {options.cost_text(e)}")
        return
    stdout.print(stats_table(summary.rows, title=f"judge: {summary.judge}"))
    no_score = summary.unscored - summary.api_failures - summary.response_failures
    line = (f"{summary.judgements} judgements in {out} ({summary.new} new, {summary.resumed} resumed), "
            f"{summary.unscored} unscored: {summary.api_failures} API failures (redone by the next run), "
            f"{no_score} replies without a valid score ({summary.context_overflows} too long for the judge's context), "
            f"{summary.response_failures} failed responses")
    if summary.scorer == "llm":
        cost = summary.usage.get("cost_usd")
        line += (f"; {summary.requests} requests, {summary.cache_hits} cache hits, "
                 f"{summary.usage.get('prompt_tokens', 0)}+{summary.usage.get('completion_tokens', 0)} tokens"
                 + (f", ${cost:.4f}" if cost is not None else ""))
    stdout.print(line)
    raise_for_failures("judge", summary.api_failures, summary.api_calls, client.max_failed_share,
                       summary.last_api_error)


def register(app: typer.Typer) -> None:
    """Add this stage's commands to the main app."""
    app.command("judge")(judge)
