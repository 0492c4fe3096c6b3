"""Dataset and model cards, rendered with huggingface_hub's card classes from the templates in
data/export/ and from what the run recorded (its index, unit manifests, subsets manifest,
training metadata and report), so a card states how its data or model was made."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

from huggingface_hub import DatasetCard, DatasetCardData, EvalResult, ModelCard, ModelCardData

from instructscale.categories import CATEGORY_IDS
from instructscale.runindex import RunIndex, ScaleEntry

TAGS = ["instructscale", "instruction-tuning", "scaling-study"]
TRAINING_KEYS = ["template", "loss_on", "epochs", "max_steps", "effective_batch_size", "learning_rate",
                 "lr_scheduler", "warmup_steps", "weight_decay", "max_length", "packing", "lora", "lora_r",
                 "precision", "seed"]


def _template(name: str) -> str:
    return str(resources.files("instructscale").joinpath(f"data/export/{name}"))


def unit_manifests(run_dir: Path) -> dict[str, dict]:
    """The study's unit manifests by unit name (`pool`, `subsets`, `train:200`, ...)."""
    out = {}
    for p in sorted((run_dir / "manifests").glob("*.json")):
        data = json.loads(p.read_text(encoding="utf-8"))
        out[data.get("unit", p.stem)] = data
    return out


def size_category(n: int) -> str:
    """The Hub's size bucket for a dataset of n rows."""
    for limit, name in [(1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"),
                        (1_000_000, "100K<n<1M"), (10_000_000, "1M<n<10M")]:
        if n < limit:
            return name
    return "10M<n<100M"


def dataset_card(index: RunIndex, splits: list[dict], composition: list[dict], *, repo_id: str | None,
                 report_link: str | None, license: str = "other") -> DatasetCard:
    """`splits`: [{config, name, rows, what, path}]; `composition`: [{name, counts}]. Without a
    `repo_id` the card's loading example names ORG/NAME, never this machine's folder."""
    run_dir = index.resolve(".")
    units = unit_manifests(run_dir)
    pool_unit, subsets_unit = units.get("pool", {}), units.get("subsets", {})
    settings = pool_unit.get("settings", {})
    generation = settings.get("generate")
    teacher = _teacher_name(settings["teacher"]) if "teacher" in settings else index.teacher_model or "unknown"
    subsets = json.loads(index.resolve(index.subsets_manifest).read_text(encoding="utf-8")) \
        if index.subsets_manifest and index.resolve(index.subsets_manifest).exists() else {}
    categories = sorted({c for s in composition for c in s["counts"]},
                        key=lambda c: (CATEGORY_IDS.index(c) if c in CATEGORY_IDS else len(CATEGORY_IDS), c))
    configs: dict[str, list] = {}
    for s in splits:
        configs.setdefault(s["config"], []).append({"split": s["name"], "path": s["path"]})
    language = {"zh": ["zh"], "en": ["en"]}.get((generation or {}).get("prompt"))
    data = DatasetCardData(
        pretty_name=f"{index.name} (instruction data)", license=license, task_categories=["text-generation"], tags=TAGS,
        size_categories=[size_category(max(s["rows"] for s in splits))], **({"language": language} if language else {}),
        configs=[{"config_name": name, "data_files": files} for name, files in configs.items()])
    return DatasetCard.from_template(
        data, template_path=_template("dataset_card.md.j2"), name=index.name, repo_id=repo_id, splits=splits,
        teacher=teacher, generation=generation, gen_summary=pool_unit.get("summary", {}),
        pool_source=settings.get("path", subsets.get("pool", "?")), subsets=subsets,
        overlap_threshold=subsets_unit.get("settings", {}).get("subsets", {}).get("overlap_threshold"),
        categories=categories, composition=composition, report_link=report_link)


def _teacher_name(teacher: dict) -> str:
    if teacher.get("offline_demo"):
        return "the offline demo teacher (instructscale's procedural demo world)"
    return teacher.get("model") or "unknown"


def hub_base_model(base: str) -> str | None:
    """The Hub id of a base model: `base` itself when it is one, or the id a local folder was
    saved from (its config.json `_name_or_path`); None for a model made locally (the tiny one)."""
    def hub_like(name: str) -> bool:
        return name.count("/") == 1 and not name.startswith((".", "/")) and not Path(name).exists()

    if hub_like(base):
        return base
    config = Path(base) / "config.json"
    if config.is_file():
        origin = str(json.loads(config.read_text(encoding="utf-8")).get("_name_or_path", ""))
        return origin if hub_like(origin) else None
    return None


def scale_scores(scores: dict | None, entry: ScaleEntry) -> list[dict]:
    """Per-category cells of report/scores.json at this scale (categories, then macro and micro)."""
    if not scores:
        return []
    out = []
    for row in scores.get("rows", []):
        cell = next((c for c in row["cells"] if c["label"] == entry.label and c["size"] == entry.size), None)
        if cell is not None:
            out.append({"category": row["category"], **{k: cell[k] for k in ("mean", "ci_low", "ci_high",
                                                                              "scored_items")}})
    return out


def model_card(index: RunIndex, entry: ScaleEntry, meta: dict[str, Any], scores: dict | None, *, repo_id: str,
               load_from: str, dataset_repo: str | None, report_link: str | None, license: str = "other"
               ) -> ModelCard:
    """Card of one scale's model: `meta` is its instructscale.json (training metadata); `load_from`
    is what from_pretrained is given in the card's snippet (the Hub repo, or ORG/NAME-<model>).
    A local base model is named by its Hub origin or folder name, never by this machine's path."""
    from instructscale.report.bias import self_preference

    local_base = str(meta.get("base_model", "?"))
    hub_base = hub_base_model(local_base)
    base = hub_base or f"{Path(local_base).name} (a local model, not on the Hub)"
    train = meta.get("train", {})
    rows = scale_scores(scores, entry)
    judge = (scores or {}).get("judge", "-")
    results = [EvalResult(task_type="text-generation", dataset_type=dataset_repo or "local",
                          dataset_name=f"{index.name} evaluation set", dataset_split="test",
                          metric_type="judge_score", metric_name=f"{r['category']} ({judge})",
                          metric_value=round(r["mean"], 4))
               for r in rows if r["mean"] is not None]
    benchmarks = benchmark_scores(index, entry.model)
    results += [EvalResult(task_type="text-generation", dataset_type=b["task"], dataset_name=b["task"],
                           metric_type=b["metric"], metric_name=f"{b['task']} {b['metric']} (lm-eval)",
                           metric_value=round(b["value"], 4)) for b in benchmarks]
    data = ModelCardData(
        model_name=repo_id, license=license, library_name="peft" if meta.get("adapter") else "transformers",
        pipeline_tag="text-generation", tags=TAGS, **({"base_model": hub_base} if hub_base else {}),
        **({"datasets": [dataset_repo]} if dataset_repo else {}), **({"eval_results": results} if results else {}))
    training = {k: train[k] for k in TRAINING_KEYS if k in train}
    training["steps"] = meta.get("metrics", {}).get("steps", "-")
    return ModelCard.from_template(
        data, template_path=_template("model_card.md.j2"), model_name=repo_id, study=index.name, base_model=base,
        adapter=bool(meta.get("adapter")), subset_name=Path(entry.subset or "").stem, n_examples=meta.get("n_examples"),
        dataset_repo=dataset_repo, training=training, template=meta.get("template", {"name": "?", "prompt": ""}),
        repo_id=load_from, judge=judge, scores=rows, benchmarks=benchmarks, report_link=report_link,
        warnings=self_preference(index, judge))


def benchmark_scores(index: RunIndex, model: str) -> list[dict]:
    """This model's lm-eval results: [{benchmark, task, metric, value, stderr, samples}]."""
    from instructscale.judge.lmeval import load_results

    out = []
    for name, rel in index.benchmarks.items():
        tasks = load_results(index.resolve(rel))["models"].get(model, {})
        out += [{"benchmark": name, "task": task, **score} for task, score in tasks.items()]
    return out
