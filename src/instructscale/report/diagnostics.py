"""Judge diagnostics: how much the judge disagrees with itself (repeat spread), how many
judgements gave no valid score, and, where two judges scored the same answers (an LLM
judge and the reference scorer), how well they agree (Spearman rank correlation)."""

from __future__ import annotations

import itertools
import warnings
from statistics import fmean

from pydantic import BaseModel

from instructscale.report.load import RunData

MIN_PAIRS = 3  # fewer common answers than this: no correlation reported


class JudgeHealth(BaseModel):
    judge: str
    category: str
    answers: int  # (scale, item) pairs judged
    judgements: int
    unscored: int
    unscored_answers: int  # answers with no valid score at all (left out of every mean)
    repeat_spread: float | None  # mean over answers of max - min over repeats


class Agreement(BaseModel):
    judges: tuple[str, str]
    category: str
    pairs: int
    spearman: float | None


def judge_health(run: RunData) -> list[JudgeHealth]:
    rows = []
    for judge, scores in run.scores.items():
        for category in [*run.categories, "all"]:
            group = [s for s in scores.values() if category in ("all", s.category)]
            spreads = [s.repeat_spread for s in group if s.repeat_spread is not None]
            rows.append(JudgeHealth(
                judge=judge, category=category, answers=len(group), judgements=sum(s.scored + s.unscored for s in group),
                unscored=sum(s.unscored for s in group), unscored_answers=sum(s.score is None for s in group),
                repeat_spread=fmean(spreads) if spreads else None))
    return rows


def agreement(run: RunData) -> list[Agreement]:
    from scipy.stats import spearmanr

    rows = []
    for a, b in itertools.combinations(run.scores, 2):
        sa, sb = run.scores[a], run.scores[b]
        common = [(k, sa[k].category) for k in sa.keys() & sb.keys()
                  if sa[k].score is not None and sb[k].score is not None]
        for category in [*run.categories, "all"]:
            keys = [k for k, c in common if category in ("all", c)]
            rho = None
            if len(keys) >= MIN_PAIRS:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # constant input: rho undefined, reported as None
                    r = spearmanr([sa[k].score for k in keys], [sb[k].score for k in keys]).statistic
                rho = None if r != r else float(r)
            rows.append(Agreement(judges=(a, b), category=category, pairs=len(keys), spearman=rho))
    return rows
