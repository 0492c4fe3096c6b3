"""Judge diagnostics: how much the judge disagrees with itself (repeat spread), how many
judgements gave no valid score, and, where two judges scored the same answers (an LLM
judge and the reference scorer), how well they agree (Spearman, Krippendorff's alpha).
`checks` adds power, response-sample and training-seed variance, and judge length bias."""

from __future__ import annotations

import math
from pathlib import Path
from statistics import fmean

import numpy as np
from pydantic import BaseModel

from instructscale.datafiles import write_text
from instructscale.evalset.power import CategoryPower, category_power, slope_weights
from instructscale.report.agreement import judge_agreement
from instructscale.report.bias import LengthBias, length_bias, self_preference, unscored_answers
from instructscale.report.load import RunData
from instructscale.report.variance import (SampleSplit, SeedSplit, sample_splits, seed_cells, seed_cube, seed_mean,
                                           seed_splits)



class JudgeHealth(BaseModel):
    judge: str
    category: str
    answers: int  # (scale, item) pairs judged
    judgements: int
    unscored: int
    unscored_answers: int  # answers with no valid score at all (left out of every mean)
    repeat_spread: float | None  # mean over answers of max - min over repeats


class Agreement(BaseModel):
    judges: tuple[str, str]
    category: str
    pairs: int
    spearman: float | None
    alpha: float | None = None  # Krippendorff's alpha, interval (report/agreement.py)
    alpha_low: float | None = None
    alpha_high: float | None = None
    mean_abs_diff: float | None = None


def judge_health(run: RunData) -> list[JudgeHealth]:
    rows = []
    for judge, scores in run.scores.items():
        for category in [*run.categories, "all"]:
            group = [s for s in scores.values() if category in ("all", s.category)]
            spreads = [s.repeat_spread for s in group if s.repeat_spread is not None]
            rows.append(JudgeHealth(
                judge=judge, category=category, answers=len(group), judgements=sum(s.scored + s.unscored for s in group),
                unscored=sum(s.unscored for s in group), unscored_answers=sum(s.score is None for s in group),
                repeat_spread=fmean(spreads) if spreads else None))
    return rows


def agreement(run: RunData, samples: int = 1000, seed: int = 0) -> list[Agreement]:
    """Every pair of judges per category: Spearman, Krippendorff's alpha with its CI, mean |difference|."""
    return [Agreement(judges=g.raters, category=g.category, pairs=g.units, spearman=g.spearman, alpha=g.alpha,
                      alpha_low=g.alpha_low, alpha_high=g.alpha_high, mean_abs_diff=g.mean_abs_diff)
            for g in judge_agreement(run, samples, seed)]


class Checks(BaseModel):
    """What the report adds beside the verdicts so a reader can judge them: power, the variance
    from response samples and training seeds, length bias, answers without any score, warnings."""

    warnings: list[str]
    unscored_answers: list[dict]
    power: list[CategoryPower]
    sample_variance: list[SampleSplit]
    seed_variance: list[SeedSplit]
    length_bias: list[LengthBias]


def checks(run: RunData, thresholds) -> Checks:
    """All for the primary judge; training seeds of one scale form one cell."""
    cells = seed_cells(run.scales)
    judgements = run.judgements.get(run.judge, [])
    sample_rows, seed_rows, power_rows = [], [], []
    for category in run.categories:
        items = [i.id for i in run.items_in(category)]
        cube = seed_cube(run.scores[run.judge], items, cells)
        power_rows.append(_power(category, seed_mean(cube), cells, thresholds))
        seed_rows += seed_splits(category, cube, cells)
        sample_rows += sample_splits(category, judgements, set(items), cells)
    return Checks(warnings=[*run.warnings, *self_preference(run.index, run.judge)],
                  unscored_answers=unscored_answers(run, cells),
                  power=power_rows, sample_variance=sample_rows, seed_variance=seed_rows,
                  length_bias=length_bias(run, cells))


def _power(category: str, m: np.ndarray, cells, thresholds) -> CategoryPower:
    """Last step = the two largest tuned scales with scores; slope = the verdict's late slope."""
    use = [k for k, c in enumerate(cells) if c.size > 0 and np.isfinite(m[:, k]).any()]
    if len(use) < 2:
        return category_power(category, [], [], thresholds.delta, None)
    last, prev = cells[use[-1]].size, cells[use[-2]].size
    late = use[-thresholds.late_points:]
    slopes = m[:, late] @ slope_weights([cells[k].size for k in late])
    return category_power(category, m[:, use[-1]] - m[:, use[-2]], slopes, thresholds.delta,
                          thresholds.delta * math.log10(last / prev))


def write_checks(c: Checks, labels: list[str], out: Path) -> dict[str, str]:
    """power.csv, length_bias.csv (one row per category and scale) and diagnostics.md."""
    from instructscale.report.tables import _csv

    files = {"power_csv": out / "power.csv", "length_csv": out / "length_bias.csv",
             "diagnostics_markdown": out / "diagnostics.md"}
    write_text(files["power_csv"], _csv([_round_all(p.model_dump()) for p in c.power]))
    write_text(files["length_csv"], _csv([_round_all({"category": b.category, "spearman": b.spearman,
                                                      "per_1000_chars": b.per_1000_chars, **cell.model_dump()})
                                          for b in c.length_bias for cell in b.cells]))
    write_text(files["diagnostics_markdown"], checks_markdown(c, labels))
    return {k: str(v) for k, v in files.items()}


def checks_markdown(c: Checks, labels: list[str]) -> str:
    from instructscale.report.tables import _md_table, display_name, fmt

    lines = ["# Power, variance and judge bias", ""]
    lines += [f"**Warning:** {w}" for w in c.warnings] + ([""] if c.warnings else [])
    lines += ["## Answers without any score (every judge repeat unscored; left out of every mean)", ""]
    lines += _md_table(["category", *labels],
                       [[display_name(cat), *cells] for cat, cells in _unscored_cells(c, labels)])
    delta = c.power[0].delta if c.power else None
    lines += ["", f"## Power (80% power, two-sided 5%, paired over items; delta = {fmt(delta)} per tenfold data)", "",
              "MDE: the smallest true gain these items detect 80% of the time. Items for a gain: to detect delta "
              "(for the last step, the gain delta per tenfold implies between its two scales), the verdict "
              "improving. Items for no gain: to show no gain beyond +-delta 80% of the time when the late slope "
              "is truly 0, the verdict plateaued or flat_poor.", ""]
    lines += _md_table(["category", "items", "last step: MDE", "gain at delta", "items needed", "late slope: MDE",
                        "items for a gain", "items for no gain"],
                       [[display_name(p.category), str(p.items), fmt(p.step_mde), fmt(p.step_delta),
                         _int(p.step_items_needed), fmt(p.slope_mde), _int(p.slope_items_needed),
                         _int(p.flat_items_needed)] for p in c.power])
    lines += ["", "## Judge length bias", "",
              "Mean answer length (characters), raw mean → length-controlled mean (at the category's mean length, "
              "score regressed on length within scales), Spearman ρ of score with length over all scales.", ""]
    lines += _md_table(["category", "ρ", "per 1000 chars", *labels],
                       [[display_name(b.category), fmt(b.spearman, 2), fmt(b.per_1000_chars, sign=True),
                         *[f"{fmt(x.mean_chars, 0)} ch: {fmt(x.raw_mean)} → {fmt(x.controlled_mean)}"
                           for x in b.cells]]
                        for b in c.length_bias])
    if c.sample_variance:
        lines += ["", "## Response samples: share of score variance", ""]
        lines += _md_table(["category", "scale", "items", "samples/item", "item var", "sample var", "judge var",
                            "sample share"],
                           [[display_name(s.category), s.label, str(s.items), fmt(s.samples_per_item, 1),
                             fmt(s.item_var, 4), fmt(s.sample_var, 4), fmt(s.repeat_var, 4), _pct(s.sample_share)]
                            for s in c.sample_variance])
    if c.seed_variance:
        lines += ["", "## Training seeds: share of the cell mean's variance", ""]
        lines += _md_table(["category", "scale", "seeds", "items", "seed SD", "seed share"],
                           [[display_name(s.category), s.label, str(s.seeds), str(s.items), fmt(s.seed_sd),
                             _pct(s.seed_share)] for s in c.seed_variance])
    return "\n".join(lines) + "\n"


def _unscored_cells(c: Checks, labels: list[str]) -> list[tuple[str, list[str]]]:
    """Per category: 'unscored of answers' per scale label."""
    counts = {(u["category"], u["scale"]): u for u in c.unscored_answers}
    cats = dict.fromkeys(u["category"] for u in c.unscored_answers)
    return [(cat, [f"{counts[(cat, lab)]['unscored_answers']} of {counts[(cat, lab)]['answers']}"
                   if (cat, lab) in counts else "-" for lab in labels]) for cat in cats]


def _int(v: int | None) -> str:
    return "-" if v is None else str(v)


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.1f}%"


def _round_all(row: dict) -> dict:
    return {k: round(v, 6) if isinstance(v, float) else v for k, v in row.items()}


def checks_view(c: Checks | None, labels: list[str]) -> dict | None:
    """The checks as display strings for the HTML template."""
    from instructscale.report.tables import display_name, fmt

    if c is None:
        return None
    return {
        "warnings": c.warnings, "labels": labels, "delta": fmt(c.power[0].delta) if c.power else "-",
        "unscored": [{"display": display_name(cat), "cells": cells} for cat, cells in _unscored_cells(c, labels)],
        "power": [{"display": display_name(p.category), "n_items": p.items, "step_mde": fmt(p.step_mde),
                   "step_delta": fmt(p.step_delta), "step_n": _int(p.step_items_needed), "slope_mde": fmt(p.slope_mde),
                   "slope_n": _int(p.slope_items_needed), "flat_n": _int(p.flat_items_needed)} for p in c.power],
        "length": [{"display": display_name(b.category), "rho": fmt(b.spearman, 2),
                    "beta": fmt(b.per_1000_chars, sign=True),
                    "cells": [{"chars": fmt(x.mean_chars, 0), "raw": fmt(x.raw_mean),
                               "controlled": fmt(x.controlled_mean)} for x in b.cells]} for b in c.length_bias],
        "samples": [{"display": display_name(s.category), "label": s.label, "n_items": s.items,
                     "per_item": fmt(s.samples_per_item, 1), "item_var": fmt(s.item_var, 4),
                     "sample_var": fmt(s.sample_var, 4), "repeat_var": fmt(s.repeat_var, 4),
                     "share": _pct(s.sample_share)} for s in c.sample_variance],
        "seeds": [{"display": display_name(s.category), "label": s.label, "seeds": s.seeds, "n_items": s.items,
                   "sd": fmt(s.seed_sd), "share": _pct(s.seed_share)} for s in c.seed_variance],
    }
