"""Bootstrap intervals and quantiles on cases whose answers are known."""

from statistics import median

import pytest

from posttrain.eval.stats import bootstrap_ci, paired_bootstrap_ci, quantile


def test_quantile_interpolates_like_numpy():
    assert quantile([4, 1, 3, 2], 0.5) == 2.5
    assert quantile(list(range(11)), 0.9) == 9.0
    assert quantile([10, 20], 0.25) == 12.5
    assert quantile([7], 0.9) == 7


def test_bootstrap_of_a_proportion_matches_the_normal_interval():
    """12 of 30 right: p = 0.4, standard error sqrt(0.4 * 0.6 / 30) = 0.0894, so the 95% interval
    is about 0.4 +/- 1.96 * 0.0894 = (0.225, 0.575); the bootstrap agrees within sampling noise."""
    scores = [1.0] * 12 + [0.0] * 18
    low, high = bootstrap_ci(scores, seed=0)
    assert abs(low - 0.225) < 0.03 and abs(high - 0.575) < 0.03
    assert bootstrap_ci(scores, seed=0) == (low, high)  # seeded: the same interval every time
    # Proportions of 30 items fall on a grid of k/30, so other seeds may land on the same bounds;
    # continuous scores show that the seed drives the resampling.
    spread = [i / 7 for i in range(30)]
    assert bootstrap_ci(spread, seed=1) != bootstrap_ci(spread, seed=2)


def test_bootstrap_of_constant_scores_is_a_point_and_any_statistic_works():
    assert bootstrap_ci([1.0] * 10) == (1.0, 1.0)
    words = [10, 20, 30, 40, 50]
    low, high = bootstrap_ci(words, median, resamples=500, seed=3)
    assert 10 <= low <= 30 <= high <= 50


def test_paired_interval_of_a_constant_change_is_that_change():
    """Every item gains exactly 0.5, so every resample's mean difference is 0.5: the interval is [0.5, 0.5]
    however the items differ from each other. Identical sides give [0, 0]."""
    before = [0.0, 0.5, 0.25, 0.5]
    assert paired_bootstrap_ci(before, [0.5, 1.0, 0.75, 1.0]) == (0.5, 0.5)
    assert paired_bootstrap_ci(before, before) == (0.0, 0.0)
    assert paired_bootstrap_ci(before, [0.5, 1.0, 0.75, 1.0], seed=3) == (0.5, 0.5)
    with pytest.raises(ValueError, match="one score per item"):
        paired_bootstrap_ci([1.0], [1.0, 0.0])


def test_pairing_separates_a_change_the_unpaired_intervals_cannot():
    """B gains 0.25 on 8 of 10 items and ties on 2; the items themselves range from 0 to 1.

    Unpaired, each side's interval is about its mean +/- 0.16 (means 0.375 and 0.575), so they overlap.
    Paired, a resample's mean difference is 0.25 * K / 10 with K ~ Binomial(10, 0.8) improved items drawn:
    P(K <= 4) = 0.006 and P(K <= 5) = 0.033, so the 2.5% bound is 0.25 * 5/10 = 0.125 (0.15 if the
    resamples run light on K = 5), and P(K = 10) = 0.107 > 2.5% puts the upper bound at 0.25.
    """
    before = [0.0, 0.0, 0.25, 0.25, 0.5, 0.5, 0.75, 0.75, 0.25, 0.5]
    after = [score + 0.25 for score in before[:8]] + before[8:]
    _, high_before = bootstrap_ci(before)
    low_after, _ = bootstrap_ci(after)
    assert high_before > low_after  # the two sides' intervals overlap
    low, high = paired_bootstrap_ci(before, after)
    assert 0.125 <= low <= 0.15 and high == 0.25
