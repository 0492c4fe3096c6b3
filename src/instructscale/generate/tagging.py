"""Category tagging of generated tasks, so the composition of the data can be reported:
keyword rules (data/generate_tagging.yaml) and, optionally, the teacher for the rest."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import yaml

from instructscale.categories import CATEGORY_IDS, normalize_label


@dataclass(frozen=True)
class Rule:
    category: str
    instruction: re.Pattern | None
    text: re.Pattern | None


@lru_cache(maxsize=1)
def rules() -> tuple[Rule, ...]:
    data = yaml.safe_load(resources.files("instructscale").joinpath("data/generate_tagging.yaml")
                          .read_text(encoding="utf-8"))

    def compile_any(patterns):
        return re.compile("|".join(f"(?:{p})" for p in patterns), re.I | re.M) if patterns else None

    return tuple(Rule(normalize_label(r["category"]), compile_any(r.get("instruction")), compile_any(r.get("text")))
                 for r in data)


def tag_by_rules(instruction: str, input_text: str = "") -> str | None:
    """The first matching rule's category, or None when no rule applies."""
    text = f"{instruction}\n{input_text}"
    for rule in rules():
        if (rule.instruction and rule.instruction.search(instruction)) or (rule.text and rule.text.search(text)):
            return rule.category
    return None


def fallback_category(input_text: str) -> str:
    """A question with a passage to read is closed QA; without one, open QA."""
    return "closed_qa" if input_text.strip() else "open_qa"


def parse_category(reply: str) -> str | None:
    """A category id (or alias) found in the teacher's tagging reply."""
    first = reply.strip().splitlines()[0] if reply.strip() else ""
    for candidate in [first.strip(" .。:：`'\""), *re.findall(r"[A-Za-z_]+(?:[ _][A-Za-z]+)?", reply)]:
        label = normalize_label(candidate, policy="drop")
        if label in CATEGORY_IDS:
            return label
    return None
