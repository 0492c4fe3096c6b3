"""Settings of a judge run and what it reports back."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Literal
from urllib.parse import urlparse

from pydantic import BaseModel, ConfigDict, Field, model_validator

from instructscale.errors import ConfigError
from instructscale.judge.summary import CategoryStats
from instructscale.llm import ClientConfig

DEFAULT_JUDGE_PARAMS = {"temperature": 1.0, "max_tokens": 512}  # 1.0: the API default, so repeats differ
# A judge served on this machine or the local network is usually a small model with a small
# context that rambles to the token limit: a score needs few tokens, and inputs must leave room.
LOCAL_JUDGE_PARAMS = {"max_tokens": 256}
DEFAULT_MAX_INPUT_TOKENS = {"api": 6000, "local": 1200}


class JudgeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    eval: Path = Field(..., description="Evaluation set (EvalItem records)")
    responses: list[Path] = Field(..., min_length=1, description="Response files (Response records)")
    out: Path = Field(..., description="Judgements, JSON Lines, appended and resumable")
    scorer: Literal["llm", "reference"] = Field("llm", description="LLM judge, or offline reference metrics")
    client: ClientConfig | None = Field(None, description="Judge API settings (scorer llm); model = judge name")
    prompts: str = Field("zh", description="Prompt set: zh, en, or a YAML / JSON Lines file")
    repeats: int = Field(3, ge=1, description="Judgements per answer (the study: 3); reference scorer: 1")
    reasks: int = Field(2, ge=0, description="Extra requests with a format reminder when a reply has no valid score")
    seed: int | None = Field(0, description="Sent as seed + repeat index; None: send no seed")
    cache: Path | None = Field(None, description="SQLite reply cache; default: llm_cache.sqlite next to --out")
    use_cache: bool = Field(True, description="False: no cache reads or writes")
    dry_run: bool = Field(False, description="Estimate requests, tokens and cost; call nothing, write nothing")
    code_timeout_s: float = Field(10.0, gt=0, description="Time limit for running code tests (reference scorer)")
    max_input_tokens: int | None = Field(None, ge=64, description="Question, reference and answer together, in "
                                         "estimated tokens; longer inputs are cut (with a warning, counted) before "
                                         "sending. None: 6000, or 1200 for a judge on a local server")

    @model_validator(mode="after")
    def _check(self):
        if self.scorer == "llm" and self.client is None:
            raise ConfigError("the llm scorer needs client settings (judge model, base URL)")
        if self.client is not None:  # judge defaults for sampling parameters the caller left out
            defaults = {**DEFAULT_JUDGE_PARAMS, **(LOCAL_JUDGE_PARAMS if self.local_judge else {})}
            self.client = self.client.model_copy(update={"params": {**defaults, **self.client.params}})
        if self.max_input_tokens is None:
            self.max_input_tokens = DEFAULT_MAX_INPUT_TOKENS["local" if self.local_judge else "api"]
        return self

    @property
    def local_judge(self) -> bool:
        """A judge on localhost or a private network address (vLLM, llama.cpp, Ollama)."""
        if self.client is None:
            return False
        host = urlparse(self.client.base_url).hostname or ""
        try:
            return host == "localhost" or ipaddress.ip_address(host).is_private
        except ValueError:
            return host.endswith((".local", ".internal"))

    @property
    def judge_name(self) -> str:
        return "reference" if self.scorer == "reference" else self.client.model

    @property
    def cache_path(self) -> Path:
        return self.cache or self.out.parent / "llm_cache.sqlite"


class JudgeSummary(BaseModel):
    out: str
    judge: str
    scorer: str
    rows: list[CategoryStats] = []
    judgements: int = 0  # in the output file for this judge, after the run
    new: int = 0  # written by this run
    resumed: int = 0  # already in the output file, skipped
    unscored: int = 0  # judgements without a score, all reasons (the three below and replies without a score)
    api_failures: int = 0  # calls failed after all retries: redone by the next run
    response_failures: int = 0  # the response itself failed: redone once it is
    last_api_error: str | None = None
    api_calls: int = 0  # judgements of this run that asked the judge (cached replies included)
    incomplete: str | None = None  # why the next run has work left, None when all keys are final
    requests: int = 0  # HTTP attempts, retries and re-asks included
    cache_hits: int = 0
    unknown_items: int = 0  # responses whose item is not in the evaluation set (not judged)
    inputs_cut: int = 0  # judgements whose question/reference/answer were cut to fit max_input_tokens
    context_overflows: int = 0  # unscored for good: the judge's context could not hold the request
    usage: dict = {}
    estimate: dict | None = None  # --dry-run only
