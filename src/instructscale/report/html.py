"""The self-contained HTML report: one file, images embedded as base64, item data as
embedded JSON for a small vanilla-JS item browser, so it opens offline anywhere."""

from __future__ import annotations

import base64
import json
from importlib import resources
from pathlib import Path

from instructscale.report.analysis import Analysis
from instructscale.report.config import ReportConfig
from instructscale.report.diagnostics import checks_view
from instructscale.report.load import RunData
from instructscale.report.tables import union_categories, union_labels, display_name, fmt

TEMPLATE = "data/report/report.html.j2"


def render_html(cfg: ReportConfig, run: RunData, a: Analysis, figures: dict[str, str], health, agreement,
                composition: list[dict], compare: list[Analysis], checks=None) -> str:
    from jinja2 import Environment, StrictUndefined

    env = Environment(autoescape=True, undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    template = env.from_string(resources.files("instructscale").joinpath(TEMPLATE).read_text(encoding="utf-8"))
    comp_cats = list(dict.fromkeys(c for s in composition for c in s["counts"]))
    return template.render(
        name=a.name, judge=a.judge, bootstrap_samples=cfg.bootstrap_samples, seed=cfg.seed,
        scales=[{"label": lab, "size": s} for lab, s in zip(a.labels, a.sizes)],
        rows=[_row(r) for r in a.rows], rule=cfg.thresholds.describe(),
        pair_names=[f"{p.frm} → {p.to}" for p in a.rows[0].pairs] if a.rows else [],
        figure1=_b64(figures["figure1_png"]),
        health=[{**h.model_dump(), "repeat_spread": fmt(h.repeat_spread)} for h in health],
        agreement=[{**g.model_dump(), "judges": " vs ".join(g.judges), "spearman": fmt(g.spearman)} for g in agreement],
        composition=composition, composition_categories=comp_cats,
        composition_figure=_b64(figures["composition_png"]) if composition else "",
        compare=_compare(compare, figures) if compare else None, checks=checks_view(checks, a.labels),
        categories=run.categories, items_json=_json_for_script(item_data(run, cfg.max_answer_chars)))


def item_data(run: RunData, max_chars: int) -> dict:
    """Per item: question, reference, every scale's first answer and every judge's score."""
    judges = list(run.scores)
    items = []
    for item in sorted(run.items.values(), key=lambda i: (run.categories.index(i.category), i.id)):
        answers = []
        for scale in run.scales:
            samples = run.responses.get((scale.model, item.id))
            text = samples[0].response if samples else None
            if text is not None and len(text) > max_chars:
                text = text[:max_chars] + f" … [{len(text) - max_chars} more characters]"
            scores = {}
            for j in judges:
                s = run.scores[j].get((scale.model, item.id))
                scores[j] = None if s is None else s.score
            answers.append({"label": scale.label, "response": text, "scores": scores})
        primary = [a["scores"][run.judge] for a in answers if a["scores"][run.judge] is not None]
        items.append({"id": item.id, "category": item.category, "question": item.question,
                      "reference": item.reference, "answers": answers,
                      "change": round(primary[-1] - primary[0], 4) if len(primary) > 1 else None})
    return {"judges": judges, "primary": run.judge, "scales": [s.label for s in run.scales], "items": items}


def _row(r) -> dict:
    t = r.trend
    return {"category": r.category, "display": display_name(r.category), "n_items": r.items,
            "cells": [{"mean": fmt(c.mean), "ci": f"[{fmt(c.ci_low)}, {fmt(c.ci_high)}]",
                       "scored_items": c.scored_items, "unscored": c.unscored} for c in r.cells],
            "slope": "-" if t.slope is None else f"{fmt(t.slope, sign=True)} [{fmt(t.ci_low, sign=True)}, "
                                                 f"{fmt(t.ci_high, sign=True)}]",
            "verdict": t.verdict,
            "pairs": [{"delta": fmt(p.delta, sign=True), "ci": f"[{fmt(p.ci_low, sign=True)}, {fmt(p.ci_high, sign=True)}]",
                       "p": fmt(p.p_not_better, 2)} for p in r.pairs]}


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


def _b64(path: str | Path) -> str:
    return base64.b64encode(Path(path).read_bytes()).decode("ascii")


def _json_for_script(obj) -> str:
    """JSON safe inside <script>: no '<', '>' or '&' can end the element or start a comment."""
    return json.dumps(obj, ensure_ascii=False).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
