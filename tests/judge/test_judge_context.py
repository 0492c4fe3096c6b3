"""Judge requests stay within the judge's context: long inputs are cut and counted, re-asks
do not grow the conversation past it, and a server's "maximum context length" 400 is a
final unscored judgement, never an API failure a rerun retries."""

from __future__ import annotations

import pytest

from instructscale.datafiles import read_jsonl_resumable, write_jsonl
from instructscale.judge import run_judge
from instructscale.judge.context import CUT_MARK, fit_inputs, is_context_overflow
from instructscale.judge.parse import parse_score
from instructscale.llm import estimate_tokens
from instructscale.records import EvalItem, Response


def _rows(path):
    return read_jsonl_resumable(path)[0]


def _prompt_tokens(body):
    return sum(estimate_tokens(m["content"]) for m in body["messages"])


@pytest.fixture
def long_answer(judge_inputs):
    """One answer of ~60K tokens (a model that looped), next to the 7 normal ones."""
    _, resp_path = judge_inputs
    rows = [Response.model_validate(r) for r in _rows(resp_path)]
    rows[0] = rows[0].model_copy(update={"response": "开头" + "重复的句子。" * 20000 + "结尾"})
    write_jsonl(resp_path, rows)
    return rows[0]


def test_inputs_over_the_budget_are_cut_counted_and_noted(fake_server, judge_config, long_answer):
    srv = fake_server(["得分: 0.5"])
    s = run_judge(judge_config(srv, repeats=1, max_input_tokens=300))
    assert s.inputs_cut == 1 and s.context_overflows == 0 and s.unscored == 0
    biggest = max(srv.requests, key=_prompt_tokens)
    assert _prompt_tokens(biggest) < 300 + 400  # inputs within budget, plus the category's system prompt
    user = biggest["messages"][-1]["content"]
    assert "开头" in user and "结尾" in user and CUT_MARK in user  # start and end kept
    cut = [r for r in _rows(s.out) if r["note"]]
    assert len(cut) == 1 and cut[0]["score"] == 0.5 and "answer" in cut[0]["note"]


def test_a_small_context_server_gets_shorter_inputs_instead_of_failures(fake_server, judge_config, long_answer):
    srv = fake_server(["得分: 1"], context_tokens=900)
    s = run_judge(judge_config(srv, repeats=1))  # a local judge: inputs budget 1200 by default, reply 256
    rows = _rows(s.out)
    assert all(r["score"] == 1.0 and r["error"] is None for r in rows)
    assert s.api_failures == 0 and s.context_overflows == 0 and s.inputs_cut == 1
    assert srv.request_count <= 8 + 2  # the long one: overflow once or twice, then it fits


def test_a_request_that_never_fits_is_final_unscored_and_not_retried(fake_server, judge_config):
    srv = fake_server(["得分: 1"], context_tokens=50)  # not even the system prompt fits
    cfg = judge_config(srv, repeats=1)
    s = run_judge(cfg)
    rows = _rows(s.out)
    assert len(rows) == 8 and all(r["score"] is None and r["error"].startswith("context overflow: ") for r in rows)
    assert "maximum context length" in rows[0]["error"]
    assert s.context_overflows == 8 and s.api_failures == 0 and s.incomplete is None
    assert srv.request_count == 8 * 3  # the first ask and two shorter ones, no client retries
    again = run_judge(cfg)
    assert srv.request_count == 8 * 3 and again.resumed == 8 and again.new == 0


def test_reasks_carry_only_the_last_reply_and_none_when_it_would_not_fit(fake_server, judge_config):
    def rambling(body):
        return "我认为这个回答" + "还可以" * (400 if "天空" in body["messages"][1]["content"] else 3)

    srv = fake_server(rambling)
    s = run_judge(judge_config(srv, repeats=1, reasks=2, max_input_tokens=200))
    assert s.unscored == 8
    lengths = sorted({len(b["messages"]) for b in srv.requests})
    assert lengths == [2, 4]  # first asks (and re-asks without the reply), re-asks with one reply
    reask_alone = [b for b in srv.requests if len(b["messages"]) == 2 and "天空" in b["messages"][1]["content"]
                   and "你上一次的回复中没有找到有效的分数" in b["messages"][1]["content"]]
    assert len(reask_alone) == 2 * 2  # both models' sky answers, 2 re-asks each, without the long reply
    assert max(len(b["messages"]) for b in srv.requests) == 4  # never the whole conversation
    notes = {r["item_id"]: r["note"] for r in _rows(s.out)}
    assert "without the earlier reply" in notes["o1"] and notes["m1"] is None and s.inputs_cut == 0


@pytest.mark.parametrize("error, overflow", [
    ("http 400: This model's maximum context length is 4097 tokens. However, your messages resulted in 5000 "
     "tokens. Please reduce the length of the messages.", True),  # OpenAI, vLLM
    ("http 400: {'code': 'context_length_exceeded'}", True),
    ("http 400: the request exceeds the available context size, try increasing it", True),  # llama.cpp
    ("http 400: {'type': 'exceed_context_size_error', 'n_prompt_tokens': 3000, 'n_ctx': 2048}", True),
    ("http 400: prompt is too long: 210000 tokens > 200000 maximum", True),
    ("gave up after 5 attempts: http 500: internal error", False),
    ("http 400: invalid model name", False),
    (None, False),
])
def test_context_overflow_wordings(error, overflow):
    assert is_context_overflow(error) is overflow


def test_fit_inputs_shares_the_budget_and_leaves_short_inputs_alone():
    item = EvalItem(id="x", category="math", question="短问题", reference="参考" * 3000)
    fitted = fit_inputs(item, "回答" * 3000, 1000)
    assert fitted.cut == ("reference", "answer") and fitted.item.question == "短问题"
    assert fitted.tokens <= 1000
    assert abs(estimate_tokens(fitted.item.reference) - estimate_tokens(fitted.answer)) < 50  # equal shares
    untouched = fit_inputs(item, "好", 100_000)
    assert untouched.cut == () and untouched.answer == "好" and untouched.item is item


def test_a_local_judge_gets_short_replies_and_a_small_input_budget(fake_server, judge_config):
    srv = fake_server(["得分: 1"])
    local = judge_config(srv)
    remote = judge_config(srv, client={"base_url": "https://api.example.com/v1"})
    assert local.local_judge and local.client.params["max_tokens"] == 256 and local.max_input_tokens == 1200
    assert not remote.local_judge and remote.client.params["max_tokens"] == 512 and remote.max_input_tokens == 6000
    explicit = judge_config(srv, client={"params": {"max_tokens": 64}}, max_input_tokens=5000)
    assert explicit.client.params["max_tokens"] == 64 and explicit.max_input_tokens == 5000


@pytest.mark.parametrize("reply, score", [("得分: 1e-1", 0.1), ("得分: 1,5", None), ("得分: 0.8.1", None),
                                          ("Score: 2E-1", 0.2), ("得分: 1e1", None)])
def test_a_number_is_read_whole_or_not_at_all(reply, score):
    assert parse_score(reply).score == score
