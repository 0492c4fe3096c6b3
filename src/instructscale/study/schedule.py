"""Which units of a study run now: dependency order, ready units, and what a failure stops.

The driver loop of `study run`, the same for every executor: each pass re-plans the graph
(train units appear once their subsets unit ran), skips units that are done with the same
fingerprint, hands every ready unit the executor has room for to it, and waits for one to
finish. A unit is ready when its inputs are done; an executor that chains jobs (SLURM's
`afterok`) also takes units whose inputs are submitted. A failed unit stops only what
reads from it: those units are not run, with a message naming the failed input; units
reading a partial one wait (study/units.py). Everything independent keeps running.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from dataclasses import dataclass, field
from typing import Protocol

from instructscale.console import console
from instructscale.errors import ConfigError, InstructscaleError
from instructscale.study.graph import Graph
from instructscale.study.selection import Selection
from instructscale.study.units import Ledger, Unit

FINISHED_BAD = ("failed", "not run")


class StudyFailedError(InstructscaleError):
    """Units failed; what did not read from them ran, and the next run redoes only the rest."""


@dataclass
class Result:
    """How a submitted unit ended: ran | partial (`message`: what is unfinished) | failed."""

    outcome: str
    message: str = ""


class Executor(Protocol):
    name: str
    chains: bool  # takes units whose inputs are submitted, not yet done (SLURM afterok)

    def fits(self, unit: Unit) -> bool:
        """Whether the unit can start now (free workers and GPU slots)."""

    def submit(self, unit: Unit, graph: Graph, *, force: bool, after: list[str]) -> None:
        """Start the unit; `after`: its inputs still running (chaining executors only)."""

    def wait(self) -> list[tuple[str, Result]]:
        """Block until at least one submitted unit ended; those units with their results."""

    def cancel(self, names: list[str]) -> None:
        """Stop these submitted units (their inputs failed)."""

    def cancel_all(self) -> None:
        """Stop every unit still running (Ctrl-C of the driver)."""


@dataclass
class Scheduler:
    ledger: Ledger
    selection: Selection
    executor: Executor
    force: bool = False
    outcomes: dict[str, str] = field(default_factory=dict)  # unit -> ran | skipped | partial | waiting | failed | not run
    failures: dict[str, str] = field(default_factory=dict)  # unit -> why it failed or did not run
    active: dict[str, Unit] = field(default_factory=dict)  # submitted, not ended
    ignored: set[str] = field(default_factory=set)  # shared units waiting for other arms (arm filter)

    def run(self, plan) -> list[tuple[str, str]]:
        """`plan()` returns the current graph. Returns (unit, outcome) pairs in the order decided."""
        try:
            with _term_as_interrupt():
                self._loop(plan)
        except BaseException:
            if self.active:
                console.print(f"stopping {len(self.active)} running unit(s): {', '.join(self.active)}")
            self.executor.cancel_all()  # also what a submission cut short by Ctrl-C had started
            raise
        return list(self.outcomes.items())

    def _loop(self, plan) -> None:
        while True:
            graph = plan()
            progressed = self._start_ready(graph)
            if self.active:
                for name, result in self.executor.wait():
                    self._ended(graph, name, result)
            elif not progressed:
                return

    def raise_if_failed(self) -> None:
        if self.failures:
            why = "; ".join(f"{name}: {reason}" for name, reason in self.failures.items())
            raise StudyFailedError(f"study not finished: {why}; rerun `study run` to redo only these units")

    def _start_ready(self, graph: Graph) -> bool:
        progressed = False
        held: set[str] = set()  # selected, not startable in this pass
        for unit in graph.units:  # dependency order
            name = unit.name
            if name in self.outcomes or name in self.active or name in self.ignored:
                continue
            shared = not graph.arms_of[name]
            if not self.selection.picks(unit.stage, graph.arms_of[name]):
                continue
            bad = next((d for d in unit.after if self.outcomes.get(d) in FINISHED_BAD), None)
            if bad is not None:
                self._decide(name, "not run", f"not run: its input {bad} "
                             + ("failed" if self.outcomes[bad] == "failed" else "was not run"))
                progressed = True
                continue
            if self.ledger.waits(unit):  # an input was left partial: redone first by the next run
                console.print(f"{name}: waits for unfinished inputs, not run")
                self.outcomes[name] = "waiting"
                progressed = True
                continue
            if any(d in held or (d in self.active and not self.executor.chains) for d in unit.after):
                held.add(name)
                continue
            missing = next((d for d in unit.after if d not in self.outcomes and d not in self.active
                            and self.ledger.state(graph.by_name[d]) != "done"), None)
            if missing is not None:
                dep = graph.by_name[missing]
                state = self.ledger.state(dep)
                if shared and self.selection.waits_for_inputs:
                    console.print(f"{name}: waits for {missing} ({state}), not run")
                    self.ignored.add(name)
                    continue
                raise ConfigError(f"{name} needs {missing}, which is {state}; "
                                  f"run the stage '{dep.stage}' first (e.g. --from {dep.stage})")
            # under an arm filter --force re-runs the arms' units, never the shared pool or eval set
            forced = self.force and not (shared and self.selection.waits_for_inputs and unit.stage in ("eval", "pool"))
            if not forced and self.ledger.state(unit) == "done":
                manifest = self.ledger.read(unit) or {}
                console.print(f"{name}: unchanged since {manifest.get('finished', '?')}, skipped")
                self.outcomes[name] = "skipped"
                progressed = True
                continue
            if not self.executor.fits(unit):
                held.add(name)
                continue
            console.rule(f"[bold]{name}")
            after = [d for d in unit.after if d in self.active]
            self.active[name] = unit
            try:
                self.executor.submit(unit, graph, force=forced, after=after)
            except BaseException:  # inline: the unit ended with this error; else the submission was cut short
                self.active.pop(name)
                raise
            progressed = True
        return progressed

    def _ended(self, graph: Graph, name: str, result: Result) -> None:
        self.active.pop(name, None)
        if result.outcome == "partial":
            self.ledger.unfinished[name] = result.message
            self.outcomes[name] = "partial"
        elif result.outcome == "failed":
            console.print(f"[red]{name} failed[/red]: {result.message}", soft_wrap=True)
            self._decide(name, "failed", result.message)
        else:
            self.outcomes[name] = result.outcome
        if result.outcome in ("partial", "failed"):  # chained jobs that read from it never start
            stale = [d for d in graph.dependents({name}) if d in self.active]
            if stale:
                self.executor.cancel(stale)
            for d in stale:
                self.active.pop(d)
                if result.outcome == "failed":
                    self._decide(d, "not run", f"not run: its input {name} failed")
                else:
                    self.ledger.unfinished[d] = f"waits for {name}"
                    self.outcomes[d] = "waiting"

    def _decide(self, name: str, outcome: str, why: str) -> None:
        if outcome == "not run":
            console.print(f"{name}: {why}", soft_wrap=True)
        self.outcomes[name] = outcome
        self.failures[name] = why


@contextlib.contextmanager
def _term_as_interrupt():
    """SIGTERM (a closed session, `kill`) stops the driver like Ctrl-C: running units are
    stopped, not orphaned. Only the main thread can set handlers; elsewhere nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    before = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, before)
