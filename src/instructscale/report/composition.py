"""Training-data composition: how many examples of each category every subset holds,
from the subsets manifest (category counts per subset file)."""

from __future__ import annotations

from instructscale.categories import CATEGORY_IDS
from instructscale.subsets.manifest import SubsetsManifest


def composition(manifest: SubsetsManifest | None) -> list[dict]:
    """One dict per subset, smallest first: name, size, counts and shares by category."""
    if manifest is None:
        return []
    order = {c: k for k, c in enumerate(CATEGORY_IDS)}
    out = []
    for entry in sorted(manifest.subsets, key=lambda e: e.size):
        cats = sorted(entry.categories, key=lambda c: (order.get(c, len(order)), c))
        total = sum(entry.categories.values()) or 1
        out.append({"name": entry.name, "size": entry.size, "counts": {c: entry.categories[c] for c in cats},
                    "shares": {c: entry.categories[c] / total for c in cats}})
    return out
