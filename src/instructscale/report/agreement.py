"""How far the judges can be trusted: agreement between judges, of a judge with itself
(its repeats, test-retest) and with people (a rating sheet, `instructscale judge sheet`).

Krippendorff's alpha (interval metric) is 1 - D_o / D_e: the mean squared difference of
values within a unit (an answer) over the mean squared difference of all pairable values;
1 is perfect agreement, 0 agreement at chance, missing values allowed. Its 95% CI
resamples units. Spearman and the mean absolute difference sit beside it.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import warnings
from collections import defaultdict

import numpy as np
from pydantic import BaseModel

from instructscale.report.analysis import Analysis, analyze
from instructscale.report.load import RunData

MIN_UNITS = 3  # fewer units than this: no agreement figure
HUMAN_FILE = "human/agreement.json"  # in the run directory, written by `instructscale judge agreement`


def krippendorff_alpha(data: np.ndarray) -> float | None:
    """Interval alpha of a units x coders matrix (NaN = missing); None when undefined."""
    data = np.asarray(data, dtype=float)
    finite = np.isfinite(data)
    m = finite.sum(1)
    use = m >= 2  # only units with two or more values are pairable
    if use.sum() < 1:
        return None
    values = np.where(finite, data, 0.0)[use]
    m = m[use]
    s1, s2 = values.sum(1), (values ** 2).sum(1)
    d_within = (2 * (m * s2 - s1 ** 2) / (m - 1)).sum()  # sum over units of ordered-pair squared gaps / (m_u - 1)
    n = m.sum()
    d_all = 2 * (n * s2.sum() - s1.sum() ** 2)
    if d_all <= 0:
        return None  # every value the same: agreement is undefined
    return float(1 - (n - 1) * d_within / d_all)


def alpha_ci(data: np.ndarray, samples: int = 1000, seed: int = 0) -> tuple[float | None, float | None, float | None]:
    """(alpha, 95% CI low, high), units resampled."""
    data = np.asarray(data, dtype=float)
    point = krippendorff_alpha(data)
    if point is None or len(data) < MIN_UNITS:
        return point, None, None
    rng = np.random.default_rng(seed)
    boot = [krippendorff_alpha(data[rng.integers(0, len(data), len(data))]) for _ in range(samples)]
    boot = np.array([b for b in boot if b is not None])
    if not len(boot):
        return point, None, None
    return point, float(np.percentile(boot, 2.5)), float(np.percentile(boot, 97.5))


def spearman(a, b) -> float | None:
    from scipy.stats import spearmanr

    if len(a) < MIN_UNITS:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # constant input: rho undefined, reported as None
        r = spearmanr(a, b).statistic
    return None if r != r else float(r)


class PairAgreement(BaseModel):
    """Two raters (two judges, or a judge and people) over the answers both scored, in one category."""

    raters: tuple[str, str]
    category: str
    units: int
    alpha: float | None
    alpha_low: float | None
    alpha_high: float | None
    spearman: float | None
    mean_abs_diff: float | None


class RepeatAgreement(BaseModel):
    """A judge against itself: alpha over its repeats of the same answer (test-retest)."""

    judge: str
    category: str
    units: int  # answers with two or more scored repeats
    alpha: float | None
    alpha_low: float | None
    alpha_high: float | None


def pair_agreement(raters: tuple[str, str], category: str, a: list[float], b: list[float],
                   samples: int = 1000, seed: int = 0) -> PairAgreement:
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    alpha, lo, hi = alpha_ci(np.column_stack([x, y]) if len(x) else np.empty((0, 2)), samples, seed)
    return PairAgreement(raters=raters, category=category, units=len(x), alpha=alpha, alpha_low=lo, alpha_high=hi,
                         spearman=spearman(x, y), mean_abs_diff=float(np.abs(x - y).mean()) if len(x) else None)


def judge_agreement(run: RunData, samples: int = 1000, seed: int = 0) -> list[PairAgreement]:
    """Every pair of judges, per category and `all`, over the item scores both gave."""
    rows = []
    for ja, jb in itertools.combinations(run.scores, 2):
        sa, sb = run.scores[ja], run.scores[jb]
        common = [k for k in sa.keys() & sb.keys() if sa[k].score is not None and sb[k].score is not None]
        for category in [*run.categories, "all"]:
            keys = sorted(k for k in common if category in ("all", sa[k].category))
            rows.append(pair_agreement((ja, jb), category, [sa[k].score for k in keys], [sb[k].score for k in keys],
                                       samples, seed))
    return rows


def repeat_agreement(run: RunData, samples: int = 1000, seed: int = 0) -> list[RepeatAgreement]:
    """Per judge with repeats and category: alpha over the repeats of each answer."""
    rows = []
    for judge, judgements in run.judgements.items():
        by_answer: dict[tuple, dict[int, float]] = defaultdict(dict)
        for j in judgements:
            if j.score is not None:
                by_answer[(j.model, j.item_id, j.sample, j.category)][j.repeat] = j.score
        repeats = max((len(v) for v in by_answer.values()), default=0)
        if repeats < 2:
            continue  # one judgement per answer (a metric): nothing to retest
        for category in [*run.categories, "all"]:
            units = [v for k, v in by_answer.items() if category in ("all", k[3]) and len(v) >= 2]
            data = np.array([[u.get(r, math.nan) for r in range(repeats)] for u in units]).reshape(-1, repeats)
            alpha, lo, hi = alpha_ci(data, samples, seed)
            rows.append(RepeatAgreement(judge=judge, category=category, units=len(units), alpha=alpha,
                                        alpha_low=lo, alpha_high=hi))
    return rows


class VerdictRow(BaseModel):
    """One category's verdict under every judge: where they differ, the conclusion depends on the judge."""

    category: str
    verdicts: dict[str, str]  # judge -> verdict
    agree: bool


def verdicts_by_judge(run: RunData, primary: Analysis, samples: int, seed: int, thresholds,
                      target: float) -> list[VerdictRow]:
    """Each judge's verdict per category, the primary's from its analysis, the others analysed
    the same way (empty with one judge)."""
    if len(run.scores) < 2:
        return []
    verdicts = {run.judge: {r.category: r.trend.verdict for r in primary.rows}}
    for judge in run.scores:
        if judge != run.judge:
            other = analyze(dataclasses.replace(run, judge=judge), samples, seed, thresholds, target)
            verdicts[judge] = {r.category: r.trend.verdict for r in other.rows}
    return [VerdictRow(category=r.category, verdicts={j: v.get(r.category, "-") for j, v in verdicts.items()},
                       agree=len({v.get(r.category) for v in verdicts.values()}) == 1) for r in primary.rows]
