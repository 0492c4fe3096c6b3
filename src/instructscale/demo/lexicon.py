"""The demo world's data files (src/instructscale/data/demo/*.yaml), loaded once."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from typing import Any

import yaml


@lru_cache(maxsize=None)
def load(name: str) -> dict[str, Any]:
    """One data file by stem: 'lexicon', 'facts', 'language' or 'wording'."""
    text = resources.files("instructscale").joinpath(f"data/demo/{name}.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


def lex() -> dict[str, Any]:
    return load("lexicon")


def facts() -> dict[str, Any]:
    return load("facts")


def language() -> dict[str, Any]:
    return load("language")


def wording(category: str, family: str) -> list[str]:
    return load("wording")[category][family]
