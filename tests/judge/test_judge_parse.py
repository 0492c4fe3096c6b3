"""The score parser on real-looking Chinese and English judge replies."""

from __future__ import annotations

import pytest

from instructscale.judge import parse_score

SCORED = [
    ("得分:0.8", 0.8),
    ("得分：0.8", 0.8),
    ("得分: 1", 1.0),
    ("Score: .75", 0.75),
    ("score = 0.5", 0.5),
    ("**得分**：0.9", 0.9),
    ("得分：**0.9**", 0.9),
    ("得分：1分", 1.0),
    ("学生答案与标准答案一致，计算过程正确。\n得分：1", 1.0),
    ("学生的答案是7个，标准答案是8个，结果不一致。得分:0", 0.0),
    ("模型的回答基本正确，但遗漏了一个关键信息。\n\n得分：0.6", 0.6),
    ("评价：译文保持了原意，语句通顺。\n得分为0.8", 0.8),
    ("得分：［０．７］", 0.7),  # full-width brackets and digits
    ("The student's answer matches the standard answer.\nScore: 1", 1.0),
    ("The answer is partially correct.\n\nScore: 0.5/1", 0.5),
    ("Score: 8/10", 0.8),  # an explicit denominator is a ratio
    ("Final score: 4 out of 5", 0.8),
    ("The summary misses the main point. **Score:** 0.3", 0.3),
    ("Rating: 0.25", 0.25),
    ("得分：80%", 0.8),
    ("SCORE : 0", 0.0),
    ("The score is 0.7.", 0.7),
    ("分数：0.4\n理由：回答部分符合要求。", 0.4),
]

UNSCORED = [
    ("得分: 8", "out of range"),  # bare value on an unknown scale: invalid, not clipped
    ("Score: 85", "out of range"),
    ("得分: -0.5", "out of range"),
    ("Score: 3/0", "invalid"),
    ("这个回答很好，逻辑清晰，内容完整。", "no score"),
    ('请按照"得分:"这样的形式输出分数。', "no score"),  # the rubric echoed back has no number
    ("I would give this answer full marks.", "no score"),
    ("", "no score"),
    ("得分: 0.9\n（修正）得分: 9", "out of range"),  # an invalid verdict spoils the reply
    ("初步得分：0.5。再仔细看，回答其实完整地覆盖了要点，最终得分：0.9", "conflicting"),  # re-asked, not by position
]


@pytest.mark.parametrize("reply,expected", SCORED)
def test_scored_replies(reply, expected):
    parsed = parse_score(reply)
    assert parsed.ok and parsed.score == pytest.approx(expected) and parsed.reason is None


@pytest.mark.parametrize("reply,reason", UNSCORED)
def test_unscored_replies_give_a_reason(reply, reason):
    parsed = parse_score(reply)
    assert parsed.score is None and reason in parsed.reason
