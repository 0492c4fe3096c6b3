"""Planted wrong or useless answers in the demo world, and the offline teacher as a rater."""

from __future__ import annotations

import re
from collections import Counter

from instructscale.demo.noise import is_planted, spoil
from instructscale.demo.teacher import make_teacher
from instructscale.demo.world import sample_tasks, sample_world_tasks
from instructscale.subsets.quality import load_rating_prompt, parse_rating

GEN_PROMPT = ("你需要想出一组多样的任务指令，共20个。\n###\n1. 指令: 把下面的句子翻译成英文。\n1. 输入: 我喜欢苹果。\n"
              "1. 输出: I like apples.\n###\n请再写出20个新的任务，格式同上。")


def _chat(user: str, system: str | None = None) -> dict:
    return {"messages": ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": user}]}


def test_noise_off_changes_nothing():
    assert [t.to_example() for t in sample_world_tasks(200, 3)] == sample_tasks(200, 3, noise_rate=0.0)
    assert make_teacher(0)(_chat(GEN_PROMPT)) == make_teacher(0, noise_rate=0.0)(_chat(GEN_PROMPT))


def test_planted_share_and_kinds():
    tasks = sample_world_tasks(1200, 0, noise_rate=0.2)
    planted = [t for t in tasks if "planted" in t.meta]
    assert 0.15 < len(planted) / len(tasks) < 0.25
    kinds = Counter(t.meta["planted"] for t in planted)
    assert set(kinds) == {"refusal", "truncated", "arithmetic"}
    clean = {t.key: t for t in sample_world_tasks(1200, 0)}
    for t in planted:
        assert t.output != clean[t.key].output and is_planted(t.instruction, t.input, 0.2)
        if t.meta["planted"] == "arithmetic":  # same form, different final number
            assert re.findall(r"\d+", t.output)[-1] != re.findall(r"\d+", clean[t.key].output)[-1]
        if t.meta["planted"] == "truncated":
            assert clean[t.key].output.startswith(t.output) and len(t.output) < len(clean[t.key].output)
    assert spoil(clean[planted[0].key]) == planted[0]  # spoiling is a pure function of the task


def test_teacher_plants_the_same_tasks_in_generated_blocks():
    teacher = make_teacher(0, noise_rate=0.3)
    reply = teacher(_chat(GEN_PROMPT))
    assert sum(v for k, v in teacher.stats.items() if k.startswith("planted_")) > 0
    clean = make_teacher(0)(_chat(GEN_PROMPT))
    assert reply != clean and reply.count("###") == clean.count("###")


def test_teacher_rates_planted_low_and_good_high_in_both_languages():
    tasks = sample_world_tasks(300, 1, noise_rate=0.2)
    teacher = make_teacher(0, noise_rate=0.2)
    for lang in ("zh", "en"):
        prompt = load_rating_prompt(lang)
        good, bad, unparsed = [], [], 0
        for t in tasks:
            r = parse_rating(teacher({"messages": prompt.messages(t.to_example())}))
            if r.score is None:
                unparsed += 1
            else:
                (bad if "planted" in t.meta else good).append(r.score)
        assert bad and good and max(bad) < min(good)
        assert unparsed < 20

