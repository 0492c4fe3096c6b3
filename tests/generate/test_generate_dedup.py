import random

from instructscale.generate.dedup import NearDupIndex
from instructscale.generate.filters import TaskFilter
from instructscale.generate.parse import ParsedTask
from instructscale.generate.seeds import load_seed_tasks
from instructscale.textsim import rouge_l


def test_planted_chinese_near_duplicates_are_caught_and_distinct_survive():
    seeds = [s.instruction for s in load_seed_tasks()]  # 156 distinct hand-written Chinese instructions
    index = NearDupIndex(0.7)
    seeds = [s for s in seeds if index.check_and_add(s) is None]
    assert len(seeds) >= 150  # a few short translation instructions are near-duplicates of each other
    rng = random.Random(0)
    planted = []
    for s in rng.sample(seeds, 60):
        chars = list(s)
        i = rng.randrange(len(chars))
        chars[i] = "某"  # one changed character, and a polite suffix
        planted.append("".join(chars) + rng.choice(["谢谢。", "请回答。", ""]))
    planted = [p for p in planted if max(rouge_l(p, s) for s in seeds) >= 0.8]
    assert len(planted) > 40
    assert all(index.check(p)[0] in ("near_duplicate", "exact_duplicate") for p in planted)
    fresh = ["请帮我设计一个关于海洋保护的宣传活动方案。", "黄河流经哪些省份？", "用三句话介绍一下你的家乡的特色小吃。"]
    assert [index.check_and_add(f) for f in fresh] == [None, None, None]


def test_index_grows_with_kept_items_and_catches_exact_duplicates_after_normalization():
    index = NearDupIndex(0.7)
    assert index.check_and_add("请把下面这句话翻译成英文。") is None
    assert index.check_and_add("请把下面这句话翻译成英文!") == "exact_duplicate"  # punctuation and width ignored
    assert index.check_and_add("请把下面这句话翻译成英文，谢谢") == "near_duplicate"  # against a kept item
    assert len(index) == 1


def test_filters_count_the_first_failing_reason():
    from instructscale.generate.config import GenerateConfig
    from instructscale.llm import ClientConfig

    f = TaskFilter(GenerateConfig(out="x.jsonl", target=1, client=ClientConfig(model="m")))

    def reason(ins, out="好"):
        return f.reason(ParsedTask(1, ins, "", out))

    assert reason("请描述这张图片里的内容。") == "blacklisted_word"
    assert reason("Draw a map of the city.") == "blacklisted_word"
    assert reason("Describe the profile of a good teacher.") is None  # 'file' only as a whole word
    assert reason("？这是什么意思呢") == "starts_with_punctuation"
    assert reason("写诗") == "instruction_too_short"
    assert reason("写一首关于春天的诗。", out=" ") == "empty_output"
    assert reason("写一首关于春天的诗。") is None


def test_lsh_finds_what_exact_all_pairs_rouge_l_finds():
    """Random Chinese instructions with planted edits (substitutions, suffixes): the index
    must remove (almost) every item that exact greedy all-pairs ROUGE-L removes, and no other."""
    import numpy as np
    from rapidfuzz import process
    from rapidfuzz.distance import LCSseq

    from instructscale.generate.dedup import dedup_key

    rng = random.Random(7)
    chars = [chr(c) for c in range(0x4E00, 0x4E00 + 2000)]
    texts = []
    for _ in range(1500):
        if texts and rng.random() < 0.25:
            s = list(rng.choice(texts))
            for _ in range(rng.randint(1, max(1, len(s) // 6))):
                s[rng.randrange(len(s))] = rng.choice(chars)
            texts.append("".join(s) + rng.choice(["", "谢谢。", "请简要回答。"]))
        else:
            texts.append("请" + "".join(rng.choice(chars) for _ in range(rng.randint(8, 30))) + "。")
    keys = [dedup_key(t) for t in texts]
    lens = np.array([len(k) for k in keys], dtype=float)
    f1 = 2 * process.cdist(keys, keys, scorer=LCSseq.similarity, dtype=np.int32) / (lens[:, None] + lens[None, :])
    removed_exact, kept = set(), []
    for j in range(len(keys)):
        if kept and f1[j, kept].max() >= 0.7:
            removed_exact.add(j)
        else:
            kept.append(j)
    index = NearDupIndex(0.7)
    removed_lsh = {j for j, t in enumerate(texts) if index.check_and_add(t) is not None}
    assert len(removed_exact) > 200
    assert len(removed_exact & removed_lsh) / len(removed_exact) >= 0.97
    assert len(removed_lsh - removed_exact) <= 3  # only knock-on effects of a missed pair
    assert index.candidates < len(texts) * 5  # verification work stays far below all pairs
