"""Final-number extraction, numeric equality and the math_correct reward, on hand-written completions."""

import pytest

from posttrain.errors import UserError
from posttrain.rewards.math import extract_final_number, math_correct, numbers_equal


@pytest.mark.parametrize(("text", "expected"), [
    ("The answer is 42.", "42"),
    ("12 + 30 = 42", "42"),
    ("So 6 * 7 = 42 apples.", "42"),
    # an explicit marker beats the last number in the text
    ("The answer is 42. Check: 40 + 2 = 42, which took me 7 minutes.", "42"),
    ("I first thought the answer is 5, but the answer is 6. Done in 3 steps.", "6"),
    ("Answer: **7**, found after 2 tries", "7"),
    ("<answer>17</answer> and then 99 more", "17"),
    ("<answer>x = -3.5</answer>", "-3.5"),
    ("<answer>unsure</answer> maybe 12", "12"),  # a marker without a number is skipped
    ("The total is \\boxed{1,234} (checked in 3 steps)", "1234"),
    ("so \\boxed{\\frac{3}{4}} is the share", "3/4"),
    ("The final answer is $\\boxed{-8}$.", "-8"),
    # negatives, grouping commas, decimals, fractions, trailing periods
    ("It dropped to -7 degrees", "-7"),
    ("It dropped to \u22125 degrees", "-5"),
    ("The range is 3-5", "5"),  # a hyphen between numbers is no minus sign
    ("They paid $1,234,567.89 in total", "1234567.89"),
    ("Count 1, 2, 3", "3"),
    ("1,2,3", "3"),  # commas group thousands only in threes
    ("She ate 3/4 of the pie", "3/4"),
    ("The result is 3.5.", "3.5"),
    ("It is 42.", "42"),
    ("no numbers here", None),
    ("", None),
])
def test_extract_final_number(text, expected):
    assert extract_final_number(text) == expected


@pytest.mark.parametrize(("a", "b", "equal"), [
    ("1,234", "1234", True),
    ("3/4", "0.75", True),
    ("42", 42, True),
    (" -7 ", -7.0, True),
    ("42.00000001", "42", True),  # within the default tol
    ("42.1", "42", False),
    (None, "1", False),
    ("abc", "abc", False),  # not numbers: equal to nothing
    ("1/0", "1/0", False),
    (True, 1, False),  # a bool is no number
])
def test_numbers_equal(a, b, equal):
    assert numbers_equal(a, b) is equal


def test_numbers_equal_tolerance():
    assert numbers_equal("1.05", "1", tol=0.1) and not numbers_equal("1.05", "1", tol=0.01)


def test_math_correct():
    prompt = "What is 12 + 30?"
    assert math_correct(prompt, "12 + 30 = 42", answer="42") == 1.0
    assert math_correct(prompt, "The answer is 42.", answer=42) == 1.0
    assert math_correct(prompt, "The answer is 41.", answer=42) == 0.0
    assert math_correct(prompt, "I do not know.", answer=42) == 0.0
    assert math_correct(prompt, "<answer>42</answer>", answer="42", other_field="ignored") == 1.0
    # a worked reference solution: its final number is the answer
    assert math_correct(prompt, "So 72.", answer="48 + 24 = <<48+24=72>>72 clips\n#### 72") == 1.0


def test_math_correct_reference_without_number():
    with pytest.raises(UserError, match=r"the row's answer 'none' holds no number"):
        math_correct("q", "42", answer="none")
