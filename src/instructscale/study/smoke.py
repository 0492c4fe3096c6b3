"""`study run --limit N`: the same study file, shrunk to check a real configuration end to end
in minutes before the real run: N evaluation items per category, subsets of 5N, 10N, ... (as
many scales as the study has), a pool just large enough, a few training steps, lm-eval judges
on N items, all in its own run directory (RUN_DIR-smokeN), so the real run's results are never
touched. The teacher, judges, base model and prompts stay the study's."""

from __future__ import annotations

from typing import Any

SUBSET_STEP = 5  # smoke subsets: 5N, 10N, 15N, ...
MAX_STEPS = 3
DEFAULT_SCALES = 4  # subsets.sizes has four entries unless the file says otherwise


def shrink(raw: dict[str, Any], n: int) -> None:
    """Edit the raw study mapping in place into its smoke version."""
    raw["run_dir"] = f"{str(raw.get('run_dir', 'runs/study')).rstrip('/')}-smoke{n}"
    ev = raw.setdefault("eval", {})
    if ev.get("demo_world_per_category") is not None:
        ev["demo_world_per_category"] = min(int(ev["demo_world_per_category"]), n)
    else:
        ev["limit_per_category"] = n
    largest = max([_shrink_sizes(raw.setdefault("subsets", {}), n, DEFAULT_SCALES),
                   *(_shrink_sizes(arm.setdefault("subsets", {}), n, None) for arm in raw.get("arms", []) or [])])
    data = raw.setdefault("data", {})
    if not data.get("pool"):  # generate just more than the largest subset (eval overlaps are removed first)
        gen = data.setdefault("generate", {})
        gen["target"] = min(int(gen.get("target", largest * 2)), largest + largest // 2 + 5)
    for train in (raw.setdefault("train", {}), *(arm.get("train", {}) for arm in raw.get("arms", []) or [])):
        if train is raw["train"] or "max_steps" in train:
            train["max_steps"] = min(int(train.get("max_steps") or MAX_STEPS), MAX_STEPS)
    for judge in raw.get("judges", []) or []:
        if judge.get("kind") == "lm-eval":
            judge.setdefault("options", {})["limit"] = n


def _shrink_sizes(subsets: dict[str, Any], n: int, default_count: int | None) -> int:
    """Counts become 5N, 10N, ...; fractions of the pool stay (the pool itself is small). An arm
    without sizes (default_count None) keeps the study's. Returns the largest count."""
    sizes = subsets.get("sizes")
    if sizes is None and default_count is None:
        return 0
    count = len(sizes) if sizes is not None else default_count
    if sizes is None or not all(isinstance(s, float) and s <= 1 for s in sizes):
        subsets["sizes"] = [SUBSET_STEP * n * (i + 1) for i in range(count)]
    return SUBSET_STEP * n * count
