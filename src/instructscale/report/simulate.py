"""Synthetic studies with known true curves, to check that the report's verdicts and intervals
mean what they say (tests/report and benchmarks/verdict_calibration.py).

Each category gets a latent curve m(N) of one known kind. Item i at scale N has answer
quality p = clip(m(N) + d_i + e_iN, 0, 1), with a per-item difficulty d_i shared by all
scales and a per-answer wobble e_iN; the judge scores every answer 3 times, each a
quantized Binomial(10, p) / 10 (scores in [0, 1], steps of 0.1, mean exactly p). The true
category mean at N is therefore E[clip(m(N) + Z, 0, 1)], Z ~ N(0, sqrt(sd_item^2 + sd_answer^2)),
in closed form, and the true verdict follows from the true curve by the report's own rule
with zero-width intervals. Studies are written as run directories (index.json, eval set,
judgements) and read back through the report's real loader and analysis; a sequential design
(report/sequential.py) looks at growing stages of the same judged items, as a study would judge them.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from statistics import NormalDist

from instructscale.categories import CATEGORY_IDS
from instructscale.datafiles import read_records, write_jsonl
from instructscale.records import EvalItem
from instructscale.report.analysis import Analysis, analyze
from instructscale.report.config import Verdict, VerdictThresholds
from instructscale.report.load import load_run
from instructscale.report.sequential import RECORD_FILE, SequentialConfig, advance, save_stage, start
from instructscale.report.stats import judge_trend
from instructscale.runindex import RunIndex, ScaleEntry, load_index, save_index

SIZES = (0, 200_000, 600_000, 1_000_000, 2_000_000)  # the study's scales, base model first
LABELS = ("base", "0.2M", "0.6M", "1M", "2M")
JUDGE = "sim-judge"
REPEATS = 3
SD_ITEM, SD_ANSWER = 0.25, 0.15
BASE_LATENT = 0.05


@dataclass(frozen=True)
class Curve:
    """Latent mean m(N) for N > 0: `level + slope * log10(N / N0) - gap * (N / N0) ** -alpha`."""

    kind: str
    level: float
    slope: float = 0.0
    gap: float = 0.0
    alpha: float = 1.0

    def latent(self, size: int) -> float:
        if size == 0:
            return BASE_LATENT
        u = size / SIZES[1]
        return self.level + self.slope * math.log10(u) - self.gap * u ** -self.alpha

    def mean(self, size: float) -> float:
        """True category mean: E[clip(m + Z, 0, 1)] for Z ~ N(0, sd)."""
        m, sd, z = self.latent(size), math.hypot(SD_ITEM, SD_ANSWER), NormalDist()
        a, b = -m / sd, (1 - m) / sd
        return m * (z.cdf(b) - z.cdf(a)) + sd * (z.pdf(a) - z.pdf(b)) + 1 - z.cdf(b)


# kinds of curves and the ranges their parameters are drawn from (level at 0.2M, slope per 10x, ...)
KINDS = {
    "rising": dict(level=(0.3, 0.45), slope=(0.22, 0.32)),
    "rising_low": dict(level=(0.08, 0.15), slope=(0.22, 0.3)),
    "rising_high": dict(level=(0.55, 0.7), slope=(0.25, 0.32)),
    "saturated": dict(level=(0.55, 0.85), gap=(0.25, 0.4), alpha=(2.0, 3.0)),
    "flat_good": dict(level=(0.6, 0.85)),
    "flat_poor": dict(level=(0.05, 0.2)),
}


def draw_curves(rng: np.random.Generator) -> dict[str, Curve]:
    """Twelve categories, two of each kind, parameters drawn fresh per study."""
    kinds = [k for k in KINDS for _ in range(2)]
    return {cat: Curve(kind=kind, **{p: float(rng.uniform(*r)) for p, r in KINDS[kind].items()})
            for cat, kind in zip(CATEGORY_IDS, kinds)}


def true_verdicts(curve: Curve, t: VerdictThresholds) -> tuple[Verdict, set[Verdict]]:
    """The report's rule applied to the true curve (intervals of zero width), and every verdict
    that is right for it: that one, plus `improving` wherever the true late slope is above 0 (the
    rule calls a gain smaller than delta plateaued, but evidence of it is evidence of a real gain)."""
    means = np.array([curve.mean(s) for s in SIZES[1:]])
    x = np.log10(SIZES[1:])
    whole, late = _exact_slope(x, means), true_late_slope(curve, t)
    verdict, _ = judge_trend((whole,) * 3, (late,) * 3, (means[-1],) * 3, t)
    return verdict, ({verdict, "improving"} if late > 1e-9 else {verdict})


def true_late_slope(curve: Curve, t: VerdictThresholds) -> float:
    sizes = SIZES[-t.late_points:]
    return _exact_slope(np.log10(sizes), np.array([curve.mean(s) for s in sizes]))


def true_data_needed(curve: Curve, target: float) -> float | None:
    """Training examples at which the true mean first reaches `target`, if within the tuned range."""
    lo, hi = math.log10(SIZES[1]), math.log10(SIZES[-1])
    if not curve.mean(10 ** lo) < target <= curve.mean(10 ** hi):
        return None
    for _ in range(60):  # the true curves rise monotonically: bisection on log10(N)
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if curve.mean(10 ** mid) < target else (lo, mid)
    return 10 ** hi


def write_study(root: Path, curves: dict[str, Curve], items: int, seed: int) -> Path:
    """A run directory: eval set, the simulated judge's judgements, index.json."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    evals, judgements = [], []
    for cat, curve in curves.items():
        ids = [f"{cat}-{i:03d}" for i in range(items)]
        evals += [{"id": i, "category": cat, "question": f"{cat} question {i}"} for i in ids]
        difficulty = rng.normal(0, SD_ITEM, items)
        for model, size in zip(LABELS, SIZES):
            p = np.clip(curve.latent(size) + difficulty + rng.normal(0, SD_ANSWER, items), 0, 1)
            scores = rng.binomial(10, p[:, None], (items, REPEATS)) / 10
            judgements += [{"item_id": i, "model": model, "judge": JUDGE, "repeat": r, "score": float(scores[k, r])}
                           for k, i in enumerate(ids) for r in range(REPEATS)]
    write_jsonl(root / "eval.jsonl", evals)
    write_jsonl(root / "judgements.jsonl", judgements)
    save_index(root, RunIndex(name=root.name, eval="eval.jsonl", primary_judge=JUDGE,
                              judgements={JUDGE: "judgements.jsonl"},
                              scales=[ScaleEntry(model=m, size=s, label=m) for m, s in zip(LABELS, SIZES)]))
    return root


def analyze_study(run_dir: Path, samples: int, t: VerdictThresholds, target: float, seed: int = 0) -> Analysis:
    """What `build_report` computes for the tables (loader, bootstrap, verdicts, fits), without rendering."""
    return analyze(load_run(run_dir), samples, seed, t, target)


@dataclass
class Calibration:
    """Counts over category cells of simulated studies."""

    cells: int = 0
    right: int = 0
    strictly_right: int = 0  # the rule's own verdict for the true curve
    undetermined: int = 0
    confidently_wrong: int = 0
    ci_cells: int = 0
    ci_covered: int = 0
    needed_cells: int = 0
    needed_covered: int = 0
    needed_unidentified: int = 0  # of the cells with a fit and a true crossing: the fit says not identified
    items_used: int = 0  # summed over category cells (a sequential design uses fewer where it decides early)
    flat_cells: int = 0  # cells whose true late slope is 0 (up to rounding)
    false_improving: int = 0  # of those, called improving
    outcomes: Counter = field(default_factory=Counter)  # (curve kind, right verdicts, verdict) -> cells

    def add(self, other: Calibration) -> None:
        for f in self.__dataclass_fields__:
            setattr(self, f, getattr(self, f) + getattr(other, f))

    def share(self, part: str, whole: str) -> float:
        return getattr(self, part) / getattr(self, whole) if getattr(self, whole) else float("nan")


def score_study(a: Analysis, curves: dict[str, Curve], t: VerdictThresholds, target: float) -> Calibration:
    c = Calibration()
    for row in a.categories:
        curve = curves[row.category]
        (strict, truth), verdict = true_verdicts(curve, t), row.trend.verdict
        c.cells += 1
        c.right += verdict in truth
        c.strictly_right += verdict == strict
        c.undetermined += verdict == "undetermined"
        c.confidently_wrong += verdict not in truth | {"undetermined"}
        c.outcomes[(curve.kind, "/".join(sorted(truth)), verdict)] += 1
        c.items_used += row.items
        if abs(true_late_slope(curve, t)) < 1e-6:
            c.flat_cells += 1
            c.false_improving += verdict == "improving"
        for cell in row.cells:
            if cell.ci_low is not None:
                c.ci_cells += 1
                c.ci_covered += cell.ci_low <= curve.mean(cell.size) <= cell.ci_high
        needed = true_data_needed(curve, target)
        if needed is not None and row.fit is not None and not row.fit.data_needed.identified:
            c.needed_unidentified += 1
        elif needed is not None and row.fit is not None:
            n = row.fit.data_needed
            c.needed_cells += 1
            lo, hi = (math.inf if v is None else v for v in (n.ci_low, n.ci_high))
            c.needed_covered += lo <= needed <= hi
    return c


def calibrate(root: Path, studies: int, items: int | SequentialConfig, samples: int, t: VerdictThresholds,
              target: float = 0.8, seed: int = 0) -> Calibration:
    """Simulate `studies` studies with `items` items per category (or a sequential design, judged on
    up to its maximum) and score the report against the truth. A design and a fixed count equal to its
    maximum see the very same simulated judgements."""
    total = Calibration()
    n = items.max if isinstance(items, SequentialConfig) else items
    for k in range(studies):
        rng = np.random.default_rng([seed, n, k])
        curves = draw_curves(rng)
        tag = "seq" if isinstance(items, SequentialConfig) else "fixed"
        run = write_study(root / f"study-{tag}-{n}-{k}", curves, n, seed=int(rng.integers(2**31)))
        a = (run_looks(run, items, samples, t, target) if isinstance(items, SequentialConfig)
             else analyze_study(run, samples, t, target))
        total.add(score_study(a, curves, t, target))
    return total


def run_looks(run_dir: Path, design: SequentialConfig, samples: int, t: VerdictThresholds, target: float,
              seed: int = 0) -> Analysis:
    """A sequential evaluation of a study whose every item is judged already: each look's stage of
    items is written the way `study run` writes it (stage eval file, sequential.json, index.json)
    and analysed; categories still undetermined move on, until none does. The last look's analysis."""
    items = read_records(run_dir / "eval.jsonl", EvalItem)
    record = start(design, Counter(i.category for i in items), seed)
    while True:
        stage = save_stage(run_dir, record, items)
        index = load_index(run_dir)
        save_index(run_dir, index.model_copy(update={"eval": stage.name, "sequential": RECORD_FILE}))
        a = analyze_study(run_dir, samples, t, target)
        if not advance(record, {r.category: r.trend.verdict for r in a.categories}):
            save_stage(run_dir, record, items)  # the final reasons
            return a


def late_slope_verdicts(slope_sd: float, true_slope: float, items: int, sims: int, samples: int,
                        t: VerdictThresholds, rng: np.random.Generator) -> Counter:
    """Verdicts of `sims` simulated categories through the report's bootstrap and rule: scales 0.2M, 1M
    and 2M (and a base model), a good level (0.7), a per-item late slope of SD `slope_sd` around
    `true_slope` (independent per-scale noise, no clipping: the setting evalset/power.py sizes)."""
    from instructscale.evalset.power import slope_weights
    from instructscale.report.stats import bootstrap_items, trend

    sizes = [0, 200_000, 1_000_000, 2_000_000]
    x, w = np.log10(sizes[1:]), slope_weights(sizes[1:])
    noise = slope_sd / math.sqrt(float(w @ w))
    out: Counter = Counter()
    for _ in range(sims):
        y = 0.7 + rng.normal(0, 0.1, (items, 1)) + true_slope * x + rng.normal(0, noise, (items, 3))
        boot = bootstrap_items(np.column_stack([np.full(items, 0.2), y]), samples, rng)
        out[trend(sizes, boot.means, boot.boot_means, t, items).verdict] += 1
    return out


def _exact_slope(x: np.ndarray, y: np.ndarray) -> float:
    xc = x - x.mean()
    return float((y - y.mean()) @ xc / (xc @ xc))
