"""The offline reference scorer: one metric per category, all in [0, 1]."""

from __future__ import annotations

import time

import pytest

from instructscale.judge import run_judge, score_reference
from instructscale.judge.code_exec import extract_code, run_tests
from instructscale.judge.reference import RefOptions, final_number
from instructscale.records import EvalItem

from needs import needs_sandbox


def _score(category, answer, reference, **meta):
    return score_reference(EvalItem(category=category, question="q", reference=reference, meta=meta), answer)


@pytest.mark.parametrize("text,value", [
    ("答案是8个", 8), ("一共 1,234.5 元", 1234.5), ("-3", -3), ("约为3/4", 0.75), ("增长了75%", 0.75),
    ("x=.5", 0.5), ("先算2+3=5，再乘2得10", 10), ("小明有十二个苹果", 12), ("三百零五", 305), ("没有数字", None),
])
def test_final_number(text, value):
    assert final_number(text) == (None if value is None else pytest.approx(value))


@pytest.mark.parametrize("category,answer,reference,expected", [
    ("math", "所以答案是 8 个。", "8个", 1.0),
    ("math", "答案是 7", "8", 0.0),
    ("math", "结果为0.33", "1/3", 1.0),  # the reference rounded to the decimals shown
    ("math", "结果为0.34", "1/3", 0.0),
    ("math", "结果为0.333333", "1/3", 1.0),
    ("math", "约等于 3", "3.14159", 0.0),  # an integer answer is not a rounding
    ("cot", "先算3+5=8，所以一共8个", "8", 1.0),
    ("classification", "这句话的情感是：正面", "正面", 1.0),
    ("classification", "负面", "正面", 0.0),
    ("classification", "Positive.", "positive", 1.0),
    ("extraction", "张三，李四", "张三，李四", 1.0),
    ("closed_qa", "北京", "上海", 0.0),
    ("rewrite", "今天天气很好", "今天天气很好", 1.0),
    ("summarization", "", "要点", 0.0),
    ("translation", "Hello, world!", "Hello, world!", 1.0),
    ("translation", "xyz", "Hello, world!", 0.0),
])
def test_metrics_per_category(category, answer, reference, expected):
    score, error = _score(category, answer, reference)
    assert error is None and score == pytest.approx(expected, abs=1e-6)


def test_partial_credit_is_between_zero_and_one():
    for category in ("extraction", "open_qa", "rewrite", "summarization", "generation", "brainstorming",
                     "translation"):
        score, _ = _score(category, "今天天气很好，适合出门", "今天天气不错，适合散步")
        assert 0.0 < score < 1.0, category


def test_no_reference_is_unscored_not_zero():
    assert _score("open_qa", "蓝色", None) == (None, "no reference")
    assert _score("code", "print(1)", None) == (None, "no reference")


CODE_ANSWER = "下面是实现：\n```python\ndef add(a, b):\n    return a + b\n```\n解释：直接相加。"


@needs_sandbox()
def test_code_runs_the_items_tests():
    assert extract_code(CODE_ANSWER) == "def add(a, b):\n    return a + b"
    assert _score("code", CODE_ANSWER, None, tests=["assert add(1, 2) == 3", "assert add(-1, 1) == 0"]) == (1.0, None)
    wrong = CODE_ANSWER.replace("a + b", "a - b")
    assert _score("code", wrong, "def add(a,b): return a+b", tests="assert add(1, 2) == 3") == (0.0, None)


@needs_sandbox()
def test_code_time_limit_kills_endless_loops():
    t = time.monotonic()
    run = run_tests("while True:\n    pass", "assert True", timeout_s=1.0)
    assert not run.passed and "time limit" in run.detail and time.monotonic() - t < 5
    item = EvalItem(category="code", question="q", reference="r", meta={"tests": "assert f() == 1"})
    assert score_reference(item, "def f():\n    while True: pass", RefOptions(code_timeout_s=0.5)) == (0.0, None)


def test_code_without_tests_falls_back_to_similarity():
    score, _ = _score("code", "```python\ndef add(a, b): return a+b\n```", "```python\ndef add(x, y): return x+y\n```")
    assert 0.5 < score < 1.0


def test_reference_run_same_schema_one_per_answer(judge_inputs, tmp_path):
    from instructscale.judge import JudgeConfig

    eval_path, resp_path = judge_inputs
    s = run_judge(JudgeConfig(eval=eval_path, responses=[resp_path], out=tmp_path / "ref.jsonl", scorer="reference"))
    assert s.judge == "reference" and s.judgements == 8 and s.unscored == 2  # o1 has no reference, 2 models
    stats = {(r.model, r.category): r for r in s.rows}
    assert stats[("small", "math")].mean == 1.0 and stats[("small", "classification")].mean == 1.0
    assert stats[("small", "open_qa")].mean is None and stats[("small", "open_qa")].unscored == 1
    again = run_judge(JudgeConfig(eval=eval_path, responses=[resp_path], out=tmp_path / "ref.jsonl",
                                  scorer="reference"))
    assert again.new == 0 and again.judgements == 8
