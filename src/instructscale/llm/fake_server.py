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
reply, as from a small local model. Requests are counted so tests can assert exactly how
many calls were made.
"""

from __future__ import annotations

import argparse
import collections
import importlib
import itertools
import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
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


class FakeServer:
    """Start with `with FakeServer(responder) as srv:` and point a client at `srv.base_url`."""

    def __init__(self, responder: Responder | Sequence[str] | None = None, *, latency_s: float = 0.0,
                 host: str = "127.0.0.1", port: int = 0, model: str = "fake-model", context_tokens: int | None = None):
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
        self.requests: list[dict[str, Any]] = []
        self._faults: collections.deque[Fault] = collections.deque()
        self._always: Fault | None = None
        self._when: Callable[[dict[str, Any]], bool] | None = None
        self._lock = threading.Lock()
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
        if self.path.rstrip("/") in ("/v1/models", "/models"):
            self._json(200, {"object": "list", "data": [{"id": self.server.owner.model, "object": "model",
                                                         "owned_by": "instructscale"}]})
        else:
            self._json(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})

    def do_POST(self):
        owner: FakeServer = self.server.owner
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        if self.path.rstrip("/") not in ("/v1/chat/completions", "/chat/completions"):
            return self._json(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
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
        prompt = sum(estimate_tokens(str(m.get("content") or "")) for m in body.get("messages", []))
        wanted = prompt + int(body.get("max_tokens") or 0)
        if owner.context_tokens is not None and wanted > owner.context_tokens:
            return self._json(400, {"error": {"type": "BadRequestError", "code": 400, "message": (
                f"This model's maximum context length is {owner.context_tokens} tokens. However, you requested "
                f"{wanted} tokens ({prompt} in the messages, {int(body.get('max_tokens') or 0)} in the completion). "
                "Please reduce the length of the messages or completion.")}})
        try:
            text = owner.responder(body)
        except Exception as exc:  # a broken responder is a server error, as on a real server
            return self._json(500, {"error": {"message": f"responder failed: {exc}", "type": "server_error"}})
        completion = estimate_tokens(text)
        self._json(200, {
            "id": f"chatcmpl-{len(owner.requests)}", "object": "chat.completion", "created": int(time.time()),
            "model": body.get("model", owner.model),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion},
        })

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
