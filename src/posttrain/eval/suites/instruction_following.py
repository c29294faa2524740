"""The ``instruction-following`` suite: prompts with verifiable constraints (length, JSON, keywords, ...).

Items ``{"id", "prompt", "constraints": [{"type": ..., ...}]}``, checked by the same functions as the
RL instruction-following reward (:func:`posttrain.rewards.ifeval.check_all`). An item scores the
share of its constraints the answer follows; ``all_followed`` is the share of prompts whose
constraints all hold.
"""

from __future__ import annotations

from typing import ClassVar

from posttrain.eval.suite import Generation, Suite, register
from posttrain.rewards.ifeval import check_all


@register
class InstructionFollowingSuite(Suite):
    name = "instruction-following"
    data_file = "instruction_following.jsonl"
    generation = Generation(max_new_tokens=128)
    metrics: ClassVar[dict[str, bool | None]] = {"accuracy": True, "all_followed": True}
    full_score_metrics: ClassVar[tuple[str, ...]] = ("all_followed",)

    def score(self, item: dict, answer: str) -> tuple[float, str]:
        fraction, details = check_all(item["constraints"], answer)
        reasons = [f"{constraint['type']}: {'ok' if passed else 'FAILED'} ({reason})"
                   for constraint, (passed, reason) in zip(item["constraints"], details)]
        return fraction, "; ".join(reasons)
