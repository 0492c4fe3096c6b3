"""Arms of a study side by side: one analysis per arm, arm against arm at each scale, and
each arm's training-data composition.

Each arm is analysed on its own (its scale 0 and tuned scales, seeds pooled the same way
as in a one-arm study), so every per-arm number means what it means in a one-arm report.
Arm against arm: at every scale both arms trained, the paired difference of item scores
(an item's score averaged over the arm's training seeds), items resampled with a
bootstrap, per category and macro-averaged; the first arm is the baseline.
"""

from __future__ import annotations

import dataclasses
import zlib
from pathlib import Path

import numpy as np
from pydantic import BaseModel

from instructscale.datafiles import write_json, write_text
from instructscale.report.analysis import MACRO, Analysis
from instructscale.report.composition import composition
from instructscale.report.load import RunData
from instructscale.report.variance import seed_cells, seed_cube, seed_mean
from instructscale.runindex import DEFAULT_ARM
from instructscale.subsets.manifest import load_manifest


class ArmDifference(BaseModel):
    """`arm` minus `baseline` at one scale, over the items both scored."""

    category: str
    arm: str
    baseline: str
    size: int
    label: str
    items: int
    delta: float | None
    ci_low: float | None
    ci_high: float | None


@dataclasses.dataclass
class ArmsReport:
    analyses: list[Analysis]  # one per arm, named by the arm, in the run index's order
    differences: list[ArmDifference]
    compositions: dict[str, list[dict]]  # arm -> training-data composition per subset
    runs: dict[str, RunData]


def arms_report(runs: dict[str, RunData], samples: int, seed: int, thresholds, target: float) -> ArmsReport | None:
    """Every arm analysed on its own and against the first; None for a run with one arm."""
    from instructscale.report.analysis import analyze

    if len(runs) < 2:
        return None
    analyses = [dataclasses.replace(analyze(run, samples, seed, thresholds, target), name=arm)
                for arm, run in runs.items()]
    return ArmsReport(analyses=analyses, differences=arm_differences(runs, samples, seed),
                      compositions={arm: composition(run.manifest) for arm, run in runs.items()}, runs=runs)


def arm_names(run: RunData) -> list[str]:
    """Arms in the order of the run index (a run without arms has one, 'main')."""
    return list(dict.fromkeys(s.arm for s in run.index.scales)) or [DEFAULT_ARM]


def arm_runs(run: RunData) -> dict[str, RunData]:
    """The run seen by each arm: its scales only, and its own subsets manifest."""
    names = arm_names(run)
    if len(names) == 1:
        return {names[0]: run}
    return {arm: dataclasses.replace(run, scales=[s for s in run.scales if s.arm == arm],
                                     manifest=_arm_manifest(run, arm)) for arm in names}


def arm_differences(runs: dict[str, RunData], samples: int, seed: int) -> list[ArmDifference]:
    """Every other arm against the first, at each tuned scale both have, per category and macro."""
    arms = list(runs)
    base_name, base = arms[0], runs[arms[0]]
    out = []
    for arm in arms[1:]:
        run = runs[arm]
        shared = sorted({s.size for s in run.scales if s.size > 0} & {s.size for s in base.scales if s.size > 0})
        for size in shared:
            per_category, draws = [], []
            for category in run.categories:
                ids = [i.id for i in run.items_in(category)]
                diff = _item_scores(run, ids, size) - _item_scores(base, ids, size)
                rng = np.random.default_rng([seed, zlib.crc32(f"{arm}/{category}/{size}".encode())])
                point, boot, n = _paired(diff, samples, rng)
                per_category.append(point)
                draws.append(boot)
                out.append(_difference(category, arm, base_name, size, n, point, boot, run))
            if per_category and all(p is not None for p in per_category):
                out.append(_difference(MACRO, arm, base_name, size, len(run.items), float(np.mean(per_category)),
                                       np.mean(draws, axis=0), run))
    return out


def write_arm_tables(arms: ArmsReport, out: Path) -> dict[str, str]:
    """arms.csv (every arm's means with CIs, slope and verdict, an `arm` column),
    arm_differences.csv, arms.json (both, and the compositions) and arms.md."""
    from instructscale.report.tables import _csv, display_name, fmt, fmt_ci

    analyses, diffs, comps = arms.analyses, arms.differences, arms.compositions
    rows = [{"arm": a.name, "category": r.category, "scale": c.label, "size": c.size, "mean": _round(c.mean),
             "ci_low": _round(c.ci_low), "ci_high": _round(c.ci_high), "scored_items": c.scored_items,
             "slope_per_10x": _round(r.trend.slope), "verdict": r.trend.verdict}
            for a in analyses for r in a.rows for c in r.cells]
    files = {"arms_csv": out / "arms.csv", "arm_differences_csv": out / "arm_differences.csv",
             "arms_json": out / "arms.json", "arms_markdown": out / "arms.md"}
    write_text(files["arms_csv"], _csv(rows))
    write_text(files["arm_differences_csv"], _csv([d.model_dump() for d in diffs]))
    write_json(files["arms_json"], {"arms": [a.name for a in analyses], "means": rows,
                                    "differences": [d.model_dump() for d in diffs], "composition": comps})
    lines = [f"# Arms: {' vs '.join(a.name for a in analyses)}", "", "## Verdicts per arm", "",
             "| category | " + " | ".join(a.name for a in analyses) + " |", "|---" * (len(analyses) + 1) + "|"]
    for r in analyses[0].rows:
        cells = [(a.row(r.category).trend.verdict if a.row(r.category) else "-") for a in analyses]
        lines.append(f"| {display_name(r.category)} | " + " | ".join(cells) + " |")
    if diffs:
        lines += ["", f"## Arm minus {diffs[0].baseline} (paired bootstrap over items, 95% CI)", "",
                  "| arm | scale | category | difference | items |", "|---|---|---|---|---|"]
        lines += [f"| {d.arm} | {d.label} | {display_name(d.category)} | {fmt_ci(d.delta, d.ci_low, d.ci_high, sign=True)}"
                  f" | {d.items} |" for d in diffs]
    lines += ["", "## Training data per arm", ""]
    for arm, comp in comps.items():
        lines += [f"- {arm}: " + "; ".join(f"{s['name']}: " + ", ".join(f"{c} {fmt(100 * v, 1)}%"
                                                                        for c, v in s["shares"].items())
                                           for s in comp)]
    write_text(files["arms_markdown"], "\n".join(lines) + "\n")
    return {k: str(v) for k, v in files.items()}


def _item_scores(run: RunData, item_ids: list[str], size: int) -> np.ndarray:
    """An item's score at one scale of the arm, averaged over its training seeds (NaN: none)."""
    cells = [c for c in seed_cells(run.scales) if c.size == size]
    return seed_mean(seed_cube(run.scores[run.judge], item_ids, cells))[:, 0]


def _paired(diff: np.ndarray, samples: int, rng: np.random.Generator) -> tuple[float | None, np.ndarray, int]:
    d = diff[np.isfinite(diff)]
    if len(d) == 0:
        return None, np.full(samples, np.nan), 0
    boot = d[rng.integers(0, len(d), size=(samples, len(d)))].mean(1)
    return float(d.mean()), boot, len(d)


def _difference(category, arm, baseline, size, n, point, boot, run: RunData) -> ArmDifference:
    label = next(s.label for s in run.scales if s.size == size)
    finite = boot[np.isfinite(boot)]
    lo, hi = (float(np.percentile(finite, 2.5)), float(np.percentile(finite, 97.5))) if len(finite) else (None, None)
    return ArmDifference(category=category, arm=arm, baseline=baseline, size=size, label=label, items=n,
                         delta=point, ci_low=lo, ci_high=hi)


def _arm_manifest(run: RunData, arm: str):
    """The subsets manifest next to the arm's subset files (arms may select their own subsets)."""
    subset = next((s.subset for s in run.scales if s.arm == arm and s.subset), None)
    if subset is None:
        return run.manifest
    path = run.index.resolve(subset).parent / "manifest.json"
    return load_manifest(path) if path.exists() else run.manifest


def _round(v: float | None) -> float | None:
    return None if v is None else round(v, 4)
