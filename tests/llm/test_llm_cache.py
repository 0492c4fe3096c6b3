"""The shared SQLite reply cache: keys, successes only, concurrent writers, kill -9."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from instructscale.errors import ConfigError
from instructscale.llm import ChatClient, ClientConfig, ReplyCache, cached_chat
from instructscale.llm.fake_server import Fault

MSG = [{"role": "system", "content": "评分"}, {"role": "user", "content": "问题：1+1\n学生答案：2"}]

WRITER = """
import sys
from instructscale.llm import ReplyCache
cache = ReplyCache(sys.argv[1])
i = 0
while i < int(sys.argv[3]):
    cache.put(ReplyCache.key("m", [{"role": "user", "content": f"{sys.argv[2]}-{i}"}], {}), "得分: 1" * 50, "m")
    i += 1
print("done", flush=True)
"""


def _count(path) -> int:
    with ReplyCache(path) as cache:
        return len(cache)


def test_key_covers_model_messages_params_and_tag():
    k = ReplyCache.key("m", MSG, {"temperature": 1.0, "seed": 0}, 0)
    assert k == ReplyCache.key("m", [dict(m) for m in MSG], {"seed": 0, "temperature": 1.0}, 0)  # order-free
    others = {ReplyCache.key("m2", MSG, {"temperature": 1.0, "seed": 0}, 0),
              ReplyCache.key("m", MSG[:1], {"temperature": 1.0, "seed": 0}, 0),
              ReplyCache.key("m", MSG, {"temperature": 0.5, "seed": 0}, 0),
              ReplyCache.key("m", MSG, {"temperature": 1.0, "seed": 0}, 1)}
    assert k not in others and len(others) == 4


def test_wal_mode_and_versioned_schema(tmp_path):
    path = tmp_path / "c.sqlite"
    with ReplyCache(path) as cache:
        cache.put("k", "v")
        assert cache.get("k") == "v" and cache.get("nope") is None and (cache.hits, cache.misses) == (1, 1)
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA user_version").fetchone()[0] == 1
    db.execute("PRAGMA user_version=99")
    db.close()
    with pytest.raises(ConfigError, match="schema v99"):
        ReplyCache(path)


def test_only_successes_are_cached(fake_server, tmp_path):
    srv = fake_server(["得分: 1"])
    srv.push_faults([Fault.server_error()])
    cfg = ClientConfig(base_url=srv.base_url, model="m", max_attempts=1, backoff_base_s=0.01)

    async def twice():
        async with ChatClient(cfg) as client:
            with ReplyCache(tmp_path / "c.sqlite") as cache:
                return [await cached_chat(client, cache, MSG, tag=0) for _ in range(3)]

    failed, ok, hit = asyncio.run(twice())
    assert not failed.ok and ok.ok and ok.attempts == 1 and hit.text == "得分: 1" and hit.attempts == 0
    assert srv.request_count == 2  # the failure was not replayed; the success was


def test_identical_asks_in_flight_at_once_share_one_request(fake_server, tmp_path):
    srv = fake_server(["得分: 1"], latency_s=0.3)
    cfg = ClientConfig(base_url=srv.base_url, model="m", max_attempts=1, concurrency=4)

    async def together():
        async with ChatClient(cfg) as client:
            with ReplyCache(tmp_path / "c.sqlite") as cache:
                other = [{"role": "user", "content": "another question"}]
                results = await asyncio.gather(*(cached_chat(client, cache, MSG, tag=0) for _ in range(3)),
                                               cached_chat(client, cache, other, tag=0))
                return results, cache.hits

    results, hits = asyncio.run(together())
    assert all(r.ok and r.text == "得分: 1" for r in results)
    assert srv.request_count == 2 and hits == 2  # one request per distinct ask; the two waiters are hits
    assert sorted(r.attempts for r in results) == [0, 0, 1, 1]


def test_waiters_on_a_failed_ask_each_try_themselves(fake_server, tmp_path):
    srv = fake_server(["得分: 1"], latency_s=0.2)
    srv.push_faults([Fault.server_error()])
    cfg = ClientConfig(base_url=srv.base_url, model="m", max_attempts=1, backoff_base_s=0.01, concurrency=4)

    async def together():
        async with ChatClient(cfg) as client:
            with ReplyCache(tmp_path / "c.sqlite") as cache:
                return await asyncio.gather(*(cached_chat(client, cache, MSG, tag=0) for _ in range(2)))

    first, second = asyncio.run(together())
    assert not first.ok and second.ok and srv.request_count == 2


def test_concurrent_writer_processes(tmp_path):
    path = tmp_path / "c.sqlite"
    ReplyCache(path).close()
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(path), f"w{w}", "150"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for w in range(3)]
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0 and "done" in out, err
    assert _count(path) == 450


def test_survives_kill_9_mid_write(tmp_path):
    path = tmp_path / "c.sqlite"
    ReplyCache(path).close()
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path), "k", "1000000"])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and _count(path) < 50:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    with ReplyCache(path) as cache:
        n = len(cache)
        assert n >= 50 and cache._db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        cache.put("after", "still writable")
        assert cache.get("after") == "still writable"
