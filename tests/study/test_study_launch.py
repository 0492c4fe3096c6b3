"""Training under `accelerate launch` across nodes (study/launch.py): the rendezvous read from
a SLURM job's environment, the command every node runs, two "nodes" on this machine meeting
at it and training one model, and a study whose trainings run as SLURM jobs through srun
giving the scores of the same launched trainings run locally. Also the checks that keep a
spanning training where it can run."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from pathlib import Path

import pytest
import yaml
from tiny import write_tiny_study
from typer.testing import CliRunner

from instructscale.cli.main import app
from instructscale.errors import ConfigError
from instructscale.study import Study, load_study
from instructscale.study.launch import RANK_ON_EACH_NODE, Rendezvous, launch_command, rendezvous

TRAIN = ["-m", "instructscale", "train", "--preset", "", "--config", "s.yaml"]


def cpu_accelerate_config(folder: Path, processes: int, **more) -> Path:
    """An accelerate config as a lab writes one; MULTI_GPU runs CPU processes with gloo where
    there is no GPU (the preflight would refuse it in a study here: `use_cpu` is for those)."""
    path = folder / "accelerate.yaml"
    path.write_text(yaml.safe_dump({"compute_environment": "LOCAL_MACHINE", "distributed_type": "MULTI_GPU",
                                    "num_processes": processes, "num_machines": 1, "machine_rank": 0,
                                    "mixed_precision": "no", "rdzv_backend": "static", "same_network": True, **more}))
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_rendezvous_comes_from_the_job_s_environment(slurm_cluster, tmp_path):
    config = cpu_accelerate_config(tmp_path, processes=8)
    env = {"SLURM_JOB_ID": "812", "SLURM_JOB_NUM_NODES": "2", "SLURM_JOB_NODELIST": "gpu[07-08]"}
    at = rendezvous(env, str(config))
    assert at == Rendezvous(nodes=2, head="gpu07", port=20812, procs_per_node=8)  # per node: the config's 8
    at = rendezvous({**env, "SLURM_GPUS_ON_NODE": "4", "SLURM_CPUS_PER_TASK": "32"}, str(config))
    assert (at.procs_per_node, at.cpus_per_task) == (4, 32)  # the GPUs SLURM gave each node win
    with pytest.raises(ConfigError, match="environment of a SLURM job"):
        rendezvous({"SLURM_JOB_NUM_NODES": "2"}, str(config))

    cmd = launch_command(str(config), ["--main_process_port", "29999"], TRAIN, at)
    assert cmd[:7] == ["srun", "--nodes=2", "--ntasks=2", "--ntasks-per-node=1", "--kill-on-bad-exit=1",
                       "--cpus-per-task=32", "bash"]
    assert cmd[7:9] == ["-c", RANK_ON_EACH_NODE] and "$SLURM_NODEID" in RANK_ON_EACH_NODE
    rest = cmd[10:]
    for flag, value in (("--num_machines", "2"), ("--num_processes", "8"), ("--main_process_ip", "gpu07")):
        assert rest[rest.index(flag) + 1] == value
    assert rest.index("--main_process_port") < rest.index("29999") < rest.index("-m")  # extra_args come last, win
    assert rest[-len(TRAIN):] == TRAIN
    assert launch_command(str(config), [], TRAIN)[1:] == ["-m", "accelerate.commands.launch", "--config_file",
                                                          str(config), *TRAIN]  # not a SLURM job: plain


def test_two_nodes_meet_at_the_rendezvous_and_train_one_model(tiny_pool_path, tiny_base_model, tmp_path):
    """What srun starts on each node, started here twice (node ranks 0 and 1) with one
    process a node: two accelerate launchers meet on 127.0.0.1 and train together."""
    config = cpu_accelerate_config(tmp_path, processes=1)
    out = tmp_path / "model"
    train = ["-m", "instructscale", "train", "--data", str(tiny_pool_path), "--base-model",
             str(tiny_base_model("gpt2")), "--out", str(out), "--preset", "demo", "--effective-batch-size", "4",
             "--per-device-batch-size", "2", "--max-steps", "2", "--max-length", "64"]
    at = Rendezvous(nodes=2, head="127.0.0.1", port=_free_port(), procs_per_node=1)
    cmd = launch_command(str(config), [], train, at)
    on_node = cmd[cmd.index("bash"):]  # srun's part: the same command on every node
    nodes = [subprocess.Popen(on_node, env={**os.environ, "SLURM_NODEID": str(rank)}, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) for rank in (0, 1)]
    logs = [node.communicate(timeout=600)[0] for node in nodes]
    assert [node.returncode for node in nodes] == [0, 0], "\n".join(log[-2000:] for log in logs)
    meta = json.loads((out / "instructscale.json").read_text())
    assert meta["complete"] is True and meta["metrics"]["num_processes"] == 2  # one world across both nodes
    assert meta["metrics"]["gradient_accumulation"] == 1 and meta["metrics"]["steps"] == 2


def test_a_study_s_launched_trainings_as_slurm_jobs_under_srun_score_as_run_locally(slurm_cluster, tmp_path):
    config = cpu_accelerate_config(tmp_path, processes=1, distributed_type="NO", use_cpu=True)
    launch = {"accelerate_config": str(config)}
    (tmp_path / "local").mkdir()
    local = write_tiny_study(tmp_path / "local", launch=launch)
    result = CliRunner().invoke(app, ["study", "run", str(local)])
    assert result.exit_code == 0, result.output

    (tmp_path / "slurm").mkdir()
    path = write_tiny_study(tmp_path / "slurm", launch=launch,
                            executor={"kind": "slurm", "poll_s": 0.5, "max_attempts": 1,
                                      "resources": {"train": {"nodes": 1}}})
    result = CliRunner().invoke(app, ["study", "run", str(path)])
    assert result.exit_code == 0, result.output
    run, ref = tmp_path / "slurm" / "run", tmp_path / "local" / "run"
    assert (run / "report" / "scores.csv").read_bytes() == (ref / "report" / "scores.csv").read_bytes()
    script = (run / "jobs" / "train__15.sbatch").read_text(encoding="utf-8")
    assert "#SBATCH --nodes=1" in script and "#SBATCH --ntasks-per-node=1" in script
    assert "#SBATCH --nodes" not in (run / "jobs" / "respond__15.sbatch").read_text(encoding="utf-8")
    summary = json.loads((run / "manifests" / "train__15.json").read_text(encoding="utf-8"))["summary"]
    assert summary["nodes"] == 1 and summary["processes"] == 1 and summary["rendezvous"].startswith(slurm_cluster.host)
    assert "launching: srun --nodes=1" in (run / "logs" / "train__15.log").read_text(encoding="utf-8")
    assert json.loads((ref / "manifests" / "train__15.json").read_text(encoding="utf-8"))["summary"]["launched"][:2] == \
        ["--config_file", str(config)]  # the local run launched too, without srun
    assert slurm_cluster.jobs() == []


def test_only_a_launched_training_under_slurm_spans_nodes(tmp_path):
    with pytest.raises(ConfigError, match="resources.respond.nodes: only a training spans nodes"):
        load_study(write_tiny_study(tmp_path, executor={"kind": "slurm", "resources": {"respond": {"nodes": 2}}}))
    with pytest.raises(ConfigError, match="launch.accelerate_config is not set"):
        load_study(write_tiny_study(tmp_path, executor={"kind": "slurm", "resources": {"train": {"nodes": 2}}}))
    path = write_tiny_study(tmp_path, launch={"accelerate_config": str(cpu_accelerate_config(tmp_path, 2))},
                            executor={"kind": "workers", "resources": {"train": {"nodes": 2}}})
    with pytest.raises(ConfigError, match="spans nodes only as a SLURM job"):
        Study(load_study(path), source=str(path)).run(network_checks=False)
    assert not (tmp_path / "run" / "manifests").exists()  # refused before any unit


def test_the_preflight_reads_the_accelerate_config_and_leaves_gpus_to_the_cluster_s_nodes(tmp_path):
    from instructscale.study.preflight import PreflightError

    missing = write_tiny_study(tmp_path, launch={"accelerate_config": str(tmp_path / "nope.yaml")})
    with pytest.raises(PreflightError, match="launch.accelerate_config: cannot read .*nope.yaml"):
        Study(load_study(missing), source=str(missing)).run(network_checks=False)
    assert not (tmp_path / "run" / "manifests").exists()  # before the eval set and the pool

    import torch

    if torch.cuda.is_available():
        pytest.skip("checks the refusal on a machine without a GPU")
    gpu = write_tiny_study(tmp_path, launch={"accelerate_config": str(cpu_accelerate_config(tmp_path, 8))})
    with pytest.raises(PreflightError, match="accelerate.yaml needs a CUDA GPU and this machine has none"):
        Study(load_study(gpu), source=str(gpu)).run(network_checks=False)
    # a SLURM driver's login node has no GPU: the jobs' nodes do; the driver goes on to submit
    from instructscale.study.preflight import before_run

    study = Study(load_study(gpu), source=str(gpu))
    before_run(study, {"train"}, network=False, executor="slurm")
