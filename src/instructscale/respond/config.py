"""Settings of a respond run and what it reports back. Generation settings are a preset
(data/generation_presets.yaml) with per-field overrides on top."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from instructscale.errors import ConfigError, validation_message
from instructscale.llm import ClientConfig


@lru_cache(maxsize=1)
def presets() -> dict[str, dict[str, Any]]:
    text = resources.files("instructscale").joinpath("data/generation_presets.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


class ModelSpec(BaseModel):
    """One model to ask. `name` is what response records call it (Response.model)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(..., min_length=1, description="Name written to Response.model (e.g. scale_200)")
    path: str = Field(..., min_length=1, description="Model folder, Hub id, or (openai backend) the served model name")


class Generation(BaseModel):
    """Resolved generation settings: exactly what every response of a run was made with."""

    do_sample: bool
    temperature: float = Field(gt=0)
    top_p: float = Field(gt=0, le=1)
    top_k: int = Field(ge=0)  # 0: no top-k filtering
    repetition_penalty: float = Field(gt=0)
    max_new_tokens: int = Field(gt=0)


class RespondConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    models: list[ModelSpec] = Field(default_factory=list, description="Models to ask, all into one output file")
    eval: Path = Field(..., description="Evaluation set (EvalItem records)")
    out: Path = Field(..., description="Responses, JSON Lines, appended and resumable")
    backend: Literal["hf", "openai", "vllm"] = Field("hf", description="hf (transformers), openai (any "
                                                     "OpenAI-compatible server) or vllm (optional extra)")
    preset: str = Field("study", description="Generation preset: study (the public release's sampling) or greedy")
    do_sample: bool | None = Field(None, description="Override: sample (true) or greedy decoding (false)")
    temperature: float | None = Field(None, gt=0, description="Override: sampling temperature")
    top_p: float | None = Field(None, gt=0, le=1, description="Override: nucleus sampling mass")
    top_k: int | None = Field(None, ge=0, description="Override: top-k filtering (0: off)")
    repetition_penalty: float | None = Field(None, gt=0, description="Override: repetition penalty (1.0: off)")
    max_new_tokens: int | None = Field(None, gt=0, description="Override: longest answer in tokens")
    n: int = Field(1, ge=1, description="Samples per item (the study: 1)")
    batch_size: int = Field(16, ge=1, description="Prompts per generate call (hf, vllm chunks)")
    template: str | None = Field(None, description="Prompt template: a built-in name (belle, alpaca, chat) or a "
                                 "format string with {instruction}; default: the one in the model's instructscale.json")
    stop: list[str] | None = Field(None, description="Stop strings; default: the template's")
    client: ClientConfig | None = Field(None, description="Server settings (openai backend); model is set per ModelSpec")
    device: str = Field("auto", description="auto (cuda if present, else cpu), cpu, cuda, cuda:1, mps")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        "auto", description="auto: bfloat16 (or float16) on a GPU, float32 on CPU")
    seed: int = Field(0, description="Sampling seed; the same seed and inputs give the same answers")

    @field_validator("preset")
    @classmethod
    def _known_preset(cls, preset: str) -> str:
        if preset not in presets():
            raise ValueError(f"unknown generation preset '{preset}' (have: {', '.join(presets())})")
        return preset

    @model_validator(mode="after")
    def _check(self):
        if self.backend == "openai" and self.client is None and self.models:
            raise ConfigError("the openai backend needs client settings (base URL; the model names come from --model)")
        names = [m.name for m in self.models]
        if len(set(names)) != len(names):
            raise ConfigError(f"model names must be unique, got {names}")
        self.generation()  # an invalid combination fails now, not after the models are loaded
        return self

    def generation(self) -> Generation:
        overrides = {k: getattr(self, k) for k in Generation.model_fields if getattr(self, k) is not None}
        try:
            return Generation(**{**presets()[self.preset], **overrides})
        except ValidationError as exc:
            raise ConfigError(f"generation preset '{self.preset}': {validation_message(exc)}") from None


class ModelCounts(BaseModel):
    name: str
    responses: int = 0  # in the output file after the run
    new: int = 0
    errors: int = 0
    truncated: int = 0


class RespondSummary(BaseModel):
    out: str
    backend: str
    generation: dict = {}
    models: list[ModelCounts] = []
    new: int = 0  # written by this run
    resumed: int = 0  # already in the output file, skipped
    errors: int = 0  # written by this run with an error (retried on the next run)
    last_error: str | None = None
    incomplete: str | None = None  # why the next run has work left, None when all keys are final
    torn: int = 0  # torn last line found (and dropped) from a killed run
    seconds: float = 0.0
    usage: dict = {}  # openai backend, per model name: requests, tokens, cost
