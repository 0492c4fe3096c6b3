"""Decontamination: which training examples repeat an evaluation question, exactly or
nearly. Similarity is the Jaccard index of character n-grams (works on Chinese, which has
no spaces to split words on), computed exactly through an inverted index over the small
evaluation set, so a pool of millions is streamed once."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable

from pydantic import BaseModel

from instructscale.records import EvalItem, InstructionExample
from instructscale.textsim import char_ngrams, normalize_text

NGRAM = 3


class Overlap(BaseModel):
    eval_id: str
    example_id: str
    kind: str  # "exact" (same normalized text) or "near" (n-gram Jaccard >= threshold)
    similarity: float


def find_overlaps(eval_items: list[EvalItem], pool: Iterable[InstructionExample], threshold: float = 0.8,
                  n: int = NGRAM) -> list[Overlap]:
    """Every (eval item, pool example) pair whose texts are equal after normalization, or
    whose n-gram Jaccard similarity is at least `threshold`. A pool example is compared by
    its prompt (instruction + input) and by its instruction alone."""
    exact: dict[str, list[str]] = defaultdict(list)
    grams: list[set[str]] = []
    postings: dict[str, list[int]] = defaultdict(list)
    for i, item in enumerate(eval_items):
        key = _key(item.question)
        exact[key].append(item.id)
        grams.append(char_ngrams(key, n))
        for g in grams[-1]:
            postings[g].append(i)

    found: list[Overlap] = []
    for ex in pool:
        best: dict[str, Overlap] = {}
        for text in {_key(ex.prompt), _key(ex.instruction)}:
            for eid in exact.get(text, ()):
                best[eid] = Overlap(eval_id=eid, example_id=ex.id, kind="exact", similarity=1.0)
            mine = char_ngrams(text, n)
            shared = Counter(i for g in mine for i in postings.get(g, ()))
            for i, common in shared.items():
                sim = common / (len(mine) + len(grams[i]) - common)
                eid = eval_items[i].id
                if sim >= threshold and (eid not in best or best[eid].similarity < sim):
                    best[eid] = Overlap(eval_id=eid, example_id=ex.id, kind="near", similarity=round(sim, 4))
        found.extend(best.values())
    return found


def _key(text: str) -> str:
    return normalize_text(text, strip_punct=True)
