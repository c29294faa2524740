"""Truncated importance sampling and the engine/trainer log-prob mismatch, by hand."""

import math

import pytest
import torch

from posttrain.losses.policy import clipped_policy_loss, logprob_mismatch, truncated_importance_weights


def test_tis_weights_by_hand():
    """Trainer probabilities (0.5, 0.3, 0.1) against the engine's (0.25, 0.3, 0.5): ratios 2, 1 and 0.2;
    capped at 1.5 -> (1.5, 1.0, 0.2)."""
    trainer = torch.tensor([0.5, 0.3, 0.1]).log()
    engine = torch.tensor([0.25, 0.3, 0.5]).log()
    assert truncated_importance_weights(trainer, engine, cap=1.5).tolist() == pytest.approx([1.5, 1.0, 0.2], abs=1e-6)


def test_tis_weights_carry_no_gradient():
    trainer = torch.tensor([-1.0, -2.0], requires_grad=True)
    weights = truncated_importance_weights(trainer, torch.tensor([-1.5, -1.0]), cap=2.0)
    assert not weights.requires_grad


def test_clipped_loss_with_tis_by_hand():
    """Ratio 1 (logps == old), A = (+1, -1), w = (1/2, 1/2), TIS t = (1.5, 0.2): per-token losses
    -t A = (-1.5, +0.2), loss = 0.5 * -1.5 + 0.5 * 0.2 = -0.65. Unclipped at ratio 1, so
    d loss / d logp_i = -w_i t_i A_i = (-0.75, +0.1)."""
    logps = torch.tensor([-0.7, -1.2], requires_grad=True)
    output = clipped_policy_loss(logps, logps.detach(), torch.tensor([1.0, -1.0]), torch.tensor([0.5, 0.5]),
                                 tis_weights=torch.tensor([1.5, 0.2]))
    assert float(output.loss.detach()) == pytest.approx(-0.65, abs=1e-6)
    output.loss.backward()
    assert logps.grad.tolist() == pytest.approx([-0.75, 0.1], abs=1e-6)


def test_tis_is_the_identity_when_engine_and_trainer_agree():
    """Invariance: engine log-probs equal to the trainer's give weights 1, so the loss and its gradient
    are those without TIS, whatever the cap."""
    torch.manual_seed(0)
    logps = torch.randn(7, requires_grad=True)
    old, advantages, weights = logps.detach() + 0.1 * torch.randn(7), torch.randn(7), torch.full((7,), 1 / 7)
    plain = clipped_policy_loss(logps, old, advantages, weights)
    (plain_grad,) = torch.autograd.grad(plain.loss, logps)
    tis = truncated_importance_weights(old, old.clone(), cap=2.0)
    assert tis.tolist() == [1.0] * 7
    reweighted = clipped_policy_loss(logps, old, advantages, weights, tis_weights=tis)
    (tis_grad,) = torch.autograd.grad(reweighted.loss, logps)
    assert reweighted.loss.item() == pytest.approx(plain.loss.item())
    assert torch.allclose(tis_grad, plain_grad)


def test_mismatch_by_hand():
    """d = trainer - engine = (+0.5, -0.5): mean |d| = 0.5; k3 = mean(e^0.5 - 1.5, e^-0.5 - 0.5)
    = mean(0.148721, 0.106531) = 0.127626. Ratios e^0.5 = 1.648721 (capped to 1.5) and e^-0.5 = 0.606531:
    mean TIS weight (1.5 + 0.606531) / 2 = 1.053265, half the tokens at the cap."""
    metrics = logprob_mismatch(torch.tensor([-1.0, -2.0]), torch.tensor([-1.5, -1.5]), cap=1.5)
    assert metrics["mismatch/abs_logp_diff"] == pytest.approx(0.5)
    assert metrics["mismatch/kl_k3"] == pytest.approx((math.exp(0.5) - 1.5 + math.exp(-0.5) - 0.5) / 2)
    assert metrics["mismatch/kl_k3"] == pytest.approx(0.127626, abs=1e-6)
    assert metrics["mismatch/tis_weight_mean"] == pytest.approx(1.053265, abs=1e-6)
    assert metrics["mismatch/tis_truncated_fraction"] == pytest.approx(0.5)


def test_mismatch_is_zero_when_they_agree_and_on_no_tokens():
    same = torch.tensor([-0.3, -4.0])
    assert logprob_mismatch(same, same.clone()) == {"mismatch/abs_logp_diff": 0.0, "mismatch/kl_k3": 0.0}
    assert logprob_mismatch(torch.zeros(0), torch.zeros(0)) == {"mismatch/abs_logp_diff": 0.0, "mismatch/kl_k3": 0.0}
