"""Tiny causal LMs initialised from a config, with a tokenizer trained in-process.

Nothing is downloaded: tests and the offline demo run the real transformers/TRL code
paths on a model that fits in a few MB. The tokenizer is byte-level BPE, so any text
(Chinese included) can be encoded; merges learned from the training texts keep common
Chinese characters as single tokens.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from pydantic import BaseModel, ConfigDict

SPECIAL_TOKENS = {"pad_token": "<pad>", "eos_token": "</s>", "bos_token": "<s>", "unk_token": "<unk>"}


class TinyModelConfig(BaseModel):
    """Size of a tiny model; defaults give roughly a 1M-parameter model."""

    model_config = ConfigDict(extra="forbid")

    arch: Literal["gpt2", "bloom", "llama"] = "gpt2"
    vocab_size: int = 2000
    hidden_size: int = 64
    num_layers: int = 2
    num_heads: int = 4
    max_positions: int = 512
    seed: int = 0


def train_tokenizer(texts: Iterable[str], vocab_size: int = 2000):
    """Train a byte-level BPE tokenizer on `texts`; returns a `PreTrainedTokenizerFast`."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token=SPECIAL_TOKENS["unk_token"]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS.values()),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, clean_up_tokenization_spaces=False, **SPECIAL_TOKENS)


def build_tiny_model(tokenizer, cfg: TinyModelConfig | None = None):
    """A randomly initialised causal LM sized by `cfg`, matching `tokenizer`'s vocabulary."""
    import torch
    from transformers import AutoModelForCausalLM, BloomConfig, GPT2Config, LlamaConfig

    cfg = cfg or TinyModelConfig()
    vocab = len(tokenizer)
    ids = dict(bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
               pad_token_id=tokenizer.pad_token_id)
    if cfg.arch == "gpt2":
        config = GPT2Config(vocab_size=vocab, n_embd=cfg.hidden_size, n_layer=cfg.num_layers,
                            n_head=cfg.num_heads, n_positions=cfg.max_positions, **ids)
    elif cfg.arch == "bloom":
        config = BloomConfig(vocab_size=vocab, hidden_size=cfg.hidden_size, n_layer=cfg.num_layers,
                             n_head=cfg.num_heads, **ids)
    else:
        config = LlamaConfig(vocab_size=vocab, hidden_size=cfg.hidden_size, intermediate_size=cfg.hidden_size * 4,
                             num_hidden_layers=cfg.num_layers, num_attention_heads=cfg.num_heads,
                             num_key_value_heads=cfg.num_heads, max_position_embeddings=cfg.max_positions, **ids)
    torch.manual_seed(cfg.seed)
    return AutoModelForCausalLM.from_config(config)
