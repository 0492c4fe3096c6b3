"""Claim: the demo's judge stage through the fake Batch API gives the same judgements as
online, with 0 requests to /v1/chat/completions, at the price table's batch price.

With `--run-dir runs/demo` (after `make demo`) it judges the demo's own eval set and every
scale's responses; without it, the demo world's eval set (30 items per category) answered by
two stand-in models, one with the references and one with shuffled references. Judged by the
demo teacher (3 repeats, the study's zh prompts), priced as gpt-3.5-turbo:

    python benchmarks/judge_batch.py [--run-dir runs/demo] [--per-category 30] [--repeats 3]
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

from instructscale.datafiles import read_jsonl_resumable, write_jsonl
from instructscale.demo import build_eval_set, make_teacher
from instructscale.judge import JudgeConfig, run_judge
from instructscale.llm import ClientConfig
from instructscale.llm.fake_server import FakeServer
from instructscale.records import Response

FIELDS = ("model", "item_id", "sample", "repeat", "score", "raw", "error")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-category", type=int, default=30)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--model", default="gpt-3.5-turbo", help="judge model name, for the price table")
    ap.add_argument("--run-dir", type=Path, help="a finished demo run: judge its eval set and responses")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="judge-batch-"))
    if args.run_dir:
        eval_path, responses = args.run_dir / "eval" / "eval.jsonl", sorted((args.run_dir / "responses").glob("*.jsonl"))
        items, models = read_jsonl_resumable(eval_path)[0], [p.stem for p in responses]
    else:
        items = build_eval_set(args.per_category, seed=1)
        eval_path, responses, models = work / "eval.jsonl", [work / "resp.jsonl"], ["right", "wrong"]
        write_jsonl(eval_path, items)
        rng = random.Random(0)
        refs = [i.reference or "不知道" for i in items]
        write_jsonl(responses[0], [Response(item_id=i.id, model=m, response=i.reference or "不知道" if m == "right"
                                            else rng.choice(refs)) for i in items for m in models])
    results = {}
    for mode in ("online", "batch"):
        with FakeServer(make_teacher(0), model="demo-teacher") as srv:
            client = ClientConfig(base_url=srv.base_url, model=args.model, concurrency=8, batch=mode == "batch",
                                  batch_poll_s=0.2)
            t = time.perf_counter()
            s = run_judge(JudgeConfig(eval=eval_path, responses=responses,
                                      out=work / f"{mode}.jsonl", client=client, repeats=args.repeats,
                                      use_cache=False))
            rows = sorted(tuple(r.get(k) for k in FIELDS) for r in read_jsonl_resumable(s.out)[0])
            results[mode] = (rows, s, srv.routes["POST /v1/chat/completions"], len(srv.batch_lines),
                             time.perf_counter() - t)
    (on_rows, on, on_chat, _, on_s), (b_rows, b, b_chat, b_lines, b_s) = results["online"], results["batch"]
    print(f"{len(on_rows)} judgements ({len(items)} items x {len(models)} models x {args.repeats} repeats)")
    print(f"identical judgements (score, raw reply, error per key): {on_rows == b_rows}")
    print(f"online: {on_chat} chat requests, {on.usage['prompt_tokens']}+{on.usage['completion_tokens']} tokens, "
          f"${on.usage['cost_usd']:.4f}, {on_s:.1f} s")
    print(f"batch:  {b_chat} chat requests, {b_lines} batch lines in {b.usage['batches']} batches, "
          f"{b.usage['prompt_tokens']}+{b.usage['completion_tokens']} tokens, ${b.usage['cost_usd']:.4f}, {b_s:.1f} s")
    print(f"cost online/batch: {on.usage['cost_usd'] / b.usage['cost_usd']:.3f}")


if __name__ == "__main__":
    main()
