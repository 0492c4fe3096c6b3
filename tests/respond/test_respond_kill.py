"""A respond run killed with SIGKILL resumes to exactly one response per (model, item, sample)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from instructscale.datafiles import read_jsonl_resumable, write_jsonl
from instructscale.respond import ModelSpec, RespondConfig, run_respond

N_ITEMS = 40


def _lines(path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


def test_kill_9_then_rerun_finishes_without_duplicates(tiny_base_model, eval_items, tmp_path):
    base = tiny_base_model("gpt2")
    eval_path, out = tmp_path / "eval.jsonl", tmp_path / "out.jsonl"
    write_jsonl(eval_path, eval_items(N_ITEMS))
    cmd = [sys.executable, "-m", "instructscale", "respond", "--model", f"m={base}", "--eval", str(eval_path),
           "--out", str(out), "--preset", "greedy", "--max-new-tokens", "24", "--batch-size", "1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 90
    while _lines(out) < 5 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_at = _lines(out)
    assert proc.returncode == -signal.SIGKILL and 5 <= killed_at < N_ITEMS, proc.stderr.read()
    with out.open("ab") as f:  # as if the kill had torn the last write in half
        f.write(b'{"item_id": "q1", "model": "m", "sample": 0, "respo')

    summary = run_respond(RespondConfig(models=[ModelSpec(name="m", path=str(base))], eval=eval_path, out=out,
                                        preset="greedy", max_new_tokens=24, batch_size=16))
    assert summary.torn == 1 and summary.resumed == killed_at and summary.new == N_ITEMS - killed_at
    rows, torn = read_jsonl_resumable(out)
    keys = [(r["model"], r["item_id"], r["sample"]) for r in rows]
    assert torn == 0 and len(keys) == len(set(keys)) == N_ITEMS
    assert set(keys) == {("m", f"q{i}", 0) for i in range(N_ITEMS)}
