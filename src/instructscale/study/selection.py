"""Which units `study run --only/--from/--arm` runs.

Stages are picked with `--only STAGE,...` or `--from STAGE`; arms with `--arm NAME,...`
or `arm:NAME` items in `--only` (`--only arm:quality` = every stage of that arm). A
unit of one or more arms runs when its stage and one of its arms are picked; a unit
shared by all arms (eval, pool, judges, report) runs when its stage is picked, and,
under an arm filter, only once everything it reads is done (judging waits for the
other arms rather than failing).
"""

from __future__ import annotations

from dataclasses import dataclass

from instructscale.errors import ConfigError

STAGES = ["eval", "pool", "subsets", "base", "train", "respond", "judge", "report"]
ARM_PREFIX = "arm:"


@dataclass(frozen=True)
class Selection:
    stages: frozenset[str]
    arms: frozenset[str] | None  # None: every arm

    def picks(self, stage: str, unit_arms: tuple[str, ...]) -> bool:
        if stage not in self.stages:
            return False
        return self.arms is None or not unit_arms or bool(self.arms & set(unit_arms))

    @property
    def waits_for_inputs(self) -> bool:
        """Shared units under an arm filter run only when their inputs are done."""
        return self.arms is not None


def selection_of(only: list[str] | None, start: str | None, arms: list[str] | None, arm_names: list[str]) -> Selection:
    only = list(only or [])
    picked_arms = [*(arms or []), *(o[len(ARM_PREFIX):] for o in only if o.startswith(ARM_PREFIX))]
    stages = [o for o in only if not o.startswith(ARM_PREFIX)]
    for name in [*stages, *([start] if start else [])]:
        if name not in STAGES:
            raise ConfigError(f"unknown stage '{name}' (stages: {', '.join(STAGES)}; arms: arm:NAME)")
    for name in picked_arms:
        if name not in arm_names:
            raise ConfigError(f"unknown arm '{name}' (arms: {', '.join(arm_names)})")
    if stages and start:
        raise ConfigError("use either --only or --from, not both")
    if stages:
        chosen = set(stages)
    elif start:
        chosen = set(STAGES[STAGES.index(start):])
    else:
        chosen = set(STAGES)
    return Selection(frozenset(chosen), frozenset(picked_arms) if picked_arms else None)
