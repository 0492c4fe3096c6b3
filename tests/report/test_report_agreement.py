"""Agreement figures by simulation with a planted agreement level: Krippendorff's alpha
between judges, of a judge's repeats and with people (the rating sheet, through the CLI)."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from typer.testing import CliRunner

from instructscale.cli.main import app
from instructscale.errors import InputError
from instructscale.report import ReportConfig, build_report
from instructscale.report.agreement import alpha_ci, krippendorff_alpha
from instructscale.report.human import human_agreement, items_for_width
from instructscale.report.load import load_run

from report_synth import JUDGE, make_run

NAN = np.nan


def test_alpha_matches_krippendorffs_published_example():
    # Krippendorff (2011), "Computing Krippendorff's alpha-reliability", 4 observers x 12 units,
    # interval metric: alpha = 0.849
    data = np.array([[1, 1, NAN, 1], [2, 2, 3, 2], [3, 3, 3, 3], [3, 3, 3, 3], [2, 2, 2, 2], [1, 2, 3, 4],
                     [4, 4, 4, 4], [1, 1, 2, 1], [2, 2, 2, 2], [NAN, 5, 5, 5], [NAN, NAN, 1, 1], [NAN, NAN, 3, NAN]])
    assert krippendorff_alpha(data) == pytest.approx(0.849, abs=5e-4)
    assert krippendorff_alpha(np.ones((5, 2))) is None  # no variation: undefined, not 1


@pytest.mark.parametrize("noise_sd", [0.1, 0.3])
def test_alpha_ci_covers_a_planted_agreement_level(noise_sd):
    """Two raters = truth + independent noise: interval alpha = var(truth) / (var(truth) + var(noise))."""
    rng = np.random.default_rng(int(noise_sd * 10))
    truth_sd = 0.25
    planted = truth_sd ** 2 / (truth_sd ** 2 + noise_sd ** 2)
    covered = 0
    for _ in range(60):
        truth = rng.normal(0.5, truth_sd, 150)
        data = truth[:, None] + rng.normal(0, noise_sd, (150, 2))
        alpha, lo, hi = alpha_ci(data, samples=300, seed=1)
        assert alpha == pytest.approx(planted, abs=0.2)
        covered += lo <= planted <= hi
    assert covered / 60 > 0.85


def test_report_shows_repeat_and_judge_agreement_and_verdicts_by_judge(tmp_path):
    summary = build_report(ReportConfig(run_dir=make_run(tmp_path / "run"), bootstrap_samples=200))
    diag = json.loads(open(summary.files["diagnostics"], encoding="utf-8").read())
    # report_synth: item level sd 0.08 plus repeat noise sd 0.05 around a planted mean per category and scale;
    # the reference judge = level + sd 0.02
    repeats = {r["category"]: r for r in diag["repeat_agreement"] if r["judge"] == JUDGE}
    assert repeats["all"]["alpha_low"] <= repeats["all"]["alpha"] <= repeats["all"]["alpha_high"]
    assert repeats["all"]["alpha"] > 0.9  # the scales' levels differ much more than repeats
    assert repeats["math"]["alpha"] < repeats["all"]["alpha"]  # within math only the item noise is left
    agree = {g["category"]: g for g in diag["agreement"]}
    assert agree["all"]["alpha"] > 0.9 and agree["all"]["mean_abs_diff"] < 0.06
    verdicts = {v["category"]: v for v in diag["verdicts_by_judge"]}
    assert set(verdicts["extraction"]["verdicts"]) == {JUDGE, "reference"}
    assert verdicts["extraction"]["agree"] and verdicts["extraction"]["verdicts"][JUDGE] == "improving"
    html = open(summary.files["html"], encoding="utf-8").read()
    assert 'id="verdicts-by-judge-table"' in html and 'id="repeat-agreement-table"' in html
    assert diag["human_agreement"] is None and 'id="human-agreement-table"' not in html


def _rate(sheet_csv, key_path, scores, noise_sd, seed, out):
    """An annotator: the judge's item score plus noise, clipped to [0, 1]."""
    rng = np.random.default_rng(seed)
    key = {json.loads(line)["id"]: json.loads(line) for line in open(key_path, encoding="utf-8")}
    with open(sheet_csv, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        k = key[r["id"]]
        r["score"] = f"{float(np.clip(scores[(k['model'], k['item_id'])].score + rng.normal(0, noise_sd), 0, 1)):.3f}"
    with open(out, "w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return out


def test_rating_sheet_round_trip_recovers_the_planted_human_agreement(tmp_path):
    run_dir = make_run(tmp_path / "run")
    runner = CliRunner()
    res = runner.invoke(app, ["judge", "sheet", str(run_dir), "--out", str(tmp_path / "sheet"), "--ci-width", "0.6"])
    assert res.exit_code == 0, res.output
    per_category = items_for_width(0.6)
    with open(tmp_path / "sheet.csv", encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["id", "category", "question", "reference", "answer", "score", "comment"]
    assert "model" not in rows[0] and all(r["score"] == "" for r in rows)  # blind, empty
    counts = {c: sum(r["category"] == c for r in rows) for c in ("math", "extraction", "translation")}
    assert counts == {c: min(per_category, 120) for c in counts}  # 30 items x 4 scales = 120 answers per category
    keys = [json.loads(line) for line in open(tmp_path / "sheet.key.jsonl", encoding="utf-8")]
    scale_share = {m: sum(k["model"] == m for k in keys) for m in {k["model"] for k in keys}}
    assert max(scale_share.values()) - min(scale_share.values()) <= 3  # stratified over the scales

    scores = load_run(run_dir).scores[JUDGE]
    a = _rate(tmp_path / "sheet.csv", tmp_path / "sheet.key.jsonl", scores, 0.05, 1, tmp_path / "ann1.csv")
    b = _rate(tmp_path / "sheet.csv", tmp_path / "sheet.key.jsonl", scores, 0.05, 2, tmp_path / "ann2.csv")
    res = runner.invoke(app, ["judge", "agreement", str(a), str(b), str(run_dir),
                              "--key", str(tmp_path / "sheet.key.jsonl")])
    assert res.exit_code == 0, res.output
    result = json.loads((run_dir / "human" / "agreement.json").read_text(encoding="utf-8"))
    rows = {(tuple(r["raters"]), r["category"]): r for r in result["rows"]}
    judge_all = rows[((JUDGE, "human"), "all")]
    # the mean of two annotators has noise sd 0.05 / sqrt(2) around the judge
    values = np.array([s.score for s in scores.values() if s.score is not None])
    planted = values.var() / (values.var() + 0.05 ** 2 / 2)
    assert judge_all["alpha_low"] - 0.02 <= planted <= judge_all["alpha_high"] + 0.02
    assert judge_all["mean_abs_diff"] == pytest.approx(0.05 / np.sqrt(2) * np.sqrt(2 / np.pi), abs=0.015)
    assert rows[(("human", "human"), "all")]["alpha"] > 0.9
    summary = build_report(ReportConfig(run_dir=run_dir, bootstrap_samples=200))
    assert 'id="human-agreement-table"' in open(summary.files["html"], encoding="utf-8").read()


def test_a_bad_score_names_file_line_and_field(tmp_path):
    run_dir = make_run(tmp_path / "run")
    CliRunner().invoke(app, ["judge", "sheet", str(run_dir), "--out", str(tmp_path / "sheet"), "--per-category", "2"])
    with open(tmp_path / "sheet.csv", encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    rows[0]["score"], rows[1]["score"] = "0.5", "8"  # 8 is not in [0, 1]
    with open(tmp_path / "bad.csv", "w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    with pytest.raises(InputError, match=r"bad.csv, line 3, field .score.: score 8 is outside \[0, 1\]"):
        human_agreement([tmp_path / "bad.csv"], run_dir, key=tmp_path / "sheet.key.jsonl")
    res = CliRunner().invoke(app, ["judge", "agreement", str(tmp_path / "sheet.csv"), str(run_dir)])
    assert res.exit_code == 2 and "no row has a score" in res.output
