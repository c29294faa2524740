"""DAPO's overlong reward shaping, by hand."""

import pytest
import torch

from posttrain.losses.policy import overlong_penalties


def test_overlong_penalty_by_hand():
    """max_new_tokens 10, buffer 4: free up to 10 - 4 = 6 tokens, then -penalty * (L - 6) / 4:
    L = 5, 6 -> 0; L = 7 -> -0.25; L = 8 -> -0.5; L = 10 -> -1; L = 12 (past the limit) stays at -1."""
    lengths = torch.tensor([5, 6, 7, 8, 10, 12])
    assert overlong_penalties(lengths, 10, 4, 1.0).tolist() == pytest.approx([0, 0, -0.25, -0.5, -1.0, -1.0])
    assert overlong_penalties(lengths, 10, 4, 0.5).tolist() == pytest.approx([0, 0, -0.125, -0.25, -0.5, -0.5])


def test_overlong_buffer_zero_is_off():
    assert overlong_penalties(torch.tensor([3, 10]), 10, 0, 1.0).tolist() == [0.0, 0.0]
