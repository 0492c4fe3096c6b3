"""Decontamination: which training examples repeat an evaluation question, exactly or
nearly. Similarity is the Jaccard index of character n-grams (works on Chinese, which has
no spaces to split words on), computed exactly through an inverted index over the small
evaluation set, so a pool of millions is streamed once.

Prefix filtering keeps the index fast when many questions share a phrasing ("请把下面这句话
翻译成英文"): a pair with Jaccard >= t shares at least ceil(t * |A|) of the example's
n-grams, so it shares one of any |A| - ceil(t * |A|) + 1 of them; probing only the rarest
ones finds every candidate, and each candidate is then scored exactly."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable

from pydantic import BaseModel

from instructscale.errors import ConfigError
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
    if not 0 < threshold <= 1:
        raise ConfigError(f"threshold must be in (0, 1], got {threshold}")
    exact: dict[str, list[int]] = defaultdict(list)
    grams: list[set[str]] = []
    postings: dict[str, list[int]] = defaultdict(list)
    for i, item in enumerate(eval_items):
        key = _key(item.question)
        if key:
            exact[key].append(i)
        grams.append(char_ngrams(key, n))
        for g in grams[-1]:
            postings[g].append(i)

    found: list[Overlap] = []
    for ex in pool:
        best: dict[int, Overlap] = {}
        for text in {_key(ex.prompt), _key(ex.instruction)} - {""}:  # all punctuation: nothing to compare
            for i in exact.get(text, ()):
                best[i] = Overlap(eval_id=eval_items[i].id, example_id=ex.id, kind="exact", similarity=1.0)
            mine = char_ngrams(text, n)
            for i in _candidates(mine, postings, threshold):
                common = len(mine & grams[i])
                sim = common / (len(mine) + len(grams[i]) - common)
                if sim >= threshold and (i not in best or best[i].similarity < sim):
                    best[i] = Overlap(eval_id=eval_items[i].id, example_id=ex.id, kind="near",
                                      similarity=round(sim, 4))
        found.extend(best[i] for i in sorted(best))
    return found


def _candidates(mine: set[str], postings: dict[str, list[int]], threshold: float) -> set[int]:
    """Eval items that can reach `threshold` with `mine`: those in the postings of the
    example's prefix, n-grams unknown to the index first (they match nothing), then rarest."""
    need = max(1, math.ceil(threshold * len(mine) - 1e-9))  # shared n-grams a match must have
    known = sorted((g for g in mine if g in postings), key=lambda g: len(postings[g]))
    probe = len(mine) - need + 1 - (len(mine) - len(known))
    return {i for g in known[:max(probe, 0)] for i in postings[g]}


def _key(text: str) -> str:
    return normalize_text(text, strip_punct=True)
