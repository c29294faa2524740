"""Confidence intervals for eval metrics: the seeded percentile bootstrap.

``bootstrap_ci(scores)`` resamples the item scores with replacement ``resamples`` times, computes
the statistic (the mean by default) on each resample, and returns the ``(1 - level) / 2`` and
``(1 + level) / 2`` quantiles of those values: with 30 items of which 12 are right, about
``(0.23, 0.57)``. Any statistic works (a median of answer lengths, a suite's own aggregate), since
the values are passed through untouched. The same seed gives the same interval.

``paired_bootstrap_ci(scores_a, scores_b)`` is the interval of a change between two runs on the same
items: a resample draws item indices and uses them on both sides, so an item that is hard for both
runs does not widen the interval of their difference.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from statistics import fmean
from typing import TypeVar

T = TypeVar("T")


def quantile(values: Sequence[float], q: float) -> float:
    """The ``q``-quantile with linear interpolation between order statistics (numpy's default)."""
    if not values:
        raise ValueError("quantile of no values")
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def bootstrap_ci(
    values: Sequence[T],
    statistic: Callable[[Sequence[T]], float] = fmean,
    *,
    resamples: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile-bootstrap interval of ``statistic(values)`` at confidence ``level``."""
    if not values:
        raise ValueError("bootstrap of no values")
    rng = random.Random(seed)
    estimates = [statistic(rng.choices(values, k=len(values))) for _ in range(resamples)]
    tail = (1 - level) / 2
    return quantile(estimates, tail), quantile(estimates, 1 - tail)


def paired_bootstrap_ci(
    scores_a: Sequence[float],
    scores_b: Sequence[float],
    *,
    resamples: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile-bootstrap interval of ``mean(scores_b) - mean(scores_a)`` over paired items.

    ``scores_a[i]`` and ``scores_b[i]`` are one item's scores on the two sides. Each resample draws item
    indices with replacement and takes the same indices on both sides; the difference of the two
    resampled means is the mean of the resampled per-item differences ``b - a``, so this is
    :func:`bootstrap_ci` of those differences (same seed, resamples and percentiles).
    """
    if len(scores_a) != len(scores_b):
        raise ValueError(f"paired scores need one score per item on each side; got {len(scores_a)} and {len(scores_b)}")
    differences = [b - a for a, b in zip(scores_a, scores_b)]
    return bootstrap_ci(differences, resamples=resamples, level=level, seed=seed)
