"""A judge run killed with SIGKILL resumes to exactly one judgement per (answer, repeat)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from instructscale.datafiles import read_jsonl_resumable, write_jsonl
from instructscale.records import EvalItem, Response

N_ITEMS, REPEATS = 40, 3


def _start_server(latency: float) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "instructscale.llm.fake_server", "--port", "0",
                             "--latency", str(latency), "--reply", "评价完毕。得分: 0.8"],
                            stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    assert line.startswith("serving on "), line
    return proc, line.split()[-1]


def _judge_cmd(tmp_path, base_url):
    return [sys.executable, "-m", "instructscale", "judge", "--eval", str(tmp_path / "eval.jsonl"),
            "--responses", str(tmp_path / "resp.jsonl"), "--out", str(tmp_path / "out.jsonl"),
            "--base-url", base_url, "--judge-model", "fake-judge", "--repeats", str(REPEATS),
            "--concurrency", "4", "--timeout", "5"]


def _lines(path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


def test_kill_9_then_rerun_finishes_without_duplicates(tmp_path):
    write_jsonl(tmp_path / "eval.jsonl", [EvalItem(id=f"q{i}", category="math", question=f"{i}+1=?",
                                                   reference=str(i + 1)) for i in range(N_ITEMS)])
    write_jsonl(tmp_path / "resp.jsonl", [Response(item_id=f"q{i}", model="m", response=str(i + 1))
                                          for i in range(N_ITEMS)])
    out = tmp_path / "out.jsonl"
    server, base_url = _start_server(latency=0.05)
    try:
        judge = subprocess.Popen(_judge_cmd(tmp_path, base_url), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while _lines(out) < 15 and judge.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        os.kill(judge.pid, signal.SIGKILL)
        judge.wait()
        killed_at = _lines(out)
        assert judge.returncode == -signal.SIGKILL and 15 <= killed_at < N_ITEMS * REPEATS
        with out.open("ab") as f:  # as if the kill had torn the last write in half
            f.write(b'{"item_id": "q1", "model": "m", "judge": "fake-ju')

        rerun = subprocess.run(_judge_cmd(tmp_path, base_url), capture_output=True, text=True, timeout=120)
        assert rerun.returncode == 0, rerun.stderr
    finally:
        server.kill()
        server.wait()
    rows, torn = read_jsonl_resumable(out)
    keys = [(r["item_id"], r["repeat"]) for r in rows]
    assert torn == 0 and len(keys) == len(set(keys)) == N_ITEMS * REPEATS
    assert set(keys) == {(f"q{i}", k) for i in range(N_ITEMS) for k in range(REPEATS)}
    assert all(r["score"] == 0.8 for r in rows)
    assert f"{N_ITEMS * REPEATS} judgements" in " ".join(rerun.stdout.split())
