import math

import pytest
import torch

from posttrain.losses.policy import (
    clipped_policy_loss, compute_advantages, grpo_advantages, k3_kl, reinforce_pp_advantages, rloo_advantages,
    token_weights,
)


def test_grpo_advantages_by_hand():
    """rewards (1, 0, 0, 1): mean 0.5, sample std sqrt(4 * 0.25 / 3) = 0.57735, so A = +-0.5 / 0.57735 = +-0.86603."""
    advantages = grpo_advantages(torch.tensor([[1.0, 0.0, 0.0, 1.0]]), eps=0.0)
    assert advantages.tolist()[0] == pytest.approx([0.86603, -0.86603, -0.86603, 0.86603], abs=1e-5)


def test_dr_grpo_only_centres():
    """Dr. GRPO: no division by std, so (3, 1) -> (1, -1) and a constant group -> zeros."""
    advantages = compute_advantages("grpo", torch.tensor([[3.0, 1.0], [2.0, 2.0]]), scale=False)
    assert advantages.tolist() == [[1.0, -1.0], [0.0, 0.0]]


def test_rloo_leaves_one_out():
    """(1, 0, 0): 1 - mean(0, 0) = 1; 0 - mean(1, 0) = -0.5 (twice)."""
    assert rloo_advantages(torch.tensor([[1.0, 0.0, 0.0]])).tolist()[0] == pytest.approx([1.0, -0.5, -0.5])


def test_reinforce_pp_whitens_over_the_batch():
    """Group means removed: [[.5, -.5], [0, 0]]; batch mean 0, sample std sqrt(0.5 / 3) = 0.40825 -> +-1.22474."""
    advantages = reinforce_pp_advantages(torch.tensor([[1.0, 0.0], [3.0, 3.0]]), eps=0.0)
    assert advantages.flatten().tolist() == pytest.approx([1.22474, -1.22474, 0.0, 0.0], abs=1e-5)


def test_unknown_estimator_is_named():
    with pytest.raises(ValueError, match="rloo"):
        compute_advantages("ppo", torch.zeros(1, 2))


def test_token_weights_by_hand():
    """Sequences of 2 and 4 tokens: sequence_mean gives 1/(2*2) and 1/(4*2); token_mean 1/6; constant 1/(2*8)."""
    index, lengths = torch.tensor([0, 0, 1, 1, 1, 1]), torch.tensor([2, 4])
    totals = {"total_sequences": 2, "total_tokens": 6, "max_new_tokens": 8}
    assert token_weights(index, lengths, "sequence_mean", **totals).tolist() == pytest.approx([0.25] * 2 + [0.125] * 4)
    assert token_weights(index, lengths, "token_mean", **totals).tolist() == pytest.approx([1 / 6] * 6)
    assert token_weights(index, lengths, "constant", **totals).tolist() == pytest.approx([1 / 16] * 6)
    for aggregation in ("sequence_mean", "token_mean"):  # both are means: weights sum to 1
        assert float(token_weights(index, lengths, aggregation, **totals).sum()) == pytest.approx(1.0)


def test_clipped_loss_by_hand():
    """Token 1: ratio 1.5, A = +1 -> min(1.5, 1.2) = 1.2, loss -1.2. Token 2: ratio 0.5, A = -1 ->
    min(-0.5, 0.8 * -1) = -0.8, loss +0.8. Weights 1/2: loss = -0.6 + 0.4 = -0.2; both clipped."""
    logps = torch.tensor([math.log(1.5), math.log(0.5)])
    output = clipped_policy_loss(logps, torch.zeros(2), torch.tensor([1.0, -1.0]), torch.tensor([0.5, 0.5]))
    assert float(output.loss) == pytest.approx(-0.2, abs=1e-6)
    assert output.metrics["clip_fraction"] == pytest.approx(1.0)
    assert output.metrics["ratio_mean"] == pytest.approx(1.0)


def test_k3_kl_by_hand():
    """pi = 0.5, ref = 0.25: log(ref/pi) = -0.69315, exp = 0.5, so k3 = 0.5 + 0.69315 - 1 = 0.19315; zero when equal."""
    kl = k3_kl(torch.tensor([math.log(0.5), math.log(0.3)]), torch.tensor([math.log(0.25), math.log(0.3)]))
    assert kl.tolist() == pytest.approx([0.19315, 0.0], abs=1e-5)


def test_kl_penalty_adds_to_the_loss():
    logps, ref = torch.tensor([math.log(0.5)]), torch.tensor([math.log(0.25)])
    plain = clipped_policy_loss(logps, logps, torch.tensor([0.0]), torch.tensor([1.0]), ref_logps=ref)
    penalised = clipped_policy_loss(logps, logps, torch.tensor([0.0]), torch.tensor([1.0]), ref_logps=ref, kl_coef=0.1)
    assert float(plain.loss) == pytest.approx(0.0) and plain.metrics["kl"] == pytest.approx(0.19315, abs=1e-5)
    assert float(penalised.loss) == pytest.approx(0.019315, abs=1e-6)


def test_on_policy_gradient_is_minus_weighted_advantage():
    """With old = current (detached), rho = 1 and d loss / d logp_i = -A_i w_i (no clipping at rho = 1)."""
    logps = torch.tensor([-1.0, -2.0, -0.5], requires_grad=True)
    advantages, weights = torch.tensor([2.0, -1.0, 0.5]), torch.tensor([0.2, 0.3, 0.5])
    clipped_policy_loss(logps, logps.detach(), advantages, weights).loss.backward()
    assert logps.grad.tolist() == pytest.approx([-0.4, 0.3, -0.25])


@pytest.mark.parametrize("aggregation", ["sequence_mean", "token_mean", "constant"])
def test_micro_batches_add_up_to_the_full_batch(aggregation):
    """Cutting the sequences into two micro-batches with the global totals gives the same loss."""
    torch.manual_seed(0)
    lengths = torch.tensor([3, 1, 4, 2])
    index = torch.repeat_interleave(torch.arange(4), lengths)
    logps, old = torch.randn(10) * 0.1 - 1, torch.randn(10) * 0.1 - 1
    advantages = torch.tensor([1.0, -1.0, 0.5, -0.5])[index]
    totals = {"total_sequences": 4, "total_tokens": 10, "max_new_tokens": 5}
    full = clipped_policy_loss(logps, old, advantages, token_weights(index, lengths, aggregation, **totals)).loss
    parts = 0.0
    for sequences in ([0, 1], [2, 3]):
        tokens = torch.cat([torch.nonzero(index == s).squeeze(1) for s in sequences])
        local = torch.repeat_interleave(torch.arange(len(sequences)), lengths[sequences])
        weights = token_weights(local, lengths[sequences], aggregation, **totals)
        parts = parts + clipped_policy_loss(logps[tokens], old[tokens], advantages[tokens], weights).loss
    assert float(parts) == pytest.approx(float(full), abs=1e-6)
