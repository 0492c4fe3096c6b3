"""Reading the training pool for subsets: category labels normalised by the eval set's rule
(categories/taxonomy.py), and copies of one example kept once.

Without this, `Math `, `MATH` and `math` were three categories of a mix or a stratified
order, and a row written twice (or one id used twice) could sit twice in one subset.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from instructscale.categories import LabelNormalizer
from instructscale.categories.taxonomy import UnknownPolicy
from instructscale.datafiles import iter_rows, validate_row
from instructscale.errors import InputError
from instructscale.records import InstructionExample


@dataclass
class Pool:
    examples: list[InstructionExample]
    duplicates: int = 0  # later copies of an example (same id, or same instruction, input and output) left out
    unknown_labels: dict[str, int] = field(default_factory=dict)  # labels kept as 'other' or dropped
    dropped: int = 0  # examples left out for an unknown label (policy 'drop')


def read_pool(path: str | Path, unknown: UnknownPolicy = "error") -> Pool:
    """Every distinct example of the pool, its category an id of the 12 (or 'other', or the
    example dropped, as `unknown` says); an example without a category stays without one.
    One id used for two different examples is an error naming both lines."""
    normalize = LabelNormalizer(unknown)
    examples: list[InstructionExample] = []
    by_id: dict[str, tuple[int, tuple[str, str, str]]] = {}  # id -> (line, content) of its first occurrence
    contents: set[tuple[str, str, str]] = set()
    duplicates = dropped = 0
    for line, row in iter_rows(path):
        ex = validate_row(InstructionExample, row, path=path, line=line)
        if ex.category is not None and ex.category.strip():
            ex.category = normalize(ex.category, path=path, line=line, field="category")
            if ex.category is None:
                dropped += 1
                continue
        else:
            ex.category = None
        content = (ex.instruction.strip(), ex.input.strip(), ex.output.strip())
        first = by_id.get(ex.id)
        if first is not None and first[1] != content:
            raise InputError(f"id '{ex.id}' was already used on line {first[0]} for a different example",
                             path=path, line=line, field="id")
        if first is not None or content in contents:
            duplicates += 1
            continue
        by_id[ex.id] = (line, content)
        contents.add(content)
        examples.append(ex)
    if not examples:
        raise InputError("no records found", path=path)
    return Pool(examples, duplicates, dict(Counter(normalize.unknown)), dropped)
