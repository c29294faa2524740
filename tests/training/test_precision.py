"""bf16 against float32 (posttrain.training.precision): the same losses within bf16's rounding, float32
log-probs, float32 trainable parameters, and a saved model in the dtype asked for.

Tolerance: bf16 keeps 8 bits of mantissa (relative rounding 2^-9, about 0.2%) in each matmul; over a
few steps of a tiny model the losses measured here differed by at most 0.1% (SFT), so the tests allow
2% relative — far below what a wrong cast (a bf16 log-softmax, a bf16 optimizer state) would cost
after a few steps, and far above run-to-run rounding.
"""

import json
import math
from pathlib import Path

import pytest
import torch
from helpers import write_jsonl
from safetensors import safe_open

from posttrain.algos.dpo import train_dpo
from posttrain.algos.grpo import train_grpo
from posttrain.algos.sft import train_sft
from posttrain.config import DPOConfig, GRPOConfig, SFTConfig, load_config
from posttrain.errors import UserError
from posttrain.models.logprobs import chunked_token_logps
from posttrain.training.precision import resolve_dtype, weights_dtype

REL = 2e-2


def losses(run: Path, key: str = "train/loss") -> list[float]:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    return [row[key] for row in rows if key in row]


def saved_dtypes(model_dir: Path) -> tuple[str, set]:
    config = json.loads((model_dir / "config.json").read_text())
    dtypes = set()
    for path in model_dir.glob("*.safetensors"):
        with safe_open(str(path), "pt") as handle:
            dtypes |= {handle.get_slice(name).get_dtype() for name in handle.keys()}
    return config.get("dtype") or config.get("torch_dtype"), dtypes


def test_resolve_dtype_names_and_refusals():
    assert resolve_dtype("auto", "cpu") == torch.float32  # no fast bf16 matmul on this CPU build
    assert resolve_dtype("bfloat16", "cpu") == torch.bfloat16 and resolve_dtype("bf16", "cpu") == torch.bfloat16
    assert resolve_dtype("float16", "cpu", training=False) == torch.float16
    with pytest.raises(UserError, match="loss scaling"):
        resolve_dtype("float16", "cpu")
    with pytest.raises(UserError, match="unknown dtype 'half8'"):
        resolve_dtype("half8", "cpu")
    with pytest.raises(UserError, match="loss scaling"):
        SFTConfig(dtype="float16")  # refused when the config is read, before any loading
    assert weights_dtype(torch.bfloat16, "lora") == torch.bfloat16
    assert weights_dtype(torch.bfloat16, "full") == torch.float32  # master weights


def test_bf16_logps_are_float32_and_match_a_direct_computation():
    """The mixed path: bf16 logits matmul, float32 log-softmax; values and both gradients equal
    autograd through the same casts, and stay within bf16 rounding of the float32 path."""
    torch.manual_seed(0)
    hidden = torch.randn(37, 16, requires_grad=True)
    weight = torch.randn(50, 16, requires_grad=True)
    targets = torch.randint(0, 50, (37,))
    upstream = torch.randn(37)

    logps = chunked_token_logps(hidden, weight, targets, chunk_size=8, compute_dtype=torch.bfloat16)
    assert logps.dtype == torch.float32
    (logps * upstream).sum().backward()

    h, w = hidden.detach().clone().requires_grad_(), weight.detach().clone().requires_grad_()
    direct = torch.log_softmax((h.bfloat16() @ w.bfloat16().t()).float(), -1).gather(1, targets[:, None]).squeeze(1)
    (direct * upstream).sum().backward()
    torch.testing.assert_close(logps, direct, rtol=0, atol=1e-5)
    # The gradients round through bf16 matmuls in a different order than autograd's: bf16 tolerance.
    torch.testing.assert_close(hidden.grad, h.grad, rtol=2e-2, atol=2e-2)
    torch.testing.assert_close(weight.grad, w.grad, rtol=2e-2, atol=2e-2)

    exact = chunked_token_logps(hidden.detach(), weight.detach(), targets)  # the float32 path
    assert (logps.detach() - exact).abs().max() < 0.1  # bf16 logits of |x| ~ 10: rounding ~0.03


@pytest.mark.parametrize("finetune", ["full", "lora"])
def test_sft_bf16_matches_float32_and_saves_bf16(tiny_model, sft_data, tmp_path, finetune):
    runs = {}
    for dtype in ("float32", "bfloat16"):
        out = tmp_path / dtype
        train_sft(load_config(SFTConfig, None, dict(
            model=tiny_model, data=sft_data, output_dir=str(out), batch_size=8, lr=1e-2, max_length=128, max_steps=5,
            progress=False, tensorboard=False, eval_fraction=0.1, warmup_ratio=0.0, finetune=finetune, dtype=dtype)))
        runs[dtype] = losses(out)
        config_dtype, tensor_dtypes = saved_dtypes(out / "final")
        assert config_dtype == dtype and tensor_dtypes == {"BF16" if dtype == "bfloat16" else "F32"}, (config_dtype, tensor_dtypes)
    assert len(runs["bfloat16"]) == 5 and runs["bfloat16"][-1] < runs["bfloat16"][0]
    assert runs["bfloat16"] == pytest.approx(runs["float32"], rel=REL)


def test_dpo_bf16_matches_float32(tiny_model, tmp_path):
    rows = [{"prompt": f"What is {i % 9 + 1} + {i % 7 + 2}?", "chosen": f"It is {i % 9 + 1 + i % 7 + 2}.",
             "rejected": "I do not know, please ask someone else today."} for i in range(24)]
    data = write_jsonl(tmp_path / "pairs.jsonl", rows)
    runs = {}
    for dtype in ("float32", "bfloat16"):
        out = tmp_path / dtype
        train_dpo(load_config(DPOConfig, None, dict(
            model=tiny_model, data=data, output_dir=str(out), batch_size=8, lr=1e-2, max_length=128, max_steps=4,
            progress=False, tensorboard=False, eval_fraction=0.2, warmup_ratio=0.0, reference_cache=False, dtype=dtype)))
        runs[dtype] = losses(out)
    assert runs["bfloat16"][0] == pytest.approx(0.6931, abs=2e-3)  # policy == reference at step 1, in float32 log-probs
    assert runs["bfloat16"][-1] < runs["bfloat16"][0]
    # Absolute too: the loss falls towards 0, where a relative bound is meaningless.
    assert runs["bfloat16"] == pytest.approx(runs["float32"], rel=REL, abs=5e-3), runs


def digit_share(prompt: str, completion: str, **_) -> float:
    return sum(ch.isdigit() for ch in completion) / max(1, len(completion))


@pytest.mark.parametrize("finetune", ["lora", "full"])
def test_grpo_bf16_agrees_with_float32(tiny_model, tmp_path, finetune):
    """Rollouts are sampled, so once bf16 rounding flips a token the runs part ways: the first step
    (same seeds, mostly the same tokens) must agree, every loss be finite, and full fine-tuning
    (float32 masters, bf16 autocast, a bf16 frozen reference for the KL term) raise the reward as
    float32 does. LoRA over a bf16 base rounds its small early updates into bf16 activations and on
    this 32-wide random model learns the reward unreliably within 8 steps (1 of 4 seeds tried rose
    as float32 does); the GPU check shows it on the embedded model."""
    rows = [{"prompt": f"What is {i % 9 + 1} + {i % 7 + 2}?"} for i in range(32)]
    data = write_jsonl(tmp_path / "prompts.jsonl", rows)
    runs = {}
    for dtype in ("float32", "bfloat16"):
        out = tmp_path / dtype
        train_grpo(load_config(GRPOConfig, None, _grpo_values(tiny_model, data, out, finetune, dtype)))
        runs[dtype] = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines() if "train/loss" in line]
        assert len(runs[dtype]) == 8 and all(math.isfinite(row["train/loss"]) for row in runs[dtype])
    first32, first16 = runs["float32"][0], runs["bfloat16"][0]
    assert first16["train/reward_mean"] == pytest.approx(first32["train/reward_mean"], abs=0.03)
    assert first16["train/grad_norm"] == pytest.approx(first32["train/grad_norm"], rel=0.25)
    if finetune == "full":
        for dtype, series in runs.items():
            rewards = [row["train/reward_mean"] for row in series]
            assert sum(rewards[-2:]) / 2 > sum(rewards[:2]) / 2 + 0.1, (dtype, rewards)


def _grpo_values(tiny_model, data, out, finetune, dtype) -> dict:
    return dict(model=tiny_model, data=data, output_dir=str(out), batch_size=4, num_generations=4, max_new_tokens=12,
                max_length=64, lr=3e-2 if finetune == "lora" else 1e-2, progress=False, tensorboard=False,
                eval_fraction=0.25, eval_prompts=0, reward="test_precision:digit_share", temperature=1.0,
                rollout_batch_size=16, max_steps=8, finetune=finetune, kl_coef=0.05 if finetune == "full" else 0.0,
                dtype=dtype)
