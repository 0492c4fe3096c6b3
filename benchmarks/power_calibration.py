"""Do the power figures mean what they say? At the item counts evalset/power.py gives for 80% power,
simulated categories (report/simulate.py: late_slope_verdicts) go through the report's own bootstrap
and verdict rule: a true late slope of delta should be called improving 80% of the time at the count
sized for a gain, a true slope of 0 plateaued 80% of the time at the count sized for no gain.

    .venv/bin/python benchmarks/power_calibration.py [--sims 2000] [--bootstrap 1000]
"""

from __future__ import annotations

import argparse

import numpy as np

from instructscale.evalset.power import items_needed
from instructscale.report.config import VerdictThresholds
from instructscale.report.intervals import wilson
from instructscale.report.simulate import late_slope_verdicts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sims", type=int, default=2000)
    ap.add_argument("--bootstrap", type=int, default=1000)
    ap.add_argument("--sd", type=float, nargs="+", default=[0.2, 0.3], help="per-item late-slope SDs")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    t = VerdictThresholds()
    print(f"{'slope SD':>8} {'sized for':>10} {'items':>6} {'true slope':>10} {'verdict':>10} {'share [95% Wilson]':>24}")
    for sd in args.sd:
        for claim, slope, verdict in [("gain", t.delta, "improving"), ("no gain", 0.0, "plateaued")]:
            for sized in ("gain", "no gain") if claim == "no gain" else ("gain",):
                n = items_needed(sd, t.delta, claim=sized)
                rng = np.random.default_rng([args.seed, int(sd * 1000), n])
                k = late_slope_verdicts(sd, slope, n, args.sims, args.bootstrap, t, rng)[verdict]
                lo, hi = wilson(k, args.sims)
                print(f"{sd:>8g} {sized:>10} {n:>6} {slope:>10g} {verdict:>10} "
                      f"{k / args.sims:>8.1%} [{lo:.1%}, {hi:.1%}]")
    print(f"\ntarget: 80% +- 4 points where the count is sized for the verdict ({args.sims} categories per row, "
          f"seed {args.seed}); the row 'sized for gain' of a no-gain verdict shows what the old figure gave")


if __name__ == "__main__":
    main()
