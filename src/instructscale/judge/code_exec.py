"""Running an answer's code against an item's tests in a separate process with a time limit.

The code runs in a fresh `python -I` process in a temporary directory, in its own
process group so an endless loop (or anything it spawned) is killed at the limit.
This isolates crashes and hangs, not malice: do not score untrusted code on a machine
you care about without a sandbox (container, no network).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

_FENCE = re.compile(r"```[ \t]*([\w+#-]*)[^\n]*\n(.*?)```", re.S)


@dataclass(frozen=True)
class CodeRun:
    passed: bool
    detail: str


def extract_code(answer: str) -> str:
    """The fenced code blocks of a reply (Python or untagged ones, joined), or the whole
    reply when it has no fences."""
    blocks = [(lang.lower(), body) for lang, body in _FENCE.findall(answer)]
    chosen = [body for lang, body in blocks if lang in ("", "python", "py", "python3")] or [b for _, b in blocks]
    return "\n\n".join(chosen).strip() if chosen else answer.strip()


def run_tests(code: str, tests: str, timeout_s: float = 10.0) -> CodeRun:
    with tempfile.TemporaryDirectory(prefix="instructscale-code-") as tmp:
        script = Path(tmp) / "solution_test.py"
        script.write_text(f"{code}\n\n# ---- tests ----\n{tests}\n", encoding="utf-8")
        proc = subprocess.Popen([sys.executable, "-I", str(script)], cwd=tmp, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, start_new_session=True,
                                env={"PATH": os.environ.get("PATH", ""), "PYTHONHASHSEED": "0"})
        try:
            _, err = proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            return CodeRun(False, f"time limit {timeout_s:g}s exceeded")
    if proc.returncode == 0:
        return CodeRun(True, "tests passed")
    last = err.decode("utf-8", "replace").strip().splitlines()[-1:] or [f"exit code {proc.returncode}"]
    return CodeRun(False, last[0])
