"""The openai backend against the fake server (a real HTTP server on 127.0.0.1)."""

from __future__ import annotations

from instructscale.datafiles import read_jsonl_resumable
from instructscale.llm import ClientConfig
from instructscale.llm.fake_server import Fault
from instructscale.respond import ModelSpec, RespondConfig, run_respond


def _cfg(srv, eval_path, out, **kw) -> RespondConfig:
    client = ClientConfig(base_url=srv.base_url, model="unused", concurrency=kw.pop("concurrency", 4),
                          max_attempts=kw.pop("max_attempts", 4), backoff_base_s=0.01, timeout_s=5)
    return RespondConfig(models=[ModelSpec(name="scale_200", path="served-200"), ModelSpec(name="scale_600",
                                                                                           path="served-600")],
                         eval=eval_path, out=out, backend="openai", client=client, **kw)


def _echo(body) -> str:
    return f"{body['model']} says: {body['messages'][-1]['content'][:6]}"


def test_every_model_and_sample_is_asked_with_the_preset(fake_server, eval_path, tmp_path):
    srv = fake_server(_echo)
    out = tmp_path / "out.jsonl"
    summary = run_respond(_cfg(srv, eval_path, out, n=2, seed=5))
    assert summary.new == 2 * 6 * 2 and srv.request_count == 24 and summary.errors == 0
    assert summary.usage["scale_200"]["requests"] == 12 and summary.usage["scale_600"]["successes"] == 12
    body = srv.requests[0]
    assert (body["temperature"], body["top_p"], body["max_tokens"]) == (0.9, 0.6, 128)
    assert (body["top_k"], body["repetition_penalty"]) == (30, 1.2)  # sent in the body for local servers
    assert sorted(b["seed"] for b in srv.requests) == [5] * 12 + [6] * 12  # seed + sample index
    rows = read_jsonl_resumable(out)[0]
    r = next(r for r in rows if r["model"] == "scale_600" and r["item_id"] == "q2" and r["sample"] == 1)
    assert r["response"] == "served-600 says: 请回答第 2"
    assert r["prompt_tokens"] > 0 and r["completion_tokens"] > 0 and r["settings"]["server_model"] == "served-600"
    assert run_respond(_cfg(srv, eval_path, out, n=2, seed=5)).new == 0 and srv.request_count == 24


def test_greedy_preset_sends_temperature_zero(fake_server, eval_path, tmp_path):
    srv = fake_server(_echo)
    run_respond(_cfg(srv, eval_path, tmp_path / "out.jsonl", preset="greedy", max_new_tokens=7, stop=["Human:"]))
    body = srv.requests[0]
    assert (body["temperature"], body["max_tokens"], body["stop"]) == (0.0, 7, ["Human:"])
    assert "top_k" not in body


def test_faults_are_retried_and_a_failed_answer_is_redone_on_rerun(fake_server, eval_path, tmp_path):
    srv = fake_server(_echo)
    out = tmp_path / "out.jsonl"
    srv.push_faults([Fault.rate_limit(retry_after=0.01), Fault.server_error(), Fault.malformed()])
    summary = run_respond(_cfg(srv, eval_path, out))
    assert summary.errors == 0 and summary.new == 12 and srv.request_count == 15

    out2 = tmp_path / "out2.jsonl"
    srv.push_faults([Fault.server_error()])
    first = run_respond(_cfg(srv, eval_path, out2, max_attempts=1, concurrency=1))
    rows = read_jsonl_resumable(out2)[0]
    failed = [r for r in rows if r["error"]]
    assert first.errors == 1 and len(failed) == 1 and failed[0]["response"] == ""
    assert "500" in failed[0]["error"]
    assert [m.responses for m in first.models] == [5, 6]  # the failed one does not count

    again = run_respond(_cfg(srv, eval_path, out2, max_attempts=1, concurrency=1))
    assert (again.new, again.resumed, again.errors) == (1, 11, 0)
    rows = read_jsonl_resumable(out2)[0]
    assert len(rows) == 12 and all(r["error"] is None for r in rows)
