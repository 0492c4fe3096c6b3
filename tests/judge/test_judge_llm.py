"""The LLM judge against the fake OpenAI-compatible server: faults, re-asks, repeats, cache."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from instructscale.datafiles import read_jsonl_resumable
from instructscale.judge import run_judge
from instructscale.llm.fake_server import Fault

N_ANSWERS = 8  # 4 items x 2 models; o1 has no reference


def _rows(path):
    return read_jsonl_resumable(path)[0]


def _keys(rows):
    return [(r["model"], r["item_id"], r["sample"], r["repeat"]) for r in rows]


def test_every_answer_judged_repeats_times_with_distinct_seeds(fake_server, judge_config):
    srv = fake_server(["回答正确。\n得分: 0.9"])
    s = run_judge(judge_config(srv))
    rows = _rows(s.out)
    assert len(rows) == N_ANSWERS * 3 and len(set(_keys(rows))) == len(rows)
    assert all(r["score"] == 0.9 and r["judge"] == "judge-m" and r["error"] is None for r in rows)
    assert srv.request_count == N_ANSWERS * 3 and s.requests == N_ANSWERS * 3
    assert sorted({b["seed"] for b in srv.requests}) == [0, 1, 2]
    assert all(b["temperature"] == 1.0 and b["max_tokens"] == 256 for b in srv.requests)  # a local judge's default
    # the layout the server saw: system prompt + question / reference / answer
    user = [b["messages"][1]["content"] for b in srv.requests]
    assert any(u.startswith("问题：小明有3个苹果") and "\n标准答案：8个\n学生答案：" in u for u in user)
    assert any(u.startswith("问题：天空为什么是蓝色的？\n学生答案：") for u in user)
    assert {(r.model, r.category): (r.items, r.judgements, r.unscored, r.mean) for r in s.rows}[("small", "math")] \
        == (1, 3, 0, pytest.approx(0.9))


@pytest.mark.parametrize("fault", [Fault.rate_limit(0.2), Fault.server_error(), Fault.hang(1.5), Fault.malformed(),
                                   Fault.drop()], ids=lambda f: f.kind)
def test_faults_are_retried_and_every_judgement_is_scored(fake_server, judge_config, fault):
    srv = fake_server(["得分: 1"])
    srv.push_faults([fault, fault])
    s = run_judge(judge_config(srv, client={"timeout_s": 0.5}, repeats=1))
    rows = _rows(s.out)
    assert len(rows) == N_ANSWERS and all(r["score"] == 1.0 for r in rows)
    assert srv.request_count == N_ANSWERS + 2 and s.usage["retries"] == 2


def test_retry_after_is_honoured_by_the_judge(fake_server, judge_config):
    import time

    srv = fake_server(["得分: 1"])
    srv.push_faults([Fault.rate_limit(0.8)])
    t = time.monotonic()
    run_judge(judge_config(srv, client={"concurrency": 1, "backoff_base_s": 0.0}, repeats=1))
    assert time.monotonic() - t >= 0.75


def test_unparsable_replies_are_reasked_then_stored_unscored(fake_server, judge_config):
    def responder(body):
        q = body["messages"][1]["content"]
        if "天空" in q:
            return "这个回答不错。"  # never a score
        if "情感" in q and len(body["messages"]) == 2:
            return "回答正确，给满分。"  # scored only after the reminder
        return "得分: 0.5"

    srv = fake_server(responder)
    s = run_judge(judge_config(srv, repeats=1, reasks=2))
    rows = {(r["model"], r["item_id"]): r for r in _rows(s.out)}
    assert len(rows) == N_ANSWERS
    sky = rows[("small", "o1")]
    assert sky["score"] is None and "no valid score after 3 replies" in sky["error"]
    assert sky["raw"].count("这个回答不错") == 3
    assert rows[("small", "c1")]["score"] == 0.5 and rows[("small", "c1")]["error"] is None
    reasks = [b for b in srv.requests if len(b["messages"]) > 2]
    assert all(b["messages"][-1]["content"].startswith("你上一次的回复中没有找到有效的分数") for b in reasks)
    assert srv.request_count == 8 + 2 * 2 + 2 * 1  # first asks, 2 re-asks for each o1, 1 for each c1
    stats = {(r.model, r.category): r for r in s.rows}
    assert stats[("small", "open_qa")].unscored == 1 and stats[("small", "open_qa")].mean is None
    assert stats[("small", "open_qa")].items == 1  # counted, not dropped, not zero
    assert s.unscored == 2


def test_api_failures_are_recorded_then_retried_next_run(fake_server, judge_config):
    srv = fake_server(["得分: 0.7"])
    srv.push_faults([Fault.server_error()] * 3)  # max_attempts=3: exactly one call gives up
    cfg = judge_config(srv, client={"concurrency": 1}, repeats=1)
    s1 = run_judge(cfg)
    rows = _rows(s1.out)
    failed = [r for r in rows if r["error"]]
    assert len(rows) == N_ANSWERS and len(failed) == 1 and failed[0]["score"] is None
    assert failed[0]["error"].startswith("api: gave up after 3 attempts") and "500" in failed[0]["error"]
    srv.reset()
    s2 = run_judge(cfg)
    rows = _rows(s2.out)
    assert srv.request_count == 1 and s2.new == 1  # only the failed one is asked again
    assert len(rows) == N_ANSWERS and len(set(_keys(rows))) == N_ANSWERS and all(r["score"] == 0.7 for r in rows)


def test_rerun_makes_zero_requests_from_cache_and_from_output(fake_server, judge_config, tmp_path):
    srv = fake_server(["得分: 0.6"])
    first = run_judge(judge_config(srv))
    assert srv.request_count == N_ANSWERS * 3
    srv.reset()
    again = run_judge(judge_config(srv, out=tmp_path / "fresh.jsonl"))  # new output file: the cache answers
    assert srv.request_count == 0 and again.cache_hits == N_ANSWERS * 3 and again.requests == 0
    assert sorted(_keys(_rows(again.out))) == sorted(_keys(_rows(first.out)))
    resumed = run_judge(judge_config(srv))  # same output file: nothing left to do
    assert srv.request_count == 0 and resumed.new == 0 and resumed.resumed == N_ANSWERS * 3
    run_judge(judge_config(srv, out=tmp_path / "more.jsonl", repeats=4))  # only the new repeat is asked
    assert srv.request_count == N_ANSWERS
    other = run_judge(judge_config(srv, out=tmp_path / "t.jsonl", client={"params": {"temperature": 0.2}}))
    assert srv.request_count == N_ANSWERS + N_ANSWERS * 3 and other.cache_hits == 0  # params are in the key


def test_api_key_never_reaches_cache_or_output(fake_server, judge_config, monkeypatch, tmp_path):
    monkeypatch.setenv("JUDGE_KEY", "sk-secret-123456")
    srv = fake_server(["得分: 1"])
    s = run_judge(judge_config(srv, client={"api_key_env": "JUDGE_KEY"}, repeats=1))
    db = tmp_path / "llm_cache.sqlite"
    for path in [db, Path(s.out), *tmp_path.glob("llm_cache.sqlite*")]:
        assert b"sk-secret-123456" not in path.read_bytes()
    assert sqlite3.connect(db).execute("SELECT COUNT(*) FROM replies").fetchone()[0] == N_ANSWERS


def test_dry_run_calls_nothing_and_estimates(fake_server, judge_config):
    srv = fake_server(["得分: 1"])
    s = run_judge(judge_config(srv, dry_run=True, client={"model": "gpt-4o-mini"}))
    assert srv.request_count == 0 and not Path(s.out).exists()
    e = s.estimate
    assert e["judgements"] == e["requests"] == N_ANSWERS * 3 and e["prompt_tokens"] > N_ANSWERS * 3 * 50
    assert e["cost_usd"] > 0
    run_judge(judge_config(srv, client={"model": "gpt-4o-mini"}, repeats=1))
    e2 = run_judge(judge_config(srv, dry_run=True, client={"model": "gpt-4o-mini"})).estimate
    assert e2["judgements"] == N_ANSWERS * 2 and e2["requests"] == N_ANSWERS * 2  # repeat 0 is done


def test_failed_responses_are_unscored_without_a_call(fake_server, judge_config, judge_inputs):
    from instructscale.datafiles import write_jsonl
    from instructscale.records import Response

    eval_path, resp_path = judge_inputs
    write_jsonl(resp_path, [Response(item_id="m1", model="x", response="", error="timeout")])
    srv = fake_server(["得分: 1"])
    s = run_judge(judge_config(srv, repeats=2))
    assert srv.request_count == 0
    assert [r["error"] for r in _rows(s.out)] == ["response failed: timeout"] * 2 and s.unscored == 2


def test_missing_prompt_fails_before_any_request(fake_server, judge_config, tmp_path):
    from instructscale.errors import ConfigError

    prompts = tmp_path / "p.jsonl"
    prompts.write_text('{"class": "math", "prompt": "数学评分。请按照\\"得分:\\"输出。"}\n', encoding="utf-8")
    srv = fake_server(["得分: 1"])
    with pytest.raises(ConfigError, match="no prompt for category 'classification'"):
        run_judge(judge_config(srv, prompts=str(prompts)))
    assert srv.request_count == 0


def test_finished_rerun_needs_no_api_key(fake_server, judge_config, monkeypatch):
    srv = fake_server(["得分: 1"])
    run_judge(judge_config(srv, repeats=1))
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    s = run_judge(judge_config(srv, repeats=1, client={"base_url": "https://api.openai.com/v1"}))
    assert s.new == 0 and s.resumed == N_ANSWERS
