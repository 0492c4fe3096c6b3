"""GGUF files as base models. transformers reads a GGUF (dequantizing it) but cannot save a
model loaded that way, and dequantizing takes tens of seconds; so a `.gguf` path is
converted once into an ordinary Hugging Face folder, kept in the HF cache directory under
the file's sha256, and every later load (train, respond, each scale of a study) reuses it."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from instructscale.console import console
from instructscale.datafiles import file_sha256, looks_local, write_json
from instructscale.errors import ConfigError, InputError, require_extra

CACHE_SUBDIR = "instructscale-gguf"
SOURCE = "gguf_source.json"  # written last into a converted folder: its presence means complete


def is_gguf(path: str | Path) -> bool:
    return str(path).lower().endswith(".gguf")


def cache_root() -> Path:
    """HF_HOME (or ~/.cache/huggingface) / instructscale-gguf: where pip/HF caches live, so a
    machine that keeps its caches converts each file once."""
    from huggingface_hub import constants

    return Path(constants.HF_HOME) / CACHE_SUBDIR


def resolve_model_path(path: str) -> str:
    """`path` itself, or for a `.gguf` file the converted Hugging Face folder. A missing path
    that was meant as a local one (`models/nope`) is 'no such file', not a Hub lookup."""
    if not Path(path).exists() and looks_local(path):
        raise InputError("no such file or folder", path=path)
    if not is_gguf(path):
        return path
    gguf = Path(path)
    if not gguf.is_file():
        raise ConfigError(f"GGUF file not found: {gguf}")
    digest = file_sha256(gguf)
    folder = cache_root() / digest
    if not (folder / SOURCE).is_file():
        _convert(gguf, digest, folder)
    return str(folder)


def _convert(gguf: Path, digest: str, folder: Path) -> None:
    """Dequantize into float32 and save as safetensors + tokenizer. The loaded model is rebuilt
    from its config and state dict: transformers refuses to save a model loaded from GGUF."""
    require_extra("gguf", "gguf", "loading a .gguf base model")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    console.print(f"converting {gguf} to a Hugging Face folder (once) in {folder}")
    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    except (OSError, ValueError, RuntimeError) as exc:
        raise ConfigError(f"cannot read GGUF file {gguf}: {exc}") from None
    config = loaded.config
    if hasattr(config, "quantization_config"):  # the weights are saved dequantized
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(loaded.state_dict())
    model.generation_config = loaded.generation_config
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{digest}."))
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        write_json(tmp / SOURCE, {"gguf": str(gguf.resolve()), "sha256": digest})
        shutil.rmtree(folder, ignore_errors=True)  # an earlier conversion cut short
        try:
            os.replace(tmp, folder)
        except OSError:  # another process finished the same conversion first
            if not (folder / SOURCE).is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
