"""From judgements to item scores and per-(model, category) statistics.

Item score = mean of the item's scored repeats (and samples). Unscored judgements are
never counted as 0: they are left out of the means and counted in `unscored`, so every
table shows how many there were. Repeat spread (max - min over an answer's scored
repeats, averaged over answers) shows how much the judge disagrees with itself.
"""

from __future__ import annotations

from collections import defaultdict
from statistics import fmean

from pydantic import BaseModel

from instructscale.categories import CATEGORY_IDS
from instructscale.records import Judgement


class CategoryStats(BaseModel):
    model: str
    category: str
    items: int  # distinct items judged
    scored_items: int  # items with at least one valid score (the mean is over these)
    judgements: int
    unscored: int  # judgements without a valid score
    mean: float | None
    repeat_spread: float | None


class ItemScore(BaseModel):
    model: str
    item_id: str
    category: str
    score: float | None
    scored: int
    unscored: int
    repeat_spread: float | None


def item_scores(judgements: list[Judgement]) -> list[ItemScore]:
    groups: dict[tuple[str, str], list[Judgement]] = defaultdict(list)
    for j in judgements:
        groups[(j.model, j.item_id)].append(j)
    out = []
    for (model, item_id), js in groups.items():
        scores = [j.score for j in js if j.score is not None]
        by_answer: dict[int, list[float]] = defaultdict(list)
        for j in js:
            if j.score is not None:
                by_answer[j.sample].append(j.score)
        spreads = [max(s) - min(s) for s in by_answer.values() if len(s) > 1]
        out.append(ItemScore(model=model, item_id=item_id, category=js[0].category or "other",
                             score=fmean(scores) if scores else None, scored=len(scores),
                             unscored=len(js) - len(scores), repeat_spread=fmean(spreads) if spreads else None))
    return out


def category_stats(judgements: list[Judgement]) -> list[CategoryStats]:
    """One row per (model, category), models in first-seen order, categories in the study's order."""
    groups: dict[tuple[str, str], list[ItemScore]] = defaultdict(list)
    for s in item_scores(judgements):
        groups[(s.model, s.category)].append(s)
    models = list(dict.fromkeys(j.model for j in judgements))
    order = {c: i for i, c in enumerate(CATEGORY_IDS)}
    rows = []
    for (model, category), items in sorted(groups.items(), key=lambda kv: (models.index(kv[0][0]),
                                                                            order.get(kv[0][1], 99), kv[0][1])):
        scored = [s.score for s in items if s.score is not None]
        spreads = [s.repeat_spread for s in items if s.repeat_spread is not None]
        rows.append(CategoryStats(
            model=model, category=category, items=len(items), scored_items=len(scored),
            judgements=sum(s.scored + s.unscored for s in items), unscored=sum(s.unscored for s in items),
            mean=fmean(scored) if scored else None, repeat_spread=fmean(spreads) if spreads else None))
    return rows


def fmt_cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def stats_table(rows: list[CategoryStats], title: str = ""):
    from rich.table import Table

    table = Table(title=title)
    for name in ("model", "category", "items", "judged", "unscored", "mean", "spread"):
        table.add_column(name, no_wrap=True, justify="left" if name in ("model", "category") else "right")
    for r in rows:
        table.add_row(r.model, r.category, str(r.items), str(r.judgements),
                      f"[red]{r.unscored}[/red]" if r.unscored else "0",
                      "-" if r.mean is None else f"{r.mean:.3f}",
                      "-" if r.repeat_spread is None else f"{r.repeat_spread:.3f}")
    return table
