"""Reward-model loss: Bradley-Terry ranking of a chosen over a rejected completion."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from posttrain.losses.output import LossOutput


def bradley_terry_loss(
    chosen_rewards: torch.Tensor,
    rejected_rewards: torch.Tensor,
    margin: torch.Tensor | None = None,
) -> LossOutput:
    """Batch mean of -log σ(r_c - r_r - m).

    chosen_rewards, rejected_rewards: (B,) scalar rewards of each pair's completions.
    margin: (B,) optional per-pair margin m (Llama 2's preference-strength margin, Touvron et
    al. 2023 eq. 2); None is plain Bradley-Terry (their eq. 1).
    Metrics: `rewards/accuracy`, the fraction of pairs with r_c > r_r (margin not applied),
    `rewards/margin`, the mean r_c - r_r, and the mean `rewards/chosen`, `rewards/rejected`.
    """
    reward_gaps = chosen_rewards - rejected_rewards  # (B,)
    logits = reward_gaps if margin is None else reward_gaps - margin
    losses = -F.logsigmoid(logits)  # (B,) -log P(chosen ≻ rejected) under Bradley-Terry
    reward_gaps = reward_gaps.detach()
    return LossOutput(
        loss=losses.mean(),
        metrics={
            "rewards/accuracy": (reward_gaps > 0).float().mean().item(),
            "rewards/margin": reward_gaps.mean().item(),
            "rewards/chosen": chosen_rewards.detach().mean().item(),
            "rewards/rejected": rejected_rewards.detach().mean().item(),
        },
    )
