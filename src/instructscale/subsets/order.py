"""One ordering of the pool whose prefixes are the subsets, so every smaller subset is
inside every larger one by construction.

The stratified order does not allocate each size separately with largest remainders:
that method is not monotone in the total (the "Alabama paradox": growing the total can
shrink one category's share), which would break nesting. Instead the order is built one
slot at a time, each slot going to the category furthest below its proportional quota,
so every prefix of size s holds within one item of s * share for each category.
"""

from __future__ import annotations

import random
from collections.abc import Sequence


def nested_order(n: int, seed: int) -> list[int]:
    """A seeded permutation of range(n)."""
    order = list(range(n))
    random.Random(seed).shuffle(order)
    return order


def stratified_order(labels: Sequence[str], seed: int) -> list[int]:
    """A permutation of range(len(labels)) whose every prefix keeps the label proportions
    (each label within one item of its quota)."""
    n = len(labels)
    groups: dict[str, list[int]] = {}
    for i, label in enumerate(labels):
        groups.setdefault(label, []).append(i)
    names = sorted(groups)
    rng = random.Random(seed)
    queues = []
    for name in names:  # sorted, so the per-category shuffles do not depend on input order
        members = groups[name]
        rng.shuffle(members)
        queues.append(members)
    shares = [len(q) / n for q in queues]
    taken = [0] * len(queues)
    order = []
    for s in range(1, n + 1):
        # the category furthest below its quota at this prefix size; ties go to the first name
        best = max(range(len(queues)), key=lambda c: (s * shares[c] - taken[c], -c))
        order.append(queues[best][taken[best]])
        taken[best] += 1
    return order
