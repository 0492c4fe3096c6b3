"""What each unit of a study runs: one function per unit kind, each calling its stage's
own entry point with the stage config the study built; `run_unit` picks one from a unit's
plain data. Returns the manifest summary."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from instructscale.console import console
from instructscale.errors import ConfigError
from instructscale.runindex import RunIndex, ScaleEntry, save_index
from instructscale.study.arms import Arm, ModelRef
from instructscale.study.config import JudgeSection, validated
from instructscale.study.context import StudyContext
from instructscale.study.graph import Graph
from instructscale.study.units import Unit


def run_unit(study: StudyContext, graph: Graph, unit: Unit) -> dict[str, Any]:
    """The work of one unit, found from its stage and `task` (which arm, model or judge)."""
    task = unit.task
    if unit.stage == "eval":
        return run_eval(study)
    if unit.stage == "pool":
        return run_generate(study) if task.get("generate") else check_pool(study)
    if unit.stage == "base":
        arm = study.arm(task["arm"])
        return run_base(study, arm) if arm.base_model.tiny is not None else run_pretrained_base(arm)
    if unit.stage == "subsets":
        return run_subsets(study, study.arm(task["arm"]))
    if unit.stage == "train":
        return run_train(study, study.arm(task["arm"]), graph.ref(task["model"]))
    if unit.stage == "respond":
        ref = graph.ref(task["model"])
        if "base_of" in task:
            base_of = study.arm(task["base_of"])
            return run_respond(study, ref, study.layout.base_path(base_of), base_of)
        return run_respond(study, ref, str(study.layout.model_dir(ref)))
    if unit.stage == "judge":
        return run_judge(study, next(j for j in study.cfg.judges if j.name == task["judge"]), graph.models)
    if unit.stage == "report":
        return run_report(study, graph.models)
    raise ValueError(f"unit {unit.name}: no runner for stage '{unit.stage}'")


def run_eval(study: StudyContext) -> dict[str, Any]:
    from instructscale.datafiles import write_jsonl

    ev = study.cfg.eval
    if ev.path is not None:
        from instructscale.evalset import import_evalset

        items = import_evalset(ev.path).items
    else:
        from instructscale.demo import build_eval_set

        items = build_eval_set(per_category=ev.demo_world_per_category, seed=ev.demo_world_seed)
    if ev.limit_per_category is not None:  # the first N of each category, in the file's order
        from collections import Counter

        seen: Counter = Counter()
        kept = []
        for item in items:
            seen[item.category] += 1
            if seen[item.category] <= ev.limit_per_category:
                kept.append(item)
        items = kept
    write_jsonl(study.layout.eval_path, items)
    if ev.sequential is not None:
        from instructscale.study.sequential import first_stage

        return {"items": len(items), "first_stage": first_stage(study, items)}
    return {"items": len(items)}


def run_generate(study: StudyContext) -> dict[str, Any]:
    from instructscale.generate import run_generate as generate

    return generate(study.stage_configs()["generate"]).model_dump(mode="json")


def check_pool(study: StudyContext) -> dict[str, Any]:
    from instructscale.datafiles import read_records
    from instructscale.records import InstructionExample

    return {"examples": len(read_records(study.layout.pool_path, InstructionExample))}


def run_subsets(study: StudyContext, arm: Arm) -> dict[str, Any]:
    from instructscale.subsets import make_subsets

    manifest = make_subsets(study.subsets_config(arm, study.stage_configs()["train"][arm.name].template))
    return {"sizes": [e.size for e in manifest.subsets], "excluded": manifest.excluded}


def run_base(study: StudyContext, arm: Arm) -> dict[str, Any]:
    from instructscale.models.tiny import TinyModelConfig
    from instructscale.train import init_tiny

    path = study.layout.base_path(arm)
    tiny = validated(TinyModelConfig, {"seed": study.cfg.seed, **arm.base_model.tiny},
                     source=study.source, prefix="base_model.tiny")
    init_tiny(study.layout.pool_path, path, tiny, vocab_size=tiny.vocab_size)
    return {"path": path}


def run_train(study: StudyContext, arm: Arm, ref: ModelRef) -> dict[str, Any]:
    from instructscale.train import run_train as train

    cfg = study.stage_configs()["train"][arm.name].model_copy(
        update={"seed": ref.seed, "data": study.subset_file(arm, ref.size), "out": study.layout.model_dir(ref)})
    if study.cfg.launch.accelerate_config is None:
        return train(cfg).model_dump(mode="json")
    return launch_train(study, cfg)


def launch_train(study: StudyContext, cfg) -> dict[str, Any]:
    """Train one scale in `accelerate launch` (many GPUs; as a SLURM job, every node of the
    job through srun: study/launch.py); the resolved settings travel as a YAML file, so the
    launched run trains exactly what the study says."""
    import os
    import subprocess

    import yaml

    from instructscale.datafiles import write_text
    from instructscale.study.launch import launch_command, rendezvous
    from instructscale.train import is_finished

    launch = study.cfg.launch
    settings = Path(str(cfg.out) + ".train.yaml")
    write_text(settings, yaml.safe_dump({"train": cfg.model_dump(mode="json")}, allow_unicode=True))
    at = rendezvous(os.environ, launch.accelerate_config) if study.executor == "slurm" else None
    cmd = launch_command(launch.accelerate_config, launch.extra_args,
                         ["-m", "instructscale", "train", "--preset", "", "--config", str(settings)], at)
    console.print("launching: " + " ".join(cmd), soft_wrap=True)
    code = subprocess.call(cmd)
    if code != 0 or not is_finished(cfg.out):
        raise ConfigError(f"launched training of {cfg.out} failed (exit code {code}); rerun to resume it")
    return {"launched": cmd[cmd.index("--config_file"):], "out": str(cfg.out),
            **({"nodes": at.nodes, "processes": at.processes, "rendezvous": f"{at.head}:{at.port}"}
               if at else {})}


def run_respond(study: StudyContext, ref: ModelRef, model_path: str, base_of: Arm | None = None) -> dict[str, Any]:
    """`base_of`: the arm whose untuned base this is; it has no saved template, so it is
    asked the way that arm's scales were trained."""
    from instructscale.respond import run_respond as respond

    cfg = study.respond_config(ref, model_path, base_of)
    # every scale of an arm, its base included, is asked with one template; the manifest says which
    template = cfg.template or study.stage_configs()["train"][ref.arm].template
    return {**respond(cfg).model_dump(mode="json"), "template": template}


def run_pretrained_base(arm: Arm) -> dict[str, Any]:
    """A GGUF base is converted here, once, into the cached Hugging Face folder that every
    scale then loads; a Hub id or folder needs nothing."""
    from instructscale.models.gguf import is_gguf, resolve_model_path

    path = arm.base_model.path
    return {"hf_folder": resolve_model_path(path)} if is_gguf(path) else {}


def run_judge(study: StudyContext, judge: JudgeSection, models: dict[str, list[ModelRef]]) -> dict[str, Any]:
    from instructscale.judge import run_judge as judge_run

    cfg = study.stage_configs()["judges"][judge.name]
    if judge.kind == "lm-eval":
        from instructscale.judge.lmeval import run_lm_eval

        arms = {a.name: a for a in study.arms}
        paths = {r.name: study.layout.base_path(arms[r.arm]) if r.size == 0 else str(study.layout.model_dir(r))
                 for r in _distinct(models)}
        return {"models": {m: {t: s.model_dump() for t, s in scores.items()}
                           for m, scores in run_lm_eval(cfg, paths).items()}}
    cfg = cfg.model_copy(update={"responses": [study.layout.responses_path(r) for r in _distinct(models)]})
    if judge.kind == "pairwise":
        from instructscale.judge.pairwise import run_pairwise

        by_key = {r.key: r.name for r in _distinct(models)}  # `against: 0` names the untuned base, `200` a scale
        return run_pairwise(cfg.model_copy(update={"against": by_key.get(cfg.against, cfg.against)})).model_dump(
            mode="json")
    return judge_run(cfg).model_dump(mode="json")


def run_report(study: StudyContext, models: dict[str, list[ModelRef]]) -> dict[str, Any]:
    from instructscale.report import build_report
    from instructscale.tracking import log_study_summary

    from instructscale.datafiles import write_json
    from instructscale.report.results import STUDY_CONFIG

    if study.cfg.eval.sequential is not None:
        from instructscale.study.sequential import take_looks

        take_looks(study, models)  # more items judged where the first look leaves a category undetermined
    write_index(study, models)
    write_json(study.layout.run_dir / STUDY_CONFIG, study.cfg.model_dump(mode="json"))  # for report/results.json
    summary = build_report(study.report_config())
    # the score table goes to the trackers the training logged to (the first arm's train.report_to)
    log_study_summary(study.layout.run_dir, summary, study.stage_configs()["train"][study.arms[0].name].report_to)
    return summary.model_dump(mode="json")


def write_index(study: StudyContext, models: dict[str, list[ModelRef]]) -> Path:
    """index.json: every arm's scale 0 and tuned models (one entry per training seed)."""
    from instructscale.subsets import human_size

    lay = study.layout
    scales = []
    for arm in study.arms:
        for ref in models[arm.name]:
            tuned = ref.size > 0
            scales.append(ScaleEntry(model=ref.name, size=ref.size, label=human_size(ref.size) if tuned else "0",
                                     subset=lay.relative(study.subset_file(arm, ref.size)) if tuned else None,
                                     arm=arm.name, seed=ref.seed))
    from instructscale.study.sequential import index_fields

    cfgs = study.stage_configs()
    index = RunIndex(name=study.cfg.name, eval=lay.relative(lay.eval_path), scales=scales,
                     responses=[lay.relative(lay.responses_path(r)) for r in _distinct(models)],
                     judgements={j.name: lay.relative(lay.judgements_path(j.name)) for j in study.cfg.judges
                                 if j.kind not in ("lm-eval", "pairwise")},
                     pairwise={j.name: lay.relative(cfgs["judges"][j.name].out) for j in study.cfg.judges
                               if j.kind == "pairwise"},
                     benchmarks={j.name: lay.relative(cfgs["judges"][j.name].out) for j in study.cfg.judges
                                 if j.kind == "lm-eval"},
                     primary_judge=study.report_config().primary_judge,
                     subsets_manifest=lay.relative(lay.subsets_dir(study.arms[0]) / "manifest.json"),
                     teacher_model=study.teacher_model() if study.cfg.data.pool is None else None,  # None: unknown
                     judge_models={name: c.client.model for name, c in cfgs["judges"].items()
                                   if getattr(c, "client", None) is not None})
    index = index.model_copy(update=index_fields(study))
    return save_index(lay.run_dir, index)


def _distinct(models: dict[str, list[ModelRef]]) -> list[ModelRef]:
    """Every model once (arms with one base model share its scale 0)."""
    return list({r.name: r for refs in models.values() for r in refs}.values())
