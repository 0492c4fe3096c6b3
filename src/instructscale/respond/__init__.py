"""The respond stage: fine-tuned models answer the evaluation set, locally (transformers,
vLLM) or through any OpenAI-compatible server. Entry point: `run_respond(RespondConfig)`."""

from instructscale.respond.config import Generation, ModelSpec, RespondConfig, RespondSummary, presets
from instructscale.respond.prompts import resolve_template
from instructscale.respond.run import run_respond

__all__ = ["Generation", "ModelSpec", "RespondConfig", "RespondSummary", "presets", "resolve_template",
           "run_respond"]
