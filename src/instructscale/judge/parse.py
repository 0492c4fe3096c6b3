"""Reading the score out of a judge's free-text reply.

Rules (docs/judge.md): the reply is NFKC-normalized (full-width colon and digits become
ASCII); a score is a label (得分, 分数, 评分, 打分, score, rating) followed by `:`, `=`,
`为`, `是` or `is`, optional markdown/brackets, and a number; the LAST such score wins,
because judges reason first and conclude last. The number may be written `0.8`, `.75`,
`1分`, `1e-1`, `80%` (→ 0.8) or `8/10` (→ 0.8, an explicit denominator); an
ambiguous number such as `1,5` is no score. A bare value outside
[0, 1] such as `得分: 8` is invalid, never clipped: the scale is unknown.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

_LABEL = r"(?:最终)?(?:得分|分数|评分|打分|final\s+score|score|rating)"
_SEP = r"(?:[:=]|为|是|\bis\b)"
# the whole number, exponent included (`1e-1` is 0.1, not 1); `1,5` or `0.8.1` is no number
_NUM = r"([-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)(?![\d.,]?\d)"
_PATTERN = re.compile(
    _LABEL + r"[\s*_\]】)）]*" + _SEP + r"[\s*_\[【(（<\"'“]*" + _NUM
    + r"(?:\s*(/|out\s+of)\s*(\d+(?:\.\d+)?)|\s*(%))?",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class ParsedScore:
    score: float | None
    reason: str | None = None  # why there is no score

    @property
    def ok(self) -> bool:
        return self.score is not None


def parse_score(reply: str | None) -> ParsedScore:
    """The last score in the reply, or the reason there is none."""
    text = unicodedata.normalize("NFKC", reply or "")
    matches = list(_PATTERN.finditer(text))
    if not matches:
        return ParsedScore(None, "no score found (expected e.g. '得分: 0.8' or 'Score: 0.8')")
    m = matches[-1]
    value = float(m.group(1))
    shown = m.group(0).strip()
    if m.group(2):
        denominator = float(m.group(3))
        if denominator <= 0:
            return ParsedScore(None, f"invalid score '{shown}'")
        value /= denominator
    elif m.group(4):
        value /= 100
    if not 0.0 <= value <= 1.0:
        return ParsedScore(None, f"score out of range [0, 1]: '{shown}'")
    return ParsedScore(value)
