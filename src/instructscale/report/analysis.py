"""From a loaded run to the numbers every output shows: one `CategoryResult` per
category, then the overall macro and micro rows, all for the primary judge."""

from __future__ import annotations

import warnings
import zlib
from dataclasses import dataclass

import numpy as np

from instructscale.report.config import VerdictThresholds
from instructscale.report.intervals import ALPHA
from instructscale.report.load import RunData
from instructscale.report.stats import Boot, CategoryResult, bootstrap_items, summarize
from instructscale.report.variance import has_replicates, replicated_boot, seed_cells

MACRO, MICRO = "macro", "micro"


@dataclass
class Analysis:
    name: str
    judge: str
    labels: list[str]
    sizes: list[int]
    rows: list[CategoryResult]  # categories in the study's order, then macro and micro

    @property
    def categories(self) -> list[CategoryResult]:
        return [r for r in self.rows if r.category not in (MACRO, MICRO)]

    def row(self, category: str) -> CategoryResult | None:
        return next((r for r in self.rows if r.category == category), None)


def score_matrix(run: RunData, category: str, judge: str | None = None) -> tuple[np.ndarray, list[int]]:
    """Items x scales of item scores (NaN = no score), and unscored judgement counts per scale."""
    scores = run.scores[judge or run.judge]
    items = run.items_in(category)
    m = np.full((len(items), len(run.scales)), np.nan)
    unscored = [0] * len(run.scales)
    for i, item in enumerate(items):
        for k, scale in enumerate(run.scales):
            s = scores.get((scale.model, item.id))
            if s is None:
                continue
            unscored[k] += s.unscored
            if s.score is not None:
                m[i, k] = s.score
    return m, unscored


def analyze(run: RunData, samples: int, seed: int, thresholds: VerdictThresholds, target: float = 0.8) -> Analysis:
    cells = seed_cells(run.scales)  # one per scale; repeated trainings (seeds) of a scale share one
    labels = [c.label for c in cells]
    sizes = [c.size for c in cells]
    rows, boots, unscored_all, n_items = [], [], np.zeros(len(labels), int), 0
    for category in run.categories:
        m, unscored = score_matrix(run, category)
        # a per-category stream: adding a category does not change the others' intervals
        rng = np.random.default_rng([seed, zlib.crc32(category.encode())])
        if has_replicates(cells):
            unscored, boot = replicated_boot(run, category, cells, samples, rng)
        else:
            boot = bootstrap_items(m, samples, rng)
        seq = run.sequential
        row = summarize(category, len(m), labels, sizes, unscored, boot.means, boot.boot_means, boot.counts,
                        thresholds, target, seq.verdict_alpha(category) if seq else ALPHA)
        rows.append(row.model_copy(update={"looks": seq.describe(category, row.trend.verdict)}) if seq else row)
        boots.append(boot)
        unscored_all += unscored
        n_items += len(m)
    if boots:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns (a scale nobody scored)
            macro_point = np.nanmean([b.means for b in boots], axis=0)
            macro_boot = np.nanmean([b.boot_means for b in boots], axis=0)
        micro = Boot(sum(b.sums for b in boots), sum(b.counts for b in boots),
                     sum(b.boot_sums for b in boots), sum(b.boot_counts for b in boots))
        rows.append(summarize(MACRO, n_items, labels, sizes, unscored_all, macro_point, macro_boot,
                              micro.counts, thresholds, target))
        rows.append(summarize(MICRO, n_items, labels, sizes, unscored_all, micro.means, micro.boot_means,
                              micro.counts, thresholds, target))
    return Analysis(name=run.name, judge=run.judge, labels=labels, sizes=sizes, rows=rows)
