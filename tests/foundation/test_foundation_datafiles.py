"""Readers for every supported source, atomic and append-safe writers, and the errors
bad files get (file, line, field)."""

from __future__ import annotations

import json

import pytest

from instructscale.datafiles import (JsonlAppender, iter_rows, read_jsonl_resumable, read_records, write_json,
                                     write_jsonl)
from instructscale.errors import InputError
from instructscale.records import EvalItem, InstructionExample, Judgement

ROWS = [{"instruction": "把句子翻译成英文", "input": "你好", "output": "Hello", "category": "translation"},
        {"instruction": "3 加 4 等于多少？", "input": "", "output": "7", "category": "math"}]


@pytest.fixture
def sources(tmp_path):
    """The same two rows as JSON Lines, JSON array, CSV, Parquet and a `datasets` folder."""
    import datasets
    import pandas as pd

    paths = {"jsonl": tmp_path / "p.jsonl", "json": tmp_path / "p.json", "csv": tmp_path / "p.csv",
             "parquet": tmp_path / "p.parquet", "datasets": tmp_path / "ds"}
    write_jsonl(paths["jsonl"], ROWS)
    paths["json"].write_text(json.dumps(ROWS, ensure_ascii=False), encoding="utf-8")
    pd.DataFrame(ROWS).to_csv(paths["csv"], index=False)
    pd.DataFrame(ROWS).to_parquet(paths["parquet"])
    datasets.Dataset.from_list(ROWS).save_to_disk(str(paths["datasets"]))
    return paths


@pytest.mark.parametrize("kind", ["jsonl", "json", "csv", "parquet", "datasets"])
def test_every_reader_gives_the_same_records(sources, kind):
    examples = read_records(sources[kind], InstructionExample)
    assert [(e.instruction, e.input, e.output, e.category) for e in examples] == [
        (r["instruction"], r["input"], r["output"], r["category"]) for r in ROWS]
    assert examples[0].id == InstructionExample(**ROWS[0]).id  # content ids do not depend on the format


@pytest.mark.parametrize(("content", "suffix", "expect"), [
    ('{"instruction": "a", "output": "b"}\n{"instruction": \n', ".jsonl", r"p\.jsonl, line 2"),
    ('{"instruction": "a", "output": "b"}\n{"output": "b"}\n', ".jsonl", r"line 2, field 'instruction'"),
    ('{"instruction": "a", "output": "b", "colour": 1}\n', ".jsonl", r"line 1, field 'colour'"),
    ("", ".jsonl", "file is empty"),
    ("instruction,output\na,b,c\n", ".csv", r"line 2.*more cells"),
    ('[{"instruction": "a"', ".json", r"p\.json"),
    ("x", ".txt", "unsupported file type"),
])
def test_bad_files_name_file_line_and_field(tmp_path, content, suffix, expect):
    path = tmp_path / f"p{suffix}"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InputError, match=expect):
        read_records(path, InstructionExample)


def test_missing_file_and_empty_result_are_errors(tmp_path):
    with pytest.raises(InputError, match="not found"):
        list(iter_rows(tmp_path / "nope.jsonl"))
    (tmp_path / "blank.jsonl").write_text("\n\n", encoding="utf-8")
    with pytest.raises(InputError, match="no records"):
        read_records(tmp_path / "blank.jsonl", EvalItem)


def test_atomic_writers_leave_the_old_file_when_writing_fails(tmp_path):
    path = tmp_path / "out.jsonl"
    write_jsonl(path, ROWS)
    before = path.read_bytes()

    def broken():
        yield ROWS[0]
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        write_jsonl(path, broken())
    assert path.read_bytes() == before and not list(tmp_path.glob("*.tmp*"))
    write_json(tmp_path / "m.json", {"中文": 1})
    assert json.loads((tmp_path / "m.json").read_text(encoding="utf-8")) == {"中文": 1}


def test_appender_repairs_a_torn_last_line_and_appends(tmp_path):
    path = tmp_path / "j.jsonl"
    j = Judgement(item_id="q1", model="m", judge="j", repeat=0, category="math", score=0.5, raw="得分: 0.5")
    with JsonlAppender(path) as out:
        out.write(j)
        out.write(j.model_copy(update={"repeat": 1}))
    with path.open("a", encoding="utf-8") as f:
        f.write('{"item_id": "q1", "mod')  # a crash in the middle of a line
    rows, torn = read_jsonl_resumable(path)
    assert len(rows) == 2 and torn == 1
    with JsonlAppender(path) as out:
        assert out.torn == 1
        out.write(j.model_copy(update={"repeat": 2}))
    assert [r.repeat for r in read_records(path, Judgement)] == [0, 1, 2]


def test_json_wrapped_array_bom_and_blank_lines_are_read(tmp_path):
    (tmp_path / "w.json").write_text(json.dumps({"version": 1, "data": ROWS}, ensure_ascii=False), encoding="utf-8")
    assert [n for n, _ in iter_rows(tmp_path / "w.json")] == [1, 2]
    (tmp_path / "b.jsonl").write_text("\ufeff" + json.dumps(ROWS[0]) + "\n\n" + json.dumps(ROWS[1]) + "\n",
                                      encoding="utf-8")
    assert [n for n, _ in iter_rows(tmp_path / "b.jsonl")] == [1, 3]  # line numbers count blank lines
    (tmp_path / "s.jsonl").write_text('[1, 2]\n', encoding="utf-8")
    with pytest.raises(InputError, match=r"line 1: expected a JSON object, got list"):
        list(iter_rows(tmp_path / "s.jsonl"))
    (tmp_path / "blank.jsonl").write_text("\n", encoding="utf-8")
    assert read_records(tmp_path / "blank.jsonl", EvalItem, allow_empty=True) == []


def test_adapt_maps_a_foreign_schema_and_errors_still_name_the_line(tmp_path):
    path = tmp_path / "alpaca.jsonl"
    write_jsonl(path, [{"prompt": "说你好", "completion": "你好"}, {"prompt": "说再见"}])

    def adapt(row, *, path, line):
        return {"instruction": row["prompt"], **({"output": row["completion"]} if "completion" in row else {})}

    with pytest.raises(InputError, match=r"alpaca\.jsonl, line 2, field 'output': missing required field"):
        read_records(path, InstructionExample, adapt=adapt)


def test_a_missing_local_folder_path_is_not_treated_as_a_hub_id(tmp_path):
    with pytest.raises(InputError, match="not found"):
        list(iter_rows(str(tmp_path / "some" / "dir")))
    with pytest.raises(InputError, match="not found"):
        list(iter_rows("./data/pool.jsonl"))


def test_resumable_reader_and_appender_keep_a_whole_last_record_without_newline(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text('{"a": 1}\n{"a": 2}', encoding="utf-8")  # killed after the record, before its newline
    assert read_jsonl_resumable(path) == ([{"a": 1}, {"a": 2}], 0)
    with JsonlAppender(path) as out:
        assert out.torn == 0
        out.write({"a": 3})
    assert read_jsonl_resumable(path) == ([{"a": 1}, {"a": 2}, {"a": 3}], 0)
    path.write_text('{"a": 1}\n{"a": \n{"a": 3}\n', encoding="utf-8")  # damage in the middle is not a crash
    with pytest.raises(InputError, match="line 2"):
        read_jsonl_resumable(path)
    assert read_jsonl_resumable(tmp_path / "absent.jsonl") == ([], 0)
