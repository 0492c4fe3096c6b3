"""Running an answer's code against an item's tests: in a bubblewrap sandbox (judge/sandbox.py)
with resource limits and a time limit, through a harness (judge/code_harness.py) that
counts the tests as passed only when they ran to their end.

Without a working sandbox the code is not run (the item is unscored, with the reason)
unless INSTRUCTSCALE_ALLOW_UNSANDBOXED_CODE=1: then it runs as the caller, limits and the
harness still applied, but with the caller's file system, network and processes in reach.
"""

from __future__ import annotations

import json
import math
import os
import re
import secrets
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from instructscale.judge.sandbox import ALLOW_ENV, run_command, sandbox_problem, unsandboxed_allowed

_FENCE = re.compile(r"```[ \t]*([\w+#-]*)[^\n]*\n(.*?)```", re.S)
HARNESS = Path(__file__).with_name("code_harness.py")
MEMORY_BYTES = 256 * 2**20  # address space: the interpreter and a test's data, not a 300 MB allocation
FILE_BYTES = 16 * 2**20
PROCESSES = 64  # processes and threads of the sandbox's user
OPEN_FILES = 64
NOT_RUN = "code not run: "  # prefix of the reason an item is unscored for want of a sandbox


@dataclass(frozen=True)
class CodeRun:
    passed: bool
    detail: str
    ran: bool = True  # False: not run (no sandbox), so no score


def extract_code(answer: str) -> str:
    """The fenced code blocks of a reply (Python or untagged ones, joined), or the whole
    reply when it has no fences."""
    blocks = [(lang.lower(), body) for lang, body in _FENCE.findall(answer)]
    chosen = [body for lang, body in blocks if lang in ("", "python", "py", "python3")] or [b for _, b in blocks]
    return "\n\n".join(chosen).strip() if chosen else answer.strip()


def code_limits(timeout_s: float) -> dict[str, int]:
    return {"RLIMIT_AS": MEMORY_BYTES, "RLIMIT_CPU": math.ceil(timeout_s) + 1, "RLIMIT_FSIZE": FILE_BYTES,
            "RLIMIT_NPROC": PROCESSES, "RLIMIT_NOFILE": OPEN_FILES, "RLIMIT_CORE": 0}


def run_tests(code: str, tests: str, timeout_s: float = 10.0) -> CodeRun:
    problem = sandbox_problem()
    if problem and not unsandboxed_allowed():
        return CodeRun(False, f"{NOT_RUN}no sandbox: {problem}; set {ALLOW_ENV}=1 to run it unsandboxed",
                       ran=False)
    nonce = secrets.token_hex(16)
    nonce_r, nonce_w = os.pipe()
    result_r, result_w = os.pipe()
    try:
        os.write(nonce_w, nonce.encode())
        os.close(nonce_w)
        with tempfile.TemporaryFile() as task:
            task.write(json.dumps({"code": code, "tests": tests}).encode())
            task.seek(0)
            argv = [sys.executable, "-I", "-c", HARNESS.read_text(encoding="utf-8"), str(nonce_r), str(result_w),
                    json.dumps(code_limits(timeout_s))]
            done = run_command(argv, stdin=task.fileno(), pass_fds=(nonce_r, result_w), ready_fd=result_r,
                               timeout_s=timeout_s, sandboxed=problem is None)
        verdict = _read_available(result_r)
    finally:
        os.close(result_r)
    started = verdict.startswith(f"{nonce} start\n")
    verdict = verdict.removeprefix(f"{nonce} start\n")
    if done.timed_out and started:
        return CodeRun(False, f"time limit {timeout_s:g}s exceeded")
    if verdict == f"{nonce} pass":
        return CodeRun(True, "tests passed")
    if verdict.startswith(f"{nonce} fail "):
        return CodeRun(False, verdict[len(nonce) + 6:])
    last = done.stderr.strip().splitlines()[-1:] or [f"exit code {done.returncode}"]
    if not started:  # the sandbox (or the interpreter) failed before the code ran: redone next run
        return CodeRun(False, f"{NOT_RUN}the sandbox failed: {last[0]}", ran=False)
    return CodeRun(False, f"the tests did not run to their end ({last[0]})")


def _read_available(fd: int) -> str:
    """What the harness wrote, without waiting for writers that may still hold the pipe."""
    os.set_blocking(fd, False)
    chunks = []
    try:
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
    except BlockingIOError:
        pass
    return b"".join(chunks).decode("utf-8", "replace")
