"""How a training unit starts `accelerate launch` (study file `launch.accelerate_config`).

On one machine it is one `accelerate launch`. As a job of the `slurm` executor it is one
`accelerate launch` on every node of the job's allocation, started by `srun` (one task a
node), each told the allocation's shape from SLURM's environment: the node count
(`SLURM_JOB_NUM_NODES`), its own rank (`SLURM_NODEID`, read on that node), the rendezvous
host (the allocation's first node, from `scontrol show hostnames`) and a port derived from
the job id, so two jobs sharing a node do not collide. What `launch.extra_args` says comes
last and wins.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

from instructscale.errors import ConfigError

PORT_BASE, PORT_SPAN = 20000, 20000  # rendezvous ports 20000-39999, by job id
# the rank differs per node, so it is read there: bash runs `python -m accelerate.commands.launch ...`
RANK_ON_EACH_NODE = 'exec "$0" -m accelerate.commands.launch --machine_rank "$SLURM_NODEID" "$@"'


@dataclass(frozen=True)
class Rendezvous:
    """Where the processes of one training across `nodes` machines meet."""

    nodes: int
    head: str
    port: int
    procs_per_node: int
    cpus_per_task: int | None = None  # srun does not inherit sbatch's --cpus-per-task (SLURM 22.05+)

    @property
    def processes(self) -> int:
        return self.nodes * self.procs_per_node


def rendezvous(env: Mapping[str, str], accelerate_config: str) -> Rendezvous:
    """The rendezvous of the SLURM job this process runs in (a `sbatch` job's environment).
    Processes per node: the GPUs SLURM gave the node, else the accelerate config's
    `num_processes / num_machines`."""
    try:
        nodes = int(env.get("SLURM_JOB_NUM_NODES") or env.get("SLURM_NNODES") or 1)
        job_id = int(env["SLURM_JOB_ID"])
        nodelist = env["SLURM_JOB_NODELIST"]
    except (KeyError, ValueError) as e:
        raise ConfigError(f"training under srun needs the environment of a SLURM job (missing or bad {e})") from None
    from instructscale.study.slurm import hostnames

    hosts = hostnames(nodelist)
    if not hosts:
        raise ConfigError(f"`scontrol show hostnames {nodelist}` named no host: cannot find the rendezvous node")
    gpus = env.get("SLURM_GPUS_ON_NODE", "")
    procs = int(gpus) if gpus.isdigit() and int(gpus) > 0 else _procs_per_machine(read_config(accelerate_config))
    cpus = env.get("SLURM_CPUS_PER_TASK", "")
    return Rendezvous(nodes=nodes, head=hosts[0], port=PORT_BASE + job_id % PORT_SPAN, procs_per_node=procs,
                      cpus_per_task=int(cpus) if cpus.isdigit() else None)


def read_config(path: str) -> dict:
    """An accelerate config file, or a ConfigError naming it."""
    try:
        cfg = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as e:
        raise ConfigError(f"launch.accelerate_config: cannot read {path} ({getattr(e, 'strerror', None) or e})") from None
    if not isinstance(cfg, dict):
        raise ConfigError(f"launch.accelerate_config: {path} is not an accelerate config (no mapping)")
    return cfg


def trains_on_gpus(cfg: dict) -> bool:
    """Whether an accelerate config (read_config) trains on GPUs (not `use_cpu`, not NO / MULTI_CPU)."""
    return not cfg.get("use_cpu") and str(cfg.get("distributed_type", "NO")).upper() not in ("NO", "MULTI_CPU")


def _procs_per_machine(cfg: dict) -> int:
    return max(1, int(cfg.get("num_processes") or 1) // max(1, int(cfg.get("num_machines") or 1)))


def launch_command(accelerate_config: str, extra_args: list[str], train_args: list[str],
                   at: Rendezvous | None = None) -> list[str]:
    """The command that trains: `accelerate launch` here, or under srun on every node of `at`."""
    python = sys.executable
    if at is None:
        return [python, "-m", "accelerate.commands.launch", "--config_file", accelerate_config, *extra_args,
                *train_args]
    shape = ["--config_file", accelerate_config, "--num_machines", str(at.nodes),
             "--num_processes", str(at.processes), "--main_process_ip", at.head,
             "--main_process_port", str(at.port), "--rdzv_backend", "static", "--same_network"]
    srun = ["srun", f"--nodes={at.nodes}", f"--ntasks={at.nodes}", "--ntasks-per-node=1", "--kill-on-bad-exit=1",
            *([f"--cpus-per-task={at.cpus_per_task}"] if at.cpus_per_task else [])]
    return [*srun, "bash", "-c", RANK_ON_EACH_NODE, python, *shape, *extra_args, *train_args]
