"""The batch client against the fake Batch API: status transitions, unfinished lines sent
again alone, 429 on creation, the journal that keeps a rerun from submitting twice."""

from __future__ import annotations

import asyncio
import json

import pytest

from instructscale.llm import ChatClient, ClientConfig, ReplyCache, cached_chat, estimate_cost
from instructscale.llm.batch import PENDING, BatchChatClient, split_lines
from instructscale.llm.fake_server import BatchScript, Fault
from instructscale.llm.usage import price_both


def _cfg(srv, **kw):
    return ClientConfig(**{"base_url": srv.base_url, "model": "m", "batch": True, "batch_poll_s": 0.01,
                           "backoff_base_s": 0.01, "max_attempts": 3, **kw})


def _ask_all(cfg, directory, prompts, cache=None):
    async def go():
        async with BatchChatClient(cfg, directory) as client:
            results = await asyncio.gather(*(cached_chat(client, cache, [{"role": "user", "content": p}])
                                             for p in prompts))
            return results, client.usage

    return asyncio.run(go())


def _echo(body):
    return "re: " + body["messages"][-1]["content"]


def _input_ids(srv, n):
    """custom_ids of the n-th created batch's input file (1-based)."""
    return [line["custom_id"] for line in srv.batches[f"batch_{n}"].lines]


def test_expired_lines_are_resubmitted_alone(fake_server, tmp_path):
    srv = fake_server(_echo)
    srv.push_batch_scripts([BatchScript.expired(unfinished=2)])
    prompts = [f"q{i}" for i in range(5)]
    results, usage = _ask_all(_cfg(srv), tmp_path / "b", prompts)
    assert [r.text for r in results] == [f"re: q{i}" for i in range(5)]
    assert len(srv.batches) == 2 and _input_ids(srv, 2) == _input_ids(srv, 1)[3:]
    assert [r.attempts for r in results] == [1, 1, 1, 2, 2]
    assert usage.batches == 2 and usage.requests == 7 and usage.successes == 5 and srv.request_count == 0


@pytest.mark.parametrize(("script", "resent"), [(BatchScript.cancelled(unfinished=3), 3), (BatchScript.failed(), 4),
                                                (BatchScript(fail_lines=2), 2)], ids=["cancelled", "failed", "500s"])
def test_unfinished_or_failed_lines_go_out_again(fake_server, tmp_path, script, resent):
    srv = fake_server(_echo)
    srv.push_batch_scripts([script])
    results, _ = _ask_all(_cfg(srv), tmp_path / "b", ["a", "b", "c", "d"])
    assert [r.text for r in results] == ["re: a", "re: b", "re: c", "re: d"]
    assert len(srv.batches["batch_2"].lines) == resent and len(srv.batches) == 2


def test_lines_failing_every_time_end_as_failed_results(fake_server, tmp_path):
    srv = fake_server(_echo)
    srv.push_batch_scripts([BatchScript.failed()] * 3)
    results, usage = _ask_all(_cfg(srv), tmp_path / "b", ["a", "b"])
    assert all(not r.ok and r.error.startswith("gave up after 3 attempts: batch failed") for r in results)
    assert len(srv.batches) == 3 and usage.failures == 2


def test_429_on_batch_creation_is_retried(fake_server, tmp_path):
    srv = fake_server(_echo)
    srv.push_batch_faults([Fault.rate_limit(0.05), Fault.rate_limit(0.05)])
    results, usage = _ask_all(_cfg(srv), tmp_path / "b", ["a", "b"])
    assert [r.text for r in results] == ["re: a", "re: b"]
    assert srv.routes["POST /v1/batches"] == 3 and len(srv.batches) == 1 and usage.errors == {"http 429": 2}


def test_a_non_retryable_line_error_reads_as_online(fake_server, tmp_path):
    srv = fake_server(_echo, context_tokens=5)
    results, _ = _ask_all(_cfg(srv), tmp_path / "b", ["short", "a much longer question than five tokens fits"])
    assert results[0].text == "re: short"
    assert results[1].error.startswith("http 400: This model's maximum context length is 5 tokens")
    assert len(srv.batches) == 1  # a request too long stays too long: not sent again


def test_stopped_waiting_run_leaves_the_batch_and_a_rerun_collects_it(fake_server, tmp_path):
    srv = fake_server(_echo)
    srv.hold_batches()
    cache = ReplyCache(tmp_path / "cache.sqlite")
    first, _ = _ask_all(_cfg(srv, batch_wait_s=0.1), tmp_path / "b", ["a", "b"], cache)
    assert all(r.error.startswith(PENDING + "batch_1 still in_progress") for r in first)
    journal = [json.loads(x) for x in (tmp_path / "b" / "journal.jsonl").read_text().splitlines()]
    assert [e["event"] for e in journal] == ["upload", "created"] and journal[1]["batch_id"] == "batch_1"
    srv.hold_batches(False)
    again, _ = _ask_all(_cfg(srv), tmp_path / "b", ["a", "b"], cache)
    assert [r.text for r in again] == ["re: a", "re: b"] and len(srv.batches) == 1
    assert srv.routes["POST /v1/files"] == 1
    third, usage = _ask_all(_cfg(srv), tmp_path / "b", ["a", "b"], cache)  # cached now: nothing sent at all
    assert [r.text for r in third] == ["re: a", "re: b"] and usage.requests == 0 and len(srv.batches) == 1


def test_collected_outputs_answer_a_rerun_without_a_cache(fake_server, tmp_path):
    srv = fake_server(_echo)
    _ask_all(_cfg(srv), tmp_path / "b", ["a", "b"])
    again, usage = _ask_all(_cfg(srv), tmp_path / "b", ["a", "b"])
    assert [r.text for r in again] == ["re: a", "re: b"] and len(srv.batches) == 1 and usage.requests == 0


def test_an_upload_recorded_without_its_batch_is_adopted(fake_server, tmp_path):
    """Killed after creating the batch but before recording it: the rerun finds it by file."""
    srv = fake_server(_echo)
    srv.hold_batches()
    _ask_all(_cfg(srv, batch_wait_s=0.0), tmp_path / "b", ["a", "b"])
    journal = tmp_path / "b" / "journal.jsonl"
    journal.write_text(journal.read_text().splitlines()[0] + "\n")  # the 'created' line never made it
    srv.hold_batches(False)
    again, _ = _ask_all(_cfg(srv), tmp_path / "b", ["a", "b"])
    assert [r.text for r in again] == ["re: a", "re: b"] and len(srv.batches) == 1
    assert srv.routes["GET /v1/batches"] == 1


def test_split_lines_at_line_and_byte_limits():
    lines = [b"x" * 10] * 7
    assert [len(f) for f in split_lines(lines, max_lines=3)] == [3, 3, 1]
    assert [len(f) for f in split_lines(lines, max_bytes=25)] == [2, 2, 2, 1]
    assert split_lines([b"y" * 50], max_bytes=25) == [[b"y" * 50]]  # one line too big still goes (the server says)


def test_batch_and_cached_input_prices():
    assert estimate_cost("gpt-4o-mini", 1_000_000, 1_000_000) == pytest.approx(0.75)
    assert estimate_cost("gpt-4o-mini", 1_000_000, 1_000_000, batch=True) == pytest.approx(0.375)
    assert estimate_cost("gpt-4o-mini", 1_000_000, 0, cached_tokens=400_000) == pytest.approx(0.09 + 0.03)
    assert price_both("deepseek-chat", 10, 10) == {"online": pytest.approx(13.7e-6), "batch": None}


def test_cached_prompt_tokens_are_read_and_priced_at_the_cached_price(fake_server, tmp_path):
    """A shared system prompt first, the varying part last: later asks hit the prefix cache."""
    srv = fake_server(_echo, prefix_cache_tokens=20)
    system = {"role": "system", "content": "你是一个严格的老师，按照标准答案给学生答案打分。" * 4}

    async def go(client):
        async with client:
            return [await client.chat([system, {"role": "user", "content": f"问题 {i}"}]) for i in range(3)]

    for batch in (False, True):
        cfg = _cfg(srv, model="gpt-4o-mini", batch=batch)
        client = BatchChatClient(cfg, tmp_path / "b") if batch else ChatClient(cfg)
        results = asyncio.run(go(client))
        usage = client.usage
        cached = [r.cached_tokens for r in results]
        assert (cached[0] == 0 or batch) and all(c > 20 for c in cached[1:]) and usage.cached_tokens == sum(cached)
        full = estimate_cost("gpt-4o-mini", usage.prompt_tokens, usage.completion_tokens, batch=batch)
        assert usage.cost() < full and usage.summary()["cost_usd"] == usage.cost()
