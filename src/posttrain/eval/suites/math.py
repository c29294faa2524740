"""The ``math`` suite: held-out arithmetic and short word problems, exact final-answer match.

Items ``{"id", "prompt", "answer"}``; the answer's final number (an "Answer: N" marker, else the last
number, as the RL math reward reads it) must equal ``answer``. Answers are kept short
(48 new tokens): every prompt asks for the final number.
"""

from __future__ import annotations

from typing import ClassVar

from posttrain.eval.suite import Generation, Suite, register
from posttrain.rewards.math import extract_final_number, numbers_equal


@register
class MathSuite(Suite):
    name = "math"
    data_file = "math.jsonl"
    generation = Generation(max_new_tokens=48)
    metrics: ClassVar[dict[str, bool | None]] = {"accuracy": True}

    def score(self, item: dict, answer: str) -> tuple[float, str]:
        found = extract_final_number(answer)
        if found is None:
            return 0.0, f"no number in the answer (expected {item['answer']})"
        if numbers_equal(found, item["answer"]):
            return 1.0, f"final number {found} is correct"
        return 0.0, f"final number {found}, expected {item['answer']}"
