"""The demo world: deterministic by seed, all 12 categories, held-out eval set, exact references."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from instructscale.categories import CATEGORY_IDS
from instructscale.demo import build_eval_set, sample_tasks
from instructscale.demo.world import sample_world_tasks
from instructscale.errors import ConfigError
from instructscale.records import EvalItem, InstructionExample


def test_same_seed_same_tasks_other_seed_other_tasks():
    a, b, c = sample_tasks(120, seed=3), sample_tasks(120, seed=3), sample_tasks(120, seed=4)
    assert [e.model_dump() for e in a] == [e.model_dump() for e in b]
    assert {e.id for e in a} != {e.id for e in c}
    assert build_eval_set(3, seed=1) == build_eval_set(3, seed=1)


def test_all_categories_balanced_distinct_and_with_references():
    examples = sample_tasks(240, seed=0)
    assert all(isinstance(e, InstructionExample) and e.source == "demo-world" for e in examples)
    counts = {c: sum(e.category == c for e in examples) for c in CATEGORY_IDS}
    assert set(counts.values()) == {20}
    assert len({e.id for e in examples}) == len(examples)
    assert all(e.output.strip() and e.instruction.strip() for e in examples)
    # a prefix of the pool is balanced too, so nested subsets keep the mix
    assert {sum(e.category == c for e in examples[:24]) for c in CATEGORY_IDS} == {2}


def test_category_filter_and_unknown_category():
    assert {e.category for e in sample_tasks(10, seed=0, categories=["math", "code"])} == {"math", "code"}
    with pytest.raises(ConfigError, match="no category"):
        sample_tasks(1, seed=0, categories=["poetry"])


def test_varied_wording_per_category():
    by_cat: dict[str, set[str]] = {}
    for e in sample_tasks(600, seed=0):
        by_cat.setdefault(e.category, set()).add(e.instruction[:6])
    assert all(len(starts) >= 3 for starts in by_cat.values()), by_cat


def test_eval_set_has_references_and_never_overlaps_training():
    items = build_eval_set(10, seed=0)
    assert len(items) == 120 and all(isinstance(i, EvalItem) and i.reference for i in items)
    assert {i.category for i in items} == set(CATEGORY_IDS)
    assert {i.meta["difficulty"] for i in items} == {1, 2, 3}
    questions = {i.question for i in items}
    assert len(questions) == len(items)
    for seed in (0, 1, 7):
        assert not questions & {t.question for t in sample_world_tasks(2000, seed=seed)}


def test_code_references_are_the_real_program_output():
    tasks = [t for t in sample_world_tasks(360, seed=5) if t.category == "code"]
    assert len(tasks) == 30
    program = "\n".join(f"print('@@{i}')\n" + t.meta["program"] for i, t in enumerate(tasks))
    out = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=30, check=True).stdout
    chunks = out.split("@@")[1:]
    for t, chunk in zip(tasks, chunks, strict=True):
        _, _, printed = chunk.partition("\n")
        assert printed.strip() == t.output, (t.meta["program"], printed)


def test_math_and_cot_references_agree_with_arithmetic():
    for t in sample_world_tasks(480, seed=2):
        if t.category == "cot":
            # every step "a op b = c" in the reasoning is right, and the answer is the last result
            steps = re.findall(r"(\d+)([+\-×÷])(\d+)=(\d+)", t.output)
            assert steps
            for a, op, b, c in steps:
                a, b, c = int(a), int(b), int(c)
                assert {"+": a + b, "-": a - b, "×": a * b, "÷": a // b}[op] == c
            assert t.output.endswith(f"所以答案是{steps[-1][3]}。")
        if t.category == "math":
            assert t.output.isdigit()
