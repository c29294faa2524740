"""Reward functions for RL: rule-based checks (math answers, format, instruction following) and reward models.

A reward is a plain callable ``(prompt, completion, **row_fields) -> float``. Pick rewards by name
and weight them with :func:`combine`, then score a batch of rollouts with :func:`score_rollouts`::

    from posttrain.rewards import combine, score_rollouts
    reward = combine({"math_correct": 1.0, "answer_tag": 0.2})
    scores, components, failures = score_rollouts(reward, prompts, completions, rows)

Modules: ``math`` (final-number extraction, ``math_correct``), ``format`` (``answer_tag``,
``length_penalty``), ``ifeval`` (verifiable instruction constraints, also used by evaluation),
``tools`` (a ``calculator`` tool for tool-use episodes and ``tool_answer_correct``), ``code`` (the
program in an answer, ``code_tests_passed``: hidden tests run in :mod:`posttrain.sandbox`), ``reward_model``
(a trained reward model as a reward; the only one that imports torch) and
``registry`` (names, combinations, robust batch scoring).
"""

from posttrain.rewards.registry import (
    BUILTIN,
    FACTORIES,
    CombinedReward,
    RewardFn,
    WeightedReward,
    combine,
    resolve_reward,
    score_rollouts,
)
from posttrain.rewards.reward_model import RewardModelScorer, reward_model_scorer

__all__ = [
    "BUILTIN", "FACTORIES", "CombinedReward", "RewardFn", "RewardModelScorer", "WeightedReward",
    "combine", "resolve_reward", "reward_model_scorer", "score_rollouts",
]
