"""Claim: the hf respond backend answers >= 3x faster with batches of similar-length prompts
than one prompt at a time, and gives the same answers under greedy decoding.

One run, same tiny llama model, same 64 evaluation prompts (lengths vary), same CPU: runs
`run_respond` twice, with --batch-size 1 and with --batch-size B, prints generated tokens per
second side by side and checks that every answer is identical.

    .venv/bin/python benchmarks/respond_batching.py [--prompts 64] [--batch-size 16] [--tokens 48]
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

from instructscale.datafiles import read_jsonl_resumable, write_jsonl
from instructscale.models.tiny import TinyModelConfig
from instructscale.records import EvalItem
from instructscale.respond import ModelSpec, RespondConfig, run_respond
from instructscale.train import init_tiny

WORDS = "数据 模型 问题 答案 分类 提取 总结 翻译 改写 生成 代码 数学 the of and model data answer question".split()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prompts", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--tokens", type=int, default=48, help="max new tokens")
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        questions = [" ".join(rng.choices(WORDS, k=rng.randint(3, 40))) for _ in range(args.prompts)]
        write_jsonl(tmp / "pool.jsonl", [{"text": q} for q in questions])
        model = init_tiny(tmp / "pool.jsonl", tmp / "model", TinyModelConfig(
            arch="llama", hidden_size=args.hidden, num_layers=2, num_heads=4, seed=args.seed), vocab_size=500)
        write_jsonl(tmp / "eval.jsonl", [EvalItem(id=f"q{i}", category="open_qa", question=q)
                                         for i, q in enumerate(questions)])
        results = {}
        for bs in (1, args.batch_size):
            out = tmp / f"bs{bs}.jsonl"
            cfg = RespondConfig(models=[ModelSpec(name="tiny", path=str(model))], eval=tmp / "eval.jsonl", out=out,
                                preset="greedy", max_new_tokens=args.tokens, batch_size=bs, device="cpu",
                                stop=[])  # no stop strings: every answer runs to EOS or the limit
            start = time.perf_counter()
            run_respond(cfg)
            seconds = time.perf_counter() - start
            rows = {r["item_id"]: r for r in read_jsonl_resumable(out)[0]}
            tokens = sum(r["completion_tokens"] for r in rows.values())
            results[bs] = (seconds, tokens, {k: r["response"] for k, r in rows.items()})
            print(f"batch size {bs:>3}: {seconds:7.2f} s  {tokens:6d} tokens  {tokens / seconds:8.1f} tokens/s")
        (t1, n1, one), (tb, nb, batched) = results[1], results[args.batch_size]
        same = sum(one[k] == batched[k] for k in one)
        print(f"speed-up batch {args.batch_size} vs 1: {t1 / tb:.2f}x (target >= 3x); "
              f"identical answers: {same}/{len(one)}; tokens {n1} vs {nb}")
        assert same == len(one), "greedy answers differ between batched and one-at-a-time generation"


if __name__ == "__main__":
    main()
