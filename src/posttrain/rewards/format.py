"""Format rewards: an answer tag present exactly once, and a penalty for running long.

Both are usually small-weight terms next to a correctness reward, e.g. in a recipe::

    reward: {math_correct: 1.0, answer_tag: 0.2}
"""

from __future__ import annotations

import re
from typing import Any

from posttrain.errors import UserError

_ANSWER_RE = re.compile(r"<answer>\s*\S.*?</answer>", re.DOTALL)


def answer_tag(prompt: str, completion: str, **_: Any) -> float:
    """1.0 if the completion holds exactly one non-empty ``<answer>...</answer>`` and no stray tag, else 0.0."""
    single = completion.count("<answer>") == completion.count("</answer>") == 1
    return 1.0 if single and _ANSWER_RE.search(completion) else 0.0


def length_penalty(prompt: str, completion: str, *, target_words: int = 200, **_: Any) -> float:
    """0 at or below ``target_words`` words, then -1/target per extra word, clamped at -1.

    So -0.5 at 1.5x the target and -1 from 2x on. Words are whitespace-separated pieces.
    """
    if target_words < 1:
        raise UserError(f"length_penalty: target_words must be >= 1, got {target_words}")
    extra = len(completion.split()) - target_words
    return max(-1.0, -extra / target_words) if extra > 0 else 0.0
