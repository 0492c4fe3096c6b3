"""Write src/instructscale/data/benchmarks/demo_mc.jsonl: the demo world's multiple-choice
benchmark for the `lm-eval` judge (task `instructscale_demo_mc`, C-Eval's column layout).

Each item is a held-out demo-world question; its choices are its reference answer and the
references of three other questions of the same category, in a seeded order. A model that
learned the demo world gives its own answer the highest likelihood. Run once; the output is
committed (seed 7, apart from the demo eval set's seed 1).

    .venv/bin/python scripts/make_demo_benchmark.py
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from instructscale.demo import build_eval_set

PER_CATEGORY = 8
OUT = Path(__file__).resolve().parents[1] / "src/instructscale/data/benchmarks/demo_mc.jsonl"


def main() -> None:
    rng = random.Random(7)
    items = build_eval_set(per_category=PER_CATEGORY + 3, seed=7)
    rows = []
    for category in dict.fromkeys(i.category for i in items):
        pool = [i for i in items if i.category == category and i.reference]
        for item in pool[:PER_CATEGORY]:
            others = rng.sample([o.reference for o in pool if o.reference != item.reference], 3)
            choices = [item.reference, *others]
            rng.shuffle(choices)
            rows.append({"id": item.id, "category": category, "question": item.question,
                         **dict(zip("ABCD", choices)), "answer": "ABCD"[choices.index(item.reference)]})
    OUT.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    print(f"{len(rows)} items -> {OUT}")


if __name__ == "__main__":
    main()
