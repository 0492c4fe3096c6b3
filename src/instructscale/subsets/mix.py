"""Category mix of the subsets: `--mix math=0.3,code=0.2` and `--drop CATEGORY`.

Named categories get their share of every subset; the other (not dropped) categories
share the rest in their pool proportions. The order is built one slot at a time, each slot
going to the category furthest below its quota (the same rule as the stratified order in
order.py), taking that category's best-ranked example not yet taken. So every prefix holds
each category within one example of `size x share` and the subsets stay nested whatever
the selection method. Feasibility depends only on category counts, so a mix the pool
cannot fill is refused before any rating or scoring is done.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

from instructscale.errors import ConfigError

TOLERANCE = 1e-9


def parse_mix(spec: str | dict[str, float] | None) -> dict[str, float]:
    """'math=0.3,code=0.2' -> {'math': 0.3, 'code': 0.2}; a dict is checked and returned."""
    if not spec:
        return {}
    if isinstance(spec, str):
        items = {}
        for part in filter(None, (p.strip() for p in spec.split(","))):
            name, sep, value = part.partition("=")
            if not sep or not name.strip():
                raise ConfigError(f"mix entry '{part}' is not CATEGORY=SHARE (e.g. math=0.3)")
            try:
                items[name.strip()] = float(value)
            except ValueError:
                raise ConfigError(f"mix share of '{name.strip()}' is not a number: '{value}'") from None
        spec = items
    for name, share in spec.items():
        if not 0.0 <= share <= 1.0:
            raise ConfigError(f"mix share of '{name}' must be between 0 and 1, got {share:g}")
    if sum(spec.values()) > 1.0 + TOLERANCE:
        raise ConfigError(f"mix shares add up to {sum(spec.values()):g}, more than 1")
    return dict(spec)


def category_shares(labels: Sequence[str], mix: dict[str, float], drop: Sequence[str]) -> dict[str, float]:
    """Each pool category's share of every subset (0 for dropped ones)."""
    counts = Counter(labels)
    for name in [*mix, *drop]:
        if name not in counts:
            raise ConfigError(f"category '{name}' is not in the pool (pool categories: {', '.join(sorted(counts))})")
    both = set(mix) & set(drop)
    if both:
        raise ConfigError(f"category '{sorted(both)[0]}' is both mixed and dropped")
    rest = [c for c in counts if c not in mix and c not in drop]
    left = 1.0 - sum(mix.values())
    if left > TOLERANCE and not rest:
        raise ConfigError(f"the mix leaves {left:g} of each subset to other categories, but there are none "
                          f"(name every category's share so they add up to 1, or leave one out of --mix)")
    if not mix and drop and not rest:
        raise ConfigError("--drop leaves no category in the pool")
    rest_total = sum(counts[c] for c in rest)
    shares = {c: 0.0 for c in counts}
    shares.update({c: counts[c] / rest_total * left for c in rest} if rest_total else {})
    shares.update(mix)
    return shares


def check_fill(labels: Sequence[str], shares: dict[str, float], largest: int) -> None:
    """Fail, naming the category, if the pool has too few of one to fill the largest subset."""
    counts = Counter(labels)
    for name in sorted(shares):
        need = math.ceil(largest * shares[name] - TOLERANCE)
        if shares[name] > 0 and counts[name] < need:
            raise ConfigError(f"the mix cannot be filled: the subset of {largest} needs up to {need} '{name}' "
                              f"examples ({shares[name]:.3g} of it), the pool has {counts[name]}")


def mixed_order(ranking: Sequence[int], labels: Sequence[str], shares: dict[str, float], size: int) -> list[int]:
    """The first `size` examples: slot by slot to the category furthest below its quota,
    each category's examples in `ranking` order. Ties go to the first category name."""
    names = sorted(c for c, s in shares.items() if s > 0)
    queues: dict[str, list[int]] = {c: [] for c in names}
    for i in ranking:
        if labels[i] in queues:
            queues[labels[i]].append(i)
    taken = dict.fromkeys(names, 0)
    position = {c: k for k, c in enumerate(names)}
    order = []
    for s in range(1, size + 1):
        best = max(names, key=lambda c: (s * shares[c] - taken[c], -position[c]))
        if taken[best] >= len(queues[best]):  # check_fill rules this out for feasible mixes
            raise ConfigError(f"the mix cannot be filled: no '{best}' example left for slot {s}")
        order.append(queues[best][taken[best]])
        taken[best] += 1
    return order
