"""Fingerprinted units of work: the mechanism behind "rerun does nothing".

A study is a list of units (generate, subsets, train:200, respond:200, judge:teacher,
report, ...). Each unit has a fingerprint: a hash of its settings and of the
fingerprints of the units it reads from. A unit whose manifest says `done` with the
same fingerprint is skipped; a changed fingerprint re-runs that unit and, through the
chain, everything downstream of it, and nothing else. Secrets never enter a
fingerprint or a manifest (configs carry env-var names, not keys).

A unit whose summary names work left `incomplete` (API calls that failed after all
retries) is `partial`, never `done`: units reading from it wait, the study run ends with
an error naming it, and the next run runs it again, which redoes only the failed records
(each stage resumes from its own output file).
"""

from __future__ import annotations

import hashlib
import json
import time
import os
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from instructscale.console import console
from instructscale.datafiles import write_json
from instructscale.errors import InstructscaleError
from instructscale.provenance import package_versions
from instructscale.study.outputs import damage, record_outputs
from instructscale.redact import redact


class StudyIncompleteError(InstructscaleError):
    """Units were left partial (or waiting for a partial one); the next run redoes that work."""


def fingerprint(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, ensure_ascii=False, default=str).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Unit:
    """One skippable piece of a study, as plain data: what it is (`stage`; `task` names the
    arm, model or judge), what it reads (`inputs`: unit name -> that unit's fingerprint) and
    what it writes. No closures: study/runners.py turns a unit into work, in this process or
    in a fresh one (`study run-unit`), so any executor can run it."""

    name: str
    stage: str
    settings: dict[str, Any]
    task: dict[str, Any] = field(default_factory=dict)
    inputs: dict[str, str] = field(default_factory=dict)
    scale: str | None = None
    outputs: tuple[str, ...] = ()  # cleared when the settings changed
    keep_outputs_on_change: bool = False  # e.g. generation: a bigger target extends the pool

    @property
    def after(self) -> tuple[str, ...]:
        """Names of the units this one reads from."""
        return tuple(self.inputs)

    @cached_property
    def fingerprint(self) -> str:
        return fingerprint({"settings": self.settings, "after": list(self.inputs.values())})


def make_unit(name: str, stage: str, settings: dict[str, Any], *, after: Iterable[Unit] = (),
              outputs: Iterable[str | Path] = (), **fields: Any) -> Unit:
    """A unit whose inputs are `after`, fingerprinted in dependency order."""
    return Unit(name, stage, settings, inputs={u.name: u.fingerprint for u in after},
                outputs=tuple(str(o) for o in outputs), **fields)


class Ledger:
    """Manifests of units, one JSON file each under RUN_DIR/manifests/."""

    def __init__(self, run_dir: Path):
        self.run_dir = Path(run_dir)
        self.dir = self.run_dir / "manifests"
        self.unfinished: dict[str, str] = {}  # unit -> why it is not done, for units of this run
        self._damage: dict[tuple[str, int], str | None] = {}

    def path(self, unit: Unit) -> Path:
        return self.dir / f"{unit.name.replace(':', '__')}.json"

    def read(self, unit: Unit) -> dict[str, Any] | None:
        p = self.path(unit)
        return json.loads(p.read_text(encoding="utf-8")) if p.exists() else None

    def state(self, unit: Unit) -> str:
        """done | changed (done with other settings) | damaged (done, but a file it wrote has
        changed since) | partial (started, not finished) | pending."""
        m = self.read(unit)
        if m is None:
            return "pending"
        if m.get("status") == "done":
            if m.get("fingerprint") != unit.fingerprint:
                return "changed"
            return "damaged" if self.damage(unit, m) else "done"
        return "partial"

    def damage(self, unit: Unit, manifest: dict[str, Any]) -> str | None:
        """Why a done unit's recorded outputs are not what it wrote (study/outputs.py), checked
        once per manifest version: state() is asked for every input of every unit."""
        key = (unit.name, self.path(unit).stat().st_mtime_ns)
        if key not in self._damage:
            self._damage[key] = damage(manifest.get("outputs") or {}, self.dir.parent)
        return self._damage[key]

    def execute(self, unit: Unit, work: Callable[[], dict[str, Any]], *, force: bool = False,
                executor: str = "local") -> tuple[str, dict[str, Any]]:
        """Run `work` (the unit's runner) unless the unit is done with the same fingerprint.
        Returns (outcome, manifest). The manifest says where it ran (executor, host, PID, SLURM job)."""
        state = self.state(unit)
        if not force and state == "done":
            return "skipped", self.read(unit)
        previous = self.read(unit) or {}
        changed = previous and previous.get("fingerprint") != unit.fingerprint and not unit.keep_outputs_on_change
        if state == "damaged":
            console.print(f"{unit.name}: {self.damage(unit, previous)}; redone from scratch")
        # results made under other settings, damaged ones, or ones that --force redoes are not resumed into
        if force or changed or state == "damaged":
            for out in unit.outputs:
                _remove(Path(out))
        manifest = {"unit": unit.name, "stage": unit.stage, "scale": unit.scale, "status": "running",
                    "fingerprint": unit.fingerprint, "settings": unit.settings,
                    "inputs": dict(unit.inputs), "runner": _runner(executor),
                    "versions": package_versions(), "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                    "previous_fingerprint": previous.get("fingerprint")}
        write_json(self.path(unit), manifest)
        from instructscale.llm.client import ServerUnreachableError

        t0 = time.monotonic()
        try:
            summary = _under_run_dir(work() or {}, self.run_dir)
        except ServerUnreachableError as exc:  # finished records stay; the next run goes on from them
            manifest.update(status="partial", seconds=round(time.monotonic() - t0, 2), summary={"incomplete": str(exc)},
                            finished=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
            write_json(self.path(unit), manifest)
            raise ServerUnreachableError(f"{unit.name}: {exc}") from None
        except Exception as exc:  # the manifest says why; the error still stops this process
            manifest.update(status="failed", error=redact(f"{type(exc).__name__}: {exc}")[:2000],
                            seconds=round(time.monotonic() - t0, 2))
            write_json(self.path(unit), manifest)
            raise
        incomplete = summary.get("incomplete")
        manifest.update(status="partial" if incomplete else "done", seconds=round(time.monotonic() - t0, 2),
                        summary=summary, finished=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                        outputs=record_outputs(unit.outputs, self.dir.parent))
        write_json(self.path(unit), manifest)
        if incomplete:
            self.unfinished[unit.name] = incomplete
            return "partial", manifest
        return "ran", manifest

    def waits(self, unit: Unit) -> bool:
        """True when an input of the unit was left unfinished by this run: the unit is not
        run now (and counts as unfinished itself); the next run redoes the input first."""
        waiting = [dep for dep in unit.after if dep in self.unfinished]
        if waiting:
            self.unfinished[unit.name] = f"waits for {', '.join(waiting)}"
        return bool(waiting)

    def raise_if_unfinished(self) -> None:
        if self.unfinished:
            why = "; ".join(f"{name}: {reason}" for name, reason in self.unfinished.items())
            raise StudyIncompleteError(f"study not finished ({why}); rerun `study run` to redo only that work")


def _runner(executor: str) -> dict[str, Any]:
    job = os.environ.get("SLURM_JOB_ID")
    return {"executor": executor, "host": socket.gethostname(), "pid": os.getpid(), **({"job_id": job} if job else {})}


def _under_run_dir(value: Any, run_dir: Path) -> Any:
    """A summary with every path inside the run dir written relative to it: paths relative to
    the working directory went stale when a run was copied or read from elsewhere
    (`--set run_dir=...`). Readers resolve them against the run dir they have."""
    if isinstance(value, dict):
        return {k: _under_run_dir(v, run_dir) for k, v in value.items()}
    if isinstance(value, list):
        return [_under_run_dir(v, run_dir) for v in value]
    if isinstance(value, str) and value and "\n" not in value and len(value) < 4096:
        try:
            return str(Path(value).resolve().relative_to(run_dir.resolve())) if Path(value).exists() else value
        except (ValueError, OSError):
            return value
    return value


def _remove(path: Path) -> None:
    import shutil

    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()
