"""One task of the demo world, before it becomes a training example or an eval item."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from instructscale.records import InstructionExample, content_id


@dataclass(frozen=True)
class Task:
    category: str
    family: str
    instruction: str
    input: str
    output: str
    difficulty: int = 1
    meta: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def question(self) -> str:
        """Instruction and input as one prompt (the layout of `InstructionExample.prompt`)."""
        return f"{self.instruction}\n{self.input}" if self.input else self.instruction

    @property
    def key(self) -> str:
        return content_id(self.instruction, self.input, prefix="")

    def to_example(self) -> InstructionExample:
        return InstructionExample(instruction=self.instruction, input=self.input, output=self.output,
                                  category=self.category, source="demo-world")
