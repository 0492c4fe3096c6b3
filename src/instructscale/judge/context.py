"""Keeping judge requests within the judge's context window.

The judge model's tokenizer is unknown, so sizes are the cheap estimate of `llm.usage`
(about one token per CJK character or Latin word). Inputs over the budget are cut before
sending (the longest of question, reference and answer first, keeping each one's start
and end), and a server's "context length exceeded" reply is recognised so it is never
mistaken for a transient failure: retrying the same request can never succeed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from instructscale.llm import estimate_tokens
from instructscale.records import EvalItem

CUT_MARK = "\n[…]\n"
CUT_NOTE = "inputs cut to fit the judge's context"

# OpenAI ("maximum context length is 4097 tokens", code context_length_exceeded), vLLM (the
# same sentence, or "longer than the maximum model length"), llama.cpp ("exceeds the
# available context size", "exceed_context_size_error"), Ollama/others ("prompt is too long",
# "input is too long", "too many tokens").
_OVERFLOW = re.compile(
    r"maximum context length|context[ _]length[ _]exceeded|exceeds? the available context size|"
    r"exceed_context_size|context window|longer than the maximum model length|prompt is too long|"
    r"input is too long|too many (?:input )?tokens|reduce the length of the (?:messages|prompt)",
    re.IGNORECASE)


def is_context_overflow(error: str | None) -> bool:
    """True when an API error says the request did not fit the model's context."""
    return bool(error) and _OVERFLOW.search(error) is not None


@dataclass(frozen=True)
class Fitted:
    item: EvalItem
    answer: str
    tokens: int  # estimated tokens of question + reference + answer after cutting
    cut: tuple[str, ...] = ()  # the fields that were shortened

    def note(self, budget: int) -> str | None:
        if not self.cut:
            return None
        return f"{CUT_NOTE} (~{budget} tokens): {', '.join(self.cut)}"


def fit_inputs(item: EvalItem, answer: str, budget: int) -> Fitted:
    """Question, reference and answer shortened so their estimated tokens fit `budget`."""
    texts, cut, tokens = fit_texts({"question": item.question, "reference": item.reference or "", "answer": answer},
                                   budget)
    if not cut:
        return Fitted(item, answer, tokens)
    new_item = item.model_copy(update={"question": texts["question"],
                                       "reference": texts["reference"] if item.reference is not None else None})
    return Fitted(new_item, texts["answer"], tokens, cut)


def fit_texts(texts: dict[str, str], budget: int) -> tuple[dict[str, str], tuple[str, ...], int]:
    """The texts shortened so their estimated tokens fit `budget`: each keeps what it needs up
    to an equal share of what the shorter ones leave. Returns (texts, names cut, tokens)."""
    sizes = {k: estimate_tokens(v) if v else 0 for k, v in texts.items()}
    if sum(sizes.values()) <= budget:
        return texts, (), sum(sizes.values())
    shares, left = {}, budget
    for i, name in enumerate(sorted(texts, key=sizes.get)):  # water-filling, smallest first
        shares[name] = min(sizes[name], left // (len(texts) - i))
        left -= shares[name]
    cut = tuple(name for name in texts if shares[name] < sizes[name])
    texts = {k: _shorten(v, shares[k]) if k in cut else v for k, v in texts.items()}
    return texts, cut, sum(estimate_tokens(t) if t else 0 for t in texts.values())


def _shorten(text: str, tokens: int) -> str:
    """`text` cut in the middle to about `tokens` estimated tokens, its start and end kept."""
    keep = max(0, int(len(text) * tokens / max(1, estimate_tokens(text))))
    while keep > 0:
        head, tail = text[:keep - keep // 3], text[len(text) - keep // 3:] if keep // 3 else ""
        shortened = head + CUT_MARK + tail
        if estimate_tokens(shortened) <= tokens:
            return shortened
        keep = int(keep * 0.9)
    return CUT_MARK.strip()
