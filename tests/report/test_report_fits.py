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
