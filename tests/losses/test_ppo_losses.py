import pytest
import torch

from posttrain.losses.policy import (
    AdaptiveKLController,
    FixedKLController,
    gae,
    kl_controller,
    kl_shaped_rewards,
    value_loss,
    whiten,
    whiten_by_moments,
    whitening_moments,
)


def test_gae_by_hand():
    """gamma 1, lambda 0.5. Row 0, rewards (0, 0, 1), values (0.5, 0.2, 0.4):
    t=2: delta = 1 + 0 - 0.4 = 0.6, A = 0.6; t=1: delta = 0 + 0.4 - 0.2 = 0.2, A = 0.2 + 0.5 * 0.6 = 0.5;
    t=0: delta = 0 + 0.2 - 0.5 = -0.3, A = -0.3 + 0.5 * 0.5 = -0.05. Returns A + V = (0.45, 0.7, 1.0).
    Row 1 has two real tokens, then padding with junk reward 9 and value 7 that must not leak back:
    t=1: delta = -1 + 0 - 2 = -3, A = -3; t=0: delta = 0.5 + 2 - 1 = 1.5, A = 1.5 + 0.5 * -3 = 0; returns (1, -1)."""
    rewards = torch.tensor([[0.0, 0.0, 1.0], [0.5, -1.0, 9.0]])
    values = torch.tensor([[0.5, 0.2, 0.4], [1.0, 2.0, 7.0]])
    mask = torch.tensor([[1, 1, 1], [1, 1, 0]])
    advantages, returns = gae(rewards, values, mask, gamma=1.0, lam=0.5)
    torch.testing.assert_close(advantages, torch.tensor([[-0.05, 0.5, 0.6], [0.0, -3.0, 0.0]]))
    torch.testing.assert_close(returns, torch.tensor([[0.45, 0.7, 1.0], [1.0, -1.0, 0.0]]))


def test_gae_limits():
    """lambda 1: the returns are the discounted rewards-to-go whatever the values. gamma 0.5, rewards (1, 0, 2):
    R2 = 2, R1 = 0 + 0.5 * 2 = 1, R0 = 1 + 0.5 * 1 = 1.5. lambda 0: A is the one-step TD error
    r_t + gamma V_{t+1} - V_t = (1 + 0.05 - 0.3, 0 + 0.35 - 0.1, 2 + 0 - 0.7) = (0.75, 0.25, 1.3)."""
    rewards, values, mask = torch.tensor([[1.0, 0.0, 2.0]]), torch.tensor([[0.3, 0.1, 0.7]]), torch.ones(1, 3)
    advantages, returns = gae(rewards, values, mask, gamma=0.5, lam=1.0)
    assert returns.tolist()[0] == pytest.approx([1.5, 1.0, 2.0])
    assert advantages.tolist()[0] == pytest.approx([1.2, 0.9, 1.3])
    td, _ = gae(rewards, values, mask, gamma=0.5, lam=0.0)
    assert td.tolist()[0] == pytest.approx([0.75, 0.25, 1.3])


def test_whiten_uses_valid_tokens_only():
    """(1, 2, 3) and a padded 100: mean 2, population std sqrt(2/3) = 0.816497 -> (-1.224745, 0, 1.224745), pad 0."""
    whitened = whiten(torch.tensor([[1.0, 2.0], [3.0, 100.0]]), torch.tensor([[1, 1], [1, 0]]))
    torch.testing.assert_close(whitened, torch.tensor([[-1.224745, 0.0], [1.224745, 0.0]]))



def test_whitening_over_ranks_by_hand_equals_whitening_the_whole_batch():
    """Rank A holds tokens (1, 3) and a pad 50, rank B (2, 6). Moments: A (2, 4, 10), B (2, 8, 40);
    summed (4, 12, 50): mean 3, population variance 50/4 - 9 = 3.5, std 1.870829.
    A -> (-2, 0) / 1.870829 = (-1.069045, 0), pad 0; B -> (-0.534522, 1.603567).
    The same numbers as whitening all four tokens in one process."""
    a, a_mask = torch.tensor([1.0, 3.0, 50.0]), torch.tensor([1, 1, 0])
    b, b_mask = torch.tensor([2.0, 6.0]), torch.ones(2)
    assert whitening_moments(a, a_mask) == [2.0, 4.0, 10.0] and whitening_moments(b, b_mask) == [2.0, 8.0, 40.0]
    summed = [x + y for x, y in zip(whitening_moments(a, a_mask), whitening_moments(b, b_mask))]
    torch.testing.assert_close(whiten_by_moments(a, a_mask, *summed), torch.tensor([-1.069045, 0.0, 0.0]))
    torch.testing.assert_close(whiten_by_moments(b, b_mask, *summed), torch.tensor([-0.534522, 1.603567]))
    whole = whiten(torch.tensor([1.0, 3.0, 2.0, 6.0]), torch.ones(4))
    torch.testing.assert_close(torch.cat([whiten_by_moments(a, a_mask, *summed)[:2], whiten_by_moments(b, b_mask, *summed)]),
                               whole)
    # A rank with no tokens joins with zero moments and whitens nothing.
    assert whitening_moments(torch.zeros(0), torch.zeros(0)) == [0.0, 0.0, 0.0]


def test_kl_shaped_rewards_by_hand():
    """kl_coef 0.5. Row 0: log-ratios (0.1, 0.2), score 1 -> (-0.05, -0.1 + 1 = 0.9), padding 0.
    Row 1: one token, log-ratio 0.3, score -1 -> -0.15 - 1 = -1.15; padding stays 0."""
    log_ratios = torch.tensor([[0.1, 0.2, 0.0], [0.3, 0.0, 0.0]])
    rewards = kl_shaped_rewards(log_ratios, torch.tensor([2, 1]), torch.tensor([1.0, -1.0]), kl_coef=0.5)
    torch.testing.assert_close(rewards, torch.tensor([[-0.05, 0.9, 0.0], [-1.15, 0.0, 0.0]]))
    # kl_coef 0: only the score, at each sequence's last token.
    plain = kl_shaped_rewards(log_ratios, torch.tensor([2, 1]), torch.tensor([1.0, -1.0]), kl_coef=0.0)
    torch.testing.assert_close(plain, torch.tensor([[0.0, 1.0, 0.0], [-1.0, 0.0, 0.0]]))

def test_value_loss_by_hand():
    """Weights (1/4, 1/4, 1/2), clip 0.2.
    Token 1: V 1.0, V_old 0.5, R 2: unclipped (1 - 2)^2 = 1; clipped V = 0.5 + 0.2 = 0.7, (0.7 - 2)^2 = 1.69 -> 1.69.
    Token 2: V = V_old = 0, R 1: both 1. Token 3: V 3.0, V_old 2.5, R 2: unclipped 1; clipped V 2.7 -> 0.49 -> 1.
    loss = 0.5 * (0.25 * 1.69 + 0.25 * 1 + 0.5 * 1) = 0.58625; clipped share 0.25 (token 1).
    Gradients: token 1 takes the clipped branch, flat in V -> 0; token 2: 0.5 * 0.25 * 2 * (0 - 1) = -0.25;
    token 3: 0.5 * 0.5 * 2 * (3 - 2) = 0.5. Without clipping: 0.5 * (0.25 + 0.25 + 0.5) = 0.5."""
    values = torch.tensor([1.0, 0.0, 3.0], requires_grad=True)
    old_values, returns, weights = torch.tensor([0.5, 0.0, 2.5]), torch.tensor([2.0, 1.0, 2.0]), torch.tensor([0.25, 0.25, 0.5])
    output = value_loss(values, old_values, returns, weights, clip=0.2)
    assert output.loss.item() == pytest.approx(0.58625)
    assert output.metrics == pytest.approx({"value_loss": 0.58625, "value_clip_fraction": 0.25})
    output.loss.backward()
    assert values.grad.tolist() == pytest.approx([0.0, -0.25, 0.5])
    assert value_loss(values, old_values, returns, weights, clip=None).loss.item() == pytest.approx(0.5)


def test_adaptive_kl_controller_by_hand():
    """coef 0.1, target 6, horizon 100, 10 samples per batch.
    KL 9: error clip(9/6 - 1 = 0.5) = 0.2 -> 0.1 * (1 + 0.2 * 10/100) = 0.102.
    KL 5.4: error 5.4/6 - 1 = -0.1 -> 0.102 * (1 - 0.1 * 0.1) = 0.10098.
    KL 0: error clipped to -0.2 -> 0.10098 * 0.98 = 0.0989604."""
    controller = AdaptiveKLController(0.1, target=6.0, horizon=100)
    expected = [0.102, 0.10098, 0.0989604]
    for kl, coef in zip([9.0, 5.4, 0.0], expected):
        controller.update(kl, n_steps=10)
        assert controller.coef == pytest.approx(coef)


def test_fixed_kl_controller_and_choice():
    fixed = kl_controller(0.05, None, 100)
    assert isinstance(fixed, FixedKLController)
    fixed.update(100.0, n_steps=1000)
    assert fixed.coef == 0.05
    assert isinstance(kl_controller(0.05, 6.0, 100), AdaptiveKLController)
