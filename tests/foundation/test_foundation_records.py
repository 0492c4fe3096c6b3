"""Record schemas (the documented JSON Lines field names) and stable content ids."""

from __future__ import annotations

import hashlib
import json

import pytest
from pydantic import ValidationError

from instructscale.datafiles import dumps
from instructscale.records import RECORD_TYPES, EvalItem, InstructionExample, Judgement, Response, content_id


def test_content_ids_are_stable_trimmed_and_unambiguous():
    assert content_id("1+1=?", prefix="q-") == content_id("  1+1=?\n", prefix="q-")
    assert content_id("ab", "c") != content_id("a", "bc")  # parts are separated, not concatenated
    assert content_id("x").isalnum() and len(content_id("x")) == 16
    # pinned: ids are written into response and judgement files, so they must never change
    question = "中国的首都是哪里？"
    assert content_id(question, prefix="q-") == "q-" + hashlib.sha256(question.encode()).hexdigest()[:16]


def test_records_have_stable_content_ids_and_refuse_unknown_fields():
    a = EvalItem(category="math", question="  1+1=?  ")
    assert a.id == content_id("1+1=?", prefix="q-") == EvalItem(category="math", question="1+1=?").id
    assert EvalItem(id="own", category="math", question="q").id == "own"
    assert EvalItem(category="math", question="q", reference="  ").reference is None
    ex = InstructionExample(instruction="i", input="x", output="o")
    assert ex.id == content_id("i", "x", prefix="ex-") and ex.prompt == "i\nx"
    assert InstructionExample(instruction="i", output="o").prompt == "i"
    with pytest.raises(ValidationError):
        InstructionExample(instruction="i", output="o", colour="red")
    with pytest.raises(ValidationError):
        InstructionExample(instruction="", output="o")
    with pytest.raises(ValidationError):
        EvalItem(category="math", question="")


def test_judgement_scores_are_in_the_unit_interval_or_null():
    with pytest.raises(ValidationError):
        Judgement(item_id="q", model="m", judge="j", repeat=0, category="math", score=1.5, raw="")
    with pytest.raises(ValidationError):
        Judgement(item_id="q", model="m", judge="j", score=-0.1)
    unscored = Judgement(item_id="q", model="m", judge="j", repeat=0, category="math", score=None, raw="?",
                         error="no score")
    assert unscored.score is None and unscored.sample == 0
    r = Response(item_id="q", model="m", response="a")
    assert (r.sample, r.truncated, r.error, r.settings) == (0, False, None, {})


@pytest.mark.parametrize(("kind", "record", "fields"), [
    ("example", InstructionExample(instruction="翻译：你好", input="", output="Hello", category="translation",
                                   source="seed"), {"id", "instruction", "input", "output", "category", "source"}),
    ("eval", EvalItem(category="open_qa", question="地球为什么有四季？", reference=None, meta={"k": [1]}),
     {"id", "category", "question", "reference", "meta"}),
    ("response", Response(item_id="q-1", model="m", sample=1, response="因为地轴倾斜", prompt_tokens=5),
     {"item_id", "model", "sample", "response", "prompt_tokens", "completion_tokens", "truncated", "settings",
      "error"}),
    ("judgement", Judgement(item_id="q-1", model="m", judge="gpt", repeat=2, score=0.5, raw="得分: 0.5"),
     {"item_id", "model", "judge", "repeat", "sample", "category", "score", "raw", "error", "note"}),
])
def test_every_record_round_trips_through_one_json_line(kind, record, fields):
    line = dumps(record)
    assert "\n" not in line and "\\u" not in line  # one line, Chinese written as is
    assert set(json.loads(line)) == fields
    assert RECORD_TYPES[kind].model_validate_json(line) == record
