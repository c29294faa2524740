"""Where a process computes: the ``device`` option, and moving batches to the model.

One rule for every trainer: the model goes to the resolved device right after it is loaded (and
prepared, so LoRA adapters and new heads start from the same CPU-seeded values on any device),
before it is wrapped for data parallelism; every batch, built on the CPU, goes to the device of
the model it meets (:func:`to_device` with :func:`model_device`), one micro-batch at a time.

``device`` values (``--device`` on the command line):

- ``auto`` (default): ``cuda:LOCAL_RANK`` under torchrun, ``cuda`` in one process, when CUDA is
  available; else ``cpu``. Apple's ``mps`` is never picked automatically.
- ``cpu``, ``mps``, ``cuda`` (``cuda:LOCAL_RANK`` under torchrun), ``cuda:N`` (that GPU).

Example::

    device = resolve_device(config.device, local_rank())  # e.g. device(type='cuda', index=1)
    model = load_model(spec).to(device)
    logps = model(**to_device({"input_ids": ids}, model_device(model)))
"""

from __future__ import annotations

import dataclasses
import os
from typing import TypeVar

import torch

from posttrain.errors import UserError

T = TypeVar("T")
DEVICE_CHOICES = "auto, cpu, cuda, cuda:N or mps"


def local_rank() -> int | None:
    """The GPU index torchrun gives this process (``LOCAL_RANK``); None outside torchrun."""
    value = os.environ.get("LOCAL_RANK", "").strip()
    return int(value) if value else None


def resolve_device(spec: str, local_rank: int | None) -> torch.device:
    """The device named by a ``device`` option value (see the module docstring); raises
    ``UserError`` for an unknown value or a device this machine does not have."""
    name = spec.strip().lower()
    if name == "cpu":
        return torch.device("cpu")
    if name == "auto":
        if not torch.cuda.is_available():
            return torch.device("cpu")
        name = "cuda"
    if name == "mps":
        if not torch.backends.mps.is_available():
            raise UserError("device 'mps' requested but torch.backends.mps.is_available() is False")
        return torch.device("mps")
    kind, colon, index = name.partition(":")
    if kind != "cuda" or (colon and not index.isdigit()):
        raise UserError(f"unknown device '{spec}': use {DEVICE_CHOICES}")
    if not torch.cuda.is_available():
        raise UserError(f"device '{spec}' requested but torch.cuda.is_available() is False")
    if colon:
        gpu = int(index)
    elif local_rank is not None:  # torchrun: one GPU per process of this node
        gpu = local_rank
    else:
        return torch.device("cuda")
    count = torch.cuda.device_count()
    if gpu >= count:
        reason = f"LOCAL_RANK {local_rank}" if not colon else f"cuda:{gpu}"
        raise UserError(f"device '{spec}' needs GPU {gpu} ({reason}) but only {count} CUDA device(s) are visible")
    return torch.device("cuda", gpu)


def prefer_flash_attention(device: torch.device) -> None:
    """On CUDA, leave cuDNN's kernel out of ``scaled_dot_product_attention``'s choices (flash and
    memory-efficient attention remain). cuDNN's attention builds an execution plan for every new
    sequence shape, and packed rows and segment-by-segment attention bring new shapes at almost
    every step. Measured on an H200 (torch 2.11, bench/results/gpu): the first bf16 LoRA SFT run of
    a process ran at 270-1,212 tokens/s with it and identical runs after it (shapes already
    planned) at 15,000-57,000; without it the first run ran at 11,000-44,000 after its first step,
    and LoRA SFT of a 1.7B-class model went from 862 to 7,325 tokens/s."""
    if device.type == "cuda":
        torch.backends.cuda.enable_cudnn_sdp(False)


def to_device(value: T, device: torch.device | str) -> T:
    """``value`` with every tensor in it on ``device``: a tensor, or dicts, lists, tuples and
    dataclasses (e.g. ``MicroBatch``) holding them, nested to any depth. Anything else is returned
    as is, and so is a tensor already on ``device`` (no copy)."""
    if isinstance(value, torch.Tensor):
        return value.to(device)
    if isinstance(value, dict):
        return {key: to_device(item, device) for key, item in value.items()}
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # a namedtuple takes its fields one by one
        return type(value)(*(to_device(item, device) for item in value))
    if isinstance(value, (list, tuple)):
        return type(value)(to_device(item, device) for item in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.replace(value, **{field.name: to_device(getattr(value, field.name), device)
                                             for field in dataclasses.fields(value) if field.init})
    return value


def model_device(model: torch.nn.Module) -> torch.device:
    """The device of ``model``'s (first) parameters: where its inputs must be. Under FSDP, this
    rank's shards' device."""
    return next(model.parameters()).device
