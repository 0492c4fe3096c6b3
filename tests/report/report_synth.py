"""A synthetic study run directory with planted answers, written with the real writers.

Three categories over a base model and three tuned scales (100, 1K, 10K examples):
extraction climbs 0.15 per tenfold data (improving), translation sits at 0.85 (plateaued),
math sits at 0.12 (flat and poor). The LLM judge scores every answer 3 times; a few
math judgements at the 100 scale have no valid score. A reference scorer agrees
with the judge up to small noise.
"""

from __future__ import annotations

import math
import random
from pathlib import Path

from instructscale.datafiles import write_json, write_jsonl
from instructscale.records import EvalItem, Judgement, Response
from instructscale.runindex import RunIndex, ScaleEntry, save_index

SCALES = [("base-model", 0, "base"), ("tuned-100", 100, "100"), ("tuned-1k", 1000, "1K"), ("tuned-10k", 10000, "10K")]
ITEMS_PER_CATEGORY = 30
JUDGE = "judge-llm"
UNSCORED_MATH_ITEMS = 2  # at scale "100": every repeat unscored for these items
TRICKY = "</script><script>alert(1)</script> & <b>bold</b>"


def planted_mean(category: str, size: int, lift: float = 0.0) -> float:
    if category == "extraction":
        return 0.1 + lift if size == 0 else 0.3 + lift + 0.15 * math.log10(size / 100)
    if category == "translation":
        return 0.3 if size == 0 else 0.85
    return 0.1 if size == 0 else 0.12


def make_run(root: Path, name: str = "synthetic", seed: int = 0, lift: float = 0.0,
             categories: tuple[str, ...] = ("math", "extraction", "translation")) -> Path:
    """Write the run under `root`; `lift` raises the extraction curve (a second study to compare).
    Categories other than the three planted ones behave like math."""
    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    items = [EvalItem(id=f"{cat}-{i:02d}", category=cat, question=f"{cat} question {i}?",
                      reference=f"reference answer {i}" if i != 0 else None)
             for cat in categories for i in range(ITEMS_PER_CATEGORY)]
    responses, judgements = [], []
    for model, size, _ in SCALES:
        for item in items:
            text = TRICKY if (item.id == "extraction-01" and size == 10000) else f"{model} answers {item.id}"
            responses.append(Response(item_id=item.id, model=model, response=text))
            base = planted_mean(item.category, size, lift) + rng.gauss(0, 0.08)
            for repeat in range(3):
                score = round(min(1.0, max(0.0, base + rng.gauss(0, 0.05))), 2)
                idx = int(item.id.split("-")[1])
                unscored = (item.category == "math" and size == 100 and
                            (idx < UNSCORED_MATH_ITEMS or (idx == UNSCORED_MATH_ITEMS and repeat == 0)))
                judgements.append(Judgement(item_id=item.id, model=model, judge=JUDGE, repeat=repeat,
                                            category=item.category, score=None if unscored else score,
                                            raw="no score" if unscored else f"得分: {score}"))
            ref = round(min(1.0, max(0.0, base + rng.gauss(0, 0.02))), 3)
            judgements.append(Judgement(item_id=item.id, model=model, judge="reference", score=ref))
    write_jsonl(root / "eval.jsonl", items)
    write_jsonl(root / "responses.jsonl", responses)
    write_jsonl(root / "judgements.jsonl", [j for j in judgements if j.judge == JUDGE])
    write_jsonl(root / "judgements_ref.jsonl", [j for j in judgements if j.judge == "reference"])
    write_json(root / "subsets" / "manifest.json", {
        "seed": 0, "stratify": True, "pool": "pool.jsonl", "pool_sha256": None, "pool_size": 20000,
        "subsets": [{"name": label, "size": size, "file": f"subset_{label}.jsonl", "sha256": "0" * 64,
                     "categories": {"math": size // 5, "extraction": size // 2, "translation": size - size // 5 - size // 2}}
                    for _, size, label in SCALES if size]})
    save_index(root, RunIndex(
        name=name, eval="eval.jsonl", responses=["responses.jsonl"], primary_judge=JUDGE,
        judgements={JUDGE: "judgements.jsonl", "reference": "judgements_ref.jsonl"},
        subsets_manifest="subsets/manifest.json",
        scales=[ScaleEntry(model=m, size=s, label=lab, subset=None if s == 0 else f"subsets/subset_{lab}.jsonl")
                for m, s, lab in SCALES]))
    return root
