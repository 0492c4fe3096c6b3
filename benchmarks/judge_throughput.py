"""Claim: the judge overlaps API latency (concurrency 32 is >= 15x faster than 1 on 300
judgements at 100 ms per reply), and a rerun is served by the cache with 0 requests.

    python benchmarks/judge_throughput.py [--answers 100] [--repeats 3] [--latency 0.1]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from instructscale.categories import CATEGORY_IDS
from instructscale.datafiles import write_jsonl
from instructscale.judge import JudgeConfig, run_judge
from instructscale.llm import ClientConfig
from instructscale.llm.fake_server import FakeServer
from instructscale.records import EvalItem, Response


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--answers", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--latency", type=float, default=0.1)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="judge-bench-"))
    items = [EvalItem(id=f"q{i}", category=CATEGORY_IDS[i % 12], question=f"第{i}题：{i}+{i}=?", reference=str(2 * i))
             for i in range(args.answers)]
    write_jsonl(work / "eval.jsonl", items)
    write_jsonl(work / "resp.jsonl", [Response(item_id=i.id, model="m", response=f"答案是{i.reference}") for i in items])
    n = args.answers * args.repeats

    with FakeServer(["学生答案与标准答案一致。\n得分: 1"], latency_s=args.latency) as srv:
        def run(concurrency: int, name: str, cache: str) -> tuple[float, int]:
            srv.reset()
            client = ClientConfig(base_url=srv.base_url, model="bench-judge", concurrency=concurrency)
            t = time.perf_counter()
            s = run_judge(JudgeConfig(eval=work / "eval.jsonl", responses=[work / "resp.jsonl"], out=work / name,
                                      client=client, repeats=args.repeats, cache=work / cache))
            elapsed = time.perf_counter() - t
            assert s.new == n and s.unscored == 0, s
            return elapsed, srv.request_count

        t1, r1 = run(1, "c1.jsonl", "cache1.sqlite")
        t32, r32 = run(32, "c32.jsonl", "cache32.sqlite")
        t_re, r_re = run(32, "rerun.jsonl", "cache32.sqlite")  # same judgements, fresh output: cache only

    print(f"{n} judgements, {args.latency * 1000:.0f} ms latency per reply")
    print(f"{'run':<28}{'seconds':>10}{'requests':>10}{'judgements/s':>14}")
    for label, t, r in [("concurrency 1", t1, r1), ("concurrency 32", t32, r32), ("rerun (cache), conc. 32", t_re, r_re)]:
        print(f"{label:<28}{t:>10.2f}{r:>10}{n / t:>14.1f}")
    speedup = t1 / t32
    print(f"speedup 32 vs 1: {speedup:.1f}x (target >= 15x) {'OK' if speedup >= 15 else 'BELOW TARGET'}")
    print(f"rerun requests: {r_re} (target 0) {'OK' if r_re == 0 else 'FAILED'}")


if __name__ == "__main__":
    main()
