"""Decontamination: the inverted index finds exactly what a brute-force comparison finds,
on Chinese text, at any threshold, and a large pool stays fast."""

from __future__ import annotations

import random
import time

import pytest

from instructscale.errors import ConfigError
from instructscale.evalset import find_overlaps
from instructscale.records import EvalItem, InstructionExample
from instructscale.textsim import char_ngrams, jaccard, normalize_text

HANZI = [chr(c) for c in range(0x4E00, 0x4E00 + 400)]


def _text(rng, n):
    return "".join(rng.choice(HANZI) for _ in range(n))


def _mutate(rng, text, edits):
    chars = list(text)
    for _ in range(edits):
        chars[rng.randrange(len(chars))] = rng.choice(HANZI)
    return "".join(chars)


def _brute_force(items, pool, threshold):
    """The definition, pair by pair: the best of prompt and instruction per (item, example)."""
    found = {}
    for item in items:
        q = normalize_text(item.question, strip_punct=True)
        for ex in pool:
            best = None
            for text in {normalize_text(ex.prompt, strip_punct=True), normalize_text(ex.instruction, strip_punct=True)}:
                sim = 1.0 if text == q else jaccard(char_ngrams(q, 3), char_ngrams(text, 3))
                if sim >= threshold and (best is None or sim > best[1]):
                    best = ("exact" if text == q else "near", sim)
            if best:
                found[(item.id, ex.id)] = best
    return found


STEMS = ["", "请把下面这句话翻译成英文：", "请用一句话总结下面的新闻："]  # shared phrasings: common n-grams


@pytest.fixture(scope="module", params=["random", "shared_stems"])
def world(request):
    rng = random.Random(7)
    stems = STEMS if request.param == "shared_stems" else [""]
    items = [EvalItem(category="generation", question=rng.choice(stems) + _text(rng, rng.randint(15, 40)))
             for _ in range(40)]
    pool = []
    for k, item in enumerate(items[:30]):  # copies with 0..6 characters changed, some split into instruction+input
        variant = _mutate(rng, item.question, k % 7)
        cut = len(variant) // 2 if k % 3 == 0 else len(variant)
        pool.append(InstructionExample(id=f"v{k}", instruction=variant[:cut], input=variant[cut:], output="x"))
    pool += [InstructionExample(id=f"r{k}", instruction=rng.choice(stems) + _text(rng, 30), output="x")
             for k in range(60)]
    return items, pool


@pytest.mark.parametrize("threshold", [0.3, 0.5, 0.8, 1.0])
def test_index_matches_brute_force(world, threshold):
    items, pool = world
    got = {(o.eval_id, o.example_id): (o.kind, o.similarity) for o in find_overlaps(items, pool, threshold)}
    want = _brute_force(items, pool, threshold)
    assert set(got) == set(want)
    for key, (kind, sim) in want.items():
        assert got[key][0] == kind and got[key][1] == pytest.approx(sim, abs=1e-4)
    if threshold <= 0.5:
        assert any(k == "near" for k, _ in got.values()) and any(k == "exact" for k, _ in got.values())


def test_exact_ignores_case_width_whitespace_and_punctuation():
    item = EvalItem(category="translation", question="Translate: 今天天气很好！")
    pool = [InstructionExample(id="a", instruction="ＴＲＡＮＳＬＡＴＥ  今天天气很好", output="x"),
            InstructionExample(id="b", instruction="Translate:", input="今天天气很好。", output="x")]
    found = find_overlaps([item], pool)
    assert sorted((o.example_id, o.kind, o.similarity) for o in found) == [("a", "exact", 1.0), ("b", "exact", 1.0)]


def test_each_pair_is_reported_once_with_its_best_similarity():
    items = [EvalItem(category="math", question="一个长方形的长是8厘米，宽是5厘米，面积是多少？")]
    # the instruction alone is a near match; instruction + input is the exact question
    pool = [InstructionExample(id="x", instruction="一个长方形的长是8厘米，宽是5厘米，", input="面积是多少？", output="40")]
    (only,) = find_overlaps(items, pool, threshold=0.5)
    assert (only.kind, only.similarity) == ("exact", 1.0)


def test_punctuation_only_texts_do_not_match_each_other():
    items = [EvalItem(category="rewrite", question="？？？")]
    pool = [InstructionExample(id="p", instruction="!!!", output="x")]
    assert find_overlaps(items, pool, threshold=0.01) == []


@pytest.mark.parametrize("threshold", [0.0, -0.5, 1.2])
def test_a_threshold_outside_the_unit_interval_is_a_config_error(threshold):
    with pytest.raises(ConfigError, match=r"threshold must be in \(0, 1\]"):
        find_overlaps([EvalItem(category="math", question="1+1")], [], threshold)


def test_a_large_pool_is_streamed_quickly():
    rng = random.Random(1)
    items = [EvalItem(category="open_qa", question=_text(rng, 40)) for _ in range(500)]
    pool = (InstructionExample(id=f"p{k}", instruction=_text(rng, 40), output="x") for k in range(20_000))
    start = time.perf_counter()
    assert find_overlaps(items, pool, threshold=0.8) == []  # a generator: streamed, never held as a list
    # brute force would be 10M Jaccard computations; the index does it in well under this bound on one slow core
    assert time.perf_counter() - start < 10


@pytest.mark.parametrize("threshold", [0.25, 0.4, 0.5, 0.6, 0.75])
def test_index_matches_brute_force_at_the_threshold_boundary(threshold):
    """A tiny alphabet makes many pairs land exactly on or next to the threshold, where the
    prefix filter has no slack."""
    rng = random.Random(threshold)
    alphabet = "天地人山"
    items = [EvalItem(category="rewrite", question="".join(rng.choice(alphabet) for _ in range(rng.randint(4, 9))))
             for _ in range(60)]
    pool = [InstructionExample(id=f"p{k}", instruction="".join(rng.choice(alphabet) for _ in range(rng.randint(4, 9))),
                               output="x") for k in range(60)]
    pool += [InstructionExample(id=f"m{k}", instruction=item.question + rng.choice(alphabet), output="x")
             for k, item in enumerate(items)]  # one character longer: similarities just below 1
    got = {(o.eval_id, o.example_id): o.similarity for o in find_overlaps(items, pool, threshold)}
    want = _brute_force(items, pool, threshold)
    assert set(got) == set(want) and len(want) >= 10
