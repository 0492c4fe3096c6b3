"""llama.cpp's OpenAI-compatible server (`python -m llama_cpp.server`) serving the packaged
SmolLM2, watched for as long as it runs: the tests' fixture and setup's smoke check share it.

A llama.cpp built for the wrong CPU answers `GET /v1/models` and then dies on the first
completion (a general protection fault in libggml-cpu), so "it started" proves nothing: the
smoke asks for a real completion, and a server that dies at any point is reported with its
exit signal and the tail of its log instead of the client's "connection failed".

    python tests/realmodel/llama_server.py      # smoke: one completion, one line, exit 1 if none
"""

from __future__ import annotations

import importlib.util
import json
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

SERVED = "smollm2"
HAS_SERVER = importlib.util.find_spec("llama_cpp") is not None and importlib.util.find_spec("llama_cpp.server") is not None
SMOKE_QUESTION = "What is the capital of France? Answer in one sentence."


class ServerDied(RuntimeError):
    pass


WATCHED: list[LlamaServer] = []  # the servers tests use, checked around every test (conftest)


class LlamaServer:
    """One server process on a free loopback port; `died()` says how it ended, if it did."""

    def __init__(self, model: Path, log: Path, n_ctx: int = 2048, n_threads: int = 2):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.log = log
        cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--model_alias", SERVED,
               "--host", "127.0.0.1", "--port", str(self.port), "--n_ctx", str(n_ctx), "--n_threads", str(n_threads)]
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
        self.stopping = False
        # says so on stderr the moment the server dies, not only when a test looks
        threading.Thread(target=self._watch, daemon=True).start()

    def _watch(self) -> None:
        self.proc.wait()
        if not self.stopping:
            print(f"\n{self.died()}", file=sys.stderr, flush=True)

    def died(self) -> str | None:
        """None while it runs; else how it ended: exit code or signal, and its log's last lines."""
        rc = self.proc.poll()
        if rc is None or self.stopping:
            return None
        how = f"signal {signal.Signals(-rc).name}" if rc < 0 else f"exit code {rc}"
        tail = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else "(no log)"
        return f"llama.cpp server died ({how}); last lines of {self.log}:\n{tail}"

    def wait_ready(self, timeout_s: float = 180) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            if (why := self.died()) is not None:
                raise ServerDied(why)
            try:
                with urllib.request.urlopen(f"{self.url}/models", timeout=2) as r:
                    if r.status == 200:
                        return
            except (OSError, urllib.error.URLError):
                pass
            if time.monotonic() > deadline:
                raise ServerDied(f"llama.cpp server did not answer in {timeout_s:.0f} s; log: "
                                 f"{self.log.read_text(errors='replace')[-2000:]}")
            time.sleep(1)

    def complete(self, question: str, max_tokens: int = 32, timeout_s: float = 120) -> str:
        """One chat completion; a server that dies on it raises ServerDied with the reason."""
        body = json.dumps({"model": SERVED, "max_tokens": max_tokens, "temperature": 0,
                           "messages": [{"role": "user", "content": question}]}).encode()
        request = urllib.request.Request(f"{self.url}/chat/completions", data=body,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=timeout_s) as r:
                return json.loads(r.read())["choices"][0]["message"]["content"]
        except (OSError, urllib.error.URLError, KeyError, ValueError) as e:
            time.sleep(0.5)  # a dying process may take a moment to be reaped
            raise ServerDied(self.died() or f"no completion from {self.url}: {e}") from e

    def stop(self) -> None:
        self.stopping = True
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def needs_llama_server():
    """The tests' skip mark (a failure where CI requires llama.cpp: tests/needs.py)."""
    from needs import needs

    return needs("llama_cpp", HAS_SERVER, "make setup-full (a portable build of llama-cpp-python[server], ~5-10 min)")


def blame_dead_server(report) -> None:
    """A test that failed because a watched server died says so first (signal, log tail), not
    only with the client's "connection failed"; one that passed while it died fails."""
    why = next((why for server in WATCHED if (why := server.died()) is not None), None)
    if why is None or report.when not in ("setup", "call"):
        return
    if report.failed:
        report.longrepr = f"{why}\n\n(the test's own failure follows)\n{report.longrepr}"
    elif report.when == "call":
        report.outcome, report.longrepr = "failed", why


def smoke() -> int:
    """Setup's check: start the server on the packaged SmolLM2 and get one real answer."""
    import tempfile

    from smollm2 import smollm2_gguf

    model = smollm2_gguf()
    if model is None:
        print("llama.cpp smoke: the packaged SmolLM2 is not installed", file=sys.stderr)
        return 1
    started = time.monotonic()
    server = LlamaServer(model, Path(tempfile.mkdtemp(prefix="llama-smoke-")) / "server.log")
    try:
        server.wait_ready()
        answer = server.complete(SMOKE_QUESTION)
    except ServerDied as e:
        print(f"llama.cpp smoke failed: {' '.join(str(e).split())[:600]}", file=sys.stderr)
        return 1
    finally:
        server.stop()
    print(f"llama.cpp smoke: {SMOKE_QUESTION!r} -> {' '.join(answer.split())!r} "
          f"({time.monotonic() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for `needs` (imported by smollm2)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    sys.exit(smoke())
