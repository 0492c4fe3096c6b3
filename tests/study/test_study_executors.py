"""Executors: the tiny study run in this process and by parallel worker processes gives
byte-identical scores, every out-of-process unit records where it ran and logs to
RUN_DIR/logs; a failing unit stops only what reads from it, names its log, and the next
run redoes only what is missing. Also the scheduler's rules and the executor block's checks."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest
from tiny import write_tiny_study
from typer.testing import CliRunner

from instructscale.cli.main import app
from instructscale.errors import ConfigError, InputError
from instructscale.study import Study, load_study
from instructscale.study.config import ExecutorConfig
from instructscale.study.executors import gpus_needed, make_executor

REPORT_FILES = ("scores.csv", "scores_long.csv")


@pytest.fixture(scope="module")
def sequential_run(tmp_path_factory):
    """The tiny study run in this process (the reference every executor must match)."""
    root = tmp_path_factory.mktemp("sequential")
    path = write_tiny_study(root)
    Study(load_study(path), source=str(path)).run()
    return root / "run"


def manifests(run_dir):
    return {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in (run_dir / "manifests").glob("*.json")}


def test_workers_give_the_sequential_scores_and_record_where_each_unit_ran(sequential_run, tmp_path):
    path = write_tiny_study(tmp_path, executor={"kind": "workers", "workers": 3})
    result = CliRunner().invoke(app, ["study", "run", str(path)])
    assert result.exit_code == 0, result.output
    for name in REPORT_FILES:
        assert (tmp_path / "run" / "report" / name).read_bytes() == (sequential_run / "report" / name).read_bytes()
    done = manifests(tmp_path / "run")
    assert {m["runner"]["executor"] for m in done.values()} == {"workers"}
    assert len({m["runner"]["pid"] for m in done.values()}) == len(done)  # each unit in its own process
    assert {m["fingerprint"] for m in done.values()} == {m["fingerprint"] for m in manifests(sequential_run).values()}
    assert (tmp_path / "run" / "logs" / "train__35.log").read_text(encoding="utf-8").strip()
    again = dict(Study(load_study(path), source=str(path)).run(executor="workers"))
    assert set(again.values()) == {"skipped"}  # no process started for finished units


def test_a_failed_unit_stops_only_its_dependents_and_the_rerun_redoes_only_them(tmp_path):
    # a folder that is no model: it exists, so the preflight lets it by, and training fails on it
    (tmp_path / "no-such-model").mkdir()
    arms = [{"name": "ok"}, {"name": "bad", "base_model": {"path": str(tmp_path / "no-such-model")}}]
    path = write_tiny_study(tmp_path, arms=arms, subsets={"sizes": [15]}, executor={"kind": "workers",
                                                                                   "workers": 2})
    result = CliRunner().invoke(app, ["study", "run", str(path)])
    assert result.exit_code != 0
    error = result.output[result.output.index("Error: study not finished"):]  # the last line names each failure
    assert "train:15@bad: exit code 2" in error and "respond:0@bad: exit code 2" in error
    assert "rerun `study run` to redo only these units" in error
    # the first failed input it meets: respond:0@bad failed, or respond:15@bad was not run
    assert re.search(r"judge:teacher: not run: its input respond:(0@bad failed|15@bad was not run)",
                     result.output), result.output
    states = {row.unit: row.state for row in Study(load_study(path), source=str(path)).status()}
    assert states["train:15@ok"] == "done" and states["respond:15@ok"] == "done"  # independent units finished
    assert states["train:15@bad"] != "done" and states["judge:teacher"] == "pending"
    log = tmp_path / "run" / "logs" / "train__15@bad.log"
    assert str(log) in result.output.replace("\n", "") and "no-such-model" in log.read_text(encoding="utf-8")

    fixed = write_tiny_study(tmp_path, arms=[arms[0], {"name": "bad"}], subsets={"sizes": [15]},
                             executor={"kind": "workers", "workers": 2})
    rerun = dict(Study(load_study(fixed), source=str(fixed)).run())
    assert rerun["train:15@ok"] == "skipped" and rerun["respond:15@ok"] == "skipped"
    assert rerun["train:15@bad"] == "ran" and rerun["report"] == "ran"


def test_the_inline_executor_is_todays_run_and_a_failure_raises_the_stage_error(tmp_path):
    (tmp_path / "broken.gguf").write_bytes(b"not a gguf file")  # exists (the preflight passes), unreadable
    path = write_tiny_study(tmp_path, base_model={"path": str(tmp_path / "broken.gguf")})
    study = Study(load_study(path), source=str(path))
    assert type(make_executor(study)).__name__ == "Inline"
    assert type(make_executor(study, "workers")).__name__ == "Workers"
    with pytest.raises(ConfigError, match=r"cannot read GGUF file .*broken.gguf"):  # the stage's own error
        study.run(only=["base"])
    failed = manifests(tmp_path / "run")["base"]
    assert failed["status"] == "failed" and "GGUF magic" in failed["error"] and failed["runner"]["executor"] == "local"


def test_gpu_needs_per_stage_and_bad_executor_blocks(tmp_path):
    cfg = ExecutorConfig.model_validate({"resources": {"default": {"cpus": 4}, "train": {"gpus": 8}}})
    assert [gpus_needed(cfg, s, 8) for s in ("train", "respond", "judge", "pool")] == [8, 1, 0, 0]
    assert gpus_needed(cfg, "train", 2) == 2 and gpus_needed(cfg, "respond", 0) == 0  # never more than exist
    assert cfg.resources_for("train").cpus == 4 and cfg.resources_for("judge").gpus is None
    path = write_tiny_study(tmp_path, executor={"resources": {"trian": {"gpus": 1}}})
    with pytest.raises(ConfigError, match=r"executor: resources: unknown stage 'trian'; did you mean 'train'"):
        load_study(path)
    path = write_tiny_study(tmp_path, executor={"kind": "cluster"})
    with pytest.raises(ConfigError, match="executor.kind"):
        load_study(path)
    study = Study(load_study(write_tiny_study(tmp_path)), source="study.yaml")
    with pytest.raises(ConfigError, match="unknown executor 'nope'"):
        study.run(executor="nope")


def test_worker_units_share_the_cpu_with_sleeping_openmp_threads_unless_told_otherwise(tmp_path, monkeypatch):
    """Spinning OpenMP threads of units side by side slow each other down; a policy the user
    set is kept. The thread count is not touched: it would change CPU results."""
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    study = Study(load_study(write_tiny_study(tmp_path, executor={"kind": "workers", "workers": 2})), source="s")
    workers = make_executor(study)
    env = workers.unit_env([])
    assert env["OMP_WAIT_POLICY"] == "PASSIVE" and env.get("OMP_NUM_THREADS") == os.environ.get("OMP_NUM_THREADS")
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    assert workers.unit_env([])["OMP_WAIT_POLICY"] == "ACTIVE"


# --- a real SLURM (tests/slurm_cluster.py) ------------------------------------------------

def slurm_study(folder, **executor):
    return write_tiny_study(folder, executor={"kind": "slurm", "poll_s": 0.5, "max_attempts": 1, **executor})


def start_driver(path, *args):
    """`study run` in its own process, as a user's terminal runs it."""
    return subprocess.Popen([sys.executable, "-m", "instructscale", "study", "run", str(path), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=os.environ)


def wait_for_job(run_dir, unit, state="RUNNING", timeout_s=180):
    """The job id of `unit` once the controller says it is in `state`."""
    from instructscale.study.slurm import job_states

    record = run_dir / "jobs" / "slurm.json"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if record.exists():
            job = json.loads(record.read_text(encoding="utf-8")).get(unit)
            if job and job_states([job["job_id"]]).get(job["job_id"], {}).get("JobState") == state:
                return job["job_id"]
        time.sleep(0.3)
    raise AssertionError(f"{unit} never became {state}")


def test_slurm_runs_every_unit_as_a_job_with_the_sequential_scores(slurm_cluster, sequential_run, tmp_path):
    result = CliRunner().invoke(app, ["study", "run", str(slurm_study(tmp_path))])
    assert result.exit_code == 0, result.output
    for name in REPORT_FILES:
        assert (tmp_path / "run" / "report" / name).read_bytes() == (sequential_run / "report" / name).read_bytes()
    done = manifests(tmp_path / "run")
    record = json.loads((tmp_path / "run" / "jobs" / "slurm.json").read_text(encoding="utf-8"))
    assert {m["runner"]["executor"] for m in done.values()} == {"slurm"}
    assert {m["unit"]: m["runner"]["job_id"] for m in done.values()} == {u: j["job_id"] for u, j in record.items()}
    assert len(record) == len(done) == len(set(j["job_id"] for j in record.values()))  # one job per unit
    assert "--dependency=afterok:" in (tmp_path / "run" / "jobs" / "report.sbatch").read_text(encoding="utf-8")
    assert slurm_cluster.jobs() == []


def test_a_cancelled_job_is_reported_and_the_next_run_redoes_only_that_unit(slurm_cluster, tmp_path):
    path = slurm_study(tmp_path, resources={"train": {"setup": ["sleep 20"]}})
    driver = start_driver(path)
    job = wait_for_job(tmp_path / "run", "train:15")
    subprocess.run(["scancel", job], check=True)
    out, _ = driver.communicate(timeout=600)
    assert driver.returncode != 0
    assert f"train:15 failed: SLURM job {job} CANCELLED" in out and "train__15.log" in out
    assert "respond:15: not run: its input train:15 failed" in out
    rows = {row.unit: row for row in Study(load_study(path), source=str(path)).status()}
    assert rows["respond:35"].state == "done" and rows["train:15"].state != "done"  # the independent scale finished
    assert rows["train:15"].job == f"{job} CANCELLED" and rows["respond:35"].job is None  # `study status` shows it
    assert slurm_cluster.jobs() == []

    again = dict(Study(load_study(path, ["executor.resources={}"]), source=str(path)).run())
    assert {u for u, o in again.items() if o == "ran"} == {"train:15", "respond:15", "judge:teacher",
                                                           "judge:reference", "report"}


def test_ctrl_c_cancels_every_job_and_a_lost_driver_s_job_is_adopted_not_resubmitted(slurm_cluster, tmp_path):
    path = slurm_study(tmp_path, resources={"default": {"setup": ["sleep 15"]}})
    driver = start_driver(path)
    wait_for_job(tmp_path / "run", "eval")
    driver.send_signal(signal.SIGINT)
    out, _ = driver.communicate(timeout=120)
    record = json.loads((tmp_path / "run" / "jobs" / "slurm.json").read_text(encoding="utf-8"))
    assert driver.returncode != 0 and "scancel" in out and {"eval", "pool"} <= set(record)
    assert slurm_cluster.jobs() == []  # no job left behind, not even one submitted as Ctrl-C came

    driver = start_driver(path, "--only", "eval")
    job = wait_for_job(tmp_path / "run", "eval")
    driver.kill()  # the driver is lost (a closed terminal): its job keeps running
    driver.wait()
    assert job in slurm_cluster.jobs()
    result = CliRunner().invoke(app, ["study", "run", str(path), "--only", "eval"])
    assert result.exit_code == 0, result.output
    assert f"eval: SLURM job {job} already running, not resubmitted" in result.output
    assert manifests(tmp_path / "run")["eval"]["runner"]["job_id"] == job


def test_the_simulated_node_runs_the_real_scheduler_within_its_gpus(tmp_path):
    from instructscale.study.simulate import simulate

    path = write_tiny_study(tmp_path, subsets={"sizes": [10, 20, 30, 40]})
    hours = {"eval": 1.0, "pool": 2.0, "subsets": 1.0, "base": 1.0, "train": 100.0, "respond": 1.0, "judge": 1.0,
             "report": 1.0}  # train: per 1,000 examples, so 1 to 4 h
    one = simulate(Study(load_study(path), source="s"), gpus=1, durations=hours, unit_gpus={"train": 1})
    eight = simulate(Study(load_study(path), source="s"), gpus=8, durations=hours, unit_gpus={"train": 1})
    # eval, pool, subsets, base 5 h; train 1+2+3+4 h; 5 responds of 1 h; 2 judges of 5 models at 1 h; report 1 h
    assert one.units == eight.units == 16 and one.sequential_h == eight.sequential_h == 5 + 10 + 5 + 10 + 1
    assert one.makespan_h >= 10 + 5  # one GPU: every training and response after the other
    assert eight.makespan_h == 2 + 1 + 4 + 1 + 5 + 1  # pool, subsets, the longest training, its respond, judge, report
    assert not (tmp_path / "run" / "manifests").exists()  # nothing ran


def test_the_simulated_replica_takes_each_unit_s_time_from_the_study_plan(tmp_path):
    """Without `durations` every unit lasts as long as `study plan` says: a training its
    GPU-hours over the GPUs it holds, every other unit its planned wall-clock."""
    from pathlib import Path

    from instructscale.study.plan import Assumptions, plan_study
    from instructscale.study.simulate import simulate

    replica = Path(__file__).parents[2] / "configs" / "replica.yaml"
    cfg = load_study(replica, [f"run_dir={tmp_path / 'run'}", "eval={demo_world_per_category: 1}"])
    plan = plan_study(Study(cfg, source="replica"), Assumptions(gpus=8))
    rows = {r.unit: r for r in plan.rows}
    trains = [r for r in plan.rows if r.stage == "train"]
    assert len(trains) == 4 and all(r.gpu_hours > 0 for r in trains) and rows["pool"].wall_hours > 0
    for gpus in (8, 1):
        sim = simulate(Study(cfg, source="replica"), gpus=8, unit_gpus={"train": gpus})
        expected = sum(r.gpu_hours / gpus if r.stage == "train" else r.wall_hours for r in plan.rows)
        assert sim.sequential_h == pytest.approx(expected, rel=1e-9)
        # nothing starts before the pool and its subsets; the longest training and its respond come after
        longest = max(trains, key=lambda r: r.gpu_hours)
        floor = rows["pool"].wall_hours + longest.gpu_hours / gpus + rows["respond:" + longest.unit[6:]].wall_hours
        assert floor <= sim.makespan_h + 1e-9 and sim.makespan_h < sim.sequential_h
