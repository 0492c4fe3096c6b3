"""Character-level text similarity that works on Chinese (no word tokenizer needed).

Used by near-duplicate filtering (generate), decontamination (evalset, subsets) and the
reference-based scorer (judge). LCS lengths come from rapidfuzz's C implementation.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter

from rapidfuzz.distance import LCSseq

_SPACE = re.compile(r"\s+")
_PUNCT = re.compile(r"[\W_]+", re.UNICODE)


def normalize_text(text: str, *, strip_punct: bool = False) -> str:
    """NFKC (full-width to half-width, U+00A0 to space), lower case, collapsed whitespace."""
    s = _SPACE.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()
    return _PUNCT.sub("", s) if strip_punct else s


def rouge_l(a: str, b: str) -> float:
    """Character-level ROUGE-L F1 (beta = 1): 2 * LCS / (len(a) + len(b))."""
    if not a or not b:
        return 0.0
    return 2.0 * LCSseq.similarity(a, b) / (len(a) + len(b))


def char_f1(prediction: str, reference: str) -> float:
    """SQuAD-style F1 over characters (bag of characters, whitespace ignored)."""
    p = Counter(prediction.replace(" ", ""))
    r = Counter(reference.replace(" ", ""))
    common = sum((p & r).values())
    if common == 0:
        return 0.0
    precision, recall = common / sum(p.values()), common / sum(r.values())
    return 2 * precision * recall / (precision + recall)


def char_ngrams(text: str, n: int = 3) -> set[str]:
    """The set of character n-grams (the whole string if shorter than n)."""
    if len(text) <= n:
        return {text} if text else set()
    return {text[i:i + n] for i in range(len(text) - n + 1)}


def jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0
