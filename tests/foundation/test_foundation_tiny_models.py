"""Tiny offline models: a tokenizer trained in-process and three architectures that run."""

from __future__ import annotations

import pytest
import torch

from instructscale.models.tiny import TinyModelConfig, build_tiny_model, train_tokenizer

TEXTS = ["你好，世界。", "今天天气很好。", "Hello world."] * 10


@pytest.fixture(scope="module")
def tokenizer():
    return train_tokenizer(TEXTS, vocab_size=300)


def test_tokenizer_round_trips_chinese_and_has_the_special_tokens(tokenizer):
    assert (tokenizer.pad_token, tokenizer.eos_token, tokenizer.bos_token, tokenizer.unk_token) == (
        "<pad>", "</s>", "<s>", "<unk>")
    assert len({tokenizer.pad_token_id, tokenizer.eos_token_id, tokenizer.bos_token_id}) == 3
    for text in ["你好，世界。", "没见过的字：鼹鼠", "mixed 中英 text"]:  # byte level: unseen characters work too
        assert tokenizer.decode(tokenizer(text)["input_ids"], skip_special_tokens=True) == text
    assert len(tokenizer("今天天气很好。")["input_ids"]) < len("今天天气很好。".encode())  # merges were learned


@pytest.mark.parametrize("arch", ["gpt2", "bloom", "llama"])
def test_tiny_models_build_offline_and_run(tokenizer, arch):
    cfg = TinyModelConfig(arch=arch, vocab_size=300, hidden_size=32, num_layers=1, num_heads=2, max_positions=64)
    model = build_tiny_model(tokenizer, cfg)
    assert model.config.model_type == arch and model.config.vocab_size == len(tokenizer)
    ids = torch.tensor([tokenizer("你好，世界。")["input_ids"]])
    out = model(input_ids=ids, labels=ids)
    assert out.logits.shape == (1, ids.shape[1], len(tokenizer)) and torch.isfinite(out.loss)
    out.loss.backward()  # trainable: gradients reach the embeddings
    assert model.get_input_embeddings().weight.grad.abs().sum() > 0
    again = build_tiny_model(tokenizer, cfg)  # the seed decides the initial weights
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values()))
