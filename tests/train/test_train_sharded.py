"""The shipped accelerate configs for sharded training, launched as they are (2 CPU processes,
gloo): DeepSpeed ZeRO-3 with offload builds the model under zero.Init and saves a model that
loads and answers; FSDP, which accelerate runs on GPUs only, says in the metadata that it
did not shard and still trains one consistent model."""

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ACCELERATE_CONFIGS = Path(__file__).parents[2] / "configs" / "accelerate"


def _launch(config: str, data, base, out, *flags: str) -> dict:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(ACCELERATE_CONFIGS / config),
           "--num_processes", "2", "--main_process_port", str(port),
           "-m", "instructscale", "train", "--data", str(data), "--base-model", str(base), "--out", str(out),
           "--preset", "demo", "--effective-batch-size", "8", "--per-device-batch-size", "2",
           "--max-steps", "2", "--max-length", "64", *flags]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-3000:]
    meta = json.loads((Path(out) / "instructscale.json").read_text())
    assert meta["complete"] is True and meta["metrics"]["steps"] == 2 and meta["metrics"]["num_processes"] == 2
    load, peak = meta["metrics"]["load_peak_rss_mb"], meta["metrics"]["peak_rss_mb"]
    assert len(load) == len(peak) == 2 and all(0 < a <= b for a, b in zip(load, peak))
    return meta["metrics"]


def _changed_weights(base, out) -> float:
    """Largest weight change from base to the saved model (0 if it did not train)."""
    import torch
    from transformers import AutoModelForCausalLM

    before = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32).state_dict()
    after = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32).state_dict()
    assert before.keys() == after.keys() and all(torch.isfinite(v).all() for v in after.values())
    return max((after[k] - before[k]).abs().max().item() for k in before)


@pytest.mark.slow
def test_zero3_offload_on_two_cpu_processes_loads_sharded_and_answers(tiny_pool_path, tiny_base_model, tmp_path):
    pytest.importorskip("deepspeed", reason="pip install 'instructscale[deepspeed]'")
    from instructscale.datafiles import write_jsonl
    from instructscale.records import EvalItem
    from instructscale.respond import ModelSpec, RespondConfig, run_respond

    base, out = tiny_base_model("bloom"), tmp_path / "zero3"
    # precision: auto (the preset's); --packing makes the packing check run on the partitioned model
    metrics = _launch("deepspeed_zero3_offload.yaml", tiny_pool_path, base, out, "--packing")
    assert metrics["sharding"] == "deepspeed zero-3"
    assert metrics["zero3_init"] is True  # from_pretrained built the model partitioned, not whole on each rank
    assert metrics["load_dtype"] == "bfloat16"  # the YAML's mixed_precision; DeepSpeed keeps fp32 masters itself
    assert metrics["packing"] is False and metrics["group_by_length"] is True  # Bloom mixes packed examples
    assert _changed_weights(base, out) > 0

    write_jsonl(tmp_path / "eval.jsonl", [EvalItem(id=f"q{i}", category="open_qa", question=f"问题 {i}")
                                          for i in range(3)])
    run_respond(RespondConfig(models=[ModelSpec(name="zero3", path=str(out))], eval=tmp_path / "eval.jsonl",
                              out=tmp_path / "answers.jsonl", preset="greedy", max_new_tokens=8, backend="hf"))
    rows = [json.loads(line) for line in (tmp_path / "answers.jsonl").read_text().splitlines()]
    assert sorted(r["item_id"] for r in rows) == ["q0", "q1", "q2"]
    assert all(r["completion_tokens"] >= 1 for r in rows)


def test_fsdp_on_cpu_trains_unsharded_and_says_so(tiny_pool_path, tiny_base_model, tmp_path):
    base, out = tiny_base_model("bloom"), tmp_path / "fsdp"
    metrics = _launch("fsdp.yaml", tiny_pool_path, base, out)
    assert metrics["sharding"].startswith("none (FSDP unavailable on CPU")
    assert metrics["zero3_init"] is False and metrics["load_dtype"] == "float32"
    assert _changed_weights(base, out) > 0
