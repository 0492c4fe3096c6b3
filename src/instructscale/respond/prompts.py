"""How a model is asked: the template and stop strings it was trained with.

`train` writes them into MODEL/instructscale.json; an explicit template (a built-in name
or a format string with {instruction}) wins; a model without metadata (a Hub checkpoint,
a raw instruct model) is asked through its tokenizer's chat template, the format it was
tuned on, and only a tokenizer without one falls back to the study's `belle` format.
"""

from __future__ import annotations

import json
from pathlib import Path

from instructscale.console import console
from instructscale.datafiles import parse_json, read_text
from instructscale.errors import ConfigError, InputError
from instructscale.templates import PromptTemplate, get_template

METADATA = "instructscale.json"  # written by instructscale.train.run
ADAPTER_CONFIG = "adapter_config.json"  # written by peft next to adapter weights
DEFAULT_TEMPLATE = "belle"
CHAT_TEMPLATE = "chat"


def read_metadata(model_path: str) -> dict:
    """The training metadata of a model folder, or {} for anything else."""
    path = Path(model_path) / METADATA
    if not path.is_file():
        return {}
    return parse_json(read_text(path), path)


def resolve_template(model_path: str, explicit: str | None = None, stop: list[str] | None = None,
                     tokenizer=None) -> PromptTemplate:
    """The template to ask `model_path` with; `stop` replaces the template's stop strings.
    `tokenizer` (the loaded one) decides the default for a model without metadata."""
    if explicit:
        template = _explicit(explicit)
    else:
        meta = read_metadata(model_path).get("template")
        if meta:
            try:
                template = PromptTemplate.model_validate(meta)
            except ValueError as exc:
                raise InputError(f"bad template in metadata: {exc}", path=Path(model_path) / METADATA,
                                 field="template") from None
        elif getattr(tokenizer, "chat_template", None):
            console.print(f"{model_path} has no {METADATA}: asking it through its tokenizer's chat template "
                          "(pass --template to choose)")
            template = get_template(CHAT_TEMPLATE)
        else:
            console.print(f"[yellow]{model_path} has no {METADATA} and no chat template: asking it with the "
                          f"'{DEFAULT_TEMPLATE}' template (pass --template to choose)")
            template = get_template(DEFAULT_TEMPLATE)
    if stop is not None:
        template = template.model_copy(update={"stop": list(stop)})
    return template


def _explicit(spec: str) -> PromptTemplate:
    if "{instruction}" not in spec:
        return get_template(spec)
    try:
        spec.format(instruction="", input="")
    except (KeyError, IndexError, ValueError) as exc:
        raise ConfigError(f"template '{spec}' is not a valid format string ({exc}); "
                          "use {instruction} and {input}, and double other braces") from None
    return PromptTemplate(name="custom", prompt=spec, stop=[])


def adapter_base(model_path: str) -> str | None:
    """The base model of a PEFT adapter folder, or None when `model_path` is a full model."""
    path = Path(model_path) / ADAPTER_CONFIG
    if not path.is_file():
        return None
    base = json.loads(path.read_text(encoding="utf-8")).get("base_model_name_or_path") \
        or read_metadata(model_path).get("base_model")
    if not base:
        raise InputError("adapter names no base model (base_model_name_or_path)", path=path)
    return base


def drop_broken_tail(text: str) -> str:
    """An answer cut at the token limit can end inside a multi-byte character, which decodes
    to U+FFFD; those trailing replacement characters are not part of the answer."""
    return text.rstrip("\ufffd")


def cut_at_stop(text: str, stops: list[str]) -> tuple[str, bool]:
    """`text` up to the first stop string, and whether one was found."""
    cut = min((i for i in (text.find(s) for s in stops if s) if i >= 0), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)
