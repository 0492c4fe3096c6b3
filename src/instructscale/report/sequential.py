"""Sequential evaluation: judge a first stage of items per category, and more items only where the
verdict is still undetermined, so more categories are decided for the same error rate.

The models are trained before judging starts, so more items cost only responses and judgements.
Every category is looked at after `first` items, then (if undetermined) after more, up to `max`
(`looks` looks, evenly spaced). Looking twice at growing data and stopping at the first claim
would raise every claim's error rate if each look used the usual 95% CIs. Each claim of the
verdict rule is a one-sided test at 2.5% (improving: late slope CI above 0; no gain: two such
tests, the CI inside +-delta), so the looks share that 2.5% by Lan-DeMets alpha spending
(Pocock-like or O'Brien-Fleming-like) over the information fractions items / max: look k's
verdict uses CIs at the level the spending leaves it (e.g. 97.0% at both looks of a 25/50
Pocock design). The record of the looks (sequential.json, named by index.json) says per category
how many items it used and why; the report reads it to cut each category's verdict CIs at the
level of the look it stopped at.
"""

from __future__ import annotations

import functools
import math
import zlib
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from instructscale.datafiles import read_text, write_json, write_jsonl
from instructscale.errors import InputError
from instructscale.report.intervals import ALPHA

RECORD_FILE = "sequential.json"
STAGE_EVAL = "eval-sequential.jsonl"
Spending = Literal["pocock", "obrien-fleming"]


class SequentialConfig(BaseModel):
    """`eval.sequential` of a study: items per category at the first look and at most."""

    model_config = ConfigDict(extra="forbid")

    first: int = Field(..., ge=5, description="Items per category judged first")
    max: int = Field(..., description="Most items per category (a category with fewer in the eval set uses all)")
    looks: int = Field(2, ge=2, le=6, description="Looks from `first` to `max`, evenly spaced (2: first and max)")
    spending: Spending = Field("pocock", description="How the looks share each claim's error rate: pocock (about "
                                                     "even) or obrien-fleming (strict early, near 95% at the end)")

    @model_validator(mode="after")
    def _check(self):
        if self.max <= self.first:
            raise ValueError(f"max ({self.max}) must be more than first ({self.first})")
        if self.looks > self.max - self.first + 1:
            raise ValueError(f"{self.looks} looks do not fit between first ({self.first}) and max ({self.max})")
        return self

    def stages(self, available: int | None = None) -> list[int]:
        """Items at each look, capped at `available` (looks past it merge into one)."""
        sizes = [round(self.first + k * (self.max - self.first) / (self.looks - 1)) for k in range(self.looks)]
        if available is not None:
            sizes = [min(s, available) for s in sizes]
        return list(dict.fromkeys(sizes))


def spent(fraction: float, spending: Spending, alpha: float = ALPHA / 2) -> float:
    """Lan-DeMets spending function: one-sided error rate spent by information fraction `fraction`."""
    from scipy.stats import norm

    if fraction >= 1:
        return alpha
    if spending == "pocock":
        return alpha * math.log(1 + (math.e - 1) * fraction)
    return float(2 * (1 - norm.cdf(norm.ppf(1 - alpha / 2) / math.sqrt(fraction))))


@functools.lru_cache(maxsize=256)
def nominal_levels(fractions: tuple[float, ...], spending: Spending, alpha: float = ALPHA / 2) -> tuple[float, ...]:
    """One-sided nominal level per look: a z-statistic that follows Brownian motion over the
    information fractions crosses look k's boundary (and none before) with probability
    spent(t_k) - spent(t_{k-1}) under the null."""
    from scipy.optimize import brentq
    from scipy.stats import multivariate_normal, norm

    t = np.asarray(fractions, float)
    bounds: list[float] = []
    for k in range(len(t)):
        target = spent(t[k], spending, alpha) - (spent(t[k - 1], spending, alpha) if k else 0.0)
        if k == 0:
            bounds.append(float(norm.ppf(1 - target)))
            continue
        cov = np.sqrt(np.minimum.outer(t[:k + 1], t[:k + 1]) / np.maximum.outer(t[:k + 1], t[:k + 1]))
        before = _below(bounds, cov[:k, :k]) if k > 1 else float(norm.cdf(bounds[0]))
        dist = multivariate_normal(np.zeros(k + 1), cov, seed=0, abseps=1e-6, releps=1e-6)

        def crossing(c, before=before, dist=dist):  # P(no crossing before look k, crossing at k) - target
            return before - float(dist.cdf(np.array([*bounds, c]))) - target

        bounds.append(float(brentq(crossing, 0.0, 10.0, xtol=1e-6)))
    return tuple(float(1 - norm.cdf(b)) for b in bounds)


def _below(bounds: list[float], cov: np.ndarray) -> float:
    from scipy.stats import multivariate_normal

    dist = multivariate_normal(np.zeros(len(bounds)), cov, seed=0, abseps=1e-6, releps=1e-6)
    return float(dist.cdf(np.array(bounds)))


class CategoryLooks(BaseModel):
    """Where one category stands: the items it uses now and why."""

    model_config = ConfigDict(extra="forbid")

    stages: list[int]  # items at each of its looks (capped at what the eval set holds)
    look: int = 1  # 1-based: the look its current items belong to
    verdicts: list[str] = Field(default_factory=list)  # verdict at each finished look
    done: bool = False
    reason: str = "first look pending"

    @property
    def items(self) -> int:
        return self.stages[self.look - 1]

    def describe(self, verdict: str, most: int) -> str:
        """What the current look's verdict means for this category, in the report's words."""
        if verdict != "undetermined":
            return f"decided ({verdict}) at look {self.look} of {len(self.stages)}, {self.items} items"
        if self.look == len(self.stages):
            capped = " (all the eval set holds)" if self.items < most else ""
            return f"undetermined at the most items, {self.items}{capped}"
        return f"undetermined at look {self.look} of {len(self.stages)}, {self.items} items: more to be judged"


class SequentialRecord(BaseModel):
    """RUN_DIR/sequential.json: the design and every category's looks."""

    model_config = ConfigDict(extra="forbid")

    design: SequentialConfig
    seed: int = 0  # of each category's item order
    categories: dict[str, CategoryLooks] = Field(default_factory=dict)
    judging: bool = False  # the current stage's new items are being answered and judged (verdicts wait)

    def describe(self, category: str, verdict: str) -> str | None:
        c = self.categories.get(category)
        return c.describe(verdict, self.design.max) if c else None

    def verdict_alpha(self, category: str) -> float:
        """Two-sided level of the CIs behind this category's verdict at its current look."""
        c = self.categories.get(category)
        if c is None:
            return ALPHA
        fractions = tuple(s / c.stages[-1] for s in c.stages)
        return 2 * nominal_levels(fractions, self.design.spending)[c.look - 1]


def start(design: SequentialConfig, available: dict[str, int], seed: int = 0) -> SequentialRecord:
    """The first look for every category with items (`available`: items per category in the eval set)."""
    return SequentialRecord(design=design, seed=seed,
                            categories={c: CategoryLooks(stages=design.stages(n)) for c, n in available.items() if n})


def advance(record: SequentialRecord, verdicts: dict[str, str]) -> list[str]:
    """Take the verdicts of the current look: decided and last-look categories stop, the others move
    to their next look. Returns the categories that go on."""
    going = []
    for name, c in record.categories.items():
        if c.done:
            continue
        verdict = verdicts[name]
        c.verdicts.append(verdict)
        c.reason = c.describe(verdict, record.design.max)
        if verdict != "undetermined" or c.look == len(c.stages):
            c.done = True
        else:
            c.look += 1
            going.append(name)
    return going


def stage_items(items: list, record: SequentialRecord) -> list:
    """The eval items every category uses at its current look: a seeded order per category (an eval
    set sorted by difficulty or source would otherwise make the first stage unlike the rest), its
    first `items` kept, in the eval set's order. Items of categories not in the record are dropped."""
    by_cat: dict[str, list] = {}
    for item in items:
        by_cat.setdefault(item.category, []).append(item)
    keep = set()
    for cat, group in by_cat.items():
        looks = record.categories.get(cat)
        if looks is None:
            continue
        order = np.random.default_rng([record.seed, zlib.crc32(cat.encode())]).permutation(len(group))
        keep.update(group[k].id for k in order[:looks.items])
    return [i for i in items if i.id in keep]


def save_stage(folder: Path, record: SequentialRecord, items: list) -> Path:
    """Write the record and the current stage's eval items into `folder`; returns the stage eval file."""
    write_json(Path(folder) / RECORD_FILE, record.model_dump(mode="json"))
    path = Path(folder) / STAGE_EVAL
    write_jsonl(path, stage_items(items, record))
    return path


def load_record(path: Path) -> SequentialRecord:
    from pydantic import ValidationError

    from instructscale.datafiles import parse_json
    from instructscale.errors import validation_message

    try:
        return SequentialRecord.model_validate(parse_json(read_text(path), path))
    except ValidationError as exc:
        raise InputError(f"not a sequential-evaluation record: {validation_message(exc)}", path=path) from None
