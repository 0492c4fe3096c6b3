"""Fitted curves on planted data: the chosen form, the gain from doubling, the data needed to reach a
target and where the curve flattens, each with a bootstrap CI that contains the planted value."""

import math

import numpy as np
import pytest

from instructscale.report.config import VerdictThresholds
from instructscale.report.fits import fit_curves
from instructscale.report.stats import bootstrap_items

SIZES = [0, 200_000, 600_000, 1_000_000, 2_000_000]
T = VerdictThresholds()


def _fit(curve, n=300, noise=0.12, target=0.8, sizes=SIZES, seed=0):
    """Items share a difficulty across scales (as real items do); fitted from the paired bootstrap."""
    rng = np.random.default_rng(seed)
    means = np.array([curve(s) for s in sizes])
    m = means[None, :] + rng.normal(0, 0.2, (n, 1)) + rng.normal(0, noise, (n, len(sizes)))
    boot = bootstrap_items(m, 1000, np.random.default_rng(1))
    return fit_curves(sizes, boot.means, boot.boot_means, T, target)


def loglinear(s):
    return 0.1 if s == 0 else 0.55 + 0.3 * math.log10(s / 200_000)


def saturating(s):
    return 0.1 if s == 0 else 0.75 - 0.4 * (s / 200_000) ** -2.5


def test_log_linear_truth_gives_its_doubling_gain_and_data_needed():
    f = _fit(loglinear)
    assert f.form == "log-linear" and f.params["b"] == pytest.approx(0.3, abs=0.05)
    g = f.doubling_gain
    assert g.extrapolated and g.ci_low < 0.3 * math.log10(2) < g.ci_high
    true_needed = 200_000 * 10 ** ((0.8 - 0.55) / 0.3)  # about 1.36M, inside the tuned range
    n = f.data_needed
    assert not n.extrapolated and n.ci_low < true_needed < n.ci_high and n.ci_high < 2_000_000
    assert f.flattens_at.value is None  # a straight line in log N never flattens
    assert f.curve_sizes[0] == pytest.approx(200_000) and f.curve_sizes[-1] == pytest.approx(4_000_000)
    assert all(lo <= v <= hi for lo, v, hi in zip(f.curve_low, f.curve, f.curve_high))


def test_saturated_truth_picks_the_saturating_form_and_says_where_it_flattens():
    f = _fit(saturating)
    assert f.form == "saturating" and f.form_shares["saturating"] > 0.8
    assert f.params["a"] == pytest.approx(0.75, abs=0.03)
    assert abs(f.doubling_gain.value) < 0.02 and f.doubling_gain.ci_high < T.delta * math.log10(2)
    # the planted slope per tenfold data, 0.4 * 2.5 * ln(10) * u**-2.5, falls below delta at u of about 3.2
    true_flat = 200_000 * (0.4 * 2.5 * math.log(10) / T.delta) ** (1 / 2.5)
    assert f.flattens_at.ci_low < true_flat < f.flattens_at.ci_high
    assert f.data_needed.value is None and f.data_needed.ci_low is None  # 0.8 is never reached


def test_target_already_reached_and_not_reached():
    f = _fit(lambda s: 0.9, target=0.8)
    assert f.data_needed.value == 0  # reached at the smallest scale
    f = _fit(lambda s: 0.2, target=0.8)
    assert f.data_needed.value is None and f.flattens_at.value == 0  # flat from the smallest scale


def test_too_few_scales_for_a_fit_and_for_the_saturating_form():
    assert _fit(loglinear, sizes=[0, 200_000, 2_000_000]) is None
    f = _fit(loglinear, sizes=[0, 200_000, 600_000, 2_000_000])
    assert f.form == "log-linear" and set(f.aic) == set(f.form_shares) == {"log-linear"}


def _rss(f, sizes, means):
    p = f.params
    fitted = [p["a"] - p["c"] * (s / p["n_max"]) ** -p["alpha"] for s in sizes]
    return float(sum((m - v) ** 2 for m, v in zip(means, fitted)))


@pytest.mark.parametrize("seed", range(6))
def test_the_saturating_fit_agrees_with_curve_fit(seed):
    """With exchangeable errors the fit is ordinary least squares, so scipy's curve_fit (started from
    several exponents, best kept) is the reference: where its exponent lies inside the range searched,
    the residual sum of squares agrees within 0.5%."""
    from scipy.optimize import curve_fit

    rng = np.random.default_rng(seed)
    truth = (rng.uniform(0.55, 0.85), rng.uniform(0.25, 0.4), rng.uniform(0.7, 3.0))

    def curve(s):
        return 0.1 if s == 0 else truth[0] - truth[1] * (s / 200_000) ** -truth[2]

    f = _fit(curve, n=40, seed=seed)
    if f.form != "saturating":
        pytest.skip("the log-linear form won")
    rng = np.random.default_rng(seed)  # the very same item scores _fit drew
    means = np.array([curve(s) for s in SIZES])[None, :] + rng.normal(0, 0.2, (40, 1)) + rng.normal(0, 0.12, (40, 5))
    y, tuned = means.mean(0)[1:], np.array(SIZES[1:], float)

    def model(n, a, c, alpha):
        return a - c * (n / tuned[-1]) ** -alpha

    fits = []
    for start in (0.3, 1.0, 3.0, 10.0):
        try:
            p, _ = curve_fit(model, tuned, y, p0=[y[-1], 0.1, start], maxfev=20_000)
        except RuntimeError:
            continue
        fits.append((float(((model(tuned, *p) - y) ** 2).sum()), p))
    reference, p = min(fits, key=lambda t: t[0])
    if not 0.05 < p[2] < 50:
        pytest.skip("curve_fit's exponent is outside the range searched")
    assert _rss(f, tuned, y) <= reference * 1.005 + 1e-12
    if p[2] < 5:  # a bend well inside the range is placed; steeper ones may be a step (next test)
        assert f.note is None and f.data_needed.identified


def test_a_bend_the_scales_cannot_place_is_reported_as_not_identified():
    """All of the rise between the two smallest scales, flat after: any steep enough exponent fits as
    well as a step, so where the curve reaches 0.6 (somewhere between 0.2M and 0.6M) is not identified."""
    from instructscale.report.tables import UNIDENTIFIED, fit_cells

    f = _fit(lambda s: 0.1 if s == 0 else (0.3 if s == 200_000 else 0.7), target=0.6, noise=0.02)
    assert f.form == "saturating" and f.note and "not identified" in f.note
    assert not f.data_needed.identified and f.data_needed.value is None and f.data_needed.ci_low is None
    assert fit_cells(f, SIZES)["needed"] == UNIDENTIFIED
    assert abs(f.doubling_gain.value) < 0.02  # what the fit does pin down is still reported
