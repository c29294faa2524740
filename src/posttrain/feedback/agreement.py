"""Inter-annotator agreement: Cohen's kappa for two reviewers, Fleiss' kappa for several.

Both are pure functions of category labels (any hashable value; the labelling app uses the
preferred answer's index, or ``None`` for a tie). Both correct the observed agreement for the
agreement expected by chance, ``kappa = (P_o - P_e) / (1 - P_e)``: 1 is perfect agreement, 0 is
chance level, negative is worse than chance. When chance agreement is already 1 (every label is
the same category) kappa is 0/0 and both functions return ``nan``.

Example::

    cohen_kappa(["a", "b", "a"], ["a", "b", "b"])        # 0.4
    fleiss_kappa([["a", "a", "b"], ["b", "b", "b"]])     # one list of labels per item
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Sequence

from posttrain.errors import UserError


def cohen_kappa(labels_a: Sequence[Hashable], labels_b: Sequence[Hashable]) -> float:
    """Cohen's kappa of two raters who labelled the same items (``labels_a[i]`` and ``labels_b[i]``)."""
    if len(labels_a) != len(labels_b):
        raise UserError(f"Cohen's kappa needs one label per rater per item, got {len(labels_a)} and {len(labels_b)}")
    if not labels_a:
        return math.nan
    count = len(labels_a)
    observed = sum(a == b for a, b in zip(labels_a, labels_b)) / count
    marginal_a, marginal_b = Counter(labels_a), Counter(labels_b)
    # P_e: the chance that two independent raters with these label frequencies agree.
    chance = sum(marginal_a[label] * marginal_b[label] for label in marginal_a) / count**2
    return _kappa(observed, chance)


def fleiss_kappa(item_labels: Sequence[Sequence[Hashable]]) -> float:
    """Fleiss' kappa (Fleiss 1971) for items each labelled by the same number ``n >= 2`` of raters.

    ``item_labels[i]`` holds the ``n`` labels item ``i`` received (the raters need not be the same
    people across items). With ``n_ij`` raters putting item ``i`` in category ``j``:
    ``P_i = (sum_j n_ij^2 - n) / (n (n - 1))``, ``P_o = mean_i P_i``, ``p_j = sum_i n_ij / (N n)``,
    ``P_e = sum_j p_j^2``.
    """
    if not item_labels:
        return math.nan
    raters = len(item_labels[0])
    if raters < 2 or any(len(labels) != raters for labels in item_labels):
        sizes = sorted({len(labels) for labels in item_labels})
        raise UserError(f"Fleiss' kappa needs the same number (>= 2) of labels on every item, got sizes {sizes}")
    category_totals: Counter = Counter()
    per_item_agreement = []
    for labels in item_labels:
        counts = Counter(labels)
        category_totals.update(counts)
        per_item_agreement.append((sum(n * n for n in counts.values()) - raters) / (raters * (raters - 1)))
    observed = sum(per_item_agreement) / len(item_labels)
    total = len(item_labels) * raters
    chance = sum((n / total) ** 2 for n in category_totals.values())
    return _kappa(observed, chance)


def _kappa(observed: float, chance: float) -> float:
    if math.isclose(chance, 1.0):
        return math.nan
    return (observed - chance) / (1 - chance)
