"""The `evalset` commands end to end: user mistakes exit with code 2 and a message that
names the file, line or option, never a traceback."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from instructscale.categories import CATEGORY_IDS
from instructscale.cli.main import app
from instructscale.datafiles import write_jsonl
from instructscale.evalset import read_eval_items
from instructscale.records import InstructionExample


def invoke(*args):
    return CliRunner().invoke(app, ["evalset", *map(str, args)])


def flat(text: str) -> str:
    """Output without the error panel's frame and line wrapping, for substring checks."""
    return "".join(ch for ch in text if not ch.isspace() and ch not in "│╭╮╰╯─")


@pytest.fixture
def pool(tmp_path):
    path = tmp_path / "pool.jsonl"
    write_jsonl(path, [InstructionExample(instruction=f"{cat} 第{i}题", output=f"{cat} 答{i}", category=cat)
                       for cat in CATEGORY_IDS for i in range(4)])
    return path


def test_help_lists_every_command():
    result = invoke("--help")
    assert result.exit_code == 0
    for command in ("import", "stats", "build", "export", "merge", "decontam"):
        assert command in result.output


def test_build_by_factor_and_by_spelled_counts(tmp_path, pool):
    out = tmp_path / "e.jsonl"
    result = invoke("build", "--pool", pool, "--out", out, "--factor", "0.01", "--seed", "3")
    assert result.exit_code == 0, result.output
    counts = [i.category for i in read_eval_items(out)]
    assert len(counts) == 22 and counts.count("translation") == counts.count("summarization") == 1  # 147, 142 x 0.01
    assert "too few" not in result.output
    result = invoke("build", "--pool", pool, "--out", out, "--counts", "Open QA=3, 翻译=1")
    assert result.exit_code == 0, result.output
    assert [i.category for i in read_eval_items(out)] == ["open_qa"] * 3 + ["translation"]


@pytest.mark.parametrize(("args", "expect"), [
    (["--counts", "math=two"], "category=count"),
    (["--counts", "poetry=2"], "Valid ids: math"),
    (["--counts", "math=-1"], "must not be negative"),
    (["--factor", "0"], "factor must be positive"),
])
def test_build_rejects_bad_options(tmp_path, pool, args, expect):
    result = invoke("build", "--pool", pool, "--out", tmp_path / "e.jsonl", *args)
    assert result.exit_code == 2 and flat(expect) in flat(result.output) and "Traceback" not in result.output
    assert not (tmp_path / "e.jsonl").exists()


def test_stats_and_import_policies_from_the_command_line(tmp_path):
    src = tmp_path / "eval_set.jsonl"
    write_jsonl(src, [{"question": "1+1=?", "class": "math", "std_answer": "2"},
                      {"question": "画一只猫", "class": "drawing", "std_answer": ""}])
    assert invoke("stats", src).exit_code == 2
    assert flat(f"{src}, line 2, field 'class': unknown category label 'drawing'") in flat(invoke("stats", src).output)
    assert invoke("stats", src, "--unknown", "maybe").exit_code == 2
    stats = json.loads(invoke("stats", src, "--json", "--unknown", "other").output)
    assert stats == {"total": 2, "categories": {"math": {"count": 1, "avg_prompt_chars": 5.0, "with_reference": 1},
                                                "other": {"count": 1, "avg_prompt_chars": 4.0, "with_reference": 0}}}
    result = invoke("import", src, "--out", tmp_path / "c.jsonl", "--unknown", "drop")
    assert result.exit_code == 0 and "'drawing': 1" in result.output
    assert [i.category for i in read_eval_items(tmp_path / "c.jsonl")] == ["math"]


def test_merge_with_a_foreign_id_names_the_sheet_line(tmp_path, pool):
    invoke("build", "--pool", pool, "--out", tmp_path / "e.jsonl", "--counts", "math=2")
    invoke("export", tmp_path / "e.jsonl", "--out", tmp_path / "sheet")
    sheet = tmp_path / "sheet.csv"
    lines = sheet.read_text(encoding="utf-8").splitlines()
    sheet.write_text("\n".join(lines + ["q-unknown,math,问题,,新答案"]) + "\n", encoding="utf-8")
    result = invoke("merge", tmp_path / "e.jsonl", "--sheet", sheet, "--out", tmp_path / "final.jsonl")
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert flat(f"{sheet}, line 4, field 'id': id 'q-unknown' is not in the evaluation set") in flat(result.output)
    assert not (tmp_path / "final.jsonl").exists()


def test_decontam_writes_the_pairs(tmp_path):
    evalset = tmp_path / "e.jsonl"
    write_jsonl(evalset, [{"category": "summarization", "question": "请用一句话总结下面的新闻：今天本市举行了马拉松比赛。"}])
    pool = tmp_path / "pool.jsonl"
    write_jsonl(pool, [InstructionExample(id="n", instruction="请用一句话总结下面的新闻：", input="今天本市举行了马拉松比赛！",
                                          output="x"),
                       InstructionExample(id="far", instruction="写一首诗", output="x")])
    result = invoke("decontam", evalset, "--pool", pool, "--out", tmp_path / "pairs.jsonl", "--threshold", "0.5")
    assert result.exit_code == 0, result.output
    pairs = [json.loads(line) for line in (tmp_path / "pairs.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [(p["example_id"], p["kind"]) for p in pairs] == [("n", "exact")]
    assert set(pairs[0]) == {"eval_id", "example_id", "kind", "similarity"}


def test_decontam_streams_the_pool_and_names_a_bad_pool_line(tmp_path):
    evalset = tmp_path / "e.jsonl"
    write_jsonl(evalset, [{"category": "math", "question": "一个长方形的长是8厘米，宽是5厘米，面积是多少？"}])
    pool = tmp_path / "pool.jsonl"
    pool.write_text(json.dumps({"instruction": "写一首诗", "output": "x"}, ensure_ascii=False) + "\n"
                    + json.dumps({"instruction": "算面积", "answer": "40"}, ensure_ascii=False) + "\n", encoding="utf-8")
    result = invoke("decontam", evalset, "--pool", pool)
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert flat(f"{pool}, line 2, field 'output': missing required field") in flat(result.output)
    result = invoke("decontam", evalset, "--pool", pool, "--threshold", "1.5")
    assert result.exit_code == 2 and flat("threshold must be in (0, 1]") in flat(result.output)
