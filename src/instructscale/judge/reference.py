"""Reference-based scoring without an API: one metric per category, each in [0, 1].

Metrics are registered by category id (`@metric("math", "cot")`), so a category's
metric can be swapped without touching the loop. Items with no reference answer are
unscored (None), never 0, except code items that carry their own tests.
The text-similarity metrics for open-ended categories (generation, brainstorming,
code without tests) are weak proxies; docs/judge.md says so.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from instructscale.judge.code_exec import extract_code, run_tests
from instructscale.records import EvalItem
from instructscale.textsim import char_f1, normalize_text, rouge_l

REL_TOL = 1e-4
ABS_TOL = 1e-6


class NotScored(Exception):
    """A metric that cannot score this answer (code without a sandbox): unscored, with the reason."""


@dataclass(frozen=True)
class RefOptions:
    code_timeout_s: float = 10.0


Metric = Callable[[str, EvalItem, RefOptions], float]
METRICS: dict[str, Metric] = {}


def metric(*category_ids: str):
    def register(fn: Metric) -> Metric:
        for cid in category_ids:
            METRICS[cid] = fn
        return fn
    return register


def score_reference(item: EvalItem, answer: str, opts: RefOptions = RefOptions()) -> tuple[float | None, str | None]:
    """(score, None) or (None, reason) for one answer."""
    has_tests = item.category == "code" and bool(item.meta.get("tests"))
    if item.reference is None and not has_tests:
        return None, "no reference"
    fn = METRICS.get(item.category, _fallback)
    try:
        return max(0.0, min(1.0, float(fn(answer, item, opts)))), None
    except NotScored as e:
        return None, str(e)


def _key(text: str) -> str:
    return normalize_text(text, strip_punct=True)


def _fallback(answer: str, item: EvalItem, opts: RefOptions) -> float:
    return rouge_l(_key(answer), _key(item.reference or ""))


# ----------------------------------------------------------------------------- numbers

_NUMBER = re.compile(r"(?<![0-9A-Za-z.])-?\d+(?:,\d{3})*(?:\.\d+)?(?:\s*/\s*\d+(?:\.\d+)?)?\s*%?"
                     r"|(?<![0-9A-Za-z])-?\.\d+")
_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_CN_UNITS = {"十": 10, "百": 100, "千": 1000, "万": 10000}
_CN_NUMBER = re.compile(f"[{''.join(_CN_DIGITS)}{''.join(_CN_UNITS)}]+")


def final_number(text: str) -> float | None:
    """The last number in a text: 1,234.5, -3, 3/4, 75%, .5; Chinese numerals (十二, 三百零五)
    only when the text has no Arabic digits (一 is too common in prose otherwise)."""
    found = _NUMBER.findall(text)
    if found:
        return _to_float(found[-1])
    cn = _CN_NUMBER.findall(text)
    return _chinese_to_int(cn[-1]) if cn else None


def _to_float(token: str) -> float | None:
    s = token.replace(",", "").replace(" ", "")
    scale = 1.0
    if s.endswith("%"):
        s, scale = s[:-1], 0.01
    try:
        if "/" in s:
            num, den = s.split("/")
            return float(num) / float(den) * scale if float(den) else None
        return float(s) * scale
    except ValueError:
        return None


def _chinese_to_int(s: str) -> float:
    total, section, digit = 0, 0, 0
    for ch in s:
        if ch in _CN_DIGITS:
            digit = _CN_DIGITS[ch]
        elif ch == "万":
            total += (section + digit) * 10000
            section, digit = 0, 0
        else:
            section += (digit or 1) * _CN_UNITS[ch]  # 十二: an implicit 一 before 十
            digit = 0
    return float(total + section + digit)


def numbers_match(answer: str, reference: str) -> bool:
    """Final numbers equal within a relative 1e-4, or the answer is the reference rounded to
    the decimals the answer shows (0.33 for 1/3, 3.14 for 3.14159)."""
    a, b = final_number(answer), final_number(reference)
    if a is None or b is None:
        return False
    if abs(a - b) <= max(ABS_TOL, REL_TOL * abs(b)):
        return True
    shown = re.search(r"\.(\d+)\s*$", _NUMBER.findall(answer)[-1]) if _NUMBER.search(answer) else None
    return bool(shown) and round(b, len(shown.group(1))) == a


# ----------------------------------------------------------------------------- metrics

@metric("math")
def final_answer_match(answer: str, item: EvalItem, opts: RefOptions) -> float:
    return float(numbers_match(answer, item.reference or ""))


@metric("cot")
def cot_match(answer: str, item: EvalItem, opts: RefOptions) -> float:
    """Final-number match when the reference ends in a number, else character F1."""
    if final_number(item.reference or "") is not None:
        return final_answer_match(answer, item, opts)
    return char_f1(_key(answer), _key(item.reference or ""))


@metric("classification")
def label_match(answer: str, item: EvalItem, opts: RefOptions) -> float:
    """1 if the answer equals or contains the reference label, or a short answer (>= 2 chars)
    is contained in an explanatory reference; else 0."""
    a, r = _key(answer), _key(item.reference or "")
    if not a or not r:
        return 0.0
    return float(a == r or r in a or (len(a) >= 2 and a in r))


@metric("extraction", "closed_qa", "open_qa")
def char_f1_metric(answer: str, item: EvalItem, opts: RefOptions) -> float:
    return char_f1(_key(answer), _key(item.reference or ""))


@metric("translation")
def chrf(answer: str, item: EvalItem, opts: RefOptions) -> float:
    import sacrebleu

    if not answer.strip():
        return 0.0
    return sacrebleu.sentence_chrf(answer.strip(), [(item.reference or "").strip()]).score / 100.0


@metric("rewrite", "summarization", "generation", "brainstorming")
def rouge_l_metric(answer: str, item: EvalItem, opts: RefOptions) -> float:
    return rouge_l(_key(answer), _key(item.reference or ""))


@metric("code")
def code_metric(answer: str, item: EvalItem, opts: RefOptions) -> float:
    """Run the item's tests (meta['tests']: Python assertions) against the answer's code,
    1 if they pass within the time limit (in a sandbox, judge/code_exec.py); without tests,
    ROUGE-L of the code (weak)."""
    tests = item.meta.get("tests")
    if tests:
        tests = "\n".join(tests) if isinstance(tests, list) else str(tests)
        run = run_tests(extract_code(answer), tests, timeout_s=opts.code_timeout_s)
        if not run.ran:
            raise NotScored(run.detail)
        return float(run.passed)
    return rouge_l(extract_code(answer), extract_code(item.reference or ""))
