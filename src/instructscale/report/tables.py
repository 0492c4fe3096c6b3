"""The headline table (mean score per category and scale, overall macro and micro
averages, item counts, verdicts) as CSV, JSON, Markdown and a rich terminal table."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from instructscale.categories import CATEGORY_IDS, get_category
from instructscale.datafiles import write_json, write_text
from instructscale.report.analysis import MACRO, MICRO, Analysis
from instructscale.report.config import VerdictThresholds
from instructscale.report.stats import CategoryResult


def display_name(category: str) -> str:
    if category in CATEGORY_IDS:
        return get_category(category).name_en
    return {MACRO: "Overall (macro)", MICRO: "Overall (micro)"}.get(category, category)


def fmt(v: float | None, digits: int = 3, sign: bool = False) -> str:
    if v is None:
        return "-"
    return f"{v:+.{digits}f}" if sign else f"{v:.{digits}f}"


def fmt_ci(mean, lo, hi, sign: bool = False) -> str:
    return f"{fmt(mean, sign=sign)} [{fmt(lo, sign=sign)}, {fmt(hi, sign=sign)}]" if mean is not None else "-"


def write_tables(a: Analysis, thresholds: VerdictThresholds, out: Path) -> dict[str, str]:
    """scores.csv (wide), scores_long.csv (with CIs), scores.json (everything), scores.md."""
    files = {"csv": out / "scores.csv", "csv_long": out / "scores_long.csv", "json": out / "scores.json",
             "markdown": out / "scores.md"}
    write_text(files["csv"], _csv(wide_rows(a)))
    write_text(files["csv_long"], _csv(long_rows(a)))
    write_json(files["json"], to_json(a, thresholds))
    write_text(files["markdown"], markdown(a, thresholds))
    return {k: str(v) for k, v in files.items()}


def wide_rows(a: Analysis) -> list[dict]:
    out = []
    for r in a.rows:
        row = {"category": r.category, "items": r.items}
        row.update({f"mean@{c.label}": _round(c.mean) for c in r.cells})
        row.update({f"scored@{c.label}": c.scored_items for c in r.cells})
        row.update({f"unscored@{c.label}": c.unscored for c in r.cells})
        row.update({"slope_per_10x": _round(r.trend.slope), "verdict": r.trend.verdict})
        out.append(row)
    return out


def long_rows(a: Analysis, run: str | None = None) -> list[dict]:
    return [{**({"run": run} if run is not None else {}), "category": r.category, "scale": c.label,
             "size": c.size, "mean": _round(c.mean), "ci_low": _round(c.ci_low), "ci_high": _round(c.ci_high),
             "scored_items": c.scored_items, "unscored": c.unscored}
            for r in a.rows for c in r.cells]


def to_json(a: Analysis, thresholds: VerdictThresholds) -> dict:
    return {"name": a.name, "judge": a.judge, "confidence": 0.95,
            "scales": [{"label": lab, "size": s} for lab, s in zip(a.labels, a.sizes)],
            "thresholds": {**thresholds.model_dump(), "rule": thresholds.describe()},
            "rows": [r.model_dump() for r in a.rows]}


def markdown(a: Analysis, thresholds: VerdictThresholds) -> str:
    lines = [f"# {a.name}: mean score by category and training-data size",
             "", f"Judge: `{a.judge}`. Cells: mean item score (items scored); 95% bootstrap CIs in scores.json.", ""]
    lines += _md_table(["category", "items", *a.labels, "slope per 10x [95% CI]", "verdict"],
                       [[display_name(r.category), str(r.items),
                         *[f"{fmt(c.mean)} ({c.scored_items})" for c in r.cells],
                         fmt_ci(r.trend.slope, r.trend.ci_low, r.trend.ci_high, sign=True), r.trend.verdict]
                        for r in a.rows])
    lines += ["", f"Verdict rule: {thresholds.describe()}", "", "## Adjacent scales (paired bootstrap over items)", ""]
    pairs = [f"{p.frm} → {p.to}" for p in a.rows[0].pairs] if a.rows else []
    lines += _md_table(["category", *pairs],
                       [[display_name(r.category), *[fmt_ci(p.delta, p.ci_low, p.ci_high, sign=True) for p in r.pairs]]
                        for r in a.rows])
    return "\n".join(lines) + "\n"


def compare_markdown(analyses: list[Analysis]) -> str:
    labels = union_labels(analyses)
    header = ["category", "run", *labels, "slope per 10x", "verdict"]
    body = []
    for category in union_categories(analyses):
        for a in analyses:
            r = a.row(category)
            if r is None:
                continue
            by_label = {c.label: fmt(c.mean) for c in r.cells}
            body.append([display_name(category), a.name, *[by_label.get(lab, "") for lab in labels],
                         fmt(r.trend.slope, sign=True), r.trend.verdict])
    return "\n".join([f"# Comparison: {' vs '.join(a.name for a in analyses)}", "", *_md_table(header, body)]) + "\n"


def write_compare(analyses: list[Analysis], out: Path) -> dict[str, str]:
    files = {"compare_csv": out / "compare.csv", "compare_markdown": out / "compare.md"}
    write_text(files["compare_csv"], _csv([row for a in analyses for row in long_rows(a, run=a.name)]))
    write_text(files["compare_markdown"], compare_markdown(analyses))
    return {k: str(v) for k, v in files.items()}


def rich_table(rows: list[CategoryResult], labels: list[str], title: str = ""):
    """The headline table for the terminal (`study run`, `demo`, `report` print it)."""
    from rich import box
    from rich.table import Table

    table = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False)  # fits 80 columns with 4 scales + base
    table.add_column("category", no_wrap=True)
    table.add_column("n", justify="right")
    for lab in labels:
        table.add_column(lab, justify="right", no_wrap=True, min_width=5)
    table.add_column("slope", justify="right", no_wrap=True)
    table.add_column("verdict", no_wrap=True)
    colors = {"improving": "green", "plateaued": "yellow", "flat_poor": "red", "undetermined": "dim"}
    for r in rows:
        if r.category == MACRO:
            table.add_section()
        table.add_row(display_name(r.category), str(r.items), *[fmt(c.mean) for c in r.cells],
                      fmt(r.trend.slope, sign=True), f"[{colors[r.trend.verdict]}]{r.trend.verdict}[/]")
    return table


def union_labels(analyses: list[Analysis]) -> list[str]:
    sized = {lab: s for a in analyses for lab, s in zip(a.labels, a.sizes)}
    return sorted(sized, key=lambda lab: sized[lab])


def union_categories(analyses: list[Analysis]) -> list[str]:
    return list(dict.fromkeys(r.category for a in analyses for r in a.rows))


def _md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    esc = [[c.replace("|", "\\|") for c in row] for row in rows]
    return ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * len(header)) + "|",
            *["| " + " | ".join(row) + " |" for row in esc]]


def _csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    if rows:
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return buf.getvalue()


def _round(v: float | None) -> float | None:
    return None if v is None else round(v, 6)
