"""Sources of variance beyond the choice of evaluation items: training seeds and response samples.

Training seeds. Run-index entries with the same (arm, size) and different `seed` are repeated
trainings of one scale. Such a cell's mean is the mean over seeds of the mean over items, and
its CI comes from a hierarchical bootstrap: every draw resamples the items (once, shared by all
scales, so comparisons stay paired) and, per scale, the seeds (their spread widened by
sqrt(m / (m - 1)), the usual small-sample correction). The seed share of the variance
is a two-way (item x seed) random-effects split of the cell's item scores.

Response samples. When a model answered an item several times (`Response.sample`), the judge
scores every sample and the item score averages them all. A nested split (item > sample >
judge repeat) of the primary judge's scores says how much of the score variance is sampling.

Both splits are method-of-moments (ANOVA) estimates, negative components set to 0.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from statistics import fmean

import numpy as np
from pydantic import BaseModel

from instructscale.report.stats import Boot
from instructscale.runindex import ScaleEntry


@dataclass
class Cell:
    """One scale of one arm: the models trained with its seeds (one model without replicates)."""

    arm: str
    size: int
    label: str
    models: list[str] = field(default_factory=list)
    seeds: list[int | None] = field(default_factory=list)


def seed_cells(scales: list[ScaleEntry]) -> list[Cell]:
    """Scale entries grouped by (arm, size), in the order of the entries."""
    cells: dict[tuple[str, int], Cell] = {}
    for s in scales:
        cell = cells.setdefault((s.arm, s.size), Cell(arm=s.arm, size=s.size, label=s.label))
        cell.models.append(s.model)
        cell.seeds.append(s.seed)
    return list(cells.values())


def has_replicates(cells: list[Cell]) -> bool:
    return any(len(c.models) > 1 for c in cells)


def seed_cube(scores: dict, item_ids: list[str], cells: list[Cell]) -> np.ndarray:
    """Items x cells x seeds of item scores (NaN = no score, or a cell with fewer seeds)."""
    width = max((len(c.models) for c in cells), default=1)
    cube = np.full((len(item_ids), len(cells), width), np.nan)
    for i, item_id in enumerate(item_ids):
        for k, cell in enumerate(cells):
            for m, model in enumerate(cell.models):
                s = scores.get((model, item_id))
                if s is not None and s.score is not None:
                    cube[i, k, m] = s.score
    return cube


def seed_mean(cube: np.ndarray) -> np.ndarray:
    """Items x cells: an item's score averaged over the seeds that scored it (NaN if none did)."""
    valid = np.isfinite(cube)
    n = valid.sum(2)
    with np.errstate(invalid="ignore"):
        return np.where(n > 0, np.where(valid, cube, 0).sum(2) / np.maximum(n, 1), np.nan)


def bootstrap_seeds_items(cube: np.ndarray, seeds_per_cell: list[int], samples: int,
                          rng: np.random.Generator) -> Boot:
    """Hierarchical bootstrap: items resampled once per draw for all cells, seeds per cell."""
    n, s, _ = cube.shape
    point = seed_mean(cube)
    valid_point = np.isfinite(point)
    if n == 0:
        zeros = np.zeros((samples, s))
        return Boot(np.zeros(s), np.zeros(s), zeros, zeros)
    idx = rng.integers(0, n, size=(samples, n))
    boot_sums, boot_counts = np.zeros((samples, s)), np.zeros((samples, s))
    for k, m in enumerate(seeds_per_cell):
        y = _widen_seed_spread(cube[:, k, :m])
        valid = np.isfinite(y)
        draws = rng.integers(0, m, size=(samples, m))
        times = (draws[:, :, None] == np.arange(m)).sum(1).astype(float)  # draws x seeds: times drawn
        num, den = times @ np.where(valid, y, 0).T, times @ valid.T  # draws x items
        with np.errstate(invalid="ignore", divide="ignore"):
            per_item = np.where(den > 0, num / np.maximum(den, 1e-300), np.nan)
        picked = np.take_along_axis(per_item, idx, axis=1)
        ok = np.isfinite(picked)
        boot_sums[:, k], boot_counts[:, k] = np.where(ok, picked, 0).sum(1), ok.sum(1)
    return Boot(np.where(valid_point, point, 0).sum(0), valid_point.sum(0), boot_sums, boot_counts)


def _widen_seed_spread(y: np.ndarray) -> np.ndarray:
    """Seed effects scaled by sqrt(m / (m - 1)): resampling m seeds with replacement otherwise
    shrinks the variance of their mean by (m - 1) / m, which matters at the 2-5 seeds studies run."""
    m = y.shape[1]
    if m < 2 or not np.isfinite(y).any(0).all():
        return y
    with np.errstate(invalid="ignore"):
        seed_means = np.nanmean(y, axis=0)
    return y + (np.sqrt(m / (m - 1)) - 1) * (seed_means - seed_means.mean())[None, :]


class SeedSplit(BaseModel):
    """Item x seed variance split of one cell (or, for a category row, averaged over its cells)."""

    category: str
    label: str  # scale label, or "all" for the category's average over replicated scales
    seeds: int
    items: int  # items scored by every seed
    seed_var: float
    item_var: float
    residual_var: float  # item-by-seed interaction plus judge noise
    seed_sd: float  # how far a retraining typically moves the cell mean
    seed_share: float | None  # of the variance of the cell mean over seeds and items


def seed_split(y: np.ndarray, category: str, label: str) -> SeedSplit | None:
    """`y`: items x seeds; only items scored by every seed count. None below 2 seeds or 2 items."""
    y = y[np.isfinite(y).all(1)]
    n, m = y.shape
    if n < 2 or m < 2:
        return None
    grand = y.mean()
    item_means, seed_means = y.mean(1), y.mean(0)
    ms_seed = n * float(((seed_means - grand) ** 2).sum()) / (m - 1)
    ms_item = m * float(((item_means - grand) ** 2).sum()) / (n - 1)
    resid = y - item_means[:, None] - seed_means[None, :] + grand
    ms_res = float((resid ** 2).sum()) / ((n - 1) * (m - 1))
    seed_var, item_var = max(0.0, (ms_seed - ms_res) / n), max(0.0, (ms_item - ms_res) / m)
    return _seed_row(category, label, m, n, seed_var, item_var, ms_res)


def seed_splits(category: str, cube: np.ndarray, cells: list[Cell]) -> list[SeedSplit]:
    """One row per replicated cell, then the category's row (components averaged over those cells)."""
    rows = [r for k, c in enumerate(cells) if len(c.models) > 1
            if (r := seed_split(cube[:, k, :len(c.models)], category, c.label)) is not None]
    if rows:
        rows.append(_seed_row(category, "all", round(fmean(r.seeds for r in rows)), round(fmean(r.items for r in rows)),
                              fmean(r.seed_var for r in rows), fmean(r.item_var for r in rows),
                              fmean(r.residual_var for r in rows)))
    return rows


def _seed_row(category, label, m, n, seed_var, item_var, res_var) -> SeedSplit:
    of_mean = seed_var / m + item_var / n + res_var / (n * m)
    return SeedSplit(category=category, label=label, seeds=m, items=n, seed_var=seed_var, item_var=item_var,
                     residual_var=res_var, seed_sd=float(np.sqrt(seed_var)),
                     seed_share=(seed_var / m) / of_mean if of_mean > 0 else None)


class SampleSplit(BaseModel):
    """Nested split of one category's scores at one scale: item > response sample > judge repeat."""

    category: str
    label: str  # scale label, or "all" for the category's average over scales
    items: int
    samples_per_item: float  # mean number of scored samples per item
    item_var: float | None
    sample_var: float | None  # within-item, between-sample (None: one sample per item)
    repeat_var: float | None  # within-answer, between judge repeats (None: one repeat per answer)
    sample_share: float | None  # sample_var / (item_var + sample_var + repeat_var)
    repeat_share: float | None


def sample_split(answers: dict[str, dict[int, list[float]]], category: str, label: str) -> SampleSplit | None:
    """`answers`: item -> sample -> scored repeats. None when no item has a score."""
    rows = [(i, v) for i, samples in enumerate(answers.values()) for v in samples.values() if v]
    if not rows:
        return None
    _, item = np.unique([i for i, _ in rows], return_inverse=True)  # items with a score, numbered 0..n-1
    reps = np.array([len(v) for _, v in rows], float)
    means = np.array([sum(v) / len(v) for _, v in rows])
    within = sum(sum((x - m) ** 2 for x in v) for (_, v), m in zip(rows, means))
    rep_df = float((reps - 1).sum())
    repeat_var = within / rep_df if rep_df else None
    r_noise = repeat_var or 0.0
    k = np.bincount(item).astype(float)  # scored samples per item
    item_means = np.bincount(item, weights=means) / k
    inv_reps = np.bincount(item, weights=1 / reps) / k  # mean of 1/repeats over an item's samples
    sample_var = None
    if (k > 1).any():  # E[between] = sample var + repeat var / repeats
        between = float(((means - item_means[item]) ** 2).sum() / (k - 1).sum())
        sample_var = max(0.0, between - float(inv_reps[k > 1].mean()) * r_noise)
    item_var = None
    if len(k) >= 2:  # E[var of item means] = item var + (sample var + repeat var / repeats) / samples
        noise = float((((sample_var or 0.0) + r_noise * inv_reps) / k).mean())
        item_var = max(0.0, float(np.var(item_means, ddof=1)) - noise)
    return _sample_row(category, label, len(k), float(k.mean()), item_var, sample_var, repeat_var)


def sample_splits(category: str, judgements, item_ids: set[str], cells: list[Cell]) -> list[SampleSplit]:
    """Rows per scale where some item has 2+ samples, then the category's average (none otherwise).
    With seeds, a scale's row averages its seed models' splits."""
    by_model: dict[str, dict[str, dict[int, list[float]]]] = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    for j in judgements:
        if j.item_id in item_ids:
            answer = by_model[j.model][j.item_id][j.sample]
            if j.score is not None:
                answer.append(j.score)
    rows = []
    for cell in cells:
        splits = [s for m in cell.models if (s := sample_split(by_model.get(m, {}), category, cell.label))]
        splits = [s for s in splits if s.sample_var is not None]
        if splits:
            rows.append(_average(splits, category, cell.label))
    if rows:
        rows.append(_average(rows, category, "all"))
    return rows


def _average(rows: list[SampleSplit], category: str, label: str) -> SampleSplit:
    def mean_of(name):
        vals = [getattr(r, name) for r in rows if getattr(r, name) is not None]
        return fmean(vals) if vals else None

    return _sample_row(category, label, round(fmean(r.items for r in rows)), fmean(r.samples_per_item for r in rows),
                       mean_of("item_var"), mean_of("sample_var"), mean_of("repeat_var"))


def _sample_row(category, label, items, per_item, item_var, sample_var, repeat_var) -> SampleSplit:
    total = sum(v for v in (item_var, sample_var, repeat_var) if v is not None)
    return SampleSplit(category=category, label=label, items=items, samples_per_item=per_item, item_var=item_var,
                       sample_var=sample_var, repeat_var=repeat_var,
                       sample_share=sample_var / total if sample_var is not None and total > 0 else None,
                       repeat_share=repeat_var / total if repeat_var is not None and total > 0 else None)


def replicated_boot(run, category: str, cells: list[Cell], samples: int,
                    rng: np.random.Generator) -> tuple[list[int], Boot]:
    """For `analysis`: unscored judgements per cell and the hierarchical bootstrap of a category."""
    items = [i.id for i in run.items_in(category)]
    scores = run.scores[run.judge]
    unscored = [sum(s.unscored for m in c.models for i in items if (s := scores.get((m, i))) is not None)
                for c in cells]
    cube = seed_cube(scores, items, cells)
    return unscored, bootstrap_seeds_items(cube, [len(c.models) for c in cells], samples, rng)
