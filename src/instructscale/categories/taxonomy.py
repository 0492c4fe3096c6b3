"""Category definitions and the mapping of real-world labels onto category ids.

Labels in the wild differ in case, spacing (the public release writes `closed\u00a0qa`
with a non-breaking space), separators and language; `normalize_label` folds all of that.
What cannot be mapped is an error naming the closest id, unless a policy says to map it
to `other` or to drop the item; a `LabelNormalizer` counts what each policy did.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections import Counter
from functools import lru_cache
from importlib import resources
from typing import Literal

import yaml
from pydantic import BaseModel

from instructscale.errors import InputError

UnknownPolicy = Literal["error", "other", "drop"]
OTHER = "other"


class Category(BaseModel):
    id: str
    name_en: str
    name_zh: str
    description: str
    aliases: list[str] = []
    paper_count: int
    paper_avg_prompt_len: float


@lru_cache(maxsize=1)
def categories() -> tuple[Category, ...]:
    """The 12 categories in the study's order."""
    text = resources.files("instructscale").joinpath("data/categories.yaml").read_text(encoding="utf-8")
    return tuple(Category.model_validate(c) for c in yaml.safe_load(text))


CATEGORY_IDS: tuple[str, ...] = tuple(c.id for c in categories())


def get_category(cid: str) -> Category:
    for c in categories():
        if c.id == cid:
            return c
    raise KeyError(cid)


def _fold(label: str) -> str:
    """Case-, width- and separator-insensitive key: 'Closed\u00a0QA', 'closed-qa' -> 'closed_qa'."""
    s = unicodedata.normalize("NFKC", label).casefold().strip()
    return re.sub(r"[\s_\-]+", "_", s)


@lru_cache(maxsize=1)
def _lookup() -> dict[str, str]:
    table: dict[str, str] = {}
    for c in categories():
        for name in [c.id, c.name_en, c.name_zh, *c.aliases]:
            table[_fold(name)] = c.id
            table[_fold(name).replace("_", "")] = c.id  # 'openqa', 'closedqa'
    return table


def normalize_label(label: str | None, policy: UnknownPolicy = "error") -> str | None:
    """Map a label to a category id. Returns 'other' or None (drop) for unknown labels
    when the policy says so; raises ValueError listing valid ids otherwise."""
    key = _fold(label or "")
    table = _lookup()
    cid = table.get(key) or table.get(key.replace("_", ""))
    if cid:
        return cid
    if policy == "other":
        return OTHER
    if policy == "drop":
        return None
    close = difflib.get_close_matches(key, list(table), n=1, cutoff=0.5)
    hint = f" Did you mean '{table[close[0]]}'?" if close else ""
    raise ValueError(
        f"unknown category label {label!r}.{hint} Valid ids: {', '.join(CATEGORY_IDS)} "
        "(or choose --unknown other / --unknown drop)"
    )


class LabelNormalizer:
    """Normalizes labels under one policy and counts what it mapped, kept as other, or dropped."""

    def __init__(self, policy: UnknownPolicy = "error"):
        self.policy = policy
        self.unknown: Counter[str] = Counter()

    def __call__(self, label: str | None, *, path=None, line=None, field: str = "category") -> str | None:
        try:
            cid = normalize_label(label, self.policy)
        except ValueError as exc:
            raise InputError(str(exc), path=path, line=line, field=field) from None
        if cid is None or cid == OTHER:
            self.unknown[str(label)] += 1
        return cid
