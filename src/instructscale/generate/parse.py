"""Tolerant parser for the teacher's numbered task blocks.

Accepts Chinese and English labels (`4. 指令:` / `4. Instruction:`, full-width colons and
`、．)` after the number), fields that span several lines (code, lists, letters), `###`
separators or none, a reply that starts mid-block because the prompt ended with an
open `N. 指令:` label, and labels numbered as lines (`1. Instruction / 2. Input /
3. Output`, as small models write them). A block without instruction or output is
dropped and counted.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

_FIELDS = {"instruction": ("指令", "instruction"), "input": ("输入", "input"), "output": ("输出", "输出内容", "output")}
_ORDER = tuple(_FIELDS)
_NAME = {word: field for field, words in _FIELDS.items() for word in words}
_LABEL = re.compile(
    r"^[ \t]*(?:#+[ \t]*)?(?:(\d+)[ \t]*[.、．)）][ \t]*)?(" + "|".join(sorted(_NAME, key=len, reverse=True))
    + r")[ \t]*[:：]", re.M | re.I)
_SEPARATOR_TAIL = re.compile(r"(\n[ \t]*#{2,}[ \t]*)+\s*$")
NO_INPUT = {"", "<无输入>", "<无>", "无输入", "无", "<noinput>", "<no input>", "noinput", "none", "n/a", "<none>", "空"}


@dataclass
class ParsedTask:
    number: int | None
    instruction: str
    input: str
    output: str


@dataclass
class ParseResult:
    tasks: list[ParsedTask]
    errors: Counter  # reason -> dropped blocks


def parse_tasks(text: str, start: int | None = None, truncated: bool = False) -> ParseResult:
    """Tasks from a reply. `start`: the number of the open label the prompt ended with (the
    reply may begin with that task's instruction text); `truncated`: the reply hit the
    token limit, so its last block is incomplete and dropped."""
    errors: Counter = Counter()
    labels = list(_LABEL.finditer(text))
    head = _clean(text[:labels[0].start()] if labels else text)
    if not labels:
        errors["no_task_blocks"] += 1
        return ParseResult([], errors)
    blocks: list[dict] = [{"number": start, "last": start, "instruction": head}] if head and start is not None else []
    for m, nxt in zip(labels, labels[1:] + [None]):
        field = _NAME[m.group(2).lower()]
        number = int(m.group(1)) if m.group(1) else None
        value = _clean(text[m.end():nxt.start() if nxt else len(text)])
        cur = blocks[-1] if blocks else None
        if not _joins(cur, field, number):
            cur = {"number": number if number is not None else (cur["number"] + 1 if cur and cur["number"] else None)}
            blocks.append(cur)
        cur[field], cur["last"] = value, number
    if truncated and blocks:
        blocks.pop()
        errors["truncated"] += 1
    tasks = []
    for b in blocks:
        if not b.get("instruction"):
            errors["missing_instruction"] += 1
        elif "output" not in b:
            errors["missing_output"] += 1
        else:
            inp = b.get("input", "")
            tasks.append(ParsedTask(b["number"], b["instruction"], "" if inp.strip().lower() in NO_INPUT else inp,
                                    b["output"]))
    return ParseResult(tasks, errors)


def _joins(cur: dict | None, field: str, number: int | None) -> bool:
    """Whether a label continues the current block: a field the block lacks, with its number
    or none; or, for labels numbered as lines, the next number and a later field."""
    if cur is None or field == "instruction" or field in cur:
        return False
    if number is None or cur["number"] in (None, number):
        return True
    later = all(_ORDER.index(field) > _ORDER.index(f) for f in _ORDER if f in cur)
    return cur["last"] is not None and number == cur["last"] + 1 and later


def _clean(value: str) -> str:
    """Strip whitespace and trailing `###` separator lines."""
    return _SEPARATOR_TAIL.sub("", "\n" + value.strip()).strip().strip("#").strip() if value.strip() else ""
