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

from instructscale.report.config import Verdict, VerdictThresholds

ALPHA = 0.05  # 95% intervals everywhere


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
    slope: float | None  # score per tenfold data, over the tuned scales
    ci_low: float | None
    ci_high: float | None
    last_mean: float | None
    last_gain_ci_low: float | None = None  # largest scale minus the one before, paired (3+ tuned scales)
    points: int
    verdict: Verdict


class CategoryResult(BaseModel):
    category: str
    items: int
    cells: list[CellStat]
    pairs: list[PairStat]
    trend: TrendStat


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
              point_means, boot_means, counts, thresholds: VerdictThresholds) -> CategoryResult:
    """Cells with CIs, adjacent pairs and the trend, from point means (S,) and bootstrap means (B, S)."""
    point_means, boot_means = np.asarray(point_means, float), np.asarray(boot_means, float)
    lo, hi = _percentiles(boot_means)
    cells = [CellStat(label=labels[k], size=sizes[k], mean=_num(point_means[k]), ci_low=_num(lo[k]),
                      ci_high=_num(hi[k]), scored_items=int(counts[k]), unscored=int(unscored[k]))
             for k in range(len(labels))]
    pairs = []
    for k in range(len(labels) - 1):
        diff = boot_means[:, k + 1] - boot_means[:, k]
        d_lo, d_hi = _percentiles(diff[:, None])
        finite = diff[np.isfinite(diff)]
        pairs.append(PairStat(frm=labels[k], to=labels[k + 1], delta=_num(point_means[k + 1] - point_means[k]),
                              ci_low=_num(d_lo[0]), ci_high=_num(d_hi[0]),
                              p_not_better=float(np.mean(finite <= 0)) if finite.size else None))
    return CategoryResult(category=name, items=items, cells=cells, pairs=pairs,
                          trend=trend(sizes, point_means, boot_means, thresholds))


def trend(sizes: list[int], point_means, boot_means, thresholds: VerdictThresholds) -> TrendStat:
    """Least-squares slope of mean score against log10(size) over tuned scales with a score."""
    sizes_a = np.asarray(sizes, float)
    use = (sizes_a > 0) & np.isfinite(point_means)
    last = point_means[use][-1] if use.any() else np.nan
    if use.sum() < 2:
        return TrendStat(slope=None, ci_low=None, ci_high=None, last_mean=_num(last), points=int(use.sum()),
                         verdict="undetermined")
    x = np.log10(sizes_a[use])
    xc = x - x.mean()
    denom = float(xc @ xc)
    slope = float((point_means[use] - point_means[use].mean()) @ xc / denom)
    yb = boot_means[:, use]
    boot_slopes = (yb - yb.mean(1, keepdims=True)) @ xc / denom
    lo, hi = _percentiles(boot_slopes[:, None])
    gain_lo = _num(_percentiles((yb[:, -1] - yb[:, -2])[:, None])[0][0]) if use.sum() >= 3 else None
    return TrendStat(slope=slope, ci_low=_num(lo[0]), ci_high=_num(hi[0]), last_mean=_num(last),
                     last_gain_ci_low=gain_lo, points=int(use.sum()),
                     verdict=verdict(slope, _num(lo[0]), float(last), thresholds, gain_lo))


def verdict(slope: float, ci_low: float | None, last_mean: float, t: VerdictThresholds,
            last_gain_ci_low: float | None = None) -> Verdict:
    ci_ok = not t.ci_excludes_zero or (ci_low is not None and ci_low > 0)
    still_gaining = not t.last_step_gains or last_gain_ci_low is None or last_gain_ci_low > 0
    if slope >= t.min_slope and ci_ok and still_gaining:
        return "improving"
    return "flat_poor" if last_mean < t.poor_score else "plateaued"


def _percentiles(boot):
    """Per-column 2.5% and 97.5% percentiles over finite draws (NaN when a column has none)."""
    lo, hi = [], []
    for col in np.asarray(boot, float).T:
        col = col[np.isfinite(col)]
        lo.append(np.percentile(col, 100 * ALPHA / 2) if col.size else np.nan)
        hi.append(np.percentile(col, 100 * (1 - ALPHA / 2)) if col.size else np.nan)
    return np.array(lo), np.array(hi)


def _ratio(a, b):
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(b > 0, a / np.where(b > 0, b, 1), np.nan)


def _num(v) -> float | None:
    return float(v) if v is not None and np.isfinite(v) else None
