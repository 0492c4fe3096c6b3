"""Statistical power of a per-category comparison, shared by `evalset advise` (before a study)
and the report (after it), so both speak of the same test.

The test is the one the report's verdicts rest on: a paired comparison over evaluation items
(each item answered at every scale). Per item we take a contrast — the score difference
between two scales, or the item's own least-squares slope against log10(data) — and test its
mean against 0, two-sided at `alpha`. With per-item contrast SD `sd` and `n` items, the
smallest true effect detected with probability `power` is

    MDE = (t[1 - alpha/2, n-1] + t[power, n-1]) * sd / sqrt(n)

(the usual normal-approximation formula with Student t quantiles, which matters at the
20-50 items per category real evaluation sets have). Items needed for an effect `delta` is the
smallest n with MDE(n) <= delta.

That sizes the verdict `improving` (a gain shown). The verdicts `plateaued` and `flat_poor` are
claims of no meaningful gain: the slope's 95% CI inside +-delta, i.e. two one-sided tests at
alpha/2 that must both pass. With a true slope of 0 each fails with probability (1 - power) / 2,
so the second quantile is t[1 - (1 - power)/2] (t[0.9] for 80%): such a verdict needs about 35%
more items than detecting a gain of the same delta (`claim="no gain"`).
"""

from __future__ import annotations

import math
from collections import defaultdict
from statistics import fmean, variance
from typing import Literal

import numpy as np
from pydantic import BaseModel

ALPHA, POWER = 0.05, 0.8
MAX_ITEMS = 1_000_000  # beyond this, "items needed" is reported as not reachable
Claim = Literal["gain", "no gain"]  # the verdict a figure is sized for: improving, or plateaued / flat_poor


def mde(sd: float | None, n: int, alpha: float = ALPHA, power: float = POWER, claim: Claim = "gain") -> float | None:
    """Minimum detectable mean contrast with `n` items of per-item SD `sd` (None below 2 items); for
    `no gain`: the smallest margin +-m the CI fits inside with probability `power` when the truth is 0."""
    if sd is None or n < 2 or not math.isfinite(sd):
        return None
    return _multiplier(n, alpha, power, claim) * sd / math.sqrt(n)


def items_needed(sd: float | None, delta: float, alpha: float = ALPHA, power: float = POWER,
                 claim: Claim = "gain") -> int | None:
    """Smallest number of items whose MDE is at most `delta` (None: unknown SD or over MAX_ITEMS)."""
    if sd is None or not math.isfinite(sd) or delta <= 0:
        return None
    if sd == 0:
        return 2
    n = max(2, math.ceil((_multiplier(10**9, alpha, power, claim) * sd / delta) ** 2))  # normal-quantile start
    while n <= MAX_ITEMS and mde(sd, n, alpha, power, claim) > delta:
        n = max(n + 1, math.ceil((_multiplier(n, alpha, power, claim) * sd / delta) ** 2))
    return n if n <= MAX_ITEMS else None


def slope_weights(sizes: list[int]) -> np.ndarray:
    """Weights w with slope = sum_k w_k * score_k: least squares on log10(size)."""
    x = np.log10(np.asarray(sizes, float))
    xc = x - x.mean()
    return xc / float(xc @ xc)


def contrast_sd(values) -> float | None:
    """Sample SD of per-item contrasts (None below 2 finite values)."""
    v = [float(x) for x in values if x is not None and math.isfinite(x)]
    return math.sqrt(variance(v)) if len(v) >= 2 else None


class CategoryPower(BaseModel):
    """Per category: the per-item contrast SDs and what they imply at this and other item counts."""

    category: str
    items: int  # items the contrast is measured on (the MDE is at this count)
    step_sd: float | None  # SD over items of the last-step difference (largest tuned scale minus the one before)
    step_mde: float | None
    step_delta: float | None  # the last step's gain if the curve rose by delta per tenfold data
    step_items_needed: int | None  # items to detect that gain
    slope_items: int
    slope_sd: float | None  # SD over items of the per-item slope per tenfold data
    slope_mde: float | None
    slope_items_needed: int | None  # items to detect a slope of delta per tenfold data (verdict improving)
    flat_items_needed: int | None = None  # items to show no gain (CI inside +-delta) when the late slope is 0
    delta: float  # per tenfold data


def category_power(category: str, step_diffs, item_slopes, delta: float, step_delta: float | None,
                   alpha: float = ALPHA, power: float = POWER) -> CategoryPower:
    """From measured per-item contrasts (NaN/None = item not scored at every scale used)."""
    step = [d for d in step_diffs if d is not None and math.isfinite(d)]
    slopes = [s for s in item_slopes if s is not None and math.isfinite(s)]
    step_sd, slope_sd = contrast_sd(step), contrast_sd(slopes)
    return CategoryPower(category=category, items=len(step), delta=delta, step_delta=step_delta,
                         step_sd=step_sd, step_mde=mde(step_sd, len(step), alpha, power),
                         step_items_needed=items_needed(step_sd, step_delta, alpha, power) if step_delta else None,
                         slope_items=len(slopes), slope_sd=slope_sd, slope_mde=mde(slope_sd, len(slopes), alpha, power),
                         slope_items_needed=items_needed(slope_sd, delta, alpha, power),
                         flat_items_needed=items_needed(slope_sd, delta, alpha, power, "no gain"))


class Advice(BaseModel):
    """`evalset advise`: items per category for the report's two tests to detect a gain of delta."""

    category: str
    current_items: int | None  # in the evaluation set, when one was given
    sd: float  # per-item SD of a score
    diff_sd: float  # per-item SD of a difference between two scales
    source: str  # where diff_sd came from: "assumed", "pilot (one model)", "pilot (paired)"
    step_delta: float  # the last step's gain if the curve rises by delta per tenfold data
    step_items_needed: int | None
    step_mde_now: float | None  # the last-step gain the current evaluation set would detect
    slope_items_needed: int | None  # items to detect a late slope of delta per tenfold data (improving)
    slope_mde_now: float | None
    flat_items_needed: int | None = None  # items to show no gain (plateaued / flat_poor) when the slope is 0


def advise(categories: list[str], delta: float, sizes: list[int], late_points: int = 3, sd: float = 0.25,
           correlation: float = 0.5, current: dict[str, int] | None = None, pilot: list | None = None,
           alpha: float = ALPHA, power: float = POWER) -> list[Advice]:
    """Items per category, from an assumed per-item SD or from pilot judgements (Judgement records).

    `delta` is the smallest gain that matters per tenfold data and `sizes` the planned tuned scales,
    as in the report: the last step should gain delta * log10(largest / the one before), and the
    late slope (over the `late_points` largest sizes) should be delta. A difference between two
    scales has per-item SD = sd * sqrt(2 * (1 - correlation)) (items hard for one model tend to be
    hard for the next); a pilot judged on two or more models gives it directly (paired differences
    between consecutive models), a pilot of one model gives the item SD. With independent per-scale
    noise, the per-item slope's SD is diff_sd / sqrt(2) * sqrt(sum w^2), w the least-squares weights.
    """
    sizes = sorted(set(sizes))
    if len(sizes) < 2 or sizes[0] <= 0:
        raise ValueError("at least two positive training-data sizes are needed")
    step_delta = delta * math.log10(sizes[-1] / sizes[-2])
    w = slope_weights(sizes[-late_points:])
    measured = _pilot_sds(pilot or [])
    out = []
    for category in categories:
        item_sd, diff_sd, source = sd, sd * math.sqrt(2 * (1 - correlation)), "assumed"
        if category in measured:
            item_sd, paired_sd = measured[category]
            diff_sd, source = ((paired_sd, "pilot (paired)") if paired_sd is not None else
                               (item_sd * math.sqrt(2 * (1 - correlation)), "pilot (one model)"))
        slope_sd = diff_sd / math.sqrt(2) * math.sqrt(float(w @ w))
        n_now = (current or {}).get(category) or 0
        out.append(Advice(category=category, current_items=n_now or None, sd=item_sd, diff_sd=diff_sd, source=source,
                          step_delta=step_delta, step_items_needed=items_needed(diff_sd, step_delta, alpha, power),
                          step_mde_now=mde(diff_sd, n_now, alpha, power),
                          slope_items_needed=items_needed(slope_sd, delta, alpha, power),
                          slope_mde_now=mde(slope_sd, n_now, alpha, power),
                          flat_items_needed=items_needed(slope_sd, delta, alpha, power, "no gain")))
    return out


def _pilot_sds(judgements) -> dict[str, tuple[float, float | None]]:
    """Per category: item-score SD (pooled within models) and paired-difference SD (None: one model)."""
    from instructscale.judge import item_scores

    by_cat: dict[str, dict[str, dict[str, float]]] = defaultdict(lambda: defaultdict(dict))
    models: list[str] = []
    for s in item_scores(judgements):
        if s.score is not None:
            by_cat[s.category][s.model][s.item_id] = s.score
            if s.model not in models:
                models.append(s.model)
    out = {}
    for category, per_model in by_cat.items():
        within = [variance(v.values()) for v in per_model.values() if len(v) >= 2]
        if not within:
            continue
        ordered = [m for m in models if m in per_model]
        diffs = [per_model[b][i] - per_model[a][i] for a, b in zip(ordered, ordered[1:])
                 for i in per_model[a].keys() & per_model[b].keys()]
        out[category] = (math.sqrt(fmean(within)), contrast_sd(diffs))
    return out


def _multiplier(n: int, alpha: float, power: float, claim: Claim = "gain") -> float:
    from scipy.stats import t

    df = n - 1
    beta = 1 - power if claim == "gain" else (1 - power) / 2  # no gain: either one-sided test may fail
    return float(t.ppf(1 - alpha / 2, df) + t.ppf(1 - beta, df))


def advice_table(rows: list[Advice], delta: float):
    """`evalset advise` as a rich Table."""
    from rich.table import Table

    def num(v, digits=3):
        return "-" if v is None else f"{v:.{digits}f}"

    table = Table(title=f"Items per category for 80% power at delta = {delta:g} per tenfold data (two-sided 5%, "
                        f"paired over items): to show a gain of delta (improving), or no gain beyond +-delta "
                        f"when there is none (plateaued / flat_poor)")
    for name in ("category", "items now", "diff SD", "SD from", "last step gain", "items needed", "MDE now",
                 "late slope: items for a gain", "MDE now", "items for no gain"):
        table.add_column(name, justify="left" if name in ("category", "SD from") else "right")
    for r in rows:
        table.add_row(r.category, "-" if r.current_items is None else str(r.current_items), num(r.diff_sd), r.source,
                      num(r.step_delta), "-" if r.step_items_needed is None else str(r.step_items_needed),
                      num(r.step_mde_now), "-" if r.slope_items_needed is None else str(r.slope_items_needed),
                      num(r.slope_mde_now), "-" if r.flat_items_needed is None else str(r.flat_items_needed))
    return table
