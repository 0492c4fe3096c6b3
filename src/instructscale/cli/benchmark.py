"""CLI for standard benchmarks alone: `instructscale benchmark --model NAME=PATH --tasks T --out FILE`
(the same runner as a study's `lm-eval` judge)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def benchmark(
    model: list[str] = typer.Option(..., "--model", help="NAME=PATH (a model folder, an adapter folder or a Hub id); repeat for more."),
    tasks: str = typer.Option(..., "--tasks", help="Comma-separated lm-eval task or group names (instructscale_demo_mc is packaged)."),
    out: Path = typer.Option(..., "--out", help="Results JSON (model -> task -> metric, value, stderr, samples); models already in it are skipped."),
    include_path: Optional[Path] = typer.Option(None, "--include-path", help="Folder of extra task YAML files (local data)."),
    num_fewshot: Optional[int] = typer.Option(None, "--num-fewshot", help="Few-shot examples [default: each task's]."),
    limit: Optional[float] = typer.Option(None, "--limit", help="Documents per task (a count, or a fraction below 1)."),
    batch_size: int = typer.Option(8, "--batch-size"),
    device: Optional[str] = typer.Option(None, "--device", help="cuda, cpu, ... [default: cuda when available]."),
    metric: Optional[str] = typer.Option(None, "--metric", help="Metric to report [default: acc_norm, acc or exact_match]."),
):
    """Run EleutherAI's lm-evaluation-harness on models (needs: pip install 'instructscale[lmeval]')."""
    from instructscale.console import stdout
    from instructscale.errors import ConfigError
    from instructscale.judge.lmeval import LmEvalConfig, run_lm_eval

    models = {}
    for spec in model:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            raise ConfigError(f"--model expects NAME=PATH, got '{spec}'")
        models[name] = path
    cfg = LmEvalConfig(tasks=[t for t in tasks.split(",") if t], include_path=include_path, num_fewshot=num_fewshot,
                       limit=limit, batch_size=batch_size, device=device, metric=metric, out=out)
    for name, scores in run_lm_eval(cfg, models).items():
        for task, s in scores.items():
            stdout.print(f"{name}  {task}  {s.metric}  {s.value:.4f}")


def register(app: typer.Typer) -> None:
    """Add this stage's commands to the main app."""
    app.command("benchmark")(benchmark)
