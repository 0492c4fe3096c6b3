"""The offline demo: a procedural Chinese instruction world and a teacher that serves it
over the OpenAI-compatible HTTP path (see docs/demo-world.md)."""

from instructscale.demo.teacher import make_teacher, serve
from instructscale.demo.world import build_eval_set, sample_tasks

__all__ = ["build_eval_set", "make_teacher", "sample_tasks", "serve"]
