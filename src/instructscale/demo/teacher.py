"""The offline teacher: answers OpenAI chat-completions requests from the demo world.

It reads each request the way a real teacher model would and decides what was asked:
a self-instruct generation prompt (numbered 指令/输入/输出 example blocks) gets new
numbered tasks from the world's training part, a judge prompt (a `得分`/`Score`
system prompt and a 问题/标准答案/学生答案 layout) gets a comment and a score computed
against the reference, a data-rating prompt (指令/输入/回答, a 0-5 scale) gets a rating
that is low exactly for the examples it planted as wrong or useless, anything else gets the reference of a task it generated earlier
or a short generic answer. Replies are deterministic given the seed and the request:
randomness comes from a hash of the messages plus a per-request-text counter (or the
request's `seed`), so concurrency does not change what a run produces. A small share
of replies carry realistic defects so downstream filters and parsers have work to do;
with `noise_rate` > 0 that share of generated tasks has a wrong or useless answer
(instructscale.demo.noise), which quality selection should find.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import threading
from collections import Counter
from functools import lru_cache
from typing import Any

from instructscale.categories import CATEGORY_IDS
from instructscale.demo.noise import is_planted, is_refusal, spoil
from instructscale.demo.task import Task
from instructscale.demo.world import draw_task
from instructscale.textsim import normalize_text, rouge_l

DEFECT_RATE = 0.05  # per generated task: malformed block, near-duplicate or image task
UNSCORED_RATE = 0.02  # judge replies without a parsable score
NOISE_RATE = 0.3  # judge replies whose score moves by 0.1 from the computed one
PAIR_FIRST_BIAS = 0.1  # pairwise replies that name answer A whatever the answers (a position bias)
_PAIR = re.compile(r"^(?:问题|Question)[:：](?P<question>.*?)\n(?:(?:标准答案|Standard answer)[:：](?P<reference>.*?)\n)?"
                   r"(?:【回答A】|\[Answer A\])\n(?P<a>.*)\n(?:【回答B】|\[Answer B\])\n(?P<b>.*)$", re.S)
DEFAULT_TASKS = 5

_TASK_LABEL = re.compile(r"^\s*(\d+)\s*[.、．)]\s*(指令|Instruction)\s*[:：]", re.M | re.I)
_OUTPUT_LABEL = re.compile(r"^\s*\d+\s*[.、．)]\s*(输出|Output)\s*[:：]", re.M | re.I)
_COUNT_PATTERNS = [
    re.compile(r"(\d+)\s*(?:个|条|道|项)[^\n。；]{0,10}?(?:任务|指令)"),
    re.compile(r"(?:list of|generate|come up with|write)\D{0,30}?(\d+)\s*(?:new\s+)?(?:diverse\s+)?"
               r"(?:task|instruction)", re.I),
]
_JUDGE_FIELDS = {"question": r"问题|Question", "reference": r"标准答案|Standard answer|Reference answer",
                 "answer": r"学生答案|Student answer|Model answer"}
_JUDGE_LABEL = re.compile(
    r"^\s*(" + "|".join(f"(?P<{k}>{v})" for k, v in _JUDGE_FIELDS.items()) + r")\s*[:：]", re.M | re.I)
_NUM = re.compile(r"-?\d+(?:\.\d+)?")
_CATEGORY_HINTS = [  # for prompts unlike the built-in ones; in order: a COT prompt may also mention math
    ("cot", ("逻辑", "思维链", "cot", "chain of thought", "推理", "logic")),
    ("code", ("代码", "code", "编程", "程序", "program")),
    ("math", ("数学", "math")),
]
PROMPT_MATCH = 0.6  # ROUGE-L above which a system prompt is taken to be a built-in judge prompt
_IMAGE_PREFIXES = ["请看下面这张图片，", "根据图片内容，", "Look at the image and "]
_RATING_FIELDS = {"instruction": r"指令|Instruction", "input": r"输入|Input", "output": r"回答|Response"}
_RATING_LABEL = re.compile(
    r"^\s*(" + "|".join(f"(?P<{k}>{v})" for k, v in _RATING_FIELDS.items()) + r")\s*[:：]", re.M | re.I)
GOOD_RATINGS, GOOD_WEIGHTS = (3, 4, 5), (0.15, 0.35, 0.5)  # a planted example always rates below a good one
BAD_RATINGS, BAD_WEIGHTS = (0, 1, 2), (0.4, 0.45, 0.15)


def make_teacher(seed: int = 0, noise_rate: float = 0.0) -> Teacher:
    """A responder for `FakeServer`: `teacher(body) -> reply text`."""
    return Teacher(seed, noise_rate)


def serve(host: str = "127.0.0.1", port: int = 0, seed: int = 0, latency_s: float = 0.0, noise_rate: float = 0.0):
    """A running teacher server; stop it with `.stop()`."""
    from instructscale.llm.fake_server import FakeServer

    return FakeServer(responder=make_teacher(seed, noise_rate), host=host, port=port, latency_s=latency_s,
                      model="demo-teacher").start()


class Teacher:
    def __init__(self, seed: int = 0, noise_rate: float = 0.0):
        self.seed = seed
        self.noise_rate = noise_rate  # share of generated tasks with a planted wrong or useless answer
        self.known: dict[str, str] = {}  # normalized question -> reference, for tasks it generated
        self.stats: Counter[str] = Counter()
        self._counters: Counter[str] = Counter()
        self._lock = threading.Lock()

    def __call__(self, body: dict[str, Any]) -> str:
        messages = body.get("messages") or []
        system = "\n".join(_text(m) for m in messages if m.get("role") == "system")
        user = "\n".join(_text(m) for m in messages if m.get("role") != "system")
        rng = self._rng(messages, body.get("seed"))
        pair = _PAIR.match(user.strip())
        if pair:
            self._count("pairwise")
            return self._pairwise(pair, rng)
        if _is_judge(system, user):
            self._count("judge")
            return self._judge(system, user, rng)
        first_user = next((_text(m) for m in messages if m.get("role") == "user"), "")
        if _is_rating(system, first_user):
            self._count("rate")
            return self._rate(system, first_user, rng)
        if _TASK_LABEL.search(user) and _OUTPUT_LABEL.search(user):
            self._count("generate")
            return self._generate(user, rng)
        self._count("answer")
        return self._answer(user)

    def _count(self, what: str) -> None:
        with self._lock:  # the server answers from several threads
            self.stats[what] += 1

    def _rng(self, messages: list, request_seed: Any) -> random.Random:
        """Same messages -> a fresh draw each time (judge repeats differ), reproducibly."""
        key = hashlib.sha256(json.dumps(messages, ensure_ascii=False, sort_keys=True).encode()).hexdigest()
        if request_seed is None:
            with self._lock:
                request_seed = self._counters[key]
                self._counters[key] += 1
        return random.Random(f"{self.seed}|{key}|{request_seed}")

    # generation ---------------------------------------------------------------------

    def _generate(self, prompt: str, rng: random.Random) -> str:
        start, count = _requested(prompt)
        english = not re.search(r"指令\s*[:：]", prompt)
        labels = ("Instruction", "Input", "Output", "<noinput>") if english else ("指令", "输入", "输出", "<无输入>")
        blocks, made = [], []
        for number in range(start, start + count):
            task = draw_task(rng, rng.choice(CATEGORY_IDS))
            defect = rng.choice(["malformed", "near_duplicate", "image"]) if rng.random() < DEFECT_RATE else None
            if defect == "near_duplicate" and not made:
                defect = "image"  # nothing earlier in this reply to repeat
            if defect == "near_duplicate":
                base = rng.choice(made)
                task = Task(base.category, base.family, base.instruction + rng.choice(["谢谢。", "请尽量简洁。", "请回答。"]),
                            base.input, base.output)
            elif defect == "image":
                task = Task(task.category, task.family, rng.choice(_IMAGE_PREFIXES) + task.instruction, task.input,
                            task.output)
            made.append(task)
            self._remember(task)  # the true answer, for judging and answering later
            if is_planted(task.instruction, task.input, self.noise_rate):
                task = spoil(task)
                self._count(f"planted_{task.meta['planted']}")
            lines = [f"{number}. {labels[0]}: {task.instruction}",
                     f"{number}. {labels[1]}: {task.input or labels[3]}",
                     f"{number}. {labels[2]}: {task.output}"]
            if defect == "malformed":
                lines.pop(rng.choice([0, 2]))
            if defect:
                self._count(f"defect_{defect}")
            blocks.append("\n".join(lines))
        return "###\n" + "\n###\n".join(blocks) + "\n###"

    def _remember(self, task: Task) -> None:
        with self._lock:
            for text in (task.question, task.instruction + task.input):
                self.known[_key(text)] = task.output

    # judging ------------------------------------------------------------------------

    def _judge(self, system: str, user: str, rng: random.Random) -> str:
        fields = _judge_fields(user)
        english = bool(re.search(r"Student answer|Score", user + system)) and not re.search(r"学生答案|得分", user + system)
        reference = fields.get("reference") or self.known.get(_key(fields.get("question", "")))
        answer = fields.get("answer", "")
        score = _score(_category(system), answer, reference)
        if 0.0 < score < 1.0 and rng.random() < NOISE_RATE:
            score = min(1.0, max(0.0, score + rng.choice((-0.1, 0.1))))
        if rng.random() < UNSCORED_RATE:
            return ("The answer is partly reasonable, but I cannot give a precise grade." if english
                    else "这个回答有一定道理，但我难以给出确切的分数。")
        return f"{_comment(score, english)}\n{'Score' if english else '得分'}: {score:.1f}"

    def _pairwise(self, pair: re.Match, rng: random.Random) -> str:
        """The better answer by the absolute judge's score against the reference; equal: a tie.
        A share of replies prefer answer A whatever the answers, so the orders disagree there."""
        reference = pair["reference"] or self.known.get(_key(pair["question"]))
        a, b = (_score(None, pair[k].strip(), reference) for k in ("a", "b"))
        side = "A" if rng.random() < PAIR_FIRST_BIAS or a > b else "B" if b > a else "C"
        return f"{'A' if a >= b else 'B'} is closer to the reference.\n[[{side}]]"

    # rating training data ---------------------------------------------------------

    def _rate(self, system: str, user: str, rng: random.Random) -> str:
        """0-5: low for a planted or refusing answer, high otherwise, with some spread."""
        from instructscale.generate.parse import NO_INPUT

        fields = _labelled_fields(user, _RATING_LABEL, _RATING_FIELDS)
        english = bool(re.search(r"^\s*Response\s*[:：]", user, re.M | re.I))
        instruction, output = fields.get("instruction", ""), fields.get("output", "")
        inp = fields.get("input", "")
        inp = "" if inp.strip().lower() in NO_INPUT | {"(none)"} else inp
        bad = not output.strip() or is_refusal(output) or is_planted(instruction, inp, self.noise_rate)
        if rng.random() < UNSCORED_RATE:
            return "This example needs a closer look." if english else "这条数据需要再仔细看看。"
        score = rng.choices(BAD_RATINGS, BAD_WEIGHTS)[0] if bad else rng.choices(GOOD_RATINGS, GOOD_WEIGHTS)[0]
        if english:
            reason = "The response is wrong, incomplete or useless." if bad else "The response is correct and helpful."
            return f"Score: {score}\nReason: {reason}"
        reason = "回答错误、不完整或没有帮助。" if bad else "回答正确、完整，对指令有帮助。"
        return f"评分: {score}\n理由: {reason}"

    # plain answers ------------------------------------------------------------------

    def _answer(self, user: str) -> str:
        text = re.sub(r"^\s*Human:\s*|\s*Assistant:\s*$", "", user.strip())
        reference = self.known.get(_key(text))
        if reference is not None:
            return reference
        return "这是一个好问题。根据我的理解，需要结合具体情况来分析，建议先明确目标，再一步一步解决。"


def _text(message: dict) -> str:
    content = message.get("content") or ""
    if isinstance(content, list):  # OpenAI content parts
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return str(content)


def _key(text: str) -> str:
    return normalize_text(text, strip_punct=True)


def _is_judge(system: str, user: str) -> bool:
    has_answer = re.search(r"^\s*(学生答案|Student answer|Model answer)\s*[:：]", user, re.M | re.I)
    return bool(has_answer) and bool(re.search(r"得分|score", system + user, re.I))


def _requested(prompt: str) -> tuple[int, int]:
    """(first task number, how many tasks): continue an open trailing label if there is one."""
    count = next((int(m.group(1)) for p in _COUNT_PATTERNS if (m := p.search(prompt))), DEFAULT_TASKS)
    count = max(1, min(count, 50))
    lines = [ln for ln in prompt.strip().splitlines() if ln.strip()]
    open_label = _TASK_LABEL.match(lines[-1]) if lines else None
    if open_label and not lines[-1].split(":", 1)[-1].split("：", 1)[-1].strip():
        start = int(open_label.group(1))
        return start, (count - start + 1 if count >= start else count)
    return 1, count


def _is_rating(system: str, user: str) -> bool:
    """Unnumbered 指令/回答 lines (generation prompts number theirs) and a word about rating."""
    labels = all(re.search(rf"^\s*({names})\s*[:：]", user, re.M | re.I)
                 for names in (_RATING_FIELDS["instruction"], _RATING_FIELDS["output"]))
    return labels and bool(re.search(r"评分|\brat(e|ing)\b", system + user, re.I))


def _judge_fields(user: str) -> dict[str, str]:
    return _labelled_fields(user, _JUDGE_LABEL, _JUDGE_FIELDS)


def _labelled_fields(user: str, label: re.Pattern, names: dict[str, str]) -> dict[str, str]:
    """`label: value` fields of a message; a value runs until the next label."""
    matches = list(label.finditer(user))
    fields = {}
    for m, nxt in zip(matches, matches[1:] + [None]):
        name = next(k for k in names if m.group(k))
        fields[name] = user[m.end():nxt.start() if nxt else len(user)].strip()
    return fields


@lru_cache(maxsize=256)
def _category(system: str) -> str | None:
    """Which category a judge system prompt is for: the closest built-in judge prompt (zh or
    en, with or without reference), else keywords, as a judge model would read it."""
    key = normalize_text(system)
    score, category = max(((rouge_l(key, text), cat) for text, cat in _judge_prompts()), default=(0.0, None))
    if score >= PROMPT_MATCH:
        return category
    low = system.lower()
    return next((cat for cat, words in _CATEGORY_HINTS if any(w in low for w in words)), None)


@lru_cache(maxsize=1)
def _judge_prompts() -> list[tuple[str, str]]:
    from instructscale.judge.prompts import BUILTIN, load_builtin

    return [(normalize_text(text), cat) for lang in BUILTIN for cat, p in load_builtin(lang).prompts.items()
            for text in (p.prompt, p.no_reference) if text]


def _final_number_match(answer: str, reference: str) -> float:
    a, r = _NUM.findall(answer), _NUM.findall(reference)
    return float(bool(a and r) and abs(float(a[-1]) - float(r[-1])) < 1e-6)


def _score(category: str | None, answer: str, reference: str | None) -> float:
    """Math: the final number; COT: mostly the final number, a little the steps; else similarity."""
    if not answer.strip():
        return 0.0
    if reference is None:
        return 0.5  # nothing to compare with: a neutral grade
    similarity = rouge_l(_key(answer), _key(reference))
    if category == "math" or (category is None and re.fullmatch(r"\s*-?\d+(\.\d+)?\s*", reference)):
        score = _final_number_match(answer, reference)
    elif category == "cot":
        score = 0.8 * _final_number_match(answer, reference) + 0.2 * similarity
    else:
        score = similarity
    return round(score, 1)


def _comment(score: float, english: bool) -> str:
    if score >= 0.9:
        return "The answer matches the standard answer." if english else "学生答案与标准答案一致，回答正确。"
    if score >= 0.5:
        return ("The answer is partly correct but misses or gets wrong some points." if english
                else "学生答案部分正确，但有遗漏或错误。")
    return "The answer differs a lot from the standard answer." if english else "学生答案与标准答案差别较大。"
