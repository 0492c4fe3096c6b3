"""A real OpenAI-compatible HTTP server on 127.0.0.1 for tests, benchmarks and the demo.

It serves `/v1/chat/completions` and `/v1/models` from a thread (or as a process:
`python -m instructscale.llm.fake_server --port 8000 --reply "得分: 1"`). Replies come from
a `responder(body) -> str` function or a list of scripted replies; faults can be queued
to hit the next requests in order: 429 with Retry-After, 500, a hang past the client
timeout, a malformed JSON body, a dropped connection, a body cut off mid-way, a 200 with
an empty body, a 500 whose text repeats the request's Authorization header (as some
gateways do). `always(fault, when)` makes every request (or those `when(body)` picks)
fail that way until cleared. With `context_tokens`, a request whose estimated prompt plus
`max_tokens` exceeds it gets vLLM's (and OpenAI's) HTTP 400 "maximum context length"
reply, as from a small local model. With `prefix_cache_tokens`, replies report the prompt
prefix shared with an earlier request as `usage.prompt_tokens_details.cached_tokens`, as
providers with prompt caching do. Requests are counted so tests can assert exactly how
many calls were made.

It also serves the Batch API: `/v1/files` (upload with purpose=batch, `/content` to
download), `/v1/batches` (create, list, retrieve, cancel). Each status check moves a batch
one step along its `BatchScript` (validating, in_progress, finalizing, then completed,
expired, failed or cancelled; `hold_batches()` stops it at in_progress), expired and
cancelled batches leave their last lines unfinished, scripted lines fail with a 500, and
`push_batch_faults` makes batch creation answer 429. Batch lines are answered by the same
responder (and context check) as chat requests, but counted apart, in `batch_lines`.
"""

from __future__ import annotations

import argparse
import collections
import email.parser
import email.policy
import importlib
import itertools
import json
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from instructscale.llm.usage import estimate_tokens

Responder = Callable[[dict[str, Any]], str]


@dataclass(frozen=True)
class Fault:
    kind: str  # rate_limit | server_error | hang | malformed | drop | cut_body | empty_body | echo_auth
    seconds: float = 0.0

    @classmethod
    def rate_limit(cls, retry_after: float = 1.0) -> Fault:
        return cls("rate_limit", retry_after)

    @classmethod
    def server_error(cls) -> Fault:
        return cls("server_error")

    @classmethod
    def hang(cls, seconds: float = 5.0) -> Fault:
        return cls("hang", seconds)

    @classmethod
    def malformed(cls) -> Fault:
        return cls("malformed")

    @classmethod
    def drop(cls) -> Fault:
        return cls("drop")

    @classmethod
    def cut_body(cls) -> Fault:
        """Headers promise the whole body; half of it is sent, then the connection closes."""
        return cls("cut_body")

    @classmethod
    def empty_body(cls) -> Fault:
        return cls("empty_body")

    @classmethod
    def echo_auth(cls) -> Fault:
        """A 500 whose error text repeats the Authorization header it received."""
        return cls("echo_auth")


BATCH_MAX_LINES = 50_000  # OpenAI's limits per batch input file
BATCH_MAX_BYTES = 200 * 1024 * 1024


@dataclass(frozen=True)
class BatchScript:
    """How one batch goes: the statuses it shows, one per status check, the last one final;
    with a final `expired` or `cancelled` the last `unfinished` lines get no reply, and the
    first `fail_lines` lines get a 500 reply."""

    steps: tuple[str, ...] = ("validating", "in_progress", "finalizing", "completed")
    unfinished: int = 0
    fail_lines: int = 0

    @classmethod
    def expired(cls, unfinished: int) -> BatchScript:
        return cls(("validating", "in_progress", "expired"), unfinished=unfinished)

    @classmethod
    def cancelled(cls, unfinished: int) -> BatchScript:
        return cls(("validating", "in_progress", "cancelling", "cancelled"), unfinished=unfinished)

    @classmethod
    def failed(cls) -> BatchScript:
        return cls(("validating", "failed"))


@dataclass
class _Batch:
    obj: dict[str, Any]
    script: BatchScript
    lines: list[dict[str, Any]]
    step: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


class FakeServer:
    """Start with `with FakeServer(responder) as srv:` and point a client at `srv.base_url`."""

    def __init__(self, responder: Responder | Sequence[str] | None = None, *, latency_s: float = 0.0,
                 host: str = "127.0.0.1", port: int = 0, model: str = "fake-model", context_tokens: int | None = None,
                 prefix_cache_tokens: int | None = None):
        if responder is None:
            responder = ["ok"]
        if not callable(responder):
            replies = itertools.cycle(list(responder))
            lock = threading.Lock()

            def responder(body, _r=replies, _l=lock):
                with _l:
                    return next(_r)
        self.responder: Responder = responder
        self.latency_s = latency_s
        self.model = model
        self.context_tokens = context_tokens
        self.prefix_cache_tokens = prefix_cache_tokens
        self._prompts: list[str] = []  # earlier prompts, for the prefix cache
        self.requests: list[dict[str, Any]] = []
        self._faults: collections.deque[Fault] = collections.deque()
        self._always: Fault | None = None
        self._when: Callable[[dict[str, Any]], bool] | None = None
        self._lock = threading.RLock()  # re-entered: batch lines are answered while a batch is held
        self.routes: collections.Counter[str] = collections.Counter()  # "POST /v1/batches" -> calls
        self.files: dict[str, bytes] = {}
        self.batches: dict[str, _Batch] = {}
        self.batch_lines: list[dict[str, Any]] = []  # request bodies answered inside batches
        self._batch_scripts: collections.deque[BatchScript] = collections.deque()
        self._batch_faults: collections.deque[Fault] = collections.deque()
        self._hold = False
        self._httpd = _Server((host, port), _Handler)
        self._httpd.owner = self
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    @property
    def request_count(self) -> int:
        with self._lock:
            return len(self.requests)

    def push_faults(self, faults: Sequence[Fault]) -> None:
        """Queue faults; each hits the next chat request in order."""
        with self._lock:
            self._faults.extend(faults)

    def always(self, fault: Fault | None, when: Callable[[dict[str, Any]], bool] | None = None) -> None:
        """Fail every request (after the queued faults), or those `when(body)` picks, with
        `fault`; None: healthy again."""
        with self._lock:
            self._always, self._when = fault, when

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self._faults.clear()
            self._always = self._when = None

    def push_batch_scripts(self, scripts: Sequence[BatchScript]) -> None:
        """Queue how the next created batches go (default: straight to completed)."""
        with self._lock:
            self._batch_scripts.extend(scripts)

    def push_batch_faults(self, faults: Sequence[Fault]) -> None:
        """Queue faults (only `rate_limit` and `server_error`) for the next batch creations."""
        with self._lock:
            self._batch_faults.extend(faults)

    def hold_batches(self, hold: bool = True) -> None:
        """Keep every batch at in_progress (a 24 h window in tests) until released."""
        with self._lock:
            self._hold = hold

    def complete(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """Status and body of the reply to one chat request, as served online and in batches."""
        prompt = sum(estimate_tokens(str(m.get("content") or "")) for m in body.get("messages", []))
        wanted = prompt + int(body.get("max_tokens") or 0)
        if self.context_tokens is not None and wanted > self.context_tokens:
            return 400, {"error": {"type": "BadRequestError", "code": 400, "message": (
                f"This model's maximum context length is {self.context_tokens} tokens. However, you requested "
                f"{wanted} tokens ({prompt} in the messages, {int(body.get('max_tokens') or 0)} in the completion). "
                "Please reduce the length of the messages or completion.")}}
        try:
            text = self.responder(body)
        except Exception as exc:  # a broken responder is a server error, as on a real server
            return 500, {"error": {"message": f"responder failed: {exc}", "type": "server_error"}}
        completion = estimate_tokens(text)
        usage = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
        if self.prefix_cache_tokens is not None:
            usage["prompt_tokens_details"] = {"cached_tokens": self._cached_prefix(body["messages"])}
        return 200, {
            "id": f"chatcmpl-{len(self.requests) + len(self.batch_lines)}", "object": "chat.completion",
            "created": int(time.time()), "model": body.get("model", self.model),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": usage,
        }

    def _cached_prefix(self, messages: list[dict[str, Any]]) -> int:
        """Tokens of the longest prefix this prompt shares with an earlier one, counted only
        from `prefix_cache_tokens` on (OpenAI: 1,024), as a provider's prompt cache would."""
        prompt = "".join(f"<{m.get('role')}>{m.get('content') or ''}" for m in messages)
        with self._lock:
            shared = max((len(os.path.commonprefix([prompt, p])) for p in self._prompts), default=0)
            self._prompts.append(prompt)
        tokens = sum(estimate_tokens(m.get("content") or "") for m in messages) if shared == len(prompt) else \
            estimate_tokens(prompt[:shared])
        return tokens if tokens >= self.prefix_cache_tokens else 0

    # the Batch API ----------------------------------------------------------------------

    def add_file(self, data: bytes, purpose: str, filename: str) -> dict[str, Any]:
        with self._lock:
            file_id = f"file-{len(self.files) + 1}"
            self.files[file_id] = data
        return {"id": file_id, "object": "file", "bytes": len(data), "created_at": int(time.time()),
                "filename": filename, "purpose": purpose}

    def create_batch(self, req: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str] | None]:
        with self._lock:
            fault = self._batch_faults.popleft() if self._batch_faults else None
        if fault is not None and fault.kind == "rate_limit":
            return 429, {"error": {"message": "Enqueued token limit reached", "type": "rate_limit_exceeded"}}, \
                {"Retry-After": f"{fault.seconds:g}"}
        if fault is not None:
            return 500, {"error": {"message": "internal error", "type": "server_error"}}, None
        data = self.files.get(req.get("input_file_id", ""))
        if data is None:
            return 404, {"error": {"message": f"no file {req.get('input_file_id')}", "type": "invalid_request"}}, None
        if req.get("completion_window") != "24h" or req.get("endpoint") != "/v1/chat/completions":
            return 400, {"error": {"message": "endpoint must be /v1/chat/completions and completion_window 24h",
                                   "type": "invalid_request"}}, None
        lines = [json.loads(x) for x in data.decode("utf-8").splitlines() if x.strip()]
        errors = _input_errors(lines, len(data))
        with self._lock:
            script = BatchScript(("validating", "failed")) if errors else (
                self._batch_scripts.popleft() if self._batch_scripts else BatchScript())
            batch_id = f"batch_{len(self.batches) + 1}"
            obj = {"id": batch_id, "object": "batch", "endpoint": req["endpoint"], "errors": None,
                   "input_file_id": req["input_file_id"], "completion_window": "24h", "status": script.steps[0],
                   "output_file_id": None, "error_file_id": None, "created_at": int(time.time()),
                   "request_counts": {"total": len(lines), "completed": 0, "failed": 0},
                   "metadata": req.get("metadata")}
            self.batches[batch_id] = _Batch(obj, script, lines, extra={"errors": errors})
        return 200, dict(obj), None

    def check_batch(self, batch_id: str) -> dict[str, Any] | None:
        """The batch after one more step of its script; at a final status its files are made."""
        with self._lock:
            b = self.batches.get(batch_id)
            if b is None:
                return None
            if not (self._hold and b.script.steps[b.step] == "in_progress") and b.step < len(b.script.steps) - 1:
                b.step += 1
                b.obj["status"] = b.script.steps[b.step]
                if b.step == len(b.script.steps) - 1:
                    self._finish(b)
            return dict(b.obj)

    def cancel_batch(self, batch_id: str) -> dict[str, Any] | None:
        with self._lock:
            b = self.batches.get(batch_id)
            if b is None:
                return None
            if b.obj["status"] in ("validating", "in_progress", "finalizing"):
                b.script = BatchScript(("cancelling", "cancelled"), unfinished=len(b.lines))
                b.step, b.obj["status"] = 0, "cancelling"
            return dict(b.obj)

    def _finish(self, b: _Batch) -> None:
        status, script = b.obj["status"], b.script
        if status == "failed":
            b.obj["errors"] = {"object": "list", "data": b.extra["errors"] or [
                {"code": "invalid_request", "message": "scripted failure", "line": None}]}
            return
        done = len(b.lines) - (script.unfinished if status in ("expired", "cancelled") else 0)
        out, err = [], []
        for n, line in enumerate(b.lines):
            rid = f"batch_req_{b.obj['id']}_{n}"
            if n >= done:
                code = "batch_expired" if status == "expired" else "batch_cancelled"
                err.append({"id": rid, "custom_id": line["custom_id"], "response": None, "error": {
                    "code": code, "message": "This request could not be executed before the batch ended."}})
                continue
            if n < script.fail_lines:
                code, body = 500, {"error": {"message": "internal error", "type": "server_error"}}
            else:
                self.batch_lines.append(line["body"])
                code, body = self.complete(line["body"])
            row = {"id": rid, "custom_id": line["custom_id"], "error": None,
                   "response": {"status_code": code, "request_id": rid, "body": body}}
            (out if code == 200 else err).append(row)
        for rows, key in ((out, "output_file_id"), (err, "error_file_id")):
            if rows:
                file_id = f"file-{len(self.files) + 1}"
                self.files[file_id] = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode()
                b.obj[key] = file_id
        b.obj["request_counts"] = {"total": len(b.lines), "completed": len(out), "failed": len(err)}

    def start(self) -> FakeServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def serve_forever(self) -> None:
        try:
            self._httpd.serve_forever()
        finally:
            self._httpd.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def _record(self, body: dict) -> Fault | None:
        with self._lock:
            self.requests.append(body)
            if self._faults:
                return self._faults.popleft()
            return self._always if self._when is None or self._when(body) else None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 256
    owner: FakeServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real servers do
    disable_nagle_algorithm = True  # headers and body go out in two writes: avoid a 40 ms delayed-ACK stall

    def log_message(self, *args):  # quiet
        pass

    def do_GET(self):
        owner: FakeServer = self.server.owner
        path = self.path.split("?")[0].rstrip("/").removeprefix("/v1")
        with owner._lock:
            owner.routes[f"GET /v1{_route(path)}"] += 1
        parts = path.split("/")
        if path == "/models":
            self._json(200, {"object": "list", "data": [{"id": owner.model, "object": "model",
                                                         "owned_by": "instructscale"}]})
        elif path == "/batches":
            data = [dict(b.obj) for b in reversed(list(owner.batches.values()))]
            self._json(200, {"object": "list", "data": data, "has_more": False,
                             "first_id": data[0]["id"] if data else None, "last_id": data[-1]["id"] if data else None})
        elif len(parts) == 3 and parts[1] == "batches":
            batch = owner.check_batch(parts[2])
            self._json(200, batch) if batch else self._not_found()
        elif len(parts) == 4 and parts[1] == "files" and parts[3] == "content":
            data = owner.files.get(parts[2])
            self._send(200, data, "application/octet-stream") if data is not None else self._not_found()
        else:
            self._not_found()

    def _not_found(self):
        self._json(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})

    def do_POST(self):
        owner: FakeServer = self.server.owner
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        path = self.path.split("?")[0].rstrip("/").removeprefix("/v1")
        with owner._lock:
            owner.routes[f"POST /v1{_route(path)}"] += 1
        if path == "/files":
            return self._upload(raw)
        if path == "/batches":
            status, obj, headers = owner.create_batch(json.loads(raw or b"{}"))
            return self._json(status, obj, headers=headers)
        parts = path.split("/")
        if len(parts) == 4 and parts[1] == "batches" and parts[3] == "cancel":
            batch = owner.cancel_batch(parts[2])
            return self._json(200, batch) if batch else self._not_found()
        if path != "/chat/completions":
            return self._not_found()
        try:
            body = json.loads(raw)
        except json.JSONDecodeError:
            return self._json(400, {"error": {"message": "request body is not JSON", "type": "invalid_request"}})
        if body.get("stream"):
            return self._json(400, {"error": {"message": "streaming is not supported", "type": "invalid_request"}})
        fault = owner._record(body)
        if owner.latency_s:
            time.sleep(owner.latency_s)
        if fault is not None:
            return self._fault(fault, self.headers.get("Authorization", ""))
        self._json(*owner.complete(body))

    def _upload(self, raw: bytes):
        """multipart/form-data with `purpose` and `file`, as the OpenAI SDK sends it."""
        msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            f"Content-Type: {self.headers.get('Content-Type', '')}\r\n\r\n".encode() + raw)
        fields = {}
        for part in msg.iter_parts() if msg.is_multipart() else ():
            fields[part.get_param("name", header="content-disposition")] = (
                part.get_filename(), part.get_payload(decode=True))
        if "file" not in fields or fields.get("purpose", (None, b""))[1] != b"batch":
            return self._json(400, {"error": {"message": "expected multipart with file and purpose=batch",
                                              "type": "invalid_request"}})
        filename, data = fields["file"]
        self._json(200, self.server.owner.add_file(data, "batch", filename or "upload.jsonl"))

    def _fault(self, fault: Fault, authorization: str):
        if fault.kind == "rate_limit":
            return self._json(429, {"error": {"message": "rate limited", "type": "rate_limit_exceeded"}},
                              headers={"Retry-After": f"{fault.seconds:g}"})
        if fault.kind == "server_error":
            return self._json(500, {"error": {"message": "internal error", "type": "server_error"}})
        if fault.kind == "malformed":
            return self._send(200, b'{"id": "x", "choices": [{"message": ', "application/json")
        if fault.kind == "hang":
            time.sleep(fault.seconds)
            self.close_connection = True
            return None
        if fault.kind == "drop":
            self.close_connection = True
            self.connection.shutdown(2)
            return None
        if fault.kind == "cut_body":
            data = json.dumps({"id": "x", "object": "chat.completion", "choices": [
                {"index": 0, "message": {"role": "assistant", "content": "a reply cut off " * 20}}]}).encode()
            self.close_connection = True
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.connection.shutdown(2)
            return None
        if fault.kind == "empty_body":
            return self._send(200, b"", "application/json")
        if fault.kind == "echo_auth":
            key = authorization.rpartition(" ")[2]
            return self._json(500, {"error": {"message": f"upstream rejected request with headers "
                                              f"Authorization: {authorization} (key {key})", "type": "server_error"}})
        raise ValueError(f"unknown fault {fault.kind}")

    def _json(self, status: int, obj: dict, headers: dict[str, str] | None = None):
        self._send(status, json.dumps(obj, ensure_ascii=False).encode("utf-8"), "application/json", headers)

    def _send(self, status: int, data: bytes, ctype: str, headers: dict[str, str] | None = None):
        try:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass


def _route(path: str) -> str:
    """A path with its ids replaced, for counting calls per endpoint."""
    parts = path.split("/")
    if len(parts) >= 3 and parts[1] in ("batches", "files"):
        parts[2] = "{id}"
    return "/".join(parts)


def _input_errors(lines: list[dict[str, Any]], size: int) -> list[dict[str, Any]]:
    """Why OpenAI would reject a batch input file (empty: it would not)."""
    if len(lines) > BATCH_MAX_LINES or size > BATCH_MAX_BYTES:
        return [{"code": "too_large", "message": f"{len(lines)} lines, {size} bytes", "line": None}]
    seen: set[str] = set()
    for n, line in enumerate(lines, 1):
        cid = line.get("custom_id")
        if not cid or cid in seen or line.get("method") != "POST" or line.get("url") != "/v1/chat/completions":
            return [{"code": "invalid_request", "message": "bad or repeated custom_id, method or url", "line": n}]
        seen.add(cid)
    return []


def _load_responder(spec: str) -> Responder:
    module, _, name = spec.partition(":")
    obj = getattr(importlib.import_module(module), name)
    return obj() if isinstance(obj, type) else obj


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Fake OpenAI-compatible server for tests and benchmarks.")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8000)
    ap.add_argument("--latency", type=float, default=0.0, help="seconds added to every reply")
    ap.add_argument("--reply", action="append", help="scripted reply (repeat for a cycle)")
    ap.add_argument("--responder", help="module:function taking the request body, returning the reply")
    args = ap.parse_args(argv)
    responder = _load_responder(args.responder) if args.responder else (args.reply or ["ok"])
    srv = FakeServer(responder, latency_s=args.latency, host=args.host, port=args.port)
    print(f"serving on {srv.base_url}", flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
