"""Shared fixtures: the fake OpenAI-compatible server, tiny models, tiny datasets.
Append new shared fixtures at the end; keep each one small and documented."""

from __future__ import annotations

import pytest


@pytest.fixture
def fake_server():
    """Factory: `srv = fake_server(responder_or_replies, latency_s=0.0)` starts a real HTTP
    server on 127.0.0.1 and stops it after the test."""
    from instructscale.llm.fake_server import FakeServer

    started = []

    def start(responder=None, **kwargs):
        srv = FakeServer(responder, **kwargs).start()
        started.append(srv)
        return srv

    yield start
    for srv in started:
        srv.stop()
