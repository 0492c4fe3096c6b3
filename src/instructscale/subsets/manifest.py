"""The manifest written next to the subset files: what each file holds and how it was made."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from instructscale.datafiles import parse_json, read_text
from instructscale.errors import InputError, validation_message


class SubsetEntry(BaseModel):
    name: str  # human label, e.g. "0.2M"
    size: int
    file: str  # relative to the manifest's folder
    sha256: str
    categories: dict[str, int]


class Selection(BaseModel):
    """How the pool was ranked and mixed (`subsets --select/--mix/--drop`)."""

    method: str = "random"
    settings: dict[str, Any] = Field(default_factory=dict)
    shares: dict[str, float] | None = None  # category shares of every subset, when a mix or drop was asked
    dropped: list[str] = Field(default_factory=list)
    scores_file: str | None = None  # per-example scores, relative to the manifest's folder
    scores_sha256: str | None = None
    summary: dict[str, Any] = Field(default_factory=dict)  # e.g. rated / unrated / requests for llm-quality


class SubsetsManifest(BaseModel):
    seed: int
    stratify: bool
    pool: str
    pool_sha256: str | None  # None when the pool is a Hub dataset id
    pool_size: int
    excluded: int = 0  # pool examples dropped because they overlap the evaluation set
    duplicates: int = 0  # repeated pool examples (same id or same content) kept once
    unknown_labels: dict[str, int] = Field(default_factory=dict)  # categories outside the 12, kept as other or dropped
    exclude_eval: str | None = None
    selection: Selection = Field(default_factory=Selection)  # absent in older manifests: random
    subsets: list[SubsetEntry] = Field(default_factory=list)
    path: Path | None = Field(default=None, exclude=True)  # where it was loaded from

    def subset_path(self, entry: SubsetEntry) -> Path:
        base = self.path.parent if self.path is not None else Path(".")
        return base / entry.file


def load_manifest(path: str | Path) -> SubsetsManifest:
    p = Path(path)
    if p.is_dir():
        p = p / "manifest.json"
    if not p.exists():
        raise InputError("manifest not found", path=p)
    try:
        manifest = SubsetsManifest.model_validate(parse_json(read_text(p), p))
    except ValidationError as exc:
        raise InputError(f"not a subsets manifest: {validation_message(exc)}", path=p) from None
    manifest.path = p
    return manifest


def human_size(n: int) -> str:
    """The study's labels: 200000 -> '0.2M', 2000000 -> '2M', 1500 -> '1.5K', 50 -> '50'."""
    if n >= 100_000:
        return f"{n / 1_000_000:g}M"
    if n >= 1_000:
        return f"{n / 1_000:g}K"
    return str(n)
