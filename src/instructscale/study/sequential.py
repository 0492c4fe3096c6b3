"""`eval.sequential` in a study: the hooks that answer and judge more items for the categories the
first look leaves undetermined (the statistics are report/sequential.py).

The eval unit writes the whole eval set (subsets are decontaminated against all of it) and the
first stage's items (eval/eval-sequential.jsonl), which every respond unit answers and every judge
judges. The report unit then takes the looks: verdicts of the current stage, the next stage's items
for the categories still undetermined, every model asked and every judge run again (both resume
from their output files, so only the new items cost anything), until no category goes on. A run
stopped in the middle of a stage finishes that stage first when rerun, before any verdict is taken.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

from instructscale.console import console
from instructscale.errors import ConfigError
from instructscale.datafiles import write_json
from instructscale.report.sequential import RECORD_FILE, STAGE_EVAL, advance, load_record, save_stage, start
from instructscale.study.outputs import record_outputs

if TYPE_CHECKING:
    from instructscale.study.arms import ModelRef
    from instructscale.study.pipeline import Study


def folder(study: Study) -> Path:
    return study.layout.eval_path.parent


def respond_eval(study: Study) -> Path:
    """The eval file respond units answer: the current stage under a sequential design."""
    return folder(study) / STAGE_EVAL if study.cfg.eval.sequential else study.layout.eval_path


def first_stage(study: Study, items: list) -> dict[str, int]:
    """For the eval unit: the record of a fresh sequential evaluation and its first stage's items."""
    record = start(study.cfg.eval.sequential, dict(Counter(i.category for i in items)), seed=study.cfg.seed)
    save_stage(folder(study), record, items)
    return {c: looks.items for c, looks in record.categories.items()}


def take_looks(study: Study, models: dict[str, list[ModelRef]]) -> None:
    """For the report unit: verdicts at each look, more items where undetermined, until none goes on."""
    from instructscale.datafiles import read_records
    from instructscale.records import EvalItem
    from instructscale.report.analysis import analyze
    from instructscale.report.load import load_run
    from instructscale.study.runners import write_index

    record = load_record(folder(study) / RECORD_FILE)
    items = read_records(study.layout.eval_path, EvalItem)
    cfg = study.report_config()
    while True:
        if record.judging:
            _judge_stage(study, models)
            record.judging = False
            save_stage(folder(study), record, items)
        if all(c.done for c in record.categories.values()):
            return
        write_index(study, models)
        a = analyze(load_run(study.run_dir, cfg.primary_judge), cfg.bootstrap_samples, cfg.seed, cfg.thresholds,
                    cfg.target_score)
        going = advance(record, {r.category: r.trend.verdict for r in a.categories})
        record.judging = bool(going)
        save_stage(folder(study), record, items)
        for name in going:
            console.print(f"sequential evaluation: {name} {record.categories[name].reason.split(':')[0]}; "
                          f"judging {record.categories[name].items} items")


def _judge_stage(study: Study, models: dict[str, list[ModelRef]]) -> None:
    from instructscale.study import runners

    arms = {a.name: a for a in study.arms}
    for ref in {r.name: r for refs in models.values() for r in refs}.values():
        arm = arms[ref.arm]
        path = study.layout.base_path(arm) if ref.size == 0 else str(study.layout.model_dir(ref))
        _check(runners.run_respond(study, ref, path, arm if ref.size == 0 else None), f"respond:{ref.key}")
    for judge in study.cfg.judges:
        if judge.kind != "lm-eval":
            _check(runners.run_judge(study, judge, models), f"judge:{judge.name}")
    _rerecord(study)


def _rerecord(study: Study) -> None:
    """The respond and judge units' manifests record their files as this stage left them: the files
    grew by the stage's items, which is no damage (study/outputs.py), and a rerun must not redo them."""
    for unit in study.graph().units:
        manifest = study.ledger.read(unit) if unit.stage in ("respond", "judge") else None
        if manifest and manifest.get("status") == "done" and manifest.get("outputs") is not None:
            manifest["outputs"] = record_outputs(unit.outputs, study.run_dir)
            write_json(study.ledger.path(unit), manifest)


def _check(summary: dict, unit: str) -> None:
    if summary.get("incomplete"):
        raise ConfigError(f"sequential evaluation: {unit} left work unfinished ({summary['incomplete']}); "
                          f"rerun the study to finish this stage before its verdicts are taken")


def index_fields(study: Study) -> dict[str, str]:
    """What index.json names under a sequential design: the stage's eval items and the record."""
    if not study.cfg.eval.sequential:
        return {}
    lay = study.layout
    return {"eval": lay.relative(folder(study) / STAGE_EVAL), "sequential": lay.relative(folder(study) / RECORD_FILE)}

