"""How wide a 95% bootstrap interval is cut, shared by every CI of the report."""

from __future__ import annotations

import functools
import math

ALPHA = 0.05  # 95% intervals everywhere


@functools.lru_cache(maxsize=None)
def tail(items: int, alpha: float = ALPHA) -> float:
    """Share of bootstrap draws cut from each end of a (1 - alpha) interval (`alpha` two-sided: a
    sequential design's look uses a smaller one, report/sequential.py). A plain percentile interval (2.5%) is too narrow
    for a few dozen items (it covers the mean about 92% of the time at 25 items); the expanded
    percentile interval (Hesterberg 2015) widens it to the width of a t-interval by cutting
    Phi(-sqrt(n/(n-1)) * t_{n-1}) instead: 1.8% at 25 items, 2.4% at 150."""
    from scipy.stats import norm, t

    if items < 2:
        return alpha / 2
    return float(norm.cdf(-math.sqrt(items / (items - 1)) * t.ppf(1 - alpha / 2, items - 1)))


def wilson(k: int, n: int, alpha: float = ALPHA) -> tuple[float, float]:
    """Wilson score interval of a share k / n: the calibration benchmark's error rates, which sit
    near 0 where the plain normal interval would cross it."""
    from scipy.stats import norm

    if n == 0:
        return 0.0, 1.0
    z, p = float(norm.ppf(1 - alpha / 2)), k / n
    centre, half = p + z * z / (2 * n), z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (centre - half) / (1 + z * z / n), (centre + half) / (1 + z * z / n)
