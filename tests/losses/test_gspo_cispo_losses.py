"""GSPO and CISPO policy losses: numbers by hand, invariances, and parity with TRL's own loss code."""

import math
from collections import defaultdict
from types import SimpleNamespace

import pytest
import torch

from posttrain.losses.policy import (
    POLICY_LOSSES, clipped_policy_loss, cispo_policy_loss, gspo_policy_loss, policy_loss, token_weights,
)


def test_gspo_by_hand():
    """Three sequences of 2 tokens, weights 1/6 (token mean), clip 3e-4 / 4e-4.

    seq 0: log-ratios (0.1, -0.1), mean 0 -> s = 1, A = +1: unclipped, per-token loss -1, -1.
    seq 1: log-ratios (0.2, 0.0), mean 0.1 -> s = e^0.1 = 1.105171, A = +1: min(1.105171, 1.0004) = 1.0004,
           clipped: per-token loss -1.0004 twice and no gradient.
    seq 2: same ratios, A = -1: min(-1.105171, -1.0004) = -1.105171 is the unclipped term: loss +1.105171 twice.
    loss = (-2 - 2.0008 + 2.210342) / 6 = -0.298410.
    d loss / d logp_t = -w A s_i (the sequence ratio, per token): seq 0 -1/6 = -0.166667, seq 1 0,
    seq 2 +1.105171 / 6 = 0.184195. clip_fraction (ratio out of range, as for ppo_clip) 4/6; ratio_mean (2 + 4 * 1.105171) / 6 = 1.070114.
    """
    old = torch.tensor([-1.0, -2.0, -1.0, -2.0, -1.0, -2.0])
    logps = (old + torch.tensor([0.1, -0.1, 0.2, 0.0, 0.2, 0.0])).requires_grad_()
    advantages = torch.tensor([1.0, 1.0, 1.0, 1.0, -1.0, -1.0])
    index = torch.tensor([0, 0, 1, 1, 2, 2])
    output = gspo_policy_loss(logps, old, advantages, torch.full((6,), 1 / 6), sequence_index=index,
                              clip_low=3e-4, clip_high=4e-4)
    assert float(output.loss.detach()) == pytest.approx(-0.298410, abs=1e-6)
    output.loss.backward()
    assert logps.grad.tolist() == pytest.approx([-0.166667] * 2 + [0.0] * 2 + [0.184195] * 2, abs=1e-6)
    assert output.metrics["clip_fraction"] == pytest.approx(2 / 3)
    assert output.metrics["ratio_mean"] == pytest.approx(1.070114, abs=1e-6)


def test_gspo_on_one_token_sequences_is_ppo_clip():
    """Invariance: a one-token sequence's ratio is its token's ratio, so GSPO is PPO's clipped loss there."""
    torch.manual_seed(0)
    logps = torch.randn(6, requires_grad=True)
    old, advantages, weights = logps.detach() + 0.3 * torch.randn(6), torch.randn(6), torch.full((6,), 1 / 6)
    gspo = gspo_policy_loss(logps, old, advantages, weights, sequence_index=torch.arange(6), clip_low=0.2, clip_high=0.2)
    ppo = clipped_policy_loss(logps, old, advantages, weights, clip_low=0.2, clip_high=0.2)
    assert float(gspo.loss) == pytest.approx(float(ppo.loss), abs=1e-6)
    assert torch.allclose(torch.autograd.grad(gspo.loss, logps)[0], torch.autograd.grad(ppo.loss, logps)[0], atol=1e-6)


def test_cispo_by_hand():
    """Weights 1/3, cap 5, no lower clip.

    token 1: pi 0.5, old 0.25 -> rho 2, A = +1: loss -2 * ln 0.5 = 1.386294;
    token 2: pi 0.6, old 0.1 -> rho 6, capped at 5, A = +1: loss -5 * ln 0.6 = 2.554128;
    token 3: pi 0.2, old 0.4 -> rho 0.5 (kept: no lower clip), A = -1: loss 0.5 * ln 0.2 = -0.804719.
    loss = (1.386294 + 2.554128 - 0.804719) / 3 = 1.045234.
    The weight is a constant, so d loss / d logp_t = -w sg(min(rho, 5)) A = (-2/3, -5/3, +0.5/3):
    token 2 keeps its gradient where PPO's clip (rho 6 > 1.2 with A > 0) gives it none.
    clip_fraction 1/3 (token 2 at the cap); ratio_mean (2 + 6 + 0.5) / 3 = 2.833333.
    """
    logps = torch.tensor([0.5, 0.6, 0.2]).log().requires_grad_()
    old, advantages, weights = torch.tensor([0.25, 0.1, 0.4]).log(), torch.tensor([1.0, 1.0, -1.0]), torch.full((3,), 1 / 3)
    output = cispo_policy_loss(logps, old, advantages, weights, cap=5.0)
    assert float(output.loss.detach()) == pytest.approx(1.045234, abs=1e-6)
    output.loss.backward()
    assert logps.grad.tolist() == pytest.approx([-2 / 3, -5 / 3, 0.5 / 3], abs=1e-6)
    assert output.metrics["clip_fraction"] == pytest.approx(1 / 3)
    assert output.metrics["ratio_mean"] == pytest.approx(2.833333, abs=1e-6)
    (ppo_grad,) = torch.autograd.grad(clipped_policy_loss(logps, old, advantages, weights).loss, logps)
    assert ppo_grad[1] == 0.0


@pytest.mark.parametrize("name", ["gspo", "cispo"])
def test_on_policy_gradient_is_minus_weighted_advantage(name):
    """With old = current (detached) every ratio is 1, nothing is clipped, and all three losses have
    PPO's on-policy gradient d loss / d logp_i = -A_i w_i (here (-0.4, 0.3, -0.25))."""
    logps = torch.tensor([-1.0, -2.0, -0.5], requires_grad=True)
    advantages, weights = torch.tensor([2.0, -1.0, 0.5]), torch.tensor([0.2, 0.3, 0.5])
    policy_loss(name)(logps, logps.detach(), advantages, weights, sequence_index=torch.tensor([0, 0, 1])).loss.backward()
    assert logps.grad.tolist() == pytest.approx([-0.4, 0.3, -0.25])


@pytest.mark.parametrize("name", ["gspo", "cispo"])
def test_tis_and_kl_compose_as_in_ppo_clip(name):
    """On policy (ratio 1), A = (+1, -1), w = 1/2, TIS t = (1.5, 0.2): the gradient is -w t A = (-0.75, +0.1)
    as for ppo_clip; the k3 KL to a reference at pi/2 (0.19315 per token, by hand in test_policy_losses)
    adds kl_coef * 0.19315 = 0.019315 to the loss."""
    logps = torch.tensor([math.log(0.5), math.log(0.5)], requires_grad=True)
    options = {"sequence_index": torch.tensor([0, 1]), "tis_weights": torch.tensor([1.5, 0.2])}
    args = (logps, logps.detach(), torch.tensor([1.0, -1.0]), torch.tensor([0.5, 0.5]))
    plain = policy_loss(name)(*args, **options)
    plain.loss.backward()
    assert logps.grad.tolist() == pytest.approx([-0.75, 0.1], abs=1e-6)
    ref = torch.full((2,), math.log(0.25))
    penalised = policy_loss(name)(*args, ref_logps=ref, kl_coef=0.1, **options)
    assert float(penalised.loss - plain.loss) == pytest.approx(0.019315, abs=1e-6)
    assert penalised.metrics["kl"] == pytest.approx(0.19315, abs=1e-5)


def test_unknown_policy_loss_is_named():
    assert set(POLICY_LOSSES) == {"ppo_clip", "gspo", "cispo"}
    with pytest.raises(ValueError, match="ppo_clip, gspo, cispo"):
        policy_loss("grpo")


# --- parity with TRL: its GRPOTrainer._compute_loss run on our tensors ---------------------------------------

def _trl_loss(loss_type: str, level: str, logps: torch.Tensor, old: torch.Tensor, mask: torch.Tensor,
              advantages: torch.Tensor, epsilon_low: float, epsilon_high: float) -> torch.Tensor:
    """TRL's own ``GRPOTrainer._compute_loss`` (unbound) on (B, T) padded log-probs, with a stub ``self``
    that supplies the attributes it reads and returns ``logps`` as the model's per-token log-probs."""
    from trl import GRPOTrainer

    stub = SimpleNamespace(
        _get_per_token_logps_and_entropies=lambda *args, **kwargs: (logps, torch.zeros_like(logps), None),
        top_entropy_quantile=1.0, off_policy_mask_threshold=None, importance_sampling_level=level, beta=0.0,
        loss_type=loss_type, epsilon_low=epsilon_low, epsilon_high=epsilon_high, use_vllm=False,
        args=SimpleNamespace(use_bias_correction_kl=False, delta=None, steps_per_generation=1),
        model=SimpleNamespace(training=True), current_gradient_accumulation_steps=1,
        accelerator=SimpleNamespace(num_processes=1, gather=lambda x: x, reduce=lambda x, reduction: x,
                                    gather_for_metrics=lambda x: x),
        _entropy_bonus_enabled=False, aux_loss_enabled=False, _metrics=defaultdict(lambda: defaultdict(list)))
    inputs = {"prompt_ids": torch.zeros(len(logps), 1, dtype=torch.long), "prompt_mask": torch.ones(len(logps), 1),
              "completion_ids": torch.zeros_like(mask, dtype=torch.long), "completion_mask": mask,
              "advantages": advantages, "old_per_token_logps": old, "num_items_in_batch": mask.sum()}
    return GRPOTrainer._compute_loss(stub, None, inputs)


def _parity_batch():
    """4 sequences of 5, 3, 4, 1 completion tokens, right-padded to (4, 5); log-probs moved from the
    sampling ones by up to ~1e-3 (GSPO: some sequence ratios inside 3e-4 / 4e-4, some outside) or ~2 (CISPO: some weights above the cap)."""
    torch.manual_seed(0)
    lengths = torch.tensor([5, 3, 4, 1])
    mask = (torch.arange(5) < lengths[:, None]).float()  # (B, T)
    old = -torch.rand(4, 5) * 3
    advantages = torch.tensor([1.2, -0.7, 0.4, -1.5])
    return lengths, mask, old, advantages


def _ours(name: str, padded_logps: torch.Tensor, old: torch.Tensor, mask: torch.Tensor, lengths: torch.Tensor,
          advantages: torch.Tensor, aggregation: str, **options) -> torch.Tensor:
    real = mask.bool()
    index = torch.arange(len(lengths)).repeat_interleave(lengths)  # (N,) flat tokens in sequence order
    weights = token_weights(index, lengths, aggregation, total_sequences=len(lengths), total_tokens=int(lengths.sum()),
                            max_new_tokens=mask.shape[1])
    return policy_loss(name)(padded_logps[real], old[real], advantages[index], weights, sequence_index=index,
                             **options).loss


@pytest.mark.parametrize("name, loss_type, level, aggregation, spread, options", [
    # TRL's GSPO: sequence-level ratio with its "grpo" loss (per-sequence mean, then mean): our sequence_mean.
    ("gspo", "grpo", "sequence", "sequence_mean", 2e-3, {"clip_low": 3e-4, "clip_high": 4e-4}),
    # TRL's GSPO with its "dapo" (global token mean) normaliser: our token_mean.
    ("gspo", "dapo", "sequence", "token_mean", 2e-3, {"clip_low": 3e-4, "clip_high": 4e-4}),
    # TRL's CISPO: token-level, epsilon_high is the weight's cap (5.0 recommended), global token mean.
    ("cispo", "cispo", "token", "token_mean", 4.0, {"cap": 5.0}),
])
def test_parity_with_trl(name, loss_type, level, aggregation, spread, options):
    """Same batch into TRL's loss code and ours: loss values and gradients agree to 1e-5 (measured: ~1e-7)."""
    pytest.importorskip("trl", reason="parity with TRL needs trl installed (the benchmarks' extra; CI skips it)")
    lengths, mask, old, advantages = _parity_batch()
    logps = (old + spread * (torch.rand(4, 5) - 0.5)).requires_grad_()
    if name == "gspo":
        epsilons = (options["clip_low"], options["clip_high"])
    else:
        epsilons = (0.2, options["cap"])
    theirs = _trl_loss(loss_type, level, logps, old, mask, advantages.clone(), *epsilons)
    (their_grad,) = torch.autograd.grad(theirs, logps)
    ours = _ours(name, logps, old, mask, lengths, advantages, aggregation, **options)
    (our_grad,) = torch.autograd.grad(ours, logps)
    assert abs(float(ours) - float(theirs)) < 1e-5
    assert float((our_grad - their_grad).abs().max()) < 1e-5
    if name == "gspo":  # the batch exercises the clip: some sequences in range, some out
        ratios = torch.exp(((logps - old) * mask).sum(1) / lengths).detach()
        clipped = (ratios < 1 - 3e-4) | (ratios > 1 + 4e-4)
        assert clipped.any() and not clipped.all()
    else:
        assert (torch.exp(logps - old)[mask.bool()] > 5.0).any()  # some weights at the cap
