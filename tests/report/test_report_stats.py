"""Statistics on data with known answers: trends, verdicts, paired differences, NaN handling."""

import numpy as np
import pytest

from instructscale.report.config import VerdictThresholds
from instructscale.report.stats import bootstrap_items, judge_trend, summarize

SIZES = [0, 100, 1000, 10000]
LABELS = ["base", "100", "1K", "10K"]
T = VerdictThresholds()


def _result(means_per_scale, n=40, noise=0.1, seed=0, sizes=SIZES):
    rng = np.random.default_rng(seed)
    m = np.clip(np.array(means_per_scale)[None, :] + rng.normal(0, noise, (n, len(means_per_scale))), 0, 1)
    boot = bootstrap_items(m, 500, np.random.default_rng(1))
    labels = [str(s) for s in sizes]
    return m, summarize("c", n, labels, sizes, [0] * len(sizes), boot.means, boot.boot_means, boot.counts, T)


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
    sizes = [0, 100, 1000, 10000, 100000]
    _, r = _result([0.05, 0.4, 0.8, 0.8, 0.8], sizes=sizes)  # a clear rise over the whole range ...
    assert r.trend.slope > 0.1 and r.trend.ci_low > 0
    assert -T.delta < r.trend.late_ci_low < 0 < r.trend.late_ci_high < T.delta  # ... and none at the top
    assert r.trend.verdict == "plateaued"


def test_a_low_curve_that_keeps_rising_is_improving_not_flat_poor():
    sizes = [0, 200, 600, 1000, 2000]  # the study's spacing
    _, r = _result([0.0, 0.05, 0.15, 0.2, 0.27], n=60, noise=0.05, sizes=sizes)
    assert r.trend.last_mean < T.poor_score and r.trend.late_ci_low > 0
    assert r.trend.verdict == "improving"


def test_noisy_data_is_undetermined_and_says_what_would_decide_it():
    _, r = _result([0.1, 0.4, 0.45, 0.5], n=8, noise=0.35)
    assert r.trend.late_ci_low < 0 < T.delta < r.trend.late_ci_high
    assert r.trend.verdict == "undetermined"
    assert "late slope" in r.trend.decide and "items (now 8)" in r.trend.decide


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


def _iv(point, half):
    return point, point - half, point + half


def test_verdict_rule_as_stated():
    t = VerdictThresholds(delta=0.1, poor_score=0.5)
    good, poor, unclear = _iv(0.7, 0.05), _iv(0.3, 0.05), _iv(0.5, 0.1)
    assert judge_trend(_iv(0.3, 0.1), _iv(0.2, 0.15), good, t)[0] == "improving"  # late CI above 0
    assert judge_trend(_iv(0.3, 0.1), _iv(0.05, 0.04), good, t)[0] == "plateaued"  # gain shown, but below delta
    assert judge_trend(_iv(0.3, 0.1), _iv(0.0, 0.08), poor, t)[0] == "plateaued"  # rose, then no gain at the top
    assert judge_trend(_iv(0.0, 0.05), _iv(0.0, 0.08), poor, t)[0] == "flat_poor"
    assert judge_trend(_iv(0.0, 0.05), _iv(0.0, 0.08), good, t)[0] == "plateaued"  # flat and already good
    verdict, decide = judge_trend(_iv(0.0, 0.05), _iv(0.0, 0.08), unclear, t, items=40)
    assert verdict == "undetermined" and "level" in decide
    # a whole-range slope CI above 0 is never called flat, even when the gain is below delta
    assert judge_trend(_iv(0.05, 0.04), _iv(0.0, 0.08), poor, t)[0] == "plateaued"
    verdict, decide = judge_trend(_iv(0.1, 0.1), _iv(0.05, 0.2), poor, t, items=25)
    assert verdict == "undetermined" and "items (now 25)" in decide
    assert "0.1 per tenfold" in t.describe() and "0.5" in t.describe()
