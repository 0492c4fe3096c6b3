"""How the pool is ranked before subsets are cut: `random` (the default), `llm-quality`,
`ifd`, `length` or `diversity`, plus a category mix. Every method ranks the pool once
and the subsets are prefixes of that ranking, so they stay nested; ties are broken by the
seeded shuffle, so the ranking is deterministic for a seed (docs/subsets.md)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from instructscale.errors import ConfigError
from instructscale.llm import ClientConfig
from instructscale.records import InstructionExample
from instructscale.subsets.mix import parse_mix
from instructscale.subsets.order import nested_order

Method = Literal["random", "llm-quality", "ifd", "length", "diversity"]
DEFAULT_RATING_PARAMS = {"temperature": 0.0, "max_tokens": 128}  # a rating should not depend on sampling luck


class SelectConfig(BaseModel):
    """`subsets.select`: the ranking method, its options, and the category mix."""

    model_config = ConfigDict(extra="forbid")
    method: Method = Field("random", description="random | llm-quality | ifd | length | diversity")
    mix: dict[str, float] = Field(default_factory=dict, description="Category shares of every subset, e.g. {math: 0.3}; other categories share the rest in pool proportions")
    drop: list[str] = Field(default_factory=list, description="Categories left out of every subset")
    # llm-quality
    client: ClientConfig | None = Field(None, description="llm-quality: the rater's API settings (the study's teacher by default)")
    prompts: str = Field("zh", description="llm-quality: rating prompt, zh, en or a YAML file of the same shape")
    reasks: int = Field(2, ge=0, description="llm-quality: extra asks, with a format reminder, when a reply has no valid rating")
    cache: Path | None = Field(None, description="llm-quality: SQLite reply cache; default llm_cache.sqlite next to the output folder")
    use_cache: bool = Field(True, description="llm-quality: False: neither read nor write the cache")
    # ifd
    base_model: str | None = Field(None, description="ifd: base model (Hub id or folder) that computes the losses")
    template: str = Field("belle", description="ifd: prompt template, as in training")
    max_length: int = Field(512, ge=8, description="ifd: tokens per example, truncated as in training")
    batch_size: int = Field(8, ge=1, description="ifd: examples per forward pass")
    # diversity
    ngram: int = Field(3, ge=1, description="diversity: longest character n-gram")
    dim: int = Field(256, ge=8, description="diversity: hashed vector size")

    @field_validator("mix", mode="before")
    @classmethod
    def _parse_mix(cls, v):
        return parse_mix(v)

    @field_validator("drop", mode="before")
    @classmethod
    def _parse_drop(cls, v):
        if isinstance(v, str):
            v = [p.strip() for p in v.split(",") if p.strip()]
        return v or []

    @model_validator(mode="after")
    def _check(self):
        if self.method == "llm-quality":
            if self.client is None:
                raise ConfigError("select llm-quality needs a rater: --model and --base-url (select.client)")
            self.client = self.client.model_copy(update={"params": {**DEFAULT_RATING_PARAMS, **self.client.params}})
        if self.method == "ifd" and not self.base_model:
            raise ConfigError("select ifd needs the base model: --base-model (select.base_model)")
        return self

    def settings(self) -> dict[str, Any]:
        """The options that shape this method's ranking, for the manifest (no secrets)."""
        if self.method == "llm-quality":
            c = self.client
            return {"base_url": c.base_url, "model": c.model, "prompts": self.prompts, "reasks": self.reasks,
                    "params": c.params}
        if self.method == "ifd":
            return {"base_model": self.base_model, "template": self.template, "max_length": self.max_length}
        if self.method == "diversity":
            return {"ngram": self.ngram, "dim": self.dim}
        return {}

    def cache_path(self, out: Path) -> Path | None:
        return None if not self.use_cache else (self.cache or out.parent / "llm_cache.sqlite")


@dataclass
class Ranking:
    order: list[int]  # every example index, best first
    scores: list[float | None]  # per example index; None: not scored (random) or unrated
    reasons: list[str | None] | None = None  # llm-quality: the rater's reason or why unrated
    summary: dict[str, Any] = field(default_factory=dict)


def rank_pool(pool: list[InstructionExample], cfg: SelectConfig, seed: int, out: Path) -> Ranking:
    """Rank the whole pool once with `cfg.method`."""
    shuffle = nested_order(len(pool), seed)
    if cfg.method == "random":
        return Ranking(shuffle, [None] * len(pool))
    tiebreak = {i: k for k, i in enumerate(shuffle)}
    if cfg.method == "length":
        scores = [float(len(ex.output)) for ex in pool]
        return Ranking(sorted(range(len(pool)), key=lambda i: (-scores[i], tiebreak[i])), scores)
    if cfg.method == "llm-quality":
        from instructscale.llm.failures import raise_for_failures
        from instructscale.subsets.quality import load_rating_prompt, rate_examples

        ratings, summary = rate_examples(pool, cfg.client, load_rating_prompt(cfg.prompts), reasks=cfg.reasks,
                                         cache_path=cfg.cache_path(out), out=out)
        # a ranking with failed calls is not the ranking a complete run gives: no subsets from it
        raise_for_failures("subsets (llm-quality)", summary["api_failures"], len(pool), 0.0, summary["last_api_error"])
        scores = [r.score for r in ratings]
        order = sorted(range(len(pool)), key=lambda i: (scores[i] is None, -(scores[i] or 0.0), tiebreak[i]))
        return Ranking(order, scores, [r.reason for r in ratings], summary)
    if cfg.method == "ifd":
        from instructscale.subsets.ifd import ifd_scores

        scores = ifd_scores(pool, cfg.base_model, template=cfg.template, max_length=cfg.max_length,
                            batch_size=cfg.batch_size)
        return Ranking(sorted(range(len(pool)), key=lambda i: (_ifd_key(scores[i]), tiebreak[i])), scores)
    if cfg.method == "diversity":
        from instructscale.subsets.diversity import farthest_point_order, ngram_vectors

        order, gaps = farthest_point_order(ngram_vectors(pool, cfg.ngram, cfg.dim), first=shuffle[0])
        scores: list[float | None] = [None] * len(pool)
        for i, gap in zip(order, gaps):
            scores[i] = gap
        return Ranking(order, scores)
    raise ConfigError(f"unknown selection method '{cfg.method}'")


def _ifd_key(ifd: float) -> tuple:
    """Below 1, the harder to follow the better (highest first); at 1 or above the
    instruction does not help with the answer at all: last, the least misfit first."""
    if math.isnan(ifd):
        return (2, 0.0)
    return (0, -ifd) if ifd < 1 else (1, ifd)
