"""A trained reward model as a reward function: the one reward that touches torch.

::

    scorer = reward_model_scorer("runs/rm/final", batch_size=16)
    scorer("What is 2 + 2?", "4")               # one float
    scorer.score_batch(prompts, completions)   # batched forward passes; score_rollouts uses this

Each sample is scored as the conversation ``[user: prompt, assistant: completion]`` (a prompt may
also be a message list). The model loads on first use, so building a reward from a config is free.
"""

from __future__ import annotations

from typing import Any

from posttrain.errors import UserError

DTYPES = ("float32", "bfloat16", "float16")


class RewardModelScorer:
    """Scores completions with a reward model saved by ``posttrain rm`` (see :class:`posttrain.models.reward.RewardModel`)."""

    def __init__(self, model_path: str, batch_size: int = 8, dtype: str = "float32"):
        if dtype not in DTYPES:
            raise UserError(f"reward_model: dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
        if batch_size < 1:
            raise UserError(f"reward_model: batch_size must be >= 1, got {batch_size}")
        self.model_path, self.batch_size, self.dtype = model_path, batch_size, dtype
        self.__name__ = "reward_model"  # the component name when used on its own
        self._reward_model = None

    @property
    def reward_model(self):
        if self._reward_model is None:
            import torch

            from posttrain.models.reward import RewardModel

            self._reward_model = RewardModel.load(self.model_path, dtype=getattr(torch, self.dtype))
        return self._reward_model

    def score_batch(self, prompts: list[Any], completions: list[str]) -> list[float]:
        """One reward per (prompt, completion) pair, in input order."""
        conversations = [
            ([{"role": "user", "content": prompt}] if isinstance(prompt, str) else list(prompt))
            + [{"role": "assistant", "content": completion}]
            for prompt, completion in zip(prompts, completions, strict=True)
        ]
        return self.reward_model.score(conversations, self.batch_size)

    def __call__(self, prompt: Any, completion: str, **_: Any) -> float:
        return self.score_batch([prompt], [completion])[0]


def reward_model_scorer(model_path: str, **kwargs: Any) -> RewardModelScorer:
    """A lazy reward-model reward; ``kwargs`` are ``batch_size`` and ``dtype``."""
    return RewardModelScorer(model_path, **kwargs)
