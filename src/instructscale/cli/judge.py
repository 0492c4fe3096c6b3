"""CLI for the judge stage: `instructscale judge --eval EVAL --responses RESPONSES --out OUT`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from typer.core import TyperGroup

from instructscale.cli import client_options as options


def judge(
    eval_path: Path = typer.Option(..., "--eval", help="Evaluation set (JSON Lines of EvalItem: id, category, question, reference)."),
    responses: list[Path] = typer.Option(..., "--responses", help="Response file(s) (JSON Lines of Response); repeat for several."),
    out: Path = typer.Option(..., "--out", help="Judgements (JSON Lines), appended; a rerun skips finished ones."),
    scorer: str = typer.Option("llm", "--scorer", help="llm (an API judge) or reference (offline metrics vs the reference answer)."),
    pairwise: bool = typer.Option(False, "--pairwise", help="Compare each answer with a reference answer (--against), in both orders (docs/pairwise.md); --prompts is then a pairwise prompt set."),
    against: str = typer.Option("golden", "--against", help="--pairwise: golden (the evaluation set's references), a model in --responses, or a Response file."),
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
    cfg = JudgeConfig(
        eval=eval_path, responses=responses, out=out, scorer=scorer, client=client if scorer == "llm" else None,
        prompts=prompts, repeats=repeats, reasks=reasks, seed=seed, cache=cache, use_cache=not no_cache,
        dry_run=dry_run, code_timeout_s=code_timeout, max_input_tokens=max_input_tokens)
    if pairwise:
        return _pairwise(cfg, against)
    summary = run_judge(cfg)
    if summary.estimate is not None:
        _print_estimate(summary.estimate)
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


def _print_estimate(e: dict) -> None:
    from instructscale.console import stdout

    stdout.print(f"dry run: {e['judgements']} judgements to do ({e.get('cached', 0)} cached), "
                 f"~{e['requests']} requests, ~{e['prompt_tokens']} prompt + ~{e['completion_tokens']} "
                 f"completion tokens, cost {options.cost_text(e)}")


def _pairwise(cfg, against: str) -> None:
    """`judge --pairwise`: the same settings, each answer against the reference answers."""
    from instructscale.console import stdout
    from instructscale.judge.pairwise import PairwiseConfig, pair_table, run_pairwise
    from instructscale.llm.failures import raise_for_failures

    if cfg.scorer != "llm":
        from instructscale.errors import ConfigError

        raise ConfigError("--pairwise needs an LLM judge (--scorer llm)")
    s = run_pairwise(PairwiseConfig(**{**dict(cfg), "against": against}))
    if s.estimate is not None:
        return _print_estimate(s.estimate)
    stdout.print(pair_table(s.pair_rows, title=f"pairwise judge: {s.judge} vs {s.against}"))
    stdout.print(f"{s.judgements} pairwise judgements in {cfg.out} ({s.new} new, {s.resumed} resumed), "
                 f"{s.unscored} without a verdict: {s.api_failures} API failures (redone by the next run), "
                 f"{s.response_failures} failed responses; {s.no_reference} answers without a reference answer; "
                 f"{s.requests} requests, {s.cache_hits} cache hits")
    raise_for_failures("judge", s.api_failures, s.api_calls, cfg.client.max_failed_share, s.last_api_error)


def sheet(
    run_dir: Path = typer.Argument(..., help="Study run directory (holds index.json)."),
    out: Path = typer.Option(..., "--out", help="Sheet stem: writes OUT.csv, OUT.jsonl and OUT.key.jsonl (who answered)."),
    ci_width: float = typer.Option(0.5, "--ci-width", min=0.05, max=2.0, help="Target width of the 95% CI of Spearman's rho per category; sets the answers per category."),
    per_category: Optional[int] = typer.Option(None, "--per-category", min=1, help="Answers per category instead of --ci-width."),
    seed: int = typer.Option(0, "--seed", help="Seed of the sample."),
):
    """Write a blind rating sheet for annotators: answers stratified by category and scale; they fill `score` (0-1)."""
    from instructscale.console import stdout
    from instructscale.report.human import write_rating_sheet

    s = write_rating_sheet(run_dir, out, ci_width=ci_width, per_category=per_category, seed=seed)
    stdout.print(f"{sum(s.per_category.values())} answers in {s.sheet} "
                 f"({', '.join(f'{c} {n}' for c, n in s.per_category.items())}); key: {s.key}")


def agreement(
    sheets: list[Path] = typer.Argument(..., help="Rated sheet(s) (CSV or JSON Lines, one per annotator), then the run directory."),
    key: Optional[Path] = typer.Option(None, "--key", help="The sheet's key file [default: SHEET.key.jsonl next to the first sheet]."),
    seed: int = typer.Option(0, "--seed", help="Seed of the bootstrap."),
):
    """Agreement of every judge with the people's scores (alpha, Spearman, mean |difference|), per category;
    written to RUN_DIR/human/agreement.json, which the report shows."""
    from rich.table import Table

    from instructscale.console import stdout
    from instructscale.errors import ConfigError
    from instructscale.judge.summary import fmt_cell
    from instructscale.report.human import human_agreement

    if len(sheets) < 2:
        raise ConfigError("give the rated sheet(s), then the run directory")
    *rated, run_dir = sheets
    result = human_agreement(rated, run_dir, key=key, seed=seed)
    table = Table(title=f"judges vs people ({result.rated} answers rated)")
    for name in ("raters", "category", "answers", "alpha [95% CI]", "spearman", "mean |diff|"):
        table.add_column(name, justify="left" if name in ("raters", "category") else "right")
    for r in result.rows:
        table.add_row(" vs ".join(r.raters), r.category, str(r.units),
                      f"{fmt_cell(r.alpha)} [{fmt_cell(r.alpha_low)}, {fmt_cell(r.alpha_high)}]",
                      fmt_cell(r.spearman), fmt_cell(r.mean_abs_diff))
    stdout.print(table)


RUN = "run"  # the judge stage itself: `instructscale judge --eval ...` is `judge run --eval ...`


class _JudgeGroup(TyperGroup):
    """`instructscale judge [OPTIONS]` runs the judge stage, as it always did; `judge sheet` and
    `judge agreement` are subcommands beside it."""

    def parse_args(self, ctx, args):
        if not args or args[0] not in self.commands:
            args = [RUN, *args]
        return super().parse_args(ctx, args)


def register(app: typer.Typer) -> None:
    """Add this stage's commands to the main app."""
    group = typer.Typer(cls=_JudgeGroup, help="Score responses; rating sheets for people and their agreement.")
    group.command(RUN, hidden=True, epilog="Also: `instructscale judge sheet RUN_DIR --out SHEET` (a rating sheet "
                                           "for people) and `instructscale judge agreement SHEET.csv RUN_DIR`.")(judge)
    group.command("sheet")(sheet)
    group.command("agreement")(agreement)
    app.add_typer(group, name="judge")
