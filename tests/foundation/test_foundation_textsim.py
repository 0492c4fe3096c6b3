"""Character-level similarity: works on Chinese without a word tokenizer."""

from __future__ import annotations

import pytest

from instructscale.textsim import char_f1, char_ngrams, jaccard, normalize_text, rouge_l


def test_normalize_text_folds_width_case_and_whitespace():
    assert normalize_text("Ｈｅｌｌｏ\u00a0 World！") == "hello world!"
    assert normalize_text("Ｈｅｌｌｏ\u00a0 World！", strip_punct=True) == "helloworld"
    assert normalize_text("  你好，\n\t世界。 ", strip_punct=True) == "你好世界"
    assert normalize_text("") == ""


def test_rouge_l_is_character_lcs_f1():
    assert rouge_l("今天天气很好", "今天天气很好") == 1.0
    assert rouge_l("今天天气很好", "明天天气不好") == pytest.approx(2 * 4 / 12)  # LCS 天天气好
    assert rouge_l("abc", "xbzc") == rouge_l("xbzc", "abc") == pytest.approx(2 * 2 / 7)
    assert rouge_l("", "x") == 0.0 and rouge_l("x", "") == 0.0


def test_char_f1_is_a_bag_of_characters():
    assert char_f1("张三、李四", "李四、张三") == 1.0 and char_f1("王五", "张三") == 0.0
    assert char_f1("北京 市", "北京") == pytest.approx(2 * 1.0 * (2 / 3) / (1 + 2 / 3))  # spaces ignored
    assert char_f1("", "x") == 0.0


def test_ngrams_and_jaccard():
    assert char_ngrams("你好吗", 2) == {"你好", "好吗"}
    assert char_ngrams("你好", 3) == {"你好"} and char_ngrams("", 3) == set()
    assert char_ngrams("aaaa", 2) == {"aa"}
    assert jaccard({"a"}, {"a", "b"}) == 0.5 and jaccard(set(), {"a"}) == 0.0 and jaccard(set(), set()) == 0.0
    a, b = char_ngrams("请把这句话翻译成英文", 3), char_ngrams("请把这句话翻译成法文", 3)
    assert 0.5 < jaccard(a, b) < 1
