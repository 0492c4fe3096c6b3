"""`diversity` selection: greedy farthest-point (k-center) ordering over character n-gram
vectors, so that every prefix of the order covers the pool broadly.

Each example becomes a hashed bag of character n-grams (instruction, input and output),
L2-normalized; the distance is 1 - cosine similarity. The order starts at a seeded
example and then always takes the example farthest from everything taken so far (the
classic 2-approximation of k-center). Every prefix is such a greedy solution, so the
subsets are nested for free. Cost: one matrix-vector product per pick (n x dim), run on
one BLAS thread: a multi-threaded BLAS spends more on waking threads than on so small a
product (benchmarks/subsets_selection.py).
"""

from __future__ import annotations

import zlib

import numpy as np
from threadpoolctl import threadpool_limits

from instructscale.records import InstructionExample
from instructscale.textsim import normalize_text


def ngram_vectors(examples: list[InstructionExample], ngram: int = 3, dim: int = 512) -> np.ndarray:
    """(n, dim) float32, rows L2-normalized; grams of length 1..ngram hashed with crc32
    (stable across runs and machines, unlike Python's hash)."""
    out = np.zeros((len(examples), dim), dtype=np.float32)
    for row, ex in enumerate(examples):
        text = normalize_text(f"{ex.instruction}\n{ex.input}\n{ex.output}")
        cols = [zlib.crc32(text[i:i + k].encode("utf-8")) % dim
                for k in range(1, ngram + 1) for i in range(len(text) - k + 1)]
        np.add.at(out[row], cols, 1.0)
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return out / np.where(norms == 0, 1.0, norms)


def farthest_point_order(vectors: np.ndarray, first: int) -> tuple[list[int], list[float]]:
    """(order, distance of each pick to the picks before it); the first pick's distance is
    the largest possible, 1.0. Ties go to the lowest index."""
    order, gaps = [first], [1.0]
    with threadpool_limits(limits=1, user_api="blas"):
        nearest = 1.0 - vectors @ vectors[first]
        nearest[first] = -np.inf
        for _ in range(len(vectors) - 1):
            pick = int(np.argmax(nearest))
            order.append(pick)
            gaps.append(float(max(nearest[pick], 0.0)))
            np.minimum(nearest, 1.0 - vectors @ vectors[pick], out=nearest)  # taken rows stay -inf
            nearest[pick] = -np.inf
    return order, gaps
