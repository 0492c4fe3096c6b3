"""Pairwise results: per category and scale, the win rate against the reference answer with a
paired bootstrap CI, a length-controlled win rate beside it, and a Bradley-Terry fit.

- A pair (both orders of one answer) counts only when the orders agree; its outcome is 1, 0.5
  (tie) or 0. An item's outcome is the mean over its consistent pairs (samples, repeats), and
  the win rate the mean over items. Inconsistent = share of pairs whose orders disagree.
- CIs resample items, the same resampled items for every scale (paired, as the score CIs).
- Length-controlled win rate (after AlpacaEval 2, arXiv 2404.04475): per category, a logistic
  regression of the pair outcome on scale and z = tanh(length difference / its sd); the LC win
  rate is the fitted win probability of the scale at zero length difference.
- Bradley-Terry (Arena-Hard's rating): log-strength of every scale with the reference fixed at 0
  (item outcomes as battles, ties as half a win), 95% CIs by the same item bootstrap.
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path

import numpy as np
from pydantic import BaseModel

from instructscale.datafiles import write_text
from instructscale.judge.pairwise import GOLDEN, pairs
from instructscale.records import PairJudgement
from instructscale.report.load import RunData, _read

ALL = "all"
RIDGE = 1e-3  # keeps the logistic fit finite when a scale wins (or loses) every pair


class PairRow(BaseModel):
    judge: str
    against: str
    category: str
    arm: str
    scale: str
    size: int
    model: str
    items: int  # items with at least one consistent pair
    pairs: int
    inconsistent: float | None  # share of pairs (both orders with a verdict) whose orders disagree
    unscored: int  # pairs with an order without a verdict
    win_rate: float | None
    ci_low: float | None
    ci_high: float | None
    lc_win_rate: float | None
    bt_strength: float | None  # log-odds of beating the reference
    bt_low: float | None
    bt_high: float | None


def pairwise_rows(run: RunData, samples: int = 2000, seed: int = 0) -> list[PairRow]:
    """Rows for every pairwise judge of the run, per category (and `all`) and scale."""
    rows = []
    for judge, rel in run.index.pairwise.items():
        records = [r for r in _read(run.index.resolve(rel), PairJudgement, _key) if r.item_id in run.items]
        rows += _judge_rows(run, judge, records, samples, seed)
    return rows


def _key(r: PairJudgement) -> tuple:
    return (r.judge, r.model, r.against, r.item_id, r.sample, r.repeat, r.swapped)


def _judge_rows(run: RunData, judge: str, records: list[PairJudgement], samples: int, seed: int) -> list[PairRow]:
    ps = [p for p in pairs(records) if p.item_id in run.items]
    against = next((p.against for p in ps), GOLDEN)
    scales = [s for s in run.scales if s.model != against and any(p.model == s.model for p in ps)]
    rows = []
    for category in [*run.categories, ALL]:
        chosen = [p for p in ps if category == ALL or run.items[p.item_id].category == category]
        item_ids = sorted({p.item_id for p in chosen})
        outcomes = _outcome_matrix(chosen, item_ids, [s.model for s in scales])
        lo, hi = bootstrap_ci(outcomes, samples, seed)
        bt, bt_lo, bt_hi = bradley_terry_ci(outcomes, samples, seed)
        lc = length_controlled(*_length_design(run, chosen, [s.model for s in scales], against), len(scales))
        for k, s in enumerate(scales):
            mine = [p for p in chosen if p.model == s.model]
            judged = [p for p in mine if None not in p.verdicts]
            col = outcomes[:, k]
            rate = float(np.nanmean(col)) if np.isfinite(col).any() else None
            rows.append(PairRow(
                judge=judge, against=against, category=category, arm=s.arm, scale=s.label, size=s.size, model=s.model,
                items=int(np.isfinite(col).sum()), pairs=len(mine), unscored=len(mine) - len(judged),
                inconsistent=sum(not p.consistent for p in judged) / len(judged) if judged else None,
                win_rate=rate, ci_low=lo[k], ci_high=hi[k], lc_win_rate=lc[k],
                bt_strength=bt[k], bt_low=bt_lo[k], bt_high=bt_hi[k]))
    return rows


def _outcome_matrix(ps, item_ids: list[str], models: list[str]) -> np.ndarray:
    """items x scales: the mean outcome of an item's consistent pairs, NaN where there is none."""
    sums, counts = np.zeros((len(item_ids), len(models))), np.zeros((len(item_ids), len(models)))
    row, col = {i: k for k, i in enumerate(item_ids)}, {m: k for k, m in enumerate(models)}
    for p in ps:
        if p.consistent and p.model in col:
            sums[row[p.item_id], col[p.model]] += p.outcome
            counts[row[p.item_id], col[p.model]] += 1
    with np.errstate(invalid="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def _resamples(n: int, samples: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, n, size=(samples, n))


def _boot_sums(outcomes: np.ndarray, samples: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Per resample and scale: the sum of item outcomes and the count of items with one."""
    finite = np.isfinite(outcomes)
    idx = _resamples(len(outcomes), samples, seed)
    return np.where(finite, outcomes, 0.0)[idx].sum(1), finite[idx].sum(1)


def _percentiles(boot: np.ndarray, present: np.ndarray) -> tuple[list, list]:
    lo, hi = [], []
    for k in range(boot.shape[1]):
        col = boot[:, k][np.isfinite(boot[:, k])]
        ok = bool(present[k]) and len(col) > 0
        lo.append(float(np.percentile(col, 2.5)) if ok else None)
        hi.append(float(np.percentile(col, 97.5)) if ok else None)
    return lo, hi


def bootstrap_ci(outcomes: np.ndarray, samples: int, seed: int) -> tuple[list, list]:
    """95% percentile CI of each column's mean over items (NaN skipped), items resampled together."""
    n, m = outcomes.shape
    if n == 0:
        return [None] * m, [None] * m
    sums, counts = _boot_sums(outcomes, samples, seed)
    with np.errstate(invalid="ignore", divide="ignore"):
        return _percentiles(np.where(counts > 0, sums / counts, np.nan), np.isfinite(outcomes).any(0))


def _strength(wins: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """log(W / L) with half a win and half a loss added, so a clean sweep stays finite."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, np.log((wins + 0.5) / (counts - wins + 0.5)), np.nan)


def bradley_terry_ci(outcomes: np.ndarray, samples: int, seed: int) -> tuple[list, list, list]:
    """Bradley-Terry log-strength of each scale (column), the reference fixed at 0, with its 95%
    item-bootstrap CI. Every battle is a scale against the reference, and for that design the
    maximum-likelihood strengths are log(wins / losses) per scale (ties as half of each)."""
    n, m = outcomes.shape
    present = np.isfinite(outcomes).any(0)
    point = _strength(np.nansum(outcomes, 0), np.isfinite(outcomes).sum(0))
    point = [float(point[k]) if present[k] else None for k in range(m)]
    if n == 0:
        return point, [None] * m, [None] * m
    return (point, *_percentiles(_strength(*_boot_sums(outcomes, samples, seed)), present))


def _logistic(x: np.ndarray, y: np.ndarray, iters: int = 50) -> np.ndarray:
    """Coefficients of a logistic regression with fractional outcomes (ties 0.5), by Newton's method."""
    beta = np.zeros(x.shape[1])
    for _ in range(iters):
        p = 1 / (1 + np.exp(-np.clip(x @ beta, -30, 30)))
        grad = x.T @ (y - p) - RIDGE * beta
        hess = (x * (p * (1 - p))[:, None]).T @ x + RIDGE * np.eye(len(beta))
        step = np.linalg.solve(hess, grad)
        beta += step
        if np.abs(step).max() < 1e-8:
            break
    return beta


def _length_design(run: RunData, ps, models: list[str], against: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(scale index, length difference in characters, outcome) per consistent pair with both answers known."""
    col = {m: k for k, m in enumerate(models)}
    scale, diff, y = [], [], []
    for p in ps:
        if not p.consistent or p.model not in col:
            continue
        answer = _answer(run, p.model, p.item_id, p.sample)
        other = run.items[p.item_id].reference if against == GOLDEN else _answer(run, against, p.item_id, 0)
        if answer is None or other is None:
            continue
        scale.append(col[p.model])
        diff.append(len(answer) - len(other))
        y.append(p.outcome)
    return np.array(scale, dtype=int), np.array(diff, dtype=float), np.array(y, dtype=float)


def _answer(run: RunData, model: str, item_id: str, sample: int) -> str | None:
    return next((r.response for r in run.responses.get((model, item_id), []) if r.sample == sample), None)


def length_controlled(scale: np.ndarray, diff: np.ndarray, y: np.ndarray, m: int) -> list[float | None]:
    """Win probability of each scale at zero length difference: outcome ~ logistic(scale + phi * z),
    z = tanh(diff / sd(diff)), phi shared by the scales of the category."""
    if len(y) == 0:
        return [None] * m
    sd = diff.std()
    z = np.tanh(diff / sd) if sd > 0 else np.zeros_like(diff)
    x = np.zeros((len(y), m + 1))
    x[np.arange(len(y)), scale] = 1.0
    x[:, m] = z
    beta = _logistic(x, y)
    present = np.bincount(scale, minlength=m) > 0
    return [float(1 / (1 + math.exp(-beta[k]))) if present[k] else None for k in range(m)]


def write_pairwise(rows: list[PairRow], out: Path) -> dict[str, str]:
    """pairwise.csv and the win-rate figure (beside Figure 1); nothing without a pairwise judge."""
    if not rows:
        return {}
    from instructscale.report.tables import _csv

    path = out / "pairwise.csv"
    write_text(path, _csv([{k: round(v, 6) if isinstance(v, float) else v for k, v in r.model_dump().items()}
                           for r in rows]))
    return {"pairwise_csv": str(path), **{f"pairwise_{k}": v for k, v in pairwise_figure(rows, out / "pairwise").items()}}


def pairwise_figure(rows: list[PairRow], out_stem: Path) -> dict[str, str]:
    """Win rate against data size, one line per category, `all` bold with its 95% CI band; the
    untuned base (size 0) one decade left of the smallest tuned scale."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from instructscale.report.figures import save_figure

    groups: dict[tuple[str, str, str], list[PairRow]] = defaultdict(list)
    for r in rows:
        if r.win_rate is not None:
            groups[(r.judge, r.arm, r.category)].append(r)
    judges = list(dict.fromkeys(k[0] for k in groups))
    fig, axes = plt.subplots(1, max(1, len(judges)), figsize=(5.5 * max(1, len(judges)), 3.6), squeeze=False,
                             layout="constrained")
    tuned = [r.size for r in rows if r.size > 0]
    base_x = min(tuned) / 10 if tuned else 1
    for ax, judge in zip(axes.flat, judges or [""]):
        for (j, arm, category), rs in groups.items():
            if j != judge:
                continue
            rs = sorted(rs, key=lambda r: r.size)
            x = [r.size or base_x for r in rs]
            label = category if len({k[1] for k in groups}) == 1 else f"{arm}: {category}"
            if category == ALL:
                ax.plot(x, [r.win_rate for r in rs], "o-", color="black", lw=2, label=label, zorder=3)
                ax.fill_between(x, [r.ci_low for r in rs], [r.ci_high for r in rs], color="black", alpha=0.15)
            else:
                ax.plot(x, [r.win_rate for r in rs], "-", lw=0.8, alpha=0.6, label=label)
        ax.axhline(0.5, color="grey", ls=":", lw=1)
        ax.set_xscale("log")
        ax.set_ylim(0, 1)
        ax.set_xlabel("training examples (leftmost: base)")
        ax.set_ylabel("win rate vs reference")
        against = next((r.against for r in rows if r.judge == judge), "")
        ax.set_title(f"pairwise judge {judge} vs {against}", fontsize=10)
        ax.legend(fontsize=6, ncol=2, frameon=False)
    return save_figure(fig, out_stem)


def html_view(files: dict[str, str]) -> dict | None:
    """What the HTML report's pairwise section shows (None: the run has no pairwise judge)."""
    import base64
    import csv

    if "pairwise_csv" not in files:
        return None
    with open(files["pairwise_csv"], encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    arms = len({r["arm"] for r in rows}) > 1

    def label(r: dict) -> str:
        return f"{r['arm']}: {r['scale']}" if arms else r["scale"]

    labels = list(dict.fromkeys(map(label, rows)))
    groups: dict[tuple[str, str, str], dict[str, dict]] = defaultdict(dict)
    for r in rows:
        groups[(r["judge"], r["against"], r["category"])][label(r)] = r
    view = []
    for (judge, against, category), by_label in groups.items():
        cells = []
        for lab in labels:
            r = by_label.get(lab)
            cells.append({"win": _fmt(r and r["win_rate"]), "ci": f"[{_fmt(r and r['ci_low'])}, {_fmt(r and r['ci_high'])}]",
                          "lc": _fmt(r and r["lc_win_rate"]), "bt": _fmt(r and r["bt_strength"], 2),
                          "inc": "-" if not (r and r["inconsistent"]) else f"{float(r['inconsistent']):.0%}"})
        view.append({"judge": judge, "against": against, "category": category, "cells": cells})
    figure = base64.b64encode(Path(files["pairwise_png"]).read_bytes()).decode("ascii")
    return {"labels": labels, "rows": view, "figure": figure}


def _fmt(value, digits: int = 3) -> str:
    return "-" if value in (None, "") else f"{float(value):.{digits}f}"
