"""Question: how much wall time do parallel worker processes (executor `workers`) save over
running a study's units one after another in one process, with byte-identical scores; and
what makespan does the scheduler reach for the replica on simulated GPUs?

Part 1 runs a real study twice from scratch (`local`, then `workers` with N workers) and
prints both wall times, their ratio and whether scores.csv is identical. Honest on a small
CPU machine: every worker process pays its own start (Python, torch), and two CPU-bound
trainings on two cores share them, so workers can come out slower there; the gain comes
from API-bound units (judging, generation) overlapping training and from GPUs. Part 2 runs
the real scheduler over the replica's graph on a simulated node (study/simulate.py), each
unit taking the time `study plan` estimates for it (training: its GPU-hours over the GPUs it
holds; API-bound units: from the client's rate limits and concurrency).

    python benchmarks/study_executor.py [--study configs/demo.yaml] [--workers 2] [--set KEY=VALUE ...]
    python benchmarks/study_executor.py --tiny      # the tiny test study (a minute or two)
    python benchmarks/study_executor.py --skip-run  # part 2 only (seconds)
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import yaml

from instructscale.study import Study, load_study
from instructscale.study.simulate import simulate

ROOT = Path(__file__).resolve().parents[1]


def run_once(source: Path, run_dir: Path, overrides: list[str], executor: dict) -> tuple[float, bytes]:
    cfg = load_study(source, [*overrides, f"run_dir={run_dir}", f"executor={yaml.safe_dump(executor).strip()}"])
    t = time.perf_counter()
    Study(cfg, source=str(source)).run()
    return time.perf_counter() - t, (run_dir / "report" / "scores.csv").read_bytes()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--study", type=Path, default=ROOT / "configs" / "demo.yaml")
    ap.add_argument("--tiny", action="store_true", help="the tiny study of tests/study/tiny.py")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--set", dest="overrides", action="append", default=[])
    ap.add_argument("--gpus", type=int, default=8, help="part 2: GPUs of a simulated node")
    ap.add_argument("--skip-run", action="store_true", help="part 2 only (no real study run)")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="study-executor-bench-"))
    source = args.study
    if args.tiny:
        sys.path.insert(0, str(ROOT / "tests" / "study"))
        from tiny import write_tiny_study

        source = write_tiny_study(work)

    if not args.skip_run:
        t_seq, seq = run_once(source, work / "local", args.overrides, {"kind": "local"})
        t_par, par = run_once(source, work / "workers", args.overrides, {"kind": "workers", "workers": args.workers})
        print(f"study {source}")
        print(f"{'executor':<32}{'wall s':>10}")
        print(f"{'local, workers: 1 (in process)':<32}{t_seq:>10.1f}")
        print(f"{f'workers: {args.workers} (a process a unit)':<32}{t_par:>10.1f}")
        print(f"ratio workers 1 / workers {args.workers}: {t_seq / t_par:.2f}x; scores.csv identical: {seq == par}",
              flush=True)

    # the eval set's file is the lab's: missing here, the plan takes Table 1's shape (1,000 items)
    replica = load_study(ROOT / "configs" / "replica.yaml", [f"run_dir={work / 'replica'}", "train.seeds=[0, 1, 2]"])
    print("\nreplica (3 seeds) on simulated GPUs, each unit as long as `study plan` estimates (default assumptions; "
          "a training: its GPU-hours over the GPUs it holds):")
    print(f"{'GPUs':<6}{'per training':>13}{'units':>7}{'sequential h':>14}{'makespan h':>12}{'ratio':>8}")
    # one node, each training on all of it or one GPU each (e.g. LoRA); four nodes, a node per training
    for gpus, train_gpus in ((args.gpus, args.gpus), (args.gpus, 1), (4 * args.gpus, args.gpus)):
        sim = simulate(Study(replica, source="configs/replica.yaml"), gpus=gpus, unit_gpus={"train": train_gpus})
        print(f"{gpus:<6}{train_gpus:>13}{sim.units:>7}{sim.sequential_h:>14.1f}{sim.makespan_h:>12.1f}"
              f"{sim.sequential_h / sim.makespan_h:>8.2f}x")


if __name__ == "__main__":
    main()
