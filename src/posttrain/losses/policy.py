"""Policy-gradient losses for RL fine-tuning: advantage estimators and the clipped surrogate.

Everything here is a pure function of tensors. Shapes: ``rewards`` is (P, G) for P prompts with
G sampled completions each; per-token tensors are flat (N,) over the completion tokens of all
sequences, in sequence order, with ``sequence_index`` (N,) naming each token's sequence.

Advantage estimators (chosen by name from :data:`ADVANTAGES`):

- ``grpo``: ``(r - mean_group) / (std_group + eps)`` (Shao et al. 2024, DeepSeekMath eq. 3 with
  outcome rewards); ``scale=False`` drops the division (Dr. GRPO, Liu et al. 2025).
- ``rloo``: ``r_i - mean_{j != i} r_j`` = ``G / (G - 1) * (r_i - mean_group)`` (Ahmadian et al. 2024).
- ``reinforce_pp``: ``r - mean_group``, then whitened over the whole batch (REINFORCE++ with a
  group baseline, Hu 2025): the batch, not the group, sets the scale.

Token aggregation (:func:`token_weights`) turns per-token losses into one number:

- ``sequence_mean``: mean over each sequence's tokens, then over sequences (the original GRPO);
- ``token_mean``: one mean over every token of the batch (DAPO), so long answers weigh more;
- ``constant``: sum over tokens divided by ``sequences * max_new_tokens`` (Dr. GRPO), which
  removes the length bias of both means.

The weights take the *global* batch's counts, so micro-batches of one step add up to exactly the
full-batch loss however they are cut.

Policy losses (chosen by name from :data:`POLICY_LOSSES`, the config's ``policy_loss``):

- ``ppo_clip``: PPO's clipped surrogate on per-token ratios (:func:`clipped_policy_loss`);
- ``gspo``: the same surrogate on a length-normalised *sequence* ratio, clipped per sequence
  (:func:`gspo_policy_loss`, Zheng et al. 2025);
- ``cispo``: REINFORCE weighted by the capped, gradient-free token ratio, so no token loses its
  gradient to clipping (:func:`cispo_policy_loss`, MiniMax-M1 2025).

Rollouts sampled by another engine (``engine: vllm``) come with that engine's log-probs, which differ
from the trainer's for the same weights (other kernels, other summation order, bf16). The policy
gradient then runs off-policy; :func:`truncated_importance_weights` corrects it per token (truncated
importance sampling, Yao et al. 2025, "Your efficient RL framework secretly brings you off-policy RL
training") and :func:`logprob_mismatch` measures the gap.

PPO with a learned critic (``posttrain ppo``) adds: the KL-shaped per-token rewards
(:func:`kl_shaped_rewards`), :func:`gae` (generalised advantage estimation over padded (B, T)
per-token rewards and values), :func:`whiten` (over valid tokens; :func:`whiten_by_moments` over ranks),
:func:`value_loss` (the clipped value loss) and the KL-coefficient controllers
(:class:`AdaptiveKLController`, :class:`FixedKLController`).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from posttrain.losses.output import LossOutput


def grpo_advantages(rewards: torch.Tensor, *, scale: bool = True, eps: float = 1e-4) -> torch.Tensor:
    """Group-normalised advantages, (P, G) -> (P, G). The std is the sample std (unbiased)."""
    centred = rewards - rewards.mean(dim=1, keepdim=True)
    if not scale:
        return centred
    return centred / (rewards.std(dim=1, keepdim=True) + eps)


def rloo_advantages(rewards: torch.Tensor, **_) -> torch.Tensor:
    """Leave-one-out baseline: each sample minus the mean of the other G - 1. (P, G) -> (P, G)"""
    group = rewards.shape[1]
    if group < 2:
        raise ValueError("rloo needs at least 2 samples per prompt")
    return (rewards - rewards.mean(dim=1, keepdim=True)) * group / (group - 1)


def reinforce_pp_advantages(rewards: torch.Tensor, *, eps: float = 1e-4, **_) -> torch.Tensor:
    """Group mean subtracted, then whitened with the whole batch's std. (P, G) -> (P, G)"""
    centred = rewards - rewards.mean(dim=1, keepdim=True)
    return (centred - centred.mean()) / (centred.std() + eps) if centred.numel() > 1 else centred


ADVANTAGES: dict[str, Callable[..., torch.Tensor]] = {
    "grpo": grpo_advantages,
    "rloo": rloo_advantages,
    "reinforce_pp": reinforce_pp_advantages,
}
AGGREGATIONS = ("sequence_mean", "token_mean", "constant")


def compute_advantages(name: str, rewards: torch.Tensor, *, scale: bool = True) -> torch.Tensor:
    if name not in ADVANTAGES:
        raise ValueError(f"unknown advantage estimator {name!r}; choose one of: {', '.join(ADVANTAGES)}")
    if name == "grpo":
        return grpo_advantages(rewards, scale=scale)
    return ADVANTAGES[name](rewards)


def overlong_penalties(lengths: torch.Tensor, max_new_tokens: int, buffer: int, penalty: float) -> torch.Tensor:
    """DAPO's soft overlong punishment (Yu et al. 2025, eq. 13), added to the rewards. (S,) -> (S,), <= 0.

    A completion of L tokens is free up to ``max_new_tokens - buffer``, then loses linearly more, down
    to ``-penalty`` at ``max_new_tokens`` (and beyond):
    ``-penalty * clamp((L - (max_new_tokens - buffer)) / buffer, 0, 1)``. A truncated answer is
    usually wrong for want of room, not reasoning; the ramp tells the policy so before the hard limit.
    ``buffer`` 0 turns it off.
    """
    if buffer <= 0:
        return torch.zeros(lengths.shape)
    excess = (lengths.to(torch.float32) - (max_new_tokens - buffer)) / buffer
    return -penalty * excess.clamp(0.0, 1.0)


def token_weights(sequence_index: torch.Tensor, sequence_lengths: torch.Tensor, aggregation: str, *,
                  total_sequences: int, total_tokens: int, max_new_tokens: int) -> torch.Tensor:
    """Weight of each token's loss so that ``sum(weight * token_loss)`` is the batch loss. (N,)

    ``sequence_lengths`` (S,) are the token counts of the sequences this call covers (indexed by
    ``sequence_index``); ``total_*`` count the whole global batch.
    """
    if aggregation == "sequence_mean":
        return 1.0 / (sequence_lengths[sequence_index].to(torch.float32) * total_sequences)
    if aggregation == "token_mean":
        return torch.full(sequence_index.shape, 1.0 / total_tokens, device=sequence_index.device)
    if aggregation == "constant":
        return torch.full(sequence_index.shape, 1.0 / (total_sequences * max_new_tokens), device=sequence_index.device)
    raise ValueError(f"unknown aggregation {aggregation!r}; choose one of: {', '.join(AGGREGATIONS)}")


def k3_kl(logps: torch.Tensor, ref_logps: torch.Tensor) -> torch.Tensor:
    """Per-token KL(pi || ref) estimate ``exp(ref - logp) - (ref - logp) - 1`` (Schulman's k3):
    unbiased for samples from pi, always >= 0. (N,)"""
    log_ratio = ref_logps - logps
    return torch.exp(log_ratio) - log_ratio - 1.0


def _clipped_surrogate(ratio: torch.Tensor, advantages: torch.Tensor, clip_low: float,
                       clip_high: float) -> tuple[torch.Tensor, torch.Tensor]:
    """PPO's per-token term ``-min(rho A, clip(rho, 1 - clip_low, 1 + clip_high) A)`` and where the
    clipped side was taken. (N,), (N,) bool"""
    unclipped = ratio * advantages
    clipped = ratio.clamp(1.0 - clip_low, 1.0 + clip_high) * advantages
    return -torch.minimum(unclipped, clipped), clipped != unclipped


def clipped_policy_loss(
    logps: torch.Tensor,
    old_logps: torch.Tensor,
    advantages: torch.Tensor,
    weights: torch.Tensor,
    *,
    clip_low: float = 0.2,
    clip_high: float = 0.2,
    ref_logps: torch.Tensor | None = None,
    kl_coef: float = 0.0,
    tis_weights: torch.Tensor | None = None,
    **_,
) -> LossOutput:
    """PPO's clipped surrogate per token (Schulman et al. 2017, eq. 7), plus an optional k3 KL term.

    All inputs are (N,) over completion tokens: current and sampling-time log-probs, the token's
    sequence advantage, and its aggregation weight. ``clip_high > clip_low`` is DAPO's clip-higher.
    loss = sum_i w_i * ( -t_i * min(rho_i A_i, clip(rho_i, 1 - clip_low, 1 + clip_high) A_i) + kl_coef * KL_i )
    where ``t_i`` are the (detached) ``tis_weights`` of :func:`truncated_importance_weights`, 1 when not given.
    """
    ratio = torch.exp(logps - old_logps)  # (N,) rho
    per_token, was_clipped = _clipped_surrogate(ratio, advantages, clip_low, clip_high)
    return _weighted_policy_loss(per_token, ratio, was_clipped, logps, weights, ref_logps, kl_coef, tis_weights)


def gspo_policy_loss(
    logps: torch.Tensor,
    old_logps: torch.Tensor,
    advantages: torch.Tensor,
    weights: torch.Tensor,
    *,
    sequence_index: torch.Tensor,
    clip_low: float = 3e-4,
    clip_high: float = 4e-4,
    ref_logps: torch.Tensor | None = None,
    kl_coef: float = 0.0,
    tis_weights: torch.Tensor | None = None,
    **_,
) -> LossOutput:
    """GSPO (Zheng et al. 2025, "Group Sequence Policy Optimization"): PPO's clipped surrogate on a
    *sequence* importance ratio, in its "GSPO-token" form (eq. 13-14). (N,) inputs as in
    :func:`clipped_policy_loss`; ``sequence_index`` (N,) names each token's sequence, and every token of
    a sequence must be in this call (our micro-batches hold whole sequences).

    s_i = exp(mean_{t in i} (logp_t - old_t)) is the length-normalised sequence ratio (eq. 7); each token
    uses ``s_t = sg(s_i) * exp(logp_t - sg(logp_t))``, equal to s_i in value, whose gradient is
    ``s_i * grad logp_t``: with one advantage per sequence this is exactly GSPO's gradient (eq. 11) under
    any token aggregation, and it still allows per-token advantages. Clipping acts on s_i, so a whole
    sequence is in or out; because s_i is a geometric mean of ratios close to 1 the paper's ranges are
    tiny (3e-4 / 4e-4 against PPO's 0.2).
    loss = sum_t w_t * ( -t_t * min(s_t A_t, clip(s_t, 1 - clip_low, 1 + clip_high) A_t) + kl_coef * KL_t )
    """
    log_ratio = (logps - old_logps).detach()  # (N,)
    sequences = int(sequence_index.max()) + 1 if sequence_index.numel() else 0
    counts = torch.bincount(sequence_index, minlength=sequences).to(log_ratio.dtype)  # (S,) tokens per sequence
    mean_log_ratio = torch.zeros(sequences, dtype=log_ratio.dtype, device=log_ratio.device).index_add_(
        0, sequence_index, log_ratio) / counts.clamp(min=1.0)  # (S,) log s_i
    ratio = torch.exp(mean_log_ratio[sequence_index] + logps - logps.detach())  # (N,) s_t: value s_i, gradient per token
    per_token, was_clipped = _clipped_surrogate(ratio, advantages, clip_low, clip_high)
    return _weighted_policy_loss(per_token, ratio, was_clipped, logps, weights, ref_logps, kl_coef, tis_weights)


def cispo_policy_loss(
    logps: torch.Tensor,
    old_logps: torch.Tensor,
    advantages: torch.Tensor,
    weights: torch.Tensor,
    *,
    cap: float = 5.0,
    ref_logps: torch.Tensor | None = None,
    kl_coef: float = 0.0,
    tis_weights: torch.Tensor | None = None,
    **_,
) -> LossOutput:
    """CISPO (MiniMax 2025, "MiniMax-M1", eq. 4-5): REINFORCE weighted by the clipped importance ratio,
    the weight stopped from gradient. (N,) inputs as in :func:`clipped_policy_loss`.

    loss = sum_t w_t * ( -t_t * sg(min(rho_t, cap)) * A_t * logp_t + kl_coef * KL_t )
    PPO's clip zeroes the gradient of a token whose ratio left the range (MiniMax found those were the
    rare "fork" tokens reflection hinges on); here every token keeps the gradient ``-w min(rho, cap) A``,
    the cap only bounding its variance. No lower clip, as MiniMax runs it (eps_low large); ``cap`` is the
    weight's maximum itself (ScaleRL's and TRL's eps_max, 5 recommended), not 1 + eps.
    """
    ratio = torch.exp(logps - old_logps)  # (N,) rho
    is_weight = ratio.clamp(max=cap).detach()  # (N,)
    per_token = -is_weight * advantages * logps
    return _weighted_policy_loss(per_token, ratio, ratio.detach() > cap, logps, weights, ref_logps, kl_coef, tis_weights)


def _weighted_policy_loss(per_token: torch.Tensor, ratio: torch.Tensor, clipped: torch.Tensor, logps: torch.Tensor,
                          weights: torch.Tensor, ref_logps: torch.Tensor | None, kl_coef: float,
                          tis_weights: torch.Tensor | None) -> LossOutput:
    """What every policy loss ends with: TIS weights, the k3 KL term, the weighted sum, metrics. (N,) inputs;
    ``clipped`` marks the tokens the loss's clip touched (``clip_fraction``)."""
    if tis_weights is not None:
        per_token = per_token * tis_weights.detach()
    metrics = {}
    if ref_logps is not None:
        kl = k3_kl(logps, ref_logps)
        if kl_coef:
            per_token = per_token + kl_coef * kl
        metrics["kl"] = float((kl.detach() * weights).sum())
    loss = (per_token * weights).sum()
    with torch.no_grad():
        metrics["clip_fraction"] = float((clipped.float() * weights).sum())
        metrics["ratio_mean"] = float((ratio * weights).sum())
    return LossOutput(loss=loss, metrics=metrics)


# Each takes (logps, old_logps, advantages, weights) and its own keyword options (clip ranges, ``cap``,
# ``sequence_index``), ignoring the options of the others.
POLICY_LOSSES: dict[str, Callable[..., LossOutput]] = {
    "ppo_clip": clipped_policy_loss,
    "gspo": gspo_policy_loss,
    "cispo": cispo_policy_loss,
}


def policy_loss(name: str) -> Callable[..., LossOutput]:
    """The policy loss registered under ``name``."""
    if name not in POLICY_LOSSES:
        raise ValueError(f"unknown policy loss {name!r}; choose one of: {', '.join(POLICY_LOSSES)}")
    return POLICY_LOSSES[name]


def truncated_importance_weights(trainer_logps: torch.Tensor, engine_logps: torch.Tensor, cap: float) -> torch.Tensor:
    """Per-token TIS weight ``min(exp(trainer_logp - engine_logp), cap)``, detached. (N,)

    The rollout engine sampled token ``a`` with probability ``pi_engine(a)``; the gradient wants
    samples of the trainer's ``pi_old(a)`` (the same weights, computed by the trainer). Reweighting by
    ``pi_old / pi_engine`` makes it on-policy again; capping the weight at ``cap`` (2 in the paper)
    bounds the variance that rare tokens the engine underrates would add. Both inputs are the
    log-probs of the sampled tokens, (N,).
    """
    return torch.exp(trainer_logps.detach() - engine_logps.detach()).clamp(max=cap)


def logprob_mismatch(trainer_logps: torch.Tensor, engine_logps: torch.Tensor, cap: float | None = None
                     ) -> dict[str, float]:
    """How far the engine's log-probs of the sampled tokens are from the trainer's, as token means:

    - ``mismatch/abs_logp_diff``: mean ``|trainer - engine|``;
    - ``mismatch/kl_k3``: mean of ``exp(d) - d - 1`` with ``d = trainer - engine``: Schulman's k3
      estimate of KL(pi_engine || pi_trainer) from tokens the engine sampled (>= 0, 0 when they agree);
    - with ``cap``: ``mismatch/tis_weight_mean`` and ``mismatch/tis_truncated_fraction`` (weights at the cap).

    Inputs (N,); an empty batch gives zeros.
    """
    if trainer_logps.numel() == 0:
        return {"mismatch/abs_logp_diff": 0.0, "mismatch/kl_k3": 0.0}
    diff = (trainer_logps.detach() - engine_logps.detach()).double()  # (N,)
    metrics = {"mismatch/abs_logp_diff": float(diff.abs().mean()),
               "mismatch/kl_k3": float((torch.exp(diff) - diff - 1.0).mean())}
    if cap is not None:
        ratio = torch.exp(diff)
        metrics["mismatch/tis_weight_mean"] = float(ratio.clamp(max=cap).mean())
        metrics["mismatch/tis_truncated_fraction"] = float((ratio > cap).double().mean())
    return metrics


def gae(rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, gamma: float = 1.0,
        lam: float = 0.95) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimation (Schulman et al. 2016, eq. 16) over right-padded sequences.

    ``rewards``, ``values``, ``mask``: (B, T); ``mask`` is 1 on real tokens, which come first in
    each row. The episode ends after the last real token (the value after it is 0):
    ``delta_t = r_t + gamma * V_{t+1} - V_t`` and ``A_t = delta_t + gamma * lam * A_{t+1}``.
    Returns ``(advantages, returns)``, both (B, T) and 0 on padding; ``returns = A + V`` is the
    value target (the lambda-return).
    """
    mask = mask.to(values.dtype)
    values, rewards = values * mask, rewards * mask
    advantages = torch.zeros_like(values)
    next_value = torch.zeros_like(values[:, 0])  # (B,) V_{t+1}; 0 after the last token
    next_advantage = torch.zeros_like(values[:, 0])  # (B,) A_{t+1}
    for t in reversed(range(values.shape[1])):
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        # On padding, carry nothing back: the real token before it sees V = A = 0 after it.
        advantages[:, t] = (delta + gamma * lam * next_advantage) * mask[:, t]
        next_value, next_advantage = values[:, t], advantages[:, t]
    return advantages, (advantages + values) * mask


def whiten(values: torch.Tensor, mask: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """``(x - mean) / std`` with mean and (population) std over the tokens where ``mask`` is 1;
    0 on the others. Any shape."""
    mask = mask.to(values.dtype)
    count = mask.sum().clamp(min=1.0)
    mean = (values * mask).sum() / count
    variance = (((values - mean) * mask) ** 2).sum() / count
    return (values - mean) * torch.rsqrt(variance + eps) * mask


def whitening_moments(values: torch.Tensor, mask: torch.Tensor) -> list[float]:
    """``[count, sum, sum of squares]`` of ``values`` over the tokens where ``mask`` is 1: what
    :func:`whiten_by_moments` needs, and what ranks sum to whiten over a batch spread across them."""
    mask = mask.to(values.dtype)
    return [float(mask.sum()), float((values * mask).sum()), float((values**2 * mask).sum())]


def whiten_by_moments(values: torch.Tensor, mask: torch.Tensor, count: float, total: float, squares: float,
                      eps: float = 1e-8) -> torch.Tensor:
    """:func:`whiten` with the mean ``total / count`` and population variance ``squares / count - mean^2``
    of the given moments (:func:`whitening_moments`, summed over every rank's tokens); 0 where ``mask`` is 0."""
    mask = mask.to(values.dtype)
    mean = total / max(count, 1.0)
    variance = max(squares / max(count, 1.0) - mean**2, 0.0)
    return (values - mean) * (variance + eps) ** -0.5 * mask


def kl_shaped_rewards(log_ratios: torch.Tensor, lengths: torch.Tensor, scores: torch.Tensor,
                      kl_coef: float) -> torch.Tensor:
    """PPO-RLHF's per-token rewards (Ziegler et al. 2019, eq. 2; Ouyang et al. 2022, eq. 2): every token
    gets ``-kl_coef * (logp - ref_logp)``, and the last token of each sequence also gets its score.

    ``log_ratios``: (S, T) right-padded ``logp - ref_logp`` (0 on padding); ``lengths``: (S,) real
    tokens per sequence (each >= 1); ``scores``: (S,) the reward of each whole sequence. Returns (S, T).
    """
    rewards = -kl_coef * log_ratios  # (S, T)
    rows = torch.arange(len(lengths), device=rewards.device)
    rewards[rows, lengths.to(rewards.device) - 1] += scores.to(rewards.device)
    return rewards


def value_loss(values: torch.Tensor, old_values: torch.Tensor, returns: torch.Tensor, weights: torch.Tensor,
               clip: float | None = 0.2) -> LossOutput:
    """Clipped value loss of PPO's critic, per token: (N,) inputs, ``weights`` as in :func:`token_weights`.

    loss = sum_i w_i * 0.5 * max((V_i - R_i)^2, (V_old_i + clip(V_i - V_old_i, -c, c) - R_i)^2):
    the new value may not gain from moving more than ``clip`` away from the rollout-time value.
    ``clip=None`` is the plain squared error.
    """
    unclipped = (values - returns) ** 2  # (N,)
    if clip is None:
        per_token, clipped_fraction = unclipped, 0.0
    else:
        clipped_values = old_values + (values - old_values).clamp(-clip, clip)
        clipped = (clipped_values - returns) ** 2
        per_token = torch.maximum(unclipped, clipped)
        clipped_fraction = float(((clipped > unclipped).float() * weights).sum())
    loss = 0.5 * (per_token * weights).sum()
    return LossOutput(loss=loss, metrics={"value_loss": float(loss.detach()), "value_clip_fraction": clipped_fraction})


class FixedKLController:
    """A constant KL-penalty coefficient."""

    def __init__(self, coef: float):
        self.coef = coef

    def update(self, current_kl: float, n_steps: int) -> None:
        """Nothing to adapt."""


class AdaptiveKLController:
    """Adaptive KL-penalty coefficient (Ziegler et al. 2019, section 2.2).

    After each batch, with ``e = clip(KL / target - 1, -0.2, 0.2)`` (KL in nats per sequence):
    ``coef *= 1 + e * n_steps / horizon``, where ``n_steps`` counts the batch's samples. Above the
    target the penalty grows, below it shrinks, by at most 20% per ``horizon`` samples.
    """

    def __init__(self, coef: float, target: float, horizon: int):
        self.coef, self.target, self.horizon = coef, target, horizon

    def update(self, current_kl: float, n_steps: int) -> None:
        proportional_error = min(max(current_kl / self.target - 1.0, -0.2), 0.2)
        self.coef *= 1.0 + proportional_error * n_steps / self.horizon


def kl_controller(coef: float, target: float | None, horizon: int) -> AdaptiveKLController | FixedKLController:
    """Adaptive towards ``target`` nats per sequence, or fixed when ``target`` is None."""
    return FixedKLController(coef) if target is None else AdaptiveKLController(coef, target, horizon)
