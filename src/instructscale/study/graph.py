"""Which units a study has and which units each one reads: the graph, apart from what the
units run (study/runners.py) and where they write (study/layout.py). Units are plain data
(study/units.py); this module imports no runner.

    eval ─┬─────────────────────────────────────── respond:* ── judge:* ── report
    pool ─┼─ subsets[@arm] ── train:N[_seedS][@arm] ─┘                       │
          └─ base[@arm] ──────┴── respond:0[@arm] ───┘     subsets[@arm] ────┘

The pool, the evaluation set, the judges and the report are shared by all arms; an arm
shares the subsets and base units of any arm with the same settings (study/arms.py).
The scales of an arm are known once its subsets unit has run (sizes may be fractions of
the pool), so its train and respond units appear then.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from instructscale.datafiles import file_sha256
from instructscale.errors import ConfigError
from instructscale.study.arms import Arm, ModelRef, selection_block, subsets_settings, tagged
from instructscale.study.context import StudyContext
from instructscale.study.units import Unit, make_unit


@dataclass
class Graph:
    units: list[Unit] = field(default_factory=list)
    arms_of: dict[str, tuple[str, ...]] = field(default_factory=dict)  # unit -> arms it serves; () = shared
    models: dict[str, list[ModelRef]] = field(default_factory=dict)  # arm -> scale 0, then its tuned models
    model_units: dict[str, tuple[Unit, Unit]] = field(default_factory=dict)  # model name -> (train or base, respond)
    waiting: list[str] = field(default_factory=list)  # arms whose scales wait for their subsets unit
    by_name: dict[str, Unit] = field(default_factory=dict)

    def add(self, unit: Unit, arms: tuple[str, ...] = ()) -> Unit:
        self.units.append(unit)
        self.by_name[unit.name] = unit
        self.arms_of[unit.name] = arms
        return unit

    def ref(self, model: str) -> ModelRef:
        """A model of the study by its name (`scale_200@quality`)."""
        return next(r for refs in self.models.values() for r in refs if r.name == model)

    def dependents(self, names: set[str]) -> set[str]:
        """Every unit that reads, directly or through others, from one of `names`."""
        out: set[str] = set()
        for unit in self.units:  # in dependency order
            if any(d in names or d in out for d in unit.after):
                out.add(unit.name)
        return out


def build_graph(study: StudyContext) -> Graph:
    cfg, lay, cfgs = study.cfg, study.layout, study.stage_configs()
    g = Graph()
    # limit_per_category left out when unset, so runs made before it existed keep their fingerprints
    eval_settings = cfg.eval.model_dump(exclude=None if cfg.eval.limit_per_category else {"limit_per_category"})
    evaluation = g.add(make_unit("eval", "eval", {"eval": eval_settings, **_file_identity(study, cfg.eval.path)},
                                 outputs=[lay.eval_path]))
    if cfg.data.pool is None:
        gen = cfgs["generate"]
        settings = {"generate": gen.model_dump(mode="json", exclude={"client", "out"}), "teacher": study.teacher_identity()}
        if cfg.data.generate.get("client"):  # generation-only teacher settings (absent: fingerprints as before)
            settings["client"] = cfg.data.generate["client"]
        pool = g.add(make_unit("pool", "pool", settings, task={"generate": True}, outputs=[lay.pool_path],
                               keep_outputs_on_change=True))
    else:
        pool = g.add(make_unit("pool", "pool", _file_identity(study, cfg.data.pool)))

    bases: dict[str, Unit] = {}  # arm name -> its (maybe shared) base unit; added after the subsets units
    for arm in study.arms:
        owner = _owner(study.arms, "base_tag", arm.base_tag)
        if owner.name in bases:
            bases[arm.name] = bases[owner.name]
        elif arm.base_model.tiny is not None:
            bases[arm.name] = make_unit(tagged("base", arm.base_tag), "base",
                                        {"tiny": arm.base_model.tiny, "seed": cfg.seed}, task={"arm": arm.name},
                                        after=[pool], outputs=[lay.base_path(arm)])
        else:
            bases[arm.name] = make_unit(tagged("base", arm.base_tag), "base",
                                        pretrained_identity(arm.base_model.path), task={"arm": arm.name})
    subsets: dict[str, Unit] = {}  # arm name -> its (maybe shared) subsets unit
    for arm in study.arms:
        owner = _owner(study.arms, "subsets_tag", arm.subsets_tag)
        if owner.name in subsets:
            subsets[arm.name] = subsets[owner.name]
            continue
        method = (selection_block(arm.subsets) or {}).get("method")
        settings: dict[str, Any] = {"subsets": subsets_settings(arm.subsets), "seed": cfg.seed}
        if method == "llm-quality":
            settings["teacher"] = study.teacher_identity()  # the default rater
        subsets[arm.name] = g.add(make_unit(tagged("subsets", arm.subsets_tag), "subsets", settings,
                                            task={"arm": arm.name},
                                            after=[pool, evaluation, *([bases[arm.name]] if method == "ifd" else [])],
                                            outputs=[lay.subsets_dir(arm)]),
                                  _sharing(study.arms, "subsets_tag", arm.subsets_tag))
    for arm in study.arms:
        if bases[arm.name].name not in g.arms_of:
            g.add(bases[arm.name], _sharing(study.arms, "base_tag", arm.base_tag))

    trains, responds = [], []
    respond_settings = cfgs["respond"].model_dump(mode="json", exclude={"models", "out", "eval", "client"})
    for arm in study.arms:
        sizes = study.sizes(arm)
        if sizes is None:
            g.waiting.append(arm.name)
            continue
        base_ref = ModelRef(arm=_owner(study.arms, "base_tag", arm.base_tag).name, size=0, seed=None,
                            seed_tag=False, tag=arm.base_tag)
        refs = [base_ref]
        if base_ref.name not in g.model_units:
            respond0 = make_unit(f"respond:{base_ref.key}", "respond", respond_settings,
                                 task={"model": base_ref.name, "base_of": arm.name},
                                 after=[bases[arm.name], evaluation], scale="0", outputs=[lay.responses_path(base_ref)])
            responds.append((respond0, _sharing(study.arms, "base_tag", arm.base_tag)))
            g.model_units[base_ref.name] = (bases[arm.name], respond0)
        train_cfg = cfgs["train"][arm.name]
        seeds = arm.seeds or (train_cfg.seed,)
        for size in sizes:
            for k, seed in enumerate(seeds):
                ref = ModelRef(arm=arm.name, size=size, seed=seed, seed_tag=k > 0, tag=arm.tag)
                settings = train_cfg.model_copy(update={"seed": seed}).identity(
                    exclude={"data", "out", "base_model", "report_to"})  # trackers: not the model
                train = make_unit(f"train:{ref.key}", "train", settings, task={"arm": arm.name, "model": ref.name},
                                  after=[subsets[arm.name], bases[arm.name]], scale=str(size),
                                  outputs=[lay.model_dir(ref)])
                respond = make_unit(f"respond:{ref.key}", "respond", respond_settings, task={"model": ref.name},
                                    after=[train, evaluation], scale=str(size), outputs=[lay.responses_path(ref)])
                trains.append((train, (arm.name,)))
                responds.append((respond, (arm.name,)))
                g.model_units[ref.name] = (train, respond)
                refs.append(ref)
        g.models[arm.name] = refs
    for unit, arms in [*trains, *responds]:
        g.add(unit, arms)
    if g.waiting:
        return g  # judges and the report appear once every arm's scales are known

    answered = [u for u, _ in responds]
    judges = []
    for judge in cfg.judges:
        settings = _judge_settings(study, judge)
        judges.append(g.add(make_unit(f"judge:{judge.name}", "judge", settings, task={"judge": judge.name},
                                      after=answered, outputs=[_judge_output(study, judge)])))
    # the judges' names too: a renamed judge has the same settings, but index.json and the report name it
    report_settings = {**cfgs["report"].model_dump(mode="json", exclude={"run_dir", "out"}),
                       "judges": [j.name for j in cfg.judges]}
    g.add(make_unit("report", "report", report_settings,
                    after=[*{u.name: u for u in subsets.values()}.values(), *judges]))
    return g


def _judge_settings(study: StudyContext, judge) -> dict[str, Any]:
    jcfg = study.stage_configs()["judges"][judge.name]
    settings = jcfg.model_dump(mode="json", exclude={"eval", "responses", "out", "cache", "client"})
    if getattr(jcfg, "client", None) is not None:  # lm-eval judges have no client
        settings["client"] = {"params": jcfg.client.params, "model": jcfg.client.model,
                              **({"teacher": study.teacher_identity()} if judge.use_teacher
                                 else {"base_url": jcfg.client.base_url})}
    return settings


def _judge_output(study: StudyContext, judge) -> Path:
    if judge.kind in ("lm-eval", "pairwise"):
        return study.stage_configs()["judges"][judge.name].out
    return study.layout.judgements_path(judge.name)


def _owner(arms: list[Arm], attr: str, tag: str) -> Arm:
    """The first arm with this subsets / base tag: it builds the shared unit."""
    return next(a for a in arms if getattr(a, attr) == tag)


def _sharing(arms: list[Arm], attr: str, tag: str) -> tuple[str, ...]:
    return tuple(a.name for a in arms if getattr(a, attr) == tag)


def pretrained_identity(path: str) -> dict[str, Any]:
    """A pretrained base in fingerprints: its Hub id or folder, and for a GGUF file also its
    sha256 (a changed file retrains every scale)."""
    from instructscale.models.gguf import is_gguf

    return {"path": path, "sha256": file_sha256(path)} if is_gguf(path) and Path(path).is_file() else {"path": path}


def _file_identity(study: StudyContext, path: str | None) -> dict[str, Any]:
    if path is None:
        return {}
    p = Path(path)
    if not p.exists():  # `study status` and `study plan` still work; `study run`'s preflight names it
        return {"path": str(p), "missing": True}
    return {"path": str(p), "sha256": file_sha256(p)} if p.is_file() else {"path": str(p)}
