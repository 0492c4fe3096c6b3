"""Power (evalset/power.py) and `evalset advise`: the MDE and item counts are checked against
simulated studies, not against the formula they come from."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy.stats import ttest_1samp
from typer.testing import CliRunner

from instructscale.cli.main import app
from instructscale.datafiles import write_jsonl
from instructscale.evalset.power import advise, items_needed, mde, slope_weights
from instructscale.records import EvalItem, Judgement

SIMS = 4000


def _power(effect: float, sd: float, n: int, rng) -> float:
    """Share of simulated paired studies (n items, per-item contrast SD `sd`) whose two-sided
    5% t-test rejects 'no gain'."""
    x = rng.normal(effect, sd, size=(SIMS, n))
    return float(np.mean(ttest_1samp(x, 0.0, axis=1).pvalue < 0.05))


@pytest.mark.parametrize("n,sd", [(25, 0.3), (50, 0.2), (150, 0.25)])
def test_a_true_gain_of_the_mde_is_detected_80_percent_of_the_time(n, sd):
    rng = np.random.default_rng(n)
    assert _power(mde(sd, n), sd, n, rng) == pytest.approx(0.80, abs=0.03)
    assert _power(mde(sd, n) / 2, sd, n, rng) < 0.4  # half the MDE is mostly missed


def test_items_needed_is_the_smallest_count_that_reaches_80_percent():
    rng = np.random.default_rng(1)
    for sd, delta in [(0.3, 0.1), (0.2, 0.05), (0.5, 0.3)]:
        n = items_needed(sd, delta)
        assert mde(sd, n) <= delta < mde(sd, n - 1)
        assert _power(delta, sd, n, rng) >= 0.77
    assert items_needed(None, 0.1) is None and mde(0.3, 1) is None
    assert items_needed(0.3, 1e-6) is None  # beyond any evaluation set: not reachable


def test_advised_slope_item_count_gives_80_percent_power_for_the_late_slope():
    """Items with their own level and independent noise per scale; the report's test of the late
    slope (per-item least-squares slope, t-test over items) at the advised item count."""
    sizes, delta, diff_sd = [200_000, 600_000, 1_000_000, 2_000_000], 0.15, 0.25
    row = advise(["math"], delta, sizes, late_points=3, sd=0.25, correlation=0.5)[0]
    assert row.diff_sd == pytest.approx(diff_sd)
    n, late = row.slope_items_needed, sizes[-3:]
    w, x = slope_weights(late), np.log10(late)
    rng = np.random.default_rng(3)
    noise_sd = diff_sd / math.sqrt(2)  # per-scale noise whose difference has SD diff_sd
    y = rng.normal(0.5, 0.2, (SIMS, n, 1)) + delta * x + rng.normal(0, noise_sd, (SIMS, n, len(late)))
    rejected = ttest_1samp(y @ w, 0.0, axis=1).pvalue < 0.05
    assert float(np.mean(rejected)) == pytest.approx(0.80, abs=0.03)
    assert row.step_delta == pytest.approx(delta * math.log10(2))  # 1M -> 2M is log10(2) decades


def _pilot(models: int, rng, items: int = 400) -> list[Judgement]:
    """Item level SD 0.2; each model adds independent noise SD 0.1 (paired difference SD 0.1 * sqrt 2)."""
    level = rng.normal(0.5, 0.2, items)
    return [Judgement(item_id=f"m{i}", model=f"model{k}", judge="j", category="math",
                      score=float(np.clip(level[i] + rng.normal(0, 0.1), 0, 1)))
            for k in range(models) for i in range(items)]


def test_advice_from_a_pilot_measures_the_sds():
    rng = np.random.default_rng(5)
    paired = advise(["math"], 0.15, [100, 1000], pilot=_pilot(3, rng))[0]
    assert paired.source == "pilot (paired)"
    assert paired.diff_sd == pytest.approx(0.1 * math.sqrt(2), rel=0.1)
    one = advise(["math"], 0.15, [100, 1000], correlation=0.5, pilot=_pilot(1, rng))[0]
    assert one.source == "pilot (one model)"
    assert one.sd == pytest.approx(math.sqrt(0.2**2 + 0.1**2), rel=0.1)
    assert one.diff_sd == pytest.approx(one.sd)  # sqrt(2 * (1 - 0.5)) = 1
    assert paired.step_items_needed < one.step_items_needed  # a real pairing needs fewer items


def test_cli_advise_with_an_evaluation_set_and_a_pilot(tmp_path):
    rng = np.random.default_rng(7)
    write_jsonl(tmp_path / "eval.jsonl", [EvalItem(id=f"m{i}", category="math", question=f"q{i}") for i in range(25)]
                + [EvalItem(id=f"c{i}", category="code", question=f"c{i}") for i in range(40)])
    pilot = [j.model_copy(update={"category": None}) for j in _pilot(2, rng, items=25)]  # category from the eval set
    write_jsonl(tmp_path / "pilot.jsonl", pilot)
    result = CliRunner().invoke(app, ["evalset", "advise", str(tmp_path / "eval.jsonl"), "--pilot",
                                      str(tmp_path / "pilot.jsonl"), "--delta", "0.2", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    rows = {r["category"]: r for r in out["rows"]}
    assert out["delta"] == 0.2 and out["sizes"] == [200000, 600000, 1000000, 2000000]
    assert rows["math"]["current_items"] == 25 and rows["math"]["source"] == "pilot (paired)"
    assert rows["code"]["current_items"] == 40 and rows["code"]["source"] == "assumed"
    assert rows["code"]["step_mde_now"] == pytest.approx(mde(0.25, 40))
    table = CliRunner().invoke(app, ["evalset", "advise", "--sizes", "100,1000"], env={"COLUMNS": "200"})
    assert table.exit_code == 0 and "summarization" in table.output and "items needed" in table.output


def test_cli_advise_bad_sizes_is_a_one_line_error():
    result = CliRunner().invoke(app, ["evalset", "advise", "--sizes", "1000"])
    assert result.exit_code == 2
    assert "--sizes" in result.output


@pytest.mark.parametrize("slope_sd", [0.2, 0.3])
def test_advised_counts_give_80_percent_power_for_the_verdict_they_size(slope_sd):
    """Through the report's own bootstrap and verdict rule (not a t-test; report/simulate.py): at
    `items_needed(claim="gain")` a true late slope of delta is called improving 80% of the time; at
    `items_needed(claim="no gain")` a true slope of 0 is called plateaued 80% of the time (the gain-sized
    count gives it about 65%). 500 simulated categories per check: the Monte Carlo SE of a share near
    80% is 1.8 points, so 80% +- 4.5 points (2.5 SE)."""
    from instructscale.report.config import VerdictThresholds
    from instructscale.report.simulate import late_slope_verdicts

    t, sims, rng = VerdictThresholds(), 500, np.random.default_rng(int(slope_sd * 100))
    n_gain = items_needed(slope_sd, t.delta)
    n_flat = items_needed(slope_sd, t.delta, claim="no gain")
    assert n_flat > n_gain
    gain = late_slope_verdicts(slope_sd, t.delta, n_gain, sims, 400, t, rng)["improving"] / sims
    flat = late_slope_verdicts(slope_sd, 0.0, n_flat, sims, 400, t, rng)["plateaued"] / sims
    assert abs(gain - 0.80) <= 0.045 and abs(flat - 0.80) <= 0.045, (n_gain, gain, n_flat, flat)
