"""Math answers: the final number of a completion, numeric equality, and the ``math_correct`` reward.

``extract_final_number`` prefers an explicit answer marker and falls back to the last number::

    extract_final_number("12 + 30 = 42, so the answer is 42.")   # "42"
    extract_final_number("Total: \\boxed{1,234}")                  # "1234"
    numbers_equal("3/4", "0.75")                                   # True

As a reward, a ``prompts`` row carries the reference in its ``answer`` field (a number, or text
whose final number is the answer, e.g. a worked solution ending in ``#### 72``)::

    math_correct("What is 12 + 30?", "12 + 30 = 42", answer="42")  # 1.0
"""

from __future__ import annotations

import math
import re
from typing import Any

from posttrain.errors import UserError

# A minus counts only when it is not glued to a word ("x-5" is not -5). Commas group thousands only
# in threes ("1,234"), so "1,2,3" is a list ending in 3. A trailing sentence period is no decimal.
NUMBER = r"(?:(?<![\w.])-)?(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.\d+)?(?:/\d+)?"
_NUMBER_RE = re.compile(NUMBER)
_FRAC_RE = re.compile(r"\\d?frac\{\s*(-?[\d.,]+)\s*\}\{\s*([\d.,]+)\s*\}")  # LaTeX \frac{3}{4} -> 3/4

# Explicit answer markers, most explicit first; the last occurrence of the first marker that holds a
# number wins ("I first thought the answer is 5, but the answer is 6" -> 6).
_MARKERS = [
    re.compile(r"<answer>(.*?)</answer>", re.DOTALL | re.IGNORECASE),
    re.compile(r"\\boxed\{((?:[^{}]|\{[^{}]*\})*)\}"),  # one level of nested braces, for \boxed{\frac{3}{4}}
    re.compile(rf"answer\s*(?:is|:)[\s:$*]*({NUMBER})", re.IGNORECASE),  # "the answer is 42", "Answer: **7**"
    re.compile(rf"=\s*\$?\s*({NUMBER})[^\d\n]*\s*\Z"),  # "... = 42 apples." ending the text
]


def extract_final_number(text: str) -> str | None:
    """The final numeric answer of ``text`` as a plain string ("-1234", "3.5", "3/4"), or None if it has no number."""
    text = _FRAC_RE.sub(r"\1/\2", text.replace("\u2212", "-"))  # unicode minus as in "−5"
    for marker in _MARKERS:
        for match in reversed(list(marker.finditer(text))):
            numbers = _NUMBER_RE.findall(match.group(1))
            if numbers:
                return numbers[-1].replace(",", "")
    numbers = _NUMBER_RE.findall(text)
    return numbers[-1].replace(",", "") if numbers else None


def _as_float(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if not isinstance(value, str) or not re.fullmatch(NUMBER, value := value.strip().replace(",", "")):
        return None
    numerator, _, denominator = value.partition("/")
    if not denominator:
        return float(numerator)
    return float(numerator) / float(denominator) if float(denominator) else None


def numbers_equal(a: Any, b: Any, tol: float = 1e-6) -> bool:
    """Whether two numbers (numbers or strings like "1,234", "-3.5", "3/4") are equal within ``tol``.

    ``tol`` is both absolute and relative (``math.isclose``); anything that is not a number is equal to nothing.
    """
    x, y = _as_float(a), _as_float(b)
    return x is not None and y is not None and math.isclose(x, y, rel_tol=tol, abs_tol=tol)


def math_correct(prompt: str, completion: str, *, answer: Any, **_: Any) -> float:
    """1.0 if the completion's final number equals the row's ``answer``, else 0.0."""
    reference = answer if _as_float(answer) is not None else extract_final_number(str(answer))
    if reference is None:
        raise UserError(f"the row's answer {answer!r} holds no number")
    return 1.0 if numbers_equal(extract_final_number(completion), reference) else 0.0
