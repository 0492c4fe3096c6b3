"""Each API stage (judge, respond --backend openai, generate) run through the CLI against
each server fault, then against a healthy server: failed records are visible and marked,
the exit code is non-zero when too many calls failed, no secret reaches any file or the
console, and the healthy rerun makes exactly the missing requests (none for finished work)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from instructscale.cli.main import app
from instructscale.datafiles import read_jsonl_resumable
from instructscale.demo import make_teacher
from instructscale.llm.fake_server import Fault

from conftest import KEY_ENV, SECRET, files_holding, mentions_failing_item  # noqa: I001  (tests/faults/conftest.py)

FAULTS = [Fault.echo_auth(), Fault.cut_body(), Fault.empty_body(), Fault.server_error(), Fault.drop()]
JUDGE_REPLY = "回答正确。得分: 0.8"


def cli(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def rows(path):
    return read_jsonl_resumable(path)[0]


def assert_no_secret(result, root):
    assert SECRET not in result.output
    assert files_holding(root, SECRET) == []


def judge_args(srv, fault_inputs, out, *extra):
    eval_path, resp_path = fault_inputs
    return ["judge", "--eval", eval_path, "--responses", resp_path, "--out", out, "--judge-model", "jm",
            "--base-url", srv.base_url, "--api-key-env", KEY_ENV, "--repeats", 1, "--reasks", 0,
            "--max-attempts", 2, "--concurrency", 4, *extra]


@pytest.mark.parametrize("fault", FAULTS, ids=lambda f: f.kind)
def test_judge_against_a_fault_then_a_healthy_server(fake_server, fault_inputs, secret_key, tmp_path, fault):
    srv = fake_server([JUDGE_REPLY])
    srv.always(fault, when=mentions_failing_item)
    out = tmp_path / "judge" / "judgements.jsonl"
    first = cli(*judge_args(srv, fault_inputs, out))
    assert first.exit_code != 0 and "4 of 8 API calls failed" in " ".join(first.output.split())
    assert "4 API failures (redone by the next run), 0 replies without a valid score" in " ".join(first.output.split())
    written = rows(out)
    failed = {(r["model"], r["item_id"]) for r in written if (r["error"] or "").startswith("api: gave up after 2")}
    assert failed == {(m, q) for m in ("small", "large") for q in ("q1", "q3")}
    assert all(r["score"] == 0.8 for r in written if (r["model"], r["item_id"]) not in failed)
    assert_no_secret(first, tmp_path)
    finished = [b for b in srv.requests if not mentions_failing_item(b)]
    assert len(finished) == 4

    srv.reset()  # healthy again, request log cleared
    second = cli(*judge_args(srv, fault_inputs, out))
    assert second.exit_code == 0, second.output
    assert srv.request_count == 4 and all(mentions_failing_item(b) for b in srv.requests)
    assert not any(b in finished for b in srv.requests)
    final = rows(out)
    assert len(final) == 8 and len({(r["model"], r["item_id"]) for r in final}) == 8
    assert all(r["score"] == 0.8 and r["error"] is None for r in final)
    assert_no_secret(second, tmp_path)


def respond_args(srv, eval_path, out, *extra):
    return ["respond", "--backend", "openai", "--model", "small=served-small", "--eval", eval_path, "--out", out,
            "--base-url", srv.base_url, "--api-key-env", KEY_ENV, "--max-attempts", 2, "--concurrency", 4, *extra]


@pytest.mark.parametrize("fault", FAULTS, ids=lambda f: f.kind)
def test_respond_against_a_fault_then_a_healthy_server(fake_server, fault_inputs, secret_key, tmp_path, fault):
    srv = fake_server(["一个回答"])
    srv.always(fault, when=mentions_failing_item)
    out = tmp_path / "responses" / "out.jsonl"
    first = cli(*respond_args(srv, fault_inputs[0], out))
    assert first.exit_code != 0 and "2 of 4 API calls failed" in " ".join(first.output.split())
    written = rows(out)
    assert sorted(r["item_id"] for r in written if r["error"]) == ["q1", "q3"]
    assert all(r["response"] == "一个回答" for r in written if not r["error"])
    assert_no_secret(first, tmp_path)
    finished = [b for b in srv.requests if not mentions_failing_item(b)]

    srv.reset()
    second = cli(*respond_args(srv, fault_inputs[0], out))
    assert second.exit_code == 0, second.output
    assert srv.request_count == 2 and all(mentions_failing_item(b) for b in srv.requests)
    assert not any(b in finished for b in srv.requests)
    final = rows(out)
    assert sorted(r["item_id"] for r in final) == ["q0", "q1", "q2", "q3"] and not any(r["error"] for r in final)
    assert_no_secret(second, tmp_path)


def generate_args(srv, out):
    return ["generate", "--out", out, "--target", 10, "--model", "teacher", "--base-url", srv.base_url,
            "--api-key-env", KEY_ENV, "--num-new-tasks", 10, "--max-requests", 3, "--concurrency", 3,
            "--max-attempts", 2, "--dedup-fields", "instruction+input", "--rouge-threshold", 0.9]


@pytest.mark.parametrize("fault", FAULTS, ids=lambda f: f.kind)
def test_generate_against_a_fault_then_a_healthy_server(fake_server, secret_key, tmp_path, fault):
    srv = fake_server(make_teacher(0))
    srv.always(fault)
    out = tmp_path / "data" / "pool.jsonl"
    first = cli(*generate_args(srv, out))
    assert first.exit_code != 0 and "3 of 3 API calls failed" in " ".join(first.output.split())
    assert rows(out) == [] and srv.request_count == 3 * 2  # every request tried twice
    assert_no_secret(first, tmp_path)

    srv.reset()
    second = cli(*generate_args(srv, out))
    assert second.exit_code == 0, second.output
    kept = rows(out)
    assert len(kept) == 10 and len({(r["instruction"], r["input"]) for r in kept}) == 10
    assert_no_secret(second, tmp_path)


def test_a_full_disk_under_the_reply_cache_is_one_line_and_the_judgements_written_are_kept(
        fake_server, fault_inputs, secret_key, tmp_path, small_disk):
    srv = fake_server(["评语" * 6000 + "。得分: 0.8"])  # 36 KB replies: the cache fills 192 KiB within the first 8
    out, cache = tmp_path / "judgements.jsonl", small_disk(192) / "cache.sqlite"
    first = cli(*judge_args(srv, fault_inputs, out, "--concurrency", 1, "--repeats", 3, "--cache", cache))
    text = " ".join(first.output.split())
    assert first.exit_code == 2 and "Traceback" not in first.output and "OperationalError" not in first.output
    assert f"{cache}: cannot write the reply cache: database or disk is full" in text, first.output
    kept = rows(out)
    assert 0 < len(kept) < 24 and all(r["score"] == 0.8 for r in kept)
    assert len(kept) >= srv.request_count - 1  # at most the reply the cache could not take is lost

    srv.reset()
    second = cli(*judge_args(srv, fault_inputs, out, "--concurrency", 1, "--repeats", 3, "--no-cache"))
    assert second.exit_code == 0, second.output
    assert srv.request_count == 24 - len(kept) and len(rows(out)) == 24
