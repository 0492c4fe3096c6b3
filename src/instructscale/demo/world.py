"""The procedural Chinese instruction world of the offline demo.

Every task has an exact reference answer. The task space is split once, by a hash of the
task text, into a training part and a held-out part: `sample_tasks` (and the teacher)
only ever produce training-part tasks, `build_eval_set` only held-out ones, so an eval
item can never appear verbatim in any training pool, whatever the seeds.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

from instructscale.categories import CATEGORY_IDS
from instructscale.demo import tasks_reasoning, tasks_template, tasks_text
from instructscale.demo.noise import is_planted, spoil
from instructscale.demo.task import Task
from instructscale.errors import ConfigError
from instructscale.records import EvalItem, InstructionExample

SOURCE = "demo-world"
HELD_OUT_BUCKETS = 10  # one task text in ten is reserved for evaluation

GENERATORS: dict[str, Callable[[random.Random, int], Task]] = {
    "math": tasks_reasoning.math_task,
    "code": tasks_reasoning.code_task,
    "cot": tasks_reasoning.cot_task,
    "classification": tasks_text.classification_task,
    "extraction": tasks_text.extraction_task,
    "open_qa": tasks_template.open_qa_task,
    "closed_qa": tasks_text.closed_qa_task,
    "generation": tasks_template.generation_task,
    "brainstorming": tasks_template.brainstorming_task,
    "rewrite": tasks_template.rewrite_task,
    "translation": tasks_template.translation_task,
    "summarization": tasks_text.summarization_task,
}
assert list(GENERATORS) == list(CATEGORY_IDS)

_MAX_TRIES = 500


def is_held_out(task: Task) -> bool:
    return int(task.key[:8], 16) % HELD_OUT_BUCKETS == 0


def draw_task(rng: random.Random, category: str, *, held_out: bool = False) -> Task:
    """One random task of `category` from the training part (or the held-out part)."""
    for _ in range(_MAX_TRIES):
        task = GENERATORS[category](rng, rng.choice((1, 1, 2, 2, 3)))
        if is_held_out(task) == held_out:
            return task
    raise RuntimeError(f"demo world: no {'held-out' if held_out else 'training'} task for {category}")


def _check(categories: Sequence[str] | None) -> list[str]:
    cats = list(categories or CATEGORY_IDS)
    unknown = [c for c in cats if c not in GENERATORS]
    if unknown:
        raise ConfigError(f"demo world has no category {unknown} (have: {', '.join(GENERATORS)})")
    return cats


def _unique_tasks(n: int, rng: random.Random, categories: list[str], held_out: bool) -> list[Task]:
    """`n` distinct tasks, categories in rotation so the mix stays balanced."""
    seen: set[str] = set()
    out: list[Task] = []
    order = list(categories)
    while len(out) < n:
        rng.shuffle(order)
        for cat in order[: n - len(out)]:
            for _ in range(_MAX_TRIES):
                task = draw_task(rng, cat, held_out=held_out)
                if task.key not in seen:
                    break
            else:
                raise ConfigError(f"demo world: cannot draw {n} distinct tasks for {cat}; ask for fewer")
            seen.add(task.key)
            out.append(task)
    return out


def sample_world_tasks(n: int, seed: int, categories: Sequence[str] | None = None,
                       noise_rate: float = 0.0) -> list[Task]:
    """With `noise_rate` > 0, the planted share of tasks has a wrong or useless answer
    (`meta["planted"]` names the kind), exactly those the teacher would plant."""
    tasks = _unique_tasks(n, random.Random(f"train:{seed}"), _check(categories), held_out=False)
    return [spoil(t) if is_planted(t.instruction, t.input, noise_rate) else t for t in tasks]


def sample_tasks(n: int, seed: int, categories: Sequence[str] | None = None,
                 noise_rate: float = 0.0) -> list[InstructionExample]:
    """`n` distinct training examples, balanced over `categories` (default: all 12)."""
    return [t.to_example() for t in sample_world_tasks(n, seed, categories, noise_rate)]


def build_eval_set(per_category: int, seed: int, categories: Sequence[str] | None = None) -> list[EvalItem]:
    """`per_category` held-out items per category, each with its exact reference answer."""
    rng = random.Random(f"eval:{seed}")
    items = []
    for cat in _check(categories):
        for t in _unique_tasks(per_category, rng, [cat], held_out=True):
            items.append(EvalItem(category=cat, question=t.question, reference=t.output,
                                  meta={"source": SOURCE, "family": t.family, "difficulty": t.difficulty,
                                        "instruction": t.instruction, "input": t.input}))
    return items
