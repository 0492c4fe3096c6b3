"""Claim: `find_overlaps` (inverted n-gram index + prefix filtering, exact Jaccard) finds
exactly the pairs a brute-force scan finds, and is far faster than both the brute-force
scan and an index that looks up every n-gram, so a training pool of millions is checked
in minutes.

    python benchmarks/decontam.py                  # 2,210 questions (Table 1), 20,000 pool examples
    python benchmarks/decontam.py --pool 200000    # a bigger pool
    python benchmarks/decontam.py --brute-sample 200  # pool examples in the timed brute-force sample

Data: synthetic Chinese questions that share a few task phrasings (as real evaluation
sets do: "请把下面这句话翻译成英文：..."), and a pool with planted copies of questions
(exact, or with 1-5 characters changed) among unrelated examples.
"""

from __future__ import annotations

import argparse
import random
import time
from collections import Counter, defaultdict

from instructscale.evalset import find_overlaps
from instructscale.evalset.decontam import NGRAM, _key
from instructscale.records import EvalItem, InstructionExample
from instructscale.textsim import char_ngrams, jaccard

STEMS = ["请把下面这句话翻译成英文：", "请用一句话总结下面的新闻：", "从下面的句子中提取人名：", "根据短文回答问题：",
         "写一首关于", "一个长方形的长是", "判断下面这句话的情感：", "请改写下面的句子，使其更正式："]


def synthetic(n_items: int, n_pool: int, seed: int = 0) -> tuple[list[EvalItem], list[InstructionExample]]:
    rng = random.Random(seed)
    chars = [chr(c) for c in range(0x4E00, 0x4E00 + 2500)]

    def text() -> str:
        return rng.choice(STEMS) + "".join(rng.choice(chars) for _ in range(rng.randint(8, 60)))

    items = [EvalItem(category="generation", question=text()) for _ in range(n_items)]
    pool = []
    for k in range(n_pool):
        if k % 100 == 0:  # 1% planted copies
            q = list(rng.choice(items).question)
            for _ in range(rng.randint(0, 5)):
                q[rng.randrange(len(q))] = rng.choice(chars)
            pool.append(InstructionExample(id=f"p{k}", instruction="".join(q), output="x"))
        else:
            pool.append(InstructionExample(id=f"p{k}", instruction=text(), output="x"))
    return items, pool


def all_postings(items, pool, threshold):
    """Baseline: the same index, but every n-gram of an example is looked up."""
    grams = [char_ngrams(_key(i.question), NGRAM) for i in items]
    postings = defaultdict(list)
    for i, g in enumerate(grams):
        for x in g:
            postings[x].append(i)
    found = set()
    for ex in pool:
        mine = char_ngrams(_key(ex.prompt), NGRAM)
        for i, common in Counter(i for g in mine for i in postings.get(g, ())).items():
            if common / (len(mine) + len(grams[i]) - common) >= threshold:
                found.add((items[i].id, ex.id))
    return found


def brute_force(items, pool, threshold):
    grams = [char_ngrams(_key(i.question), NGRAM) for i in items]
    found = set()
    for ex in pool:
        mine = char_ngrams(_key(ex.prompt), NGRAM)
        found |= {(items[i].id, ex.id) for i, g in enumerate(grams) if jaccard(mine, g) >= threshold}
    return found


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--items", type=int, default=2210)
    ap.add_argument("--pool", type=int, default=20_000)
    ap.add_argument("--threshold", type=float, default=0.8)
    ap.add_argument("--brute-sample", type=int, default=300)
    args = ap.parse_args()
    items, pool = synthetic(args.items, args.pool)

    t0 = time.perf_counter()
    pairs = {(o.eval_id, o.example_id) for o in find_overlaps(items, pool, args.threshold)}
    t_index = time.perf_counter() - t0
    t0 = time.perf_counter()
    baseline = all_postings(items, pool, args.threshold)
    t_all = time.perf_counter() - t0
    sample = pool[:args.brute_sample]
    t0 = time.perf_counter()
    brute = brute_force(items, sample, args.threshold)
    t_brute = (time.perf_counter() - t0) * len(pool) / len(sample)
    in_sample = {p for p in pairs if p[1] in {ex.id for ex in sample}}

    print(f"{len(items)} questions x {len(pool)} pool examples, threshold {args.threshold}: {len(pairs)} pairs")
    print(f"same pairs as every-n-gram index: {pairs == baseline}; as brute force on {len(sample)} examples: "
          f"{in_sample == brute}")
    print(f"{'method':<28}{'seconds':>10}{'x slower':>10}{'1M pool (min)':>15}")
    for name, t in [("find_overlaps (prefix)", t_index), ("every n-gram looked up", t_all),
                    ("brute force (extrapolated)", t_brute)]:
        print(f"{name:<28}{t:>10.2f}{t / t_index:>10.1f}{t / len(pool) * 1e6 / 60:>15.1f}")


if __name__ == "__main__":
    main()
