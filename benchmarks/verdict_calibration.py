"""Does the report's verdict rule say only what the data shows? Simulated studies with known
per-category curves (instructscale.report.simulate) at the study's scales, judged 3 times per
answer with judge-like noise, written as run directories and read by the report's own loader
and analysis. Prints, per evaluation-set size: share of verdicts right, share undetermined,
share confidently wrong (neither the truth nor undetermined), coverage of the 95% CIs of the
cell means, and coverage of the data-needed CI where the truth lies within the tuned range.

    .venv/bin/python benchmarks/verdict_calibration.py [--studies 20] [--bootstrap 1000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from instructscale.report.config import VerdictThresholds
from instructscale.report.simulate import calibrate

TARGETS = {150: "all verdicts right", 25: "confidently wrong <= 5%"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--studies", type=int, default=20)
    ap.add_argument("--bootstrap", type=int, default=1000)
    ap.add_argument("--items", type=int, nargs="+", default=[150, 25])
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    t = VerdictThresholds()
    print(f"rule: {t.describe()}\n")
    print(f"{'items/cat':>9} {'cells':>6} {'right':>7} {'strict':>7} {'undet.':>7} {'conf. wrong':>11} {'CI cover':>9} "
          f"{'needed cover':>14} {'seconds':>8}")
    outcomes = []
    with tempfile.TemporaryDirectory() as tmp:
        for items in args.items:
            start = time.perf_counter()
            c = calibrate(Path(tmp), args.studies, items, args.bootstrap, t, seed=args.seed)
            print(f"{items:>9} {c.cells:>6} {c.share('right', 'cells'):>7.1%} "
                  f"{c.share('strictly_right', 'cells'):>7.1%} {c.share('undetermined', 'cells'):>7.1%} "
                  f"{c.share('confidently_wrong', 'cells'):>11.1%} {c.share('ci_covered', 'ci_cells'):>9.1%} "
                  f"{c.share('needed_covered', 'needed_cells'):>8.1%} ({c.needed_cells:>3}) "
                  f"{time.perf_counter() - start:>8.1f}")
            outcomes.append((items, c.outcomes))
    print("\nverdicts by kind of true curve (truth): verdict count, ...")
    for items, counts in outcomes:
        for kind in dict.fromkeys(k for k, _, _ in sorted(counts)):
            got = ", ".join(f"{v} {n}" for (k, _, v), n in sorted(counts.items()) if k == kind)
            truth = next(tr for k, tr, _ in counts if k == kind)
            print(f"  {items:>3} items  {kind:<12} ({truth}): {got}")
    print("\nright: a verdict the true curve supports (improving is also right where the true late gain is above 0 "
          "but below delta); strict: the rule's own verdict for the true curve; conf. wrong: neither right nor "
          "undetermined; CI cover: 95% CIs of the cell means that contain the true mean; needed cover: data-needed "
          "CIs that contain the truth, where it lies within the tuned range (cells)")
    print("\ntargets: at 150 items every verdict right; at 25 items at most 5% confidently wrong; "
          "CI coverage 93-97%; data-needed coverage >= 90%")


if __name__ == "__main__":
    main()
