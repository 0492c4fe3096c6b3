"""`export_run`: a study's run directory as folders that `huggingface_hub` uploads as they are.

    OUT/dataset/   README.md (dataset card), data/<split>.parquet (pool, subset_<n>...),
                   eval/test.parquet, report/ (the study's report, linked from the cards)
    OUT/models/<model>/   the scale's model or adapter, tokenizer, training log, README.md (model card)

The dataset has two configs: `default` (pool and subsets: InstructionExample columns) and
`eval` (the evaluation set; `meta` as JSON text, since its keys vary by item).
"""

from __future__ import annotations

import json
import re
import shutil
from collections import Counter
from pathlib import Path

from pydantic import BaseModel, Field

from instructscale.console import console
from instructscale.datafiles import read_records
from instructscale.errors import InputError
from instructscale.export.cards import dataset_card, model_card
from instructscale.records import EvalItem, InstructionExample
from instructscale.runindex import RunIndex, load_index

HUB = "https://huggingface.co"


class ExportSummary(BaseModel):
    out: str
    dataset: str
    splits: dict[str, int] = Field(default_factory=dict, description="split -> rows (eval: 'eval/test')")
    models: dict[str, str] = Field(default_factory=dict, description="model name -> exported folder")
    repo_id: str | None = None


def example_features():
    from datasets import Features, Value

    return Features({k: Value("string") for k in InstructionExample.model_fields})


def eval_features():
    from datasets import Features, Value

    return Features({k: Value("string") for k in EvalItem.model_fields})


def split_name(entry_subset: str, arm: str) -> str:
    """`subsets/subset_200.jsonl` -> `subset_200` (`subset_200_quality` for arm quality): a valid split name."""
    stem = Path(entry_subset).stem + ("" if arm == "main" else f"_{arm}")
    return re.sub(r"\W", "_", stem)


def find_pool(index: RunIndex) -> Path | None:
    """The run's pool: RUN_DIR/data/pool.jsonl when generated, else the file the subsets manifest names."""
    generated = index.resolve("data/pool.jsonl")
    if generated.exists():
        return generated
    if index.subsets_manifest and index.resolve(index.subsets_manifest).exists():
        pool = json.loads(index.resolve(index.subsets_manifest).read_text(encoding="utf-8")).get("pool")
        for candidate in (Path(pool), index.resolve(pool)) if pool else ():
            if candidate.exists():
                return candidate
    return None


def run_splits(index: RunIndex) -> dict[str, list[InstructionExample]]:
    """The run's instruction data by split name: `pool`, then one split per distinct subset file."""
    tables: dict[str, list[InstructionExample]] = {}
    pool = find_pool(index)
    if pool is not None:
        tables["pool"] = read_records(pool, InstructionExample)
    else:
        console.print("[yellow]the run's pool was not found (neither data/pool.jsonl nor the file the subsets "
                      "manifest names): exporting the subsets without it[/yellow]")
    for entry in index.scales:
        if entry.subset:
            tables.setdefault(split_name(entry.subset, entry.arm), read_records(index.resolve(entry.subset),
                                                                                InstructionExample))
    if not tables:
        raise InputError("no pool and no subsets found in this run", path=index.path)
    return tables


def export_run(run_dir: str | Path, out: str | Path, *, repo_id: str | None = None,
               models: bool = True, license: str = "other") -> ExportSummary:
    """Write the dataset folder and (with `models`) one folder per tuned scale, each with its card.
    `repo_id` (ORG/NAME) is the dataset repo the cards refer to; models become ORG/NAME-<model>.
    `license` is the cards' license field (a Hub license id; "other" when the data's terms are the
    teacher's and the base model's)."""
    import datasets
    from datasets import Dataset

    datasets.disable_progress_bars()  # a few small Parquet files; the bars would only clutter the output
    index = load_index(run_dir)
    out = Path(out)
    ds_dir = out / "dataset"
    if ds_dir.exists():
        shutil.rmtree(ds_dir)  # an export is rebuilt whole: no split of an earlier export may linger

    tables = run_splits(index)
    eval_items = read_records(index.resolve(index.eval), EvalItem)

    (ds_dir / "data").mkdir(parents=True)
    (ds_dir / "eval").mkdir()
    splits, composition = [], []
    for name, rows in tables.items():
        rel = f"data/{name}.parquet"
        Dataset.from_list([r.model_dump() for r in rows], features=example_features()).to_parquet(str(ds_dir / rel))
        what = "the whole instruction pool" if name == "pool" else f"nested training subset ({len(rows)} examples)"
        splits.append({"config": "default", "name": name, "rows": len(rows), "what": what, "path": rel})
        composition.append({"name": name, "counts": Counter(r.category or "uncategorized" for r in rows)})
    eval_rows = [{**item.model_dump(), "meta": json.dumps(item.meta, ensure_ascii=False)} for item in eval_items]
    Dataset.from_list(eval_rows, features=eval_features()).to_parquet(str(ds_dir / "eval/test.parquet"))
    splits.append({"config": "eval", "name": "test", "rows": len(eval_rows), "what": "evaluation set with references",
                   "path": "eval/test.parquet"})
    composition.append({"name": "eval", "counts": Counter(i.category for i in eval_items)})

    report_dir = index.resolve("report")
    has_report = (report_dir / "scores.json").exists()
    if has_report:
        shutil.copytree(report_dir, ds_dir / "report")
    report_link = _report_link(repo_id, has_report)
    dataset_card(index, splits, composition, repo_id=repo_id, license=license,
                 report_link=report_link or ("report/report.html" if has_report else None)).save(ds_dir / "README.md")

    summary = ExportSummary(out=str(out), dataset=str(ds_dir), repo_id=repo_id,
                            splits={s["name"] if s["config"] == "default" else "eval/test": s["rows"] for s in splits})
    if models:
        scores = json.loads((report_dir / "scores.json").read_text(encoding="utf-8")) if has_report else None
        for entry in index.scales:
            if entry.size == 0:
                continue  # the untuned base model is not this study's to publish
            folder = _export_model(index, entry, scores, out / "models", repo_id, report_link, license)
            summary.models[entry.model] = str(folder)
    return summary


def model_repo_id(repo_id: str | None, model: str) -> str | None:
    """ORG/NAME-<model>, with characters the Hub does not allow in names (`scale_200@quality`) as '-'."""
    return f"{repo_id}-{re.sub(r'[^A-Za-z0-9._-]', '-', model)}" if repo_id else None


def _report_link(repo_id: str | None, has_report: bool) -> str | None:
    """The report's Hub address; None before upload (a model card uploaded alone cannot link into
    a local folder, so it names the report in words)."""
    if not has_report:
        return None
    return f"{HUB}/datasets/{repo_id}/blob/main/report/report.html" if repo_id else None


def _export_model(index: RunIndex, entry, scores, models_dir: Path, repo_id: str | None, report_link,
                  license: str) -> Path:
    src = index.resolve(f"models/{entry.model}")
    meta_path = src / "instructscale.json"
    if not meta_path.exists():
        raise InputError(f"model of scale {entry.label} is not trained (no instructscale.json)", path=src)
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    dest = models_dir / entry.model
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(src, dest, ignore=shutil.ignore_patterns("checkpoint-*", "training_args.bin", "README.md"))
    card = model_card(index, entry, meta, scores, repo_id=model_repo_id(repo_id, entry.model) or entry.model,
                      load_from=model_repo_id(repo_id, entry.model) or f"ORG/NAME-{entry.model}", dataset_repo=repo_id,
                      report_link=report_link, license=license)
    card.save(dest / "README.md")
    return dest
