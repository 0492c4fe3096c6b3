"""Fixtures for the respond tests: a small evaluation set and tiny model folders."""

from __future__ import annotations

import json
import shutil

import pytest

from instructscale.datafiles import write_jsonl
from instructscale.records import EvalItem


def _eval_items(n: int) -> list[EvalItem]:
    cats = ["rewrite", "math", "open_qa", "translation"]
    return [EvalItem(id=f"q{i}", category=cats[i % 4], question=f"请回答第 {i} 个问题: {cats[i % 4]}" + " 这是" * (i % 5))
            for i in range(n)]


@pytest.fixture
def eval_items():
    """Factory: `eval_items(n)` -> n evaluation items of varied prompt length and category."""
    return _eval_items


@pytest.fixture
def eval_path(tmp_path):
    """Six evaluation items of varied prompt length."""
    path = tmp_path / "eval.jsonl"
    write_jsonl(path, _eval_items(6))
    return path


@pytest.fixture
def trained_like_model(tiny_base_model, tmp_path):
    """A copy of the tiny gpt2 base with an instructscale.json as `train` writes it, whose
    template is a custom one, so tests can tell it was used."""
    folder = tmp_path / "trained"
    shutil.copytree(tiny_base_model("gpt2"), folder)
    meta = {"template": {"name": "qa", "prompt": "Q: {instruction}{input}\nA: ", "stop": ["Q:"]},
            "base_model": "base", "adapter": False, "complete": True}
    (folder / "instructscale.json").write_text(json.dumps(meta), encoding="utf-8")
    return folder
