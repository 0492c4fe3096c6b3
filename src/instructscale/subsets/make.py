"""`make_subsets`: read the pool, drop evaluation overlaps, rank it once (random or a
selection method, with an optional category mix), write prefixes."""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from instructscale.console import console
from instructscale.categories.taxonomy import UnknownPolicy
from instructscale.datafiles import file_sha256, write_json, write_jsonl
from instructscale.errors import ConfigError
from instructscale.records import InstructionExample
from instructscale.subsets.manifest import Selection, SubsetEntry, SubsetsManifest, human_size
from instructscale.subsets.mix import category_shares, check_fill, mixed_order
from instructscale.subsets.order import stratified_order
from instructscale.subsets.pool import read_pool
from instructscale.subsets.select import Ranking, SelectConfig, rank_pool

UNCATEGORIZED = "uncategorized"
SCORES_FILE = "scores.jsonl"


class SubsetsConfig(BaseModel):
    """Settings of `instructscale subsets`."""

    model_config = ConfigDict(extra="forbid")

    pool: Path
    sizes: list[float]  # counts (>= 1) or fractions of the usable pool (0 < f < 1)
    out: Path
    seed: int = 0
    stratify: bool = False  # keep the pool's category proportions in every subset
    exclude_eval: Path | None = None  # evaluation set whose near-duplicates are removed from the pool
    overlap_threshold: float = 0.8
    unknown: UnknownPolicy = "error"  # a pool category outside the 12: an error, kept as 'other', or the example dropped
    select: SelectConfig = Field(default_factory=SelectConfig)  # ranking method and category mix

    @field_validator("sizes", mode="before")
    @classmethod
    def _parse_sizes(cls, v):
        if isinstance(v, str):
            v = [s for s in v.replace(" ", "").split(",") if s]
        if not v:
            raise ValueError("give at least one size")
        return [float(s) for s in v]


def make_subsets(cfg: SubsetsConfig) -> SubsetsManifest:
    """Write `subset_<size>.jsonl` files and `manifest.json` into `cfg.out`; returns the manifest."""
    plan = _plan(cfg)
    pool, labels, sel = plan.pool, plan.labels, cfg.select
    ranking = rank_pool(pool, sel, cfg.seed, cfg.out)
    if plan.shares is not None:
        order = mixed_order(ranking.order, labels, plan.shares, plan.sizes[-1])
    elif sel.method == "random" and cfg.stratify:
        order = stratified_order(labels, cfg.seed)
    else:
        order = ranking.order

    selection = Selection(method=sel.method, settings=sel.settings(), summary=ranking.summary,
                          dropped=list(sel.drop), shares=plan.shares if (sel.mix or sel.drop) else None)
    if sel.method != "random":
        _write_scores(cfg.out / SCORES_FILE, pool, labels, ranking)
        selection.scores_file, selection.scores_sha256 = SCORES_FILE, file_sha256(cfg.out / SCORES_FILE)
    manifest = SubsetsManifest(seed=cfg.seed, stratify=cfg.stratify, pool=str(cfg.pool),
                               pool_sha256=source_sha256(cfg.pool), pool_size=len(pool), excluded=plan.excluded,
                               duplicates=plan.duplicates, unknown_labels=plan.unknown_labels,
                               exclude_eval=str(cfg.exclude_eval) if cfg.exclude_eval else None, selection=selection)
    for size in plan.sizes:
        chosen = [pool[i] for i in order[:size]]  # written in order, so a smaller file is a prefix of a larger
        name = f"subset_{size}.jsonl"
        write_jsonl(cfg.out / name, chosen)
        composition = Counter(labels[i] for i in order[:size])
        manifest.subsets.append(SubsetEntry(name=human_size(size), size=size, file=name,
                                            sha256=file_sha256(cfg.out / name),
                                            categories=dict(sorted(composition.items()))))
    write_json(cfg.out / "manifest.json", manifest.model_dump(mode="json"))
    manifest.path = cfg.out / "manifest.json"
    return manifest


def estimate_subsets(cfg: SubsetsConfig) -> dict:
    """What `make_subsets` would cost, calling nothing and writing nothing: the pool and the
    sizes are checked (a mix the pool cannot fill fails here too); for llm-quality, the
    requests, tokens and cost of rating what the cache does not hold yet."""
    plan = _plan(cfg)
    estimate = {"method": cfg.select.method, "pool_size": len(plan.pool), "sizes": plan.sizes,
                "requests": 0, "prompt_tokens": 0, "completion_tokens": 0, "cost_usd": 0.0}
    if cfg.select.method == "llm-quality":
        from instructscale.subsets.quality import estimate_rating, load_rating_prompt

        estimate.update(estimate_rating(plan.pool, cfg.select.client, load_rating_prompt(cfg.select.prompts),
                                        cfg.select.cache_path(cfg.out)))
    return estimate


@dataclass
class _Plan:
    pool: list[InstructionExample]
    labels: list[str]
    sizes: list[int]
    shares: dict[str, float] | None  # None: no mix (the ranking order as it is)
    excluded: int
    duplicates: int
    unknown_labels: dict[str, int]


def _plan(cfg: SubsetsConfig) -> _Plan:
    """Everything decided before any ranking work: the usable pool (evaluation overlaps
    and dropped categories removed), the sizes, and the category shares, checked to fit."""
    read = read_pool(cfg.pool, cfg.unknown)
    pool, excluded = read.examples, 0
    if read.duplicates:
        console.print(f"left out {read.duplicates} repeated pool examples (same id or same content)")
    if read.unknown_labels:
        console.print(f"unknown pool categories ({'dropped' if cfg.unknown == 'drop' else 'kept as other'}): "
                      f"{read.unknown_labels}")
    if cfg.exclude_eval is not None:
        pool, excluded = _drop_eval_overlaps(pool, cfg.exclude_eval, cfg.overlap_threshold)
        console.print(f"excluded {excluded} pool examples that overlap {cfg.exclude_eval}")
    sel = cfg.select
    shares = None
    if sel.mix or sel.drop or (cfg.stratify and sel.method != "random"):
        shares = category_shares([_label(ex) for ex in pool], sel.mix, sel.drop)
        pool = [ex for ex in pool if shares[_label(ex)] > 0]  # nothing is ranked that no subset can take
    labels = [_label(ex) for ex in pool]
    sizes = resolve_sizes(cfg.sizes, len(pool))
    if shares is not None:
        check_fill(labels, shares, sizes[-1])
    return _Plan(pool, labels, sizes, shares, excluded, read.duplicates, read.unknown_labels)


def _label(ex: InstructionExample) -> str:
    return ex.category or UNCATEGORIZED


def _write_scores(path: Path, pool: list[InstructionExample], labels: list[str], ranking: Ranking) -> None:
    """One row per usable pool example, in ranking order: id, category, rank, score (and the
    rater's reason); a file next to the manifest keeps the manifest small for large pools."""
    rows = []
    for rank, i in enumerate(ranking.order, start=1):
        row = {"id": pool[i].id, "category": labels[i], "rank": rank, "score": ranking.scores[i]}
        if ranking.reasons is not None:
            row["reason"] = ranking.reasons[i]
        rows.append(row)
    write_jsonl(path, rows)


def resolve_sizes(sizes: list[float], available: int) -> list[int]:
    """Counts stay counts, fractions become counts of `available`; sorted, duplicates dropped."""
    counts = set()
    for s in sizes:
        if s <= 0:
            raise ConfigError(f"subset size must be positive, got {s:g}")
        if s < 1:
            n = round(s * available)
        elif s != int(s):
            raise ConfigError(f"subset size {s:g} is neither a whole count nor a fraction below 1")
        else:
            n = int(s)
        if n > available:
            raise ConfigError(f"subset size {n} is larger than the pool ({available} usable examples)")
        if n == 0:
            raise ConfigError(f"fraction {s:g} of {available} examples rounds to an empty subset")
        counts.add(n)
    return sorted(counts)


def source_sha256(path: str | Path) -> str | None:
    """Hash of a data source: a file's bytes, or a `datasets` folder's files (names and
    bytes, sorted); None for a Hub id, which the manifest records by name instead."""
    p = Path(path)
    if p.is_file():
        return file_sha256(p)
    if not p.is_dir():
        return None
    h = hashlib.sha256()
    for f in sorted(q for q in p.rglob("*") if q.is_file()):
        h.update(f"{f.relative_to(p).as_posix()}\0{file_sha256(f)}\n".encode())
    return h.hexdigest()


def _drop_eval_overlaps(pool: list[InstructionExample], eval_path: Path, threshold: float):
    """Remove pool examples that the evaluation set's decontamination check flags."""
    from instructscale.evalset import find_overlaps, read_eval_items

    flagged = {o.example_id for o in find_overlaps(read_eval_items(eval_path), pool, threshold)}
    kept = [ex for ex in pool if ex.id not in flagged]
    return kept, len(pool) - len(kept)
