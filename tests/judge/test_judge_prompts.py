"""Prompt sets: the built-in reconstructions, the message layout, and loading other formats."""

from __future__ import annotations

import json
import re

import pytest

from instructscale.categories import CATEGORY_IDS
from instructscale.errors import InputError
from instructscale.judge import load_prompt_set
from instructscale.records import EvalItem


@pytest.mark.parametrize("lang,marker", [("zh", '"得分:"'), ("en", '"Score:"')])
def test_builtin_sets_cover_all_categories_cleanly(lang, marker):
    ps = load_prompt_set(lang)
    assert set(ps.prompts) == set(CATEGORY_IDS)
    for cid, entry in ps.prompts.items():
        for text in (entry.prompt, entry.no_reference):
            assert marker in text, cid
            assert not re.search(r"接照|輸|[\u0400-\u04ff]|\s{2,}", text), cid  # OCR damage is gone
            if lang == "zh":
                assert re.search(r"[\u4e00-\u9fff]", text)
        # the no-reference variant never claims a standard answer exists
        assert not re.search(r"标准答案|标准回答|standard answer|reference", entry.no_reference, re.I), cid


def test_zh_prompts_keep_the_study_wording():
    ps = load_prompt_set("zh")
    assert ps.prompts["math"].prompt.startswith("你是一个数学老师")
    assert "请按照\"得分:\"这样的形式输出学生分数" in ps.prompts["math"].prompt
    assert "语言学家" in ps.prompts["translation"].prompt and "翻译过后的句子" in ps.prompts["translation"].prompt
    assert "重写过后的句子" in ps.prompts["rewrite"].prompt
    assert "摘要" in ps.prompts["summarization"].prompt
    assert "逻辑学家" in ps.prompts["cot"].prompt


def test_message_layout_zh_and_en():
    item = EvalItem(id="x", category="math", question="1+1=?", reference="2")
    zh = load_prompt_set("zh").messages(item, "等于2")
    assert [m["role"] for m in zh] == ["system", "user"]
    assert zh[0]["content"] == load_prompt_set("zh").prompts["math"].prompt
    assert zh[1]["content"] == "问题：1+1=?\n标准答案：2\n学生答案：等于2"
    en = load_prompt_set("en").messages(item, "2")
    assert en[1]["content"] == "Question: 1+1=?\nStandard answer: 2\nStudent answer: 2"


def test_items_without_reference_get_the_no_reference_variant():
    item = EvalItem(id="x", category="open_qa", question="天空为什么是蓝色的？")
    msgs = load_prompt_set("zh").messages(item, "因为散射")
    assert msgs[0]["content"] == load_prompt_set("zh").prompts["open_qa"].no_reference
    assert msgs[1]["content"] == "问题：天空为什么是蓝色的？\n学生答案：因为散射"
    assert "标准答案" not in msgs[1]["content"]


def test_unknown_category_uses_the_default_prompt():
    msgs = load_prompt_set("en").messages(EvalItem(category="other", question="q", reference="r"), "a")
    assert msgs[0]["content"] == load_prompt_set("en").default.prompt


def test_public_release_jsonl_with_odd_labels(tmp_path):
    rows = [{"class": "open QA", "prompt": "开放问答的评分提示。请按照\"得分:\"输出。"},
            {"class": "closed\u00a0QA", "prompt": "封闭问答的评分提示。"},
            {"class": "extract", "prompt": "抽取的评分提示。"},
            {"class": "math", "prompt": "数学的评分提示。"}]
    path = tmp_path / "prompts.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    ps = load_prompt_set(str(path))
    assert ps.language == "zh" and set(ps.prompts) == {"open_qa", "closed_qa", "extraction", "math"}
    item = EvalItem(category="closed_qa", question="文中说了什么？", reference="A")
    assert ps.messages(item, "A")[0]["content"] == "封闭问答的评分提示。"
    assert ps.messages(item, "A")[1]["content"] == "问题：文中说了什么？\n标准答案：A\n学生答案：A"
    # no-reference variants fall back to the built-in set of the same language
    no_ref = EvalItem(category="math", question="1+1=?")
    assert ps.messages(no_ref, "2")[0]["content"] == load_prompt_set("zh").prompts["math"].no_reference


def test_yaml_prompt_set_and_bad_label(tmp_path):
    good = tmp_path / "mine.yaml"
    good.write_text("language: en\nprompts:\n  Open QA: Grade it. Output \"Score:\".\n"
                    "  code: {prompt: Run it mentally., no_reference: Judge the code.}\n", encoding="utf-8")
    ps = load_prompt_set(str(good))
    assert ps.prompts["open_qa"].prompt.startswith("Grade it")
    assert ps.user_template.startswith("Question:")  # templates inherited from the built-in en set
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"class": "math", "prompt": "p"}\n{"class": "poetry", "prompt": "p"}\n', encoding="utf-8")
    with pytest.raises(InputError, match=r"bad.jsonl, line 2, field 'class'.*poetry"):
        load_prompt_set(str(bad))
    with pytest.raises(InputError, match="not found"):
        load_prompt_set(str(tmp_path / "missing.yaml"))
