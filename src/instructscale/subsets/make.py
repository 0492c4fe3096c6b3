"""`make_subsets`: read the pool, drop evaluation overlaps, order it once, write prefixes."""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path

from pydantic import BaseModel, field_validator

from instructscale.console import console
from instructscale.datafiles import file_sha256, read_records, write_json, write_jsonl
from instructscale.errors import ConfigError
from instructscale.records import InstructionExample
from instructscale.subsets.manifest import SubsetEntry, SubsetsManifest, human_size
from instructscale.subsets.order import nested_order, stratified_order

UNCATEGORIZED = "uncategorized"


class SubsetsConfig(BaseModel):
    """Settings of `instructscale subsets`."""

    pool: Path
    sizes: list[float]  # counts (>= 1) or fractions of the usable pool (0 < f < 1)
    out: Path
    seed: int = 0
    stratify: bool = False  # keep the pool's category proportions in every subset
    exclude_eval: Path | None = None  # evaluation set whose near-duplicates are removed from the pool
    overlap_threshold: float = 0.8

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
    pool = read_records(cfg.pool, InstructionExample)
    excluded = 0
    if cfg.exclude_eval is not None:
        pool, excluded = _drop_eval_overlaps(pool, cfg.exclude_eval, cfg.overlap_threshold)
        console.print(f"excluded {excluded} pool examples that overlap {cfg.exclude_eval}")
    sizes = resolve_sizes(cfg.sizes, len(pool))

    labels = [ex.category or UNCATEGORIZED for ex in pool]
    order = stratified_order(labels, cfg.seed) if cfg.stratify else nested_order(len(pool), cfg.seed)

    manifest = SubsetsManifest(seed=cfg.seed, stratify=cfg.stratify, pool=str(cfg.pool),
                               pool_sha256=source_sha256(cfg.pool), pool_size=len(pool), excluded=excluded,
                               exclude_eval=str(cfg.exclude_eval) if cfg.exclude_eval else None)
    for size in sizes:
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
