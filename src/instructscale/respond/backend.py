"""What every backend does: answer a list of jobs and hand each answer to `emit` as soon
as it exists (so a kill loses only answers in flight). Backends are registered by name
and imported only when chosen, so vLLM is needed only by runs that ask for it."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from instructscale.records import EvalItem

BACKENDS = {
    "hf": "instructscale.respond.hf_backend:HFBackend",
    "openai": "instructscale.respond.openai_backend:OpenAIBackend",
    "vllm": "instructscale.respond.vllm_backend:VLLMBackend",
}


@dataclass(frozen=True)
class Job:
    item: EvalItem
    sample: int


@dataclass
class Answer:
    text: str
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    truncated: bool = False  # stopped by the length limit, not by EOS or a stop string
    error: str | None = None


Emit = Callable[[Job, Answer], None]


class Backend(Protocol):
    settings: dict  # template and backend details recorded with every response

    def generate(self, jobs: list[Job], emit: Emit) -> None: ...

    def close(self) -> None: ...


def open_backend(cfg, spec) -> Backend:
    """Load the backend named in `cfg.backend` for one model."""
    module, cls = BACKENDS[cfg.backend].split(":")
    return getattr(importlib.import_module(module), cls)(cfg, spec)


def batch_seed(seed: int, jobs: list[Job]) -> int:
    """A sampling seed fixed by the run seed and the jobs of a batch, so a rerun with the
    same inputs draws the same answers regardless of what ran before."""
    from instructscale.records import content_id

    return int(content_id(str(seed), *(f"{j.item.id}\x1e{j.sample}" for j in jobs)), 16) % 2**63


def job_seed(seed: int, job: Job) -> int:
    """A seed of one request, for engines that seed each request on its own (vLLM draws a
    request's noise from its seed and positions only, so one seed for a whole chunk would
    give every sample of an item the same answer)."""
    return batch_seed(seed, [job])
