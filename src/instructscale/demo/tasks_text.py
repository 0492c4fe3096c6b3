"""Classification, extraction, closed QA and summarization: the answer is a label or spans
copied from the given text. A model has to learn which span or keyword matters, which
takes more examples than learning a fixed format, so these keep improving with data."""

from __future__ import annotations

import random

from instructscale.demo.lexicon import language, lex, wording
from instructscale.demo.task import Task


def _date(rng: random.Random) -> str:
    return f"{rng.randint(1, 12)}月{rng.randint(1, 28)}日"


def classification_task(rng: random.Random, difficulty: int) -> Task:
    family = rng.choice(["sentiment", "sentiment", "topic", "topic", "sentence"])
    instruction = rng.choice(wording("classification", family))
    if family == "sentiment":
        lexc = language()["classification"]["sentiment"]
        label = rng.choice(["正面", "负面"])
        subject = rng.choice(lexc["subjects"])
        good, bad = lexc[label], lexc["负面" if label == "正面" else "正面"]
        if difficulty == 3:  # the clause after 但是 decides
            text = f"{subject}虽然{rng.choice(bad)}，但是{rng.choice(good)}。"
        else:
            a, b = rng.sample(good, 2)
            tail = "。" if difficulty == 1 else f"，{rng.choice(['总体来说', '说实话', '这次'])}感觉如此。"
            text = f"{subject}{a}，{'' if difficulty == 1 else '而且'}{b}{tail}"
        return Task("classification", family, instruction, text, label, difficulty)
    if family == "topic":
        lexc = language()["classification"]
        label = rng.choice(list(lexc["topic"]))
        kw, kw2 = rng.sample(lexc["topic"][label], 2)
        text = rng.choice(lexc["topic_frames"]).format(kw=kw, kw2=kw2)
        return Task("classification", family, instruction, text, label, difficulty)
    p, city, hobby = rng.choice(lex()["people"]), rng.choice(lex()["cities"]), rng.choice(lex()["hobbies"])
    question = rng.random() < 0.5
    frames_q = [f"{p}明天去{city}吗？", f"你喜欢{hobby}吗？", f"谁住在{city}？", f"{p}什么时候去{city}？"]
    frames_s = [f"{p}明天去{city}。", f"我喜欢{hobby}。", f"{p}住在{city}。", f"{p}下周去{city}{hobby}。"]
    text = rng.choice(frames_q if question else frames_s)
    return Task("classification", family, instruction, text, "疑问句" if question else "陈述句", difficulty)


_EXTRACTION_FRAMES = [
    "{n1}和{n2}于{date}在{city}签订了一份合同，合同金额为{amt}元。",
    "{date}，{n1}在{city}的商店花了{amt}元买了一台{product}，{n2}陪同前往。",
    "据{n1}介绍，{city}分公司在{date}收到了{n2}转来的{amt}元货款。",
    "{n1}在{date}从{city}出差回来，报销了{amt}元路费，审批人是{n2}。",
]


def extraction_task(rng: random.Random, difficulty: int) -> Task:
    family = rng.choice(["names", "date", "amount", "place"])
    names = rng.sample(lex()["full_names"], 3)
    fields = dict(n1=names[0], n2=names[1], date=_date(rng), city=rng.choice(lex()["cities"]),
                  amt=rng.randint(100, 9999) * (10 if difficulty == 3 else 1), product=rng.choice(lex()["products"]))
    text = rng.choice(_EXTRACTION_FRAMES).format(**fields)
    found = names[:2]
    if difficulty >= 2:  # one more person, mentioned after the fact
        text += f"此事由{names[2]}负责记录。"
        found = names
    answer = {"names": "、".join(found), "date": fields["date"], "amount": f"{fields['amt']}元",
              "place": fields["city"]}[family]
    return Task("extraction", family, rng.choice(wording("extraction", family)), text, answer, difficulty)


def _profile(rng: random.Random, name: str) -> tuple[str, dict[str, str]]:
    x = lex()
    f = dict(job=rng.choice(x["jobs"]), age=f"{rng.randint(20, 60)}岁", city=rng.choice(x["cities"]),
             hobby=rng.choice(x["hobbies"]), pet=rng.choice(x["pets"]))
    parts = [f"{name}是一名{f['job']}", f"今年{f['age']}", f"住在{f['city']}", f"平时喜欢{f['hobby']}",
             f"家里养了一只{f['pet']}"]
    head, tail = parts[0], parts[1:]
    rng.shuffle(tail)
    return "，".join([head, *tail]) + "。", f


_CLOSED_QUESTIONS = {"job": "{n}的职业是什么？", "age": "{n}今年多大？", "city": "{n}住在哪个城市？",
                     "hobby": "{n}平时喜欢做什么？", "pet": "{n}家里养了什么动物？"}


def closed_qa_task(rng: random.Random, difficulty: int) -> Task:
    target, other = rng.sample(lex()["full_names"], 2)
    passage, fields = _profile(rng, target)
    if difficulty >= 2:  # a second person with different facts
        distractor, _ = _profile(rng, other)
        passage = f"{distractor}{passage}" if rng.random() < 0.5 else f"{passage}{distractor}"
    slot = rng.choice(list(_CLOSED_QUESTIONS))
    question = _CLOSED_QUESTIONS[slot].format(n=target)
    instruction = rng.choice(wording("closed_qa", "plain")).format(question=question)
    return Task("closed_qa", slot, instruction, passage, fields[slot], difficulty)


_FILLERS = ["请大家相互转告。", "如有疑问请联系行政部。", "感谢大家的支持。", "欢迎关注后续消息。", "以上信息仅供参考。"]


def summarization_task(rng: random.Random, difficulty: int) -> Task:
    x = lex()
    family = rng.choice(["meeting", "product", "weather"])
    if family == "meeting":
        f = dict(dept=rng.choice(x["departments"]), date=_date(rng), time=rng.choice(x["times"]),
                 room=rng.choice(x["rooms"]), topic=rng.choice(x["topics_meeting"]))
        facts = [f"会议时间为{f['date']}{f['time']}", f"地点在{f['room']}", f"参会人员为{f['dept']}全体员工",
                 f"本次会议的主要议题是{f['topic']}"]
        summary = f"{f['dept']}将于{f['date']}{f['time']}在{f['room']}开会，讨论{f['topic']}。"
        title = "【会议通知】"
    elif family == "product":
        f = dict(company=rng.choice(x["companies"]), product=rng.choice(x["products"]),
                 price=rng.randint(99, 2999), color=rng.choice(["黑色", "白色", "银色", "蓝色"]))
        facts = [f"{f['company']}近日推出了一款新{f['product']}", f"售价为{f['price']}元",
                 f"有{f['color']}可选", "支持七天无理由退货"]
        summary = f"{f['company']}推出新{f['product']}，售价{f['price']}元。"
        title = "【新品介绍】"
    else:
        lo = rng.randint(-5, 25)
        f = dict(city=rng.choice(x["cities"]), day=rng.choice(["今天", "明天", "后天"]), w=rng.choice(x["weather"]),
                 lo=lo, hi=lo + rng.randint(3, 12))
        facts = [f"{f['city']}{f['day']}天气{f['w']}", f"最低气温{f['lo']}度", f"最高气温{f['hi']}度",
                 rng.choice(["风力不大", "空气质量良好", "请注意增减衣物"])]
        summary = f"{f['city']}{f['day']}{f['w']}，气温{f['lo']}到{f['hi']}度。"
        title = "【天气预报】"
    head, tail = facts[0], facts[1:]
    rng.shuffle(tail)
    body = "。".join([head, *tail]) + "。"
    body += "".join(rng.sample(_FILLERS, difficulty - 1))
    return Task("summarization", family, rng.choice(wording("summarization", "plain")), title + body, summary,
                difficulty)
