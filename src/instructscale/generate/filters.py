"""Cheap checks on each parsed task, in a fixed order; the first failing one names the
reason it is dropped (so every drop is counted once)."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from importlib import resources

import yaml

from instructscale.generate.config import GenerateConfig
from instructscale.generate.parse import ParsedTask


@lru_cache(maxsize=1)
def builtin_blacklist() -> tuple[str, ...]:
    data = yaml.safe_load(resources.files("instructscale").joinpath("data/generate_blacklist.yaml")
                          .read_text(encoding="utf-8"))
    return tuple(data["zh"]) + tuple(data["en"])


def blacklist_pattern(words: list[str] | tuple[str, ...]) -> re.Pattern:
    """Latin words match whole words (`profile` is not `file`), CJK words as substrings."""
    parts = [rf"\b{re.escape(w)}\b" if re.fullmatch(r"[\x00-\x7f]+", w) else re.escape(w) for w in words]
    return re.compile("|".join(parts) or r"(?!)", re.I)


class TaskFilter:
    def __init__(self, cfg: GenerateConfig):
        self.cfg = cfg
        self.blacklist = blacklist_pattern(cfg.blacklist if cfg.blacklist is not None else builtin_blacklist())

    def reason(self, task: ParsedTask) -> str | None:
        """Why the task is dropped, or None to keep it."""
        cfg, ins = self.cfg, task.instruction
        if len(ins) < cfg.min_instruction_chars:
            return "instruction_too_short"
        if len(ins) > cfg.max_instruction_chars:
            return "instruction_too_long"
        if len(task.input) > cfg.max_input_chars:
            return "input_too_long"
        if not task.output.strip():
            return "empty_output"
        if len(task.output) > cfg.max_output_chars:
            return "output_too_long"
        if unicodedata.category(ins[0])[0] in "PS":
            return "starts_with_punctuation"
        if self.blacklist.search(ins):
            return "blacklisted_word"
        return None
