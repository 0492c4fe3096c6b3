"""Base models: load one through `from_pretrained` (Hub id or folder), or create a tiny
one offline. `init-tiny` saves the tiny model like any other checkpoint, so every scale
of a study fine-tunes from the same folder and the untrained base is "scale 0"."""

from __future__ import annotations

import os
from pathlib import Path

from instructscale.datafiles import iter_rows
from instructscale.errors import ConfigError, first_line
from instructscale.models.gguf import resolve_model_path
from instructscale.models.tiny import TinyModelConfig, build_tiny_model, train_tokenizer

# LoRA targets where peft's "all-linear" would also adapt the output head or miss fused layers.
LORA_TARGETS = {
    "gpt2": ["c_attn", "c_proj"],
    "bloom": ["query_key_value", "dense"],
    "llama": ["q_proj", "k_proj", "v_proj", "o_proj"],
}


def init_tiny(texts_path: str | Path, out: str | Path, cfg: TinyModelConfig, vocab_size: int = 2000) -> Path:
    """Train a tokenizer on the pool's texts, build a tiny model, save both into `out`."""
    texts = []
    for _, row in iter_rows(texts_path):
        texts.extend(str(row[k]) for k in ("instruction", "input", "output", "text") if row.get(k))
    if not texts:
        raise ConfigError(f"{texts_path} has no instruction/input/output/text fields to train a tokenizer on")
    tokenizer = train_tokenizer(texts, vocab_size=vocab_size)
    model = build_tiny_model(tokenizer, cfg.model_copy(update={"vocab_size": vocab_size}))
    out = Path(out)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def load_base(name: str, *, quantize_4bit: bool = False, dtype: str | None = None):
    """(tokenizer, model) of a base model: `load_tokenizer` and `load_model`."""
    return load_tokenizer(name), load_model(name, quantize_4bit=quantize_4bit, dtype=dtype)


def load_tokenizer(name: str):
    """The base model's tokenizer, loadable before the model: training builds its arguments
    from the tokenized data, and those must exist before the model loads (train/run.py)."""
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(resolve_model_path(name))
    except (OSError, ValueError) as exc:  # ValueError: a folder with no usable tokenizer or config
        raise ConfigError(f"cannot load base model '{name}': {first_line(exc)}") from None
    if tokenizer.pad_token is None:  # many causal LMs ship without one; padding is masked anyway
        tokenizer.pad_token = tokenizer.eos_token
    if tokenizer.eos_token_id is None:
        raise ConfigError(f"tokenizer of '{name}' has no EOS token, so a trained model could not learn to stop")
    return tokenizer


def load_model(name: str, *, quantize_4bit: bool = False, dtype: str | None = None):
    """The model through the ordinary transformers loading path; a `.gguf` file is converted
    once into a cached Hugging Face folder (models/gguf.py) and loaded from there.

    Weights load in float32 unless `dtype` says otherwise, whatever the checkpoint's dtype
    (transformers 5 would keep a bf16/fp16 checkpoint in half precision): mixed precision
    needs fp32 master weights, and in bf16 an update of lr 3e-6 is below the rounding step of
    most weights and is lost. The trainer passes the half precision only where the weights
    it loads are not the master copy: a frozen LoRA base (14 GB for 7B, not 28; peft creates
    the adapter in float32), or DeepSpeed, which keeps its own fp32 master weights."""
    import torch
    from safetensors import SafetensorError
    from transformers import AutoModelForCausalLM

    kwargs = {"dtype": getattr(torch, dtype or "float32")}
    if quantize_4bit:
        from instructscale.errors import require_extra

        require_extra("bitsandbytes", "qlora", "QLoRA")
        from transformers import BitsAndBytesConfig

        kwargs["dtype"] = torch.bfloat16  # the non-quantized rest (embeddings, norms) in the compute dtype
        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=torch.bfloat16)
        kwargs["device_map"] = rank_device_map()
    try:
        return AutoModelForCausalLM.from_pretrained(resolve_model_path(name), **kwargs)
    except (OSError, ValueError, SafetensorError) as exc:  # SafetensorError: a truncated or damaged weights file
        raise ConfigError(f"cannot load base model '{name}': {first_line(exc)}") from None


def rank_device_map() -> dict[str, int]:
    """A quantized model is placed at load time (bitsandbytes cannot move it later): on this
    process's own GPU, which the launcher names in LOCAL_RANK; without it every rank would
    put its copy on GPU 0 and accelerate refuses to train it on another device."""
    return {"": int(os.environ.get("LOCAL_RANK", "0"))}


def lora_targets(model, configured: list[str] | None):
    if configured:
        return configured
    return LORA_TARGETS.get(model.config.model_type, "all-linear")
