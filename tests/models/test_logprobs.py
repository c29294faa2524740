import math

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from posttrain.models.logprobs import chunked_token_logps, sequence_token_logps


def test_chunked_logps_hand_values():
    """hidden (1,0) and (0,2); weight rows (1,0), (0,1), (0,0) -> logits (1,0,0) and (0,2,0).
    logp(target 0 | first) = 1 - log(e + 2) = 1 - 1.5514 = -0.5514
    logp(target 1 | second) = 2 - log(e^2 + 2) = 2 - 2.2395 = -0.2395"""
    hidden = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    weight = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
    logps = chunked_token_logps(hidden, weight, torch.tensor([0, 1]), chunk_size=1)
    expected = [1 - math.log(math.e + 2), 2 - math.log(math.e**2 + 2)]
    assert logps.tolist() == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("chunk_size", [1, 5, 64])
def test_chunked_logps_match_full_logits_and_gradients(chunk_size):
    torch.manual_seed(0)
    hidden = torch.randn(23, 8, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(40, 8, dtype=torch.float64, requires_grad=True)
    targets = torch.randint(0, 40, (23,))
    upstream = torch.randn(23, dtype=torch.float64)  # arbitrary per-token gradient, as DPO produces

    chunked = chunked_token_logps(hidden, weight, targets, chunk_size)
    (chunked * upstream).sum().backward()
    grads = hidden.grad.clone(), weight.grad.clone()
    hidden.grad = weight.grad = None
    full = torch.log_softmax(hidden @ weight.t(), dim=-1).gather(1, targets[:, None]).squeeze(1)
    (full * upstream).sum().backward()

    torch.testing.assert_close(chunked, full)
    torch.testing.assert_close(grads[0], hidden.grad)
    torch.testing.assert_close(grads[1], weight.grad)


def test_frozen_head_gets_no_gradient():
    hidden = torch.randn(4, 3, requires_grad=True)
    weight = torch.randn(6, 3)  # frozen, as under LoRA
    chunked_token_logps(hidden, weight, torch.tensor([0, 1, 2, 3])).sum().backward()
    assert hidden.grad is not None and weight.grad is None


def test_right_padded_batch_equals_rows_alone():
    """Right padding with no attention mask: causal attention keeps pads out of real tokens."""
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(
        vocab_size=50, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
    ))
    rows = [torch.randint(1, 50, (9,)), torch.randint(1, 50, (4,))]
    batch = torch.zeros(2, 9, dtype=torch.long)
    mask = torch.zeros(2, 9, dtype=torch.bool)
    for i, row in enumerate(rows):
        batch[i, : len(row)] = row
        mask[i, : len(row) - 1] = True
    targets = torch.roll(batch, -1, dims=1)
    batched, _ = sequence_token_logps(model, batch, targets, mask)
    alone = []
    for row in rows:
        logps, _ = sequence_token_logps(model, row[None], torch.roll(row, -1)[None], torch.arange(len(row))[None] < len(row) - 1)
        alone.append(logps)
    torch.testing.assert_close(batched, torch.cat(alone), atol=1e-5, rtol=1e-5)
    reference = torch.log_softmax(model(rows[1][None]).logits[0, :-1], -1).gather(1, rows[1][1:, None]).squeeze(1)
    torch.testing.assert_close(alone[1], reference, atol=1e-5, rtol=1e-5)
