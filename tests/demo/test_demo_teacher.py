"""The offline teacher: generation blocks, judge scores, plain answers, over real HTTP too."""

from __future__ import annotations

import asyncio
import re

from instructscale.demo.task import Task
from instructscale.categories import CATEGORY_IDS
from instructscale.demo.teacher import _category, make_teacher, serve
from instructscale.demo.world import is_held_out, sample_world_tasks

GEN_PROMPT = """你需要想出一组多样的任务指令，共{n}个。下面是一些例子：
###
1. 指令: 把下面的句子翻译成英文。
1. 输入: 我喜欢苹果。
1. 输出: I like apples.
###
2. 指令: 列出三种水果。
2. 输入: <无输入>
2. 输出: 1. 苹果 2. 香蕉 3. 橘子
###
请再写出{n}个新的任务，格式同上。"""


def chat(user: str, system: str | None = None, **extra) -> dict:
    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": user}]
    return {"model": "demo-teacher", "messages": messages, **extra}


def parse_blocks(reply: str) -> tuple[list[dict], int]:
    """A small local check of the block format: (complete blocks, malformed blocks)."""
    good, bad = [], 0
    for block in filter(str.strip, reply.split("###")):
        parts = re.split(r"^\d+\.\s*(指令|输入|输出|Instruction|Input|Output):[ \t]*", block, flags=re.M)
        fields = {label: text.strip() for label, text in zip(parts[1::2], parts[2::2])}  # fields may span lines
        if len(fields) == 3:
            good.append(fields)
        else:
            bad += 1
    return good, bad


def test_generation_reply_has_requested_number_of_blocks():
    teacher = make_teacher(0)
    reply = teacher(chat(GEN_PROMPT.format(n=7)))
    assert reply.startswith("###\n1. 指令: ")
    good, bad = parse_blocks(reply)
    assert len(good) + bad == 7 and len(good) >= 5
    assert all(b["输出"].strip() for b in good)
    good, bad = parse_blocks(teacher(chat(GEN_PROMPT.replace("共{n}个", "").replace("{n}个", ""))))
    assert len(good) + bad == 5  # the default when no number can be read


def test_generation_continues_an_open_trailing_label_in_english():
    prompt = ("Come up with a list of 6 diverse task instructions.\n###\n1. Instruction: Add 2 and 3.\n"
              "1. Input: <noinput>\n1. Output: 5\n###\n2. Instruction:")
    reply = make_teacher(0)(chat(prompt))
    numbers = re.findall(r"^(\d+)\. Instruction:", reply, re.M)
    assert numbers[0] == "2" and len(parse_blocks(reply)[0]) + parse_blocks(reply)[1] == 5


def test_generation_is_deterministic_and_has_realistic_defects():
    a, b = make_teacher(1), make_teacher(1)
    prompts = [GEN_PROMPT.format(n=20) + f"\n（第{i}批）" for i in range(30)]
    replies = [a(chat(p)) for p in prompts]
    assert replies == [b(chat(p)) for p in prompts]
    assert replies[0] != make_teacher(2)(chat(prompts[0]))
    total = 20 * len(prompts)
    defects = sum(v for k, v in a.stats.items() if k.startswith("defect_"))
    assert 0.02 * total <= defects <= 0.09 * total
    assert a.stats["defect_malformed"] and a.stats["defect_image"] and a.stats["defect_near_duplicate"]
    assert sum(parse_blocks(r)[1] for r in replies) == a.stats["defect_malformed"]
    assert any("图片" in r for r in replies)


def test_generated_tasks_come_from_the_training_part_and_are_answered_later():
    teacher = make_teacher(0)
    blocks = [b for i in range(20) for b in parse_blocks(teacher(chat(GEN_PROMPT.format(n=20) + str(i))))[0]]
    inputs = ["" if b["输入"] == "<无输入>" else b["输入"] for b in blocks]
    held_out = sum(is_held_out(Task("", "", b["指令"], x, b["输出"])) for b, x in zip(blocks, inputs))
    assert held_out <= 0.03 * len(blocks)  # only defect-edited tasks can land there (10% by chance)
    good, _ = parse_blocks(teacher(chat(GEN_PROMPT.format(n=10))))
    block = good[0]
    question = block["指令"] + ("" if block["输入"] == "<无输入>" else "\n" + block["输入"])
    assert teacher(chat(question)) == block["输出"]
    belle = f"Human: \n{question}\n\nAssistant: \n"
    assert teacher(chat(belle)) == block["输出"]
    assert "好问题" in teacher(chat("今天适合去哪里玩？"))


def judge_body(question, answer, reference=None, system="请根据标准答案为学生答案打分，输出格式为 得分: x"):
    lines = [f"问题：{question}"] + ([f"标准答案：{reference}"] if reference else []) + [f"学生答案：{answer}"]
    return chat("\n".join(lines), system)


SCORE = re.compile(r"(?:得分|Score)\s*[:：]\s*([01](?:\.\d+)?|\.\d+)")


def scores(teacher, body, n):
    return [float(m.group(1)) if (m := SCORE.search(teacher(body))) else None for _ in range(n)]


def test_judge_gives_reference_full_marks_and_unrelated_answers_low():
    teacher = make_teacher(0)
    for t in sample_world_tasks(48, seed=9):
        got = [s for s in scores(teacher, judge_body(t.question, t.output, t.output), 3) if s is not None]
        assert got and set(got) == {1.0}, t
        low = [s for s in scores(teacher, judge_body(t.question, "我不知道，这道题太难了。", t.output), 3)
               if s is not None]
        assert all(s <= 0.3 for s in low), (t, low)


def test_judge_math_uses_the_final_number_and_repeats_vary():
    teacher = make_teacher(0)
    system = "你是一名数学老师，请判断学生答案是否正确，给出 得分: x"
    assert set(s for s in scores(teacher, judge_body("3+4=?", "答案是7", "7", system), 5) if s is not None) == {1.0}
    assert set(s for s in scores(teacher, judge_body("3+4=?", "答案是8", "7", system), 5) if s is not None) == {0.0}
    partial = scores(teacher, judge_body("请改写", "我认为这个方案挺好的", "我认为这个方案相当不错"), 30)
    assert len({s for s in partial if s is not None}) >= 2  # seeded noise between repeats


def test_judge_reads_each_builtin_category_prompt_as_its_category():
    from instructscale.judge.prompts import BUILTIN, load_builtin

    teacher = make_teacher(0)
    for lang in BUILTIN:
        prompts = load_builtin(lang).prompts
        assert set(prompts) == set(CATEGORY_IDS)
        for category, entry in prompts.items():
            for system in filter(None, (entry.prompt, entry.no_reference)):
                assert _category(system) == category, (lang, category)
    # the code prompt (计算机科学老师) is not a math prompt: a code answer that ends in the
    # reference's last number but differs from it is not given full marks
    code = load_builtin("zh").prompts["code"].prompt
    got = scores(teacher, judge_body("下面的程序输出什么？print([1, 2])", "2", "[1, 2]", code), 3)
    assert all(s is not None and s < 1.0 for s in got if s is not None) and any(s is not None for s in got)


def test_judge_parsable_rate_is_about_98_percent_and_english_layout_works():
    teacher = make_teacher(3)
    got = [s for t in sample_world_tasks(500, seed=4)
           for s in scores(teacher, judge_body(t.question, t.output[:-1] or "x", t.output), 2)]
    rate = sum(s is not None for s in got) / len(got)
    assert 0.96 <= rate <= 0.995, rate
    english = chat("Question: What is 2+2?\nStandard answer: 4\nStudent answer: 4", "Give Score: x in [0, 1].")
    assert any("Score: 1.0" in make_teacher(0)({**english, "seed": k}) for k in range(5))


def test_judge_replies_are_deterministic_given_the_seed():
    bodies = [judge_body(t.question, t.output[: len(t.output) // 2], t.output) for t in sample_world_tasks(40, seed=1)]
    a, b, c = make_teacher(5), make_teacher(5), make_teacher(6)
    first = [a(body) for body in bodies for _ in range(3)]
    assert first == [b(body) for body in bodies for _ in range(3)]
    assert first != [c(body) for body in bodies for _ in range(3)]


def test_judge_without_reference_uses_known_tasks():
    teacher = make_teacher(0)
    good, _ = parse_blocks(teacher(chat(GEN_PROMPT.format(n=5))))
    block = good[0]
    question = block["指令"] + ("" if block["输入"] == "<无输入>" else "\n" + block["输入"])
    got = [s for s in scores(teacher, judge_body(question, block["输出"]), 4) if s is not None]
    assert got and set(got) == {1.0}


def test_served_over_real_http_through_the_shared_client(monkeypatch):
    from instructscale.llm import ChatClient, ClientConfig

    monkeypatch.setenv("OPENAI_API_KEY", "unused")
    judge = judge_body("请改写", "我认为这个方案挺好的", "我认为这个方案相当不错")["messages"]

    async def ask(base_url):
        cfg = ClientConfig(base_url=base_url, model="demo-teacher", concurrency=8, max_attempts=1, timeout_s=10)
        async with ChatClient(cfg) as client:
            gen = await client.chat([{"role": "user", "content": GEN_PROMPT.format(n=3)}])
            judged = await asyncio.gather(*(client.chat(judge) for _ in range(20)))
        return gen, judged

    srv = serve(seed=0)  # already running
    try:
        gen, judged = asyncio.run(ask(srv.base_url))
    finally:
        srv.stop()
    assert srv.request_count == 21
    good, bad = parse_blocks(gen.text)
    assert gen.ok and len(good) + bad == 3
    got = [float(m.group(1)) for r in judged if (m := SCORE.search(r.text))]
    assert len(set(got)) >= 2 and all(0.4 <= s <= 0.9 for s in got)


def test_cli_serves_the_teacher_until_stopped():
    import json
    import subprocess
    import sys
    import urllib.request

    from typer.testing import CliRunner

    from instructscale.cli.main import app

    assert "teacher" in CliRunner().invoke(app, ["demo"]).output
    proc = subprocess.Popen([sys.executable, "-m", "instructscale", "demo", "teacher", "--port", "0"],
                            stderr=subprocess.PIPE, text=True)
    try:
        url = re.search(r"http://\S+/v1", proc.stderr.readline()).group(0)
        with urllib.request.urlopen(url + "/models", timeout=10) as resp:
            assert json.load(resp)["data"][0]["id"] == "demo-teacher"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
