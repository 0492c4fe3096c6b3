"""The `lm-eval` judge: EleutherAI's lm-evaluation-harness on every scale's model, so a study
shows what standard benchmarks saw next to what the LLM judge saw.

It scores models, not answers: each model runs the named tasks (built-in ones, or tasks
defined by YAML files in `include_path`, e.g. C-Eval / CMMLU subsets whose data is local),
and one number per (model, task) lands in a results JSON file (the headline metric, its
standard error and the sample count). Models already in the file with the same settings are
not run again. Needs the optional extra: pip install 'instructscale[lmeval]'.
"""

from __future__ import annotations

import importlib.util
import json
from importlib import resources
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from instructscale.console import console
from instructscale.datafiles import write_json
from instructscale.errors import ConfigError, InputError

PREFERRED_METRICS = ("acc_norm", "acc", "exact_match")  # the headline metric when `metric` is not set


class LmEvalConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tasks: list[str] = Field(..., min_length=1, description="lm-eval task (or group) names, e.g. [ceval-valid_law]")
    include_path: Path | None = Field(None, description="Folder of extra task YAML files (local datasets); the packaged "
                                                        "instructscale_demo_mc task is always available")
    num_fewshot: int | None = Field(None, ge=0, description="Few-shot examples; None: each task's default")
    limit: float | None = Field(None, gt=0, description="Documents per task (a count, or a fraction below 1); None: all")
    batch_size: int = Field(8, ge=1, description="Batch size of the harness's HF model")
    device: str | None = Field(None, description="cuda, cuda:1, cpu, ...; None: cuda when available, else cpu")
    metric: str | None = Field(None, description="Metric to report per task; None: acc_norm, acc or exact_match")
    seed: int = Field(0, description="Seed of the harness (few-shot sampling)")
    out: Path = Field(..., description="Results JSON: model -> task -> metric, value, stderr, samples")

    def settings(self) -> dict:
        """What a stored result depends on (a change re-runs every model)."""
        return self.model_dump(mode="json", exclude={"out", "batch_size", "device"})


class ModelScore(BaseModel):
    metric: str
    value: float
    stderr: float | None = None
    samples: int | None = None


def require_lm_eval() -> None:
    if importlib.util.find_spec("lm_eval") is None:
        raise ConfigError("the lm-eval judge needs EleutherAI's lm-evaluation-harness: "
                          "pip install 'instructscale[lmeval]'")


def load_results(path: str | Path) -> dict:
    """{"settings": ..., "models": {model: {task: ModelScore dict}}}; empty when the file does not exist."""
    p = Path(path)
    if not p.exists():
        return {"settings": None, "models": {}}
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(f"broken JSON: {exc.msg}", path=p, line=exc.lineno) from None


def run_lm_eval(cfg: LmEvalConfig, models: dict[str, str]) -> dict[str, dict[str, ModelScore]]:
    """Run the tasks on every model (name -> folder or Hub id) not yet in `cfg.out`; the file is
    rewritten after each model, so an interrupted run keeps what finished."""
    require_lm_eval()
    if cfg.include_path is not None and not cfg.include_path.is_dir():
        raise InputError("task folder not found", path=cfg.include_path)
    stored = load_results(cfg.out)
    done = stored["models"] if stored.get("settings") == cfg.settings() else {}
    results = {name: {t: ModelScore.model_validate(s) for t, s in tasks.items()} for name, tasks in done.items()
               if name in models}
    manager = None
    for name, path in models.items():
        if name in results:
            console.print(f"lm-eval {name}: done before, skipped")
            continue
        manager = manager or task_manager(cfg)
        results[name] = _evaluate(cfg, path, manager)
        console.print(f"lm-eval {name}: " + ", ".join(f"{t} {s.metric} {s.value:.3f}" for t, s in results[name].items()))
        write_json(cfg.out, {"settings": cfg.settings(), "tasks": cfg.tasks,
                             "models": {m: {t: s.model_dump() for t, s in r.items()} for m, r in results.items()}})
    return results


def model_args(path: str) -> str:
    """The harness's `hf` model arguments: a LoRA adapter folder (instructscale.json says so)
    loads its base model with the adapter on top; the tokenizer is the one saved with the run."""
    meta_path = Path(path) / "instructscale.json"
    meta = json.loads(meta_path.read_text(encoding="utf-8")) if meta_path.exists() else {}
    if meta.get("adapter"):
        return f"pretrained={meta['base_model']},peft={path},tokenizer={path}"
    return f"pretrained={path}"


def task_manager(cfg: LmEvalConfig):
    """The harness's task index: the packaged tasks (data/benchmarks/) and `include_path` alone
    when they define every task (indexing the hundreds of built-in tasks takes a while), else the
    built-in tasks too."""
    from lm_eval.tasks import TaskManager

    paths = [str(resources.files("instructscale").joinpath("data/benchmarks"))]
    paths += [str(cfg.include_path)] if cfg.include_path is not None else []
    local = TaskManager(include_path=paths, include_defaults=False)
    if all(t in local.all_tasks for t in cfg.tasks):
        return local
    manager = TaskManager(include_path=paths)
    unknown = [t for t in cfg.tasks if t not in manager.all_tasks]
    if unknown:
        raise ConfigError(f"lm-eval has no task {', '.join(unknown)}"
                          + (f" (nor in {cfg.include_path})" if cfg.include_path else " (set include_path for local tasks)"))
    return manager


def _evaluate(cfg: LmEvalConfig, path: str, manager) -> dict[str, ModelScore]:
    import torch
    from lm_eval import simple_evaluate

    out = simple_evaluate(
        model="hf", model_args=model_args(path), tasks=cfg.tasks, task_manager=manager, num_fewshot=cfg.num_fewshot,
        limit=cfg.limit, batch_size=cfg.batch_size, device=cfg.device or ("cuda" if torch.cuda.is_available() else "cpu"),
        random_seed=cfg.seed, numpy_random_seed=cfg.seed, torch_random_seed=cfg.seed, fewshot_random_seed=cfg.seed,
        log_samples=False)
    return {task: _headline(task, values, out.get("n-samples", {}).get(task), cfg.metric)
            for task, values in out["results"].items() if task in cfg.tasks}


def _headline(task: str, values: dict, samples: dict | None, wanted: str | None) -> ModelScore:
    """One metric of a task's results (`acc,none`, `acc_stderr,none`, ...)."""
    metrics = {key.split(",")[0]: v for key, v in values.items()
               if "," in key and "_stderr" not in key and isinstance(v, (int, float))}
    name = wanted or next((m for m in PREFERRED_METRICS if m in metrics), next(iter(metrics), None))
    if name not in metrics:
        raise ConfigError(f"lm-eval task {task} has no metric {name!r} (has: {', '.join(metrics)})")
    stderr = next((v for key, v in values.items() if key.split(",")[0] == f"{name}_stderr"), None)
    return ModelScore(metric=name, value=float(metrics[name]),
                      stderr=float(stderr) if isinstance(stderr, (int, float)) else None,
                      samples=(samples or {}).get("effective"))
