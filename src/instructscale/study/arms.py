"""Arms of a study and the models they train.

An arm is the study file with a few sections changed (subset selection or mix, base model,
train settings); every arm trains one model per scale and per training seed. A study
without `arms:` has one arm, "main". Names are chosen so that a study without arms keeps
the unit names, paths and fingerprints it had before arms existed, and so that adding
arms or seeds to a finished study trains only what is new:

- the arm called "main" and the first seed of every arm keep the plain names
  (`train:200`, `models/scale_200`); other arms add `@ARM` (`train:200@quality`), other
  seeds add `_seedN` (`train:200_seed1@quality`);
- arms with the same subsets settings share one subsets unit, arms with the same base
  model share one base unit and one scale 0; the first arm that changes one of them
  names it (`subsets@quality`, `base@large`, `respond:0@large`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from instructscale.errors import ConfigError
from instructscale.runindex import DEFAULT_ARM
from instructscale.study.config import ArmSection, BaseModelConfig, StudyConfig, SubsetsSection, validated

SUBSETS_EXTRAS = ("select", "unknown")  # subsets fields added later: fingerprinted only when set


@dataclass(frozen=True)
class Arm:
    name: str
    subsets: SubsetsSection
    subsets_tag: str  # "" = the study's own subsets unit
    base_model: BaseModelConfig
    base_tag: str  # "" = the study's own base model
    train: dict[str, Any]  # train options without `seeds`
    seeds: tuple[int, ...] | None  # None: one training run with the train config's seed

    @property
    def tag(self) -> str:
        return "" if self.name == DEFAULT_ARM else self.name


@dataclass(frozen=True)
class ModelRef:
    """One model the study answers with: an arm's scale trained with one seed, or a base model (size 0)."""

    arm: str
    size: int
    seed: int | None  # training seed; None for an untuned base model
    seed_tag: bool  # the name carries the seed (every seed after an arm's first)
    tag: str  # arm tag for tuned models, base tag for scale 0

    @property
    def key(self) -> str:
        """`200`, `200_seed1`, `200@quality`, `0@large`: unit names are `STAGE:KEY`."""
        return f"{self.size}" + (f"_seed{self.seed}" if self.seed_tag else "") + (f"@{self.tag}" if self.tag else "")

    @property
    def name(self) -> str:
        """The `model` field of this model's responses and judgements, and its folder name."""
        return f"scale_{self.key}"


def tagged(name: str, tag: str) -> str:
    return f"{name}@{tag}" if tag else name


def resolve_arms(cfg: StudyConfig, source: str) -> list[Arm]:
    """Every arm's effective settings: its overrides on top of the study's sections."""
    sections = cfg.arms or [ArmSection(name=DEFAULT_ARM)]
    names = [a.name for a in sections]
    if len(set(names)) != len(names):
        raise ConfigError(f"{source}: arms: names must be unique, got {names}")
    subsets_tags: list[tuple[Any, str]] = [((cfg.subsets, ""), "")]
    base_tags: list[tuple[BaseModelConfig, str]] = [(cfg.base_model, "")]
    arms = []
    for i, section in enumerate(sections):
        subsets = validated(SubsetsSection, {**cfg.subsets.model_dump(exclude_unset=True), **section.subsets},
                            source=source, prefix=f"arms.{i}.subsets")
        base = section.base_model or cfg.base_model
        base_tag = _shared_tag(base_tags, base, section.name)
        ranked_by_base = (selection_block(subsets) or {}).get("method") == "ifd"  # ifd ranks with the arm's base
        train = {**cfg.train, **section.train}
        seeds = _seeds(train.pop("seeds", None), source, f"arms.{i}.train.seeds" if "seeds" in section.train
                       else "train.seeds")
        arms.append(Arm(name=section.name, subsets=subsets,
                        subsets_tag=_shared_tag(subsets_tags, (subsets, base_tag if ranked_by_base else ""),
                                                section.name),
                        base_model=base, base_tag=base_tag, train=train, seeds=seeds))
    return arms


def subsets_settings(section: SubsetsSection) -> dict[str, Any]:
    """The subsets section as fingerprinted: selection fields only when set, so a study
    written before selection existed keeps its fingerprints."""
    dump = section.model_dump()
    return {k: v for k, v in dump.items() if k not in SUBSETS_EXTRAS or v is not None}


def selection_block(section: SubsetsSection) -> dict[str, Any] | None:
    """`subsets.select` as a block of select options (a bare method name is `{method: NAME}`)."""
    if section.select is None:
        return None
    return {"method": section.select} if isinstance(section.select, str) else dict(section.select)


def _shared_tag(seen: list[tuple[Any, str]], value: Any, arm: str) -> str:
    for known, tag in seen:
        if known == value:
            return tag
    seen.append((value, arm))
    return arm


def _seeds(value: Any, source: str, field: str) -> tuple[int, ...] | None:
    if value is None:
        return None
    if (not isinstance(value, list) or not value or not all(isinstance(s, int) and not isinstance(s, bool)
                                                                 for s in value)):
        raise ConfigError(f"{source}: {field}: expected a non-empty list of integer seeds, got {value!r}")
    if len(set(value)) != len(value):
        raise ConfigError(f"{source}: {field}: seeds must be unique, got {value}")
    return tuple(value)
