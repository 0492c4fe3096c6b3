"""Import and Table 1 statistics from every file type the project reads, in both the
public release format and the canonical one."""

from __future__ import annotations

import json

import pytest

from instructscale.categories import CATEGORY_IDS
from instructscale.datafiles import write_jsonl
from instructscale.errors import InputError
from instructscale.evalset import evalset_stats, import_evalset, read_eval_items
from instructscale.records import EvalItem, content_id

RELEASE = [  # shaped like the public release: lower-case labels, U+00A0, empty std_answer
    {"question": "3 乘以 4 等于多少？", "class": "math", "std_answer": "12"},
    {"question": "写一个 Python 函数，返回列表中的最大值。", "class": "code", "std_answer": ""},
    {"question": "从句子中提取地名：我从上海出发去杭州。", "class": "extract", "std_answer": "上海、杭州"},
    {"question": "短文：猫喜欢晒太阳。问题：猫喜欢做什么？", "class": "closed\u00a0qa", "std_answer": "晒太阳"},
    {"question": "地球为什么有四季？", "class": "open qa", "std_answer": "因为地轴倾斜。"},
    {"question": "把“我很高兴”翻译成英文。", "class": "rewrite", "std_answer": "I am very happy."},
]


@pytest.fixture(params=["jsonl", "json", "csv", "parquet", "datasets"])
def release_file(request, tmp_path):
    """The same release rows in each file type `datafiles.iter_rows` reads."""
    import datasets
    import pandas as pd

    kind = request.param
    if kind == "jsonl":
        path = tmp_path / "eval_set.jsonl"
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in RELEASE), encoding="utf-8")
    elif kind == "json":
        path = tmp_path / "eval_set.json"
        path.write_text(json.dumps(RELEASE, ensure_ascii=False), encoding="utf-8")
    elif kind == "csv":
        path = tmp_path / "eval_set.csv"
        pd.DataFrame(RELEASE).to_csv(path, index=False)
    elif kind == "parquet":
        path = tmp_path / "eval_set.parquet"
        pd.DataFrame(RELEASE).to_parquet(path)
    else:
        path = tmp_path / "eval_set_ds"
        datasets.Dataset.from_list(RELEASE).save_to_disk(str(path))
    return path


def test_release_rows_import_identically_from_every_file_type(release_file):
    result = import_evalset(release_file)
    assert [i.category for i in result.items] == ["math", "code", "extraction", "closed_qa", "open_qa", "rewrite"]
    assert [i.id for i in result.items] == [content_id(r["question"], prefix="q-") for r in RELEASE]
    assert [i.reference for i in result.items] == [r["std_answer"] or None for r in RELEASE]
    assert result.public_format == len(RELEASE) and not result.duplicates and result.dropped == 0


def test_stats_read_the_release_file_as_it_is(release_file):
    stats = evalset_stats(read_eval_items(release_file))
    assert stats["total"] == 6
    assert list(stats["categories"]) == [c for c in CATEGORY_IDS if c in stats["categories"]]
    assert stats["categories"]["code"] == {"count": 1, "avg_prompt_chars": float(len(RELEASE[1]["question"])),
                                           "with_reference": 0}
    assert sum(c["with_reference"] for c in stats["categories"].values()) == 5


def test_stats_average_rounding_and_other_after_the_twelve():
    items = [EvalItem(category="math", question="12"), EvalItem(category="math", question="1234567"),
             EvalItem(category="math", question="1", reference="1"),
             EvalItem(category="other", question="画一只猫"), EvalItem(category="summarization", question="总结")]
    stats = evalset_stats(items)
    assert list(stats["categories"]) == ["math", "summarization", "other"]
    assert stats["categories"]["math"] == {"count": 3, "avg_prompt_chars": 3.33, "with_reference": 1}
    assert evalset_stats([]) == {"total": 0, "categories": {}}


def test_canonical_rows_with_and_without_ids_and_duplicate_questions(tmp_path):
    path = tmp_path / "canon.jsonl"
    write_jsonl(path, [
        {"id": "mine-1", "category": "Translation", "question": "翻译：早上好", "reference": "Good morning"},
        {"category": "brainstorming", "question": "  列出三个周末活动  ", "reference": None, "meta": {"src": "a"}},
        {"category": "头脑风暴", "question": "列出三个周末活动"},  # same question once trimmed: a duplicate
    ])
    result = import_evalset(path)
    assert [i.id for i in result.items] == ["mine-1", content_id("列出三个周末活动", prefix="q-")]
    assert [i.category for i in result.items] == ["translation", "brainstorming"]
    assert result.items[1].meta == {"src": "a"} and result.public_format == 0
    assert result.duplicates == [result.items[1].id]


@pytest.mark.parametrize(("rows", "expect"), [
    ([{"id": "a", "category": "math", "question": "1+1=?"}, {"id": "a", "category": "math", "question": "2+2=?"}],
     r"line 2, field 'id': id 'a' was already used on line 1 for a different question"),
    ([{"question": "q", "class": "math", "std_answer": "1", "score": 3}], r"line 1, field 'score'.*unexpected key"),
    ([{"question": "q", "class": "math"}, {"question": "", "class": "math"}], r"line 2, field 'question'"),
    ([{"question": "q", "category": "math", "answer": "1"}], r"line 1, field 'answer'"),
    ([{"question": "q"}], r"line 1, field 'category'.*unknown category label None"),
    ([{"class": "math", "std_answer": "1"}], r"line 1, field 'question': missing required field"),
    ([{"question": "q", "class": "summarisaton", "std_answer": ""}],
     r"line 1, field 'class'.*Did you mean 'summarization'.*Valid ids: math, code, cot"),
])
def test_bad_rows_name_the_line_and_field(tmp_path, rows, expect):
    path = tmp_path / "bad.jsonl"
    write_jsonl(path, rows)
    with pytest.raises(InputError, match=expect) as err:
        import_evalset(path)
    assert str(err.value).startswith(str(path))


def test_policies_other_and_drop_are_counted_and_all_dropped_is_an_error(tmp_path):
    path = tmp_path / "e.jsonl"
    write_jsonl(path, [{"question": "画一只猫", "class": "drawing", "std_answer": ""},
                       {"question": "画一只狗", "class": "drawing", "std_answer": ""},
                       {"question": "唱一首歌", "class": "singing", "std_answer": ""}])
    other = import_evalset(path, label_policy="other")
    assert {i.category for i in other.items} == {"other"}
    assert other.unknown_labels == {"drawing": 2, "singing": 1} and other.dropped == 0
    with pytest.raises(InputError, match="no evaluation items"):
        import_evalset(path, label_policy="drop")


def test_a_broken_json_line_reports_where_the_line_stops(tmp_path):
    path = tmp_path / "eval_set.jsonl"
    path.write_text('{"question": "a", "class": "math", "std_answer": "1"}\n{"question": "b", "class"\n',
                    encoding="utf-8")
    with pytest.raises(InputError, match=r"eval_set\.jsonl, line 2: broken JSON: Expecting ':' delimiter \(column 26\)"):
        import_evalset(path)
