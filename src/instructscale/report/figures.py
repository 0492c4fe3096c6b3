"""Figure 1 of the study: mean score against training-data size, one panel per category
plus an overall (macro) panel, log data axis: measured means with 95% bootstrap CIs, and
the fitted curve (report/fits.py) with its 95% band, dashed past the largest scale where
it is an extrapolation.

The untuned base model (size 0) has no place on a log axis; it is drawn one decade left
of the smallest tuned scale, labelled "base", joined by a dotted line and set apart by
a break mark so nobody reads the gap as data.
"""

from __future__ import annotations

import math
from pathlib import Path

from instructscale.report.analysis import MACRO, Analysis
from instructscale.report.tables import display_name

COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"]
NCOLS = 4


def figure1(analyses: list[Analysis], out_stem: Path) -> dict[str, str]:
    """Small multiples for one run, or several runs overlaid (compare mode). Writes PNG and SVG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = list(dict.fromkeys(r.category for a in analyses for r in a.categories)) + [MACRO]
    nrows = math.ceil(len(panels) / NCOLS)
    fig, axes = plt.subplots(nrows, NCOLS, figsize=(3.2 * NCOLS, 2.6 * nrows + 0.5), sharey=True, squeeze=False,
                             layout="constrained")
    pos = _positions(analyses)
    for ax, category in zip(axes.flat, panels):
        for k, a in enumerate(analyses):
            row = a.row(category)
            if row is not None:
                _curve(ax, row, pos, COLORS[k % len(COLORS)], a.name if len(analyses) > 1 else None)
        _axes(ax, pos, display_name(category))
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    for ax in axes[:, 0]:
        ax.set_ylabel("mean score")
    for k, ax in enumerate(list(axes.flat)[:len(panels)]):
        if k + NCOLS >= len(panels):  # the lowest panel of each column
            ax.set_xlabel("training examples")
    title = " vs ".join(a.name for a in analyses)
    fig.suptitle(f"Score vs instruction data size: {title} (judge: {analyses[0].judge}; "
                 f"points: means, 95% CI; lines: fitted curves, 95% band, dashed = extrapolated)",
                 fontsize=11)
    if len(analyses) > 1:
        handles, names = axes.flat[0].get_legend_handles_labels()
        fig.legend(handles, names, loc="outside lower center", ncol=len(analyses), frameon=False)
    return save_figure(fig, out_stem)


def save_figure(fig, out_stem: Path) -> dict[str, str]:
    """PNG and SVG next to each other; the figure is closed (many reports in one process)."""
    import matplotlib.pyplot as plt

    files = {}
    for ext in ("png", "svg"):
        path = out_stem.with_suffix(f".{ext}")
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=120 if ext == "png" else None)
        files[ext] = str(path)
    plt.close(fig)
    return files


def composition_figure(subsets: list[dict], out_stem: Path) -> dict[str, str]:
    """Stacked bars: share of each category in each training subset."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cats = list(dict.fromkeys(c for s in subsets for c in s["shares"]))
    cmap = plt.get_cmap("tab20")
    fig, ax = plt.subplots(figsize=(9, 0.5 * len(subsets) + 1.6))
    for i, s in enumerate(subsets):
        left = 0.0
        for k, c in enumerate(cats):
            share = s["shares"].get(c, 0.0)
            ax.barh(i, share, left=left, color=cmap(k % 20), label=display_name(c) if i == 0 else None)
            left += share
    ax.set_yticks(range(len(subsets)), [f"{s['name']} ({s['size']})" for s in subsets])
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of training examples")
    ax.invert_yaxis()
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.35 if len(subsets) < 4 else -0.2), ncol=6,
              fontsize=7, frameon=False)
    fig.tight_layout()
    files = {}
    for ext in ("png", "svg"):
        path = out_stem.with_suffix(f".{ext}")
        fig.savefig(path, dpi=120 if ext == "png" else None, bbox_inches="tight")
        files[ext] = str(path)
    plt.close(fig)
    return files


def _positions(analyses: list[Analysis]) -> dict[int, float]:
    sizes = sorted({s for a in analyses for s in a.sizes})
    tuned = [s for s in sizes if s > 0]
    base = (tuned[0] / 10) if tuned else 1.0
    return {s: (float(s) if s > 0 else base) for s in sizes}


def _curve(ax, row, pos, color, name):
    base = [c for c in row.cells if c.size == 0 and c.mean is not None]
    tuned = [c for c in row.cells if c.size > 0 and c.mean is not None]
    xs = [pos[c.size] for c in tuned]
    labelled = (tuned or base or [None])[-1]  # one legend entry per run
    for c in [*base, *tuned]:
        lo, hi = c.ci_low if c.ci_low is not None else c.mean, c.ci_high if c.ci_high is not None else c.mean
        ax.errorbar([pos[c.size]], [c.mean], yerr=[[c.mean - lo], [hi - c.mean]], fmt="s" if c.size == 0 else "o",
                    color=color, ms=3.5, capsize=2, lw=1, label=name if c is labelled else None)
    if base and tuned:
        ax.plot([pos[0], xs[0]], [base[0].mean, tuned[0].mean], ":", color=color, lw=1)
    fit = row.fit
    if fit is None:
        if tuned:
            ax.plot(xs, [c.mean for c in tuned], "-", color=color, lw=1)
        return
    n_max = max(c.size for c in tuned)
    inside = [k for k, n in enumerate(fit.curve_sizes) if n <= n_max * 1.0001]
    past = [k for k, n in enumerate(fit.curve_sizes) if n >= n_max * 0.9999]
    for ks, style in ((inside, "-"), (past, "--")):
        sizes = [fit.curve_sizes[k] for k in ks]
        ax.plot(sizes, [fit.curve[k] for k in ks], style, color=color, lw=1.5)
        ax.fill_between(sizes, [fit.curve_low[k] for k in ks], [fit.curve_high[k] for k in ks], color=color,
                        alpha=0.16 if style == "-" else 0.08, lw=0)


def _axes(ax, pos, title):
    ax.set_xscale("log")
    ax.set_xlim(min(pos.values()) / 1.6, max(pos.values()) * 2.3)  # room for the extrapolated doubling
    ticks = sorted(pos.items())
    ax.set_xticks([p for _, p in ticks], [_tick(s) for s, _ in ticks], fontsize=7)
    ax.minorticks_off()
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    if 0 in pos and len(pos) > 1:  # break mark between the symbolic base point and the data axis
        tuned = sorted(p for s, p in pos.items() if s > 0)
        x_break = math.sqrt(pos[0] * tuned[0])
        ax.axvline(x_break, color="0.6", lw=0.8, ls=(0, (2, 2)))


def _tick(size: int) -> str:
    from instructscale.subsets.manifest import human_size

    return "base" if size == 0 else human_size(size)
