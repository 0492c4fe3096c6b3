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
from instructscale.report.fits import REACH, CurveFit, Estimate
from instructscale.report.stats import CategoryResult


FITS_NOTE = ("Per category the mean scores at the tuned scales are fitted by a log-linear curve "
             "(a + b log10 N) and, with four or more tuned scales, a saturating one (a - c (N/N_max)^-alpha); the "
             "form with the lower AIC is used, and every bootstrap draw refits and picks again, so the CIs include "
             "which form fits. Gain per doubling: fitted score at twice the largest scale minus at the largest "
             f"(an extrapolation). Data needed: training examples at which the fitted curve reaches the target "
             f"(searched up to {REACH}x the largest scale; beyond the largest scale it is an extrapolation). "
             "Flattens at: where the fitted slope falls below delta per tenfold data. Where the scales measured "
             "do not pin a saturating curve's bend down (its exponent at an end of the range searched, 0.05-50), "
             "data needed and flattening are not identified and no number is given.")
UNIDENTIFIED = "not identified by the scales measured (see the note)"
SEQUENTIAL_NOTE = ("Items were judged in stages: every category first on its first stage, then more items only for "
                   "categories still undetermined, up to the most planned. A claim checked at several stages "
                   "would be wrong more often than 1 in 40 if every stage used 95% CIs, so the stages share that "
                   "error rate (group-sequential alpha spending) and a verdict's CIs are 95% or wider: at the "
                   "level given for the stage it stopped at.")


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


def fmt_size(n: float | None, n_max: float) -> str:
    """A number of training examples; None = not within REACH x the largest scale."""
    if n is None:
        return f">{fmt_size(REACH * n_max, n_max)}"
    if n == 0:
        return "0"
    for unit, div in (("M", 1e6), ("K", 1e3)):
        if n >= div / 10:
            return f"{n / div:.2g}{unit}"
    return f"{n:.2g}"


def fmt_estimate_size(e: Estimate, n_max: float) -> str:
    """'1.3M [0.9M, 2.4M]'; past the largest scale marked 'extrapolated'; 0 = reached at the smallest scale."""
    if e.value == 0:
        head = "already at the smallest scale"
    elif e.value is None:
        head = f"not within {REACH}x ({fmt_size(None, n_max)})"
    else:
        head = fmt_size(e.value, n_max) + (" (extrapolated)" if e.extrapolated else "")
    return f"{head} [{fmt_size(e.ci_low, n_max)}, {fmt_size(e.ci_high, n_max)}]"


def fit_cells(fit: CurveFit | None, sizes: list[int]) -> dict[str, str]:
    """The fitted-curve numbers as text, for Markdown and HTML."""
    if fit is None:
        return {"form": "-", "doubling": "-", "needed": "-", "flattens": "-"}
    n_max = max(sizes)
    g = fit.doubling_gain
    flat = fit.flattens_at
    if not fit.data_needed.identified:
        return {"form": fit.form, "doubling": fmt_ci(g.value, g.ci_low, g.ci_high, sign=True),
                "needed": UNIDENTIFIED, "flattens": UNIDENTIFIED}
    return {"form": fit.form, "doubling": fmt_ci(g.value, g.ci_low, g.ci_high, sign=True),
            "needed": fmt_estimate_size(fit.data_needed, n_max),
            "flattens": ("flat from the smallest scale" if flat.value == 0 else
                         f"not within {REACH}x" if flat.value is None else
                         fmt_size(flat.value, n_max) + (" (extrapolated)" if flat.extrapolated else ""))
                        + f" [{fmt_size(flat.ci_low, n_max)}, {fmt_size(flat.ci_high, n_max)}]"}


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
        t, f = r.trend, r.fit
        row = {"category": r.category, "items": r.items}
        row.update({f"mean@{c.label}": _round(c.mean) for c in r.cells})
        row.update({f"scored@{c.label}": c.scored_items for c in r.cells})
        row.update({f"unscored@{c.label}": c.unscored for c in r.cells})
        row.update({"slope_per_10x": _round(t.slope), "slope_ci_low": _round(t.ci_low),
                    "slope_ci_high": _round(t.ci_high), "late_slope_per_10x": _round(t.late_slope),
                    "late_ci_low": _round(t.late_ci_low), "late_ci_high": _round(t.late_ci_high),
                    "verdict": t.verdict, "decide": t.decide, "verdict_ci_level": _round(t.ci_level),
                    "looks": r.looks, "fit": f.form if f else None})
        for name, est in _fit_estimates(f):
            row.update({name: _round(est.value) if est else None, f"{name}_ci_low": _round(est.ci_low) if est else None,
                        f"{name}_ci_high": _round(est.ci_high) if est else None})
        out.append(row)
    return out


def _fit_estimates(f: CurveFit | None) -> list[tuple[str, Estimate | None]]:
    """Column name and estimate; sizes of None mean 'not within REACH x the largest scale'."""
    return [("doubling_gain", f and f.doubling_gain), ("data_needed", f and f.data_needed),
            ("flattens_at", f and f.flattens_at)]


def long_rows(a: Analysis, run: str | None = None) -> list[dict]:
    return [{**({"run": run} if run is not None else {}), "category": r.category, "scale": c.label,
             "size": c.size, "mean": _round(c.mean), "ci_low": _round(c.ci_low), "ci_high": _round(c.ci_high),
             "scored_items": c.scored_items, "unscored": c.unscored}
            for r in a.rows for c in r.cells]


def to_json(a: Analysis, thresholds: VerdictThresholds) -> dict:
    return {"name": a.name, "judge": a.judge, "confidence": 0.95,
            "scales": [{"label": lab, "size": s} for lab, s in zip(a.labels, a.sizes)],
            "thresholds": {**thresholds.model_dump(), "rule": thresholds.describe()},
            "fits": FITS_NOTE,
            "rows": [r.model_dump() for r in a.rows]}


def markdown(a: Analysis, thresholds: VerdictThresholds) -> str:
    lines = [f"# {a.name}: mean score by category and training-data size",
             "", f"Judge: `{a.judge}`. Cells: mean item score (items scored); 95% bootstrap CIs in scores.json.", ""]
    lines += _md_table(["category", "items", *a.labels, "slope per 10x [95% CI]", "verdict"],
                       [[display_name(r.category), str(r.items),
                         *[f"{fmt(c.mean)} ({c.scored_items})" for c in r.cells],
                         fmt_ci(r.trend.slope, r.trend.ci_low, r.trend.ci_high, sign=True), r.trend.verdict]
                        for r in a.rows])
    lines += ["", f"Verdict rule: {thresholds.describe()}", ""]
    lines += [f"- {display_name(r.category)} is undetermined: {r.trend.decide}." for r in a.rows if r.trend.decide]
    if any(r.looks for r in a.rows):
        lines += ["", "## Sequential evaluation", "", SEQUENTIAL_NOTE, ""]
        lines += [f"- {display_name(r.category)}: {r.looks}; verdict CIs at {r.trend.ci_level:.1%}."
                  for r in a.rows if r.looks]
    lines += ["", "## Fitted curves", "", FITS_NOTE, ""]
    target = next((r.fit.target for r in a.rows if r.fit), None)
    lines += _md_table(["category", "form", "late slope per 10x [95% CI]",
                        f"gain per doubling past {a.labels[-1]} [95% CI]",
                        f"data to reach {fmt(target, 2)} [95% CI]", f"flattens (slope < {thresholds.delta:g}) at"],
                       [[display_name(r.category), cells["form"],
                         fmt_ci(r.trend.late_slope, r.trend.late_ci_low, r.trend.late_ci_high, sign=True),
                         cells["doubling"], cells["needed"], cells["flattens"]]
                        for r in a.rows for cells in [fit_cells(r.fit, a.sizes)]])
    lines += [""] + [f"- {display_name(r.category)}: {r.fit.note}." for r in a.rows if r.fit and r.fit.note]
    lines += ["", "## Adjacent scales (paired bootstrap over items)", ""]
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


def leaderboard_rows(entries: list[tuple[str, str, Analysis]]) -> list[dict]:
    """One row per (run, arm): its mean score per category at its largest scale, ranked by the
    macro mean (ties share a rank; an entry without a macro score comes last, unranked)."""
    categories = union_categories([a for _, _, a in entries])
    rows = []
    for run, arm, a in entries:
        last = {r.category: r.cells[-1] for r in a.rows if r.cells}
        macro = last.get(MACRO)
        rows.append({"run": run, "arm": arm, "scale": a.labels[-1], "size": a.sizes[-1],
                     **{c: _round(last[c].mean) if c in last else None for c in categories},
                     "macro_ci_low": _round(macro.ci_low) if macro else None,
                     "macro_ci_high": _round(macro.ci_high) if macro else None})
    scored = [row[MACRO] for row in rows if row.get(MACRO) is not None]
    rows.sort(key=lambda row: -row[MACRO] if row.get(MACRO) is not None else float("inf"))
    return [{"rank": None if row.get(MACRO) is None else 1 + sum(m > row[MACRO] for m in scored), **row}
            for row in rows]


def write_leaderboard(entries: list[tuple[str, str, Analysis]], out: Path) -> dict[str, str]:
    """leaderboard.csv and leaderboard.md: runs (--compare) and arms side by side, one row each."""
    rows = leaderboard_rows(entries)
    categories = [k for k in rows[0] if k not in ("rank", "run", "arm", "scale", "size", "macro_ci_low",
                                                 "macro_ci_high")]
    body = [[str(row["rank"] or "-"), row["run"], row["arm"], f"{row['scale']} ({row['size']})",
             *[fmt_ci(row[c], row["macro_ci_low"], row["macro_ci_high"]) if c == MACRO else fmt(row[c])
               for c in categories]] for row in rows]
    md = ["# Leaderboard: mean score at each entry's largest scale", "",
          f"Judge: {entries[0][2].judge}; ranked by the overall (macro) mean, with its 95% CI.", "",
          *_md_table(["rank", "run", "arm", "scale (examples)", *[display_name(c) for c in categories]], body)]
    files = {"leaderboard_csv": out / "leaderboard.csv", "leaderboard_markdown": out / "leaderboard.md"}
    write_text(files["leaderboard_csv"], _csv(rows))
    write_text(files["leaderboard_markdown"], "\n".join(md) + "\n")
    return {k: str(v) for k, v in files.items()}


def rich_table(rows: list[CategoryResult], labels: list[str], title: str = ""):
    """The headline table for the terminal (`study run`, `demo`, `report` print it)."""
    from rich import box
    from rich.table import Table

    counts = {r.items for r in rows if r.category not in (MACRO, MICRO)}
    same_count = len(counts) == 1  # the usual case: the count goes in the title and the table fits 80 columns
    if same_count and title:
        title = f"{title} ({counts.pop()} items per category)"
    table = Table(title=title, box=box.SIMPLE_HEAD, show_edge=False, padding=(0, 0))
    table.add_column("category", no_wrap=True)
    if not same_count:
        table.add_column("n", justify="right")
    for lab in labels:
        table.add_column(lab, justify="right", no_wrap=True, min_width=6)
    table.add_column("slope", justify="right", no_wrap=True, min_width=7)  # whole tuned range, per tenfold data
    table.add_column("late", justify="right", no_wrap=True, min_width=7)  # the largest scales: what the verdict reads
    table.add_column("verdict", no_wrap=True)
    colors = {"improving": "green", "plateaued": "yellow", "flat_poor": "red", "undetermined": "dim"}
    for r in rows:
        if r.category == MACRO:
            table.add_section()
        table.add_row(display_name(r.category), *([] if same_count else [str(r.items)]), *[fmt(c.mean) for c in r.cells],
                      fmt(r.trend.slope, sign=True), fmt(r.trend.late_slope, sign=True),
                      f"[{colors[r.trend.verdict]}]{r.trend.verdict}[/]")
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
