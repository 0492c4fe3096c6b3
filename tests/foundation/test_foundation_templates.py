"""Prompt templates: the exact text a model is trained on and later asked with."""

from __future__ import annotations

import pytest

from instructscale.errors import ConfigError
from instructscale.models.tiny import train_tokenizer
from instructscale.templates import get_template


def test_belle_is_the_release_turn_format_with_the_input_on_its_own_line():
    belle = get_template("belle")
    assert belle.render("把下面的句子翻译成英文：") == "Human: \n把下面的句子翻译成英文：\n\nAssistant: \n"
    assert belle.render("把下面的句子翻译成英文：", "你好") == "Human: \n把下面的句子翻译成英文：\n你好\n\nAssistant: \n"
    assert belle.stop == ["Human:", "\nHuman"]
    # an evaluation question is "instruction\ninput": asked as-is it reads exactly like the training prompt
    assert belle.render("把下面的句子翻译成英文：\n你好") == belle.render("把下面的句子翻译成英文：", "你好")


def test_alpaca_has_an_input_block_only_when_there_is_an_input():
    alpaca = get_template("alpaca")
    with_input = alpaca.render("Translate.", "你好")
    assert with_input.endswith("### Instruction:\nTranslate.\n\n### Input:\n你好\n\n### Response:\n")
    without = alpaca.render("Say hello.")
    assert without.endswith("### Instruction:\nSay hello.\n\n### Response:\n") and "### Input" not in without
    assert alpaca.stop == ["### Instruction:"]


def test_chat_uses_the_tokenizers_own_template():
    chat = get_template("chat")
    tok = train_tokenizer(["你好，世界。"] * 5, vocab_size=280)
    with pytest.raises(ConfigError, match="needs a tokenizer that has a chat template"):
        chat.render("你好")
    with pytest.raises(ConfigError):
        chat.render("你好", tokenizer=tok)  # a plain tokenizer has none
    tok.chat_template = ("{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}\n{% endfor %}"
                         "{% if add_generation_prompt %}<|assistant|>{% endif %}")
    assert chat.render("翻译", "你好", tokenizer=tok) == "<|user|>翻译\n你好\n<|assistant|>"


def test_unknown_template_names_the_ones_there_are():
    with pytest.raises(ConfigError, match=r"unknown prompt template 'vicuna' \(have: belle, alpaca, chat\)"):
        get_template("vicuna")
