"""CLI for the respond stage: `instructscale respond --model PATH --eval EVAL --out OUT`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from instructscale.cli import client_options as options


def respond(
    models: list[str] = typer.Option(..., "--model", help="Model folder, adapter folder or Hub id (openai: the served "
                                     "model name); NAME=PATH names it in the output. Repeat for several models."),
    eval_path: Path = typer.Option(..., "--eval", help="Evaluation set (JSON Lines of EvalItem: id, category, question)."),
    out: Path = typer.Option(..., "--out", help="Responses (JSON Lines), appended; a rerun skips finished ones."),
    backend: str = typer.Option("hf", "--backend", help="hf (transformers), openai (any OpenAI-compatible server) or vllm."),
    preset: str = typer.Option("study", "--preset", help="Generation preset: study (T=0.9, top_p 0.6, top_k 30, "
                               "repetition penalty 1.2, 128 tokens) or greedy."),
    temperature: Optional[float] = typer.Option(None, "--temperature", help="Override the preset's temperature."),
    top_p: Optional[float] = typer.Option(None, "--top-p", help="Override the preset's nucleus mass."),
    top_k: Optional[int] = typer.Option(None, "--top-k", help="Override the preset's top-k (0: off)."),
    repetition_penalty: Optional[float] = typer.Option(None, "--repetition-penalty", help="Override (1.0: off)."),
    max_new_tokens: Optional[int] = typer.Option(None, "--max-new-tokens", help="Override the longest answer (tokens)."),
    do_sample: Optional[bool] = typer.Option(None, "--sample/--greedy", help="Override: sample or decode greedily."),
    n: int = typer.Option(1, "--n", min=1, help="Samples per item (the study: 1)."),
    batch_size: int = typer.Option(16, "--batch-size", min=1, help="Prompts per generate call (hf, vllm)."),
    template: Optional[str] = typer.Option(None, "--template", help="belle, alpaca, chat or a format string with "
                                           "{instruction} [default: the model's instructscale.json, else belle]."),
    stop: Optional[list[str]] = typer.Option(None, "--stop", help="Stop string (repeatable) [default: the template's]."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda, cuda:1, ..."),
    dtype: str = typer.Option("auto", "--dtype", help="auto, float32, bfloat16 or float16."),
    seed: int = typer.Option(0, "--seed", help="Sampling seed: same seed and inputs give the same answers."),
    base_url: str = typer.Option("http://127.0.0.1:8000/v1", "--base-url", help="openai backend: the OpenAI-compatible server of the models under test (so a local one by default)."),
    api_key_env: str = typer.Option("OPENAI_API_KEY", "--api-key-env", help="Environment variable holding the API key."),
    concurrency: int = typer.Option(8, "--concurrency", min=1, help="Requests in flight (openai backend)."),
    timeout: float = typer.Option(120.0, "--timeout", help="Per-request timeout in seconds (openai backend)."),
    max_attempts: int = typer.Option(5, "--max-attempts", min=1, help="Attempts per request (openai backend)."),
    max_failed_share: float = options.MAX_FAILED_SHARE,
):
    """Let every model answer every evaluation question (local transformers, vLLM, or an API server)."""
    from pydantic import ValidationError

    from instructscale.console import stdout
    from instructscale.errors import ConfigError, validation_message
    from instructscale.llm import ClientConfig
    from instructscale.llm.failures import raise_for_failures
    from instructscale.respond import RespondConfig, run_respond

    client = None
    if backend == "openai":
        client = ClientConfig(base_url=base_url, model="set-per-model", api_key_env=api_key_env,
                              concurrency=concurrency, timeout_s=timeout, max_attempts=max_attempts,
                              max_failed_share=max_failed_share)
    try:
        cfg = RespondConfig(
            models=[_model_spec(m) for m in models], eval=eval_path, out=out, backend=backend, preset=preset,
            temperature=temperature, top_p=top_p, top_k=top_k, repetition_penalty=repetition_penalty,
            max_new_tokens=max_new_tokens, do_sample=do_sample, n=n, batch_size=batch_size, template=template,
            stop=stop or None, client=client, device=device, dtype=dtype, seed=seed)
    except ValidationError as exc:
        raise ConfigError(validation_message(exc)) from None
    summary = run_respond(cfg)
    for m in summary.models:
        stdout.print(f"{m.name}: {m.responses} responses ({m.new} new, {m.errors} failed, {m.truncated} hit the "
                     "length limit)")
    stdout.print(f"{summary.new} new, {summary.resumed} resumed, {summary.errors} failed in {out} "
                 f"({summary.seconds:.1f}s)")
    if client is not None:
        raise_for_failures("respond", summary.errors, summary.new, client.max_failed_share, summary.last_error)


def _model_spec(arg: str):
    """NAME=PATH, or PATH named by its last path component."""
    from instructscale.respond import ModelSpec

    name, sep, path = arg.partition("=")
    if sep and name and path and "/" not in name:
        return ModelSpec(name=name, path=path)
    return ModelSpec(name=Path(arg.rstrip("/")).name or arg, path=arg)


def register(app: typer.Typer) -> None:
    """Add this stage's commands to the main app."""
    app.command("respond")(respond)
