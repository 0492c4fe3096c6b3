"""Fitted scaling curves per category: what more data would buy, with bootstrap CIs.

Two forms are fitted to the mean scores at the tuned scales (size > 0), N in training examples:
  log-linear  score = a + b * log10(N)                      (2 parameters)
  saturating  score = a - c * (N / N_max) ** -alpha         (3 parameters; needs 4+ tuned scales)
The means of one category are correlated (the same items at every scale), so both are fitted by
generalized least squares with the covariance of the means from the paired item bootstrap, and the
form with the lower AIC (chi-square + 2 x parameters; the variances are measured, not fitted) is
used. Every bootstrap draw refits both forms and picks again, so the CIs include the uncertainty of
which form fits. The saturating form is fitted on a grid of alpha (linear in a and c for fixed
alpha), which keeps thousands of refits fast. Values past the largest scale are extrapolations and
flagged as such.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
from pydantic import BaseModel

from instructscale.report.config import VerdictThresholds
from instructscale.report.intervals import tail

ALPHAS = np.logspace(math.log10(0.05), math.log10(5.0), 61)
REACH = 10  # data needed / flattening are searched up to REACH x the largest scale
CURVE_POINTS = 40
MIN_SATURATING_POINTS = 4
MIN_DRAWS = 20


class Estimate(BaseModel):
    """Sizes: None = not within REACH x the largest scale (an upper CI end of None: unbounded)."""

    value: float | None
    ci_low: float | None
    ci_high: float | None
    extrapolated: bool = False  # the point estimate lies beyond the largest scale


class CurveFit(BaseModel):
    form: Literal["log-linear", "saturating"]
    params: dict[str, float]  # log-linear: a, b; saturating: a, c, alpha, n_max
    aic: dict[str, float]  # per form fitted
    saturating_share: float  # share of bootstrap draws in which the saturating form won
    doubling_gain: Estimate  # fitted score at 2 x N_max minus at N_max (always an extrapolation)
    target: float
    data_needed: Estimate  # training examples to reach `target`; 0 = already at the smallest scale
    flattens_at: Estimate  # where the fitted slope falls below delta per tenfold data; 0 = flat throughout
    curve_sizes: list[float]  # the fitted curve and its 95% band from the smallest scale to 2 x N_max
    curve: list[float]
    curve_low: list[float]
    curve_high: list[float]


class _Forms:
    """Both forms fitted to rows of means (R, k): per row the chosen form and the means of the fit."""

    def __init__(self, x: np.ndarray, y: np.ndarray, weight: np.ndarray, saturating: bool):
        self.x, self.n_max = x, 10 ** x[-1]
        self.lin, lin_chi = _gls(np.column_stack([np.ones_like(x), x]), y, weight)
        self.aic_lin = lin_chi + 4
        self.sat = None
        self.use_sat = np.zeros(len(y), bool)
        if saturating:
            u = 10 ** (x - x[-1])
            designs = np.stack([np.ones((len(ALPHAS), len(x))), -u[None, :] ** -ALPHAS[:, None]], axis=2)
            coefs, chi = _gls(designs, y, weight)  # (alphas, R, 2), (alphas, R)
            best = chi.argmin(0)
            rows = np.arange(len(y))
            coef = coefs[best, rows]  # (R, 2)
            self.sat = (coef[:, 0], coef[:, 1], ALPHAS[best])
            self.aic_sat = chi[best, rows] + 6
            self.use_sat = self.aic_sat < self.aic_lin

    def at(self, sizes: np.ndarray) -> np.ndarray:
        """Fitted score at `sizes` (R, len(sizes))."""
        out = self.lin[:, :1] + self.lin[:, 1:] * np.log10(sizes)[None, :]
        if self.sat is not None:
            a, c, al = self.sat
            sat = a[:, None] - c[:, None] * (np.asarray(sizes)[None, :] / self.n_max) ** -al[:, None]
            out = np.where(self.use_sat[:, None], sat, out)
        return out

    def slope_at(self, size: float) -> np.ndarray:
        """Fitted score gained per tenfold data at `size` (R,)."""
        out = self.lin[:, 1].copy()
        if self.sat is not None:
            a, c, al = self.sat
            out = np.where(self.use_sat, c * al * math.log(10) * (size / self.n_max) ** -al, out)
        return out

    def size_reaching(self, target: float, n_min: float) -> np.ndarray:
        """Smallest size with a fitted score >= target (0 if already at n_min; inf past REACH x N_max)."""
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            a, b = self.lin[:, 0], self.lin[:, 1]
            n = np.where(b > 0, 10 ** ((target - a) / np.where(b > 0, b, 1)), np.inf)
            if self.sat is not None:
                sa, sc, al = self.sat
                ratio = (sa - target) / sc
                n_sat = np.where((sc > 0) & (ratio > 0), self.n_max * ratio ** (-1 / al), np.inf)
                n = np.where(self.use_sat, n_sat, n)
        reached_already = self.at(np.array([n_min]))[:, 0] >= target
        n = np.where(reached_already, 0.0, n)
        return np.where(n > REACH * self.n_max, np.inf, n)

    def size_flattening(self, delta: float, n_min: float) -> np.ndarray:
        """Smallest size from n_min on where the fitted slope per tenfold data is below delta."""
        flat_from_start = self.slope_at(n_min) < delta
        n = np.full(len(self.lin), np.inf)
        if self.sat is not None:
            a, c, al = self.sat
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                n_sat = self.n_max * (c * al * math.log(10) / delta) ** (1 / al)
            n = np.where(self.use_sat, n_sat, n)
        n = np.where(flat_from_start, 0.0, n)
        return np.where(n > REACH * self.n_max, np.inf, n)


def fit_curves(sizes, point_means, boot_means, thresholds: VerdictThresholds, target: float,
               items: int = 0) -> CurveFit | None:
    """Fit the tuned scales with scores; None with fewer than three such scales (or almost no usable
    bootstrap draws). `items` behind the
    means sets the width of the expanded percentile CIs (intervals.tail)."""
    sizes_a, point_means = np.asarray(sizes, float), np.asarray(point_means, float)
    use = (sizes_a > 0) & np.isfinite(point_means)
    if use.sum() < 3:
        return None
    x, y = np.log10(sizes_a[use]), point_means[use]
    yb = np.asarray(boot_means, float)[:, use]
    yb = yb[np.isfinite(yb).all(1)]
    if len(yb) < MIN_DRAWS:  # e.g. a scale scored on one or two items only: no covariance to weigh by
        return None
    weight = np.linalg.pinv(np.cov(yb, rowvar=False) + 1e-9 * np.eye(len(x)))
    saturating = len(x) >= MIN_SATURATING_POINTS
    point, boot = _Forms(x, y[None, :], weight, saturating), _Forms(x, yb, weight, saturating)
    n_min, n_max = 10 ** x[0], 10 ** x[-1]
    grid = np.logspace(x[0], math.log10(2 * n_max), CURVE_POINTS)

    cut = tail(items)

    def estimate(p, b) -> Estimate:
        lo, hi = _ci(b, cut)
        return Estimate(value=_num(p[0]), ci_low=lo, ci_high=hi, extrapolated=bool(p[0] > n_max))

    gain_p = point.at(np.array([n_max, 2 * n_max])) @ [-1, 1]
    gain_b = boot.at(np.array([n_max, 2 * n_max])) @ [-1, 1]
    band = boot.at(grid)
    if saturating:
        params = ({"a": float(point.sat[0][0]), "c": float(point.sat[1][0]), "alpha": float(point.sat[2][0]),
                   "n_max": float(n_max)} if point.use_sat[0] else
                  {"a": float(point.lin[0, 0]), "b": float(point.lin[0, 1])})
        aic = {"log-linear": float(point.aic_lin[0]), "saturating": float(point.aic_sat[0])}
    else:
        params, aic = {"a": float(point.lin[0, 0]), "b": float(point.lin[0, 1])}, {"log-linear": float(point.aic_lin[0])}
    return CurveFit(
        form="saturating" if point.use_sat[0] else "log-linear", params=params, aic=aic,
        saturating_share=float(boot.use_sat.mean()),
        doubling_gain=estimate(gain_p, gain_b).model_copy(update={"extrapolated": True}),
        target=target,
        data_needed=estimate(point.size_reaching(target, n_min), boot.size_reaching(target, n_min)),
        flattens_at=estimate(point.size_flattening(thresholds.delta, n_min),
                             boot.size_flattening(thresholds.delta, n_min)),
        curve_sizes=[float(g) for g in grid], curve=[float(v) for v in point.at(grid)[0]],
        curve_low=[float(v) for v in np.percentile(band, 100 * cut, axis=0)],
        curve_high=[float(v) for v in np.percentile(band, 100 * (1 - cut), axis=0)])


def _gls(design: np.ndarray, y: np.ndarray, weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Generalized least squares for every row of y (R, k) and every design (..., k, p) at once:
    coefficients (..., R, p) and chi-square (..., R)."""
    xtw = np.swapaxes(design, -1, -2) @ weight
    coef = np.swapaxes(np.linalg.solve(xtw @ design, xtw @ y.T), -1, -2)
    resid = y - coef @ np.swapaxes(design, -1, -2)
    return coef, np.einsum("...rk,kl,...rl->...r", resid, weight, resid)


def _ci(values: np.ndarray, cut: float) -> tuple[float | None, float | None]:
    """95% percentile interval that keeps infinite draws (not reached) in the ranking."""
    v = values[~np.isnan(values)]
    if not v.size:
        return None, None
    lo, hi = np.quantile(v, [cut, 1 - cut], method="inverted_cdf")
    return _num(lo), _num(hi)


def _num(v) -> float | None:
    """None for a missing value and for infinity (not reached within REACH x the largest scale)."""
    return None if v is None or not np.isfinite(v) else float(v)
