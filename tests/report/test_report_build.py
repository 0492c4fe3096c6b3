"""build_report and the CLI on a synthetic run with planted answers (tests/report/report_synth.py)."""

import csv
import io
import json
import re
from collections import defaultdict
from statistics import fmean

import pytest
from typer.testing import CliRunner

from instructscale.cli.main import app
from instructscale.datafiles import read_records
from instructscale.records import Judgement
from instructscale.report import ReportConfig, build_report
from instructscale.report.tables import display_name
from report_synth import JUDGE, SCALES, TRICKY, UNSCORED_MATH_ITEMS, make_run

SAMPLES = 300


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    run = make_run(root / "run")
    other = make_run(root / "lora", name="lora", seed=1, lift=-0.1)
    summary = build_report(ReportConfig(run_dir=run, bootstrap_samples=SAMPLES, compare=[other]))
    return run, summary


def _expected_means(run):
    """Mean over items of the mean over scored repeats, per (model, category), computed independently."""
    per_item = defaultdict(list)
    for j in read_records(run / "judgements.jsonl", Judgement):
        if j.score is not None:
            per_item[(j.model, j.category, j.item_id)].append(j.score)
    by_cell = defaultdict(list)
    for (model, category, _), scores in per_item.items():
        by_cell[(model, category)].append(fmean(scores))
    return {k: fmean(v) for k, v in by_cell.items()}, by_cell


def test_verdicts_match_the_planted_curves(built):
    _, s = built
    assert s.verdicts["extraction"] == "improving"
    assert s.verdicts["math"] == "flat_poor"
    assert s.verdicts["translation"] == "plateaued"
    extraction = next(r for r in s.rows if r.category == "extraction")
    assert extraction.trend.slope == pytest.approx(0.15, abs=0.03)


def test_table_numbers_and_unscored_counts(built):
    run, s = built
    expected, by_cell = _expected_means(run)
    rows = {r.category: r for r in s.rows}
    assert s.scales == [lab for _, _, lab in SCALES]
    for category in ("math", "extraction", "translation"):
        for (model, _, _), cell in zip(SCALES, rows[category].cells):
            assert cell.mean == pytest.approx(expected[(model, category)])
    math_100 = rows["math"].cells[1]
    assert math_100.scored_items == 30 - UNSCORED_MATH_ITEMS  # fully unscored items are left out, not 0
    assert math_100.unscored == 3 * UNSCORED_MATH_ITEMS + 1
    assert rows["math"].cells[2].unscored == 0
    macro, micro = rows["macro"], rows["micro"]
    for k, (model, _, _) in enumerate(SCALES):
        cats = [expected[(model, c)] for c in ("math", "extraction", "translation")]
        assert macro.cells[k].mean == pytest.approx(fmean(cats))
        pooled = [v for c in ("math", "extraction", "translation") for v in by_cell[(model, c)]]
        assert micro.cells[k].mean == pytest.approx(fmean(pooled))
    assert macro.items == 90


def test_csv_json_markdown_agree(built):
    run, s = built
    out = run / "report"
    wide = {r["category"]: r for r in csv.DictReader((out / "scores.csv").open())}
    rows = {r.category: r for r in s.rows}
    assert set(wide) == {"math", "extraction", "translation", "macro", "micro"}
    assert float(wide["extraction"]["mean@10K"]) == pytest.approx(rows["extraction"].cells[3].mean, abs=1e-6)
    assert wide["math"]["unscored@100"] == str(3 * UNSCORED_MATH_ITEMS + 1)
    assert wide["translation"]["verdict"] == "plateaued"
    long = list(csv.DictReader((out / "scores_long.csv").open()))
    assert len(long) == 5 * 4 and all(float(r["ci_low"]) <= float(r["mean"]) <= float(r["ci_high"]) for r in long)
    data = json.loads((out / "scores.json").read_text())
    assert data["judge"] == JUDGE and data["thresholds"]["delta"] == 0.15 and "improving" in data["thresholds"]["rule"]
    md = (out / "scores.md").read_text()
    assert re.search(r"\| Extraction \| 30 \| .* \| improving \|", md)
    assert "Verdict rule:" in md and "100 → 1K" in md
    # fitted curves: extraction is planted as 0.3 + 0.15 log10(N / 100), so it reaches 0.8 only at about
    # 215K examples, past 10x the largest scale (10K); three tuned scales allow the log-linear form only
    ext = wide["extraction"]
    assert ext["fit"] == "log-linear" and ext["data_needed"] == "" and ext["data_needed_ci_high"] == ""
    assert float(ext["doubling_gain_ci_low"]) < 0.15 * 0.30103 < float(ext["doubling_gain_ci_high"])
    fit = next(r for r in data["rows"] if r["category"] == "extraction")["fit"]
    assert fit["params"]["b"] == pytest.approx(0.15, abs=0.03) and fit["target"] == 0.8
    assert "## Fitted curves" in md and re.search(r"\| Extraction \| log-linear \| .* \| not within 10x", md)


def test_figures_diagnostics_and_composition(built):
    run, s = built
    for kind in ("figure1_png", "figure1_svg", "composition_png", "compare_png", "compare_svg"):
        assert (run / "report").joinpath(s.files[kind].split("/")[-1]).stat().st_size > 1000
    assert open(s.files["figure1_png"], "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    diag = json.loads((run / "report" / "diagnostics.json").read_text())
    health = {(h["judge"], h["category"]): h for h in diag["judges"]}
    assert health[(JUDGE, "math")]["unscored"] == 3 * UNSCORED_MATH_ITEMS + 1
    assert health[(JUDGE, "math")]["unscored_answers"] == UNSCORED_MATH_ITEMS
    assert 0 < health[(JUDGE, "all")]["repeat_spread"] < 0.3
    assert health[("reference", "all")]["repeat_spread"] is None  # one score per answer
    agree = {g["category"]: g for g in diag["agreement"]}
    assert agree["all"]["judges"] == [JUDGE, "reference"] and agree["all"]["spearman"] > 0.9
    assert agree["all"]["pairs"] == 90 * 4 - UNSCORED_MATH_ITEMS
    comp = json.loads((run / "report" / "composition.json").read_text())
    assert [c["size"] for c in comp] == [100, 1000, 10000]
    assert comp[0]["counts"] == {"math": 20, "extraction": 50, "translation": 30}


def test_html_is_self_contained_with_table_figures_and_items(built):
    run, s = built
    html = (run / "report" / "report.html").read_text()
    assert 'id="score-table"' in html and "improving" in html and "Verdict rule." in html
    assert html.count("data:image/png;base64,") == 3  # Figure 1, composition, comparison
    assert not re.search(r"(src|href)=\"https?://", html)  # nothing fetched from the network
    data = json.loads(re.search(r'<script type="application/json" id="items-data">(.*?)</script>', html, re.S).group(1))
    assert len(data["items"]) == 90 and data["judges"] == [JUDGE, "reference"]
    item = next(i for i in data["items"] if i["id"] == "extraction-01")
    assert [a["label"] for a in item["answers"]] == s.scales
    assert item["answers"][-1]["response"] == TRICKY  # survives the round trip ...
    assert TRICKY not in html  # ... and never appears raw in the page
    assert item["change"] == pytest.approx(item["answers"][-1]["scores"][JUDGE] - item["answers"][0]["scores"][JUDGE],
                                           abs=1e-3)
    assert 'id="compare-table"' in html and "lora" in html


def test_compare_outputs(built):
    run, s = built
    assert s.compared == ["lora"]
    rows = list(csv.DictReader((run / "report" / "compare.csv").open()))
    assert {r["run"] for r in rows} == {"synthetic", "lora"}
    ext = {r["run"]: float(r["mean"]) for r in rows if r["category"] == "extraction" and r["scale"] == "10K"}
    assert ext["synthetic"] - ext["lora"] == pytest.approx(0.1, abs=0.05)  # the planted lift
    md = (run / "report" / "compare.md").read_text()
    assert "synthetic vs lora" in md and "| Extraction | lora |" in md

    board = list(csv.DictReader((run / "report" / "leaderboard.csv").open()))
    assert [(b["rank"], b["run"], b["scale"]) for b in board] == [("1", "synthetic", "10K"), ("2", "lora", "10K")]
    for b in board:  # each entry's largest scale, as in the comparison's long table
        for category in ("math", "extraction", "translation", "macro"):
            (cell,) = [r for r in rows if r["run"] == b["run"] and r["category"] == category and r["scale"] == "10K"]
            assert float(b[category]) == float(cell["mean"])
    assert float(board[0]["macro"]) - float(board[1]["macro"]) == pytest.approx(0.1 / 3, abs=0.02)
    lines = (run / "report" / "leaderboard.md").read_text().splitlines()
    assert lines[4].startswith("| rank | run | arm | scale (examples) | Math |") and lines[6].startswith("| 1 | synthetic |")


def test_cli_report_prints_table_and_names_bad_judge(tmp_path):
    run = make_run(tmp_path / "run")
    other = make_run(tmp_path / "lora", name="lora", seed=1, lift=-0.1)
    runner = CliRunner()
    res = runner.invoke(app, ["report", str(run), "--out", str(tmp_path / "rep"), "--judge", "reference",
                              "--bootstrap-samples", "200", "--compare", str(other), "--delta", "0.5"])
    assert res.exit_code == 0, res.output
    # extraction gains 0.15 per tenfold data: shown, but smaller than --delta 0.5, so it is not improving
    assert "Extraction" in res.output and "improving" not in res.output
    res = runner.invoke(app, ["report", str(run), "--out", str(tmp_path / "rep2"), "--bootstrap-samples", "200",
                              "--delta", "0.01"])
    # with a tiny delta, "no gain that matters" cannot be shown for the flat categories: the CLI says what would
    assert res.exit_code == 0 and re.search(r"Translation is undetermined: the late\s+slope .* would", res.output, re.S)
    assert json.loads((tmp_path / "rep" / "scores.json").read_text())["judge"] == "reference"
    assert "| Extraction | lora |" in (tmp_path / "rep" / "compare.md").read_text()
    res = runner.invoke(app, ["report", str(run), "--judge", "nobody"])
    assert res.exit_code == 2 and "nobody" in res.output
    res = runner.invoke(app, ["report", str(tmp_path / "missing")])
    assert res.exit_code == 2 and "index.json" in res.output


def test_partial_run_one_judge_no_manifest(tmp_path):
    """A study still judging: the largest scale has no judgements yet, one judge, no subsets manifest."""
    from instructscale.datafiles import write_jsonl
    from instructscale.runindex import load_index, save_index

    run = make_run(tmp_path / "run")
    judged = [j for j in read_records(run / "judgements.jsonl", Judgement) if j.model != "tuned-10k"]
    write_jsonl(run / "judgements.jsonl", judged)
    index = load_index(run)
    index.judgements = {JUDGE: "judgements.jsonl"}
    index.subsets_manifest = None
    save_index(run, index)
    s = build_report(ReportConfig(run_dir=run, bootstrap_samples=200))
    rows = {r.category: r for r in s.rows}
    last = rows["extraction"].cells[-1]
    assert last.mean is None and last.scored_items == 0 and last.ci_low is None
    assert rows["extraction"].trend.points == 2 and s.verdicts["extraction"] == "improving"
    assert "composition" not in s.files and "compare_png" not in s.files
    html = (run / "report" / "report.html").read_text()
    assert "No subsets manifest" in html and "Only one judge ran" in html
    wide = {r["category"]: r for r in csv.DictReader((run / "report" / "scores.csv").open())}
    assert wide["extraction"]["mean@10K"] == ""


def test_index_judge_names_need_not_match_record_judge_field(tmp_path):
    """A study names its judges; the judge stage writes the judge model's name into each record."""
    from instructscale.datafiles import write_jsonl
    from instructscale.errors import InputError
    from instructscale.runindex import load_index, save_index

    run = make_run(tmp_path / "run")
    index = load_index(run)
    index.judgements = {"chatgpt": "judgements.jsonl", "metrics": "judgements_ref.jsonl"}
    index.primary_judge = "chatgpt"
    save_index(run, index)
    s = build_report(ReportConfig(run_dir=run, bootstrap_samples=200))
    assert s.judge == "chatgpt" and s.verdicts["extraction"] == "improving"
    mixed = read_records(run / "judgements.jsonl", Judgement) + read_records(run / "judgements_ref.jsonl", Judgement)
    write_jsonl(run / "judgements.jsonl", mixed)
    with pytest.raises(InputError, match="several judges"):
        build_report(ReportConfig(run_dir=run, bootstrap_samples=200))


def test_terminal_table_fits_80_columns_with_every_verdict_whole(built):
    from rich.console import Console

    _, summary = built
    console = Console(width=80, record=True, file=io.StringIO())
    console.print(summary.table())
    lines = console.export_text().splitlines()
    assert max(len(line) for line in lines) <= 80 and "…" not in "\n".join(lines)
    assert "late" in lines[1] and "items per category" in lines[0]  # n goes to the title when every category has it
    for row in summary.rows:
        assert any(line.startswith(display_name(row.category)) and line.rstrip().endswith(row.trend.verdict)
                   for line in lines), row.category


def test_item_browser_carries_every_repeats_judge_reply_and_score(built):
    run, s = built
    html = (run / "report" / "report.html").read_text(encoding="utf-8")
    data = json.loads(re.search(r'<script type="application/json" id="items-data">(.*?)</script>', html, re.S).group(1))
    item = next(i for i in data["items"] if i["id"] == "math-00")
    answer = next(a for a in item["answers"] if a["label"] == "100")
    expected = sorted((j.repeat, j.score, j.raw) for j in read_records(run / "judgements.jsonl", Judgement)
                      if j.item_id == "math-00" and j.model == "tuned-100")
    assert [tuple(r) for r in answer["replies"][JUDGE]] == [(score, raw) for _, score, raw in expected]
    assert [r[1] for r in answer["replies"][JUDGE]] == ["no score"] * 3  # an unscored answer shows why
    scored = next(a for a in item["answers"] if a["label"] == "10K")["replies"][JUDGE]
    assert len(scored) == 3 and all(raw == f"得分: {score}" for score, raw in scored)
    assert "function replies(td, a)" in html and "overflow-wrap: anywhere" in html


def test_self_preference_warning_only_when_the_headline_judge_is_the_teacher(tmp_path):
    from instructscale.runindex import load_index, save_index

    run = make_run(tmp_path / "run")
    index = load_index(run)
    save_index(run, index.model_copy(update={"teacher_model": "gpt-4o", "judge_models": {JUDGE: "openai/GPT-4o"}}))
    teacher = build_report(ReportConfig(run_dir=run, bootstrap_samples=100))
    assert len(teacher.warnings) == 1 and f"judge '{JUDGE}' is the teacher model" in teacher.warnings[0]
    reference = build_report(ReportConfig(run_dir=run, bootstrap_samples=100, primary_judge="reference"))
    assert reference.judge == "reference" and reference.warnings == []


def test_one_results_file_and_one_samples_log(built):
    """results.json holds settings, versions, per-category CIs, verdicts and fits; samples.jsonl every
    answer with every judge reply, like lm-eval's --log_samples."""
    run, s = built
    results = json.loads((run / "report" / "results.json").read_text())
    scores = json.loads((run / "report" / "scores.json").read_text())
    assert results["name"] == "synthetic" and results["versions"]["instructscale"] and isinstance(results["git"], dict)
    assert results["config"]["study"] is None and results["config"]["report"]["bootstrap_samples"] == SAMPLES
    main = results["results"]["main"]
    assert {cat: r["verdict"] for cat, r in main.items()} == s.verdicts
    for row in scores["rows"]:
        assert main[row["category"]]["scales"] == row["cells"] and main[row["category"]]["fit"] == row["fit"]
    samples = [json.loads(line) for line in (run / "report" / "samples.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(samples) == len(SCALES) * 90
    row = next(r for r in samples if r["item_id"] == "math-00" and r["model"] == "tuned-100")
    assert row["question"] == "math question 0?" and row["reference"] is None and row["scale"] == "100"
    expected = sorted((j.repeat, j.score, j.raw) for j in read_records(run / "judgements.jsonl", Judgement)
                      if j.item_id == "math-00" and j.model == "tuned-100")
    assert [(r["repeat"], r["score"], r["reply"]) for r in row["judgements"][JUDGE]] == expected
    assert len(row["judgements"]["reference"]) == 1


@pytest.mark.parametrize("how", ["lock", "manifest"])
def test_a_report_while_a_judge_is_still_writing_warns_in_the_console_and_the_report(tmp_path, how):
    from instructscale.datafiles import write_json, write_jsonl
    from instructscale.locks import exclusive

    run = make_run(tmp_path / "run")
    records = read_records(run / "judgements.jsonl", Judgement)
    half = {(j.model, j.item_id) for j in records if j.model in ("base-model", "tuned-100")}
    write_jsonl(run / "judgements.jsonl", [j for j in records if (j.model, j.item_id) in half])
    args = ["report", str(run), "--bootstrap-samples", "100"]
    if how == "lock":
        with exclusive(run / "judgements.jsonl", "the judgement file"):  # what `judge` holds while it appends
            res = CliRunner().invoke(app, args)
    else:
        write_json(run / "manifests" / f"judge__{JUDGE}.json", {"unit": f"judge:{JUDGE}", "status": "running"})
        res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    expected = f"judge '{JUDGE}' is not finished"
    count = f"{len(half)} of {90 * len(SCALES)} answers judged so far"
    text = " ".join(res.output.split())
    assert expected in text and count in text
    html = (run / "report" / "report.html").read_text().replace("&#39;", "'")
    assert expected in html and count in html
    if how == "manifest":
        write_json(run / "manifests" / f"judge__{JUDGE}.json", {"unit": f"judge:{JUDGE}", "status": "done"})
    res = CliRunner().invoke(app, args)  # the judge has finished (lock released, unit done): no warning
    assert res.exit_code == 0 and expected not in " ".join(res.output.split())
    assert expected not in (run / "report" / "report.html").read_text()
