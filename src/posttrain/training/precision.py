"""Numeric precision: the ``dtype`` option of every trainer and of generate, eval, serve and
rejection-sample.

``dtype`` values:

- ``auto`` (default): ``bfloat16`` on a CUDA device that supports it, else ``float32``. This CPU
  build has no fast bf16 matmul, so the embedded CPU default stays float32.
- ``float32``, ``bfloat16``.
- ``float16``: for inference only. Training in float16 needs loss scaling to keep small gradients
  from underflowing, which posttrain does not do; a trainer refuses it with a one-line error.

What runs in which precision when ``dtype`` is bfloat16 (what the field found works: mixed
precision as in Micikevicius et al. 2018, with bf16's float32-sized exponent making loss scaling
unnecessary):

- **LoRA**: the frozen base weights are stored in bf16 (half the memory of float32); peft keeps the
  adapters, hence their gradients and AdamW state, in float32.
- **Full fine-tuning**: float32 *master* weights, gradients and AdamW state; every forward runs
  under bf16 autocast. Storing the weights themselves in bf16 would halve their memory, but an
  update smaller than 2^-8 of a weight rounds away in bf16 (at lr 1e-5 most of them do) unless the
  optimizer compensates (Kahan sums or stochastic rounding); master weights avoid that, at 4 more
  bytes per parameter, which FSDP2 shards across ranks. The frozen GRPO/PPO reference copy needs no
  master, so it is stored in bf16.
- In both: the forward passes run under ``torch.autocast(dtype=bfloat16)``; the output layer's
  logits are cast to float32 before the log-softmax (:mod:`posttrain.models.logprobs`), so
  log-probs, losses, advantages, rewards and the reference log-probs are float32.
- Generation samples from float32 logits; LoRA adapters are not merged into bf16 base weights for
  sampling (merging and unmerging would round the base weights a little more every step).
- The saved model is in the dtype asked for (a bf16 run saves bf16 weights, a float32 run float32).

Example::

    dtype = resolve_dtype(config.dtype, device)                # torch.bfloat16 on an H100
    model = load_model(spec, dtype=weights_dtype(dtype, config.finetune))
    model = with_autocast(model, dtype)                        # forwards run in bf16
"""

from __future__ import annotations

from functools import partial

import torch

from posttrain.errors import UserError

DTYPE_CHOICES = ("auto", "float32", "bfloat16", "float16")
_NAMES = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
          "float16": torch.float16, "fp16": torch.float16}


def resolve_dtype(spec: str, device: torch.device | str, training: bool = True) -> torch.dtype:
    """The torch dtype a ``dtype`` option value means on ``device``; a ``UserError`` for an unknown
    value, for bf16 on a device without it, and for float16 when ``training``."""
    device = torch.device(device)
    name = str(spec).strip().lower()
    if name == "auto":
        if device.type == "cuda" and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float32
    if name not in _NAMES:
        raise UserError(f"unknown dtype '{spec}': use {', '.join(DTYPE_CHOICES)}")
    dtype = _NAMES[name]
    if dtype == torch.float16 and training:
        raise UserError("dtype float16 needs loss scaling, which training here does not do: use bfloat16 "
                        "(same memory, float32's range) or float32")
    if dtype == torch.bfloat16 and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise UserError(f"dtype bfloat16 requested but {torch.cuda.get_device_name(device)} does not support it: "
                        "use float32")
    return dtype


def weights_dtype(dtype: torch.dtype, finetune: str) -> torch.dtype:
    """The dtype weights are loaded in for training: LoRA's frozen base in ``dtype``, full
    fine-tuning's master weights in float32."""
    return dtype if finetune == "lora" else torch.float32


def _autocast_forward(module, forward, device_type: str, dtype: torch.dtype, *args, **kwargs):
    with torch.autocast(device_type=device_type, dtype=dtype):
        return forward(module, *args, **kwargs)


def with_autocast(model, dtype: torch.dtype):
    """``model`` with its forward (and its transformer body's, which the log-prob code calls
    directly) run under ``torch.autocast(dtype)``; unchanged for float32. Returns ``model``.

    The wrapper is a ``partial`` holding the module, so a ``copy.deepcopy`` of the model (the
    frozen reference, the merged copy saved at the end) wraps its own copy, not the original.
    """
    if dtype == torch.float32:
        return model
    device_type = next(model.parameters()).device.type
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    for module in {id(m): m for m in (model, inner, getattr(inner, "model", None)) if m is not None}.values():
        if getattr(module, "_posttrain_autocast", None) == dtype:
            continue
        forward = type(module).forward
        module.forward = partial(_autocast_forward, module, forward, device_type, dtype)
        module._posttrain_autocast = dtype
    return model


def compute_dtype(model) -> torch.dtype:
    """The dtype ``model``'s forward computes in: its autocast dtype, else its weights' dtype."""
    return getattr(model, "_posttrain_autocast", None) or next(model.parameters()).dtype


def trainable_in_float32(model):
    """Every trainable parameter (LoRA adapters, a reward model's new head, a value head) in float32,
    so its gradient and AdamW state are float32 too. peft already keeps adapters in float32 over a
    bf16 base; heads it copies for training (``modules_to_save``) would otherwise stay bf16."""
    for param in model.parameters():
        if param.requires_grad and param.dtype != torch.float32:
            param.data = param.data.float()
    return model


def prepare_for_training(model, device: torch.device, dtype: torch.dtype):
    """A loaded and prepared (LoRA or full) model, on ``device``, with float32 trainable
    parameters and bf16 autocast where ``dtype`` asks for it."""
    return with_autocast(trainable_in_float32(model).to(device), dtype)


def load_for_inference(spec: str, device: str = "auto", dtype: str = "auto"):
    """The model ``spec`` on the ``device`` option's device in the ``dtype`` option's precision
    (weights stored in that dtype: no master copy is needed without training), in eval mode."""
    from posttrain.models.loading import load_model
    from posttrain.training.device import local_rank, prefer_flash_attention, resolve_device

    where = resolve_device(device, local_rank())
    prefer_flash_attention(where)
    return load_model(spec, dtype=resolve_dtype(dtype, where, training=False)).to(where).eval()
