"""Claim: `subsets --select diversity` orders a few thousand examples in seconds on one
core, because its one matrix-vector product per pick runs on a single BLAS thread; the
default multi-threaded BLAS is many times slower on such small products, and far worse on
a busy machine.

    python benchmarks/subsets_selection.py               # pools of 1000, 3000, 6000 demo-world tasks
    python benchmarks/subsets_selection.py --sizes 2000  # other pool sizes

Data: distinct demo-world training tasks (`instructscale.demo.sample_tasks`), all 12
categories. Times: hashing the character n-gram vectors (dim 256, n-grams 1-3), and the
full farthest-point order with one BLAS thread (as shipped) and with the BLAS default.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from threadpoolctl import threadpool_info

from instructscale.demo import sample_tasks
from instructscale.subsets.diversity import farthest_point_order, ngram_vectors


def _order_default_threads(vectors: np.ndarray, first: int) -> float:
    """The same loop as farthest_point_order without the thread limit, timed."""
    start = time.perf_counter()
    nearest = 1.0 - vectors @ vectors[first]
    nearest[first] = -np.inf
    for _ in range(len(vectors) - 1):
        pick = int(np.argmax(nearest))
        np.minimum(nearest, 1.0 - vectors @ vectors[pick], out=nearest)
        nearest[pick] = -np.inf
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 3000, 6000])
    args = parser.parse_args()
    threads = max((i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"), default=1)
    print(f"BLAS default threads: {threads}")
    print(f"{'pool':>6} {'vectors s':>10} {'order 1 thread s':>17} {'order default s':>16} {'ratio':>6}")
    for n in args.sizes:
        pool = sample_tasks(n, seed=0)
        t0 = time.perf_counter()
        vectors = ngram_vectors(pool, ngram=3, dim=256)
        t1 = time.perf_counter()
        farthest_point_order(vectors, first=0)
        one = time.perf_counter() - t1
        default = _order_default_threads(vectors, first=0)
        print(f"{n:>6} {t1 - t0:>10.2f} {one:>17.2f} {default:>16.2f} {default / one:>6.1f}")


if __name__ == "__main__":
    main()
