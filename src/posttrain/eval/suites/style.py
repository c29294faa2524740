"""The ``style`` suite: how long answers are, and whether they run past what the question needs.

Items ``{"id", "prompt", "max_words"}``: everyday questions, each with the length in words a good
answer stays within (written by hand: 20 for "How many legs does a crab have?", 80 for a plot
summary). Words are counted as the instruction-following checks count them. Metrics:

- ``over_limit``: share of answers longer than their item's ``max_words`` (the per-item score; lower is better);
- ``median_words``, ``p90_words``: the answer length distribution (neither better nor worse);
- ``verbosity``: the median of words / ``max_words``; 1.0 means answers use their whole budget.

Answers stop at 128 new tokens (about 95 words; the instruction-following suite's setting, so both
share batches), so long-winded answers are cut there and the length statistics are capped;
``over_limit`` still sees them, since every budget (at most 80 words) is under the cap.
Bootstrap intervals resample the answers and recompute each statistic.
"""

from __future__ import annotations

from statistics import fmean, median
from typing import ClassVar

from posttrain.eval.stats import quantile
from posttrain.eval.suite import Generation, ScoredItem, Suite, register
from posttrain.rewards.ifeval import count_words  # one definition of a word for all checks


@register
class StyleSuite(Suite):
    name = "style"
    data_file = "style.jsonl"
    generation = Generation(max_new_tokens=128)
    metrics: ClassVar[dict[str, bool | None]] = {"median_words": None, "p90_words": None, "verbosity": None, "over_limit": False}

    def metric_of(self, item: dict) -> str:
        return "over_limit"

    def score(self, item: dict, answer: str) -> tuple[float, str]:
        words, limit = count_words(answer), item["max_words"]
        return float(words > limit), f"{words} words, {'over' if words > limit else 'within'} the limit of {limit}"

    def aggregates(self, scored: list[ScoredItem]) -> dict[str, float]:
        words = [count_words(item.answer) for item in scored]
        ratios = [count / item.item["max_words"] for count, item in zip(words, scored)]
        return {
            "median_words": float(median(words)),
            "p90_words": quantile(words, 0.9),
            "verbosity": float(median(ratios)),
            "over_limit": fmean(item.score for item in scored),
        }
