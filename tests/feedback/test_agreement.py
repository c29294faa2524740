"""Cohen's and Fleiss' kappa against values worked out by hand."""

from __future__ import annotations

import math

import pytest

from posttrain.errors import UserError
from posttrain.feedback.agreement import cohen_kappa, fleiss_kappa


def test_cohen_kappa_by_hand():
    """6 items. Observed agreement P_o = 5/6. Marginals: A 3/2, B 2/3, tie 1/1 (rater 1/rater 2), so
    P_e = (3*2 + 2*3 + 1*1) / 36 = 13/36 and kappa = (30/36 - 13/36) / (23/36) = 17/23."""
    first = ["A", "A", "B", "B", None, "A"]
    second = ["A", "B", "B", "B", None, "A"]
    assert cohen_kappa(first, second) == pytest.approx(17 / 23)
    assert cohen_kappa(second, first) == pytest.approx(17 / 23)  # symmetric


def test_cohen_kappa_extremes():
    """Perfect agreement is 1; two raters who always disagree on a balanced set reach -1
    (P_o = 0, P_e = 1/2: kappa = -1/2 / 1/2)."""
    assert cohen_kappa([0, 1, 0, 1], [0, 1, 0, 1]) == 1.0
    assert cohen_kappa([0, 1, 0, 1], [1, 0, 1, 0]) == pytest.approx(-1.0)
    assert math.isnan(cohen_kappa([0, 0], [0, 0]))  # chance agreement is 1: kappa is 0/0
    with pytest.raises(UserError, match="one label per rater per item"):
        cohen_kappa([0, 1], [0])


def test_fleiss_kappa_by_hand():
    """3 items, 3 raters. Per item P_i = (sum n_ij^2 - 3) / 6: (9-3)/6 = 1, (4+1-3)/6 = 1/3, 1/3;
    P_o = 5/9. Category shares 5/9, 3/9, 1/9 give P_e = 35/81; kappa = (45-35)/81 / (46/81) = 5/23."""
    assert fleiss_kappa([[0, 0, 0], [0, 0, 1], [1, 1, None]]) == pytest.approx(5 / 23)


def test_fleiss_kappa_of_fleiss_1971_table():
    """The worked example in Fleiss (1971) as usually reproduced: 10 items, 14 raters, 5 categories,
    P_o = 0.378, P_e = 0.213, kappa = 0.210."""
    counts = [[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
              [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]]
    items = [[category for category, n in enumerate(row) for _ in range(n)] for row in counts]
    assert fleiss_kappa(items) == pytest.approx(0.2099, abs=1e-4)


def test_fleiss_kappa_with_two_raters_is_scotts_pi():
    """With two raters Fleiss' kappa is Scott's pi: 3 of 4 items agree, P_o = 3/4; pooled shares 3/8
    and 5/8 give P_e = 9/64 + 25/64 = 17/32; pi = (24/32 - 17/32) / (15/32) = 7/15."""
    assert fleiss_kappa([[0, 0], [1, 1], [0, 1], [1, 1]]) == pytest.approx(7 / 15)


def test_fleiss_kappa_needs_equal_rater_counts():
    with pytest.raises(UserError, match="same number"):
        fleiss_kappa([[0, 0], [0, 1, 1]])
    assert math.isnan(fleiss_kappa([[1, 1], [1, 1]]))
