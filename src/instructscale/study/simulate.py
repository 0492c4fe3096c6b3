"""The real scheduler (study/schedule.py) over a study's graph on a simulated node: units
take assumed durations on a virtual clock instead of running, so the makespan of a study
on N GPUs can be compared with running its units one after another, before renting the
node. Durations are rough assumptions for the replica (a 7B model, 2M examples, an API
teacher and judge), not measurements; pass your own per stage."""

from __future__ import annotations

from dataclasses import dataclass

from instructscale.console import console
from instructscale.study.graph import Graph
from instructscale.study.schedule import Result, Scheduler
from instructscale.study.selection import selection_of
from instructscale.study.units import Unit

# hours per unit; train: GPU-hours per 1,000 examples (2 epochs, 1,024 tokens, ZeRO-3), divided by its GPUs;
# judge: per model judged (3 repeats of ~2,000 answers through an API)
DURATIONS_H = {"eval": 0.01, "pool": 30.0, "subsets": 0.5, "base": 0.2, "train": 0.25, "respond": 0.15,
               "judge": 0.3, "report": 0.05}
GPUS = {"train": 8, "respond": 1}


@dataclass
class Simulation:
    units: int
    sequential_h: float  # every unit after the other, each with its GPUs
    makespan_h: float  # the scheduler on the node


class SimulatedNode:
    """An executor on a virtual clock: a unit holds its GPUs for its duration."""

    name = "simulated"
    chains = False

    def __init__(self, gpus: int, durations: dict[str, float], unit_gpus: dict[str, int]):
        self.now, self.free, self.total = 0.0, gpus, 0.0
        self.gpus, self.durations, self.unit_gpus = gpus, durations, unit_gpus
        self.running: dict[str, tuple[float, int]] = {}

    def need(self, unit: Unit) -> int:
        return min(self.unit_gpus.get(unit.stage, 0), self.gpus)

    def duration(self, unit: Unit, graph: Graph) -> float:
        hours = self.durations[unit.stage]
        if unit.stage == "train":
            return hours * graph.ref(unit.task["model"]).size / 1000 / max(1, self.need(unit))
        if unit.stage == "judge":
            return hours * len(unit.after)
        return hours

    def fits(self, unit: Unit) -> bool:
        return self.need(unit) <= self.free

    def submit(self, unit: Unit, graph: Graph, *, force: bool, after: list[str]) -> None:
        hours = self.duration(unit, graph)
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


def simulate(study, gpus: int = 8, durations: dict[str, float] | None = None,
             unit_gpus: dict[str, int] | None = None) -> Simulation:
    """Schedule every unit of `study` (a Study whose run directory is empty) on `gpus` GPUs."""
    node = SimulatedNode(gpus, {**DURATIONS_H, **(durations or {})}, {**GPUS, **(unit_gpus or {})})
    scheduler = Scheduler(study.ledger, selection_of(None, None, None, [a.name for a in study.arms]), node)
    quiet, console.quiet = console.quiet, True
    try:
        outcomes = scheduler.run(study.graph)
    finally:
        console.quiet = quiet
    return Simulation(units=len(outcomes), sequential_h=node.total, makespan_h=node.now)
