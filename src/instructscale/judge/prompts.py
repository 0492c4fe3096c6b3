"""Judge prompt sets (data files) and the judge message layout.

A prompt set maps category ids to a system prompt, plus a variant for items without a
standard answer. Built-in sets: `zh` (the study's Table 3) and `en`. A user file can be
our YAML shape, or the public release's JSON Lines (`{"class": ..., "prompt": ...}`,
labels like `open QA`, `closed\u00a0QA`, `extract`); missing pieces (templates,
no-reference variants) come from the built-in set of the same language.
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources
from pathlib import Path

import yaml
from pydantic import BaseModel, ValidationError

from instructscale.categories import normalize_label
from instructscale.datafiles import iter_rows, read_yaml
from instructscale.errors import ConfigError, InputError
from instructscale.records import EvalItem

BUILTIN = ("zh", "en")
_CJK = re.compile(r"[\u4e00-\u9fff]")


class CategoryPrompt(BaseModel):
    prompt: str
    no_reference: str | None = None


class PromptSet(BaseModel):
    name: str = ""
    language: str
    user_template: str
    user_template_no_reference: str
    reask: str
    prompts: dict[str, CategoryPrompt]
    default: CategoryPrompt | None = None

    def system_prompt(self, category: str, has_reference: bool) -> str:
        entry = self.prompts.get(category) or self.default
        if entry is None:
            raise ConfigError(f"prompt set '{self.name}' has no prompt for category '{category}' and no default")
        if has_reference:
            return entry.prompt
        if entry.no_reference:
            return entry.no_reference
        fallback = load_builtin(self.language).prompts.get(category) or load_builtin(self.language).default
        return fallback.no_reference or entry.prompt

    def messages(self, item: EvalItem, answer: str) -> list[dict[str, str]]:
        """The judge conversation: system = category prompt, user = question/reference/answer."""
        has_ref = item.reference is not None
        template = self.user_template if has_ref else self.user_template_no_reference
        user = template.format(question=item.question, reference=item.reference or "", answer=answer)
        return [{"role": "system", "content": self.system_prompt(item.category, has_ref)},
                {"role": "user", "content": user}]

    def reask_messages(self, messages: list[dict[str, str]], bad_reply: str | None) -> list[dict[str, str]]:
        """Follow-up after a reply without a valid score: the first ask, that reply, then a format
        reminder. Without the reply (it would not fit the judge's context) the reminder closes
        the first ask's user turn instead, so roles still alternate."""
        if bad_reply is None:
            *head, last = messages
            return [*head, {**last, "content": f"{last['content']}\n\n{self.reask}"}]
        return [*messages, {"role": "assistant", "content": bad_reply}, {"role": "user", "content": self.reask}]


@lru_cache(maxsize=4)
def load_builtin(language: str) -> PromptSet:
    if language not in BUILTIN:
        raise ConfigError(f"unknown built-in prompt set '{language}' (choose {', '.join(BUILTIN)} or a file path)")
    text = resources.files("instructscale").joinpath(f"data/judge_prompts/{language}.yaml").read_text("utf-8")
    return PromptSet.model_validate({"name": language, **yaml.safe_load(text)})


def load_prompt_set(spec: str | Path) -> PromptSet:
    """`zh`, `en`, a YAML file (our shape) or a JSON Lines file (public release shape)."""
    if str(spec) in BUILTIN:
        return load_builtin(str(spec))
    path = Path(spec)
    if not path.exists():
        raise InputError("prompt set file not found (or use zh / en)", path=path)
    if path.suffix.lower() in (".yaml", ".yml"):
        return _load_yaml(path)
    return _load_release_jsonl(path)


def _load_yaml(path: Path) -> PromptSet:
    data = read_yaml(path) or {}
    if not isinstance(data, dict) or not isinstance(data.get("prompts"), dict):
        raise InputError("expected a mapping with a 'prompts' mapping of category -> prompt", path=path)
    prompts = {}
    for label, entry in data["prompts"].items():
        cid = _category(label, path=path, field=f"prompts.{label}")
        prompts[cid] = {"prompt": entry} if isinstance(entry, str) else entry
    language = data.get("language") or _guess_language(prompts)
    base = load_builtin(language if language in BUILTIN else "en").model_dump(exclude={"prompts", "default", "name"})
    try:
        return PromptSet.model_validate({**base, **data, "prompts": prompts, "name": str(path)})
    except ValidationError as exc:
        err = exc.errors()[0]
        raise InputError(err["msg"], path=path, field=".".join(map(str, err["loc"]))) from None


def _load_release_jsonl(path: Path) -> PromptSet:
    prompts = {}
    for line, row in iter_rows(path):
        for key in ("class", "prompt"):
            if not isinstance(row.get(key), str) or not row[key].strip():
                raise InputError("missing or empty field", path=path, line=line, field=key)
        prompts[_category(row["class"], path=path, line=line, field="class")] = {"prompt": row["prompt"].strip()}
    language = _guess_language(prompts)
    base = load_builtin(language).model_dump(exclude={"prompts", "default", "name"})
    return PromptSet.model_validate({**base, "prompts": prompts, "name": str(path), "language": language})


def _category(label: str, **where) -> str:
    try:
        return normalize_label(label)
    except ValueError as exc:
        raise InputError(str(exc), **where) from None


def _guess_language(prompts: dict) -> str:
    text = "".join(p["prompt"] if isinstance(p, dict) else str(p) for p in prompts.values())
    return "zh" if _CJK.search(text) else "en"
