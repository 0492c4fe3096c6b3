"""Does the report's verdict rule say only what the data shows? Simulated studies with known
per-category curves (instructscale.report.simulate) at the study's scales, judged 3 times per
answer with judge-like noise, written as run directories and read by the report's own loader
and analysis. Prints, per evaluation-set size: share of verdicts right, share undetermined,
share confidently wrong (neither the truth nor undetermined), coverage of the 95% CIs of the
cell means, coverage of the data-needed CI where the truth lies within the tuned range, and how
often a category whose true late slope is 0 is called improving (2.5% nominal), with its Wilson
interval. `--sequential FIRST,MAX` also runs that sequential design (report/sequential.py) on
studies judged on MAX items and prints a line beginning `sequential:`, next to fixed MAX items on
the very same simulated judgements (and fixed FIRST items on studies of their own).

    .venv/bin/python benchmarks/verdict_calibration.py [--studies 20] [--bootstrap 1000] [--sequential 25,50]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from instructscale.report.config import VerdictThresholds
from instructscale.report.intervals import wilson
from instructscale.report.sequential import SequentialConfig
from instructscale.report.simulate import Calibration, calibrate

TARGETS = {150: "all verdicts right", 25: "confidently wrong <= 5%"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--studies", type=int, default=20)
    ap.add_argument("--bootstrap", type=int, default=1000)
    ap.add_argument("--items", type=int, nargs="+", default=[150, 25])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sequential", type=str, default=None, metavar="FIRST,MAX",
                    help="also a sequential design: FIRST items per category, more up to MAX where undetermined")
    ap.add_argument("--looks", type=int, default=2)
    ap.add_argument("--spending", choices=["pocock", "obrien-fleming"], default="pocock")
    args = ap.parse_args()
    t = VerdictThresholds()
    design = None
    if args.sequential:
        first, most = (int(v) for v in args.sequential.split(","))
        design = SequentialConfig(first=first, max=most, looks=args.looks, spending=args.spending)
        args.items = [most, first]
    print(f"rule: {t.describe()}\n")
    print(f"{'items/cat':>9} {'cells':>6} {'right':>7} {'strict':>7} {'undet.':>7} {'conf. wrong':>11} {'CI cover':>9} "
          f"{'needed cover':>20} {'false improving [95% Wilson]':>29} {'seconds':>8}")
    outcomes = []
    with tempfile.TemporaryDirectory() as tmp:
        for items in args.items + ([design] if design else []):
            start = time.perf_counter()
            c = calibrate(Path(tmp), args.studies, items, args.bootstrap, t, seed=args.seed)
            label = f"seq {design.first}-{design.max}" if items is design else str(items)
            print(f"{label:>9} {c.cells:>6} {c.share('right', 'cells'):>7.1%} "
                  f"{c.share('strictly_right', 'cells'):>7.1%} {c.share('undetermined', 'cells'):>7.1%} "
                  f"{c.share('confidently_wrong', 'cells'):>11.1%} {c.share('ci_covered', 'ci_cells'):>9.1%} "
                  f"{c.share('needed_covered', 'needed_cells'):>6.1%} ({c.needed_cells:>3}, {c.needed_unidentified:>2} n.i.) "
                  f"{_false_improving(c):>29} {time.perf_counter() - start:>8.1f}")
            outcomes.append((label, c.outcomes))
            if items is design:
                print(f"sequential: first {design.first}, max {design.max}, {design.looks} looks, {design.spending}: "
                      f"right {c.share('right', 'cells'):.1%}, undetermined {c.share('undetermined', 'cells'):.1%}, "
                      f"wrong {c.share('confidently_wrong', 'cells'):.1%} "
                      f"{_wilson_text(c.confidently_wrong, c.cells)}, "
                      f"mean items per category {c.share('items_used', 'cells'):.1f} "
                      f"({c.cells} category-cells, {args.studies} studies, seed {args.seed})")
    print("\nverdicts by kind of true curve (truth): verdict count, ...")
    for items, counts in outcomes:
        for kind in dict.fromkeys(k for k, _, _ in sorted(counts)):
            got = ", ".join(f"{v} {n}" for (k, _, v), n in sorted(counts.items()) if k == kind)
            truth = next(tr for k, tr, _ in counts if k == kind)
            print(f"  {items:>9} items  {kind:<12} ({truth}): {got}")
    print("\nright: a verdict the true curve supports (improving is also right where the true late gain is above 0 "
          "but below delta); strict: the rule's own verdict for the true curve; conf. wrong: neither right nor "
          "undetermined; CI cover: 95% CIs of the cell means that contain the true mean; needed cover: data-needed "
          "CIs that contain the truth, where it lies within the tuned range (cells; n.i.: further cells whose fit says the "
          "crossing is not identified, which claim nothing); false improving: cells whose "
          "true late slope is 0 called improving (count / such cells, 2.5% nominal)")
    print("\ntargets: at 150 items every verdict right; at 25 items at most 5% confidently wrong; "
          "CI coverage 93-97%; data-needed coverage >= 90%")


def _false_improving(c: Calibration) -> str:
    return f"{c.false_improving}/{c.flat_cells} {_wilson_text(c.false_improving, c.flat_cells)}"


def _wilson_text(k: int, n: int) -> str:
    lo, hi = wilson(k, n)
    return f"{k / n if n else float('nan'):.1%} [{lo:.1%}, {hi:.1%}]"


if __name__ == "__main__":
    main()
