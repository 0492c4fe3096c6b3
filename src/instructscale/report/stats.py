"""Bootstrap statistics over evaluation items: per-scale CIs, paired adjacent-scale
differences, and the trend verdict.

One resample of item indices per bootstrap draw is shared by all scales, so every
comparison between scales is paired (the same items on both sides), and the slope's
CI reflects which items happen to be in the evaluation set. Overall rows resample
items within each category (stratified) and combine per draw: macro = mean of the
category means, micro = pooled mean over all scored items.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel

import math

from instructscale.report.config import Verdict, VerdictThresholds
from instructscale.report.fits import CurveFit, fit_curves
from instructscale.report.intervals import ALPHA
from instructscale.report.intervals import tail as expanded_tail



class CellStat(BaseModel):
    label: str
    size: int
    mean: float | None
    ci_low: float | None
    ci_high: float | None
    scored_items: int  # items with a score at this scale (the mean is over these)
    unscored: int  # judgements without a valid score at this scale


class PairStat(BaseModel):
    """Scale `to` minus scale `frm`, paired over items."""

    frm: str
    to: str
    delta: float | None
    ci_low: float | None
    ci_high: float | None
    p_not_better: float | None  # share of bootstrap draws with delta <= 0


class TrendStat(BaseModel):
    slope: float | None  # score per tenfold data over all tuned scales (whole range)
    ci_low: float | None
    ci_high: float | None
    late_slope: float | None = None  # the same over the `late_points` largest tuned scales
    late_ci_low: float | None = None
    late_ci_high: float | None = None
    last_mean: float | None
    points: int
    verdict: Verdict
    decide: str | None = None  # for undetermined: what would decide it
    ci_level: float = 1 - ALPHA  # of the slope and level CIs the verdict rests on (below 95% never)


class CategoryResult(BaseModel):
    category: str
    items: int
    cells: list[CellStat]
    pairs: list[PairStat]
    trend: TrendStat
    fit: CurveFit | None = None  # None with fewer than three tuned scales with scores
    looks: str | None = None  # sequential evaluation: the items this category used and why


class Boot:
    """Point sums/counts (S,) and bootstrap sums/counts (B, S) for one group of items."""

    def __init__(self, sums, counts, boot_sums, boot_counts):
        self.sums, self.counts = np.asarray(sums, float), np.asarray(counts, float)
        self.boot_sums, self.boot_counts = np.asarray(boot_sums, float), np.asarray(boot_counts, float)

    @property
    def means(self):
        return _ratio(self.sums, self.counts)

    @property
    def boot_means(self):
        return _ratio(self.boot_sums, self.boot_counts)


def bootstrap_items(scores: np.ndarray, samples: int, rng: np.random.Generator) -> Boot:
    """`scores`: items x scales, NaN where an item has no score at a scale."""
    n, s = scores.shape
    valid = ~np.isnan(scores)
    filled = np.where(valid, scores, 0.0)
    if n == 0:
        zeros = np.zeros((samples, s))
        return Boot(np.zeros(s), np.zeros(s), zeros, zeros)
    idx = rng.integers(0, n, size=(samples, n))
    return Boot(filled.sum(0), valid.sum(0), filled[idx].sum(1), valid[idx].sum(1))


def summarize(name: str, items: int, labels: list[str], sizes: list[int], unscored: list[int],
              point_means, boot_means, counts, thresholds: VerdictThresholds,
              target: float = 0.8, verdict_alpha: float = ALPHA) -> CategoryResult:
    """Cells with CIs, adjacent pairs and the trend, from point means (S,) and bootstrap means (B, S).
    `verdict_alpha`: two-sided level of the CIs the verdict rests on (smaller at a sequential look)."""
    point_means, boot_means = np.asarray(point_means, float), np.asarray(boot_means, float)
    lo, hi = _percentiles(boot_means, counts)
    cells = [CellStat(label=labels[k], size=sizes[k], mean=_num(point_means[k]), ci_low=_num(lo[k]),
                      ci_high=_num(hi[k]), scored_items=int(counts[k]), unscored=int(unscored[k]))
             for k in range(len(labels))]
    pairs = []
    for k in range(len(labels) - 1):
        diff = boot_means[:, k + 1] - boot_means[:, k]
        d_lo, d_hi = _percentiles(diff[:, None], items)
        finite = diff[np.isfinite(diff)]
        pairs.append(PairStat(frm=labels[k], to=labels[k + 1], delta=_num(point_means[k + 1] - point_means[k]),
                              ci_low=_num(d_lo[0]), ci_high=_num(d_hi[0]),
                              p_not_better=float(np.mean(finite <= 0)) if finite.size else None))
    return CategoryResult(category=name, items=items, cells=cells, pairs=pairs,
                          trend=trend(sizes, point_means, boot_means, thresholds, items, verdict_alpha),
                          fit=fit_curves(sizes, point_means, boot_means, thresholds, target, items))


def trend(sizes: list[int], point_means, boot_means, thresholds: VerdictThresholds, items: int = 0,
          alpha: float = ALPHA) -> TrendStat:
    """Whole-range and late least-squares slopes of mean score against log10(size) over the tuned
    scales with a score, their paired bootstrap CIs, and the verdict."""
    sizes_a = np.asarray(sizes, float)
    use = (sizes_a > 0) & np.isfinite(point_means)
    k = int(use.sum())
    last = point_means[use][-1] if k else np.nan
    if k < 2:
        return TrendStat(slope=None, ci_low=None, ci_high=None, last_mean=_num(last), points=k,
                         verdict="undetermined", decide="scores at two or more tuned scales", ci_level=1 - alpha)
    x, y, yb = np.log10(sizes_a[use]), point_means[use], boot_means[:, use]
    whole = _slope(x, y, yb, items, alpha)
    late_n = min(k, thresholds.late_points)
    late = _slope(x[-late_n:], y[-late_n:], yb[:, -late_n:], items, alpha)
    level = _percentiles(yb[:, -1:], items, alpha)
    verdict_, decide = judge_trend(whole, late, (float(last), level[0][0], level[1][0]), thresholds, items, alpha)
    return TrendStat(slope=whole[0], ci_low=whole[1], ci_high=whole[2], late_slope=late[0], late_ci_low=late[1],
                     late_ci_high=late[2], last_mean=_num(last), points=k, verdict=verdict_, decide=decide,
                     ci_level=1 - alpha)


Interval = tuple[float | None, float | None, float | None]  # point, 95% CI low, high


def judge_trend(whole: Interval, late: Interval, level: Interval, t: VerdictThresholds,
                items: int = 0, alpha: float = ALPHA) -> tuple[Verdict, str | None]:
    """The verdict rule (stated in words by `VerdictThresholds.describe`): every claim needs its own
    evidence, and when none is shown the answer is undetermined with what would decide it."""
    d = t.delta
    b, lo, hi = late
    if lo is None or hi is None:
        return "undetermined", "scores at two or more tuned scales"
    late_flat = -d < lo and hi < d
    if lo > 0 and not late_flat:
        return "improving", None
    w, wlo, whi = whole
    whole_flat = wlo is not None and -d < wlo <= 0 and whi < d
    m, mlo, mhi = level
    if whole_flat and late_flat:
        if mhi is not None and mhi < t.poor_score:
            return "flat_poor", None
        if mlo is not None and mlo >= t.poor_score:
            return "plateaued", None
        return "undetermined", _more_items(items, (mhi - mlo) / 2, abs(m - t.poor_score),
                                           f"the level at the largest scale (CI {mlo:.2f}-{mhi:.2f}) against "
                                           f"poor_score {t.poor_score:g}", "to place it", alpha)
    if late_flat:
        return "plateaued", None
    half = (hi - lo) / 2
    # the CI shrinks about as 1/sqrt(items): either it clears 0 (gain) or fits inside +-delta (no gain)
    gain = b >= d - abs(b)
    return "undetermined", _more_items(items, half, max(b, d - abs(b), 0.0),
                                       f"the late slope ({b:+.3f}, CI {lo:+.3f} to {hi:+.3f})",
                                       "to show a gain" if gain else f"to show no gain beyond +-{d:g}", alpha,
                                       0.8 if gain else 0.9)


def _more_items(items: int, half: float, margin: float, what: str, claim: str, alpha: float = ALPHA,
                quantile: float = 0.8) -> str:
    """A short hint: items per category for an 80% chance to decide `what` by `claim`, were the estimate
    the truth. The CI just reaching the margin would decide it half the time; 80% takes the CI's
    half-width z[1-alpha/2] + z[quantile] standard errors short of it (quantile 0.9 for no gain: both
    ends of the CI must stay inside, evalset/power.py)."""
    from scipy.stats import norm

    if items and margin > 0 and (half / margin) ** 2 <= 16:  # within reach: the CI narrowed at most 4x
        factor = (half * (1 + float(norm.ppf(quantile)) / float(norm.ppf(1 - alpha / 2))) / margin) ** 2
        return (f"{what}: about {math.ceil(items * factor)} items (now {items}) would decide it "
                f"(80% power {claim})")
    return f"{what}: more items alone will hardly decide it; a larger scale (2x the largest) would"


def _slope(x, y, yb, items: int, alpha: float = ALPHA) -> Interval:
    xc = x - x.mean()
    denom = float(xc @ xc)
    point = float((y - y.mean()) @ xc / denom)
    boot = (yb - yb.mean(1, keepdims=True)) @ xc / denom
    lo, hi = _percentiles(boot[:, None], items, alpha)
    return point, _num(lo[0]), _num(hi[0])


def _percentiles(boot, items, alpha: float = ALPHA):
    """Per-column (1 - alpha) percentile interval over finite draws (NaN when a column has none);
    `items`: the number of items behind each column (one number for all, or one per column)."""
    lo, hi = [], []
    for col, n in zip(np.asarray(boot, float).T, np.broadcast_to(np.asarray(items, int), (np.shape(boot)[1],))):
        col = col[np.isfinite(col)]
        tail = expanded_tail(int(n), alpha)
        lo.append(np.percentile(col, 100 * tail) if col.size else np.nan)
        hi.append(np.percentile(col, 100 * (1 - tail)) if col.size else np.nan)
    return np.array(lo), np.array(hi)


def _ratio(a, b):
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(b > 0, a / np.where(b > 0, b, 1), np.nan)


def _num(v) -> float | None:
    return float(v) if v is not None and np.isfinite(v) else None
