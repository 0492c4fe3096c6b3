"""The 12 categories as data and the normalization of real-world labels."""

from __future__ import annotations

import pytest

from instructscale.categories import CATEGORY_IDS, LabelNormalizer, categories, get_category, normalize_label
from instructscale.errors import InputError


def test_twelve_categories_in_the_study_order_with_table_1_counts():
    assert CATEGORY_IDS == ("math", "code", "cot", "classification", "extraction", "open_qa", "closed_qa",
                            "generation", "brainstorming", "rewrite", "translation", "summarization")
    by_id = {c.id: c for c in categories()}
    assert (by_id["math"].paper_count, by_id["closed_qa"].paper_avg_prompt_len) == (200, 181.79)
    assert sum(c.paper_count for c in categories()) == 2210
    assert all(c.name_zh and c.name_en and c.description for c in categories())
    assert get_category("cot").name_en == "COT"
    with pytest.raises(KeyError):
        get_category("poetry")


@pytest.mark.parametrize(("label", "expected"), [
    ("closed\u00a0qa", "closed_qa"), ("Closed QA", "closed_qa"), ("closed-qa", "closed_qa"), ("closedqa", "closed_qa"),
    ("closed_qa", "closed_qa"), ("closed \u00a0 - qa", "closed_qa"), ("\tCLOSED QA\n", "closed_qa"),
    (" open_QA ", "open_qa"), ("open qa", "open_qa"), ("Open-QA", "open_qa"), ("open\u00a0QA", "open_qa"),
    ("extract", "extraction"), ("Extraction", "extraction"), ("COT", "cot"), ("CoT", "cot"), ("cot", "cot"),
    ("\u0421\u041e\u0422", "cot"), ("Brain-Storming", "brainstorming"), ("ＭＡＴＨ", "math"),
    ("数学", "math"), ("翻译", "translation"), ("头脑风暴", "brainstorming"), ("封闭式问答", "closed_qa"),
])
def test_real_world_spellings_normalize(label, expected):
    assert normalize_label(label) == expected


def test_every_id_name_and_alias_in_the_data_file_maps_back_to_its_category():
    for c in categories():
        for name in [c.id, c.name_en, c.name_zh, *c.aliases, c.name_en.upper(), f" {c.name_zh} "]:
            assert normalize_label(name) == c.id, name


def test_unknown_labels_error_with_valid_ids_and_closest_match():
    with pytest.raises(ValueError, match=r"'summarizaton'\. Did you mean 'summarization'.*Valid ids: math, code, cot"):
        normalize_label("summarizaton")
    with pytest.raises(ValueError, match=r"unknown category label None"):
        normalize_label(None)
    with pytest.raises(ValueError) as err:
        normalize_label("zzzzzz")
    assert "Did you mean" not in str(err.value) and ", ".join(CATEGORY_IDS) in str(err.value)
    with pytest.raises(InputError, match=r"e\.jsonl, line 3, field 'class'"):
        LabelNormalizer()("poetry", path="e.jsonl", line=3, field="class")


def test_other_and_drop_policies_count_what_they_did():
    assert normalize_label("poetry", "other") == "other" and normalize_label("poetry", "drop") is None
    assert normalize_label("Math", "drop") == "math"  # known labels are unaffected by the policy
    counter = LabelNormalizer("other")
    assert [counter(x) for x in ["math", "poetry", "poetry", "drawing"]] == ["math", "other", "other", "other"]
    assert counter.unknown == {"poetry": 2, "drawing": 1}
    dropper = LabelNormalizer("drop")
    assert [dropper(x) for x in ["poetry", "extract"]] == [None, "extraction"] and dropper.unknown == {"poetry": 1}
