"""Batch mode: the same asks as online, sent as OpenAI Batch API jobs (half the price).

`BatchChatClient.chat` has the online client's signature, so stages keep their one path
(cache, parser, re-asks, records): an ask is queued instead of sent; once no worker has
anything else to do (the event loop settles), the queue goes out as batch files split at
50,000 lines / 200 MB, the batch ids are written to a journal beside the stage output
BEFORE any waiting, and the batches are polled; each output line resolves its asks like
an online reply. Lines that expired, were cancelled, failed in a failed batch or got a
retryable HTTP status are resubmitted alone in a next batch (up to `max_attempts`);
re-asks that replies cause go out as a next, smaller batch the same way.

The journal makes reruns safe: a rerun (also after kill -9) attaches each ask whose line
id is in a recorded batch to that batch and polls it, so a batch is never submitted twice;
an upload recorded without its batch (killed in between) is looked up among the server's
batches by input file before anything is sent. Downloaded output files are kept beside
the journal. With `batch_wait_s` set, a run stops waiting after that long: its waiting
asks fail as `batch pending` (the stages record them as API failures a rerun redoes, so a
study unit is `partial` with that message) and the batches keep running for the rerun.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import openai

from instructscale.console import console
from instructscale.llm.client import _RETRY_STATUS, ChatClient, ChatResult, ClientConfig, _retry_after, _short, \
    read_completion

MAX_LINES = 50_000  # OpenAI's limits per batch input file
MAX_BYTES = 200 * 1024 * 1024
FINAL = {"completed", "expired", "failed", "cancelled"}
PENDING = "batch pending: "  # prefix of the error of an ask left waiting when a run stops waiting
SETTLE_PASSES = 50  # event-loop passes without a new ask before the queue goes out


def journal_dir(out: str | Path) -> Path:
    """Where a stage's batch journal and downloaded outputs live: beside its output."""
    out = Path(out)
    return out.with_name(out.name + ".batches")


def open_client(config: ClientConfig, out: str | Path) -> ChatClient:
    """The client a stage uses: online, or batch mode with its journal beside `out`."""
    return BatchChatClient(config, journal_dir(out)) if config.batch else ChatClient(config)


def worker_count(config: ClientConfig, asks: int) -> int:
    """Workers for `asks` asks: `concurrency` online; in batch mode one per ask, so all
    first asks go out in the first batch."""
    return max(1, min(asks, MAX_LINES * 20 if config.batch else config.concurrency))


def split_lines(lines: list[bytes], max_lines: int = MAX_LINES, max_bytes: int = MAX_BYTES) -> list[list[bytes]]:
    """Batch input files within the limits, in order."""
    files: list[list[bytes]] = [[]]
    size = 0
    for line in lines:
        if files[-1] and (len(files[-1]) >= max_lines or size + len(line) > max_bytes):
            files.append([])
            size = 0
        files[-1].append(line)
        size += len(line)
    return [f for f in files if f]


@dataclass
class _Line:
    custom_id: str
    body: dict[str, Any]
    futures: list[asyncio.Future] = field(default_factory=list)
    attempts: int = 0
    batch_id: str | None = None
    result: ChatResult | None = None


@dataclass
class _Running:
    batch_id: str
    custom_ids: list[str]
    status: str = ""


class BatchChatClient(ChatClient):
    """`async with BatchChatClient(cfg, journal_dir) as client: await client.chat(messages, key)`."""

    def __init__(self, config: ClientConfig, directory: Path):
        super().__init__(config)
        self.usage.batch = True
        self.dir = Path(directory)
        self.journal = self.dir / "journal.jsonl"
        self._lines: dict[str, _Line] = {}
        self._queue: list[_Line] = []
        self._running: dict[str, _Running] = {}
        self._recorded: dict[str, str] = {}  # custom_id -> the last recorded batch holding it, not collected
        self._outputs: dict[str, dict] = {}  # custom_id -> a successful output row of a collected batch
        self._orphans: list[dict] = []  # uploads recorded without their batch
        self._version = 0
        self._wake = asyncio.Event()
        self._driver: asyncio.Task | None = None
        self._started: float | None = None
        self._gave_up = False
        self._load()

    # the journal --------------------------------------------------------------------------

    def _load(self) -> None:
        if not self.journal.exists():
            return
        uploads: dict[str, dict] = {}
        for raw in self.journal.read_text(encoding="utf-8").splitlines():
            try:
                event = json.loads(raw)
            except json.JSONDecodeError:  # a torn last line from a kill: that step is redone
                continue
            if event["event"] == "upload":
                uploads[event["file_id"]] = event
            elif event["event"] == "created":
                up = uploads.pop(event["file_id"], {"custom_ids": event.get("custom_ids", [])})
                self._running_record(event["batch_id"], up["custom_ids"])
            elif event["event"] == "collected":
                self._running.pop(event["batch_id"], None)
                self._read_output(event["batch_id"])
        self._orphans = list(uploads.values())

    def _running_record(self, batch_id: str, custom_ids: list[str]) -> None:
        self._running[batch_id] = _Running(batch_id, custom_ids)
        for cid in custom_ids:
            self._recorded[cid] = batch_id

    def _read_output(self, batch_id: str) -> None:
        path = self.dir / f"{batch_id}.output.jsonl"
        for raw in path.read_text(encoding="utf-8").splitlines() if path.exists() else ():
            row = json.loads(raw)
            if (row.get("response") or {}).get("status_code") == 200:
                self._outputs[row["custom_id"]] = row
            if self._recorded.get(row["custom_id"]) == batch_id:
                del self._recorded[row["custom_id"]]

    def _record(self, event: dict) -> None:
        """One journal line, on disk (fsync) before the next step."""
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.journal, "a", encoding="utf-8") as f:
            f.write(json.dumps(event, ensure_ascii=False) + "\n")
            f.flush()
            os.fsync(f.fileno())

    # asking -------------------------------------------------------------------------------

    async def __aexit__(self, *exc):
        if self._driver is not None:
            self._driver.cancel()
        waiting = sorted({r.batch_id for r in self._running.values() if r.status not in FINAL})
        if waiting:
            console.print(f"[yellow]{len(waiting)} batches still running ({', '.join(waiting[:5])}"
                          f"{', ...' if len(waiting) > 5 else ''}), recorded in {self.journal}; rerun the same "
                          "command to collect them (nothing is submitted twice)[/yellow]")
        await super().__aexit__(*exc)

    async def chat(self, messages: list[dict[str, str]], key: str | None = None, **overrides: Any) -> ChatResult:
        body = {"model": self.config.model, "messages": messages, **self.config.params, **overrides}
        cid = key or hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
        line = self._lines.get(cid)
        if line is not None and line.result is not None:
            return line.result
        if line is None:
            line = self._lines[cid] = _Line(cid, body)
            if cid in self._outputs:
                self._resolve(line, self._result(line, self._outputs[cid]))
                return line.result
            if cid in self._recorded:  # in a batch of an earlier run: wait for that one
                line.batch_id, line.attempts = self._recorded[cid], 1
            else:
                self._queue.append(line)
        future = asyncio.get_running_loop().create_future()
        line.futures.append(future)
        self._version += 1
        self._wake.set()
        if self._driver is None:
            self._driver = asyncio.create_task(self._drive())
        return await future

    def _resolve(self, line: _Line, result: ChatResult) -> None:
        line.result = result
        if result.ok:
            self.usage.add(result)
        else:
            self.usage.failures += 1
            kind = (result.error or "").split(":")[0]
            self.usage.errors[kind] = self.usage.errors.get(kind, 0) + 1
        for f in line.futures:
            if not f.done():
                f.set_result(result)
        line.futures.clear()
        self._version += 1

    def _result(self, line: _Line, row: dict) -> ChatResult:
        result, error = read_completion(row["response"]["body"], line.body["messages"])
        if result is None:
            return ChatResult(text=None, error=error, attempts=line.attempts)
        result.attempts = line.attempts
        return result

    # the driver: submit when settled, poll, collect -------------------------------------------

    async def _drive(self) -> None:
        try:
            while True:
                await self._settle()
                if self._queue:
                    await self._submit()
                active = self._active()
                if active and self._started is None:
                    self._started = time.monotonic()
                if not active:
                    self._wake.clear()
                    if not self._queue:
                        await self._wake.wait()
                    continue
                if self._gave_up or (self.config.batch_wait_s is not None
                                     and time.monotonic() - self._started > self.config.batch_wait_s):
                    self._give_up(active)
                    continue
                for run in active:
                    await self._poll(run)
                if self._active() and not self._queue:
                    self._wake.clear()
                    try:
                        await asyncio.wait_for(self._wake.wait(), self.config.batch_poll_s)
                    except asyncio.TimeoutError:
                        pass
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # never leave a worker waiting forever
            error = f"batch: {type(exc).__name__}: {_short(str(exc))}"
            for line in self._lines.values():
                if line.result is None and line.futures:
                    self._resolve(line, ChatResult(text=None, error=error, attempts=line.attempts))

    async def _settle(self) -> None:
        """Return once SETTLE_PASSES loop passes brought no new ask: every worker waits."""
        seen, quiet = -1, 0
        while quiet < SETTLE_PASSES:
            await asyncio.sleep(0)
            quiet = quiet + 1 if self._version == seen else 0
            seen = self._version

    def _active(self) -> list[_Running]:
        """Batches that asks of this run wait for."""
        wanted = {line.batch_id for line in self._lines.values() if line.result is None and line.futures}
        return [r for r in self._running.values() if r.batch_id in wanted]

    async def _submit(self) -> None:
        if self._orphans:
            await self._adopt_orphans()
        lines, self._queue = [line for line in self._queue if line.result is None and line.batch_id is None], []
        rows = {line.custom_id: (json.dumps({"custom_id": line.custom_id, "method": "POST",
                                             "url": "/v1/chat/completions", "body": line.body},
                                            ensure_ascii=False) + "\n").encode() for line in lines}
        by_id = {line.custom_id: line for line in lines}
        for chunk in split_lines(list(rows.values())):
            ids = [json.loads(row)["custom_id"] for row in chunk]
            try:
                upload = await self._call(self._sdk.files.create, file=("batch.jsonl", b"".join(chunk)),
                                          purpose="batch")
                self._record({"event": "upload", "file_id": upload.id, "custom_ids": ids})
                batch = await self._call(self._sdk.batches.create, input_file_id=upload.id,
                                         endpoint="/v1/chat/completions", completion_window="24h")
            except _ApiError as exc:
                for cid in ids:
                    self._resolve(by_id[cid], ChatResult(text=None, error=f"batch submit: {exc}",
                                                         attempts=by_id[cid].attempts))
                continue
            self._record({"event": "created", "batch_id": batch.id, "file_id": upload.id})
            self._running_record(batch.id, ids)
            self.usage.batches += 1
            self.usage.requests += len(ids)
            for cid in ids:
                by_id[cid].batch_id = batch.id
                by_id[cid].attempts += 1
            console.print(f"batch {batch.id}: {len(ids)} requests submitted")

    async def _adopt_orphans(self) -> None:
        """Uploads recorded without their batch: a batch the server made from one is taken
        over (the run was killed after creating it), so it is not created twice."""
        by_file = {}
        async for b in self._sdk.batches.list(limit=100):
            by_file.setdefault(b.input_file_id, b.id)
        for up in self._orphans:
            if up["file_id"] in by_file:
                self._record({"event": "created", "batch_id": by_file[up["file_id"]], "file_id": up["file_id"]})
                self._running_record(by_file[up["file_id"]], up["custom_ids"])
                for cid in up["custom_ids"]:
                    line = self._lines.get(cid)
                    if line is not None and line.result is None and line.batch_id is None:
                        line.batch_id, line.attempts = by_file[up["file_id"]], 1
        self._orphans = []

    async def _poll(self, run: _Running) -> None:
        try:
            batch = await self._call(self._sdk.batches.retrieve, run.batch_id)
        except _ApiError as exc:
            console.print(f"[yellow]batch {run.batch_id}: status check failed ({exc}); trying again[/yellow]")
            return
        counts = batch.request_counts
        if batch.status != run.status:
            done = f" ({counts.completed + counts.failed}/{counts.total} lines done)" if counts else ""
            console.print(f"batch {run.batch_id}: {batch.status}{done}")
            run.status = batch.status
        if batch.status in FINAL:
            await self._collect(batch, run)

    async def _collect(self, batch, run: _Running) -> None:
        rows: dict[str, dict] = {}
        text = ""
        for file_id in (batch.output_file_id, batch.error_file_id):
            if file_id:
                content = await self._call(self._sdk.files.content, file_id)
                text += content.text if content.text.endswith("\n") or not content.text else content.text + "\n"
        for raw in text.splitlines():
            row = json.loads(raw)
            rows[row["custom_id"]] = row
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / f"{run.batch_id}.output.jsonl").write_text(text, encoding="utf-8")
        self._record({"event": "collected", "batch_id": run.batch_id, "status": batch.status})
        del self._running[run.batch_id]
        why = _batch_error(batch)
        retry = 0
        for cid in run.custom_ids:
            if self._recorded.get(cid) == run.batch_id:
                del self._recorded[cid]
            line = self._lines.get(cid)
            if line is None or line.result is not None or line.batch_id != run.batch_id:
                continue
            row = rows.get(cid)
            status = ((row or {}).get("response") or {}).get("status_code")
            if status == 200:
                self._resolve(line, self._result(line, row))
                continue
            error, retryable = _line_error(row, status, why)
            line.batch_id = None
            if retryable and line.attempts < self.config.max_attempts:
                self._queue.append(line)
                self.usage.retries += 1
                retry += 1
            else:
                self._resolve(line, ChatResult(text=None, attempts=line.attempts, error=(
                    f"gave up after {line.attempts} attempts: {error}" if retryable else error)))
        if retry:
            console.print(f"batch {run.batch_id}: {retry} unfinished lines go out again in the next batch")

    def _give_up(self, active: list[_Running]) -> None:
        self._gave_up = True
        ids = ", ".join(r.batch_id for r in active[:3]) + (", ..." if len(active) > 3 else "")
        for line in self._lines.values():
            if line.result is None and line.futures and line.batch_id is not None:
                for f in line.futures:
                    if not f.done():
                        f.set_result(ChatResult(text=None, attempts=line.attempts, error=(
                            f"{PENDING}{line.batch_id} still {self._running[line.batch_id].status or 'running'} "
                            f"(waiting for {ids}; ids in {self.journal}); rerun to collect")))
                line.futures.clear()
        self._version += 1

    async def _call(self, fn, *args, **kwargs):
        """One Batch API call with the online client's retries (429 with Retry-After, 5xx,
        timeouts); raises _ApiError with the reason after the last attempt."""
        error = ""
        for attempt in range(1, self.config.max_attempts + 1):
            try:
                return await fn(*args, **kwargs)
            except openai.APIStatusError as exc:
                error = f"http {exc.status_code}: {_short(exc.message)}"
                if exc.status_code not in _RETRY_STATUS:
                    raise _ApiError(error) from None
                wait = _retry_after(exc.response.headers)
            except (openai.APITimeoutError, openai.APIConnectionError) as exc:
                error, wait = f"connection: {_short(str(exc.__cause__ or exc))}", 0.0
            kind = error.split(":")[0]
            self.usage.errors[kind] = self.usage.errors.get(kind, 0) + 1
            if attempt < self.config.max_attempts:
                self.usage.retries += 1
                await asyncio.sleep(wait or self._backoff(attempt))
        raise _ApiError(f"gave up after {self.config.max_attempts} attempts: {error}")


class _ApiError(Exception):
    pass


def _batch_error(batch) -> str:
    errors = getattr(batch, "errors", None)
    data = getattr(errors, "data", None) or []
    detail = f": {_short(data[0].message or '')}" if data else ""
    return f"batch {batch.status}{detail}"


def _line_error(row: dict | None, status: int | None, why: str) -> tuple[str, bool]:
    """An unanswered line's error in the online client's words, and whether to send it again."""
    if row is None:  # no line at all: the batch failed, expired or was cancelled before it
        return why, True
    if status is not None:
        message = ((row["response"].get("body") or {}).get("error") or {}).get("message", "")
        return f"http {status}: {_short(message)}", status in _RETRY_STATUS
    code = (row.get("error") or {}).get("code") or "error"
    return f"batch line {code}: {_short((row.get('error') or {}).get('message') or '')}", True
