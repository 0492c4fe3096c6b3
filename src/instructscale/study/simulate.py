"""The real scheduler (study/schedule.py) over a study's graph on a simulated node: units
take durations on a virtual clock instead of running, so the makespan of a study on N GPUs
can be compared with running its units one after another, before renting the node.

Durations come from `study plan` (study/plan.py): a training unit takes its planned
GPU-hours divided by the GPUs it holds, every other unit its planned wall-clock hours
(API-bound units from the client's rate limits and concurrency). `durations` replaces
them per stage (hours a unit; train: GPU-hours per 1,000 examples; judge: per model judged),
for studies whose plan is not the question (tests, what-ifs)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from instructscale.console import console
from instructscale.study.graph import Graph
from instructscale.study.schedule import Result, Scheduler
from instructscale.study.selection import selection_of
from instructscale.study.units import Unit

GPUS = {"train": 8, "respond": 1}


@dataclass
class Simulation:
    units: int
    sequential_h: float  # every unit after the other, each with its GPUs
    makespan_h: float  # the scheduler on the node


class SimulatedNode:
    """An executor on a virtual clock: a unit holds its GPUs for `hours(unit, graph, gpus)`."""

    name = "simulated"
    chains = False

    def __init__(self, gpus: int, hours: Callable[[Unit, Graph, int], float], unit_gpus: dict[str, int]):
        self.now, self.free, self.total = 0.0, gpus, 0.0
        self.gpus, self.hours, self.unit_gpus = gpus, hours, unit_gpus
        self.running: dict[str, tuple[float, int]] = {}

    def need(self, unit: Unit) -> int:
        return min(self.unit_gpus.get(unit.stage, 0), self.gpus)

    def fits(self, unit: Unit) -> bool:
        return self.need(unit) <= self.free

    def submit(self, unit: Unit, graph: Graph, *, force: bool, after: list[str]) -> None:
        hours = self.hours(unit, graph, self.need(unit))
        self.total += hours
        self.free -= self.need(unit)
        self.running[unit.name] = (self.now + hours, self.need(unit))

    def wait(self) -> list[tuple[str, Result]]:
        self.now = min(end for end, _ in self.running.values())
        done = [name for name, (end, _) in self.running.items() if end <= self.now]
        for name in done:
            self.free += self.running.pop(name)[1]
        return [(name, Result("ran")) for name in done]

    def cancel(self, names: list[str]) -> None:
        """Simulated units do not fail."""

    def cancel_all(self) -> None:
        """Nothing really runs."""


def planned_hours(plan) -> Callable[[Unit, Graph, int], float]:
    """A unit's hours from its row of `study plan`: training GPU-hours over the GPUs it holds,
    else the row's wall-clock."""
    rows = {row.unit: row for row in plan.rows}

    def hours(unit: Unit, graph: Graph, gpus: int) -> float:
        row = rows.get(unit.name)
        if row is None:
            return 0.0
        return row.gpu_hours / max(1, gpus) if unit.stage == "train" else row.wall_hours

    return hours


def per_stage_hours(durations: dict[str, float]) -> Callable[[Unit, Graph, int], float]:
    """Hours per stage: train per 1,000 examples and GPU, judge per model judged."""

    def hours(unit: Unit, graph: Graph, gpus: int) -> float:
        h = durations[unit.stage]
        if unit.stage == "train":
            return h * graph.ref(unit.task["model"]).size / 1000 / max(1, gpus)
        return h * len(unit.after) if unit.stage == "judge" else h

    return hours


def simulate(study, gpus: int = 8, durations: dict[str, float] | None = None,
             unit_gpus: dict[str, int] | None = None, assumptions=None) -> Simulation:
    """Schedule every unit of `study` (a Study whose run directory is empty) on `gpus` GPUs,
    with `study plan`'s durations (under `assumptions`) or `durations` per stage."""
    if durations is None:
        from instructscale.study.plan import Assumptions, plan_study

        hours = planned_hours(plan_study(study, assumptions or Assumptions()))
    else:
        hours = per_stage_hours(durations)
    node = SimulatedNode(gpus, hours, {**GPUS, **(unit_gpus or {})})
    scheduler = Scheduler(study.ledger, selection_of(None, None, None, [a.name for a in study.arms]), node)
    quiet, console.quiet = console.quiet, True
    try:
        outcomes = scheduler.run(study.graph)
    finally:
        console.quiet = quiet
    return Simulation(units=len(outcomes), sequential_h=node.total, makespan_h=node.now)
