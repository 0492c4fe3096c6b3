"""Standard benchmarks beside the judge: for every lm-eval judge of the run and each of its
tasks, the benchmark score per scale, drawn as extra curves next to the judge's overall
(macro) score, and how the two agree over scales (Pearson and Spearman correlation).

With few scales a correlation says little (4 scales: |r| must exceed about 0.95 for p < 0.05);
the p-values are reported beside it for that reason."""

from __future__ import annotations

import warnings
from pathlib import Path

from instructscale.datafiles import write_json, write_text
from instructscale.report.analysis import MACRO, Analysis
from instructscale.report.load import RunData


def benchmark_rows(run: RunData, a: Analysis) -> list[dict]:
    """One row per (lm-eval judge, task): points per scale (repeated seeds averaged) and the correlation
    with the judge's macro score at the same scales."""
    from instructscale.judge.lmeval import load_results

    macro = a.row(MACRO)
    overall = {c.size: c.mean for c in macro.cells} if macro else {}
    sizes = sorted({s.size for s in run.scales})
    out = []
    for judge, rel in run.index.benchmarks.items():
        data = load_results(run.index.resolve(rel))
        for task in data.get("tasks", []):
            points, metric = [], None
            for size in sizes:
                scores = [data["models"][s.model][task] for s in run.scales
                          if s.size == size and task in data["models"].get(s.model, {})]
                if not scores:
                    continue
                metric = scores[0]["metric"]
                points.append({"size": size, "label": next(s.label for s in run.scales if s.size == size),
                               "value": sum(x["value"] for x in scores) / len(scores),
                               "stderr": scores[0]["stderr"] if len(scores) == 1 else None,
                               "judge_overall": overall.get(size)})
            out.append({"benchmark": judge, "task": task, "metric": metric, "points": points,
                        **_correlation([p["value"] for p in points if p["judge_overall"] is not None],
                                       [p["judge_overall"] for p in points if p["judge_overall"] is not None])})
    return out


def _correlation(x: list[float], y: list[float]) -> dict:
    from scipy.stats import pearsonr, spearmanr

    result = {"n": len(x), "pearson": None, "pearson_p": None, "spearman": None, "spearman_p": None}
    if len(x) < 3 or len(set(x)) < 2 or len(set(y)) < 2:  # undefined for a constant series
        return result
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p, s = pearsonr(x, y), spearmanr(x, y)
    return {**result, "pearson": float(p.statistic), "pearson_p": float(p.pvalue), "spearman": float(s.statistic),
            "spearman_p": float(s.pvalue)}


def write_benchmarks(run: RunData, a: Analysis, out: Path) -> dict[str, str]:
    """benchmarks.json, benchmarks.md and the curves (PNG, SVG); nothing when the run has no lm-eval judge."""
    rows = benchmark_rows(run, a)
    if not rows:
        return {}
    write_json(out / "benchmarks.json", {"judge": a.judge, "rows": rows})
    write_text(out / "benchmarks.md", markdown(rows, a.judge))
    files = {"benchmarks_json": str(out / "benchmarks.json"), "benchmarks_markdown": str(out / "benchmarks.md")}
    files.update({f"benchmarks_{k}": v for k, v in figure(rows, a, out / "benchmarks").items()})
    return files


def _fmt(v: float | None, digits: int = 3) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


def markdown(rows: list[dict], judge: str) -> str:
    labels = list(dict.fromkeys(p["label"] for r in rows for p in r["points"]))
    lines = [f"# Standard benchmarks beside the judge ({judge})", "",
             "| benchmark | task | metric | " + " | ".join(labels) + " | Pearson r (p) | Spearman rho (p) |",
             "|---|---|---|" + "---|" * len(labels) + "---|---|"]
    for r in rows:
        by_label = {p["label"]: p["value"] for p in r["points"]}
        lines.append(f"| {r['benchmark']} | {r['task']} | {r['metric']} | "
                     + " | ".join(_fmt(by_label.get(lab)) for lab in labels)
                     + f" | {_fmt(r['pearson'], 2)} ({_fmt(r['pearson_p'], 2)}) "
                       f"| {_fmt(r['spearman'], 2)} ({_fmt(r['spearman_p'], 2)}) |")
    lines += ["", f"Correlations are over the scales (n = {rows[0]['n']}) between the benchmark score and the "
                  f"judge's overall (macro) score; with few scales they are weak evidence."]
    return "\n".join(lines) + "\n"


def figure(rows: list[dict], a: Analysis, out_stem: Path) -> dict[str, str]:
    """Benchmark score per scale (one curve per task, with standard errors) next to the judge's overall score."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = sorted({p["size"] for r in rows for p in r["points"]})
    pos = {s: i for i, s in enumerate(sizes)}  # evenly spaced: scale 0 has no place on a log axis
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for r in rows:
        xs = [pos[p["size"]] for p in r["points"]]
        err = [p["stderr"] or 0 for p in r["points"]]
        ax.errorbar(xs, [p["value"] for p in r["points"]], yerr=err, marker="o", capsize=3,
                    label=f"{r['task']} ({r['metric']}), r={_fmt(r['pearson'], 2)}")
    macro = a.row(MACRO)
    if macro:
        cells = [c for c in macro.cells if c.mean is not None and c.size in pos]
        ax.plot([pos[c.size] for c in cells], [c.mean for c in cells], "k--", marker="s",
                label=f"judge overall (macro, {a.judge})")
    labels = {p["size"]: p["label"] for r in rows for p in r["points"]}
    ax.set_xticks(range(len(sizes)), [labels[s] for s in sizes])
    ax.set_xlabel("training examples")
    ax.set_ylabel("score")
    ax.set_ylim(0, 1)
    ax.set_title("Standard benchmarks beside the judge")
    ax.legend(fontsize=8)
    fig.tight_layout()
    files = {}
    for ext in ("png", "svg"):
        path = out_stem.with_suffix(f".{ext}")
        fig.savefig(path, dpi=120)
        files[ext] = str(path)
    plt.close(fig)
    return files


def html_view(files: dict[str, str]) -> dict | None:
    """What the HTML report's benchmark section shows (None: the run has no lm-eval judge)."""
    import base64
    import json

    if "benchmarks_json" not in files:
        return None
    rows = json.loads(Path(files["benchmarks_json"]).read_text(encoding="utf-8"))["rows"]
    labels = list(dict.fromkeys(p["label"] for r in rows for p in r["points"]))
    view_rows = []
    for r in rows:
        by_label = {p["label"]: p["value"] for p in r["points"]}
        view_rows.append({"benchmark": r["benchmark"], "task": r["task"], "metric": r["metric"],
                          "values": [_fmt(by_label.get(lab)) for lab in labels],
                          "pearson": f"{_fmt(r['pearson'], 2)} ({_fmt(r['pearson_p'], 2)})",
                          "spearman": f"{_fmt(r['spearman'], 2)} ({_fmt(r['spearman_p'], 2)})"})
    figure = base64.b64encode(Path(files["benchmarks_png"]).read_bytes()).decode("ascii")
    return {"labels": labels, "rows": view_rows, "n": rows[0]["n"], "figure": figure}
