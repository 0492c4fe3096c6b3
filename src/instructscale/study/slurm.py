"""SLURM as the executor's tools see it: the job script of a unit (rendered from the
template data/slurm/job.sh), `sbatch`, `scancel`, and job states from one `scontrol show
job` call (clusters without accounting storage have no `sacct`)."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import threading
from importlib import resources
from string import Template

from instructscale.errors import InstructscaleError
from instructscale.study.config import Resources

ACTIVE = ("PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED", "REQUEUED", "RESIZING", "SIGNALING",
          "STAGE_OUT", "RESV_DEL_HOLD", "REQUEUE_FED", "REQUEUE_HOLD")
RETRIED = ("FAILED", "TIMEOUT", "PREEMPTED", "NODE_FAIL", "BOOT_FAIL", "OUT_OF_MEMORY", "DEADLINE")


class SlurmError(InstructscaleError):
    """A SLURM command failed (no cluster, a rejected job script)."""


def sbatch_lines(res: Resources, gpus: int, job_ids: list[str], spans: bool = False) -> list[str]:
    """The #SBATCH lines of a unit: its stage's resources and its inputs' jobs as `afterok`.
    `spans` (a training): `nodes` nodes, one task on each (study/launch.py starts the
    processes of a node)."""
    nodes = (res.nodes or 1) if spans else None
    options = [("nodes", nodes), ("ntasks-per-node", 1 if nodes else None),
               ("partition", res.partition), ("account", res.account), ("qos", res.qos),
               ("constraint", res.constraint), ("cpus-per-task", res.cpus), ("mem", res.mem), ("time", res.time),
               ("gres", f"gpu:{gpus}" if gpus else None),
               ("dependency", "afterok:" + ":".join(job_ids) if job_ids else None)]
    lines = [f"#SBATCH --{key}={value}" for key, value in options if value is not None]
    return lines + [line if line.startswith("#SBATCH") else f"#SBATCH {line}" for line in res.sbatch]


def job_script(*, unit: str, job_name: str, log: str, workdir: str, lines: list[str], setup: list[str],
               command: list[str], attempt: int) -> str:
    template = Template(resources.files("instructscale").joinpath("data/slurm/job.sh").read_text(encoding="utf-8"))
    return template.substitute(unit=unit, job_name=job_name, log=log, workdir=workdir, attempt=attempt,
                               sbatch_lines="\n".join(lines), setup_lines="\n".join(setup),
                               command=shlex.join(command))


def sbatch(script_path: str, record) -> str:
    """Submit a job script and `record(job_id)` it, with Ctrl-C held back in between: a job
    submitted but not recorded would be left behind by the driver's cancel."""
    held: list[int] = []
    before = {sig: signal.signal(sig, lambda signum, frame: held.append(signum))
              for sig in (signal.SIGINT, signal.SIGTERM)} if threading.current_thread() is threading.main_thread() else {}
    try:
        job_id = _call(["sbatch", "--parsable", script_path]).strip().split(";")[0]
        record(job_id)
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)
    if held:
        raise KeyboardInterrupt(f"signal {held[0]}")
    return job_id


def scancel(job_ids: list[str]) -> None:
    if job_ids:
        _call(["scancel", *job_ids], check=False)


def set_dependency(job_id: str, job_ids: list[str]) -> None:
    """Point a waiting job at its inputs' new jobs (an input was resubmitted)."""
    _call(["scontrol", "update", f"JobId={job_id}", "Dependency=afterok:" + ":".join(job_ids)], check=False)


def job_states(job_ids: list[str]) -> dict[str, dict[str, str]]:
    """JobState, ExitCode and Reason of every job the controller still knows, by id. Jobs
    it has forgotten (long finished) are absent."""
    if not job_ids:
        return {}
    out = _call(["scontrol", "-o", "show", "job"], check=False)
    wanted = set(job_ids)
    states = {}
    for line in out.splitlines():
        fields = dict(part.split("=", 1) for part in line.split() if "=" in part)
        if fields.get("JobId") in wanted:
            states[fields["JobId"]] = {k: fields.get(k, "") for k in ("JobState", "ExitCode", "Reason")}
    return states


def hostnames(nodelist: str) -> list[str]:
    """The hosts of a SLURM node list (`gpu[07-08]` -> gpu07, gpu08)."""
    return _call(["scontrol", "show", "hostnames", nodelist], check=False).split()


def available() -> bool:
    from shutil import which

    return all(which(cmd) for cmd in ("sbatch", "scontrol", "scancel"))


def _call(cmd: list[str], check: bool = True) -> str:
    try:
        # its own session: a Ctrl-C in the terminal reaches the driver, never a half-done sbatch
        done = subprocess.run(cmd, capture_output=True, text=True, env=os.environ, timeout=120,
                              start_new_session=True)
    except FileNotFoundError:
        raise SlurmError(f"`{cmd[0]}` not found: the slurm executor needs the SLURM client commands "
                         "(sbatch, scontrol, scancel) on this machine") from None
    except subprocess.TimeoutExpired:
        raise SlurmError(f"`{shlex.join(cmd)}` did not answer in 120 s") from None
    if check and done.returncode != 0:
        raise SlurmError(f"`{shlex.join(cmd)}` failed (exit code {done.returncode}): "
                         f"{(done.stderr or done.stdout).strip()[-500:]}")
    return done.stdout
