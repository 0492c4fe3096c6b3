"""The 12 categories as data, label normalization, record schemas and stable ids."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from instructscale.categories import CATEGORY_IDS, LabelNormalizer, categories, normalize_label
from instructscale.errors import InputError
from instructscale.records import EvalItem, InstructionExample, Judgement, Response, content_id


def test_twelve_categories_in_the_study_order_with_table_1_counts():
    assert CATEGORY_IDS == ("math", "code", "cot", "classification", "extraction", "open_qa", "closed_qa",
                            "generation", "brainstorming", "rewrite", "translation", "summarization")
    by_id = {c.id: c for c in categories()}
    assert (by_id["math"].paper_count, by_id["closed_qa"].paper_avg_prompt_len) == (200, 181.79)
    assert sum(c.paper_count for c in categories()) == 2210
    assert all(c.name_zh and c.name_en and c.description for c in categories())


@pytest.mark.parametrize(("label", "expected"), [
    ("closed\u00a0qa", "closed_qa"), ("Closed QA", "closed_qa"), ("closed-qa", "closed_qa"), ("closedqa", "closed_qa"),
    (" open_QA ", "open_qa"), ("extract", "extraction"), ("COT", "cot"), ("CoT", "cot"), ("\u0421\u041e\u0422", "cot"),
    ("数学", "math"), ("翻译", "translation"), ("头脑风暴", "brainstorming"), ("ＭＡＴＨ", "math"),
])
def test_real_world_spellings_normalize(label, expected):
    assert normalize_label(label) == expected


def test_unknown_labels_error_with_valid_ids_and_closest_match_or_follow_the_policy():
    with pytest.raises(ValueError, match=r"Did you mean 'summarization'.*Valid ids: math, code"):
        normalize_label("summarizaton")
    counter = LabelNormalizer("other")
    assert [counter(x) for x in ["math", "poetry", "poetry"]] == ["math", "other", "other"]
    assert counter.unknown == {"poetry": 2}
    dropper = LabelNormalizer("drop")
    assert dropper("poetry") is None and dropper.unknown == {"poetry": 1}
    with pytest.raises(InputError, match=r"e\.jsonl, line 3, field 'class'"):
        LabelNormalizer()("poetry", path="e.jsonl", line=3, field="class")


def test_records_have_stable_content_ids_and_refuse_unknown_fields():
    a = EvalItem(category="math", question="  1+1=?  ")
    assert a.id == content_id("1+1=?", prefix="q-") == EvalItem(category="math", question="1+1=?").id
    assert EvalItem(category="math", question="q", reference="  ").reference is None
    ex = InstructionExample(instruction="i", input="x", output="o")
    assert ex.id.startswith("ex-") and ex.prompt == "i\nx"
    with pytest.raises(ValidationError):
        InstructionExample(instruction="i", output="o", colour="red")
    with pytest.raises(ValidationError):
        Judgement(item_id="q", model="m", judge="j", repeat=0, category="math", score=1.5, raw="")
    unscored = Judgement(item_id="q", model="m", judge="j", repeat=0, category="math", score=None, raw="?",
                         error="no score")
    assert unscored.score is None
    assert Response(item_id="q", model="m", sample=0, response="a").response == "a"
