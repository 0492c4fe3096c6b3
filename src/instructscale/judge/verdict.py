"""Reading a pairwise verdict out of a judge's free-text reply.

Rules (docs/pairwise.md): the reply is NFKC-normalized (full-width brackets and letters
become ASCII); a verdict is `[[A]]`, `[[B]]`, `[[C]]` (a tie; also `[[tie]]`, `[[平局]]`),
or a label (`verdict`, `winner`, `结论`, `判决`, `胜者`) with `:` and `A`, `B` or `tie`/`平局`.
The LAST verdict wins, as for scores: judges reason first and conclude last.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from instructscale.judge.parse import normalize

Side = Literal["A", "B", "tie"]

_TIE = r"C|tie|draw|平局|平手"
_PATTERN = re.compile(r"\[\[\s*(A|B|" + _TIE + r")\s*\]\]"
                      r"|(?:final\s+verdict|verdict|winner|结论|判决|胜者)[\s*]*[:：为是]\s*[*\[]*\s*(A|B|" + _TIE
                      + r")(?![A-Za-z])", re.IGNORECASE)


@dataclass(frozen=True)
class ParsedVerdict:
    side: Side | None
    reason: str | None = None  # why there is no verdict

    @property
    def ok(self) -> bool:
        return self.side is not None


def parse_verdict(reply: str | None) -> ParsedVerdict:
    """The last verdict in the reply (`A`, `B` or `tie`), or the reason there is none."""
    text = normalize(reply or "")
    matches = list(_PATTERN.finditer(text))
    if not matches:
        return ParsedVerdict(None, "no verdict found (expected [[A]], [[B]] or [[C]])")
    word = (matches[-1].group(1) or matches[-1].group(2)).upper()
    return ParsedVerdict(word if word in ("A", "B") else "tie")
