"""Fitted scaling curves per category: what more data would buy, with bootstrap CIs.

Two forms are fitted to the mean scores at the tuned scales (size > 0), N in training examples:
  log-linear  score = a + b * log10(N)                          (2 parameters)
  saturating  score = a - c * (N / N_max) ** -alpha             (3 parameters; needs 4+ tuned scales)
The means of one category are correlated (the same items at every scale): each form is fitted by
generalized least squares with the paired item bootstrap's covariance of the means made
exchangeable (see _exchangeable_weight), and the form with the lower AIC (chi-square + 2 x
parameters; the variances are measured, not fitted) is used. Every bootstrap draw refits every form and picks again, so the CIs include the uncertainty of
which form fits. Values past the largest scale are extrapolations and flagged as such.

The saturating exponent is searched on a grid from 0.05 to 50 and refined between grid points
(golden-section search in log alpha between the best point's neighbours), so the fit agrees with a
general least-squares optimizer (scipy's curve_fit) where its optimum lies inside that range.
An exponent at either end of the range, or one that fits no better than an end does (chi-square
within 0.1%), means the scales measured do not pin the bend down (the curve is then a line in
log N, or a step at the smallest scale): the fit says so, and where the curve reaches the target
or flattens is reported as not identified instead of as a number.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
from pydantic import BaseModel

from instructscale.report.config import VerdictThresholds
from instructscale.report.intervals import tail

ALPHAS = np.logspace(math.log10(0.05), math.log10(50.0), 46)  # saturating exponents searched
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
    identified: bool = True  # False: the scales measured do not determine it (value and CI are None)


class CurveFit(BaseModel):
    form: Literal["log-linear", "saturating"]
    params: dict[str, float]  # log-linear: a, b; saturating: a, c, alpha, n_max
    aic: dict[str, float]  # per form fitted
    form_shares: dict[str, float]  # share of bootstrap draws in which each form won
    doubling_gain: Estimate  # fitted score at 2 x N_max minus at N_max (always an extrapolation)
    target: float
    data_needed: Estimate  # training examples to reach `target`; 0 = already at the smallest scale
    flattens_at: Estimate  # where the fitted slope falls below delta per tenfold data; 0 = flat throughout
    curve_sizes: list[float]  # the fitted curve and its 95% band from the smallest scale to 2 x N_max
    curve: list[float]
    curve_low: list[float]
    curve_high: list[float]
    note: str | None = None  # why an estimate is not identified


class _LogLinear:
    """score = a + b log10(N): a straight line on Figure 1's axis."""

    name, n_params = "log-linear", 2

    def __init__(self, x, y, weight):
        self.coef, self.chi = _gls(np.column_stack([np.ones_like(x), x]), y, weight)
        self.a, self.b = self.coef[:, 0], self.coef[:, 1]

    def params(self, row: int) -> dict[str, float]:
        return {"a": float(self.a[row]), "b": float(self.b[row])}

    def at(self, sizes):
        return self.a[:, None] + self.b[:, None] * np.log10(sizes)[None, :]

    def slope_at(self, size):
        return self.b.copy()

    def size_reaching(self, target):
        with np.errstate(over="ignore"):
            return np.where(self.b > 0, 10.0 ** ((target - self.a) / np.where(self.b > 0, self.b, 1)), np.inf)

    def size_flattening(self, delta, n_min):
        return np.where(self.b < delta, 0.0, np.inf)


class _Saturating:
    """score = a - c (N / N_max)^-alpha: rises ever more slowly towards a ceiling a. Linear in a and c for a
    fixed alpha, so it is fitted on a grid of alpha (then refined by golden-section search between the best
    point's neighbours), which keeps thousands of refits fast. The design's column is (N / N_min)^-alpha, at most 1, so that a steep
    exponent (50: 10^50 at N_min / N_max = 0.1) stays well conditioned."""

    name, n_params = "saturating", 3

    def __init__(self, x, y, weight):
        self.n_max = 10 ** x[-1]
        v = 10 ** (x - x[0])  # N / N_min >= 1
        designs = np.stack([np.ones((len(ALPHAS), len(x))), -v[None, :] ** -ALPHAS[:, None]], axis=2)
        coefs, chi = _gls(designs, y, weight)  # (alphas, R, 2), (alphas, R)
        best, rows = chi.argmin(0), np.arange(len(y))
        alpha, coef, chi_best = ALPHAS[best], coefs[best, rows], chi[best, rows]
        inner = (best > 0) & (best < len(ALPHAS) - 1)
        if inner.any():
            log_a = np.log(ALPHAS)
            i = np.clip(best, 1, len(ALPHAS) - 2)
            refined = np.exp(_golden(lambda la: _fit_rows(v[None, :] ** -np.exp(la)[:, None], y, weight)[1],
                                     log_a[i - 1], log_a[i + 1]))
            r_coef, r_chi = _fit_rows(v[None, :] ** -refined[:, None], y, weight)
            better = inner & (r_chi < chi_best)
            alpha, chi_best = np.where(better, refined, alpha), np.where(better, r_chi, chi_best)
            coef = np.where(better[:, None], r_coef, coef)
        # not pinned down: the exponent at an end of the range, or a limit there fits as well (chi-square
        # within 0.1%: e.g. alpha 20 and 50 both a step at the smallest scale)
        tol = 1e-3 * chi_best + 1e-12
        self.at_bound = ~inner | (chi[-1] - chi_best <= tol) | (chi[0] - chi_best <= tol)
        # back to c (N / N_max)^-alpha: c = c' (N_min / N_max)^alpha
        self.a, self.c, self.alpha, self.chi = coef[:, 0], coef[:, 1] * 10 ** ((x[0] - x[-1]) * alpha), alpha, chi_best

    def params(self, row: int) -> dict[str, float]:
        return {"a": float(self.a[row]), "c": float(self.c[row]), "alpha": float(self.alpha[row]),
                "n_max": float(self.n_max)}

    def at(self, sizes):
        return self.a[:, None] - self.c[:, None] * (np.asarray(sizes)[None, :] / self.n_max) ** -self.alpha[:, None]

    def slope_at(self, size):
        return self.c * self.alpha * math.log(10) * (size / self.n_max) ** -self.alpha

    def size_reaching(self, target):
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            ratio = (self.a - target) / self.c
            return np.where((self.c > 0) & (ratio > 0), self.n_max * ratio ** (-1 / self.alpha), np.inf)

    def size_flattening(self, delta, n_min):
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            n = self.n_max * (self.c * self.alpha * math.log(10) / delta) ** (1 / self.alpha)
        return np.where(self.slope_at(n_min) < delta, 0.0, n)


def _golden(f, lo: np.ndarray, hi: np.ndarray, steps: int = 25) -> np.ndarray:
    """Per row, the minimum of f (rows of arguments -> rows of values) between lo and hi by golden-section
    search: the bracket shrinks to 0.618^steps of its width (25 steps: 6e-6 of it)."""
    g = (math.sqrt(5) - 1) / 2
    a, b = lo.astype(float), hi.astype(float)
    c, d = b - g * (b - a), a + g * (b - a)
    fc, fd = f(c), f(d)
    for _ in range(steps):
        left = fc < fd  # the minimum lies in [a, d]
        a, b = np.where(left, a, c), np.where(left, d, b)
        c_new, d_new = b - g * (b - a), a + g * (b - a)
        f_new = f(np.where(left, c_new, d_new))
        c, d = np.where(left, c_new, d), np.where(left, c, d_new)
        fc, fd = np.where(left, f_new, fd), np.where(left, fc, f_new)
    return (a + b) / 2


def _fit_rows(z: np.ndarray, y: np.ndarray, weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Generalized least squares of y = a - c z with one z per row (R, k): the 2 x 2 normal equations
    solved in closed form, so golden-section search can call it 50 times over thousands of rows."""
    wz, wy = z @ weight, y @ weight
    s11, s1z, s1y = weight.sum(), wz.sum(1), wy.sum(1)
    szz, szy = (wz * z).sum(1), (wz * y).sum(1)
    det = s11 * szz - s1z ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        a, c = (s1y * szz - s1z * szy) / det, (s1z * s1y - s11 * szy) / det
    resid = y - a[:, None] + c[:, None] * z
    return np.column_stack([a, c]), np.einsum("rk,kl,rl->r", resid, weight, resid)


class _Forms:
    """Every form fitted to rows of means (R, k); per row the one with the lowest AIC is used."""

    def __init__(self, x: np.ndarray, y: np.ndarray, weight: np.ndarray, saturating: bool):
        self.n_max = 10 ** x[-1]
        kinds = [_LogLinear] + ([_Saturating] if saturating else [])
        self.forms = [kind(x, y, weight) for kind in kinds]
        self.aic = np.stack([f.chi + 2 * f.n_params for f in self.forms])  # (forms, R)
        self.choice = self.aic.argmin(0)

    def _pick(self, values: list[np.ndarray]) -> np.ndarray:
        stacked = np.stack(values)  # (forms, R, ...)
        idx = self.choice.reshape((1, -1) + (1,) * (stacked.ndim - 2))
        return np.take_along_axis(stacked, idx, axis=0)[0]

    def at(self, sizes: np.ndarray) -> np.ndarray:
        """Fitted score at `sizes` (R, len(sizes))."""
        return self._pick([f.at(sizes) for f in self.forms])

    def size_reaching(self, target: float, n_min: float) -> np.ndarray:
        """Smallest size with a fitted score >= target (0 if already at n_min; inf past REACH x N_max)."""
        n = self._pick([f.size_reaching(target) for f in self.forms])
        n = np.where(self.at(np.array([n_min]))[:, 0] >= target, 0.0, n)
        return np.where(n > REACH * self.n_max, np.inf, n)

    def size_flattening(self, delta: float, n_min: float) -> np.ndarray:
        """Smallest size from n_min on past which the fitted slope per tenfold data stays below delta
        (0: flat from the smallest scale)."""
        n = self._pick([f.size_flattening(delta, n_min) for f in self.forms])
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
    weight = _exchangeable_weight(np.cov(yb, rowvar=False))
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
    chosen = point.forms[point.choice[0]]
    needed = estimate(point.size_reaching(target, n_min), boot.size_reaching(target, n_min))
    flattens = estimate(point.size_flattening(thresholds.delta, n_min), boot.size_flattening(thresholds.delta, n_min))
    note = None
    if isinstance(chosen, _Saturating) and chosen.at_bound[0]:
        where = "a step at the smallest scale" if chosen.alpha[0] >= 1 else "a straight line in log N"
        note = (f"the saturating fit's exponent ({chosen.alpha[0]:.3g}) fits no better than an end of the range "
                f"searched (0.05-50), a curve that is {where}: the scales measured do not pin down where it bends, "
                f"so data needed and where it flattens are not identified")
        needed = flattens = Estimate(value=None, ci_low=None, ci_high=None, identified=False)
    return CurveFit(
        form=chosen.name, params=chosen.params(0),
        aic={f.name: float(a) for f, a in zip(point.forms, point.aic[:, 0])},
        form_shares={f.name: float(np.mean(boot.choice == k)) for k, f in enumerate(boot.forms)},
        doubling_gain=estimate(gain_p, gain_b).model_copy(update={"extrapolated": True}),
        target=target,
        data_needed=needed, flattens_at=flattens, note=note,
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


def _exchangeable_weight(cov: np.ndarray) -> np.ndarray:
    """Inverse of the bootstrap covariance of the means made exchangeable (every scale the mean
    variance, every pair the mean covariance). Scores are bounded, so a cell whose items happen to
    score near 1 has a smaller variance; weighting by each cell's own variance would pull the fit
    towards such lucky cells. With exchangeable errors the fit equals ordinary least squares, and the
    chi-square still measures misfit against the paired (within-item) noise."""
    k = len(cov)
    var, covar = np.trace(cov) / k, (cov.sum() - np.trace(cov)) / (k * (k - 1))
    return np.linalg.pinv((var - covar) * np.eye(k) + covar * np.ones((k, k)) + 1e-9 * np.eye(k))


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
