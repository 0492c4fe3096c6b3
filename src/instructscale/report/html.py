"""The self-contained HTML report: one file, images embedded as base64, item data as
embedded JSON for a small vanilla-JS item browser, so it opens offline anywhere."""

from __future__ import annotations

import base64
import json
from importlib import resources
from pathlib import Path

from instructscale.report.analysis import Analysis
from instructscale.report.benchmarks import html_view as benchmarks_view
from instructscale.report.config import ReportConfig
from instructscale.report.diagnostics import checks_view
from instructscale.report.load import RunData
from instructscale.report.pairwise import html_view as pairwise_view
from instructscale.report.tables import FITS_NOTE, SEQUENTIAL_NOTE, display_name, fit_cells, fmt, union_categories, union_labels

TEMPLATE = "data/report/report.html.j2"


def render_html(cfg: ReportConfig, run: RunData, a: Analysis, figures: dict[str, str], health, agreement,
                composition: list[dict], compare: list[Analysis], checks=None, arms=None,
                reliability: dict | None = None) -> str:
    from jinja2 import Environment, StrictUndefined

    env = Environment(autoescape=True, undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    template = env.from_string(resources.files("instructscale").joinpath(TEMPLATE).read_text(encoding="utf-8"))
    comp_cats = list(dict.fromkeys(c for s in composition for c in s["counts"]))
    return template.render(
        name=a.name, judge=a.judge, bootstrap_samples=cfg.bootstrap_samples, seed=cfg.seed,
        scales=[{"label": lab, "size": s} for lab, s in zip(a.labels, a.sizes)],
        rows=[_row(r) for r in a.rows], rule=cfg.thresholds.describe(),
        fits=[{"display": display_name(r.category), "category": r.category, **fit_cells(r.fit, a.sizes),
               "late": _slope_text(r.trend.late_slope, r.trend.late_ci_low, r.trend.late_ci_high),
               "note": r.fit.note if r.fit else None} for r in a.rows],
        fits_note=FITS_NOTE, sequential_note=SEQUENTIAL_NOTE, target=cfg.target_score, delta=cfg.thresholds.delta,
        pair_names=[f"{p.frm} → {p.to}" for p in a.rows[0].pairs] if a.rows else [],
        figure1=_b64(figures["figure1_png"]),
        health=[{**h.model_dump(), "repeat_spread": fmt(h.repeat_spread)} for h in health],
        agreement=[{**g.model_dump(), "judges": " vs ".join(g.judges), "spearman": fmt(g.spearman),
                    "alpha": _alpha_text(g)} for g in agreement],
        reliability=_reliability(reliability or {}),
        composition=composition, composition_categories=comp_cats,
        composition_figure=_b64(figures["composition_png"]) if composition else "",
        compare=_compare(compare, figures) if compare else None, checks=checks_view(checks, a.labels),
        arms=_arms(arms) if arms else None,
        benchmarks=benchmarks_view(figures), pairwise=pairwise_view(figures),
        categories=run.categories, items_json=_json_for_script(item_data(run, cfg.max_answer_chars)))


def item_data(run: RunData, max_chars: int) -> dict:
    """Per item: question, reference, every model's first answer (every arm, scale and
    training seed), every judge's score and each repeat's reply to that answer (score, text);
    `change` is over the first arm's scales."""
    judges = list(run.scores)
    replies: dict[tuple[str, str, str], list] = {}
    for name, judgements in run.judgements.items():
        for j in sorted(judgements, key=lambda j: j.repeat):
            if j.sample == 0 and (j.raw or j.error):
                replies.setdefault((name, j.model, j.item_id), []).append([j.score, _cut(j.raw or j.error, max_chars)])
    arms = list(dict.fromkeys(s.arm for s in run.index.scales))
    items = []
    for item in sorted(run.items.values(), key=lambda i: (run.categories.index(i.category), i.id)):
        answers = []
        for scale in run.scales:
            samples = run.responses.get((scale.model, item.id))
            text = _cut(samples[0].response, max_chars) if samples else None
            scores = {}
            for j in judges:
                s = run.scores[j].get((scale.model, item.id))
                scores[j] = None if s is None else s.score
            label = f"{scale.label} seed {scale.seed}" if _replicated(run, scale) else scale.label
            answers.append({"label": label, "arm": scale.arm, "response": text, "scores": scores,
                            "replies": {j: replies[(j, scale.model, item.id)] for j in judges
                                        if (j, scale.model, item.id) in replies}})
        primary = [a["scores"][run.judge] for a in answers
                   if a["scores"][run.judge] is not None and a["arm"] == arms[0]]
        items.append({"id": item.id, "category": item.category, "question": item.question,
                      "reference": item.reference, "answers": answers,
                      "change": round(primary[-1] - primary[0], 4) if len(primary) > 1 else None})
    return {"judges": judges, "primary": run.judge, "scales": [s.label for s in run.scales], "arms": arms,
            "items": items}


def _cut(text: str | None, max_chars: int) -> str | None:
    if text is not None and len(text) > max_chars:
        return text[:max_chars] + f" … [{len(text) - max_chars} more characters]"
    return text


def _replicated(run: RunData, scale) -> bool:
    """Whether the scale was trained with several seeds (its answers are then told apart by seed)."""
    return sum(s.arm == scale.arm and s.size == scale.size for s in run.scales) > 1


def _arms(arms) -> dict:
    """Per-arm verdict table, arm-versus-arm differences and training-data composition."""
    first = arms.analyses[0]
    verdicts = [{"display": display_name(r.category), "category": r.category,
                 "cells": [_arm_cell(x.row(r.category), x.sizes) for x in arms.analyses]} for r in first.rows]
    diffs = [{**d.model_dump(), "display": display_name(d.category),
              "text": "-" if d.delta is None else f"{fmt(d.delta, sign=True)} [{fmt(d.ci_low, sign=True)}, "
                                                  f"{fmt(d.ci_high, sign=True)}]"} for d in arms.differences]
    comps = [{"arm": arm, "categories": list(dict.fromkeys(c for s in comp for c in s["counts"])), "subsets": comp}
             for arm, comp in arms.compositions.items() if comp]
    return {"names": [x.name for x in arms.analyses], "verdicts": verdicts, "differences": diffs,
            "target": next((r.fit.target for r in first.rows if r.fit), None),
            "baseline": first.name, "compositions": comps}


def _arm_cell(r, sizes: list[int]) -> dict:
    if r is None:
        return {"means": "-", "slope": "-", "needed": "-", "verdict": "-"}
    t = r.trend
    return {"means": " → ".join(fmt(c.mean) for c in r.cells), "slope": _slope_text(t.slope, t.ci_low, t.ci_high),
            "needed": fit_cells(r.fit, sizes)["needed"], "verdict": t.verdict}


def _row(r) -> dict:
    t = r.trend
    return {"category": r.category, "display": display_name(r.category), "n_items": r.items,
            "cells": [{"mean": fmt(c.mean), "ci": f"[{fmt(c.ci_low)}, {fmt(c.ci_high)}]",
                       "scored_items": c.scored_items, "unscored": c.unscored} for c in r.cells],
            "slope": _slope_text(t.slope, t.ci_low, t.ci_high), "verdict": t.verdict, "decide": t.decide,
            "looks": r.looks, "ci_level": f"{t.ci_level:.1%}",
            "pairs": [{"delta": fmt(p.delta, sign=True), "ci": f"[{fmt(p.ci_low, sign=True)}, {fmt(p.ci_high, sign=True)}]",
                       "p": fmt(p.p_not_better, 2)} for p in r.pairs]}


def _slope_text(slope, lo, hi) -> str:
    return "-" if slope is None else f"{fmt(slope, sign=True)} [{fmt(lo, sign=True)}, {fmt(hi, sign=True)}]"


def _compare(analyses: list[Analysis], figures: dict[str, str]) -> dict:
    labels = union_labels(analyses)
    rows = []
    for category in union_categories(analyses):
        for a in analyses:
            r = a.row(category)
            if r is not None:
                by_label = {c.label: fmt(c.mean) for c in r.cells}
                rows.append({"display": display_name(category), "run": a.name, "means": [by_label.get(lab, "")
                             for lab in labels], "slope": fmt(r.trend.slope, sign=True), "verdict": r.trend.verdict})
    return {"title": " vs ".join(a.name for a in analyses), "labels": labels, "rows": rows,
            "figure": _b64(figures["compare_png"])}


def _alpha_text(g) -> str:
    return "-" if g.alpha is None else f"{fmt(g.alpha)} [{fmt(g.alpha_low)}, {fmt(g.alpha_high)}]"


def _reliability(r: dict) -> dict:
    """Repeats (test-retest), verdicts per judge and agreement with people, as the template shows them."""
    human = r.get("human_agreement")
    return {"repeats": [{**x.model_dump(), "alpha": _alpha_text(x)} for x in r.get("repeat_agreement", [])],
            "verdicts": [x.model_dump() for x in r.get("verdicts_by_judge", [])],
            "judges": list(r["verdicts_by_judge"][0].verdicts) if r.get("verdicts_by_judge") else [],
            "human": None if human is None else {
                "rated": human.rated, "sheets": len(human.sheets),
                "rows": [{**x.model_dump(), "raters": " vs ".join(x.raters), "alpha": _alpha_text(x),
                          "spearman": fmt(x.spearman), "mad": fmt(x.mean_abs_diff)} for x in human.rows]}}


def _b64(path: str | Path) -> str:
    return base64.b64encode(Path(path).read_bytes()).decode("ascii")


def _json_for_script(obj) -> str:
    """JSON safe inside <script>: no '<', '>' or '&' can end the element or start a comment."""
    return json.dumps(obj, ensure_ascii=False).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
