"""Statistics on data with known answers: trends, verdicts, paired differences, NaN handling."""

import numpy as np
import pytest

from instructscale.report.config import VerdictThresholds
from instructscale.report.stats import bootstrap_items, summarize, verdict

SIZES = [0, 100, 1000, 10000]
LABELS = ["base", "100", "1K", "10K"]
T = VerdictThresholds()


def _result(means_per_scale, n=40, noise=0.1, seed=0):
    rng = np.random.default_rng(seed)
    m = np.clip(np.array(means_per_scale)[None, :] + rng.normal(0, noise, (n, len(means_per_scale))), 0, 1)
    boot = bootstrap_items(m, 500, np.random.default_rng(1))
    return m, summarize("c", n, LABELS, SIZES, [0] * 4, boot.means, boot.boot_means, boot.counts, T)


def test_planted_trend_is_improving_with_the_planted_slope():
    m, r = _result([0.1, 0.3, 0.45, 0.6])
    assert r.trend.verdict == "improving"
    assert r.trend.slope == pytest.approx(0.15, abs=0.04)
    assert 0 < r.trend.ci_low < r.trend.slope < r.trend.ci_high
    assert r.trend.points == 3  # the base model is not part of the fit


@pytest.mark.parametrize("level,expected", [(0.12, "flat_poor"), (0.85, "plateaued")])
def test_flat_categories_are_not_improving(level, expected):
    _, r = _result([0.05, level, level, level])
    assert r.trend.verdict == expected
    assert r.trend.ci_low < 0 < r.trend.ci_high


def test_a_curve_that_rose_then_stopped_is_plateaued_not_improving():
    _, r = _result([0.05, 0.4, 0.8, 0.8])  # a clear positive slope over the tuned scales ...
    assert r.trend.slope > 0.1 and r.trend.ci_low > 0
    assert r.trend.last_gain_ci_low < 0  # ... but nothing gained at the largest scale
    assert r.trend.verdict == "plateaued"
    relaxed = VerdictThresholds(last_step_gains=False)
    assert verdict(r.trend.slope, r.trend.ci_low, r.trend.last_mean, relaxed, r.trend.last_gain_ci_low) == "improving"


def test_cell_means_and_intervals_match_the_data():
    m, r = _result([0.2, 0.4, 0.5, 0.7])
    for k, cell in enumerate(r.cells):
        assert cell.mean == pytest.approx(m[:, k].mean())
        assert cell.ci_low < cell.mean < cell.ci_high
        assert cell.scored_items == 40


def test_paired_difference_is_tighter_than_unpaired_noise():
    # a shared per-item difficulty dominates the noise; pairing over items removes it
    rng = np.random.default_rng(3)
    difficulty = rng.uniform(0, 0.8, 60)[:, None]
    m = np.clip(difficulty + np.array([0.0, 0.05, 0.10, 0.15]) + rng.normal(0, 0.01, (60, 4)), 0, 1)
    boot = bootstrap_items(m, 500, np.random.default_rng(0))
    r = summarize("c", 60, LABELS, SIZES, [0] * 4, boot.means, boot.boot_means, boot.counts, T)
    pair = r.pairs[1]  # 100 -> 1K
    assert pair.frm == "100" and pair.to == "1K"
    assert pair.delta == pytest.approx(0.05, abs=0.01)
    assert pair.ci_low > 0.03 and pair.p_not_better == 0.0
    cell_width = r.cells[1].ci_high - r.cells[1].ci_low
    assert pair.ci_high - pair.ci_low < cell_width / 3


def test_unscored_items_are_left_out_not_zero():
    m = np.array([[0.8, 0.9], [np.nan, 0.9], [0.6, np.nan]])
    boot = bootstrap_items(m, 200, np.random.default_rng(0))
    assert list(boot.means) == pytest.approx([0.7, 0.9])
    assert list(boot.counts) == [2, 2]


def test_too_few_tuned_scales_is_undetermined():
    m = np.array([[0.2, 0.5]] * 5)
    boot = bootstrap_items(m, 200, np.random.default_rng(0))
    r = summarize("c", 5, ["base", "1K"], [0, 1000], [0, 0], boot.means, boot.boot_means, boot.counts, T)
    assert r.trend.verdict == "undetermined" and r.trend.slope is None


def test_verdict_thresholds_are_applied_as_stated():
    t = VerdictThresholds(min_slope=0.05, poor_score=0.5)
    assert verdict(0.06, 0.01, 0.3, t) == "improving"
    assert verdict(0.04, 0.01, 0.3, t) == "flat_poor"  # slope below min_slope
    assert verdict(0.06, -0.01, 0.7, t) == "plateaued"  # CI includes 0
    assert verdict(0.06, -0.01, 0.7, VerdictThresholds(min_slope=0.05, ci_excludes_zero=False)) == "improving"
    assert "0.05" in t.describe() and "0.5" in t.describe()
