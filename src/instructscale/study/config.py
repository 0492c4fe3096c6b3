"""The study file: one YAML that describes a whole scaling study.

Top-level sections are typed here; the per-stage option blocks (`generate`, `train`,
`respond`, judge `options`) are passed through to that stage's own pydantic config, so
every stage option is available in the study file without being declared twice. All
stage configs are built (and so validated) before any work starts.
"""

from __future__ import annotations

import difflib
import typing
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from instructscale.datafiles import read_yaml
from instructscale.errors import ConfigError
from instructscale.report.sequential import SequentialConfig


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


# Judge and arm names become file names (judgements/<judge>.jsonl, models/scale_<size>@<arm>):
# letters, digits, '_', '.', '-', starting with a letter or digit, so never a path separator or '..'.
SAFE_NAME = r"^[A-Za-z0-9][A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]+)*$"
SAFE_NAME_HELP = "letters, digits, '_', '.', '-'; no '/' or '..'"


class TeacherConfig(_Section):
    offline_demo: bool = Field(False, description="Start the built-in offline teacher (demo world) on 127.0.0.1")
    base_url: str | None = Field(None, description="OpenAI-compatible base URL of the teacher (ignored when offline_demo)")
    model: str = Field("gpt-3.5-turbo", description="Teacher model name (the study used ChatGPT)")
    api_key_env: str = Field("OPENAI_API_KEY", description="Environment variable that holds the API key")
    concurrency: int = Field(16, ge=1, description="Requests in flight at once")
    rpm: float | None = Field(None, description="Requests-per-minute limit")
    tpm: float | None = Field(None, description="Tokens-per-minute limit")
    timeout_s: float = Field(60.0, description="Per-request timeout in seconds")
    max_attempts: int = Field(5, ge=1, description="Attempts per request before it counts as failed")
    demo_noise_rate: float = Field(0.0, ge=0.0, le=1.0, description="offline_demo only: share of generated examples given a planted wrong or useless answer (docs/demo-world.md)")


class DataConfig(_Section):
    pool: str | None = Field(None, description="Existing instruction pool (JSONL/JSON/CSV/Parquet/dataset); skips generation")
    generate: dict[str, Any] = Field(default_factory=dict, description="Options for the generate stage (see docs/generate.md)")


class EvalConfig(_Section):
    path: str | None = Field(None, description="Evaluation set (canonical or public-release format)")
    demo_world_per_category: int | None = Field(None, ge=1, description="Build the eval set from the offline demo world: items per category")
    demo_world_seed: int = Field(1, description="Seed for the demo-world eval set (kept apart from training data)")
    sequential: SequentialConfig | None = Field(None, description="Judge `first` items per category, then more (up to `max`) only where the verdict is undetermined, with group-sequential boundaries (docs/report.md); None: every item at once")
    limit_per_category: int | None = Field(None, ge=1, description="Keep only the first N items of each category (study run --limit sets it); None: all")

    @model_validator(mode="after")
    def _one_source(self):
        if (self.path is None) == (self.demo_world_per_category is None):
            raise ValueError("set exactly one of eval.path or eval.demo_world_per_category")
        return self


class SubsetsSection(_Section):
    sizes: list[int | float] = Field([200_000, 600_000, 1_000_000, 2_000_000], description="Subset sizes (counts, or fractions of the pool)")
    stratify: bool = Field(False, description="Keep the pool's category proportions in every subset")
    exclude_eval_overlaps: bool = Field(True, description="Drop pool items that (near-)duplicate an eval question")
    overlap_threshold: float = Field(0.8, description="Similarity above which a pool item counts as overlapping")
    unknown: Literal["error", "other", "drop"] | None = Field(None, description="Pool categories outside the 12 (normalised as the eval set's): error, other (kept as 'other') or drop (example left out). None: error")
    select: str | dict[str, Any] | None = Field(None, description="How the pool is ranked before subsets are cut: a method (random, llm-quality, ifd, length, diversity) or a block of the subsets stage's select options (method, mix, drop, ...; see docs/subsets.md); llm-quality rates with the teacher, ifd with the base model. None: random")

    @field_validator("sizes")
    @classmethod
    def _nested_sizes(cls, sizes):
        """Checked when the file is loaded: a bad size would otherwise fail only at the subsets
        stage, after the eval set and the pool were paid for."""
        if not sizes:
            raise ValueError("give at least one size")
        for s in sizes:
            if s <= 0 or (s >= 1 and s != int(s)):
                raise ValueError(f"{s:g} is not a size: give whole counts (200000) or fractions of the pool "
                                 "between 0 and 1 (0.1)")
        if any(b <= a for a, b in zip(sizes, sizes[1:])):
            raise ValueError(f"{sizes} must increase: the subsets are nested, each one inside the next")
        return sizes


class BaseModelConfig(_Section):
    path: str | None = Field(None, description="Hub id or local path of the base model (e.g. bigscience/bloomz-7b1-mt)")
    tiny: dict[str, Any] | None = Field(None, description="Instead of path: build a tiny model from a config with a tokenizer trained on the pool (offline)")

    @model_validator(mode="after")
    def _one_source(self):
        if (self.path is None) == (self.tiny is None):
            raise ValueError("set exactly one of base_model.path or base_model.tiny")
        return self


class LaunchConfig(_Section):
    accelerate_config: str | None = Field(None, description="accelerate config file (configs/accelerate/*.yaml): each scale trains under `accelerate launch`; None: in this process")
    extra_args: list[str] = Field(default_factory=list, description="More `accelerate launch` arguments, e.g. [--num_processes, '8']")


class JudgeSection(_Section):
    name: str = Field(..., pattern=SAFE_NAME, description=f"Name of this judge in the report and of its judgements file ({SAFE_NAME_HELP})")
    kind: Literal["llm", "reference", "lm-eval", "pairwise"] = Field("llm", description="llm: an LLM judge with category prompts; reference: metrics against the golden answer; lm-eval: standard benchmarks (lm-evaluation-harness tasks) on each model; pairwise: an LLM judge comparing each answer with a reference answer in both orders (options.against: golden, a scale such as 0, a model name or a Response file; docs/pairwise.md)")
    use_teacher: bool = Field(True, description="llm only: call the teacher's server/model (else set base_url/model in options)")
    options: dict[str, Any] = Field(default_factory=dict, description="Options for the judge stage (repeats, prompts, ...; see docs/judge.md)")


class ArmSection(_Section):
    name: str = Field(..., pattern=SAFE_NAME, description=f"Arm name, shown in the report ({SAFE_NAME_HELP})")
    subsets: dict[str, Any] = Field(default_factory=dict, description="Fields of the study's subsets section this arm changes (select with its method, mix and drop; sizes, ...)")
    base_model: BaseModelConfig | None = Field(None, description="Another base model for this arm (its own scale 0); None: the study's")
    train: dict[str, Any] = Field(default_factory=dict, description="Train options this arm changes, merged over the study's train (e.g. lora, preset)")


class Resources(_Section):
    gpus: int | None = Field(None, ge=0, description="GPUs a unit of this stage gets (local: slots pinned with CUDA_VISIBLE_DEVICES; slurm: --gres=gpu:N, per node). None: 1 for train and respond when GPUs exist, else 0")
    nodes: int | None = Field(None, ge=1, description="slurm, train only: nodes a training spans (--nodes=N; `accelerate launch` on each under srun, launch.accelerate_config required). None: 1")
    cpus: int | None = Field(None, ge=1, description="slurm: --cpus-per-task")
    mem: str | None = Field(None, description="slurm: --mem, e.g. 64G")
    time: str | None = Field(None, description="slurm: --time, e.g. 12:00:00")
    partition: str | None = Field(None, description="slurm: --partition")
    account: str | None = Field(None, description="slurm: --account")
    qos: str | None = Field(None, description="slurm: --qos")
    constraint: str | None = Field(None, description="slurm: --constraint")
    sbatch: list[str] = Field(default_factory=list, description="slurm: more #SBATCH lines, e.g. ['--exclusive']")
    setup: list[str] = Field(default_factory=list, description="slurm: shell lines run before the unit, e.g. ['module load cuda', 'source .venv/bin/activate']")


class ExecutorConfig(_Section):
    kind: Literal["local", "workers", "slurm"] = Field("local", description="local: in this process, one unit after another (workers > 1: as `workers`); workers: each unit in its own process, every ready unit at once within the workers and GPU slots; slurm: each unit a SLURM job (docs/executors.md)")
    workers: int | None = Field(None, ge=1, description="local/workers: units running at once (None: local 1; workers: the GPU count, at least 2)")
    gpus: Literal["auto"] | list[int] = Field("auto", description="local/workers: GPU ids to hand out (auto: CUDA_VISIBLE_DEVICES, else every visible GPU)")
    resources: dict[str, Resources] = Field(default_factory=dict, description="What a unit needs, per stage (eval, pool, subsets, base, train, respond, judge, report) or 'default' for every stage")
    max_attempts: int = Field(2, ge=1, description="slurm: submissions of a unit whose job failed, timed out or was preempted (a job cancelled by hand is not resubmitted)")
    poll_s: float = Field(5.0, gt=0, description="slurm: seconds between job state queries")

    @model_validator(mode="after")
    def _known_stages(self):
        from instructscale.study.selection import STAGES

        unknown = sorted(set(self.resources) - {"default", *STAGES})
        if unknown:
            raise ValueError(f"resources: unknown stage '{unknown[0]}'" + did_you_mean(unknown[0], ["default", *STAGES], "stages"))
        spanning = [stage for stage, res in self.resources.items() if stage != "train" and (res.nodes or 1) > 1]
        if spanning:
            raise ValueError(f"resources.{spanning[0]}.nodes: only a training spans nodes (set resources.train.nodes)")
        return self

    def resources_for(self, stage: str) -> Resources:
        """A stage's resources: its own block over the `default` block."""
        default = self.resources.get("default", Resources())
        own = self.resources.get(stage)
        return default if own is None else default.model_copy(update=own.model_dump(exclude_unset=True))


class StudyConfig(_Section):
    name: str = Field(..., description="Study name, shown in the report")
    run_dir: str = Field(..., description="Where every stage writes its outputs and manifests")
    seed: int = Field(0, description="Seed for subsets, training and sampling")
    teacher: TeacherConfig = Field(default_factory=TeacherConfig, description="The teacher LLM (data generation, and judging by default)")
    data: DataConfig = Field(default_factory=DataConfig, description="Where the instruction pool comes from")
    eval: EvalConfig = Field(..., description="The evaluation set")
    subsets: SubsetsSection = Field(default_factory=SubsetsSection, description="Nested subsets of the pool, one per scale")
    base_model: BaseModelConfig = Field(..., description="The model every scale fine-tunes from (scale 0 = untuned)")
    train: dict[str, Any] = Field(default_factory=dict, description="Options for the train stage (preset, lora, ...; see docs/train.md)")
    launch: LaunchConfig = Field(default_factory=LaunchConfig, description="How training runs: in this process, or on many GPUs/nodes through accelerate")
    respond: dict[str, Any] = Field(default_factory=dict, description="Options for the respond stage (backend, preset, ...; see docs/respond.md)")
    judges: list[JudgeSection] = Field(default_factory=lambda: [JudgeSection(name="teacher")], description="Judges; each scores every scale's responses")
    report: dict[str, Any] = Field(default_factory=dict, description="Options for the report (primary_judge, thresholds, ...; see docs/report.md)")
    arms: list[ArmSection] = Field(default_factory=list, description="Variants of the study trained side by side, each a curve in the report; none: one arm, 'main'")
    executor: ExecutorConfig = Field(default_factory=ExecutorConfig, description="Where units run: in this process, in parallel worker processes on this machine's GPUs, or as SLURM jobs; never part of any result")

    @model_validator(mode="after")
    def _spanning_needs_a_launcher(self):
        nodes = self.executor.resources_for("train").nodes or 1
        if nodes > 1 and self.launch.accelerate_config is None:
            raise ValueError(f"executor.resources.train.nodes is {nodes} but launch.accelerate_config is not set: "
                             "a training spans nodes only under `accelerate launch`")
        return self


def load_study(path: str | Path, overrides: list[str] = (), limit: int | None = None) -> StudyConfig:
    """Read and validate a study file; `overrides` are `dotted.key=yaml_value` strings
    (e.g. `train.max_steps=5`) applied on top, as from `--set`; `limit` makes it the smoke
    version of the study (study/smoke.py)."""
    p = Path(path)
    raw = read_yaml(p)
    if not isinstance(raw, dict):
        raise ConfigError(f"{p}: expected a mapping at the top level")
    for item in overrides:
        apply_override(raw, item)
    if limit is not None:
        from instructscale.study.smoke import shrink

        shrink(raw, limit)
    return validated(StudyConfig, raw, source=str(p), lines=p)


def apply_override(raw: dict[str, Any], item: str) -> None:
    """Set `a.b.0.c=value` in the raw study mapping (list items by index)."""
    key, sep, value = item.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set expects key.path=value, got '{item}'")
    *parents, leaf = key.strip().split(".")
    node: Any = raw
    for name in parents:
        if isinstance(node, list) and name.isdigit() and int(name) < len(node):
            node = node[int(name)]
        elif isinstance(node, dict):
            node = node.setdefault(name, {})
        else:
            raise ConfigError(f"--set {key}: '{name}' is not a section or a list index")
    try:
        parsed = yaml.safe_load(value)
    except yaml.YAMLError as exc:
        raise ConfigError(f"--set {key}: value is not valid YAML: {getattr(exc, 'problem', None) or exc}") from None
    if isinstance(node, list) and leaf.isdigit() and int(leaf) < len(node):
        node[int(leaf)] = parsed
    elif isinstance(node, dict):
        node[leaf] = parsed
    else:
        raise ConfigError(f"--set {key}: '{leaf}' cannot be set here")


def validated(cls: type[BaseModel], data: dict[str, Any], *, source: str, prefix: str = "",
              lines: Path | None = None):
    """Build a pydantic model, turning the first validation error into a one-line ConfigError
    that names the file (and with `lines`, the YAML file the data came from, the key's line)
    and the dotted key; an unknown key gets the closest valid one."""
    try:
        return cls.model_validate(data)
    except ConfigError as exc:  # raised by a model's own cross-field check
        raise ConfigError(f"{source}: {prefix or '(top level)'}: {exc}") from None
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(x) for x in (*([prefix] if prefix else []), *err["loc"]))
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key" + did_you_mean(str(err["loc"][-1]), _keys_at(cls, err["loc"][:-1]))
        elif err["type"] == "missing":
            msg = "missing required key"
        elif err["type"] == "string_pattern_mismatch" and err["loc"][-1] == "name":
            msg = f"{err['input']!r} is not a safe name ({SAFE_NAME_HELP})"
        line = yaml_line(lines, err["loc"]) if lines is not None else None
        raise ConfigError(f"{source}{f', line {line}' if line else ''}: {loc or '(top level)'}: {msg}") from None


def yaml_line(path: Path, loc: tuple) -> int | None:
    """The line of the key at `loc` (keys, list indexes) in a YAML file; None when the file
    does not hold it (a missing key, or one set by `--set`)."""
    node, line = yaml.compose(path.read_text(encoding="utf-8-sig"), Loader=yaml.SafeLoader), None
    for part in loc:
        if isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        elif isinstance(node, yaml.MappingNode) and (found := [(k, v) for k, v in node.value if k.value == str(part)]):
            line, node = found[0][0].start_mark.line + 1, found[0][1]
        else:
            return None
    return line


def did_you_mean(key: str, valid: Iterable[str], noun: str = "valid keys") -> str:
    """`; did you mean 'x'?` for the closest valid key, or the valid keys when none is close."""
    valid = sorted(valid)
    close = difflib.get_close_matches(key, valid, n=1, cutoff=0.6)
    if close:
        return f"; did you mean '{close[0]}'?"
    return f" ({noun}: {', '.join(valid)})" if valid else ""


def _keys_at(cls: type[BaseModel], loc: tuple) -> list[str]:
    """Field names of the model found by following `loc` (field names, list indexes) from `cls`."""
    node: Any = cls
    for part in loc:
        if isinstance(part, int):  # a list index: the list's item model is already `node`
            continue
        if part not in node.model_fields:
            return []
        node = _model_in(node.model_fields[part].annotation)
        if node is None:  # a plain mapping such as `params`: any key goes
            return []
    return list(node.model_fields)


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _model_in(annotation: Any) -> Any:
    """The pydantic model inside an annotation such as `X | None` or `list[X]`, else None."""
    if _is_model(annotation):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def check_cross_stage(cfg: StudyConfig, configs: dict[str, Any], source: str, arms: list | None = None) -> None:
    """Settings of one stage that another stage depends on, checked before any work: each
    of these would otherwise fail hours later, after generation or training. `configs` are
    the built stage configs (`train`: one config, or one per arm name); `arms`: objects with
    `name`, `subsets` and `base_model` (None: the study's own sections)."""
    if cfg.eval.sequential and cfg.arms:
        raise ConfigError(f"{source}: eval.sequential: not with arms (each arm's curve would need looks of its own); "
                          f"judge every item in a study with arms")
    names = [j.name for j in cfg.judges]
    primary = configs["report"].primary_judge
    if primary is not None and primary not in names:
        raise ConfigError(f"{source}: report.primary_judge: no judge named '{primary}'"
                          + did_you_mean(primary, names, "judges"))
    trains = configs["train"] if isinstance(configs["train"], dict) else {None: configs["train"]}
    for arm in arms or [None]:
        where = f" (arm '{arm.name}')" if arm is not None and len(arms) > 1 else ""
        subsets = arm.subsets if arm is not None else cfg.subsets
        base = arm.base_model if arm is not None else cfg.base_model
        train = trains.get(arm.name if arm is not None else None) or next(iter(trains.values()))
        generate = configs.get("generate")
        counts = [int(s) for s in subsets.sizes if s >= 1]
        if generate is not None and counts and max(counts) > generate.target:
            raise ConfigError(f"{source}: subsets.sizes{where}: {max(counts)} is more than data.generate.target "
                              f"({generate.target}), the most examples the pool will hold")
        if base.tiny is not None:
            _check_tiny(cfg, base.tiny, train.max_length, configs["respond"], source, where)


def _check_tiny(cfg: StudyConfig, tiny_values: dict[str, Any], max_length: int, respond, source: str,
                where: str) -> None:
    from instructscale.models.tiny import TinyModelConfig

    tiny = validated(TinyModelConfig, {"seed": cfg.seed, **tiny_values}, source=source, prefix="base_model.tiny")
    if max_length > tiny.max_positions:
        raise ConfigError(f"{source}: train.max_length ({max_length}) is more than base_model.tiny.max_positions "
                          f"({tiny.max_positions}){where}: training rows would not fit the model; lower one or "
                          f"raise the other")
    new_tokens = respond.generation().max_new_tokens
    if new_tokens >= tiny.max_positions:
        raise ConfigError(f"{source}: respond.max_new_tokens ({new_tokens}) leaves no room for a question in "
                          f"base_model.tiny.max_positions ({tiny.max_positions}){where}")
