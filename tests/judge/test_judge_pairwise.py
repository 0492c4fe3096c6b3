"""The pairwise judge against the fake server: synthetic judges with a planted position bias,
both orders asked, resume, re-asks, failures redone, reference answers from a model or a file."""

from __future__ import annotations

import hashlib
import random
import re

import pytest

from instructscale.datafiles import read_jsonl_resumable, write_jsonl
from instructscale.errors import ConfigError
from instructscale.judge.pairwise import PairwiseConfig, pairs, run_pairwise
from instructscale.judge.verdict import parse_verdict
from instructscale.llm import ClientConfig
from instructscale.llm.fake_server import Fault
from instructscale.records import EvalItem, PairJudgement, Response

_ANSWERS = re.compile(r"(?:\[Answer A\]|【回答A】)\n(.*)\n(?:\[Answer B\]|【回答B】)\n(.*)", re.S)


def quality(answer: str) -> int:
    return int(re.search(r"q=(\d)", answer).group(1))


def biased_judge(first_bias: float):
    """Says [[A]] with probability `first_bias`, else names the truly better answer (`q=`);
    reproducible per request, so the reply cache and reruns see the same judge."""
    def respond(body):
        user = body["messages"][1]["content"]
        rng = random.Random(hashlib.sha256(user.encode()).hexdigest())
        a, b = _ANSWERS.search(user).groups()
        if rng.random() < first_bias:
            return "A looks better.\n[[A]]"
        qa, qb = quality(a), quality(b)
        return "Reasons.\n" + ("[[A]]" if qa > qb else "[[B]]" if qb > qa else "[[C]]")
    return respond


def world(tmp_path, n_items: int, win_share: float, seed: int = 0):
    """Items with golden answers of quality 1; model `m` answers `win_share` of them with
    quality 2 (better), the rest with quality 0."""
    rng = random.Random(seed)
    items = [EvalItem(id=f"i{k}", category=("math", "open_qa")[k % 2], question=f"Question {k}?",
                      reference=f"golden q=1 #{k}") for k in range(n_items)]
    responses = [Response(item_id=i.id, model="m", response=f"answer q={2 if rng.random() < win_share else 0}")
                 for i in items]
    write_jsonl(tmp_path / "eval.jsonl", items)
    write_jsonl(tmp_path / "responses.jsonl", responses)
    return items, responses


def config(tmp_path, srv, **kw):
    client = ClientConfig(base_url=srv.base_url, model="pair-judge", backoff_base_s=0.01, timeout_s=5.0,
                          max_attempts=3, concurrency=8)
    return PairwiseConfig(**{"eval": tmp_path / "eval.jsonl", "responses": [tmp_path / "responses.jsonl"],
                             "out": tmp_path / "pairs.jsonl", "client": client, "prompts": "en", **kw})


def test_swapped_orders_cancel_a_planted_position_bias(fake_server, tmp_path):
    n, win_share, bias = 300, 0.5, 0.4
    _, responses = world(tmp_path, n, win_share)
    truth = sum(quality(r.response) == 2 for r in responses) / n
    srv = fake_server(biased_judge(bias))
    s = run_pairwise(config(tmp_path, srv))
    assert srv.request_count == 2 * n and s.new == 2 * n and s.unscored == 0
    records = [PairJudgement(**r) for r in read_jsonl_resumable(tmp_path / "pairs.jsonl")[0]]
    ps = pairs(records)
    consistent = [p for p in ps if p.consistent]
    # a biased reply in either order breaks the pair; unbiased pairs always agree: 1 - P(consistent) ~ 1-(1-b)
    assert len(ps) == n and abs(1 - len(consistent) / n - bias) < 0.1
    naive_first = sum(r.verdict == "win" for r in records if not r.swapped) / n  # one order only: inflated
    assert naive_first > truth + 0.12  # expected: b + (1 - b) * truth
    # each consistent pair tells the truth: the win rate among them is the planted share of better answers
    wins = [p for p in consistent if p.outcome == 1.0]
    assert all(quality(next(r.response for r in responses if r.item_id == p.item_id)) == 2 for p in wins)
    rate = sum(p.outcome for p in consistent) / len(consistent)
    assert abs(rate - truth) < 0.1
    by = {(row.category): row for row in s.pair_rows}
    assert by["math"].pairs + by["open_qa"].pairs == n
    assert by["math"].inconsistent == sum(not p.consistent for p in ps if p.category == "math")
    # the second order shows the model's answer as B and the golden answer as A, no standard answer line
    swapped = [b["messages"][1]["content"] for b in srv.requests if "[Answer A]\ngolden" in b["messages"][1]["content"]]
    assert len(swapped) == n and not any("Standard answer" in u for u in swapped)


def test_rerun_resumes_and_failed_calls_are_redone(fake_server, tmp_path):
    world(tmp_path, 10, 0.5)
    srv = fake_server(biased_judge(0.0))
    srv.always(Fault.server_error(), when=lambda body: "#3" in body["messages"][1]["content"])
    s = run_pairwise(config(tmp_path, srv))
    assert s.api_failures == 2 and s.incomplete and s.new == 20
    srv.always(None)
    srv.reset()
    s2 = run_pairwise(config(tmp_path, srv))
    assert s2.new == 2 and s2.resumed == 18 and s2.api_failures == 0 and s2.incomplete is None
    assert s2.judgements == 20 and srv.request_count == 2
    assert all(r.inconsistent == 0 for r in s2.pair_rows)
    srv.reset()
    s3 = run_pairwise(config(tmp_path, srv, out=tmp_path / "again.jsonl"))  # a new file: all from the reply cache
    assert s3.new == 20 and srv.request_count == 0 and s3.cache_hits == 20


def test_a_reply_without_verdict_is_reasked_then_unscored(fake_server, tmp_path):
    world(tmp_path, 2, 1.0)

    def respond(body):  # no verdict at first; after the reminder, one for item 0 only
        reasked = body["messages"][-1]["role"] == "user" and len(body["messages"]) > 2
        return "[[A]]" if reasked and "#0" in body["messages"][1]["content"] else "I cannot decide."

    srv = fake_server(respond)
    s = run_pairwise(config(tmp_path, srv, reasks=1))
    rows = read_jsonl_resumable(tmp_path / "pairs.jsonl")[0]
    assert srv.request_count == 4 + 4  # every first reply lacked a verdict: one re-ask each
    assert all(b["messages"][-1]["content"].startswith("Your reply had no verdict") for b in srv.requests
               if len(b["messages"]) > 2)
    assert s.unscored == 2 and sorted(r["verdict"] or "-" for r in rows) == ["-", "-", "loss", "win"]
    assert all(r["error"].startswith("no valid verdict after 2 replies") and "[re-ask]" in r["raw"]
               for r in rows if r["verdict"] is None)


def test_against_a_model_or_a_file(fake_server, tmp_path):
    items, _ = world(tmp_path, 4, 1.0)
    write_jsonl(tmp_path / "responses.jsonl",
                [Response(item_id=i.id, model=m, response=f"{m} q={q}") for i in items for m, q in (("m", 2), ("base", 0))])
    srv = fake_server(biased_judge(0.0))
    s = run_pairwise(config(tmp_path, srv, against="base"))
    assert s.against == "base" and [(r.model, r.wins) for r in s.pair_rows] == [("m", 2), ("m", 2)]
    assert all("Standard answer: golden" in b["messages"][1]["content"] for b in srv.requests)
    write_jsonl(tmp_path / "ref.jsonl", [Response(item_id=i.id, model="gpt-ref", response="ref q=3") for i in items[:3]])
    s = run_pairwise(config(tmp_path, srv, against=str(tmp_path / "ref.jsonl"), out=tmp_path / "p2.jsonl"))
    assert s.against == "gpt-ref" and s.no_reference == 2  # item 4 has no reference answer, for both models
    assert [sum(r.losses for r in s.pair_rows if r.model == m) for m in ("m", "base")] == [3, 3]
    with pytest.raises(ConfigError, match="no responses by model 'nobody'"):
        run_pairwise(config(tmp_path, srv, against="nobody", out=tmp_path / "p3.jsonl"))


@pytest.mark.parametrize(("reply", "side"), [
    ("分析……\n[[A]]", "A"), ("[[A]] at first, but on reflection [[B]]", "B"), ("结论：平局", "tie"),
    ("［［Ｂ］］", "B"), ("Final verdict: **A**", "A"), ("[[C]]", "tie"), ("Verdict: Answer", None),
    ("A is better", None), ("", None)])
def test_verdict_parsing(reply, side):
    assert parse_verdict(reply).side == side


def test_cli_pairwise_and_its_dry_run(fake_server, tmp_path):
    from typer.testing import CliRunner

    from instructscale.cli.main import app

    world(tmp_path, 6, 0.5)
    srv = fake_server(biased_judge(0.0))
    args = ["judge", "--pairwise", "--eval", str(tmp_path / "eval.jsonl"), "--responses",
            str(tmp_path / "responses.jsonl"), "--out", str(tmp_path / "cli.jsonl"), "--base-url", srv.base_url,
            "--judge-model", "pair-judge", "--repeats", "1", "--prompts", "en"]
    res = CliRunner().invoke(app, [*args, "--dry-run"])
    assert res.exit_code == 0 and "12 judgements to do" in res.output and srv.request_count == 0
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "pairwise judge: pair-judge vs golden" in res.output and "12 pairwise judgements" in res.output
    assert srv.request_count == 12 and len(read_jsonl_resumable(tmp_path / "cli.jsonl")[0]) == 12
    res = CliRunner().invoke(app, [*args, "--scorer", "reference"])
    assert res.exit_code == 2 and "--pairwise needs an LLM judge" in res.output
