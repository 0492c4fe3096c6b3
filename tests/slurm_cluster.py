"""A real single-node SLURM cluster for tests, started by hand (no systemd): munged, slurmctld
and slurmd on this host, with a slurm.conf in a temporary folder (proctrack/linuxproc,
task/none, select/cons_tres, no accounting: `sacct` is unavailable, `scontrol show job` works).

Needs root and Debian's `slurm-wlm` and `munge` (scripts/setup.sh --full installs them). Where
they are missing the SLURM tests skip with the reason; under INSTRUCTSCALE_REQUIRED_DEPS naming
`slurm` (CI) they fail instead. Run as a script to keep one up by hand:
`python tests/slurm_cluster.py DIR` (prints the SLURM_CONF to export; Ctrl-C or SIGTERM stops it).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

INSTALL = "as root: apt-get install -y slurm-wlm munge (scripts/setup.sh --full)"
DAEMONS = ("munged", "slurmctld", "slurmd", "sbatch", "scontrol", "scancel")
NODE_CPUS = 4  # more than this machine may have: slurmd takes the config's word (config_overrides)

CONF = """\
ClusterName=instructscale-test
SlurmctldHost={host}
SlurmUser=root
SlurmdUser=root
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
AuthType=auth/munge
AuthInfo=socket={dir}/munge.socket
CredType=cred/munge
StateSaveLocation={dir}/state
SlurmdSpoolDir={dir}/spool
SlurmctldPidFile={dir}/slurmctld.pid
SlurmdPidFile={dir}/slurmd.pid
SlurmctldLogFile={dir}/slurmctld.log
SlurmdLogFile={dir}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SlurmdParameters=config_overrides
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=1
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MinJobAge=600
KillWait=5
NodeName={host} CPUs={cpus} RealMemory=2000 State=UNKNOWN
PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP
"""


def unavailable() -> str | None:
    """Why a cluster cannot be started here, or None."""
    if os.geteuid() != 0:
        return "SLURM tests start munged, slurmctld and slurmd and need root"
    missing = [d for d in DAEMONS if shutil.which(d) is None]
    return f"missing {', '.join(missing)}" if missing else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """Start with `Cluster(dir).start()`; `env` is what a client needs (SLURM_CONF)."""

    def __init__(self, root: Path):
        self.dir = Path(root)
        self.host = socket.gethostname().split(".")[0]
        self.conf = self.dir / "slurm.conf"
        self.env = {"SLURM_CONF": str(self.conf)}
        self.procs: list[subprocess.Popen] = []

    def start(self, timeout_s: float = 60.0) -> Cluster:
        for sub in ("state", "spool"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        self.conf.write_text(CONF.format(host=self.host, dir=self.dir, cpus=NODE_CPUS, ctld_port=_free_port(),
                                         slurmd_port=_free_port()), encoding="utf-8")
        env = {**os.environ, **self.env}
        d = self.dir
        self._daemon(["munged", "-F", "--force", f"--socket={d}/munge.socket", f"--pid-file={d}/munged.pid",
                      f"--log-file={d}/munged.log", f"--seed-file={d}/munged.seed"], env)
        self._wait(lambda: (d / "munge.socket").exists(), timeout_s, "munged")
        self._daemon(["slurmctld", "-D", "-i", "-f", str(self.conf)], env)
        self._daemon(["slurmd", "-D", "-f", str(self.conf), "-N", self.host], env)
        self._wait(self._node_idle, timeout_s, "the node to come up")
        return self

    def _daemon(self, cmd: list[str], env: dict[str, str]) -> None:
        log = open(self.dir / f"{cmd[0]}.out", "ab")  # noqa: SIM115 (kept open for the daemon's life)
        self.procs.append(subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT,
                                           start_new_session=True))

    def _node_idle(self) -> bool:
        out = subprocess.run(["sinfo", "-h", "-o", "%T"], env={**os.environ, **self.env}, capture_output=True,
                             text=True)
        return out.returncode == 0 and out.stdout.strip().rstrip("*") in ("idle", "mixed", "allocated")

    def _wait(self, ok, timeout_s: float, what: str) -> None:
        deadline = time.monotonic() + timeout_s
        while not ok():
            dead = [p.args[0] for p in self.procs if p.poll() is not None]
            if dead or time.monotonic() > deadline:
                self.stop()
                logs = "; ".join(f"{p.name}: {p.read_text(errors='replace')[-400:]}"
                                 for p in sorted(self.dir.glob("*.log")) + sorted(self.dir.glob("*.out")))
                raise RuntimeError(f"SLURM test cluster: waiting for {what} failed "
                                   f"({'died: ' + ', '.join(dead) if dead else 'timed out'}); {logs}")
            time.sleep(0.3)

    def jobs(self) -> list[str]:
        """Ids of jobs the controller knows that are not finished."""
        out = subprocess.run(["squeue", "-h", "-o", "%i"], env={**os.environ, **self.env}, capture_output=True,
                             text=True, check=True)
        return out.stdout.split()

    def stop(self) -> None:
        if self.procs:
            subprocess.run(["scancel", "--full", "--user=root"], env={**os.environ, **self.env},
                           capture_output=True)
        for p in reversed(self.procs):
            p.terminate()
        for p in reversed(self.procs):
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.procs = []


def _interrupt(signum, frame):
    raise KeyboardInterrupt


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _interrupt)  # `kill` or `timeout` stops the daemons too
    cluster = Cluster(Path(sys.argv[1]).resolve()).start()
    print(f"export SLURM_CONF={cluster.conf}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        cluster.stop()
