"""Claim: many requests in flight make generation against a slow teacher scale with
concurrency. The demo teacher is served by the fake server with 200 ms latency per
request; the same number of requests per worker is made at concurrency 1 and 32.

    python benchmarks/generate_throughput.py [--latency 0.2] [--per-worker 8]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from instructscale.demo import make_teacher
from instructscale.generate import GenerateConfig, run_generate
from instructscale.llm import ClientConfig
from instructscale.llm.fake_server import FakeServer


def measure(concurrency: int, requests: int, latency: float) -> tuple[float, int]:
    with FakeServer(responder=make_teacher(0), latency_s=latency) as srv, tempfile.TemporaryDirectory() as tmp:
        cfg = GenerateConfig(out=Path(tmp) / "pool.jsonl", target=10**7, num_new_tasks=5, max_requests=requests,
                             dedup_fields="instruction+input", rouge_threshold=0.9,
                             client=ClientConfig(base_url=srv.base_url, model="teacher", concurrency=concurrency))
        t = time.perf_counter()
        summary = run_generate(cfg)
        return time.perf_counter() - t, summary.kept


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--latency", type=float, default=0.2)
    ap.add_argument("--per-worker", type=int, default=8)
    args = ap.parse_args()
    rows = []
    for c in (1, 32):
        n = c * args.per_worker if c > 1 else args.per_worker * 4
        secs, kept = measure(c, n, args.latency)
        rows.append((c, n, secs, n / secs, kept / secs))
        print(f"concurrency {c:2d}: {n:4d} requests in {secs:6.2f} s = {n / secs:7.2f} requests/s, {kept / secs:8.1f} kept/s")
    print(f"speed-up concurrency 32 vs 1: {rows[1][3] / rows[0][3]:.1f}x requests/s, {rows[1][4] / rows[0][4]:.1f}x kept/s")


if __name__ == "__main__":
    main()
