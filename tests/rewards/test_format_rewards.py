"""answer_tag and length_penalty on hand-written completions."""

import pytest

from posttrain.errors import UserError
from posttrain.rewards.format import answer_tag, length_penalty


@pytest.mark.parametrize(("completion", "expected"), [
    ("Reasoning... <answer>42</answer>", 1.0),
    ("<answer>\nline one\nline two\n</answer>", 1.0),
    ("The answer is 42.", 0.0),
    ("<answer>4</answer> <answer>2</answer>", 0.0),  # two answers
    ("<answer> </answer>", 0.0),  # empty
    ("<answer>42", 0.0),  # unclosed
    ("<answer>42</answer></answer>", 0.0),  # stray closing tag
])
def test_answer_tag(completion, expected):
    assert answer_tag("q", completion) == expected


@pytest.mark.parametrize(("words", "expected"), [
    (5, 0.0),
    (10, 0.0),  # at the target
    (15, -0.5),  # 5 extra words / target 10
    (20, -1.0),
    (30, -1.0),  # -2 clamped
])
def test_length_penalty(words, expected):
    assert length_penalty("q", " ".join(["word"] * words), target_words=10) == pytest.approx(expected)


def test_length_penalty_default_target_and_bad_target():
    assert length_penalty("q", "word " * 300) == pytest.approx(-0.5)  # default target 200
    with pytest.raises(UserError, match="target_words must be >= 1, got 0"):
        length_penalty("q", "text", target_words=0)
