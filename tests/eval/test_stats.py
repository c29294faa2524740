"""Bootstrap intervals and quantiles on cases whose answers are known."""

from statistics import median

from posttrain.eval.stats import bootstrap_ci, quantile


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
