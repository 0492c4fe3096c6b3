"""The judge in batch mode against the fake Batch API: the same judgements as online,
no chat requests, reruns that collect instead of submitting again."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from instructscale.datafiles import read_jsonl_resumable
from instructscale.judge import run_judge
from instructscale.llm.batch import journal_dir

N_ANSWERS = 8


def _judge_reply(body):
    """A fake judge that scores by the answer and fails the format for one model's first ask."""
    user = body["messages"][1]["content"]  # the question and answer (a re-ask ends with the reminder)
    if "small 的回答" in user and len(body["messages"]) == 2:
        return "看起来还行"  # no score: the judge re-asks
    return f"得分: {0.5 if 'small' in user else 1}"


def _rows(path):
    return [{k: r[k] for k in ("model", "item_id", "repeat", "score", "raw", "error")}
            for r in read_jsonl_resumable(path)[0]]


def test_batch_judgements_equal_online_ones_without_chat_requests(fake_server, judge_config, tmp_path):
    online_srv = fake_server(_judge_reply)
    online = run_judge(judge_config(online_srv, out=tmp_path / "online.jsonl", use_cache=False))
    srv = fake_server(_judge_reply)
    s = run_judge(judge_config(srv, out=tmp_path / "batch.jsonl", use_cache=False,
                               client={"batch": True, "batch_poll_s": 0.01}))
    key = lambda r: (r["model"], r["item_id"], r["repeat"])  # noqa: E731
    assert sorted(_rows(s.out), key=key) == sorted(_rows(online.out), key=key)
    assert srv.request_count == 0 and srv.routes["POST /v1/chat/completions"] == 0
    # first asks in one batch, the re-asks of `small`'s format failures in a second, smaller one
    assert srv.routes["POST /v1/batches"] == 2
    assert len(srv.batch_lines) == online_srv.request_count == N_ANSWERS * 3 + 4 * 3
    assert s.usage["batches"] == 2 and s.usage["cost_usd"] is None  # judge-m is not in the price table


def _judge_cmd(tmp_path, base_url, *extra):
    return [sys.executable, "-m", "instructscale", "judge", "--eval", str(tmp_path / "eval.jsonl"),
            "--responses", str(tmp_path / "responses.jsonl"), "--out", str(tmp_path / "out.jsonl"),
            "--base-url", base_url, "--judge-model", "gpt-4o-mini", "--repeats", "2", "--batch",
            "--batch-poll", "0.05", *extra]


def test_kill_9_while_waiting_then_rerun_polls_the_same_batch(fake_server, judge_inputs, tmp_path):
    srv = fake_server(_judge_reply)
    srv.hold_batches()
    journal = journal_dir(tmp_path / "out.jsonl") / "journal.jsonl"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2] / "src")}
    proc = subprocess.Popen(_judge_cmd(tmp_path, srv.base_url), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, env=env)
    deadline = time.monotonic() + 120
    while '"created"' not in (journal.read_text() if journal.exists() else "") and time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read()
        time.sleep(0.05)
    while srv.routes["GET /v1/batches/{id}"] < 2 and time.monotonic() < deadline:  # it is waiting on the batch
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (tmp_path / "out.jsonl").exists() or not (tmp_path / "out.jsonl").read_text().strip()
    srv.hold_batches(False)
    rerun = subprocess.run(_judge_cmd(tmp_path, srv.base_url), capture_output=True, text=True, env=env, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    # the first asks' batch was polled and collected, never created again; the re-asks made a second one
    created = [json.loads(x).get("batch_id") for x in journal.read_text().splitlines() if '"created"' in x]
    assert created == ["batch_1", "batch_2"] and srv.routes["POST /v1/batches"] == 2
    assert len(srv.batches["batch_1"].lines) == N_ANSWERS * 2 and len(srv.batches["batch_2"].lines) == 4 * 2
    assert srv.routes["POST /v1/chat/completions"] == 0
    rows = _rows(tmp_path / "out.jsonl")
    assert len(rows) == N_ANSWERS * 2 and all(r["score"] == (0.5 if r["model"] == "small" else 1.0) for r in rows)
    assert "batch batch_1: completed" in " ".join(rerun.stderr.split() + rerun.stdout.split())


def test_a_run_that_stops_waiting_leaves_api_failures_a_rerun_collects(fake_server, judge_config, tmp_path):
    srv = fake_server(_judge_reply)
    srv.hold_batches()
    cfg = judge_config(srv, client={"batch": True, "batch_poll_s": 0.01, "batch_wait_s": 0.2}, repeats=1)
    first = run_judge(cfg)
    assert first.api_failures == N_ANSWERS and "the next run redoes them" in first.incomplete
    assert all(r["error"].startswith("api: batch pending: batch_1 still in_progress") for r in _rows(first.out))
    srv.hold_batches(False)
    second = run_judge(judge_config(srv, client={"batch": True, "batch_poll_s": 0.01}, repeats=1))  # waits
    assert second.api_failures == 0 and second.incomplete is None and len(second.rows) > 0
    assert len(_rows(second.out)) == N_ANSWERS and len(srv.batches) == 2  # batch_2: the re-asks only
    assert len(srv.batches["batch_2"].lines) == 4


def test_dry_run_prices_online_and_batch(fake_server, judge_inputs, tmp_path):
    from typer.testing import CliRunner

    from instructscale.cli.main import app

    srv = fake_server(["得分: 1"])
    res = CliRunner().invoke(app, _judge_cmd(tmp_path, srv.base_url, "--dry-run")[3:])
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())
    online, batch = (float(text.split(f" {mode}")[0].rsplit("$", 1)[1]) for mode in ("online", "batch"))
    assert batch == online / 2 > 0 and "(this run: batch)" in text and srv.request_count == 0
