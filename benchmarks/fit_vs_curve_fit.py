"""Is the saturating fit the least-squares optimum? Simulated saturated categories (the curves of
report/simulate.py, items with their own difficulty and per-scale noise) are fitted by the report's
saturating form and by scipy's curve_fit (started from several exponents, best kept), and their
residual sums of squares compared; also how many fits the report calls not identified, and how many
of those curve_fit put at a steep exponent (over 10).

    .venv/bin/python benchmarks/fit_vs_curve_fit.py [--fits 200] [--items 25]
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np
from scipy.optimize import curve_fit

from instructscale.report.fits import _Saturating
from instructscale.report.simulate import KINDS, SD_ANSWER, SD_ITEM, SIZES, Curve

STARTS = (0.5, 1, 2, 5, 10, 20, 40)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--fits", type=int, default=200)
    ap.add_argument("--items", type=int, default=25)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    tuned = np.array(SIZES[1:], float)

    def model(n, a, c, alpha):
        return a - c * (n / tuned[-1]) ** -alpha

    rows = []
    for _ in range(args.fits):
        curve = Curve("saturated", **{p: float(rng.uniform(*r)) for p, r in KINDS["saturated"].items()})
        truth = np.array([curve.mean(s) for s in tuned])
        y = (truth + rng.normal(0, SD_ITEM, (args.items, 1)) + rng.normal(0, SD_ANSWER, (args.items, 4))).mean(0)
        ours = _Saturating(np.log10(tuned), y[None, :], np.eye(4))  # identity weight: ordinary least squares
        best = (np.inf, None)
        for start in STARTS:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    p, _ = curve_fit(model, tuned, y, p0=[y[-1], 0.1, start], maxfev=20_000)
            except RuntimeError:
                continue
            rss = float(((model(tuned, *p) - y) ** 2).sum())
            if p[2] > 0 and rss < best[0]:
                best = (rss, p)
        rows.append((float(ours.chi[0]), best[0], float(best[1][2]), bool(ours.at_bound[0])))
    r = np.array(rows)
    rel = (r[:, 0] - r[:, 1]) / np.maximum(r[:, 1], 1e-15)
    steep = r[:, 2] > 10
    print(f"{args.fits} fits, {args.items} items, seed {args.seed}: report's RSS minus curve_fit's, relative: "
          f"max {rel.max():+.2e}, median {np.median(rel):+.2e}")
    print(f"not identified by the report: {int(r[:, 3].sum())}; curve_fit exponent > 10: {int(steep.sum())}, "
          f"of which the report calls not identified: {int(r[steep, 3].sum())}")


if __name__ == "__main__":
    main()
