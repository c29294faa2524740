"""Reward-model losses: Bradley-Terry ranking of a chosen over a rejected completion, optionally centred."""

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


def reward_loss(chosen_rewards: torch.Tensor, rejected_rewards: torch.Tensor, margins: torch.Tensor | None,
                center_coef: float) -> LossOutput:
    """Bradley-Terry loss plus ``center_coef * mean((r_c + r_r)^2)``. Rewards and margins: (B,)

    The centring term (Eisenstein et al. 2023; TRL's ``center_rewards_coefficient``) pins the
    reward's free additive constant near zero, which Bradley-Terry alone leaves undetermined.
    Metrics: ``accuracy`` and ``margin`` (Bradley-Terry's ``rewards/accuracy``, ``rewards/margin``),
    the mean ``rewards/chosen``, ``rewards/rejected``, and ``center_loss`` when centring is on.
    """
    output = bradley_terry_loss(chosen_rewards, rejected_rewards, margins)
    metrics = {"accuracy": output.metrics.pop("rewards/accuracy"), "margin": output.metrics.pop("rewards/margin"),
               **output.metrics}
    loss = output.loss
    if center_coef:
        center = ((chosen_rewards + rejected_rewards) ** 2).mean()
        loss = loss + center_coef * center
        metrics["center_loss"] = center.item()
    return LossOutput(loss, metrics)
