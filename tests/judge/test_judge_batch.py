"""The judge in batch mode against the fake Batch API: the same judgements as online,
no chat requests, reruns that collect instead of submitting again."""

from __future__ import annotations

import json

from instructscale.datafiles import read_jsonl_resumable
from instructscale.judge import run_judge
from instructscale.llm.batch import journal_dir
from instructscale.llm.fake_server import BatchScript

N_ANSWERS = 8


def _judge_reply(body):
    """A fake judge that scores by the answer and fails the format for one model's first ask."""
    user = body["messages"][-1]["content"]
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
