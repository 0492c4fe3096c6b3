"""`Study`: a study file turned into fingerprinted units of work, run by an executor.

The story of `study run`: validate every stage config of every arm (fail before any
work) -> start the offline teacher if asked -> eval set -> pool (generate, or an
existing file) -> nested subsets -> base model -> one training run per arm, scale and
seed -> responses per model (scale 0 is the untuned base) -> one judgement file per
judge -> index.json -> report. The stage configs are study/context.py, which units exist
is study/graph.py, what each runs is study/runners.py, which run when is study/schedule.py,
where they run is study/executors.py, where they write is study/layout.py, arms and model
names are study/arms.py, and `--only/--from/--arm` is study/selection.py.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass

from instructscale.console import console
from instructscale.errors import ConfigError
from instructscale.locks import exclusive
from instructscale.progress import log_to
from instructscale.study.context import DEMO_TEACHER_MODEL, StudyContext
from instructscale.study.graph import Graph, build_graph
from instructscale.study.preflight import before_run
from instructscale.study.schedule import Scheduler
from instructscale.study.selection import STAGES, selection_of
from instructscale.study.units import Unit

__all__ = ["DEMO_TEACHER_MODEL", "STAGES", "Study", "UnitRow"]


@dataclass
class UnitRow:
    """One line of `study status`."""

    unit: str
    stage: str
    scale: str | None
    state: str  # done | changed | partial | pending
    seconds: float | None = None
    arms: tuple[str, ...] = ()  # () = shared by every arm
    job: str | None = None  # SLURM job of a unit not done: "812 RUNNING"


class Study(StudyContext):
    """The study as `study run` and `study status` see it: its context, plus the graph of
    units and running them through an executor (study/executors.py)."""

    def graph(self) -> Graph:
        return build_graph(self)

    def units(self) -> list[Unit]:
        return self.graph().units

    # running ----------------------------------------------------------------------------

    def run(self, only: list[str] | None = None, start: str | None = None, force: bool = False,
            arms: list[str] | None = None, network_checks: bool = True,
            executor: str | None = None) -> list[tuple[str, str]]:
        """Run the selected units through the executor (`executor`: local, workers or slurm;
        None: the study file's); returns (unit, outcome) pairs. Preflight checks
        (study/preflight.py; `network_checks`: also servers and the Hub) come first. A failed
        unit stops only the units that read from it; the run then ends with an error naming it."""
        from instructscale.study.executors import make_executor

        selection = selection_of(only, start, arms, [a.name for a in self.arms])
        _quiet_library_progress()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        with exclusive(self.run_dir, "the study's run directory"), log_to(console, self.run_dir / "study.log"), \
                self._teacher():
            runner = make_executor(self, executor)  # a bad executor block: refused before the checks' work
            before_run(self, set(selection.stages), force=force, network=network_checks, executor=runner.name)
            scheduler = Scheduler(self.ledger, selection, runner, force=force)
            outcomes = scheduler.run(self.graph)
        scheduler.raise_if_failed()
        self.ledger.raise_if_unfinished()
        return outcomes

    def run_unit(self, name: str, fingerprint: str | None = None, force: bool = False, executor: str = "local") -> str:
        """Run one unit in this process, as an executor's worker or job does (`study run-unit`):
        its inputs must be done, and its fingerprint the driver's. Returns the outcome."""
        from instructscale.study.runners import run_unit

        graph = self.graph()  # progress bars: off through the environment the executor gives (PROGRESS_ENV)
        unit = graph.by_name.get(name)
        if unit is None:
            raise ConfigError(f"{self.source}: no unit '{name}' (units: {', '.join(graph.by_name)})")
        if fingerprint is not None and unit.fingerprint != fingerprint:
            raise ConfigError(f"{name}: its settings changed since `study run` planned it (fingerprint "
                              f"{unit.fingerprint}, planned {fingerprint}); run `study run` again")
        missing = next((d for d in unit.after if self.ledger.state(graph.by_name[d]) != "done"), None)
        if missing is not None:
            raise ConfigError(f"{name} needs {missing}, which is {self.ledger.state(graph.by_name[missing])}")
        self.executor = executor
        outcome, _ = self.ledger.execute(unit, lambda: run_unit(self, graph, unit), force=force, executor=executor)
        return outcome

    @contextlib.contextmanager
    def _teacher(self):
        if not self.cfg.teacher.offline_demo:
            yield
            return
        from instructscale.demo import serve

        server = serve(seed=self.cfg.seed, noise_rate=self.cfg.teacher.demo_noise_rate)
        self.teacher_url = server.base_url
        console.print(f"offline demo teacher on {server.base_url}")
        try:
            yield
        finally:
            server.stop()

    # what is done -------------------------------------------------------------------------

    def report_summary(self):
        """The last finished report's summary (its headline table), or None."""
        from instructscale.report import ReportSummary

        manifest = self.ledger.dir / "report.json"
        if not manifest.exists():
            return None
        data = json.loads(manifest.read_text(encoding="utf-8"))
        if data.get("status") != "done":
            return None
        summary = ReportSummary.model_validate(data["summary"])  # its paths are relative to the run dir
        summary.files = {kind: str(self.layout.run_dir / path) for kind, path in summary.files.items()}
        summary.out = str(self.layout.run_dir / summary.out)
        return summary

    def status(self) -> list[UnitRow]:
        from instructscale.study.executors import slurm_jobs

        graph = self.graph()
        states = {unit.name: self.ledger.state(unit) for unit in graph.units}
        jobs = slurm_jobs(self.run_dir, [name for name, state in states.items() if state != "done"])
        rows = []
        for unit in graph.units:
            manifest = self.ledger.read(unit) or {}
            rows.append(UnitRow(unit.name, unit.stage, unit.scale, states[unit.name], manifest.get("seconds"),
                                graph.arms_of[unit.name], jobs.get(unit.name)))
        if graph.waiting:
            rows.append(UnitRow("train/respond/judge/report", "train", None, "pending", arms=tuple(graph.waiting)))
        return rows

    def grid(self) -> dict[str, dict[int, str]]:
        """Arms x scales for `study status`: per arm and scale, 'done', the first unfinished
        unit's stage and state ('train pending'), or 'k/n done' over training seeds."""
        graph = self.graph()
        out: dict[str, dict[int, str]] = {}
        for arm in self.arms:
            by_size: dict[int, list[str]] = {}
            for ref in graph.models.get(arm.name, []):
                states = [(u.stage, self.ledger.state(u)) for u in graph.model_units[ref.name]]
                first = next((f"{stage} {state}" for stage, state in states if state != "done"), "done")
                by_size.setdefault(ref.size, []).append(first)
            out[arm.name] = {size: _cell(models) for size, models in by_size.items()}
        return out


def _cell(models: list[str]) -> str:
    done = sum(m == "done" for m in models)
    if done == len(models):
        return "done"
    return models[0] if len(models) == 1 else f"{done}/{len(models)} done"


def _quiet_library_progress() -> None:
    """Loading and saving bars of transformers / datasets drown the study's own progress;
    training keeps its bar."""
    import datasets
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    datasets.disable_progress_bars()
