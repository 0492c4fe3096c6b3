"""The record types every stage reads and writes, one JSON object per line.

Field names are the documented JSON Lines schema (see README, "Data formats").
Ids are stable: where the input has none, the id is a content hash, so a response
file can refer to items of an evaluation set that was imported without ids.
"""

from __future__ import annotations

import hashlib
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from instructscale.redact import redact


def content_id(*parts: str, prefix: str = "") -> str:
    """A short stable id: sha256 over the whitespace-trimmed parts."""
    digest = hashlib.sha256("\x1f".join(p.strip() for p in parts).encode("utf-8")).hexdigest()
    return f"{prefix}{digest[:16]}"


class Record(BaseModel):
    """Base: unknown fields are an error, so a typo in a file does not pass silently.
    An `error` text (an API failure) is redacted: some gateways repeat the API key in it."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="after")
    def _redact_error(self):
        if getattr(self, "error", None):
            self.error = redact(self.error)
        return self


class InstructionExample(Record):
    """One training example (Alpaca style: instruction, optional input, output)."""

    id: str = ""
    instruction: str = Field(min_length=1)
    input: str = ""
    output: str
    category: str | None = None
    source: str = ""

    @model_validator(mode="after")
    def _default_id(self):
        if not self.id:
            self.id = content_id(self.instruction, self.input, prefix="ex-")
        return self

    @property
    def prompt(self) -> str:
        """Instruction and input as one prompt text."""
        return f"{self.instruction}\n{self.input}" if self.input else self.instruction


class EvalItem(Record):
    """One evaluation question with its golden (reference) answer, if any."""

    id: str = ""
    category: str
    question: str = Field(min_length=1)
    reference: str | None = None
    meta: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _normalize(self):
        if self.reference is not None and not self.reference.strip():
            self.reference = None
        if not self.id:
            self.id = content_id(self.question, prefix="q-")
        return self


class Response(Record):
    """One model answer to one evaluation item (sample k of n)."""

    item_id: str
    model: str
    sample: int = 0
    response: str
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    truncated: bool = False
    settings: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None


class Judgement(Record):
    """One score for one response; `score` is None when the judge gave no valid score."""

    item_id: str
    model: str
    judge: str
    repeat: int = 0
    sample: int = 0
    category: str | None = None
    score: float | None = Field(default=None, ge=0.0, le=1.0)
    raw: str = ""
    error: str | None = None
    note: str | None = None  # how the request was adapted (inputs cut to fit the judge's context)


class PairJudgement(Record):
    """One pairwise verdict: a model's answer against the reference answer (`against`) for one
    item, in one order (`swapped`: the model's answer shown second). `verdict` is from the
    model's side: win, loss or tie; None when the judge gave no valid verdict."""

    item_id: str
    model: str
    against: str
    judge: str
    swapped: bool = False
    repeat: int = 0
    sample: int = 0
    category: str | None = None
    verdict: Literal["win", "loss", "tie"] | None = None
    raw: str = ""
    error: str | None = None
    note: str | None = None


RECORD_TYPES: dict[str, type[Record]] = {
    "example": InstructionExample,
    "eval": EvalItem,
    "response": Response,
    "judgement": Judgement,
    "pair_judgement": PairJudgement,
}
