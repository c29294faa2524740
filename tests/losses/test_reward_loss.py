import math

import pytest
import torch

from posttrain.losses.reward import bradley_terry_loss, reward_loss


def f64(*values: float) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64)


def test_bradley_terry_hand_values():
    """r_c = (2, 0.5), r_r = (1, 1): gaps r_c - r_r = (1, -0.5).

    -log σ(1)    = log(1 + e^-1)  = log(1.367879) = 0.313262
    -log σ(-0.5) = log(1 + e^0.5) = log(2.648721) = 0.974077
    loss = (0.313262 + 0.974077) / 2 = 0.643669
    accuracy = 1/2 (only the first gap is > 0);  margin = (1 - 0.5) / 2 = 0.25.
    """
    out = bradley_terry_loss(f64(2, 0.5), f64(1, 1))
    assert out.loss.item() == pytest.approx(0.643669, abs=1e-6)
    assert out.metrics["rewards/accuracy"] == pytest.approx(0.5)
    assert out.metrics["rewards/margin"] == pytest.approx(0.25)
    assert out.metrics["rewards/chosen"] == pytest.approx(1.25)
    assert out.metrics["rewards/rejected"] == pytest.approx(1.0)


def test_bradley_terry_with_margin_hand_values():
    """Same pairs, Llama 2 margins m = (0.5, 0): logits r_c - r_r - m = (0.5, -0.5).

    -log σ(0.5)  = log(1 + e^-0.5) = log(1.606531) = 0.474077
    -log σ(-0.5) = 0.974077 (as above)
    loss = (0.474077 + 0.974077) / 2 = 0.724077
    The metrics ignore the margin: accuracy 1/2, mean gap 0.25.
    """
    out = bradley_terry_loss(f64(2, 0.5), f64(1, 1), margin=f64(0.5, 0))
    assert out.loss.item() == pytest.approx(0.724077, abs=1e-6)
    assert out.metrics["rewards/accuracy"] == pytest.approx(0.5)
    assert out.metrics["rewards/margin"] == pytest.approx(0.25)


def test_equal_rewards_give_log_2_and_zero_margin_is_no_margin():
    rewards = torch.randn(5, dtype=torch.float64)
    assert bradley_terry_loss(rewards, rewards).loss.item() == pytest.approx(math.log(2))
    chosen, rejected = torch.randn(5, dtype=torch.float64), torch.randn(5, dtype=torch.float64)
    plain = bradley_terry_loss(chosen, rejected).loss.item()
    assert bradley_terry_loss(chosen, rejected, margin=torch.zeros(5)).loss.item() == pytest.approx(plain)


def test_loss_depends_only_on_reward_differences():
    """Bradley-Terry sees r_c - r_r only: shifting both rewards of a pair changes nothing."""
    chosen, rejected = torch.randn(6, dtype=torch.float64), torch.randn(6, dtype=torch.float64)
    shift = torch.randn(6, dtype=torch.float64)
    plain = bradley_terry_loss(chosen, rejected).loss.item()
    assert bradley_terry_loss(chosen + shift, rejected + shift).loss.item() == pytest.approx(plain)


def test_swapping_chosen_and_rejected_flips_accuracy():
    """Gaps (1, -1, 2, 0.5): accuracy 3/4; swapped, the gaps change sign and accuracy is 1/4."""
    chosen, rejected = f64(1, 2, 3, 0.5), f64(0, 3, 1, 0)
    assert bradley_terry_loss(chosen, rejected).metrics["rewards/accuracy"] == pytest.approx(0.75)
    assert bradley_terry_loss(rejected, chosen).metrics["rewards/accuracy"] == pytest.approx(0.25)


def test_gradients_raise_chosen_and_lower_rejected_rewards():
    chosen = torch.randn(4, dtype=torch.float64, requires_grad=True)
    rejected = torch.randn(4, dtype=torch.float64, requires_grad=True)
    bradley_terry_loss(chosen, rejected).loss.backward()
    assert (chosen.grad < 0).all()
    assert (rejected.grad > 0).all()


def test_reward_loss_by_hand():
    """r_c = [1, 0], r_r = [0, 0], margins m = [0.5, 0], centring weight 0.1:
    Bradley-Terry: mean(-log σ(1 - 0 - 0.5), -log σ(0)) = mean(0.474077, 0.693147) = 0.583612;
    centring: 0.1 * mean((1 + 0)^2, (0 + 0)^2) = 0.05; total 0.633612.
    Accuracy counts strict wins before the margin (1 of 2); the margin metric is the mean gap 0.5."""
    output = reward_loss(torch.tensor([1.0, 0.0]), torch.tensor([0.0, 0.0]), torch.tensor([0.5, 0.0]), 0.1)
    assert output.loss.item() == pytest.approx(0.633612, abs=1e-6)
    assert output.metrics["accuracy"] == 0.5 and output.metrics["margin"] == pytest.approx(0.5)
    assert output.metrics["center_loss"] == pytest.approx(0.5)
    plain = reward_loss(torch.tensor([1.0, 0.0]), torch.tensor([0.0, 0.0]), None, 0.0)
    assert plain.loss.item() == pytest.approx((math.log1p(math.exp(-1)) + math.log(2)) / 2, abs=1e-6)
    assert "center_loss" not in plain.metrics
