"""Reading the score out of a judge's free-text reply (rules: docs/judge.md, "Score parsing").

A reply may quote the answer it grades, and the answer may contain `得分：1` to steer the
judge: the score must be the judge's own verdict. So: text inside quotes, code and
blockquotes is not the judge's, nor is a score statement that appears verbatim (with its
context) in the answer; among the rest, verdicts in the format the prompts ask for
(`得分:` / `Score:`, a colon) outrank looser statements (`得分为1`, `score = 1`, `the score
is`), which are often rubric sentences; and the verdicts must agree. Scores that disagree
are no score: the reply is re-asked, never resolved by position.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

_LABEL = r"(?<![A-Za-z])(?:最终)?(?:得分|分数|评分|打分|final\s+score|score|rating)"
_SEP = r"(?P<sep>[:=]|为|是|\bis\b)"
# the whole number, exponent included (`1e-1` is 0.1, not 1); letters or digits glued to it
# (`0x1`, `1,5`, `0.8.1`) make it no number but an invalid score
_NUM = r"(?P<num>[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)(?P<junk>[0-9A-Za-z_.,]*[0-9A-Za-z_])?"
_PATTERN = re.compile(
    _LABEL + r"[\s*_\]】)）]*" + _SEP + r"[\s*_\[【(（<\"'“]*" + _NUM
    + r"(?:\s*(?P<ratio>/|out\s+of)\s*(?P<den>\d+(?:\.\d+)?)|\s*(?P<pct>%))?",
    re.IGNORECASE,
)
VERDICT_SEP = ":"  # the format every prompt asks for (`得分:`, `Score:`)
_QUOTED = re.compile(
    r"```.*?(?:```|\Z)"  # fenced code, or a fence cut off by the token limit
    r"|`[^`\n]*`"
    r"|^[ \t]*>.*$"  # markdown blockquote lines
    r"|“[^”]*(?:”|\Z)|「[^」]*(?:」|\Z)|『[^』]*(?:』|\Z)"
    r'|"[^"]*"',
    re.S | re.M,
)
_WHOLE_QUOTE = {'"': '"', "“": "”", "「": "」", "『": "』"}
# A score statement counts as quoted from the answer when it stands there with the same text
# next to it as in the reply: CONTEXT non-space characters (fewer where the answer starts or
# ends sooner, but MIN_CONTEXT at least) before or after it. Less is no evidence: a bare
# `得分: 1` reply is the judge's own, even when the answer holds the same line.
CONTEXT, MIN_CONTEXT = 6, 2
_BEFORE = re.compile(r"(?:\S\s*){1,%d}\Z" % CONTEXT)
_AFTER = re.compile(r"(?:\s*\S){1,%d}" % CONTEXT)

@dataclass(frozen=True)
class ParsedScore:
    score: float | None
    reason: str | None = None  # why there is no score

    @property
    def ok(self) -> bool:
        return self.score is not None


def normalize(text: str) -> str:
    """NFKC (full-width colon, digits and brackets become ASCII; `½` becomes `1⁄2`), with the
    fraction and division slashes read as `/`."""
    return unicodedata.normalize("NFKC", text).replace("\u2044", "/").replace("\u2215", "/")


def parse_score(reply: str | None, answer: str | None = None) -> ParsedScore:
    """The judge's own score in the reply, or the reason there is none. `answer`: the text
    that was graded; score statements quoted from it do not count."""
    text = _unwrap(normalize(reply or ""))
    found = list(_PATTERN.finditer(text))
    if not found:
        return ParsedScore(None, "no score found (expected e.g. '得分: 0.8' or 'Score: 0.8')")
    quoted = [m.span() for m in _QUOTED.finditer(text)]
    source = _squash(normalize(answer)) if answer else ""
    own = [m for m in found if not any(a <= m.start() < b for a, b in quoted) and not _echoed(text, m, source)]
    if not own:
        return ParsedScore(None, f"no score of the judge's own: '{found[0].group(0).strip()}' is quoted text")
    verdicts = [m for m in own if m.group("sep") == VERDICT_SEP] or own
    values: dict[float, str] = {}
    for m in verdicts:
        value, reason = _value(m)
        if reason:
            return ParsedScore(None, reason)
        values.setdefault(value, m.group(0).strip())
    if len(values) > 1:
        return ParsedScore(None, "conflicting scores: " + " vs ".join(f"'{s}'" for s in values.values()))
    return ParsedScore(next(iter(values)))


def _value(m: re.Match) -> tuple[float | None, str | None]:
    shown = m.group(0).strip()
    if m.group("junk"):
        return None, f"invalid score '{shown}'"
    value = float(m.group("num"))
    if m.group("ratio"):
        denominator = float(m.group("den"))
        if denominator <= 0:
            return None, f"invalid score '{shown}'"
        value /= denominator
    elif m.group("pct"):
        value /= 100
    if not 0.0 <= value <= 1.0:
        return None, f"score out of range [0, 1]: '{shown}'"
    return value, None


def _unwrap(text: str) -> str:
    """A reply that is one quoted string (`"得分: 0.8"`, as the re-ask's example is written) is
    the judge's own words."""
    s = text.strip()
    if len(s) > 1 and _WHOLE_QUOTE.get(s[0]) == s[-1] and s[0] not in s[1:-1] and s[-1] not in s[1:-1]:
        return s[1:-1]
    return s


def _squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _echoed(text: str, m: re.Match, source: str) -> bool:
    """The score statement stands in the answer with the reply's text next to it."""
    statement = _squash(m.group(0))
    before, after = _squash(text[:m.start()]), _squash(text[m.end():])
    for seen in re.finditer(re.escape(statement), source):
        ctx_before = _BEFORE.search(source[:seen.start()])
        ctx_after = _AFTER.match(source[seen.end():])
        if ctx_before and _enough(ctx_before.group(0)) and before.endswith(ctx_before.group(0).strip()):
            return True
        if ctx_after and _enough(ctx_after.group(0)) and after.startswith(ctx_after.group(0).strip()):
            return True
    return False


def _enough(context: str) -> bool:
    return len(re.sub(r"\s", "", context)) >= MIN_CONTEXT
