"""Evaluation-set tools: import of the public release format, Table 1 statistics, build /
export / merge, decontamination, and the errors bad input gets."""

from __future__ import annotations

import csv
import json

import pytest
from typer.testing import CliRunner

from instructscale.cli.main import app
from instructscale.datafiles import write_jsonl
from instructscale.errors import InputError
from instructscale.evalset import (build_evalset, evalset_stats, export_sheet, find_overlaps, import_evalset,
                                   merge_sheet, read_eval_items)
from instructscale.records import EvalItem, InstructionExample, content_id

PUBLIC_ROWS = [  # the public release's shape and its real-world label spellings
    {"question": "计算 3 加 5 等于多少？", "class": "math", "std_answer": "8"},
    {"question": "从下面的句子中提取人名：张三和李四去了北京。", "class": "extract", "std_answer": "张三、李四"},
    {"question": "根据短文回答：小明几岁？短文：小明今年九岁。", "class": "closed\u00a0qa", "std_answer": "九岁"},
    {"question": "中国的首都是哪里？", "class": "open qa", "std_answer": ""},
    {"question": "一步一步思考：小红有 3 个苹果，又买了 4 个，她有几个？", "class": "COT", "std_answer": "7"},
    {"question": "把这句话改写得更正式：我觉得还行。", "class": "改写", "std_answer": "我认为尚可。"},
    {"question": "计算 3 加 5 等于多少？", "class": "Math", "std_answer": "8"},  # a duplicate question
]


def write_lines(path, rows):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def test_import_reads_the_public_release_format_as_it_is(tmp_path):
    result = import_evalset(write_lines(tmp_path / "eval_set.jsonl", PUBLIC_ROWS))
    cats = [i.category for i in result.items]
    assert cats == ["math", "extraction", "closed_qa", "open_qa", "cot", "rewrite"]
    assert result.public_format == 7 and len(result.duplicates) == 1
    assert result.items[3].reference is None  # empty std_answer: no reference
    assert result.items[0].id == content_id(PUBLIC_ROWS[0]["question"], prefix="q-")  # stable across imports
    assert result.duplicates == [result.items[0].id]


def test_canonical_rows_round_trip_and_keep_their_ids(tmp_path):
    items = [EvalItem(id="x1", category="code", question="print(1+1) 输出什么？", reference="2", meta={"k": 1})]
    write_jsonl(tmp_path / "c.jsonl", items)
    assert read_eval_items(tmp_path / "c.jsonl") == items


@pytest.mark.parametrize(("content", "expect"), [
    ('{"question": "a", "class": "math", "std_answer": "1"}\n{"question": "b", "class"\n', r"line 2"),
    ('{"class": "math", "std_answer": "1"}\n', r"line 1.*field 'question'"),
    ("", r"empty"),
    ('{"question": "a", "class": "mathematics!", "std_answer": "1"}\n', r"line 1.*field 'class'.*Did you mean 'math'"),
])
def test_bad_input_names_file_line_and_field(tmp_path, content, expect):
    path = tmp_path / "bad.jsonl"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InputError, match=expect) as err:
        import_evalset(path)
    assert str(path) in str(err.value)
    result = CliRunner().invoke(app, ["evalset", "stats", str(path)])
    assert result.exit_code == 2 and "Traceback" not in result.output


def test_unknown_label_policies_count_what_they_did(tmp_path):
    rows = PUBLIC_ROWS[:2] + [{"question": "画一只猫", "class": "drawing", "std_answer": ""}]
    path = write_lines(tmp_path / "e.jsonl", rows)
    kept = import_evalset(path, "other")
    assert [i.category for i in kept.items][-1] == "other" and kept.unknown_labels == {"drawing": 1}
    dropped = import_evalset(path, "drop")
    assert len(dropped.items) == 2 and dropped.dropped == 1


def test_stats_json_is_table_1_in_the_study_order(tmp_path):
    path = write_lines(tmp_path / "eval_set.jsonl", PUBLIC_ROWS)
    result = CliRunner().invoke(app, ["evalset", "stats", str(path), "--json"])
    assert result.exit_code == 0, result.output
    stats = json.loads(result.output)
    assert stats["total"] == 6
    assert list(stats["categories"]) == ["math", "cot", "extraction", "open_qa", "closed_qa", "rewrite"]
    assert stats["categories"]["open_qa"] == {"count": 1, "avg_prompt_chars": float(len("中国的首都是哪里？")),
                                              "with_reference": 0}
    table = CliRunner().invoke(app, ["evalset", "stats", str(path)])
    assert table.exit_code == 0 and "closed_qa" in table.output and "189" in table.output  # study's own count
    assert "5 (83%)" in table.output  # share of items with a reference, in the total row


def pool_examples(n_per_category=5):
    from instructscale.categories import CATEGORY_IDS

    return [InstructionExample(instruction=f"{cat} 任务 {i}", input="", output=f"答案 {cat} {i}", category=cat)
            for cat in CATEGORY_IDS for i in range(n_per_category)]


def test_build_samples_per_category_deterministically_with_draft_answers():
    pool = pool_examples()
    first = build_evalset(pool, counts={"math": 3, "code": 7}, seed=1)
    again = build_evalset(list(reversed(pool)), counts={"math": 3, "code": 7}, seed=1)
    assert [i.id for i in first.items] == [i.id for i in again.items]  # seed, not file order, decides
    assert [i.category for i in first.items] == ["math"] * 3 + ["code"] * 5 and first.shortfall == {"code": 2}
    assert all(i.reference.startswith("答案") and i.meta["draft"] for i in first.items)
    scaled = build_evalset(pool_examples(100), factor=0.01)  # Table 1 counts x 0.01: 2 math, 2 code, ...
    assert evalset_stats(scaled.items)["categories"]["math"]["count"] == 2
    assert build_evalset(pool, counts={"math": 3}, seed=2).items != first.items[:3]


def test_export_edit_merge_counts_annotator_changes(tmp_path):
    items = build_evalset(pool_examples(), counts={"math": 2, "rewrite": 2}).items
    csv_path, jsonl_path = export_sheet(items, tmp_path / "sheet")
    rows = list(csv.DictReader(csv_path.open(encoding="utf-8")))
    assert [r["id"] for r in rows] == [i.id for i in items] and rows[0]["draft_answer"] == items[0].reference
    rows[0]["reference"] = "改正后的答案"
    rows[1]["reference"] = ""
    with csv_path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    merged = merge_sheet(items, csv_path)
    assert (merged.changed, merged.cleared) == (1, 1)
    assert merged.items[0].reference == "改正后的答案" and merged.items[1].reference is None
    assert "draft" not in merged.items[0].meta
    assert merge_sheet(items, jsonl_path).changed == 0  # the untouched JSONL sheet

    extra = jsonl_path.read_text(encoding="utf-8") + json.dumps({"id": "nope", "reference": "x"}) + "\n"
    jsonl_path.write_text(extra, encoding="utf-8")
    with pytest.raises(InputError, match=r"line 5.*field 'id'.*'nope'"):
        merge_sheet(items, jsonl_path)
    write_lines(jsonl_path, [{"id": items[0].id, "reference": "x"}])
    with pytest.raises(InputError, match="3 item"):
        merge_sheet(items, jsonl_path)


def test_cli_build_export_merge_round_trip(tmp_path):
    pool = tmp_path / "pool.jsonl"
    write_jsonl(pool, pool_examples())
    run = CliRunner().invoke
    assert run(app, ["evalset", "build", "--pool", str(pool), "--out", str(tmp_path / "e.jsonl"),
                     "--counts", "math=2,code=1"]).exit_code == 0
    assert run(app, ["evalset", "export", str(tmp_path / "e.jsonl"), "--out", str(tmp_path / "s")]).exit_code == 0
    result = run(app, ["evalset", "merge", str(tmp_path / "e.jsonl"), "--sheet", str(tmp_path / "s.csv"),
                       "--out", str(tmp_path / "final.jsonl")])
    assert result.exit_code == 0 and "changed 0" in result.output
    assert len(read_eval_items(tmp_path / "final.jsonl")) == 3


def test_decontamination_finds_exact_and_near_duplicates_in_chinese():
    items = [EvalItem(category="translation", question="请把下面这句话翻译成英文：今天天气很好，我们去公园散步吧。"),
             EvalItem(category="math", question="一个长方形的长是8厘米，宽是5厘米，它的面积是多少平方厘米？"),
             EvalItem(category="generation", question="写一首关于秋天落叶的五言绝句，要求押韵。")]
    pool = [
        InstructionExample(id="exact", instruction="请把下面这句话翻译成英文：", input="今天天气很好，我们去公园散步吧。",
                           output="x"),  # instruction + input is the question
        InstructionExample(id="near", instruction="一个长方形的长是8厘米，宽是6厘米，它的面积是多少平方厘米？", output="48"),
        InstructionExample(id="other", instruction="写一篇关于春天的作文，不少于三百字。", output="x"),
        InstructionExample(id="same_topic", instruction="写一首关于冬天雪花的七言律诗。", output="x"),
    ]
    found = {o.example_id: o for o in find_overlaps(items, pool, threshold=0.6)}
    assert set(found) == {"exact", "near"}
    assert found["exact"].kind == "exact" and found["exact"].eval_id == items[0].id
    assert found["near"].kind == "near" and 0.6 <= found["near"].similarity < 1
    assert not find_overlaps(items, pool[2:], threshold=0.3)


def test_cli_import_and_decontam(tmp_path):
    src = write_lines(tmp_path / "eval_set.jsonl", PUBLIC_ROWS)
    out = tmp_path / "canonical.jsonl"
    result = CliRunner().invoke(app, ["evalset", "import", str(src), "--out", str(out)])
    assert result.exit_code == 0 and "1 duplicate" in result.output
    assert [json.loads(line)["category"] for line in out.read_text().splitlines()][:2] == ["math", "extraction"]
    pool = tmp_path / "pool.jsonl"
    write_jsonl(pool, [InstructionExample(instruction=PUBLIC_ROWS[1]["question"], output="张三、李四")])
    result = CliRunner().invoke(app, ["evalset", "decontam", str(out), "--pool", str(pool),
                                      "--out", str(tmp_path / "pairs.jsonl")])
    assert result.exit_code == 0 and "1 overlapping pairs (1 exact, 0 near)" in result.output
