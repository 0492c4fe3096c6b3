"""Read evaluation sets in the canonical format or the study's public release format
(`question`, `class`, `std_answer`), normalizing category labels on the way in."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from pydantic import BaseModel

from instructscale.categories import LabelNormalizer
from instructscale.categories.taxonomy import UnknownPolicy
from instructscale.datafiles import iter_rows, validate_row
from instructscale.errors import InputError
from instructscale.records import EvalItem

PUBLIC_KEYS = {"question", "class", "std_answer"}


class ImportResult(BaseModel):
    items: list[EvalItem]
    duplicates: list[str] = []  # ids of questions seen before (the later copies were dropped)
    unknown_labels: dict[str, int] = {}  # labels mapped to 'other' or dropped, by the policy
    dropped: int = 0  # rows dropped for an unknown label (policy 'drop')
    public_format: int = 0  # rows read in the public release format


def import_evalset(path: str | Path, label_policy: UnknownPolicy = "error") -> ImportResult:
    """Every row of `path` as an EvalItem; duplicate questions keep their first occurrence."""
    normalize = LabelNormalizer(label_policy)
    items, duplicates, dropped, public = [], [], 0, 0
    seen: dict[str, tuple[int, str]] = {}  # id -> (line, question) of its first occurrence
    for line, row in iter_rows(path):
        is_public = "class" in row or "std_answer" in row
        public += is_public
        row = _from_public(row, path, line) if is_public else dict(row)
        label = normalize(row.get("category"), path=path, line=line, field="class" if is_public else "category")
        if label is None:
            dropped += 1
            continue
        item = validate_row(EvalItem, {**row, "category": label}, path=path, line=line)
        if item.id in seen:
            first_line, first_question = seen[item.id]
            if first_question != item.question.strip():  # two different questions under one id: not a copy
                raise InputError(f"id '{item.id}' was already used on line {first_line} for a different question",
                                 path=path, line=line, field="id")
            duplicates.append(item.id)
            continue
        seen[item.id] = (line, item.question.strip())
        items.append(item)
    if not items:
        raise InputError("no evaluation items found", path=path)
    return ImportResult(items=items, duplicates=duplicates, unknown_labels=dict(Counter(normalize.unknown)),
                        dropped=dropped, public_format=public)


def read_eval_items(path: str | Path, label_policy: UnknownPolicy = "error") -> list[EvalItem]:
    """The items of an evaluation set in either format (what every stage reads)."""
    return import_evalset(path, label_policy).items


def _from_public(row: dict, path, line) -> dict:
    unknown = set(row) - PUBLIC_KEYS - {"id"}
    if unknown:
        raise InputError(f"unexpected key(s) {sorted(unknown)} in a public-release row "
                         "(expected question, class, std_answer)", path=path, line=line, field=sorted(unknown)[0])
    out = {"category": row.get("class"), "reference": row.get("std_answer") or None}
    if "question" in row:  # absent stays absent, so the error says 'missing required field'
        out["question"] = row["question"]
    if row.get("id") is not None:
        out["id"] = str(row["id"])
    return out
