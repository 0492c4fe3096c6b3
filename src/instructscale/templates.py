"""Prompt templates shared by train (how examples are formatted) and respond (how a model
is asked). Templates are data (data/templates.yaml); a trained model stores the one it
was trained with in its metadata so it is always asked the same way."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

import yaml
from pydantic import BaseModel

from instructscale.errors import ConfigError


class PromptTemplate(BaseModel):
    """`prompt` is formatted with {instruction} and {input}; the model's output follows it.
    name 'chat' means: use the tokenizer's own chat template instead."""

    name: str
    prompt: str = ""
    stop: list[str] = []
    # put before a non-empty input: "\n" makes belle's {instruction}{input} read exactly like an
    # evaluation question (instruction, newline, input), which is how models are later asked
    input_prefix: str = ""

    def render(self, instruction: str, input: str = "", tokenizer=None) -> str:
        if self.name == "chat":
            if tokenizer is None or not getattr(tokenizer, "chat_template", None):
                raise ConfigError("template 'chat' needs a tokenizer that has a chat template")
            content = f"{instruction}\n{input}" if input else instruction
            return tokenizer.apply_chat_template([{"role": "user", "content": content}], tokenize=False,
                                                 add_generation_prompt=True)
        return self.prompt.format(instruction=instruction, input=self.input_prefix + input if input else "")


@lru_cache(maxsize=1)
def _builtin() -> dict[str, PromptTemplate]:
    text = resources.files("instructscale").joinpath("data/templates.yaml").read_text(encoding="utf-8")
    return {name: PromptTemplate(name=name, **spec) for name, spec in yaml.safe_load(text).items()}


def get_template(name: str) -> PromptTemplate:
    try:
        return _builtin()[name]
    except KeyError:
        raise ConfigError(f"unknown prompt template '{name}' (have: {', '.join(_builtin())})") from None
