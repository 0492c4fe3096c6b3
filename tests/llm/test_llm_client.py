"""The shared API client against a real local HTTP server with injected faults."""

from __future__ import annotations

import asyncio
import time

import pytest

from instructscale.errors import ConfigError
from instructscale.llm import ChatClient, ClientConfig, estimate_cost, estimate_tokens
from instructscale.llm.fake_server import Fault

MSG = [{"role": "user", "content": "你好"}]


def _chat(srv, n=1, **cfg):
    cfg = {"base_url": srv.base_url, "model": "m", "backoff_base_s": 0.01, "timeout_s": 2.0, **cfg}

    async def go():
        async with ChatClient(ClientConfig(**cfg)) as client:
            results = await asyncio.gather(*[client.chat(MSG) for _ in range(n)])
            return results, client.usage

    return asyncio.run(go())


def test_plain_reply_and_token_accounting(fake_server):
    srv = fake_server(["得分: 0.5"])
    (res,), usage = _chat(srv)
    assert res.ok and res.text == "得分: 0.5" and res.attempts == 1
    assert usage.requests == 1 and usage.successes == 1 and usage.completion_tokens > 0
    assert srv.requests[0]["messages"] == MSG and srv.requests[0]["model"] == "m"


@pytest.mark.parametrize("fault", [Fault.rate_limit(0.05), Fault.server_error(), Fault.malformed(),
                                   Fault.drop(), Fault.hang(1.5)], ids=lambda f: f.kind)
def test_each_fault_is_retried_then_succeeds(fake_server, fault):
    srv = fake_server(["fine"])
    srv.push_faults([fault])
    (res,), usage = _chat(srv, timeout_s=0.5)
    assert res.ok and res.text == "fine"
    assert res.attempts == 2 and srv.request_count == 2 and usage.retries == 1


def test_retry_after_is_honoured(fake_server):
    srv = fake_server(["fine"])
    srv.push_faults([Fault.rate_limit(0.6)])
    t = time.monotonic()
    (res,), _ = _chat(srv, backoff_base_s=0.0)
    assert res.ok and time.monotonic() - t >= 0.55


def test_bounded_attempts_then_failure_with_reason(fake_server):
    srv = fake_server(["never seen"])
    srv.push_faults([Fault.server_error()] * 3)
    (res,), usage = _chat(srv, max_attempts=3)
    assert not res.ok and "gave up after 3 attempts" in res.error and "500" in res.error
    assert srv.request_count == 3 and usage.failures == 1


def test_client_errors_are_not_retried(fake_server):
    srv = fake_server(["x"])
    cfg = ClientConfig(base_url=srv.base_url.replace("/v1", "/nope"), model="m", backoff_base_s=0.01)

    async def go():
        async with ChatClient(cfg) as c:
            return await c.chat(MSG)

    res = asyncio.run(go())
    assert not res.ok and "404" in res.error and res.attempts == 1


def test_concurrency_bounds_requests_in_flight(fake_server):
    srv = fake_server(["ok"], latency_s=0.2)
    t = time.monotonic()
    results, _ = _chat(srv, n=8, concurrency=4)
    elapsed = time.monotonic() - t
    assert all(r.ok for r in results)
    assert 0.38 <= elapsed < 1.5  # two waves of four, not one wave of eight, not eight in a row


def test_rpm_paces_requests(fake_server):
    srv = fake_server(["ok"])
    t = time.monotonic()
    results, _ = _chat(srv, n=4, concurrency=4, rpm=600)  # one request per 0.1 s
    assert all(r.ok for r in results) and time.monotonic() - t >= 0.28


def test_api_key_from_env_never_in_requests(fake_server, monkeypatch):
    monkeypatch.setenv("MY_TEST_KEY", "sk-secret-123")
    srv = fake_server(["ok"])
    _chat(srv, api_key_env="MY_TEST_KEY")
    assert "sk-secret-123" not in repr(srv.requests)
    assert "sk-secret-123" not in ClientConfig(base_url=srv.base_url, model="m", api_key_env="MY_TEST_KEY").model_dump_json()


def test_missing_key_for_openai_is_a_config_error(monkeypatch):
    monkeypatch.delenv("NO_SUCH_KEY_VAR", raising=False)
    with pytest.raises(ConfigError, match="NO_SUCH_KEY_VAR"):
        ChatClient(ClientConfig(model="gpt-4o-mini", api_key_env="NO_SUCH_KEY_VAR"))


def test_estimates_and_prices(tmp_path):
    assert estimate_tokens("你好世界") == 4
    assert estimate_tokens("hello world") >= 2
    assert estimate_cost("gpt-4o-mini-2024-07-18", 1_000_000, 0) == pytest.approx(0.15)
    assert estimate_cost("local-model", 10, 10) is None
    table = tmp_path / "p.yaml"
    table.write_text("local-model: {input: 1.0, output: 2.0}\n")
    assert estimate_cost("local-model", 1_000_000, 1_000_000, str(table)) == pytest.approx(3.0)


def test_models_endpoint_and_subprocess_mode(tmp_path):
    import json
    import subprocess
    import sys
    import urllib.request

    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "instructscale.llm.fake_server", "--port", str(port),
                             "--reply", "hi"], stdout=subprocess.PIPE, text=True)
    try:
        assert "serving on" in proc.stdout.readline()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models") as r:
            assert json.load(r)["data"][0]["id"] == "fake-model"
    finally:
        proc.kill()
        proc.wait()


def _closed_port_url() -> str:
    import socket

    with socket.socket() as s:  # bound, then closed: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def test_a_closed_port_trips_the_breaker_naming_the_url_instead_of_retrying_every_call():
    from instructscale.llm import ServerUnreachableError

    url = _closed_port_url()
    cfg = ClientConfig(base_url=url, model="m", backoff_base_s=0.01, max_attempts=5, max_unreachable=4, concurrency=2)
    seen = {}

    async def go():
        async with ChatClient(cfg) as client:
            seen["usage"] = client.usage
            await asyncio.gather(*[client.chat(MSG) for _ in range(50)])

    with pytest.raises(ServerUnreachableError, match=url.replace(".", r"\.")):
        asyncio.run(go())
    assert seen["usage"].requests < 4 + cfg.concurrency  # stopped before 6 requests; 50 calls x 5 attempts: 250


def test_a_server_that_dies_mid_run_is_noticed_after_a_run_of_connection_failures(fake_server):
    from instructscale.llm import ServerUnreachableError

    srv = fake_server(["ok"])
    cfg = ClientConfig(base_url=srv.base_url, model="m", backoff_base_s=0.01, max_unreachable=6, concurrency=2)
    answered = []

    async def go():
        async with ChatClient(cfg) as client:
            async def one(i):
                if i == 10:  # from now on every connection is dropped unanswered, as by a dying server
                    srv.always(Fault.drop())
                result = await client.chat(MSG)
                answered.append(result.ok)

            for i in range(200):  # in order, so the server dies after exactly 10 answers
                await one(i)

    with pytest.raises(ServerUnreachableError, match="did not answer 6 attempts in a row"):
        asyncio.run(go())
    assert answered == [True] * 10 + [False]  # the 11th call gave up after 5 attempts, the 12th tripped
    assert srv.request_count == 10 + 6  # stopped after 6 unanswered requests, not 190 calls x 5 attempts


def test_answers_with_errors_never_trip_the_breaker(fake_server):
    srv = fake_server(["fine"])
    srv.push_faults([Fault.server_error()] * 6)
    (res,), usage = _chat(srv, max_attempts=7, max_unreachable=2)
    assert res.ok and usage.retries == 6  # a 500 is an answer: the server is up
