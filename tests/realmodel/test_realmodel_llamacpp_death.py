"""A llama.cpp server that dies mid-run is reported as such: its exit signal and the tail of its
log, both by the completion that hit it and by the test report (instead of a misleading
"connection failed" from the client, as when a natively built llama.cpp crashed on another CPU)."""

from __future__ import annotations

import os
import signal
import time

import pytest
from llama_server import WATCHED, LlamaServer, ServerDied, blame_dead_server, needs_llama_server
from smollm2 import needs_smollm2

pytestmark = [pytest.mark.slow, pytest.mark.realmodel, pytest.mark.timeout(600), needs_smollm2(), needs_llama_server()]


@pytest.fixture
def dying_server(smollm2, tmp_path):
    server = LlamaServer(smollm2, tmp_path / "server.log")
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


def test_a_server_killed_mid_run_is_reported_with_its_signal_and_log(dying_server):
    assert dying_server.died() is None
    assert dying_server.complete("Say hello.", max_tokens=4)  # it answers while alive
    os.kill(dying_server.proc.pid, signal.SIGSEGV)  # what a CPU-specific build did on its first completion
    deadline = time.monotonic() + 10
    while dying_server.died() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    why = dying_server.died()
    assert why is not None and why.startswith("llama.cpp server died (signal SIGSEGV)")
    assert str(dying_server.log) in why and "llama" in why.split("\n", 1)[1].lower()  # the log's own lines
    with pytest.raises(ServerDied, match="signal SIGSEGV"):
        dying_server.complete("Say hello again.")

    # the report of a test that failed with a connection error names the death first; one that passed fails
    failed = pytest.TestReport("t::x", ("t", 0, "x"), {}, "failed", "httpx.ConnectError: All connection attempts failed",
                               "call")
    passed = pytest.TestReport("t::y", ("t", 0, "y"), {}, "passed", None, "call")
    WATCHED.append(dying_server)
    try:
        blame_dead_server(failed)
        blame_dead_server(passed)
    finally:
        WATCHED.remove(dying_server)
    assert str(failed.longrepr).startswith("llama.cpp server died (signal SIGSEGV)")
    assert "All connection attempts failed" in str(failed.longrepr)
    assert passed.outcome == "failed" and "signal SIGSEGV" in str(passed.longrepr)
