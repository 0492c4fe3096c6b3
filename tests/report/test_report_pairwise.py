"""Pairwise statistics by simulation with known truth (CI coverage, length control, Bradley-Terry)
and the report's pairwise.csv, figure and HTML section from a run with a pairwise judge."""

from __future__ import annotations

import csv
import math
import random

import numpy as np
import pytest

from instructscale.datafiles import write_jsonl
from instructscale.records import PairJudgement
from instructscale.report import ReportConfig, build_report
from instructscale.report.pairwise import bootstrap_ci, bradley_terry_ci, length_controlled
from instructscale.runindex import load_index, save_index

from report_synth import SCALES, make_run


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def test_win_rate_ci_covers_the_true_rate_95_percent_of_the_time():
    rng = np.random.default_rng(1)
    truth = np.array([0.3, 0.65])  # two scales; outcomes 1 / 0.5 / 0 with 20% ties
    covered, sims = np.zeros(2), 200
    for s in range(sims):
        tie = rng.random((60, 2)) < 0.2
        win = rng.random((60, 2)) < (truth - 0.1) / 0.8  # mean = 0.8 P(win) + 0.1 = truth
        outcomes = np.where(tie, 0.5, win.astype(float))
        lo, hi = bootstrap_ci(outcomes, 400, seed=s)
        covered += [lo[k] <= truth[k] <= hi[k] for k in range(2)]
    assert np.all((covered / sims > 0.89) & (covered / sims < 0.99)), covered / sims


def test_length_controlled_win_rate_removes_a_planted_length_preference():
    rng = np.random.default_rng(2)
    n = 1500
    scale = rng.integers(0, 2, n)
    diff = rng.normal(150, 200, n)  # the models' answers are longer than the reference, mostly
    sd = diff.std()
    quality = np.array([0.0, 1.0])  # scale 0: as good as the reference; scale 1: better
    p = _sigmoid(quality[scale] + 1.5 * np.tanh(diff / sd))  # the judge also likes length
    y = (rng.random(n) < p).astype(float)
    raw = [y[scale == k].mean() for k in range(2)]
    lc = length_controlled(scale, diff, y, 2)
    assert raw[0] > 0.58  # the length preference alone
    assert lc[0] == pytest.approx(0.5, abs=0.06)
    assert lc[1] == pytest.approx(_sigmoid(1.0), abs=0.06)
    # no length effect planted: LC and raw agree
    y0 = (rng.random(n) < _sigmoid(quality[scale])).astype(float)
    assert length_controlled(scale, diff, y0, 2)[0] == pytest.approx(y0[scale == 0].mean(), abs=0.06)


def test_bradley_terry_recovers_planted_strengths_within_its_intervals():
    rng = np.random.default_rng(3)
    strengths = np.array([-1.0, 0.0, 1.2])
    covered = 0
    for s in range(40):
        outcomes = (rng.random((150, 3)) < _sigmoid(strengths)).astype(float)
        bt, lo, hi = bradley_terry_ci(outcomes, 300, seed=s)
        assert np.allclose(bt, strengths, atol=0.6)
        covered += sum(lo[k] <= strengths[k] <= hi[k] for k in range(3))
    assert covered / 120 > 0.88


PLANTED = {0: 0.2, 100: 0.4, 1000: 0.6, 10000: 0.8}  # P(the scale's answer wins) against golden


def _pairwise_run(tmp_path, bias: float = 0.3):
    """The synthetic run plus a pairwise judge whose first-position bias is `bias`."""
    root = make_run(tmp_path / "run")
    rng = random.Random(0)
    items = [f"{c}-{i:02d}" for c in ("math", "extraction", "translation") for i in range(30)]
    records = []
    for model, size, _ in SCALES:
        for item in items:
            better = rng.random() < PLANTED[size]
            for swapped in (False, True):
                first = rng.random() < bias  # the judge names answer A whatever it sees
                model_wins = (not swapped) if first else better
                records.append(PairJudgement(item_id=item, model=model, against="golden", judge="pj", swapped=swapped,
                                             category=item.split("-")[0], verdict="win" if model_wins else "loss"))
    write_jsonl(root / "pairs.jsonl", records)
    index = load_index(root)
    index.pairwise = {"pj": "pairs.jsonl"}
    save_index(root, index)
    return root


def test_report_writes_pairwise_csv_figure_and_html(tmp_path):
    root = _pairwise_run(tmp_path)
    summary = build_report(ReportConfig(run_dir=root, bootstrap_samples=300))
    with open(summary.files["pairwise_csv"], encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert {"category", "scale", "win_rate", "ci_low", "ci_high", "inconsistent", "lc_win_rate",
            "bt_strength"} <= set(rows[0])
    overall = {int(r["size"]): r for r in rows if r["category"] == "all"}
    assert sorted(overall) == sorted(PLANTED)
    for size, r in overall.items():  # 90 items; the position bias cancelled
        assert float(r["ci_low"]) - 0.05 <= PLANTED[size] <= float(r["ci_high"]) + 0.05
        assert float(r["inconsistent"]) == pytest.approx(0.3, abs=0.1)  # = the position bias
        wins, n = float(r["win_rate"]) * int(r["items"]), int(r["items"])  # one pair per item here
        assert math.isclose(float(r["bt_strength"]), math.log((wins + 0.5) / (n - wins + 0.5)), abs_tol=1e-4)
    wins = [float(overall[s]["win_rate"]) for s in sorted(overall)]
    assert wins == sorted(wins)
    assert summary.files["pairwise_png"].endswith("pairwise.png")
    html = open(summary.files["html"], encoding="utf-8").read()
    assert 'id="pairwise-table"' in html and "pj vs golden" in html


def test_no_pairwise_judge_no_pairwise_files(tmp_path):
    summary = build_report(ReportConfig(run_dir=make_run(tmp_path / "run"), bootstrap_samples=200))
    assert "pairwise_csv" not in summary.files
    assert 'id="pairwise-table"' not in open(summary.files["html"], encoding="utf-8").read()
