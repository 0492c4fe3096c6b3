"""The report stage: load a run → bootstrap statistics → tables, figures, diagnostics,
composition → one self-contained HTML file. Entry point: `build_report(ReportConfig)`."""

from __future__ import annotations

import dataclasses

from pydantic import BaseModel, Field

from instructscale.datafiles import write_json, write_text
from instructscale.report.analysis import Analysis, analyze
from instructscale.report.agreement import repeat_agreement, verdicts_by_judge
from instructscale.report.arms import arm_runs, arms_report, write_arm_tables
from instructscale.report.benchmarks import write_benchmarks
from instructscale.report.composition import composition
from instructscale.report.config import ReportConfig, Verdict
from instructscale.report.diagnostics import agreement, checks, judge_health, write_checks
from instructscale.report.figures import composition_figure, figure1
from instructscale.report.html import render_html
from instructscale.report.human import load_human_agreement
from instructscale.report.load import load_run
from instructscale.report.pairwise import pairwise_rows, write_pairwise
from instructscale.report.stats import CategoryResult
from instructscale.report.results import write_results, write_samples
from instructscale.report.tables import rich_table, write_compare, write_leaderboard, write_tables
from instructscale.runindex import load_index


class ReportSummary(BaseModel):
    name: str
    out: str
    judge: str
    files: dict[str, str] = Field(default_factory=dict, description="kind -> written path")
    scales: list[str] = Field(default_factory=list, description="Scale labels, smallest first")
    rows: list[CategoryResult] = Field(default_factory=list, description="Per category, then macro and micro")
    verdicts: dict[str, Verdict] = Field(default_factory=dict)
    compared: list[str] = Field(default_factory=list, description="Names of the runs shown beside this one")
    unknown_models: list[str] = Field(default_factory=list, description="Judged models that are no scale")
    warnings: list[str] = Field(default_factory=list, description="E.g. a judge that is the teacher model")
    arms: dict[str, list[CategoryResult]] = Field(default_factory=dict, description="arm -> its rows (studies "
                                                  "with arms; the headline rows are the first arm's)")

    def table(self):
        """The headline table as a rich Table, for `report`, `study run` and `demo` to print."""
        return rich_table(self.rows, self.scales, title=f"{self.name}: mean score ({self.judge})")


def build_report(cfg: ReportConfig) -> ReportSummary:
    out = cfg.out
    run = load_run(cfg.run_dir, cfg.primary_judge)  # a wrong run directory leaves no empty report folder
    out.mkdir(parents=True, exist_ok=True)
    runs = arm_runs(run)  # a study with arms: each arm is analysed on its own, the first one is the headline
    arms = arms_report(runs, cfg.bootstrap_samples, cfg.seed, cfg.thresholds, cfg.target_score)
    head = next(iter(runs.values()))
    a = (analyze(head, cfg.bootstrap_samples, cfg.seed, cfg.thresholds, cfg.target_score) if arms is None
         else dataclasses.replace(arms.analyses[0], name=f"{head.name}: {arms.analyses[0].name}"))
    files = write_tables(a, cfg.thresholds, out)
    files.update({f"figure1_{k}": v for k, v in figure1(arms.analyses if arms else [a], out / "figure1").items()})
    if arms is not None:
        files.update(write_arm_tables(arms, out))

    health, agree, check = judge_health(run), agreement(run, seed=cfg.seed), checks(head, cfg.thresholds)
    reliability = {"repeat_agreement": repeat_agreement(run, seed=cfg.seed),
                   "verdicts_by_judge": verdicts_by_judge(head, a, cfg.bootstrap_samples, cfg.seed, cfg.thresholds,
                                                          cfg.target_score),
                   "human_agreement": load_human_agreement(cfg.run_dir)}
    write_json(out / "diagnostics.json", {"judges": [h.model_dump() for h in health],
                                          "agreement": [g.model_dump() for g in agree], **check.model_dump(),
                                          **_dump(reliability)})
    files["diagnostics"] = str(out / "diagnostics.json")
    files.update(write_checks(check, a.labels, out))
    comp = composition(head.manifest)
    if comp:
        write_json(out / "composition.json", comp)
        files["composition"] = str(out / "composition.json")
        files.update({f"composition_{k}": v for k, v in composition_figure(comp, out / "composition").items()})

    files.update(write_benchmarks(head, a, out))  # lm-eval judges: extra curves, correlation with the judge
    files.update(write_pairwise(pairwise_rows(run, cfg.bootstrap_samples, cfg.seed), out))  # pairwise judges

    compared = _compare_analyses(cfg, a)
    entries = ([(head.name, arm.name, arm) for arm in arms.analyses] if arms else [(head.name, "-", a)]) + \
        [(c.name, "-", c) for c in compared]
    if len(entries) > 1:
        files.update(write_leaderboard(entries, out))
    if compared:
        files.update(write_compare([a, *compared], out))
        files.update({f"compare_{k}": v for k, v in figure1([a, *compared], out / "figure1_compare").items()})

    files["results"] = write_results(cfg, run, {arm.name: arm for arm in arms.analyses} if arms else {"main": a}, out)
    files["samples"] = write_samples(run, out)
    html = render_html(cfg, run, a, files, health, agree, comp, [a, *compared] if compared else [], check, arms,
                       reliability)
    write_text(out / "report.html", html)
    files["html"] = str(out / "report.html")
    return ReportSummary(name=a.name, out=str(out), judge=a.judge, files=files, scales=a.labels, rows=a.rows,
                         verdicts={r.category: r.trend.verdict for r in a.rows}, compared=[c.name for c in compared],
                         unknown_models=run.unknown_models, warnings=check.warnings,
                         arms={x.name: x.rows for x in arms.analyses} if arms else {})


def _dump(values: dict) -> dict:
    def one(v):
        return [x.model_dump() for x in v] if isinstance(v, list) else None if v is None else v.model_dump()

    return {k: one(v) for k, v in values.items()}


def _compare_analyses(cfg: ReportConfig, main: Analysis) -> list[Analysis]:
    """Other runs, analysed with the same judge where they have it (else their own primary judge);
    run names made distinct."""
    out, names = [], {main.name}
    for run_dir in cfg.compare:
        has_judge = cfg.primary_judge in load_index(run_dir).judgements
        run = load_run(run_dir, cfg.primary_judge if has_judge else None)
        a = analyze(run, cfg.bootstrap_samples, cfg.seed, cfg.thresholds, cfg.target_score)
        if a.name in names:
            a.name = f"{a.name} ({run_dir.resolve().name})"
        names.add(a.name)
        out.append(a)
    return out
