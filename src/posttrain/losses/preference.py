"""Preference losses over per-sequence log-probs: DPO (sigmoid), IPO, SimPO, ORPO and KTO.

Every function is a pure function of tensors. Log-probs arrive summed over each completion's
tokens, shape (B,); the length-normalised variants divide by the completion token counts
themselves. Each returns a `LossOutput`: the batch-mean loss and detached metrics.

Pick a variant by name from the registry rather than branching on a string:

    spec = get_loss("ipo")                        # ValueError listing the valid names if unknown
    out = spec.fn(PairedLogps(...), beta=0.1)     # spec.paired is False for kto: see kto_loss
    out.loss.backward()

Hyperparameters are keyword arguments with each paper's usual default. Every variant has a
`beta` strength knob (it is τ in IPO and λ in ORPO), so one config field can feed any of them.

Metrics: `rewards/chosen` and `rewards/rejected` are batch means of each loss's own implicit
reward (β times a log-ratio for the reference-based losses, the loss's scaled score for the
reference-free ones), `rewards/margin` the mean chosen-minus-rejected difference,
`rewards/accuracy` the fraction of pairs whose chosen reward is strictly higher, and
`logps/chosen`, `logps/rejected` the mean summed policy log-probs.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from posttrain.losses.output import LossOutput


@dataclass
class PairedLogps:
    """Summed log-probs of a batch of (prompt, chosen, rejected) triples."""

    chosen_logps: torch.Tensor  # (B,) policy, summed over the chosen completion's tokens
    rejected_logps: torch.Tensor  # (B,)
    chosen_lengths: torch.Tensor  # (B,) completion token counts, for the length-normalised variants
    rejected_lengths: torch.Tensor  # (B,)
    ref_chosen_logps: torch.Tensor | None = None  # (B,) reference model; None for reference-free losses
    ref_rejected_logps: torch.Tensor | None = None


@dataclass
class PreferenceLoss:
    """One registry entry: what the loss is called, how to call it, and what it needs."""

    name: str
    fn: Callable[..., LossOutput]
    needs_reference: bool  # the trainer must run a reference model to fill ref_*_logps
    paired: bool = True  # False: fn takes unpaired (logps, ref_logps, labels, kl) instead of PairedLogps


def _per_token(logps: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Per-token average of summed log-probs, (B,). A zero length counts as one token."""
    return logps / lengths.to(logps.dtype).clamp(min=1)


def _reference_logratios(logps: PairedLogps, loss_name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """log π(y|x) - log π_ref(y|x) for chosen and rejected, each (B,)."""
    if logps.ref_chosen_logps is None or logps.ref_rejected_logps is None:
        raise ValueError(
            f"the {loss_name!r} preference loss needs reference log-probs "
            "(ref_chosen_logps and ref_rejected_logps)"
        )
    return logps.chosen_logps - logps.ref_chosen_logps, logps.rejected_logps - logps.ref_rejected_logps


def _pair_metrics(
    chosen_rewards: torch.Tensor, rejected_rewards: torch.Tensor, logps: PairedLogps
) -> dict[str, float]:
    chosen_rewards, rejected_rewards = chosen_rewards.detach(), rejected_rewards.detach()
    return {
        "rewards/chosen": chosen_rewards.mean().item(),
        "rewards/rejected": rejected_rewards.mean().item(),
        "rewards/margin": (chosen_rewards - rejected_rewards).mean().item(),
        "rewards/accuracy": (chosen_rewards > rejected_rewards).float().mean().item(),
        "logps/chosen": logps.chosen_logps.detach().mean().item(),
        "logps/rejected": logps.rejected_logps.detach().mean().item(),
    }


def sigmoid_loss(logps: PairedLogps, *, beta: float = 0.1, label_smoothing: float = 0.0) -> LossOutput:
    """DPO (Rafailov et al. 2023), optionally conservative (cDPO, label_smoothing = ε > 0).

    With h = (π_c - ref_c) - (π_r - ref_r) on summed log-probs:
    loss = -(1 - ε) log σ(βh) - ε log σ(-βh), i.e. the preference label is taken to be
    flipped with probability ε. ε = 0 is plain DPO. Rewards are β(π - ref).
    """
    chosen_logratios, rejected_logratios = _reference_logratios(logps, "sigmoid")  # (B,), (B,)
    logits = beta * (chosen_logratios - rejected_logratios)  # (B,) βh
    # DPO eq. 7; the ε term is the same loss with chosen and rejected swapped (cDPO)
    losses = -(1 - label_smoothing) * F.logsigmoid(logits) - label_smoothing * F.logsigmoid(-logits)
    return LossOutput(
        loss=losses.mean(),
        metrics=_pair_metrics(beta * chosen_logratios, beta * rejected_logratios, logps),
    )


def ipo_loss(logps: PairedLogps, *, beta: float = 0.1) -> LossOutput:
    """IPO (Azar et al. 2023): loss = (h - 1/(2τ))², with τ = beta.

    h = (π̄_c - ref̄_c) - (π̄_r - ref̄_r) uses per-token AVERAGED log-probs (summed log-prob
    divided by the completion length), as common implementations do, so the target 1/(2τ)
    does not depend on how long the completions are. Rewards are τ(π̄ - ref̄).
    """
    chosen_logratios, rejected_logratios = _reference_logratios(logps, "ipo")  # (B,), summed
    chosen_logratios = _per_token(chosen_logratios, logps.chosen_lengths)  # (B,), averaged
    rejected_logratios = _per_token(rejected_logratios, logps.rejected_lengths)
    # Azar et al. eq. 17: squared distance of the log-ratio gap from 1/(2τ)
    losses = (chosen_logratios - rejected_logratios - 1 / (2 * beta)) ** 2  # (B,)
    return LossOutput(
        loss=losses.mean(),
        metrics=_pair_metrics(beta * chosen_logratios, beta * rejected_logratios, logps),
    )


def simpo_loss(logps: PairedLogps, *, beta: float = 2.0, gamma: float = 0.5) -> LossOutput:
    """SimPO (Meng et al. 2024), reference-free: loss = -log σ(β/|y_c| π_c - β/|y_r| π_r - γ).

    gamma is the target reward margin γ of the paper, in reward units. The SimPO code and TRL
    take gamma_beta_ratio = γ/β instead; the defaults here (β = 2.0, γ = 0.5) are their
    gamma_beta_ratio = 0.25. Rewards are the length-normalised scores β/|y| π.
    """
    chosen_rewards = beta * _per_token(logps.chosen_logps, logps.chosen_lengths)  # (B,) eq. 4
    rejected_rewards = beta * _per_token(logps.rejected_logps, logps.rejected_lengths)
    # Meng et al. eq. 6: Bradley-Terry on length-normalised rewards with a target margin γ
    losses = -F.logsigmoid(chosen_rewards - rejected_rewards - gamma)  # (B,)
    return LossOutput(loss=losses.mean(), metrics=_pair_metrics(chosen_rewards, rejected_rewards, logps))


def _log_odds(avg_logps: torch.Tensor) -> torch.Tensor:
    """log(p / (1 - p)) for p = exp(avg_logps), elementwise, stable for p near 0 and near 1.

    log(1 - eˣ) is log(-expm1(x)) for x > -log 2, where 1 - eˣ would cancel, and log1p(-eˣ)
    below (Mächler 2012, "Accurately computing log(1 - exp(-|a|))"). Each branch only sees
    inputs it is accurate on, so torch.where passes no inf/nan gradient from the unused one.
    x is clamped just below 0: a completion predicted with certainty gets large, finite odds.
    """
    x = avg_logps.clamp(max=-torch.finfo(avg_logps.dtype).tiny)
    near_one = x > -math.log(2)
    log1m_exp = torch.where(
        near_one,
        torch.log(-torch.expm1(x)),
        torch.log1p(-torch.exp(x.clamp(max=-math.log(2)))),
    )
    return x - log1m_exp


def orpo_loss(logps: PairedLogps, *, beta: float = 0.1) -> LossOutput:
    """ORPO (Hong et al. 2024), reference-free: loss = NLL_c - λ log σ(log odds(y_c) - log odds(y_r)).

    λ = beta. P(y|x) is the per-token average likelihood exp(π/|y|), and
    log odds(y) = log P - log(1 - P). The SFT term NLL_c is the chosen completion's mean
    per-token negative log-likelihood, taken from the inputs (per sequence, then batch mean).
    Rewards are λ log odds(y); extra metrics: `nll_loss` and `log_odds_ratio` (batch means).
    """
    chosen_avg_logps = _per_token(logps.chosen_logps, logps.chosen_lengths)  # (B,) log P(y_c|x)
    rejected_avg_logps = _per_token(logps.rejected_logps, logps.rejected_lengths)
    nll_losses = -chosen_avg_logps  # (B,) L_SFT
    chosen_log_odds = _log_odds(chosen_avg_logps)  # (B,) log of eq. 4's odds
    rejected_log_odds = _log_odds(rejected_avg_logps)
    log_odds_ratio = chosen_log_odds - rejected_log_odds  # (B,)
    # Hong et al. eq. 6 (L_SFT + λ L_OR) with L_OR = -log σ(log OR) from eq. 7
    losses = nll_losses - beta * F.logsigmoid(log_odds_ratio)
    metrics = _pair_metrics(beta * chosen_log_odds, beta * rejected_log_odds, logps)
    metrics["nll_loss"] = nll_losses.detach().mean().item()
    metrics["log_odds_ratio"] = log_odds_ratio.detach().mean().item()
    return LossOutput(loss=losses.mean(), metrics=metrics)


def kto_loss(
    policy_logps: torch.Tensor,
    ref_logps: torch.Tensor,
    labels: torch.Tensor,
    kl: torch.Tensor | float,
    *,
    beta: float = 0.1,
    desirable_weight: float = 1.0,
    undesirable_weight: float = 1.0,
) -> LossOutput:
    """KTO (Ethayarajh et al. 2024) on unpaired completions, each labelled good or bad.

    policy_logps, ref_logps: (B,) summed log-probs; labels: (B,) bool, True = desirable.
    kl: the reference point z0, an estimate of KL(π ‖ π_ref) (the paper uses the mean
    log-ratio of mismatched prompt/completion pairs from the batch; computing it is the
    caller's job). It is detached and clamped at 0 here.
    With r = π - ref: desirable loss w_d (1 - σ(β(r - z0))), undesirable w_u (1 - σ(β(z0 - r))),
    averaged over the whole batch. Rewards are βr; `rewards/chosen` averages the desirable
    completions and `rewards/rejected` the undesirable ones, each reported only when present.
    """
    logratios = policy_logps - ref_logps  # (B,) r
    z0 = torch.as_tensor(kl, dtype=logratios.dtype, device=logratios.device).detach().clamp(min=0)
    desirable = labels.to(torch.bool)  # (B,)
    # Ethayarajh et al. eq. 7: loss = λ_y - v(x, y), v = λ_y σ(±β(r - z0))
    desirable_losses = desirable_weight * (1 - torch.sigmoid(beta * (logratios - z0)))
    undesirable_losses = undesirable_weight * (1 - torch.sigmoid(beta * (z0 - logratios)))
    losses = torch.where(desirable, desirable_losses, undesirable_losses)  # (B,)

    rewards = beta * logratios.detach()
    metrics: dict[str, float] = {"kl": z0.item()}
    if desirable.any():
        metrics["rewards/chosen"] = rewards[desirable].mean().item()
        metrics["logps/chosen"] = policy_logps.detach()[desirable].mean().item()
    if (~desirable).any():
        metrics["rewards/rejected"] = rewards[~desirable].mean().item()
        metrics["logps/rejected"] = policy_logps.detach()[~desirable].mean().item()
    if desirable.any() and (~desirable).any():
        metrics["rewards/margin"] = metrics["rewards/chosen"] - metrics["rewards/rejected"]
    return LossOutput(loss=losses.mean(), metrics=metrics)



def kto_reference_point(policy_logps: torch.Tensor, ref_logps: torch.Tensor) -> torch.Tensor:
    """KTO's reference point z0 for :func:`kto_loss`: the batch's mean log-ratio ``mean(π - ref)``,
    detached. (B,) -> ()

    A cheap estimate of KL(π ‖ π_ref) from the batch's own completions; the paper (Ethayarajh et
    al. 2024, section 4.1) averages over mismatched prompt/completion pairs, which costs an extra
    forward pass of policy and reference.
    """
    return (policy_logps - ref_logps).detach().mean()

PREFERENCE_LOSSES: dict[str, PreferenceLoss] = {
    spec.name: spec
    for spec in (
        PreferenceLoss("sigmoid", sigmoid_loss, needs_reference=True),
        PreferenceLoss("ipo", ipo_loss, needs_reference=True),
        PreferenceLoss("simpo", simpo_loss, needs_reference=False),
        PreferenceLoss("orpo", orpo_loss, needs_reference=False),
        PreferenceLoss("kto", kto_loss, needs_reference=True, paired=False),
    )
}


# Other names people use for a registered loss: DPO's original loss is the sigmoid one.
LOSS_ALIASES = {"dpo": "sigmoid"}


def get_loss(name: str) -> PreferenceLoss:
    """The registered preference loss called `name` (or an alias); ValueError listing the valid names otherwise."""
    try:
        return PREFERENCE_LOSSES[LOSS_ALIASES.get(name, name)]
    except KeyError:
        valid = ", ".join(PREFERENCE_LOSSES)
        raise ValueError(f"unknown preference loss {name!r}; valid names: {valid}") from None
