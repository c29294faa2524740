"""The ``multi-turn`` suite: the last answer must use what earlier turns said.

Items ``{"id", "messages", "kind", "expect": [...], "forbid": [...]}``; ``kind`` is ``memory`` (a
name, number or list item from an earlier turn), ``greeting`` (a greeting or goodbye answered in
kind) or ``recovery`` (the user corrects the assistant or changes their mind; the answer must follow
the correction). Each ``expect`` entry is a keyword or a list of alternatives; the score is the
share of entries the answer mentions (whole words, any case). Mentioning a ``forbid`` keyword (the
stale fact a recovery must drop) scores 0.
"""

from __future__ import annotations

from typing import ClassVar

from posttrain.eval.suite import Generation, Suite, register
from posttrain.rewards.ifeval import check


def mentions(text: str, keyword: str) -> bool:
    """Whether ``text`` contains ``keyword`` as a whole word, ignoring case (the IF checks' rule)."""
    return check({"type": "include_keywords", "keywords": [keyword]}, text)[0]


def score_keywords(expect: list, forbid: list[str], answer: str) -> tuple[float, str]:
    """Share of ``expect`` entries mentioned (an entry may list alternatives); 0 if a ``forbid`` word appears."""
    stale = [word for word in forbid if mentions(answer, word)]
    if stale:
        return 0.0, f"mentions {', '.join(map(repr, stale))}, which the conversation ruled out"
    if not expect:
        return 1.0, "mentions nothing ruled out"
    missing = [entry for entry in expect if not any(mentions(answer, word) for word in
                                                    (entry if isinstance(entry, list) else [entry]))]
    found = len(expect) - len(missing)
    reason = f"{found}/{len(expect)} expected mentions" + (
        f"; missing {' / '.join(entry if isinstance(entry, str) else ' or '.join(entry) for entry in missing)}"
        if missing else "")
    return found / len(expect), reason


@register
class MultiTurnSuite(Suite):
    name = "multi-turn"
    data_file = "multi_turn.jsonl"
    generation = Generation(max_new_tokens=64)
    metrics: ClassVar[dict[str, bool | None]] = {"accuracy": True}

    def score(self, item: dict, answer: str) -> tuple[float, str]:
        return score_keywords(item.get("expect", []), item.get("forbid", []), answer)
