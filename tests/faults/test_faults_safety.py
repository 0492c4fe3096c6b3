"""Locks on outputs (a second writer fails at once, naming the holder's PID), redaction of
secrets from errors, the exit-code rule for API failures, and judgements of failed
responses being redone once the response is."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from typer.testing import CliRunner

from instructscale.cli.main import app
from instructscale.datafiles import read_jsonl_resumable, write_jsonl
from instructscale.llm.fake_server import Fault
from instructscale.locks import exclusive, lock_path
from instructscale.records import Judgement, Response
from instructscale.redact import redact, register_key_env

from conftest import ITEMS, KEY_ENV, SECRET, mentions_failing_item  # noqa: I001  (tests/faults/conftest.py)


def cli(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def stage_args(stage, srv, fault_inputs, out):
    eval_path, resp_path = fault_inputs
    common = ["--out", out, "--base-url", srv.base_url, "--max-attempts", 2]
    return {"judge": ["judge", "--eval", eval_path, "--responses", resp_path, "--judge-model", "jm", "--repeats", 1],
            "respond": ["respond", "--backend", "openai", "--model", "small=s", "--eval", eval_path],
            "generate": ["generate", "--target", 5, "--model", "t", "--max-requests", 2]}[stage] + common


@pytest.mark.parametrize("stage", ["judge", "respond", "generate"])
def test_a_second_writer_of_an_output_fails_at_once_naming_the_holder(fake_server, fault_inputs, tmp_path, stage):
    srv = fake_server(["得分: 1"])
    out = tmp_path / "out.jsonl"
    out.write_text("", encoding="utf-8")
    with exclusive(out):
        result = cli(*stage_args(stage, srv, fault_inputs, out))
    assert result.exit_code != 0 and f"(PID {os.getpid()})" in result.output and "in use" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert srv.request_count == 0 and out.read_text() == ""
    ok = cli(*stage_args(stage, srv, fault_inputs, out))  # released: the same command now runs
    assert ok.exit_code == 0, ok.output
    assert not lock_path(out).exists()  # no stale side file is left behind


def test_the_lock_names_another_process_and_dies_with_it(tmp_path):
    out = tmp_path / "judgements.jsonl"
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from instructscale.locks import exclusive\n"
                               f"with exclusive({str(out)!r}):\n print('held', flush=True); time.sleep(60)"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(Exception, match=f"PID {holder.pid}"):
            with exclusive(out):
                pass
    finally:
        holder.kill()  # like kill -9: the kernel releases the lock
        holder.wait()
    with exclusive(out):
        assert lock_path(out).read_text().strip() == str(os.getpid())


def test_redact_removes_key_values_and_token_shaped_strings(monkeypatch):
    monkeypatch.setenv("MY_GATEWAY_KEY", "gw-0123456789abcdef")
    register_key_env("MY_GATEWAY_KEY")
    text = ("401 from proxy: headers {'Authorization': 'Bearer abc.def-123'}, x-api-key: hunter22, "
            "key gw-0123456789abcdef, sk-proj-AbCdEf123456 in body; 得分: 0.5")
    clean = redact(text)
    for secret in ("abc.def-123", "hunter22", "gw-0123456789abcdef", "sk-proj-AbCdEf123456"):
        assert secret not in clean
    assert clean.endswith("in body; 得分: 0.5") and clean.count("[redacted]") == 4
    assert Judgement(item_id="a", model="m", judge="j", error=f"api: {text}").error == f"api: {clean}"


def test_a_raised_error_never_shows_the_key(monkeypatch, tmp_path):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    missing = tmp_path / SECRET / "eval.jsonl"  # a path that happens to hold the key's text
    result = cli("judge", "--eval", missing, "--responses", missing, "--out", tmp_path / "j.jsonl")
    assert result.exit_code != 0 and "[redacted]" in result.output and SECRET not in result.output


def test_failures_up_to_the_allowed_share_exit_zero_and_are_still_redone(fake_server, fault_inputs, secret_key,
                                                                         tmp_path):
    srv = fake_server(["得分: 0.5"])
    srv.always(Fault.server_error(), when=mentions_failing_item)
    eval_path, resp_path = fault_inputs
    args = ["judge", "--eval", eval_path, "--responses", resp_path, "--out", tmp_path / "j.jsonl",
            "--judge-model", "jm", "--base-url", srv.base_url, "--api-key-env", KEY_ENV, "--repeats", 1,
            "--max-attempts", 1, "--max-failed-share", 0.5]
    first = cli(*args)
    assert first.exit_code == 0, first.output  # 4 of 8 failed: not more than half
    assert "4 API failures (redone by the next run)" in " ".join(first.output.split())
    srv.reset()
    assert cli(*args).exit_code == 0 and srv.request_count == 4


def test_a_judgement_of_a_failed_response_is_redone_once_the_response_is(fake_server, fault_inputs, tmp_path):
    srv = fake_server(["得分: 1"])
    eval_path, resp_path = fault_inputs
    answers = [Response(item_id=i.id, model="small", response="答") for i in ITEMS]
    answers[0] = answers[0].model_copy(update={"response": "", "error": "timeout: no reply within 60s"})
    write_jsonl(resp_path, answers)
    out = tmp_path / "j.jsonl"
    args = ["judge", "--eval", eval_path, "--responses", resp_path, "--out", out, "--judge-model", "jm",
            "--base-url", srv.base_url, "--repeats", 1]
    assert cli(*args).exit_code == 0 and srv.request_count == 3
    # respond's rerun appends the redone answer after the failed one
    write_jsonl(resp_path, [*answers, answers[0].model_copy(update={"response": "答", "error": None})])
    assert cli(*args).exit_code == 0 and srv.request_count == 4
    rows, _ = read_jsonl_resumable(out)
    assert len(rows) == 4 and all(r["score"] == 1.0 and r["error"] is None for r in rows)


@pytest.mark.parametrize("offset", range(150, 200, 7))
def test_a_key_in_a_long_error_text_is_redacted_before_the_text_is_shortened(fake_server, secret_key, offset):
    """Error texts are cut to 200 characters; a key straddling the cut must not leave a prefix."""
    import asyncio

    from instructscale.llm import ChatClient, ClientConfig

    def gateway(body):
        raise RuntimeError("x" * offset + SECRET + " trailing context " * 10)  # the server answers 500

    srv = fake_server(gateway)
    cfg = ClientConfig(base_url=srv.base_url, model="m", api_key_env=KEY_ENV, max_attempts=1)

    async def ask():
        async with ChatClient(cfg) as client:
            return await client.chat([{"role": "user", "content": "hi"}])

    error = asyncio.run(ask()).error
    assert "http 500" in error and SECRET[:8] not in error


def test_two_judge_processes_on_one_output_the_second_fails_and_no_key_is_judged_twice(fake_server, fault_inputs,
                                                                                       tmp_path):
    srv = fake_server(["得分: 1"], latency_s=0.25)  # the first run holds the file for 2 s
    eval_path, resp_path = fault_inputs
    out = tmp_path / "j.jsonl"
    args = ["judge", "--eval", eval_path, "--responses", resp_path, "--out", out, "--judge-model", "jm",
            "--base-url", srv.base_url, "--repeats", 1, "--concurrency", 1]
    first = subprocess.Popen([sys.executable, "-m", "instructscale", *map(str, args)], stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while srv.request_count == 0 and time.monotonic() < deadline:  # the first one is judging
            time.sleep(0.05)
        second = cli(*args)
        assert second.exit_code != 0 and f"(PID {first.pid})" in second.output
    finally:
        assert first.wait(timeout=60) == 0, first.stderr.read()
    rows, _ = read_jsonl_resumable(out)
    assert srv.request_count == 8 and len(rows) == 8 and len({(r["model"], r["item_id"]) for r in rows}) == 8
