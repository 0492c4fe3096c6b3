"""SQLite cache of API replies, shared by every stage that calls an LLM.

Key: sha256 over the model, the full messages, the sampling parameters and a `tag`
(e.g. the judge repeat index, so repeats are distinct calls). Value: the reply text.
Only successful replies are stored: a failure is retried next run, never replayed.
WAL mode plus one short transaction per write makes it safe for several processes
writing at once and for `kill -9` (SQLite's journal rolls back a torn write).
The API key is never part of a key or a row.
Identical asks in flight at once (two models that answered alike, judged concurrently)
share one request: the first asks, the others wait for its reply and count as hits.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
import time
from pathlib import Path
from typing import Any

from instructscale.errors import ConfigError, InputError
from instructscale.llm.client import ChatClient, ChatResult

SCHEMA_VERSION = 1


class CacheWriteError(InputError):
    """The cache file cannot take a reply (e.g. its disk is full): the run stops, its output kept."""


class ReplyCache:
    """`cache.get(key)` / `cache.put(key, text)`; `hits` and `misses` count lookups."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.hits = 0
        self.misses = 0
        self.inflight: dict[str, asyncio.Future] = {}  # key -> the first asker's pending result
        try:
            self._db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable against process crashes
            self._migrate()
        except sqlite3.DatabaseError as exc:  # not a database, a folder, no permission, a full disk
            raise InputError(f"cannot use as the reply cache: {exc}", path=self.path) from None

    def _migrate(self) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise ConfigError(f"cache {self.path} has schema v{version}, newer than this instructscale "
                              f"(v{SCHEMA_VERSION}); upgrade or use another --cache")
        if version < 1:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("CREATE TABLE IF NOT EXISTS replies (key TEXT PRIMARY KEY, model TEXT NOT NULL, "
                             "reply TEXT NOT NULL, created REAL NOT NULL)")
            self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            self._db.execute("COMMIT")

    @staticmethod
    def key(model: str, messages: list[dict[str, Any]], params: dict[str, Any], tag: Any = 0) -> str:
        blob = json.dumps({"model": model, "messages": messages, "params": params, "tag": tag},
                          sort_keys=True, ensure_ascii=False, default=str)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()

    def get(self, key: str) -> str | None:
        row = self._db.execute("SELECT reply FROM replies WHERE key = ?", (key,)).fetchone()
        if row is None:
            self.misses += 1
            return None
        self.hits += 1
        return row[0]

    def put(self, key: str, reply: str, model: str = "") -> None:
        try:
            self._db.execute("INSERT OR REPLACE INTO replies (key, model, reply, created) VALUES (?, ?, ?, ?)",
                             (key, model, reply, time.time()))
        except sqlite3.OperationalError as exc:  # a full disk, a read-only file system, a lock held too long
            raise CacheWriteError(f"cannot write the reply cache: {exc}. Results written so far are kept; free "
                                  "space (or use --no-cache) and rerun to do only the rest", path=self.path) from None

    def __len__(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM replies").fetchone()[0]

    def close(self) -> None:
        self._db.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


async def cached_chat(client: ChatClient, cache: ReplyCache | None, messages: list[dict[str, Any]],
                      tag: Any = 0, **overrides: Any) -> ChatResult:
    """`client.chat` behind the cache: a hit makes no request (attempts == 0); only
    successful replies are stored."""
    key = ReplyCache.key(client.config.model, messages, {**client.config.params, **overrides}, tag)
    if cache is None:
        return await client.chat(messages, key=key, **overrides)
    text = cache.get(key)
    if text is not None:
        return ChatResult(text=text, attempts=0)
    pending = cache.inflight.get(key)
    if pending is not None:  # the same ask is already on its way: share its reply
        shared = await asyncio.shield(pending)
        if shared.ok:
            cache.hits += 1
            return ChatResult(text=shared.text, attempts=0)
        return await cached_chat(client, cache, messages, tag, **overrides)  # it failed: ask ourselves
    future = asyncio.get_running_loop().create_future()
    cache.inflight[key] = future
    try:
        result = await client.chat(messages, key=key, **overrides)
    except BaseException as exc:
        future.set_result(ChatResult(text="", attempts=0, error=repr(exc)))
        raise
    finally:
        cache.inflight.pop(key, None)
    future.set_result(result)  # first: the askers waiting for it go on even if storing it fails
    if result.ok:
        cache.put(key, result.text, client.config.model)
    return result
