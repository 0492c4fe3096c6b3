"""Where a study's units run (study/schedule.py decides which run when).

- `Inline` (executor `local`, one worker): in this process, one after another; an error
  surfaces as it is, with its traceback.
- `Workers` (executor `workers`, or `local` with `workers` > 1): each unit in its own
  process, `instructscale study run-unit`, every ready unit at once within the workers and
  the GPU slots; a unit needing k GPUs gets k slots as CUDA_VISIBLE_DEVICES.
- `Slurm` (executor `slurm`): each unit a SLURM job, chained to its inputs' jobs with
  `afterok`; job ids are kept in RUN_DIR/jobs/slurm.json, so a driver started again adopts
  jobs still queued or running instead of submitting them twice.

Out-of-process units read the study file as the driver resolved it (RUN_DIR/jobs/study.yaml,
`--set` overrides applied) and refuse to run a unit whose fingerprint differs from the
driver's. Each writes its log to RUN_DIR/logs/UNIT.log; a failure names the unit, its exit
code or signal or job state, and the log's last lines. Manifests stay the single source
of truth: an ended unit is judged by its manifest, not by its exit code alone.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from instructscale.console import console
from instructscale.datafiles import write_json, write_text
from instructscale.errors import ConfigError
from instructscale.study.config import ExecutorConfig
from instructscale.study.context import StudyContext
from instructscale.study.graph import Graph
from instructscale.study.runners import run_unit
from instructscale.study.schedule import Result
from instructscale.study.units import Ledger, Unit

KINDS = ("local", "workers", "slurm")
PARTIAL_EXIT = 3  # `study run-unit`: the unit ended partial (work left for the next run)
GPU_STAGES = ("train", "respond")  # stages that use a GPU by default, where there is one
TAIL_LINES = 12
# a unit's log is a file: no progress bars (and no transformers import in units that do not need it)
PROGRESS_ENV = {"HF_HUB_DISABLE_PROGRESS_BARS": "1", "HF_DATASETS_DISABLE_PROGRESS_BARS": "1"}
# units running side by side share the CPU: idle OpenMP threads sleep instead of spinning
# against the other units' (unless the user set a policy). The thread count, and so every
# result, stays the same (benchmarks/study_executor.py).
SHARED_CPU_ENV = {"OMP_WAIT_POLICY": "PASSIVE"}


def make_executor(study: StudyContext, kind: str | None = None):
    """The executor the study file (or `--executor`) names."""
    cfg = study.cfg.executor
    kind = kind or cfg.kind
    if kind not in KINDS:
        raise ConfigError(f"--executor: unknown executor '{kind}' (have: {', '.join(KINDS)})")
    if kind == "slurm":
        return Slurm(study, cfg)
    nodes = cfg.resources_for("train").nodes or 1
    if nodes > 1:
        raise ConfigError(f"executor.resources.train.nodes is {nodes}: a training spans nodes only as a SLURM job "
                          f"(executor slurm), not with the {kind} executor")
    gpus = gpu_slots(cfg)
    workers = cfg.workers or (max(2, len(gpus)) if kind == "workers" else 1)
    if kind == "local" and workers == 1:
        return Inline(study)
    return Workers(study, cfg, workers, gpus)


def gpu_slots(cfg: ExecutorConfig) -> list[str]:
    """GPU ids to hand out: the study file's list, else CUDA_VISIBLE_DEVICES, else every GPU torch sees."""
    if cfg.gpus != "auto":
        return [str(g) for g in cfg.gpus]
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [g.strip() for g in visible.split(",") if g.strip()]
    import torch

    return [str(i) for i in range(torch.cuda.device_count())]


def gpus_needed(cfg: ExecutorConfig, stage: str, available: int) -> int:
    """GPUs a unit of this stage gets: its resources' `gpus`, else 1 for train and respond where
    GPUs exist; never more than there are (0 on a CPU-only machine)."""
    wanted = cfg.resources_for(stage).gpus
    if wanted is None:
        wanted = 1 if stage in GPU_STAGES else 0
    return min(wanted, available)


def log_path(study: StudyContext, unit: Unit) -> Path:
    return study.run_dir / "logs" / f"{unit.name.replace(':', '__')}.log"


def log_tail(path: Path, lines: int = TAIL_LINES) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return "(no log)"
    kept = [line for line in text.splitlines() if line.strip()][-lines:]
    return "\n".join(kept) or "(empty log)"


def ended(ledger: Ledger, unit: Unit, ok: bool, how: str, log: Path) -> Result:
    """An out-of-process unit's result, from its manifest: done (and a clean exit) ran,
    partial is partial whatever the exit, anything else failed with the log's tail."""
    manifest = ledger.read(unit) or {}
    fresh = manifest.get("fingerprint") == unit.fingerprint
    if ok and fresh and manifest.get("status") == "done":
        return Result("ran")
    if fresh and manifest.get("status") == "partial":
        return Result("partial", str((manifest.get("summary") or {}).get("incomplete", "partial")))
    return Result("failed", f"{how}; log {log}, last lines:\n{log_tail(log)}")


class Inline:
    """In this process, one unit at a time: today's `study run`."""

    name = "local"
    chains = False

    def __init__(self, study: StudyContext):
        self.study = study
        self.results: list[tuple[str, Result]] = []

    def fits(self, unit: Unit) -> bool:
        return not self.results

    def submit(self, unit: Unit, graph: Graph, *, force: bool, after: list[str]) -> None:
        outcome, manifest = self.study.ledger.execute(unit, lambda: run_unit(self.study, graph, unit), force=force)
        self.results.append((unit.name, Result(outcome, str((manifest.get("summary") or {}).get("incomplete", "")))))

    def wait(self) -> list[tuple[str, Result]]:
        out, self.results = self.results, []
        return out

    def cancel(self, names: list[str]) -> None:
        """Nothing runs in the background."""

    def cancel_all(self) -> None:
        """Nothing runs in the background."""


class _OutOfProcess:
    """What the workers and SLURM executors share: the resolved study file and the command of a unit."""

    def __init__(self, study: StudyContext, cfg: ExecutorConfig):
        self.study, self.cfg = study, cfg
        self.jobs_dir = study.run_dir / "jobs"
        self.study_file = self.jobs_dir / "study.yaml"
        write_text(self.study_file, yaml.safe_dump(study.cfg.model_dump(mode="json", exclude_unset=True),
                                                   allow_unicode=True, sort_keys=False))
        (study.run_dir / "logs").mkdir(parents=True, exist_ok=True)

    def command(self, unit: Unit, force: bool) -> list[str]:
        cmd = [sys.executable, "-m", "instructscale", "study", "run-unit", str(self.study_file.resolve()), unit.name,
               "--fingerprint", unit.fingerprint, "--executor", self.name]
        if self.study.cfg.teacher.offline_demo and self.study.teacher_url:
            cmd += ["--teacher-url", self.study.teacher_url]  # the driver's offline teacher
        return cmd + (["--force"] if force else [])


class Workers(_OutOfProcess):
    """Units as processes on this machine, within `workers` at once and the GPU slots."""

    name = "workers"
    chains = False

    def __init__(self, study: StudyContext, cfg: ExecutorConfig, workers: int, gpus: list[str]):
        super().__init__(study, cfg)
        self.workers, self.gpus, self.free = workers, gpus, list(gpus)
        self.procs: dict[str, tuple[subprocess.Popen, Unit, list[str]]] = {}
        console.print(f"executor: {workers} worker(s), GPUs: {','.join(gpus) or 'none'}")

    def fits(self, unit: Unit) -> bool:
        return len(self.procs) < self.workers and gpus_needed(self.cfg, unit.stage, len(self.gpus)) <= len(self.free)

    def submit(self, unit: Unit, graph: Graph, *, force: bool, after: list[str]) -> None:
        need = gpus_needed(self.cfg, unit.stage, len(self.gpus))
        slots, self.free = self.free[:need], self.free[need:]
        env = self.unit_env(slots)
        log = log_path(self.study, unit)
        with open(log, "ab") as out:
            out.write(f"== {unit.name}: worker, GPUs [{','.join(slots)}], {time.strftime('%FT%T%z')}\n".encode())
            proc = subprocess.Popen(self.command(unit, force), stdout=out, stderr=subprocess.STDOUT, env=env,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
        console.print(f"{unit.name}: PID {proc.pid}{f', GPUs {slots}' if slots else ''}, log {log}", soft_wrap=True)
        self.procs[unit.name] = (proc, unit, slots)

    def wait(self) -> list[tuple[str, Result]]:
        while True:
            done = [name for name, (proc, _, _) in self.procs.items() if proc.poll() is not None]
            if done:
                return [(name, self._finish(name)) for name in done]
            time.sleep(0.2)

    def unit_env(self, slots: list[str]) -> dict[str, str]:
        """A worker's environment: this one, its GPU slots, no progress bars, sleeping OpenMP threads."""
        return {**SHARED_CPU_ENV, **os.environ, **PROGRESS_ENV,
                **({"CUDA_VISIBLE_DEVICES": ",".join(slots)} if self.gpus else {})}

    def _finish(self, name: str) -> Result:
        proc, unit, slots = self.procs.pop(name)
        self.free += slots
        code = proc.returncode
        how = f"killed by signal {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"
        return ended(self.study.ledger, unit, code == 0, how, log_path(self.study, unit))

    def cancel(self, names: list[str]) -> None:
        """Workers start only units whose inputs are done: nothing waits on a failed one."""

    def cancel_all(self) -> None:
        for proc, _, _ in self.procs.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        for proc, _, _ in self.procs.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        self.procs.clear()


class Slurm(_OutOfProcess):
    """Units as SLURM jobs, chained with afterok, polled through one `scontrol show job` call."""

    name = "slurm"
    chains = True

    def __init__(self, study: StudyContext, cfg: ExecutorConfig):
        from instructscale.study import slurm

        super().__init__(study, cfg)
        self.slurm = slurm
        self.record_path = self.jobs_dir / "slurm.json"
        self.record: dict[str, dict[str, Any]] = _read_json(self.record_path)
        self.active: dict[str, dict[str, Any]] = {}  # unit -> {job_id, unit, after, attempt, force}

    def fits(self, unit: Unit) -> bool:
        return True

    def submit(self, unit: Unit, graph: Graph, *, force: bool, after: list[str]) -> None:
        known = self.record.get(unit.name)
        if known and known["fingerprint"] == unit.fingerprint:
            state = self.slurm.job_states([known["job_id"]]).get(known["job_id"], {}).get("JobState")
            if state in self.slurm.ACTIVE:  # a driver before this one submitted it: adopt, not resubmit
                console.print(f"{unit.name}: SLURM job {known['job_id']} already {state.lower()}, not resubmitted")
                self.active[unit.name] = {**known, "unit": unit, "after": after, "force": force}
                return
        self._sbatch(unit, after, attempt=1, force=force)

    def spans(self, unit: Unit, res) -> bool:
        """A training under `accelerate launch` (or given `nodes`) asks for its nodes, a task on each."""
        return unit.stage == "train" and (res.nodes is not None or self.study.cfg.launch.accelerate_config is not None)

    def _sbatch(self, unit: Unit, after: list[str], attempt: int, force: bool) -> None:
        res = self.cfg.resources_for(unit.stage)
        gpus = gpus_needed(self.cfg, unit.stage, res.gpus or 0)  # no `gpus`: none (a cluster's GPUs are asked for)
        log = log_path(self.study, unit)
        script = self.slurm.job_script(
            unit=unit.name, job_name=f"{self.study.cfg.name[:40]}:{unit.name}".replace(" ", "_"), log=str(log.resolve()),
            workdir=os.getcwd(), lines=self.slurm.sbatch_lines(res, gpus, [self.active[d]["job_id"] for d in after],
                                                               spans=self.spans(unit, res)),
            setup=[*(f"export {k}={v}" for k, v in PROGRESS_ENV.items()), *res.setup],
            command=self.command(unit, force), attempt=attempt)
        path = self.jobs_dir / f"{unit.name.replace(':', '__')}.sbatch"
        write_text(path, script)

        def record(job_id: str) -> None:
            entry = {"job_id": job_id, "fingerprint": unit.fingerprint, "attempt": attempt,
                     "submitted": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
            self.record[unit.name] = entry
            self.active[unit.name] = {**entry, "unit": unit, "after": after, "force": force}
            write_json(self.record_path, self.record)

        job_id = self.slurm.sbatch(str(path), record)
        console.print(f"{unit.name}: SLURM job {job_id}" + (f" (attempt {attempt})" if attempt > 1 else "")
                      + f", log {log}", soft_wrap=True)

    def wait(self) -> list[tuple[str, Result]]:
        while True:
            states = self.slurm.job_states([job["job_id"] for job in self.active.values()])
            out = []
            for name, job in list(self.active.items()):
                info = states.get(job["job_id"], {})
                state = info.get("JobState", "")
                if state in self.slurm.ACTIVE:
                    continue
                result = self._result(job, info)
                if result.outcome == "failed" and state in self.slurm.RETRIED and job["attempt"] < self.cfg.max_attempts:
                    console.print(f"{name}: SLURM job {job['job_id']} {state}, resubmitting")
                    self._resubmit(name, job)
                    continue
                self.active.pop(name)
                out.append((name, result))
            if out:
                return out
            time.sleep(self.cfg.poll_s)

    def _result(self, job: dict[str, Any], info: dict[str, str]) -> Result:
        unit = job["unit"]
        state, code = info.get("JobState") or "gone from the controller", info.get("ExitCode", "")
        how = f"SLURM job {job['job_id']} {state}" + (f", exit code {code}" if code and code != "0:0" else "")
        return ended(self.study.ledger, unit, state in ("COMPLETED", "gone from the controller"), how,
                     log_path(self.study, unit))

    def _resubmit(self, name: str, job: dict[str, Any]) -> None:
        self.active.pop(name)
        after = [d for d in job["after"] if d in self.active]
        self._sbatch(job["unit"], after, attempt=job["attempt"] + 1, force=job["force"])
        for other in self.active.values():  # jobs chained on the failed one wait for the new one
            if name in other["after"]:
                self.slurm.set_dependency(other["job_id"], [self.active[d]["job_id"] for d in other["after"]
                                                            if d in self.active])

    def cancel(self, names: list[str]) -> None:
        self.slurm.scancel([self.active.pop(n)["job_id"] for n in names if n in self.active])

    def cancel_all(self) -> None:
        ids = [job["job_id"] for job in self.active.values()]
        if ids:
            console.print(f"scancel {' '.join(ids)}")
        self.slurm.scancel(ids)
        self.active.clear()


def slurm_jobs(run_dir: Path, units: list[str]) -> dict[str, str]:
    """`study status`: the recorded SLURM job of each of these units and its state ("812 RUNNING";
    "812 gone" once the controller forgot it); nothing where no job was recorded or SLURM is absent."""
    from instructscale.study import slurm

    record = _read_json(Path(run_dir) / "jobs" / "slurm.json")
    ids = {u: record[u]["job_id"] for u in units if u in record}
    if not ids or not slurm.available():
        return {}
    states = slurm.job_states(list(ids.values()))
    return {u: f"{j} {states.get(j, {}).get('JobState', 'gone')}" for u, j in ids.items()}


def _read_json(path: Path) -> dict[str, Any]:
    import json

    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}

