import math

import pytest
import torch

from posttrain.losses.sft import sft_loss


def test_sft_loss_hand_values():
    """logps -0.5, -1.5 in this micro-batch, 4 loss tokens in the whole global batch:
    loss = (0.5 + 1.5) / 4 = 0.5."""
    assert sft_loss(torch.tensor([-0.5, -1.5]), 4).item() == pytest.approx(0.5)


def test_micro_batch_losses_add_up_to_the_full_batch_loss():
    """Splitting a global batch across micro-batches (or ranks) must not change the loss:
    token-mean over the global batch = sum of per-micro-batch losses normalised by the global count."""
    torch.manual_seed(0)
    logps = -torch.rand(10)
    whole = sft_loss(logps, 10)
    parts = sum(sft_loss(chunk, 10) for chunk in logps.split([3, 5, 2]))
    assert whole.item() == pytest.approx(parts.item())
    assert whole.item() == pytest.approx(-logps.mean().item())


def test_uniform_distribution_gives_log_vocab():
    """A model that is uniform over V=8 tokens has loss log 8 = 2.0794."""
    logps = torch.full((5,), -math.log(8))
    assert sft_loss(logps, 5).item() == pytest.approx(math.log(8))
