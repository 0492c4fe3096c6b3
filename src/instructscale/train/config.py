"""Training settings: one pydantic model, filled from a preset, a YAML file and flags
(later ones win). The effective batch size is the study's unit; the gradient accumulation
that realises it on a given number of processes is derived, never guessed."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from instructscale.datafiles import read_yaml
from instructscale.errors import ConfigError, InputError


OWN_ARGS = {"output_dir", "report_to"}  # where a run writes and logs is instructscale's to set
LATER_FIELDS = ("eval_share", "eval_steps", "trainer_args")


class TrainConfig(BaseModel):
    """Settings of one fine-tuning run; defaults are the study's (the `replica` preset)."""

    model_config = ConfigDict(extra="forbid")

    data: Path | None = None  # a subset file of InstructionExample rows
    base_model: str | None = None  # Hub id or local folder, loaded with from_pretrained
    out: Path | None = None
    template: str = "belle"  # instructscale.templates name; "chat" uses the tokenizer's chat template
    loss_on: Literal["completion", "full"] = "completion"
    max_length: int = Field(1024, gt=8)
    effective_batch_size: int = Field(64, gt=0)  # per-device batch x gradient accumulation x processes
    per_device_batch_size: int = Field(4, gt=0)
    epochs: float = Field(2.0, gt=0)
    max_steps: int = -1  # > 0 overrides epochs
    min_steps: int = Field(0, ge=0)  # train at least this many optimizer steps (examples counted before packing)
    learning_rate: float = Field(3e-6, gt=0)
    lr_scheduler: str = "constant"  # transformers scheduler name; "constant" has no warmup and no decay
    warmup_steps: int = Field(0, ge=0)
    weight_decay: float = Field(0.001, ge=0)
    packing: bool = False  # pack examples into max_length rows (isolation is checked per model)
    group_by_length: bool = False
    lora: bool = False
    lora_r: int = Field(8, gt=0)
    lora_alpha: int = Field(16, gt=0)
    lora_dropout: float = Field(0.05, ge=0, lt=1)
    lora_target_modules: list[str] | None = None  # None: a default per architecture
    qlora: bool = False  # 4-bit base weights (bitsandbytes, CUDA only); implies lora
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    gradient_checkpointing: bool = False
    seed: int = 0
    logging_steps: int = Field(1, gt=0)
    save_steps: int = Field(500, gt=0)
    save_total_limit: int = Field(2, gt=0)
    keep_checkpoints: bool = False  # delete OUT/checkpoint-* after a finished run
    resume: bool = False
    report_to: list[Literal["tensorboard", "wandb", "mlflow"]] = ["tensorboard"]  # trackers; "none" or [] for none
    eval_share: float = Field(0.0, ge=0, lt=0.5)  # held out of the subset (seeded); eval loss every eval_steps and at the end
    eval_steps: int = Field(50, gt=0)
    trainer_args: dict[str, Any] = Field(default_factory=dict)  # more SFTConfig fields (neftune_noise_alpha, ...), applied last

    @field_validator("trainer_args")
    @classmethod
    def _sft_fields(cls, v):
        """Only SFTConfig's own fields (an unknown one is a typo the trainer would reject hours later)."""
        if not v:
            return v
        import dataclasses

        from trl import SFTConfig

        from instructscale.study.config import did_you_mean

        fields = {f.name for f in dataclasses.fields(SFTConfig)} - OWN_ARGS
        for key in v:
            if key not in fields:
                raise ValueError(f"'{key}' is no SFTConfig field instructscale leaves open"
                                 + did_you_mean(key, fields, "SFTConfig fields"))
        return v

    def identity(self, exclude: set[str]) -> dict[str, Any]:
        """The settings that make a trained model what it is (a study unit's fingerprint). Fields
        added later are left out while at their defaults, so earlier runs keep their fingerprints."""
        unset = {k for k in LATER_FIELDS if getattr(self, k) == type(self).model_fields[k].get_default(
            call_default_factory=True)}
        return self.model_dump(mode="json", exclude=exclude | unset)

    @field_validator("report_to", mode="before")
    @classmethod
    def _trackers(cls, v):
        # the trainer's own spelling: one name, a comma list, or "none"
        names = [s.strip() for s in v.split(",")] if isinstance(v, str) else list(v or [])
        return [n for n in names if n and n != "none"]

    @model_validator(mode="after")
    def _no_silent_warmup_drop(self):
        # transformers' "constant" schedule ignores warmup_steps; say so instead of dropping them
        if self.lr_scheduler == "constant" and self.warmup_steps:
            raise ValueError("lr_scheduler 'constant' has no warmup; use 'constant_with_warmup' "
                             f"for {self.warmup_steps} warmup steps, or set warmup_steps to 0")
        return self

    def gradient_accumulation(self, num_processes: int) -> int:
        per_step = self.per_device_batch_size * num_processes
        if self.effective_batch_size % per_step:
            raise ConfigError(
                f"effective batch size {self.effective_batch_size} is not divisible by per-device batch "
                f"{self.per_device_batch_size} x {num_processes} process(es) = {per_step}")
        return self.effective_batch_size // per_step


@lru_cache(maxsize=1)
def presets() -> dict[str, dict[str, Any]]:
    text = resources.files("instructscale").joinpath("data/train_presets.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


def resolve_config(preset: str | None = "replica", config_file: Path | None = None, **overrides) -> TrainConfig:
    """Preset, then YAML file, then overrides (None values are ignored)."""
    values: dict[str, Any] = {}
    if preset:
        if preset not in presets():
            raise ConfigError(f"unknown training preset '{preset}' (have: {', '.join(presets())})")
        values.update(presets()[preset])
    if config_file is not None:
        loaded = read_yaml(config_file) or {}
        if not isinstance(loaded, dict):
            raise InputError("expected a mapping of training settings", path=config_file)
        values.update(loaded.get("train", loaded))
    values.update({k: v for k, v in overrides.items() if v is not None})
    from instructscale.study.config import validated

    return validated(TrainConfig, values, source=str(config_file or "training settings"))
