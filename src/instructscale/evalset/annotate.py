"""Build an evaluation set the study's way: sample items per category from a categorized
pool, hand annotators a sheet with the teacher's answer as the draft golden answer, and
merge their corrections back (section 3.2: golden answers are LLM answers corrected by
annotators)."""

from __future__ import annotations

import csv
import io
import json
import random
from pathlib import Path

from pydantic import BaseModel

from instructscale.categories import categories, normalize_label
from instructscale.datafiles import iter_rows, write_text
from instructscale.errors import ConfigError, InputError
from instructscale.records import EvalItem, InstructionExample

SHEET_COLUMNS = ["id", "category", "question", "draft_answer", "reference"]


class BuildResult(BaseModel):
    items: list[EvalItem]
    shortfall: dict[str, int] = {}  # category -> items missing because the pool had too few
    uncategorized: int = 0  # pool examples without a usable category (not sampled)


class MergeResult(BaseModel):
    items: list[EvalItem]
    changed: int  # references annotators edited
    cleared: int  # references annotators emptied (now null)


def target_counts(factor: float = 1.0, counts: dict[str, int] | None = None) -> dict[str, int]:
    """Per category: explicit `counts`, else the study's Table 1 count scaled by `factor`."""
    if counts:
        try:  # any spelling the taxonomy accepts: "Open QA=10", "翻译=5"
            counts = {normalize_label(k): n for k, n in counts.items()}
        except ValueError as exc:
            raise ConfigError(f"counts: {exc}") from None
        negative = {c: n for c, n in counts.items() if n < 0}
        if negative:
            raise ConfigError(f"counts must not be negative: {negative}")
        return dict(counts)
    if factor <= 0:
        raise ConfigError(f"factor must be positive, got {factor}")
    return {c.id: max(1, round(c.paper_count * factor)) for c in categories()}


def build_evalset(pool: list[InstructionExample], *, factor: float = 1.0, counts: dict[str, int] | None = None,
                  seed: int = 0) -> BuildResult:
    """Sample each category's target count from the pool (deterministic by seed); the pool's
    output becomes the draft reference."""
    by_category: dict[str, list[InstructionExample]] = {}
    uncategorized = 0
    for ex in pool:
        cid = normalize_label(ex.category, "drop") if ex.category else None
        if cid is None:
            uncategorized += 1
            continue
        by_category.setdefault(cid, []).append(ex)
    items, shortfall = [], {}
    for cid, want in target_counts(factor, counts).items():
        group = sorted(by_category.get(cid, []), key=lambda e: e.id)  # file order must not matter
        chosen = random.Random(f"{seed}|{cid}").sample(group, min(want, len(group)))
        if len(chosen) < want:
            shortfall[cid] = want - len(chosen)
        items += [EvalItem(category=cid, question=ex.prompt, reference=ex.output,
                           meta={"source_example": ex.id, "draft": True}) for ex in chosen]
    return BuildResult(items=items, shortfall=shortfall, uncategorized=uncategorized)


def export_sheet(items: list[EvalItem], stem: str | Path) -> tuple[Path, Path]:
    """Write `<stem>.csv` (for spreadsheet tools) and `<stem>.jsonl`: annotators edit the
    `reference` column, `draft_answer` keeps the teacher's answer for comparison."""
    rows = [{"id": i.id, "category": i.category, "question": i.question, "draft_answer": i.reference or "",
             "reference": i.reference or ""} for i in items]
    return write_sheet(rows, SHEET_COLUMNS, stem)


def write_sheet(rows: list[dict], columns: list[str], stem: str | Path) -> tuple[Path, Path]:
    """An annotation sheet as `<stem>.csv` and `<stem>.jsonl`, the same rows; read back with
    `datafiles.iter_rows`, which names file and line in every error."""
    stem = Path(stem)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns)
    writer.writeheader()
    writer.writerows(rows)
    csv_path, jsonl_path = stem.with_suffix(".csv"), stem.with_suffix(".jsonl")
    write_text(csv_path, buf.getvalue())
    write_text(jsonl_path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return csv_path, jsonl_path


def merge_sheet(items: list[EvalItem], sheet: str | Path) -> MergeResult:
    """The items with the sheet's `reference` column as their golden answers. Every item must
    appear in the sheet exactly once, and the sheet must hold no other ids."""
    by_id = {i.id: i for i in items}
    answers: dict[str, str] = {}
    has_column = False
    for line, row in iter_rows(sheet):
        if "id" not in row:
            raise InputError("missing required field", path=sheet, line=line, field="id")
        has_column |= "reference" in row  # an empty CSV cell reads as an absent field
        rid = str(row["id"])
        if rid not in by_id:
            raise InputError(f"id '{rid}' is not in the evaluation set", path=sheet, line=line, field="id")
        if rid in answers:
            raise InputError(f"id '{rid}' appears twice", path=sheet, line=line, field="id")
        answers[rid] = str(row.get("reference") or "")
    if not has_column:
        raise InputError("the sheet has no 'reference' column", path=sheet, field="reference")
    missing = [i for i in by_id if i not in answers]
    if missing:
        raise InputError(f"{len(missing)} item(s) of the evaluation set are missing from the sheet, "
                         f"e.g. '{missing[0]}'", path=sheet, field="id")
    merged, changed, cleared = [], 0, 0
    for item in items:
        new = answers[item.id].strip() or None
        changed += new != item.reference and new is not None
        cleared += new is None and item.reference is not None
        meta = {k: v for k, v in item.meta.items() if k != "draft"}
        merged.append(item.model_copy(update={"reference": new, "meta": meta}))
    return MergeResult(items=merged, changed=changed, cleared=cleared)
