"""Power, response-sample and training-seed variance, judge length bias, self-preference and
unscored answers in the report, on synthetic runs whose truth is planted (real writers, real
build_report)."""

from __future__ import annotations

import json
import math
from collections import defaultdict
from statistics import fmean

import numpy as np
import pytest

from instructscale.datafiles import write_jsonl
from instructscale.records import EvalItem, Judgement, Response
from instructscale.report import ReportConfig, build_report
from instructscale.report.stats import bootstrap_items
from instructscale.report.variance import bootstrap_seeds_items, sample_split, seed_split
from instructscale.runindex import RunIndex, ScaleEntry, save_index

SIZES = [(0, "base"), (100, "100"), (1000, "1K"), (10000, "10K")]
ITEMS = 60
SEED_OFFSETS = [-0.08, 0.0, 0.08]  # planted training-seed effects (SD 0.08)
ITEM_SD, SAMPLE_SD, REPEAT_SD = 0.10, 0.06, 0.03  # planted: item level, response sample, judge repeat
LENGTH_GAIN = 0.0005  # extraction: the judge adds this per character; quality does not change with data


def write_study(root, seeds=(0, 1, 2), samples=2, teacher="Qwen/Qwen2.5-72B", judge_model="qwen2.5-72b",
                seed=0):
    """Two categories: math gains 0.1 per tenfold data in quality, answers of constant length;
    extraction has constant quality but answers 100 characters longer per tenfold data, and a
    judge that rewards length. Tuned scales are trained with `seeds` (planted offsets)."""
    rng = np.random.default_rng(seed)
    items = [EvalItem(id=f"{c}-{i:02d}", category=c, question=f"{c} {i}?") for c in ("math", "extraction")
             for i in range(ITEMS)]
    level = {it.id: rng.normal(0, ITEM_SD) for it in items}
    scales, responses, judgements = [], [], []
    for size, label in SIZES:
        for k, s in enumerate(seeds if size else [None]):
            model = f"m{size}" + ("" if s is None else f"-s{s}")
            scales.append(ScaleEntry(model=model, size=size, label=label, seed=s))
            offset = SEED_OFFSETS[k] if size and len(seeds) > 1 else 0.0
            decades = math.log10(size) if size else 1.0
            for it in items:
                unscored = it.category == "math" and size == 100 and it.id < "math-02"  # 2 items, every repeat
                for sample in range(samples):
                    if it.category == "math":
                        length, quality = 200 + rng.integers(-40, 40), 0.3 + 0.1 * decades
                    else:
                        length, quality = 100 * decades + rng.integers(-60, 60), 0.45
                    text = "x" * int(length)
                    responses.append(Response(item_id=it.id, model=model, sample=sample, response=text))
                    bias = LENGTH_GAIN * (length - 250) if it.category == "extraction" else 0.0
                    answer = quality + level[it.id] + offset + bias + rng.normal(0, SAMPLE_SD)
                    for repeat in range(2):
                        score = float(np.clip(answer + rng.normal(0, REPEAT_SD), 0, 1))
                        judgements.append(Judgement(item_id=it.id, model=model, judge="judge-llm", repeat=repeat,
                                                    sample=sample, score=None if unscored else score))
    write_jsonl(root / "eval.jsonl", items)
    write_jsonl(root / "responses.jsonl", responses)
    write_jsonl(root / "judgements.jsonl", judgements)
    save_index(root, RunIndex(name="checks", eval="eval.jsonl", responses=["responses.jsonl"],
                              judgements={"judge-llm": "judgements.jsonl"}, primary_judge="judge-llm",
                              scales=scales, teacher_model=teacher, judge_models={"judge-llm": judge_model}))
    return root


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    root = write_study(tmp_path_factory.mktemp("seeded"))
    return root, build_report(ReportConfig(run_dir=root, bootstrap_samples=400))


def test_seed_replicates_are_one_cell_whose_mean_averages_seeds(seeded):
    root, s = seeded
    assert s.scales == ["base", "100", "1K", "10K"]
    by = defaultdict(list)
    for line in (root / "judgements.jsonl").read_text().splitlines():
        j = json.loads(line)
        if j.get("score") is not None:
            by[(j["model"], j["item_id"])].append(j["score"])
    math_row = next(r for r in s.rows if r.category == "math")
    for cell, size in zip(math_row.cells[1:], (100, 1000, 10000)):
        per_item = [fmean(fmean(by[(f"m{size}-s{k}", f"math-{i:02d}")]) for k in range(3)
                          if by[(f"m{size}-s{k}", f"math-{i:02d}")]) for i in range(ITEMS)
                    if any(by[(f"m{size}-s{k}", f"math-{i:02d}")] for k in range(3))]
        assert cell.mean == pytest.approx(fmean(per_item))
    assert math_row.trend.slope == pytest.approx(0.1, abs=0.03)


def test_seed_variance_is_measured_and_widens_the_cis(seeded, tmp_path):
    root, s = seeded
    diag = json.loads((root / "report" / "diagnostics.json").read_text())
    rows = {(r["category"], r["label"]): r for r in diag["seed_variance"]}
    assert set(rows) == {(c, lab) for c in ("math", "extraction") for lab in ("100", "1K", "10K", "all")}
    planted_var = np.var(SEED_OFFSETS, ddof=1)  # the planted offsets' own variance
    assert rows[("math", "all")]["seed_var"] == pytest.approx(planted_var, rel=0.35)
    assert rows[("math", "all")]["seed_share"] > 0.5  # 3 seeds with SD 0.08 outweigh 60 items' noise
    single = build_report(ReportConfig(run_dir=write_study(tmp_path / "one", seeds=(0,)), bootstrap_samples=400))
    width = {r.category: r.cells[2].ci_high - r.cells[2].ci_low for r in single.rows}
    for r in s.rows[:2]:
        assert r.cells[2].ci_high - r.cells[2].ci_low > 2 * width[r.category]
    assert "seed-variance-table" in (root / "report" / "report.html").read_text()
    assert json.loads((tmp_path / "one" / "report" / "diagnostics.json").read_text())["seed_variance"] == []


def test_one_explicit_seed_per_scale_reports_like_an_index_without_seeds(tmp_path):
    """Old indexes (no seeds) take the unchanged path; one seed per scale is the same study."""
    root = write_study(tmp_path / "a", seeds=(0,))
    plain = build_report(ReportConfig(run_dir=root, bootstrap_samples=200, out=tmp_path / "with_seed"))
    index = json.loads((root / "index.json").read_text())
    for entry in index["scales"]:
        entry.pop("seed")
    (root / "index.json").write_text(json.dumps(index))
    old = build_report(ReportConfig(run_dir=root, bootstrap_samples=200, out=tmp_path / "without"))
    assert [r.model_dump() for r in old.rows] == [r.model_dump() for r in plain.rows]


def test_response_sample_share_matches_the_planted_variances(seeded):
    root, _ = seeded
    diag = json.loads((root / "report" / "diagnostics.json").read_text())
    row = next(r for r in diag["sample_variance"] if r["category"] == "math" and r["label"] == "all")
    assert row["samples_per_item"] == pytest.approx(2.0, abs=0.05)
    assert row["sample_var"] == pytest.approx(SAMPLE_SD ** 2, rel=0.3)
    assert row["repeat_var"] == pytest.approx(REPEAT_SD ** 2, rel=0.2)
    # the split is within one model, so a seed's offset is shared by all its items: item part = ITEM_SD^2
    assert row["item_var"] == pytest.approx(ITEM_SD ** 2, rel=0.35)
    truth = SAMPLE_SD ** 2 / (ITEM_SD ** 2 + SAMPLE_SD ** 2 + REPEAT_SD ** 2)
    assert row["sample_share"] == pytest.approx(truth, abs=0.08)


def test_sample_split_recovers_planted_components_and_needs_two_samples():
    rng = np.random.default_rng(11)
    answers = {}
    for i in range(600):
        level = 0.5 + rng.normal(0, 0.12)
        answers[f"i{i}"] = {s: list(level + rng.normal(0, 0.06) + rng.normal(0, 0.03, 3)) for s in range(3)}
    r = sample_split(answers, "c", "x")
    assert r.item_var == pytest.approx(0.0144, rel=0.15)
    assert r.sample_var == pytest.approx(0.0036, rel=0.15)
    assert r.repeat_var == pytest.approx(0.0009, rel=0.1)
    one = sample_split({k: {0: v[0]} for k, v in answers.items()}, "c", "x")
    assert one.sample_var is None and one.sample_share is None


def test_seed_split_recovers_planted_components():
    rng = np.random.default_rng(12)
    y = 0.5 + rng.normal(0, 0.15, (400, 1)) + rng.normal(0, 0.05, (1, 40)) + rng.normal(0, 0.05, (400, 40))
    r = seed_split(y, "c", "x")
    assert r.item_var == pytest.approx(0.0225, rel=0.15)
    assert r.seed_var == pytest.approx(0.0025, rel=0.35)
    assert r.residual_var == pytest.approx(0.0025, rel=0.05)


def test_hierarchical_bootstrap_covers_the_mean_over_seeds_where_items_alone_do_not():
    """Truth: the population mean over items and seeds (0.5). 5 seeds with SD 0.05, 60 items."""
    rng = np.random.default_rng(13)
    sims, covered_h, covered_i = 150, 0, 0
    for _ in range(sims):
        y = 0.5 + rng.normal(0, 0.15, (60, 1)) + rng.normal(0, 0.05, (1, 5)) + rng.normal(0, 0.05, (60, 5))
        lo, hi = np.percentile(bootstrap_seeds_items(y[:, None, :], [5], 500, rng).boot_means, [2.5, 97.5])
        covered_h += lo <= 0.5 <= hi
        lo, hi = np.percentile(bootstrap_items(y.mean(1)[:, None], 500, rng).boot_means, [2.5, 97.5])
        covered_i += lo <= 0.5 <= hi
    assert covered_h / sims >= 0.86
    assert covered_i / sims <= covered_h / sims - 0.08


def test_length_bias_controlled_mean_removes_a_pure_length_gain(seeded):
    root, _ = seeded
    diag = json.loads((root / "report" / "diagnostics.json").read_text())
    bias = {b["category"]: b for b in diag["length_bias"]}
    ext, mth = bias["extraction"], bias["math"]
    assert ext["per_1000_chars"] == pytest.approx(1000 * LENGTH_GAIN, rel=0.25)
    assert ext["spearman"] > 0.3
    raw = [c["raw_mean"] for c in ext["cells"][1:]]
    controlled = [c["controlled_mean"] for c in ext["cells"][1:]]
    assert raw[-1] - raw[0] > 0.08  # the raw curve rises with answer length...
    assert abs(controlled[-1] - controlled[0]) < 0.03  # ...the length-controlled one does not
    assert [round(c["mean_chars"], -2) for c in ext["cells"][1:]] == [200, 300, 400]
    for c in mth["cells"][1:]:  # math: length unrelated to score, so both means agree
        assert c["controlled_mean"] == pytest.approx(c["raw_mean"], abs=0.02)
    lines = (root / "report" / "length_bias.csv").read_text().splitlines()
    assert lines[0].startswith("category,spearman,per_1000_chars,label,answers,mean_chars,raw_mean,controlled_mean")
    assert len(lines) == 1 + 2 * 4


def test_power_rows_in_json_csv_markdown_and_html(seeded):
    root, _ = seeded
    out = root / "report"
    power = {p["category"]: p for p in json.loads((out / "diagnostics.json").read_text())["power"]}
    m = power["math"]
    assert m["items"] == ITEMS and m["delta"] == pytest.approx(0.15)
    assert m["step_delta"] == pytest.approx(0.15)  # 1K -> 10K is one decade
    assert 0 < m["step_mde"] < 0.2 and m["step_items_needed"] >= 2
    assert (out / "power.csv").read_text().splitlines()[0].startswith("category,items,step_sd")
    md = (out / "diagnostics.md").read_text()
    assert "## Power" in md and "## Judge length bias" in md and "## Training seeds" in md
    html = (out / "report.html").read_text()
    power_table = html[html.index('id="power-table"'):].split("</table>")[0]
    assert f'<td class="l">Math</td><td>{ITEMS}</td><td>{m["step_mde"]:.3f}</td>' in power_table


def test_unscored_answers_are_counted_per_category_and_scale(seeded):
    root, _ = seeded
    rows = json.loads((root / "report" / "diagnostics.json").read_text())["unscored_answers"]
    got = {(r["category"], r["scale"]): (r["unscored_answers"], r["answers"]) for r in rows}
    assert got[("math", "100")] == (2 * 3, ITEMS * 3)  # 2 items x 3 seeds, every repeat unscored
    assert got[("math", "1K")] == (0, ITEMS * 3) and got[("extraction", "100")] == (0, ITEMS * 3)
    assert got[("math", "base")] == (0, ITEMS)
    assert "2 of 60" not in (root / "report" / "diagnostics.md").read_text()
    assert "6 of 180" in (root / "report" / "diagnostics.md").read_text()


def test_self_preference_warning_only_when_judge_is_the_teacher(seeded, tmp_path):
    root, s = seeded
    assert len(s.warnings) == 1 and "self-preference" in s.warnings[0] and "judge-llm" in s.warnings[0]
    html = (root / "report" / "report.html").read_text()
    assert "self-preference" in html
    assert json.loads((root / "report" / "diagnostics.json").read_text())["warnings"] == s.warnings
    other = write_study(tmp_path / "other", seeds=(0,), samples=1, judge_model="gpt-4o")
    assert build_report(ReportConfig(run_dir=other, bootstrap_samples=100)).warnings == []
    unknown = write_study(tmp_path / "unknown", seeds=(0,), samples=1, teacher=None)
    summary = build_report(ReportConfig(run_dir=unknown, bootstrap_samples=100))
    assert summary.warnings == []
    assert json.loads((unknown / "report" / "diagnostics.json").read_text())["sample_variance"] == []
