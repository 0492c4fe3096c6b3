"""Fixtures for the judge tests: a small evaluation set with answers from two models."""

from __future__ import annotations

import pytest

from instructscale.datafiles import write_jsonl
from instructscale.judge import JudgeConfig
from instructscale.llm import ClientConfig
from instructscale.records import EvalItem, Response

ITEMS = [
    EvalItem(id="m1", category="math", question="小明有3个苹果，又买了5个，一共几个？", reference="8个"),
    EvalItem(id="c1", category="classification", question="判断情感：这部电影太好看了！", reference="正面"),
    EvalItem(id="t1", category="translation", question="把'你好'翻译成英文", reference="Hello"),
    EvalItem(id="o1", category="open_qa", question="天空为什么是蓝色的？"),  # no reference
]


@pytest.fixture
def judge_inputs(tmp_path):
    """(eval path, responses path): 4 items x 2 models = 8 answers."""
    eval_path, resp_path = tmp_path / "eval.jsonl", tmp_path / "responses.jsonl"
    write_jsonl(eval_path, ITEMS)
    write_jsonl(resp_path, [Response(item_id=i.id, model=m, response=f"{m} 的回答：{i.reference or '蓝色'}")
                            for m in ("small", "large") for i in ITEMS])
    return eval_path, resp_path


@pytest.fixture
def judge_config(judge_inputs, tmp_path):
    """Factory: a JudgeConfig against `srv` with fast retries; keyword overrides on top."""
    eval_path, resp_path = judge_inputs

    def make(srv, *, client=None, **kw):
        client = ClientConfig(**{"base_url": srv.base_url, "model": "judge-m", "backoff_base_s": 0.01,
                                 "timeout_s": 2.0, "max_attempts": 3, "concurrency": 4, **(client or {})})
        return JudgeConfig(**{"eval": eval_path, "responses": [resp_path], "out": tmp_path / "j.jsonl",
                              "client": client, **kw})

    return make
