"""Judge biases a reader must be able to rule out before believing a curve.

Length: LLM judges tend to prefer longer answers, and tuning on more data can make answers
longer. Per category we show the mean answer length (characters) at every scale, the Spearman
rank correlation of score with length, and a length-controlled mean beside the raw mean: within
a category, score = scale effect + beta * length (one common beta, fitted within scales, so a
real gain between scales is not taken for a length effect), and each scale's mean is read off at
one reference length (the category's mean length): raw mean - beta * (scale's mean length -
reference). If the raw curve rises and the controlled one does not, the "improvement" is longer
answers.

Self-preference: a judge that is the model which wrote the training data may favour answers
that imitate it; the report warns when the index says they are the same model.
"""

from __future__ import annotations

import warnings
from collections import defaultdict
from statistics import fmean

import numpy as np
from pydantic import BaseModel

from instructscale.report.load import RunData
from instructscale.report.variance import Cell
from instructscale.runindex import RunIndex

MIN_ANSWERS = 3  # fewer scored answers than this in a category: no correlation or coefficient


class LengthCell(BaseModel):
    label: str
    answers: int  # scored answers with a response
    mean_chars: float | None
    raw_mean: float | None
    controlled_mean: float | None


class LengthBias(BaseModel):
    category: str
    answers: int
    spearman: float | None  # score vs answer length over the category's scored answers, all scales
    per_1000_chars: float | None  # beta: score change per 1000 more characters, within scales
    reference_chars: float | None  # the length the controlled means are read off at
    cells: list[LengthCell]


def length_bias(run: RunData, cells: list[Cell]) -> list[LengthBias]:
    """Per category, for the primary judge; an answer's length is the mean over its samples."""
    scores = run.scores[run.judge]
    out = []
    for category in run.categories:
        per_cell: list[list[tuple[float, float]]] = []
        for cell in cells:
            pairs = []
            for item in run.items_in(category):
                for model in cell.models:
                    s, texts = scores.get((model, item.id)), run.responses.get((model, item.id))
                    if s is not None and s.score is not None and texts:
                        pairs.append((fmean(len(r.response) for r in texts), s.score))
            per_cell.append(pairs)
        out.append(_category_bias(category, cells, per_cell))
    return out


def _category_bias(category: str, cells: list[Cell], per_cell: list[list[tuple[float, float]]]) -> LengthBias:
    from scipy.stats import spearmanr

    everything = [p for pairs in per_cell for p in pairs]
    rho = beta = ref = None
    if len(everything) >= MIN_ANSWERS:
        lengths, scores = np.array(everything).T
        ref = float(lengths.mean())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # constant input: rho undefined, reported as None
            r = spearmanr(lengths, scores).statistic
        rho = None if r != r else float(r)
        sxy = sxx = 0.0
        for pairs in per_cell:
            if len(pairs) >= 2:
                x, y = np.array(pairs).T
                sxy += float((x - x.mean()) @ (y - y.mean()))
                sxx += float((x - x.mean()) @ (x - x.mean()))
        beta = sxy / sxx if sxx > 0 else None
    rows = []
    for cell, pairs in zip(cells, per_cell):
        if not pairs:
            rows.append(LengthCell(label=cell.label, answers=0, mean_chars=None, raw_mean=None, controlled_mean=None))
            continue
        x, y = np.array(pairs).T
        raw = float(y.mean())
        controlled = raw - beta * (float(x.mean()) - ref) if beta is not None else None
        rows.append(LengthCell(label=cell.label, answers=len(pairs), mean_chars=float(x.mean()), raw_mean=raw,
                               controlled_mean=controlled))
    return LengthBias(category=category, answers=len(everything), spearman=rho,
                      per_1000_chars=None if beta is None else 1000 * beta, reference_chars=ref, cells=rows)


def self_preference(index: RunIndex, judge: str | None = None) -> list[str]:
    """One warning per judge (only `judge`, when given: the one the headline numbers come from)
    whose model is the teacher model (names compared without case and without a provider prefix
    such as 'openai/')."""
    if not index.teacher_model:
        return []
    teacher = _model_key(index.teacher_model)
    return [f"judge '{name}' is the teacher model ({model}) that generated the training data: it may prefer "
            f"answers that imitate its own style (self-preference), so scores can rise with data for that reason "
            f"alone; confirm the curves with another judge" for name, model in index.judge_models.items()
            if _model_key(model) == teacher and judge in (None, name)]


def unscored_answers(run: RunData, cells: list[Cell]) -> list[dict]:
    """Per category and scale (primary judge): answers judged, and those with no valid score at all
    (every repeat unscored), which every mean leaves out."""
    scores = run.scores[run.judge]
    counts: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    model_cell = {m: c.label for c in cells for m in c.models}
    for (model, _), s in scores.items():
        if model in model_cell:
            c = counts[(s.category, model_cell[model])]
            c[0] += 1
            c[1] += s.score is None
    return [{"category": cat, "scale": c.label, "answers": counts[(cat, c.label)][0],
             "unscored_answers": counts[(cat, c.label)][1]} for cat in run.categories for c in cells]


def _model_key(name: str) -> str:
    return name.strip().casefold().rsplit("/", 1)[-1]
