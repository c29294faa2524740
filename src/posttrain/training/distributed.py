"""Data-parallel training across the processes ``torchrun`` starts: set-up, sharding, reductions, wrapping.

Run any trainer under ``torchrun --nproc_per_node N -m posttrain.cli sft recipe.yaml`` (see
``docs/distributed.md``); without torchrun's environment every function here is a no-op that costs
nothing, and a run behaves exactly as a single process always did.

The contract that keeps N processes equal to one: each rank takes its share of the rows of a
global batch (:func:`shard`), and every normaliser (tokens, rows, sequences of the whole global
batch) is summed over ranks (:func:`sum_all`) before it divides a loss. Each rank's backward then
yields its part of the global gradient, and the parts are **summed** across ranks (never
averaged): FSDP's reduce-scatter runs with divide factor 1 and replicated gradients are all-reduced
by :func:`reduce_gradients` once per optimizer step.

Strategies (``distributed_strategy``):

- ``fsdp`` (default): each decoder layer is its own ``fully_shard`` unit and the transformer body
  (the module every forward path calls) is the root unit that schedules them. Parameters outside
  the decoder layers (embeddings, final norm, output head, value or score heads) stay replicated:
  trainers read the output head's weight directly to compute log-probs chunk by chunk, outside any
  FSDP forward. FSDP all-gathers in every forward, so every rank must run as many forward passes
  as the others: :func:`forward_each` and :func:`backward_each` run a rank's micro-batches and then
  zero-weight filler passes until every rank has run as many, and
  :func:`gathered` holds the whole model unsharded while a rank samples its own prompts.
- ``ddp``: every rank holds the whole model; gradients are all-reduced once per optimizer step
  (after the last micro-batch, as DDP's ``no_sync`` accumulation does). Forward passes need no
  collectives, so nothing has to be balanced.

Devices: each rank trains on ``cuda:LOCAL_RANK`` when CUDA is available (``device: auto``, see
:mod:`posttrain.training.device`); trainers move the model there before :func:`wrap_model`. The
process group carries CPU tensors (counts, metrics) over gloo and CUDA tensors over nccl.
"""

from __future__ import annotations

import atexit
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TypeVar

import torch
import torch.distributed as dist

from posttrain.errors import UserError
from posttrain.training.device import model_device

T = TypeVar("T")
R = TypeVar("R")
_strategy: str | None = None  # set by wrap_model: how this process's model is spread over the ranks


def init() -> bool:
    """Join the process group torchrun describes (``WORLD_SIZE`` > 1); returns whether distributed.

    gloo carries CPU tensors, nccl CUDA tensors when CUDA is present (each rank on its resolved device).
    Ranks other than 0 print nothing to stdout from here on.
    """
    if dist.is_available() and dist.is_initialized():
        return True
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return False
    if not dist.is_available():
        raise UserError("WORLD_SIZE > 1 but this torch build has no torch.distributed")
    backend = "gloo"
    if torch.cuda.is_available():  # the caller (training.loop.start) has already set this rank's CUDA device
        backend = "cpu:gloo,cuda:nccl"
    dist.init_process_group(backend)
    if dist.get_rank() != 0:
        # Rank 0 speaks for the run (progress, summaries, the CLI's output); the other ranks keep
        # stderr, so their warnings and tracebacks still show.
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - open for the life of the process
    # One group per process, reused by every trainer a process runs (re-creating it under torchrun's
    # store can pair ranks with stale addresses), left at exit; finish_run's barrier comes first.
    atexit.register(_leave)
    return True


def _leave() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def is_main() -> bool:
    """Rank 0: the one process that prints, logs metrics and writes files other than checkpoint shards."""
    return rank() == 0


def shard(items: Sequence[T]) -> list[T]:
    """This rank's share of ``items``: every ``world_size``-th one from position ``rank``.

    Strided rather than contiguous: a global batch is sorted by length, so strides give every rank
    rows of every length and about the same work.
    """
    return list(items[rank() :: world_size()])


def sum_all(values):
    """Sum a float, a list of floats or a dict of floats over all ranks (one all-reduce)."""
    if not is_distributed():
        return values
    if isinstance(values, dict):  # ranks may hold different keys (a rank with nothing to report)
        keys = sorted({key for part in gather_all(sorted(values)) for key in part})
        return dict(zip(keys, sum_all([values.get(key, 0.0) for key in keys])))
    if isinstance(values, (list, tuple)):
        buffer = torch.tensor([float(v) for v in values], dtype=torch.float64)
        dist.all_reduce(buffer)
        return buffer.tolist()
    return sum_all([values])[0]


def gather_all(items: list) -> list[list]:
    """Every rank's ``items`` (any picklable values), in rank order, on every rank."""
    if not is_distributed():
        return [items]
    gathered_items: list = [None] * world_size()
    dist.all_gather_object(gathered_items, items)
    return gathered_items


def gather_concat(items: list) -> tuple[list, slice]:
    """Every rank's ``items`` concatenated in rank order, on every rank, and the slice of it that
    holds this rank's own."""
    parts = gather_all(items)
    start = sum(len(part) for part in parts[: rank()])
    return [item for part in parts for item in part], slice(start, start + len(items))


def broadcast(value):
    """Rank 0's ``value`` (any picklable object) on every rank."""
    if not is_distributed():
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def barrier() -> None:
    if is_distributed():
        dist.barrier()


def end_of_run() -> None:
    """Wait for every rank: a rank that exits while another still writes its checkpoint shard
    makes gloo abort the process."""
    barrier()


def _missing_passes(count: int) -> int:
    """How many more micro-batches than ``count`` the busiest rank runs (FSDP only; 0 otherwise)."""
    if _strategy != "fsdp":
        return 0
    most = torch.tensor([count])
    dist.all_reduce(most, op=dist.ReduceOp.MAX)
    return int(most) - count


def forward_each(passes: list[T], forward: Callable[[T], R], filler: Callable[[], T]) -> Iterator[tuple[T, R]]:
    """``(item, forward(item))`` for each of this rank's micro-batches ``passes``, in order.

    Under FSDP every forward all-gathers the weights, a collective, so every rank must run as many
    forwards: a rank with fewer micro-batches then runs ``forward(filler())`` (``filler`` builds a
    micro-batch any rank can run, e.g. the global batch's first row) until it has run as many as the
    busiest rank, and drops what those return. So no trainer ever sees a filler. Every rank must
    iterate to the end.
    """
    missing = _missing_passes(len(passes))
    for item in passes:
        yield item, forward(item)
    for _ in range(missing):
        forward(filler())


def backward_each(passes: list[T], loss_of: Callable[[T], tuple[torch.Tensor, R]],
                  filler: Callable[[], T]) -> Iterator[tuple[T, R]]:
    """:func:`forward_each` for training: ``loss_of(item)`` returns ``(loss, result)``; the loss is
    backpropagated here, then ``(item, result)`` is yielded.

    FSDP's backward reduce-scatters gradients, a collective too: a filler's loss is backpropagated
    at weight 0, so fillers keep the ranks in step and change no gradient.
    """
    missing = _missing_passes(len(passes))
    for item in passes:
        loss, result = loss_of(item)
        loss.backward()
        yield item, result
    for _ in range(missing):
        (loss_of(filler())[0] * 0.0).backward()


def _decoder_layers(model) -> list[tuple[str, torch.nn.Module]]:
    """The repeated transformer blocks, by the class names Hugging Face models list as unsplittable."""
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    names = set(getattr(inner, "_no_split_modules", None) or [])
    return [(name, module) for name, module in model.named_modules() if type(module).__name__ in names]


def wrap_model(model, strategy: str = "fsdp"):
    """Spread ``model`` over the ranks (in place; returns it). A no-op in a single process.

    Call it after LoRA is applied (``prepare_model``) and the model is on its device, and before the
    optimizer is built: FSDP replaces parameters by sharded ones, on a device mesh of the model's
    device type (left to itself, FSDP picks CUDA whenever it exists and moves only the sharded
    part there). Frozen parameters (a LoRA base) are sharded too but get no gradients; replicated
    trainable parameters are broadcast from rank 0 so all ranks start equal.
    """
    global _strategy
    if not is_distributed():
        return model
    if strategy not in ("fsdp", "ddp"):
        raise UserError(f"distributed_strategy must be 'fsdp' or 'ddp', got '{strategy}'")
    if strategy == "fsdp":
        from torch.distributed.device_mesh import init_device_mesh
        from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

        from posttrain.training.precision import compute_dtype

        # bf16 runs gather parameters in bf16 and reduce gradients in float32 over float32 shards.
        # Autocast alone would cast the gathered float32 layers itself and keep those casts for
        # backward: a whole bf16 copy of the decoder on every rank.
        dtype = compute_dtype(model)
        policy = MixedPrecisionPolicy(param_dtype=dtype, reduce_dtype=torch.float32) if dtype != torch.float32 \
            else MixedPrecisionPolicy()

        layers = _decoder_layers(model)
        if not layers:
            raise UserError(f"fsdp: found no decoder layers in {type(model).__name__}; "
                            "use --distributed-strategy ddp")
        mesh = init_device_mesh(model_device(model).type, (world_size(),))
        for _, layer in layers:
            fully_shard(layer, mesh=mesh, mp_policy=policy)
        # The root unit: the module holding the layers' list, which every forward path calls.
        body = model.get_submodule(layers[0][0].rsplit(".", 2)[0])
        in_layers = {id(p) for _, layer in layers for p in layer.parameters()}
        fully_shard(body, mesh=mesh, mp_policy=policy,
                    ignored_params={p for p in body.parameters() if id(p) not in in_layers})
        for module in model.modules():
            if hasattr(module, "set_gradient_divide_factor"):
                module.set_gradient_divide_factor(1.0)  # sum the ranks' parts of the gradient,
                module.set_force_sum_reduction_for_comms(True)  # as a plain SUM (gloo has no PREMUL_SUM)
    _strategy = strategy
    with torch.no_grad():
        for param in _replicated_trainable(model):
            dist.broadcast(param.data, src=0)
    return model


def _is_sharded(tensor) -> bool:
    from torch.distributed.tensor import DTensor

    return isinstance(tensor, DTensor)


def _replicated_trainable(model) -> list[torch.nn.Parameter]:
    return [p for p in model.parameters() if p.requires_grad and not _is_sharded(p)]


def separate_sharded(groups: list[dict]) -> list[dict]:
    """Split optimizer parameter groups that mix FSDP-sharded and replicated parameters in two
    (same settings): one fused AdamW call cannot take both kinds. Unchanged in a single process."""
    if _strategy != "fsdp":
        return groups
    split = []
    for group in groups:
        parts = [[p for p in group["params"] if _is_sharded(p) == sharded] for sharded in (True, False)]
        split += [{**group, "params": params} for params in parts if params] or [group]  # empty stays empty
    return split


def reduce_gradients(model) -> None:
    """Sum the gradients of replicated trainable parameters over ranks, in one flat all-reduce.
    Sharded (FSDP) gradients were already reduce-scattered during backward."""
    if not is_distributed():
        return
    params = _replicated_trainable(model)
    if not params:
        return
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    for param, part in zip(params, flat.split([g.numel() for g in grads])):
        param.grad = part.view_as(param).clone()


def clip_gradients(params: list[torch.nn.Parameter], max_norm: float | None) -> float:
    """Global gradient norm over sharded and replicated gradients; clipped to ``max_norm`` if given."""
    sharded = [p.grad.to_local() for p in params if _is_sharded(p.grad)]
    replicated = [p.grad for p in params if not _is_sharded(p.grad)]
    # Shards are disjoint pieces: their squares add up over ranks. Replicated ones count once.
    # Sums live where the gradients do; every rank has gradients on the same kind of device, so the
    # all-reduce below takes one backend on all of them (gloo for CPU, nccl for CUDA).
    device = params[0].grad.device if params else torch.device("cpu")
    sharded_sq = torch.zeros((), dtype=torch.float64, device=device)
    if sharded:
        sharded_sq = torch.stack([g.double().pow(2).sum() for g in sharded]).sum()
    dist.all_reduce(sharded_sq)  # every rank joins, also one whose gradients are all replicated
    replicated_sq = sum((g.double().pow(2).sum() for g in replicated), torch.zeros((), dtype=torch.float64,
                                                                                  device=device))
    norm = float((sharded_sq + replicated_sq).sqrt())
    if max_norm is not None:
        scale = max_norm / (norm + 1e-6)
        if scale < 1.0:
            for grad in sharded + replicated:
                grad.mul_(scale)
    return norm


@contextmanager
def gathered(model) -> Iterator[None]:
    """Hold every FSDP unit of ``model`` unsharded (full weights on every rank) inside the block.

    For sampling: each rank decodes its own prompts for as many steps as they need, so forward
    passes must not all-gather. Every rank must enter the block together. Re-entrant; a no-op
    unless the model is FSDP-sharded.
    """
    from torch.distributed.fsdp import FSDPModule

    units = [m for m in model.modules() if isinstance(m, FSDPModule)] if _strategy == "fsdp" else []
    if not units or getattr(model, "_posttrain_gathered", False):
        yield
        return
    for unit in units:
        unit.unshard()
        unit.set_reshard_after_forward(False, recurse=False)
    model._posttrain_gathered = True
    try:
        yield
    finally:
        model._posttrain_gathered = False
        for unit in units:
            unit.set_reshard_after_forward(True, recurse=False)
            unit.reshard()


def full_model(model):
    """The whole model as one plain module on rank 0 (None on the others), for the final export.

    Sharded weights are gathered into a fresh, unwrapped copy of the same architecture (LoRA
    adapters included), so the usual Hugging Face save path works on it. Collective: all ranks call.
    """
    if not is_distributed():
        return model
    if _strategy != "fsdp":
        return model if is_main() else None
    from torch.distributed.checkpoint.state_dict import (
        StateDictOptions,
        get_model_state_dict,
    )

    state = get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    if not is_main():
        return None
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    plain = type(inner)(inner.config).to(next(model.parameters()).dtype)
    if hasattr(model, "peft_config"):
        from peft import get_peft_model

        plain = get_peft_model(plain, model.peft_config["default"])
    missing, unexpected = plain.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise RuntimeError(f"consolidation: {len(missing)} missing, {len(unexpected)} unexpected weights, "
                           f"e.g. {(missing or unexpected)[0]}")
    return plain
