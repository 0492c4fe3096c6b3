"""The configuration half of a study: a study file turned into typed stage configs.

Every stage config of every arm is built (and so validated) when the context is made,
before any work; the offline teacher's URL is known only once it runs, so configs are
rebuilt for it (`teacher_url`), in the driver and in each unit's own process alike.
"""

from __future__ import annotations

from typing import Any

from instructscale.errors import ConfigError
from instructscale.study.arms import Arm, ModelRef, resolve_arms, selection_block
from instructscale.study.config import JudgeSection, StudyConfig, check_cross_stage, validated
from instructscale.study.layout import Layout
from instructscale.study.sequential import respond_eval
from instructscale.study.units import Ledger

DEMO_TEACHER_MODEL = "demo-teacher"


class StudyContext:
    """A study file's resolved settings: arms, layout, the teacher and every stage's typed
    config. What the graph (study/graph.py) and the runners (study/runners.py) read; it
    imports neither, so there is no import circle around the study."""

    def __init__(self, cfg: StudyConfig, source: str = "study.yaml"):
        self.cfg = cfg
        self.source = source
        self.layout = Layout(cfg)
        self.run_dir = self.layout.run_dir
        self.ledger = Ledger(self.run_dir)
        self.teacher_url: str | None = cfg.teacher.base_url
        self.executor = "local"  # what runs this process's units (`study run-unit --executor` says)
        self.arms: list[Arm] = resolve_arms(cfg, source)
        self._configs: dict[str, Any] = {}
        self._configs_for: str | None = "(not built)"
        self.stage_configs()  # validation only: every stage's settings are checked before any work

    # the teacher ------------------------------------------------------------------------

    def teacher_client(self, overrides: dict[str, Any] | None = None, prefix: str = "teacher"):
        from instructscale.llm import ClientConfig

        t = self.cfg.teacher
        values = {"base_url": self.teacher_url or "http://127.0.0.1:1/v1", "model": self.teacher_model(),
                  "api_key_env": t.api_key_env, "concurrency": t.concurrency, "rpm": t.rpm, "tpm": t.tpm,
                  "timeout_s": t.timeout_s, "max_attempts": t.max_attempts, **(overrides or {})}
        return validated(ClientConfig, values, source=self.source, prefix=prefix)

    def teacher_model(self) -> str:
        return DEMO_TEACHER_MODEL if self.cfg.teacher.offline_demo else self.cfg.teacher.model

    def teacher_identity(self) -> dict[str, Any]:
        """What the teacher is, for fingerprints: the offline teacher's port changes every run."""
        t = self.cfg.teacher
        if t.offline_demo:
            return {"offline_demo": True, "seed": self.cfg.seed, **({"noise_rate": t.demo_noise_rate}
                                                                     if t.demo_noise_rate else {})}
        return {"base_url": t.base_url, "model": t.model}

    # stage configs ----------------------------------------------------------------------

    def stage_configs(self) -> dict[str, Any]:
        """Every stage's typed config (model-independent parts; train per arm). Built, and so
        validated, once per teacher URL: the offline teacher's URL is only known once it has started."""
        if self._configs_for != self.teacher_url:
            self._configs, self._configs_for = self._build_stage_configs(), self.teacher_url
        return self._configs

    def _build_stage_configs(self) -> dict[str, Any]:
        from instructscale.judge import JudgeConfig

        cfgs: dict[str, Any] = {}
        if self.cfg.data.pool is None:
            from instructscale.generate import GenerateConfig

            generate = dict(self.cfg.data.generate)
            # data.generate.client: teacher settings for generation only (e.g. a local model's max_tokens)
            client = self.teacher_client(generate.pop("client", {}), prefix="data.generate.client")
            cfgs["generate"] = validated(GenerateConfig, {"seed": self.cfg.seed, **generate,
                                                          "out": self.layout.pool_path, "client": client},
                                         source=self.source, prefix="data.generate")
        cfgs["train"] = {arm.name: self._train_config(i, arm) for i, arm in enumerate(self.arms)}
        for i, arm in enumerate(self.arms):
            self.subsets_config(arm, cfgs["train"][arm.name].template,
                                prefix=f"arms.{i}.subsets" if self.cfg.arms else "subsets")
        cfgs["respond"] = self._respond_values_config({})
        cfgs["judges"] = {}
        for i, judge in enumerate(self.cfg.judges):
            if judge.kind == "lm-eval":  # scores models on benchmark tasks, not answers to the eval set
                from instructscale.judge.lmeval import LmEvalConfig

                cfgs["judges"][judge.name] = validated(
                    LmEvalConfig, {"seed": self.cfg.seed, **judge.options,
                                   "out": self.run_dir / "benchmarks" / f"{judge.name}.json"},
                    source=self.source, prefix=f"judges.{i}.options")
                continue
            if judge.kind == "pairwise":
                from instructscale.judge.pairwise import PairwiseConfig

                values = {**self._judge_values(judge, i), "scorer": "llm",
                          "out": self.run_dir / "pairwise" / f"{judge.name}.jsonl"}
                cfgs["judges"][judge.name] = validated(PairwiseConfig, values, source=self.source,
                                                       prefix=f"judges.{i}.options")
                continue
            cfgs["judges"][judge.name] = validated(JudgeConfig, self._judge_values(judge, i), source=self.source,
                                                   prefix=f"judges.{i}.options")
        names = [j.name for j in self.cfg.judges]
        if len(set(names)) != len(names):
            raise ConfigError(f"{self.source}: judges: names must be unique, got {names}")
        cfgs["report"] = self.report_config()
        check_cross_stage(self.cfg, cfgs, self.source, self.arms)
        return cfgs

    def _train_config(self, i: int, arm: Arm):
        from instructscale.train import TrainConfig, presets

        prefix = f"arms.{i}.train" if self.cfg.arms and self.cfg.arms[i].train else "train"
        train = dict(arm.train)
        preset = train.pop("preset", "replica")
        if preset not in presets():
            raise ConfigError(f"{self.source}: {prefix}.preset: unknown preset '{preset}' "
                              f"(have: {', '.join(presets())})")
        return validated(TrainConfig, {**presets()[preset], "seed": self.cfg.seed, "resume": True, **train,
                                       "base_model": self.layout.base_path(arm)},
                         source=self.source, prefix=prefix)

    def subsets_config(self, arm: Arm, template: str, prefix: str = "subsets"):
        """The arm's subsets stage config. `select` may be a method name or a block of the
        stage's select options; llm-quality rates with the teacher (`client` changes some of
        its settings) and the study's reply cache, ifd uses the arm's base model and template."""
        from instructscale.subsets import SubsetsConfig

        s = arm.subsets
        values: dict[str, Any] = {
            "pool": self.layout.pool_path, "sizes": s.sizes, "out": self.layout.subsets_dir(arm), "seed": self.cfg.seed,
            "stratify": s.stratify, "exclude_eval": self.layout.eval_path if s.exclude_eval_overlaps else None,
            "overlap_threshold": s.overlap_threshold, **({"unknown": s.unknown} if s.unknown else {})}
        select = selection_block(s)
        if select is not None:
            if select.get("method") == "llm-quality":
                select["client"] = self.teacher_client(select.get("client") or {})
                select.setdefault("cache", self.layout.cache_path)
            elif select.get("method") == "ifd":
                select.setdefault("base_model", self.layout.base_path(arm))
                select.setdefault("template", template)
            values["select"] = {k: v for k, v in select.items() if v is not None}
        return validated(SubsetsConfig, values, source=self.source, prefix=prefix)

    def respond_config(self, ref: ModelRef, model_path: str, base_of: Arm | None = None):
        """Responses of one model. The untuned base (`base_of`: its arm) has no saved
        template, so it is asked the way that arm's scales were trained."""
        from instructscale.respond import ModelSpec

        values: dict[str, Any] = {"models": [ModelSpec(name=ref.name, path=model_path)],
                                  "out": self.layout.responses_path(ref)}
        if base_of is not None:
            values["template"] = self.cfg.respond.get("template", self.stage_configs()["train"][base_of.name].template)
        return self._respond_values_config(values)

    def _respond_values_config(self, values: dict[str, Any]):
        from instructscale.respond import RespondConfig

        values = {"seed": self.cfg.seed, **self.cfg.respond, "eval": respond_eval(self), "models": [],
                  "out": self.run_dir / "responses" / "responses.jsonl", **values}
        if values.get("backend") == "openai" and "client" not in values:
            raise ConfigError(f"{self.source}: respond.client: the openai backend needs client settings")
        return validated(RespondConfig, values, source=self.source, prefix="respond")

    def _judge_values(self, judge: JudgeSection, i: int) -> dict[str, Any]:
        options = dict(judge.options)
        values: dict[str, Any] = {"eval": self.layout.eval_path, "responses": [self.layout.eval_path],
                                  "out": self.layout.judgements_path(judge.name), "scorer": judge.kind,
                                  "cache": self.layout.cache_path, "seed": self.cfg.seed}
        client_overrides = options.pop("client", {})
        if judge.kind in ("llm", "pairwise"):
            if judge.use_teacher:
                values["client"] = self.teacher_client(client_overrides, prefix=f"judges.{i}.options.client")
            else:
                values["client"] = client_overrides
        return {**values, **options}

    def report_config(self):
        from instructscale.report import ReportConfig

        options = {"seed": self.cfg.seed, **self.cfg.report, "run_dir": self.run_dir}
        options.setdefault("primary_judge", next((j.name for j in self.cfg.judges
                                                  if j.kind not in ("lm-eval", "pairwise")), None))
        return validated(ReportConfig, options, source=self.source, prefix="report")

    # scales -----------------------------------------------------------------------------

    def sizes(self, arm: Arm) -> list[int] | None:
        """An arm's training scales; None while they depend on a pool size not known yet."""
        from instructscale.subsets import load_manifest
        from instructscale.subsets.make import resolve_sizes

        manifest_path = self.layout.subsets_dir(arm) / "manifest.json"
        if manifest_path.exists():
            return [e.size for e in load_manifest(manifest_path).subsets]
        if all(s >= 1 for s in arm.subsets.sizes):
            return resolve_sizes(arm.subsets.sizes, 10**18)
        return None

    def subset_file(self, arm: Arm, size: int):
        from instructscale.subsets import load_manifest

        manifest = load_manifest(self.layout.subsets_dir(arm) / "manifest.json")
        return manifest.subset_path(next(e for e in manifest.subsets if e.size == size))

    def arm(self, name: str) -> Arm:
        return next(a for a in self.arms if a.name == name)
