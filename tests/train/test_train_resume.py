"""Kill a training process with SIGKILL mid-run, resume it, and check it ends exactly where an
uninterrupted run ends."""

import json
import os
import signal
import subprocess
import sys
import time

from instructscale.train import is_finished, resolve_config, run_train


def _args(pool, base, out):
    return ["--data", str(pool), "--base-model", str(base), "--out", str(out), "--preset", "demo",
            "--effective-batch-size", "4", "--per-device-batch-size", "4", "--epochs", "2",
            "--max-length", "96", "--save-steps", "3"]


def test_resume_after_kill_finishes_with_the_same_number_of_steps(tiny_pool_path, tiny_base_model, tmp_path):
    base, out = tiny_base_model("gpt2"), tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "instructscale", "train", *_args(tiny_pool_path, base, out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not (out / "checkpoint-6" / "trainer_state.json").exists():
        assert proc.poll() is None, "training process ended before it could be killed"
        assert time.time() < deadline
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not is_finished(out)

    cfg = resolve_config("demo", data=tiny_pool_path, base_model=str(base), out=out, effective_batch_size=4,
                         per_device_batch_size=4, epochs=2, max_length=96, save_steps=3)
    resumed = run_train(cfg.model_copy(update={"resume": True}))
    straight = run_train(cfg.model_copy(update={"out": tmp_path / "straight"}))
    assert resumed.steps == straight.steps == 24  # 48 examples / batch 4 x 2 epochs
    steps = [json.loads(line)["step"] for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert steps == list(range(1, 25))  # no step lost or logged twice across the crash
