"""The fused LoRA linear computes what peft's modules compute, and steps aside where it must."""

import copy
from types import SimpleNamespace

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from posttrain.models.lora import _LoraLinear, apply_lora, fuse_lora_linears


def lora_config(dropout=0.0):
    return SimpleNamespace(lora_r=4, lora_alpha=8, lora_dropout=dropout, lora_targets="all-linear")


def tiny_llama():
    torch.manual_seed(0)
    return LlamaForCausalLM(LlamaConfig(
        vocab_size=40, hidden_size=16, intermediate_size=24, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=32,
    ))


def randomize_adapters(model):
    """peft starts B at zero, which would hide a wrong adapter gradient; give it values."""
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.2)


def test_hand_values():
    """x = (1, 2), W = I, b = (1, 0), A = (1 1), B = (2, 0)^T, s = 0.5:
    x A^T = 3, so out = x + b + 0.5 * 3 * (2, 0) = (1+1+3, 2+0+0) = (5, 2).
    With upstream gradient (1, 1): dB = s * g^T (xA) = 0.5 * (3, 3)^T, dA = s * (g B) x = 0.5 * 2 * (1, 2),
    dx = g W + s (g B) A = (1, 1) + 0.5 * 2 * (1, 1) = (2, 2), db = g."""
    x = torch.tensor([[1.0, 2.0]], requires_grad=True)
    weight = torch.eye(2, requires_grad=True)
    bias = torch.tensor([1.0, 0.0], requires_grad=True)
    lora_a = torch.tensor([[1.0, 1.0]], requires_grad=True)
    lora_b = torch.tensor([[2.0], [0.0]], requires_grad=True)
    out = _LoraLinear.apply(x, weight, bias, lora_a, lora_b, 0.5)
    assert out.tolist() == [[5.0, 2.0]]
    out.sum().backward()
    assert lora_b.grad.tolist() == [[1.5], [1.5]]
    assert lora_a.grad.tolist() == [[1.0, 2.0]]
    assert x.grad.tolist() == [[2.0, 2.0]]
    assert bias.grad.tolist() == [1.0, 1.0]
    assert weight.grad.tolist() == [[1.0, 2.0], [1.0, 2.0]]


def test_fused_model_matches_peft_forward_and_gradients():
    peft_model = apply_lora(tiny_llama(), lora_config())
    randomize_adapters(peft_model)
    fused = copy.deepcopy(peft_model)
    assert fuse_lora_linears(fused) == 2 * 7  # q k v o gate up down in each layer
    ids = torch.randint(0, 40, (3, 9))
    losses = []
    for model in (peft_model, fused):
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        losses.append(loss)
    torch.testing.assert_close(losses[0], losses[1])
    reference = dict(peft_model.named_parameters())
    compared = 0
    for name, param in fused.named_parameters():
        if param.requires_grad:
            torch.testing.assert_close(param.grad, reference[name].grad, rtol=1e-4, atol=1e-6)
            compared += 1
    assert compared == 2 * 7 * 2  # A and B of every adapted layer


def test_disabled_adapter_and_dropout_take_peft_path():
    model = apply_lora(tiny_llama(), lora_config())
    randomize_adapters(model)
    fuse_lora_linears(model)
    ids = torch.randint(0, 40, (2, 7))
    base = tiny_llama()  # same seed, same weights as the model under the adapters
    with model.disable_adapter():
        torch.testing.assert_close(model(input_ids=ids).logits, base(input_ids=ids).logits)
    assert not torch.allclose(model(input_ids=ids).logits, base(input_ids=ids).logits)

    dropped = apply_lora(tiny_llama(), lora_config(dropout=0.5))
    randomize_adapters(dropped)
    fuse_lora_linears(dropped)
    dropped.train()
    torch.manual_seed(1)
    first = dropped(input_ids=ids).logits
    torch.manual_seed(2)
    second = dropped(input_ids=ids).logits
    assert not torch.allclose(first, second)  # dropout still applies, so peft's path ran


@pytest.mark.parametrize("grad_enabled", [True, False])
def test_generation_path_unchanged(grad_enabled):
    model = apply_lora(tiny_llama(), lora_config())
    randomize_adapters(model)
    reference = copy.deepcopy(model)
    fuse_lora_linears(model)
    ids = torch.randint(0, 40, (2, 5))
    with torch.set_grad_enabled(grad_enabled):
        torch.testing.assert_close(model(input_ids=ids).logits, reference(input_ids=ids).logits)
