"""Open QA, generation, brainstorming, rewrite and translation: answers follow fixed formats
over small closed vocabularies. A small model learns the format (most of the answer) from
few examples, so these saturate early; open QA also needs the fact itself, which the
model only knows if the training pool happened to cover it."""

from __future__ import annotations

import random

from instructscale.demo.lexicon import facts, language, lex, wording
from instructscale.demo.task import Task

_CN_NUM = {3: "三", 4: "四", 5: "五"}


def open_qa_task(rng: random.Random, difficulty: int) -> Task:
    fb = facts()
    family = rng.choice(["capital", "capital", "food", "habitat", "class", "inventor"])
    if family == "capital":
        country, capital = rng.choice(list(fb["capitals"].items()))
        q, a = rng.choice(wording("open_qa", family)).format(country=country), f"{country}的首都是{capital}。"
    elif family == "inventor":
        thing, who = rng.choice(list(fb["inventions"].items()))
        q, a = rng.choice(wording("open_qa", family)).format(invention=thing), f"{thing}是{who}发明的。"
    else:
        animal, (cls, food, habitat) = rng.choice(list(fb["animals"].items()))
        q = rng.choice(wording("open_qa", family)).format(animal=animal)
        a = {"food": f"{animal}主要吃{food}。", "habitat": f"{animal}主要生活在{habitat}。",
             "class": f"{animal}属于{cls}。"}[family]
    return Task("open_qa", family, rng.choice(wording("open_qa", "prefixes")) + q, "", a, difficulty)


_SLOGAN_TOPICS = ["节约用水", "保护环境", "垃圾分类", "安全出行", "珍惜粮食", "全民健身", "文明礼貌", "爱护动物",
                  "节约用电", "绿色出行"]


def generation_task(rng: random.Random, difficulty: int) -> Task:
    x = lex()
    family = rng.choice(["invitation", "leave", "slogan", "birthday"])
    instruction = rng.choice(wording("generation", family))
    if family == "invitation":
        event, time = rng.choice(x["events"]), rng.choice(x["times"])
        date = f"{rng.randint(1, 12)}月{rng.randint(1, 28)}日"
        room, org = rng.choice(x["rooms"]), rng.choice(x["companies"])
        inp = f"活动：{event}\n时间：{date}{time}\n地点：{room}\n邀请方：{org}"
        out = f"尊敬的嘉宾：\n您好！我们诚挚地邀请您于{date}{time}到{room}参加{event}。期待您的光临！\n{org}"
        return Task("generation", family, instruction, inp, out, difficulty)
    if family == "leave":
        name, date = rng.choice(x["full_names"]), f"{rng.randint(1, 12)}月{rng.randint(1, 28)}日"
        reason = rng.choice(["身体不适", "家中有事", "需要看病", "参加考试", "搬家"])
        inp = f"姓名：{name}\n原因：{reason}\n日期：{date}"
        out = f"请假条\n尊敬的领导：\n本人{name}因{reason}，需于{date}请假一天，望批准。\n请假人：{name}"
        return Task("generation", family, instruction, inp, out, difficulty)
    if family == "slogan":
        topic = rng.choice(_SLOGAN_TOPICS)
        return Task("generation", family, instruction.format(topic=topic), "",
                    f"{topic}，从我做起，让我们的生活更美好！", difficulty)
    name = rng.choice(x["full_names"] + x["people"])
    return Task("generation", family, instruction.format(name=name), "",
                f"亲爱的{name}，祝你生日快乐，天天开心，万事如意！", difficulty)


def brainstorming_task(rng: random.Random, difficulty: int) -> Task:
    topic, items = rng.choice(list(language()["brainstorming"].items()))
    k = 2 + difficulty
    instruction = rng.choice(language()["brainstorming_contexts"]) + rng.choice(
        wording("brainstorming", "plain")).format(k=_CN_NUM[k], topic=topic)
    return Task("brainstorming", "plain", instruction, "", "\n".join(f"{i + 1}. {w}" for i, w in enumerate(items[:k])),
                difficulty)


def rewrite_task(rng: random.Random, difficulty: int) -> Task:
    pairs = language()["rewrite"]["clauses"]
    family = rng.choice(["formal", "formal", "casual", "casual", "replace"])
    chosen = rng.sample(pairs, 1 + (difficulty > 1))
    if family == "replace":
        p, city = rng.choice(lex()["full_names"]), rng.sample(lex()["cities"], 2)
        event = rng.choice(lex()["events"])
        sentence = f"{p}下周要去{city[0]}参加{event}，{rng.choice(chosen)[0]}。"
        instruction = rng.choice(wording("rewrite", family)).format(old=city[0], new=city[1])
        return Task("rewrite", family, instruction, sentence, sentence.replace(city[0], city[1]), difficulty)
    src, dst = (0, 1) if family == "formal" else (1, 0)
    text = "，".join(c[src] for c in chosen) + "。"
    out = "，".join(c[dst] for c in chosen) + "。"
    return Task("rewrite", family, rng.choice(wording("rewrite", family)), text, out, difficulty)


def _cap(word: str) -> str:
    return word[:1].upper() + word[1:]


def _sentence_pair(rng: random.Random) -> tuple[str, str]:
    t = language()["translation"]
    kind = rng.choice(["svo", "svo", "this", "have"])
    if kind == "svo":
        s, (s_en, _) = rng.choice(list(t["subjects"].items()))
        v, (v_en, v3) = rng.choice(list(t["verbs"].items()))
        o, o_en = rng.choice(list(t["objects"].items()))
        third = s in ("他", "她")
        return f"{s}{v}{o}。", f"{_cap(s_en)} {v3 if third else v_en} {o_en}."
    if kind == "this":
        n, (mw, n_en) = rng.choice(list(t["things"].items()))
        adj, adj_en = rng.choice(list(t["adjectives"].items()))
        return f"这{mw}{n}很{adj}。", f"This {n_en} is {adj_en}."
    s, (s_en, _) = rng.choice(list(t["subjects"].items()))
    n, (mw, n_en) = rng.choice(list(t["things"].items()))
    num, num_en = rng.choice(list(t["numbers"].items()))
    has = "has" if s in ("他", "她") else "have"
    return f"{s}有{num}{mw}{n}。", f"{_cap(s_en)} {has} {num_en} {n_en}s."


def translation_task(rng: random.Random, difficulty: int) -> Task:
    pairs = [_sentence_pair(rng) for _ in range(1 + (difficulty == 3))]
    zh, en = "".join(p[0] for p in pairs), " ".join(p[1] for p in pairs)
    if rng.random() < 0.8:  # mostly into English: the demo scores translation with chrF
        return Task("translation", "zh_en", rng.choice(wording("translation", "zh_en")), zh, en, difficulty)
    return Task("translation", "en_zh", rng.choice(wording("translation", "en_zh")), en, zh, difficulty)
