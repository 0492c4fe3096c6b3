"""Table 1 of the study for any evaluation set: per category the number of items, the
average prompt length in characters and how many have a reference answer."""

from __future__ import annotations

from instructscale.categories import CATEGORY_IDS, get_category
from instructscale.records import EvalItem


def evalset_stats(items: list[EvalItem]) -> dict:
    """`{"total": N, "categories": {id: {"count", "avg_prompt_chars", "with_reference"}}}`,
    in the study's category order (then any others), empty categories omitted."""
    groups: dict[str, list[EvalItem]] = {}
    for item in items:
        groups.setdefault(item.category, []).append(item)
    order = [c for c in CATEGORY_IDS if c in groups] + sorted(set(groups) - set(CATEGORY_IDS))
    cats = {c: {"count": len(groups[c]),
                "avg_prompt_chars": round(sum(len(i.question) for i in groups[c]) / len(groups[c]), 2),
                "with_reference": sum(i.reference is not None for i in groups[c])} for c in order}
    return {"total": len(items), "categories": cats}


def stats_table(stats: dict, title: str = "Evaluation set (Table 1)"):
    """A rich table of `evalset_stats`, with the study's own counts alongside."""
    from rich.table import Table

    table = Table(title=title)
    for col, justify in [("category", "left"), ("name", "left"), ("count", "right"), ("avg prompt chars", "right"),
                         ("with reference", "right"), ("study count", "right"), ("study avg chars", "right")]:
        table.add_column(col, justify=justify)
    for cid, row in stats["categories"].items():
        try:
            cat = get_category(cid)
            extra = (f"{cat.name_en} / {cat.name_zh}", str(cat.paper_count), f"{cat.paper_avg_prompt_len:.2f}")
        except KeyError:
            extra = ("", "", "")
        table.add_row(cid, extra[0], str(row["count"]), f"{row['avg_prompt_chars']:.2f}",
                      _share(row["with_reference"], row["count"]), *extra[1:])
    with_ref = sum(r["with_reference"] for r in stats["categories"].values())
    table.add_row("total", "", str(stats["total"]), "", _share(with_ref, stats["total"]), "", "", end_section=True)
    return table


def _share(k: int, n: int) -> str:
    return f"{k} ({k / n:.0%})" if n else "0"
