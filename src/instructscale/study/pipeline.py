"""`Study`: a study file turned into fingerprinted units of work, run in order.

The story of `study run`: validate every stage config (fail before any work) -> start the
offline teacher if asked -> eval set -> pool (generate, or an existing file) -> nested
subsets -> base model -> one training run per scale -> responses per scale (scale 0 is
the untuned base) -> one judgement file per judge -> index.json -> report.

RUN_DIR layout:
    eval/eval.jsonl  data/pool.jsonl  subsets/  models/base/  models/scale_<n>/
    responses/scale_<n>.jsonl  judgements/<judge>.jsonl  cache/llm_cache.sqlite
    manifests/<unit>.json  index.json  report/
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from instructscale.console import console
from instructscale.datafiles import file_sha256
from instructscale.errors import ConfigError
from instructscale.runindex import RunIndex, ScaleEntry, save_index
from instructscale.study.config import JudgeSection, StudyConfig, check_cross_stage, validated
from instructscale.study.units import Ledger, Unit

STAGES = ["eval", "pool", "subsets", "base", "train", "respond", "judge", "report"]
DEMO_TEACHER_MODEL = "demo-teacher"


@dataclass
class UnitRow:
    """One line of `study status`."""

    unit: str
    stage: str
    scale: str | None
    state: str  # done | changed | partial | pending
    seconds: float | None = None


class Study:
    def __init__(self, cfg: StudyConfig, source: str = "study.yaml"):
        self.cfg = cfg
        self.source = source
        self.run_dir = Path(cfg.run_dir)
        self.ledger = Ledger(self.run_dir)
        self.teacher_url: str | None = cfg.teacher.base_url
        self._configs: dict[str, Any] = {}
        self._configs_for: str | None = "(not built)"
        self.stage_configs()  # validation only: every stage's settings are checked before any work

    # paths ----------------------------------------------------------------------------

    @property
    def eval_path(self) -> Path:
        return self.run_dir / "eval" / "eval.jsonl"

    @property
    def pool_path(self) -> Path:
        return self.run_dir / "data" / "pool.jsonl" if self.cfg.data.pool is None else Path(self.cfg.data.pool)

    @property
    def base_path(self) -> str:
        return str(self.run_dir / "models" / "base") if self.cfg.base_model.tiny else self.cfg.base_model.path

    def model_dir(self, size: int) -> Path:
        return self.run_dir / "models" / f"scale_{size}"

    def responses_path(self, size: int) -> Path:
        return self.run_dir / "responses" / f"scale_{size}.jsonl"

    def judgements_path(self, judge: JudgeSection) -> Path:
        return self.run_dir / "judgements" / f"{judge.name}.jsonl"

    # stage configs ----------------------------------------------------------------------

    def teacher_client(self, overrides: dict[str, Any] | None = None, prefix: str = "teacher"):
        from instructscale.llm import ClientConfig

        t = self.cfg.teacher
        values = {"base_url": self.teacher_url or "http://127.0.0.1:1/v1",
                  "model": DEMO_TEACHER_MODEL if t.offline_demo else t.model, "api_key_env": t.api_key_env,
                  "concurrency": t.concurrency, "rpm": t.rpm, "tpm": t.tpm, "timeout_s": t.timeout_s,
                  "max_attempts": t.max_attempts, **(overrides or {})}
        return validated(ClientConfig, values, source=self.source, prefix=prefix)

    def teacher_identity(self) -> dict[str, Any]:
        """What the teacher is, for fingerprints: the offline teacher's port changes every run."""
        t = self.cfg.teacher
        if t.offline_demo:
            return {"offline_demo": True, "seed": self.cfg.seed}
        return {"base_url": t.base_url, "model": t.model}

    def stage_configs(self) -> dict[str, Any]:
        """Every stage's typed config (scale-independent parts). Built, and so validated, once
        per teacher URL: the offline teacher's URL is only known once it has started."""
        if self._configs_for != self.teacher_url:
            self._configs, self._configs_for = self._build_stage_configs(), self.teacher_url
        return self._configs

    def _build_stage_configs(self) -> dict[str, Any]:
        from instructscale.judge import JudgeConfig
        from instructscale.train import TrainConfig, presets

        cfgs: dict[str, Any] = {}
        if self.cfg.data.pool is None:
            from instructscale.generate import GenerateConfig

            cfgs["generate"] = validated(GenerateConfig, {"seed": self.cfg.seed, **self.cfg.data.generate,
                                                          "out": self.pool_path, "client": self.teacher_client()},
                                         source=self.source, prefix="data.generate")
        train = dict(self.cfg.train)
        preset = train.pop("preset", "replica")
        if preset not in presets():
            raise ConfigError(f"{self.source}: train.preset: unknown preset '{preset}' (have: {', '.join(presets())})")
        cfgs["train"] = validated(TrainConfig, {**presets()[preset], "seed": self.cfg.seed, "resume": True, **train,
                                                "base_model": self.base_path},
                                  source=self.source, prefix="train")
        cfgs["respond"] = self._respond_config()
        cfgs["judges"] = {}
        for i, judge in enumerate(self.cfg.judges):
            cfgs["judges"][judge.name] = validated(JudgeConfig, self._judge_values(judge, i), source=self.source,
                                                   prefix=f"judges.{i}.options")
        names = [j.name for j in self.cfg.judges]
        if len(set(names)) != len(names):
            raise ConfigError(f"{self.source}: judges: names must be unique, got {names}")
        cfgs["report"] = self._report_config()
        check_cross_stage(self.cfg, cfgs, self.source)
        return cfgs

    def _respond_config(self, size: int | None = None):
        """Responses of one scale (None: validation only). The untuned base has no saved
        template, so it is asked the way the scales were trained."""
        from instructscale.respond import ModelSpec, RespondConfig

        values = {"seed": self.cfg.seed, **self.cfg.respond, "eval": self.eval_path, "models": [],
                  "out": self.run_dir / "responses" / "responses.jsonl"}
        if size is not None:
            path = self.base_path if size == 0 else str(self.model_dir(size))
            values.update(models=[ModelSpec(name=f"scale_{size}", path=path)], out=self.responses_path(size))
            if size == 0:
                values.setdefault("template", self.stage_configs()["train"].template)
        if values.get("backend") == "openai" and "client" not in values:
            raise ConfigError(f"{self.source}: respond.client: the openai backend needs client settings")
        return validated(RespondConfig, values, source=self.source, prefix="respond")

    def _judge_values(self, judge: JudgeSection, i: int) -> dict[str, Any]:
        options = dict(judge.options)
        values: dict[str, Any] = {"eval": self.eval_path, "responses": [self.eval_path],
                                  "out": self.judgements_path(judge), "scorer": judge.kind,
                                  "cache": self.run_dir / "cache" / "llm_cache.sqlite", "seed": self.cfg.seed}
        client_overrides = options.pop("client", {})
        if judge.kind == "llm":
            if judge.use_teacher:
                values["client"] = self.teacher_client(client_overrides, prefix=f"judges.{i}.options.client")
            else:
                values["client"] = client_overrides
        return {**values, **options}

    def _report_config(self):
        from instructscale.report import ReportConfig

        options = {"seed": self.cfg.seed, **self.cfg.report, "run_dir": self.run_dir}
        options.setdefault("primary_judge", self.cfg.judges[0].name if self.cfg.judges else None)
        return validated(ReportConfig, options, source=self.source, prefix="report")

    # units ------------------------------------------------------------------------------

    def sizes(self) -> list[int] | None:
        """Training scales; None while they depend on a pool size not known yet."""
        from instructscale.subsets import load_manifest
        from instructscale.subsets.make import resolve_sizes

        manifest_path = self.run_dir / "subsets" / "manifest.json"
        if manifest_path.exists():
            return [e.size for e in load_manifest(manifest_path).subsets]
        if all(s >= 1 for s in self.cfg.subsets.sizes):
            return resolve_sizes(self.cfg.subsets.sizes, 10**18)
        return None

    def units(self) -> list[Unit]:
        cfg, cfgs = self.cfg, self.stage_configs()
        units: list[Unit] = []

        evaluation = Unit("eval", "eval", {"eval": cfg.eval.model_dump(), **self._file_identity(cfg.eval.path)},
                          run=self._run_eval, outputs=[self.eval_path])
        units.append(evaluation)

        if cfg.data.pool is None:
            gen = cfgs["generate"]
            pool = Unit("pool", "pool", {"generate": gen.model_dump(mode="json", exclude={"client", "out"}),
                                         "teacher": self.teacher_identity()},
                        run=lambda: self._run_generate(), outputs=[self.pool_path], keep_outputs_on_change=True)
        else:
            pool = Unit("pool", "pool", self._file_identity(cfg.data.pool), run=self._check_pool)
        units.append(pool)

        subsets = Unit("subsets", "subsets", {"subsets": cfg.subsets.model_dump(), "seed": cfg.seed},
                       run=self._run_subsets, after=[pool, evaluation], outputs=[self.run_dir / "subsets"])
        units.append(subsets)

        if cfg.base_model.tiny is not None:
            base = Unit("base", "base", {"tiny": cfg.base_model.tiny, "seed": cfg.seed}, run=self._run_base,
                        after=[pool], outputs=[Path(self.base_path)])
        else:
            base = self._pretrained_base_unit()
        units.append(base)

        sizes = self.sizes()
        if sizes is None:
            return units  # scale units appear once the subsets stage has fixed the sizes
        train_settings = cfgs["train"].model_dump(mode="json", exclude={"data", "out", "base_model"})
        trains = {0: base}
        for size in sizes:
            trains[size] = Unit(f"train:{size}", "train", train_settings, run=lambda s=size: self._run_train(s),
                                after=[subsets, base], scale=str(size), outputs=[self.model_dir(size)])
            units.append(trains[size])
        respond_settings = cfgs["respond"].model_dump(mode="json", exclude={"models", "out", "eval", "client"})
        responds = []
        for size in [0, *sizes]:
            responds.append(Unit(f"respond:{size}", "respond", respond_settings,
                                 run=lambda s=size: self._run_respond(s), after=[trains[size], evaluation],
                                 scale=str(size), outputs=[self.responses_path(size)]))
        units.extend(responds)
        judges = []
        for judge in cfg.judges:
            jcfg = cfgs["judges"][judge.name]
            settings = jcfg.model_dump(mode="json", exclude={"eval", "responses", "out", "cache", "client"})
            if jcfg.client is not None:
                settings["client"] = {"params": jcfg.client.params, "model": jcfg.client.model,
                                      **({"teacher": self.teacher_identity()} if judge.use_teacher
                                         else {"base_url": jcfg.client.base_url})}
            judges.append(Unit(f"judge:{judge.name}", "judge", settings, run=lambda j=judge: self._run_judge(j, sizes),
                               after=responds, outputs=[self.judgements_path(judge)]))
        units.extend(judges)
        report_settings = cfgs["report"].model_dump(mode="json", exclude={"run_dir", "out"})
        units.append(Unit("report", "report", report_settings, run=lambda: self._run_report(sizes),
                          after=[subsets, *judges]))
        return units

    def _pretrained_base_unit(self) -> Unit:
        """A Hub id or folder as is; a GGUF file is recorded by its sha256 and converted here,
        once, into the cached Hugging Face folder every scale then loads."""
        from instructscale.models.gguf import is_gguf, resolve_model_path

        path = self.cfg.base_model.path
        if not is_gguf(path):
            return Unit("base", "base", {"path": path}, run=dict)
        return Unit("base", "base", self._file_identity(path), run=lambda: {"hf_folder": resolve_model_path(path)})

    def _file_identity(self, path: str | None) -> dict[str, Any]:
        if path is None:
            return {}
        p = Path(path)
        if not p.exists():
            raise ConfigError(f"{self.source}: file not found: {p}")
        return {"path": str(p), "sha256": file_sha256(p)} if p.is_file() else {"path": str(p)}

    # stage runners ----------------------------------------------------------------------

    def _run_eval(self) -> dict[str, Any]:
        from instructscale.datafiles import write_jsonl

        ev = self.cfg.eval
        if ev.path is not None:
            from instructscale.evalset import import_evalset

            items = import_evalset(ev.path).items
        else:
            from instructscale.demo import build_eval_set

            items = build_eval_set(per_category=ev.demo_world_per_category, seed=ev.demo_world_seed)
        write_jsonl(self.eval_path, items)
        return {"items": len(items)}

    def _run_generate(self) -> dict[str, Any]:
        from instructscale.generate import run_generate

        summary = run_generate(self.stage_configs()["generate"])
        return summary.model_dump(mode="json")

    def _check_pool(self) -> dict[str, Any]:
        from instructscale.datafiles import read_records
        from instructscale.records import InstructionExample

        return {"examples": len(read_records(self.pool_path, InstructionExample))}

    def _run_subsets(self) -> dict[str, Any]:
        from instructscale.subsets import SubsetsConfig, make_subsets

        s = self.cfg.subsets
        manifest = make_subsets(SubsetsConfig(
            pool=self.pool_path, sizes=s.sizes, out=self.run_dir / "subsets", seed=self.cfg.seed, stratify=s.stratify,
            exclude_eval=self.eval_path if s.exclude_eval_overlaps else None, overlap_threshold=s.overlap_threshold))
        return {"sizes": [e.size for e in manifest.subsets], "excluded": manifest.excluded}

    def _run_base(self) -> dict[str, Any]:
        from instructscale.models.tiny import TinyModelConfig
        from instructscale.train import init_tiny

        tiny = validated(TinyModelConfig, {"seed": self.cfg.seed, **self.cfg.base_model.tiny},
                         source=self.source, prefix="base_model.tiny")
        init_tiny(self.pool_path, self.base_path, tiny, vocab_size=tiny.vocab_size)
        return {"path": self.base_path}

    def _run_train(self, size: int) -> dict[str, Any]:
        from instructscale.train import run_train

        cfg = self.stage_configs()["train"].model_copy(update={"data": self._subset_entry(size),
                                                               "out": self.model_dir(size)})
        if self.cfg.launch.accelerate_config is None:
            return run_train(cfg).model_dump(mode="json")
        return self._launch_train(cfg)

    def _launch_train(self, cfg) -> dict[str, Any]:
        """Train one scale in `accelerate launch` (many GPUs or nodes); the resolved settings
        travel as a YAML file, so the launched run trains exactly what the study says."""
        import subprocess
        import sys

        import yaml

        from instructscale.datafiles import write_text
        from instructscale.train import is_finished

        settings = Path(str(cfg.out) + ".train.yaml")
        write_text(settings, yaml.safe_dump({"train": cfg.model_dump(mode="json")}, allow_unicode=True))
        cmd = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", self.cfg.launch.accelerate_config,
               *self.cfg.launch.extra_args, "-m", "instructscale", "train", "--preset", "", "--config", str(settings)]
        console.print("launching: " + " ".join(cmd))
        code = subprocess.call(cmd)
        if code != 0 or not is_finished(cfg.out):
            raise ConfigError(f"launched training of {cfg.out} failed (exit code {code}); rerun to resume it")
        return {"launched": cmd[3:], "out": str(cfg.out)}

    def _subset_entry(self, size: int) -> Path:
        from instructscale.subsets import load_manifest

        manifest = load_manifest(self.run_dir / "subsets" / "manifest.json")
        entry = next(e for e in manifest.subsets if e.size == size)
        return manifest.subset_path(entry)

    def _run_respond(self, size: int) -> dict[str, Any]:
        from instructscale.respond import run_respond

        return run_respond(self._respond_config(size)).model_dump(mode="json")

    def _run_judge(self, judge: JudgeSection, sizes: list[int]) -> dict[str, Any]:
        from instructscale.judge import run_judge

        cfg = self.stage_configs()["judges"][judge.name]
        cfg = cfg.model_copy(update={"responses": [self.responses_path(s) for s in [0, *sizes]]})
        return run_judge(cfg).model_dump(mode="json")

    def _run_report(self, sizes: list[int]) -> dict[str, Any]:
        from instructscale.report import build_report

        self.write_index(sizes)
        summary = build_report(self._report_config())
        return summary.model_dump(mode="json")

    def write_index(self, sizes: list[int]) -> Path:
        from instructscale.subsets import human_size

        rel = lambda p: str(Path(p).relative_to(self.run_dir))  # noqa: E731
        scales = [ScaleEntry(model="scale_0", size=0, label="0", subset=None)]
        scales += [ScaleEntry(model=f"scale_{s}", size=s, label=human_size(s), subset=rel(self._subset_entry(s)))
                   for s in sizes]
        index = RunIndex(name=self.cfg.name, eval=rel(self.eval_path), scales=scales,
                         responses=[rel(self.responses_path(s)) for s in [0, *sizes]],
                         judgements={j.name: rel(self.judgements_path(j)) for j in self.cfg.judges},
                         primary_judge=self._report_config().primary_judge,
                         subsets_manifest="subsets/manifest.json")
        return save_index(self.run_dir, index)

    # running ----------------------------------------------------------------------------

    def run(self, only: list[str] | None = None, start: str | None = None, force: bool = False) -> list[tuple[str, str]]:
        """Run the selected stages in order; returns (unit, outcome) pairs."""
        selected = _select_stages(only, start)
        _quiet_library_progress()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        outcomes: list[tuple[str, str]] = []
        with self._teacher():
            done: set[str] = set()
            while True:  # a second pass once subsets has fixed the scales
                pending = [u for u in self.units() if u.name not in done]
                if not pending:
                    break
                for unit in pending:
                    done.add(unit.name)
                    if unit.stage not in selected:
                        continue
                    for dep in unit.after:
                        if self.ledger.state(dep) != "done":
                            raise ConfigError(f"{unit.name} needs {dep.name}, which is {self.ledger.state(dep)}; "
                                              f"run the stage '{dep.stage}' first (e.g. --from {dep.stage})")
                    console.rule(f"[bold]{unit.name}")
                    outcome, manifest = self.ledger.execute(unit, force=force)
                    if outcome == "skipped":
                        console.print(f"{unit.name}: unchanged since {manifest.get('finished', '?')}, skipped")
                    outcomes.append((unit.name, outcome))
                if self.sizes() is None:
                    break
        return outcomes

    @contextlib.contextmanager
    def _teacher(self):
        if not self.cfg.teacher.offline_demo:
            yield
            return
        from instructscale.demo import serve

        server = serve(seed=self.cfg.seed)
        self.teacher_url = server.base_url
        console.print(f"offline demo teacher on {server.base_url}")
        try:
            yield
        finally:
            server.stop()

    def report_summary(self):
        """The last finished report's summary (its headline table), or None."""
        from instructscale.report import ReportSummary

        manifest = self.ledger.dir / "report.json"
        if not manifest.exists():
            return None
        data = json.loads(manifest.read_text(encoding="utf-8"))
        return ReportSummary.model_validate(data["summary"]) if data.get("status") == "done" else None

    def status(self) -> list[UnitRow]:
        rows = []
        for unit in self.units():
            manifest = self.ledger.read(unit) or {}
            rows.append(UnitRow(unit.name, unit.stage, unit.scale, self.ledger.state(unit), manifest.get("seconds")))
        if self.sizes() is None:
            rows.append(UnitRow("train/respond/judge/report", "train", None, "pending"))
        return rows


def _quiet_library_progress() -> None:
    """Loading and saving bars of transformers / datasets drown the study's own progress;
    training keeps its bar."""
    import datasets
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    datasets.disable_progress_bars()


def _select_stages(only: list[str] | None, start: str | None) -> set[str]:
    for name in [*(only or []), *([start] if start else [])]:
        if name not in STAGES:
            raise ConfigError(f"unknown stage '{name}' (stages: {', '.join(STAGES)})")
    if only and start:
        raise ConfigError("use either --only or --from, not both")
    if only:
        return set(only)
    if start:
        return set(STAGES[STAGES.index(start):])
    return set(STAGES)
