"""One results file and one per-sample log per study, as lm-evaluation-harness users expect
(`results.json`, `--log_samples`): instead of reading config, versions and scores from
manifests/*.json, scores.json and index.json, one file holds them all."""

from __future__ import annotations

import json
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from instructscale.datafiles import write_json, write_jsonl
from instructscale.provenance import git_commits, package_versions
from instructscale.report.analysis import Analysis
from instructscale.report.config import ReportConfig
from instructscale.report.load import RunData

STUDY_CONFIG = "study.json"  # RUN_DIR/study.json: the study's settings, written by `study run`


def write_results(cfg: ReportConfig, run: RunData, analyses: dict[str, Analysis], out: Path) -> str:
    """results.json: the study's settings (when a study wrote them), the report's, versions, git
    commits, and per arm and category the means with 95% CIs at every scale, slope, verdict, fit."""
    study = run.index.resolve(STUDY_CONFIG)
    path = out / "results.json"
    write_json(path, {
        "name": run.name, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "config": {"study": json.loads(study.read_text(encoding="utf-8")) if study.exists() else None,
                   "report": cfg.model_dump(mode="json", exclude={"run_dir", "out", "compare"})},
        "versions": package_versions(), "git": git_commits(), "judge": run.judge,
        "judges": {name: run.index.judge_models.get(name) for name in run.scores},
        "teacher_model": run.index.teacher_model,
        "results": {arm: {r.category: {"items": r.items,
                                       "scales": [c.model_dump() for c in r.cells],
                                       "slope": r.trend.slope, "late_slope": r.trend.late_slope,
                                       "verdict": r.trend.verdict,
                                       "fit": r.fit.model_dump() if r.fit is not None else None}
                          for r in a.rows} for arm, a in analyses.items()},
    })
    return str(path)


def write_samples(run: RunData, out: Path) -> str:
    """samples.jsonl: one row per model, item and response sample: question, reference, answer,
    and every judge's replies to it (repeat, score, reply text, error)."""
    replies: dict[tuple[str, str, int], dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for name, judgements in run.judgements.items():
        for j in sorted(judgements, key=lambda j: j.repeat):
            replies[(j.model, j.item_id, j.sample)][name].append(
                {"repeat": j.repeat, "score": j.score, "reply": j.raw, **({"error": j.error} if j.error else {})})
    items = sorted(run.items.values(), key=lambda i: (run.categories.index(i.category), i.id))
    path = out / "samples.jsonl"
    write_jsonl(path, ({"item_id": item.id, "category": item.category, "question": item.question,
                        "reference": item.reference, "model": scale.model, "scale": scale.label, "size": scale.size,
                        "arm": scale.arm, "seed": scale.seed, "sample": r.sample, "response": r.response,
                        "judgements": dict(replies.get((scale.model, item.id, r.sample), {}))}
                       for scale in run.scales for item in items for r in run.responses.get((scale.model, item.id), [])))
    return str(path)
