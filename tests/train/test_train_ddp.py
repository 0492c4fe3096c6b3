"""Two CPU processes (torch.distributed with gloo) train one model together."""

import json
import socket
import subprocess
import sys

import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_process_ddp_on_cpu_trains(tiny_pool_path, tiny_base_model, tmp_path):
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(_free_port()),
           "-m", "instructscale", "train", "--data", str(tiny_pool_path), "--base-model", str(tiny_base_model("gpt2")),
           "--out", str(out), "--preset", "demo", "--effective-batch-size", "8", "--per-device-batch-size", "2",
           "--max-steps", "3", "--max-length", "96"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    meta = json.loads((out / "instructscale.json").read_text())
    assert meta["metrics"]["num_processes"] == 2 and meta["metrics"]["gradient_accumulation"] == 2
    assert meta["metrics"]["steps"] == 3 and meta["complete"] is True
    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2, 3]  # written once, by rank 0 only


def test_uneven_effective_batch_is_rejected_before_training(tiny_pool_path, tiny_base_model, tmp_path, monkeypatch):
    from instructscale.errors import ConfigError
    from instructscale.train import resolve_config, run_train

    monkeypatch.setenv("WORLD_SIZE", "2")  # what torchrun / accelerate launch set for 2 processes
    cfg = resolve_config("demo", data=tiny_pool_path, base_model=str(tiny_base_model("gpt2")), out=tmp_path / "x",
                         effective_batch_size=6, per_device_batch_size=2)
    with pytest.raises(ConfigError, match="not divisible"):
        run_train(cfg)
