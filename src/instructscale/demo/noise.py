"""Planted bad training examples: the demo world's stand-in for the wrong or useless
answers a real teacher's pool contains, so that quality selection has something to find.

Whether a task is planted is a hash of its normalized instruction and input, not a random
draw: the teacher that generated a pool and the teacher that later rates it (another run,
another process) agree on which examples are bad without sharing any state, and turning
planting off (rate 0) consumes no randomness, so every other output stays as it was.
"""

from __future__ import annotations

import hashlib
import random
import re

from instructscale.demo.task import Task
from instructscale.textsim import normalize_text

REFUSALS = ["我不知道。", "抱歉，我不知道答案。", "这个问题我无法回答。", "I don't know."]
_NUMERIC = {"math", "cot"}
_TRUNCATABLE = {"summarization", "generation", "rewrite", "translation", "brainstorming", "open_qa", "closed_qa",
                "extraction"}


def task_key(instruction: str, input: str = "") -> str:
    """What marks a task, robust to the whitespace and punctuation a pipeline may change."""
    return normalize_text(instruction + input, strip_punct=True)


def is_planted(instruction: str, input: str, rate: float) -> bool:
    """True for about `rate` of all tasks, always the same ones."""
    if rate <= 0:
        return False
    digest = hashlib.sha256(f"planted|{task_key(instruction, input)}".encode()).hexdigest()
    return int(digest[:12], 16) / 16**12 < rate


def is_refusal(output: str) -> bool:
    return normalize_text(output, strip_punct=True) in {normalize_text(r, strip_punct=True) for r in REFUSALS}


def spoil(task: Task) -> Task:
    """The task with a wrong or useless answer: wrong arithmetic (math, COT), a truncated
    text (summaries and other prose), or a refusal; `meta["planted"]` names the kind."""
    rng = random.Random(f"spoil|{task.key}")
    kinds = ["refusal"] + (["arithmetic"] * 2 if task.category in _NUMERIC else []) + \
        (["truncated"] * 2 if task.category in _TRUNCATABLE and len(task.output) >= 8 else [])
    kind = rng.choice(kinds)
    if kind == "arithmetic":
        output = _wrong_number(task.output, rng)
    elif kind == "truncated":
        output = task.output[: max(2, int(len(task.output) * rng.uniform(0.3, 0.6)))].rstrip().rstrip("，。,.")
    else:
        output = rng.choice(REFUSALS[:3])
    return Task(task.category, task.family, task.instruction, task.input, output, task.difficulty,
                meta={**task.meta, "planted": kind})


def _wrong_number(output: str, rng: random.Random) -> str:
    """The last number of the answer moved by a small non-zero amount (everywhere it occurs
    as the result, so a COT answer stays self-consistent in form but wrong)."""
    numbers = re.findall(r"-?\d+", output)
    if not numbers:
        return rng.choice(REFUSALS[:3])
    right = numbers[-1]
    wrong = str(int(right) + rng.choice([-3, -2, -1, 1, 2, 3, 10]))
    return re.sub(rf"(?<![\d-]){re.escape(right)}(?!\d)", wrong, output)
