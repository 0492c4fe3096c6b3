"""Generation prompts as data: a header with the requirements, the in-context examples as
numbered blocks, and an open label for the teacher to continue (Alpaca's layout)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import yaml
from pydantic import BaseModel, ValidationError

from instructscale.datafiles import read_yaml
from instructscale.errors import ConfigError, validation_message
from instructscale.records import InstructionExample

BUILTIN = ("zh", "en")


class Labels(BaseModel):
    instruction: str
    input: str
    output: str
    noinput: str


class GenerationPrompt(BaseModel):
    language: str
    labels: Labels
    separator: str = "###"
    header: str
    tag_prompt: str | None = None

    def render(self, examples: list[InstructionExample], new_tasks: int) -> tuple[list[dict], int]:
        """Chat messages asking for `new_tasks` more tasks after `examples`, and the number
        the first new task gets (the open label)."""
        total = len(examples) + new_tasks
        lab = self.labels
        blocks = [f"{n}. {lab.instruction}: {ex.instruction}\n{n}. {lab.input}: {ex.input or lab.noinput}\n"
                  f"{n}. {lab.output}: {ex.output}" for n, ex in enumerate(examples, start=1)]
        start = len(examples) + 1
        sep = self.separator
        body = "".join(f"{sep}\n{b}\n" for b in blocks) + f"{sep}\n{start}. {lab.instruction}:"
        return [{"role": "user", "content": self.header.format(total=total) + "\n" + body}], start

    def tag_messages(self, instruction: str, input_text: str, category_ids: list[str]) -> list[dict]:
        text = self.tag_prompt.format(categories=", ".join(category_ids), instruction=instruction,
                                      input=input_text or self.labels.noinput)
        return [{"role": "user", "content": text}]


def load_prompt(name_or_path: str) -> GenerationPrompt:
    """A built-in prompt (zh, en) or a YAML file with the same keys."""
    if name_or_path in BUILTIN:
        data = yaml.safe_load(resources.files("instructscale").joinpath(f"data/generate_prompts/{name_or_path}.yaml")
                              .read_text(encoding="utf-8"))
        source = name_or_path
    else:
        path = Path(name_or_path)
        if not path.is_file():
            raise ConfigError(f"prompt must be one of {', '.join(BUILTIN)} or a YAML file; '{name_or_path}' is neither")
        data, source = read_yaml(path), str(path)
    try:
        prompt = GenerationPrompt.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{source}: not a generation prompt: {validation_message(exc)}") from None
    if "{total}" not in prompt.header:
        raise ConfigError(f"{source}: the header must say how many tasks to list ({{total}})")
    return prompt
