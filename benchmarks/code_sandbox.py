"""Claim: the bubblewrap sandbox costs a bounded startup per code item (reported: ms per
item sandboxed vs unsandboxed, same harness and limits, interleaved so load hits both alike).

    python benchmarks/code_sandbox.py [--items 20]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from instructscale.judge import code_exec
from instructscale.judge.sandbox import ALLOW_ENV, sandbox_problem

CODE = "def add(a, b):\n    return a + b\n"
TESTS = "assert add(1, 2) == 3\nassert add(-1, 1) == 0"


def timed(sandboxed: bool) -> float:
    code_exec.sandbox_problem = sandbox_problem if sandboxed else lambda: "benchmark: unsandboxed"
    t = time.perf_counter()
    run = code_exec.run_tests(CODE, TESTS)
    assert run.passed, run.detail
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=20)
    args = ap.parse_args()
    if sandbox_problem():
        raise SystemExit(f"no sandbox here: {sandbox_problem()}")
    os.environ[ALLOW_ENV] = "1"
    times = {True: [], False: []}
    for _ in range(args.items):
        for sandboxed in (True, False):
            times[sandboxed].append(timed(sandboxed))
    for sandboxed, label in ((False, "unsandboxed"), (True, "sandboxed")):
        t = times[sandboxed]
        print(f"{label:12s} median {statistics.median(t) * 1000:6.0f} ms/item  max {max(t) * 1000:6.0f} ms")
    print(f"sandbox overhead: {(statistics.median(times[True]) - statistics.median(times[False])) * 1000:.0f} ms/item")


if __name__ == "__main__":
    main()
