"""The running batch of generation (rollouts and serving) and a KV cache that writes in place.

:class:`RunningBatch` holds the rows being decoded together: rows join after a shared prefill
(:meth:`RunningBatch.prefilled`, one forward per distinct prompt), decode one token per
:meth:`RunningBatch.step`, and leave or arrive between steps (``keep``/``merge``).

transformers' ``DynamicLayer`` appends each step's keys and values with ``torch.cat``, which copies the
whole cache on every decode step: at 32 rows of 400 tokens on SmolLM2-135M that copy takes a third of
a CPU decode step. :class:`ReservedLayer` keeps each layer's keys and values in a buffer with room
for ``reserve`` more tokens and returns views of the filled part; a step then writes one column.

Everything that replaces ``keys``/``values`` wholesale (``batch_select_indices``, the serve batch's
merge and trim) still works: assigning a tensor makes it the new buffer, full to the brim, and the next
update that does not fit moves it into a larger one.
"""

from __future__ import annotations

import inspect
from contextlib import contextmanager
from functools import partial

import torch
import torch.nn.functional as F
from transformers import DynamicCache
from transformers.cache_utils import DynamicLayer


def left_pad(prompts: list[list[int]], pad_token_id: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Left-pad ``prompts`` into ``input_ids`` and ``attention_mask``, both (B, T)."""
    width = max(len(p) for p in prompts)
    input_ids = torch.full((len(prompts), width), pad_token_id, dtype=torch.long)
    attention_mask = torch.zeros((len(prompts), width), dtype=torch.long)
    for row, prompt in enumerate(prompts):
        input_ids[row, width - len(prompt) :] = torch.tensor(prompt, dtype=torch.long)
        attention_mask[row, width - len(prompt) :] = 1
    return input_ids.to(device), attention_mask.to(device)


def _onednn_linear(module: torch.nn.Linear, packed: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    flat = x.reshape(-1, x.shape[-1])  # (M, in)
    out = torch.ops.mkldnn._linear_pointwise(flat, packed, module.bias, "none", [], "")  # (M, out)
    return out.reshape(*x.shape[:-1], out.shape[-1])


def _can_pack(model) -> bool:
    if not isinstance(model, torch.nn.Module) or torch.distributed.is_initialized():
        return False  # under torch.distributed the weights may be sharded DTensors
    first = next(model.parameters(), None)
    return (first is not None and first.device.type == "cpu" and first.dtype == torch.float32
            and getattr(model, "_posttrain_autocast", None) is None  # bf16 autocast over float32 masters: inputs are bf16
            and torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_reorder_linear_weight"))


@contextmanager
def cpu_decode_linears(model):
    """While decoding on the CPU, run every ``nn.Linear`` on a copy of its weight that oneDNN has
    laid out for its matmul kernel once, up front.

    A decode step multiplies a few rows by each weight matrix. The default path re-arranges the
    weight for the kernel on every call, and at a few rows that is much of the work. GRPO rollouts
    on SmolLM2-135M (16 rows, 32 tokens) took 3.7 s instead of 4.4 s (median of 6 alternating runs),
    including the 0.4 s it takes to lay out all 211 weights. The copies cost one more model's worth
    of memory while they live. fp32 weights only. On other devices, without oneDNN, or under
    torch.distributed, it changes nothing. ``generate_ids`` enters it on every call; a caller that
    generates several times with the same weights (evaluation, rejection sampling) enters it once
    around all of them, and the inner calls then find the layers patched and lay nothing out again.
    """
    if not _can_pack(model):
        yield
        return
    # Modules already patched (a nested or concurrent use) are left to whoever patched them.
    patched = []
    try:
        for module in model.modules():
            if type(module) is torch.nn.Linear and "forward" not in module.__dict__:
                packed = torch.ops.mkldnn._reorder_linear_weight(module.weight.detach(), None)
                module.forward = partial(_onednn_linear, module, packed)
                patched.append(module)
        yield
    finally:
        for module in patched:
            module.__dict__.pop("forward", None)


def accepts_logits_to_keep(model) -> bool:
    forward = getattr(model, "forward", None)
    return forward is not None and "logits_to_keep" in inspect.signature(forward).parameters


class ReservedLayer(DynamicLayer):
    """A ``DynamicLayer`` whose keys/values live in buffers with spare room along the sequence dim."""

    def __init__(self, reserve: int = 256, **kwargs):
        self.reserve = reserve
        self._buffers: dict[str, torch.Tensor | None] = {"keys": None, "values": None}
        self._length = {"keys": 0, "values": 0}
        super().__init__(**kwargs)

    def _get(self, name: str) -> torch.Tensor | None:
        buffer = self._buffers[name]
        if buffer is None or buffer.dim() != 4:
            return buffer
        return buffer[:, :, : self._length[name]]

    def _set(self, name: str, tensor: torch.Tensor | None) -> None:
        self._buffers[name] = tensor
        self._length[name] = tensor.shape[-2] if tensor is not None and tensor.dim() == 4 else 0

    keys = property(lambda self: self._get("keys"), lambda self, tensor: self._set("keys", tensor))
    values = property(lambda self: self._get("values"), lambda self, tensor: self._set("values", tensor))

    def _append(self, name: str, states: torch.Tensor) -> torch.Tensor:
        buffer, length, new = self._buffers[name], self._length[name], states.shape[-2]
        if buffer is None or buffer.dim() != 4 or buffer.shape[:2] != states.shape[:2]:
            buffer, length = None, 0
        if buffer is None or length + new > buffer.shape[-2]:
            room = max(self.reserve, length // 2)  # geometric growth past the reserve: amortised O(1) copies
            grown = states.new_empty(*states.shape[:2], length + new + room, states.shape[-1])
            if buffer is not None and length:
                grown[:, :, :length] = buffer[:, :, :length]
            buffer = self._buffers[name] = grown
        buffer[:, :, length : length + new] = states
        self._length[name] = length + new
        return buffer[:, :, : length + new]

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args, **kwargs
               ) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        return self._append("keys", key_states), self._append("values", value_states)


MAX_RESERVE = 512  # beyond this, a long max_new_tokens would hold memory that short answers never use


def new_cache(model, reserve: int = 256) -> DynamicCache:
    """A ``DynamicCache`` for ``model`` whose full-attention layers are :class:`ReservedLayer`s with room for
    ``reserve`` (at most :data:`MAX_RESERVE`) new tokens beyond the prompt; sliding-window layers keep
    transformers' own class."""
    reserve = max(1, min(reserve, MAX_RESERVE))
    try:
        cache = DynamicCache(config=model.config)  # the config gives per-layer sliding windows (transformers 5)
    except TypeError:
        cache = DynamicCache()
    layers = getattr(cache, "layers", None)
    if layers:
        cache.layers = [ReservedLayer(reserve) if type(layer) is DynamicLayer else layer for layer in layers]
    return cache


def _pad_left(tensor: torch.Tensor, columns: int, dim: int) -> torch.Tensor:
    """Add ``columns`` zero columns at the start of ``dim`` (a negative dim)."""
    if columns == 0:
        return tensor
    padding = [0, 0] * (-dim - 1) + [columns, 0]
    return F.pad(tensor, padding)


class RunningBatch:
    """Rows being decoded together: each row's own state object (``sequences``), their KV cache, attention
    mask (B, T), next positions (B,) and the tokens sampled but not yet fed to the model (B,).

    New rows join with :meth:`merge` (the narrower cache is left-padded); finished ones leave with
    :meth:`keep`, which also drops the leading columns no remaining row attends to.
    """

    def __init__(self) -> None:
        self.cache = None
        self.attention_mask: torch.Tensor | None = None
        self.next_positions: torch.Tensor | None = None
        self.next_tokens: torch.Tensor | None = None  # (B,) sampled, not yet fed to the model
        # Last: another thread that sees no rows (the server's idle check) then sees no cache either.
        self.sequences: list = []

    def __len__(self) -> int:
        return len(self.sequences)

    def merge(self, other: RunningBatch) -> None:
        """Append ``other``'s rows, left-padding whichever cache is narrower."""
        if not self.sequences:
            self.__dict__.update(other.__dict__)
            return
        width, other_width = self.attention_mask.size(1), other.attention_mask.size(1)
        pad_self, pad_other = max(0, other_width - width), max(0, width - other_width)
        for layer, other_layer in zip(self.cache.layers, other.cache.layers):
            layer.keys = torch.cat([_pad_left(layer.keys, pad_self, -2), _pad_left(other_layer.keys, pad_other, -2)])
            layer.values = torch.cat([_pad_left(layer.values, pad_self, -2),
                                      _pad_left(other_layer.values, pad_other, -2)])
        self.attention_mask = torch.cat([_pad_left(self.attention_mask, pad_self, -1),
                                         _pad_left(other.attention_mask, pad_other, -1)])
        self.next_positions = torch.cat([self.next_positions, other.next_positions])
        self.next_tokens = torch.cat([self.next_tokens, other.next_tokens])
        self.sequences += other.sequences

    def keep(self, rows: list[int]) -> None:
        """Keep only ``rows``, then drop the leading columns no remaining row attends to."""
        if len(rows) == len(self.sequences):
            return
        if not rows:
            self.__init__()
            return
        self.sequences = [self.sequences[row] for row in rows]
        index = torch.tensor(rows, dtype=torch.long, device=self.attention_mask.device)
        self.attention_mask = self.attention_mask[index]
        self.next_positions, self.next_tokens = self.next_positions[index], self.next_tokens[index]
        first_used = int(self.attention_mask.any(dim=0).long().argmax())
        self.attention_mask = self.attention_mask[:, first_used:]
        for layer in self.cache.layers:
            layer.keys = layer.keys[index, :, first_used:]
            layer.values = layer.values[index, :, first_used:]

    @classmethod
    def prefilled(cls, model, prompts: list[list[int]], rows: torch.Tensor, pad_token_id: int, reserve: int,
                  sequences: list) -> tuple[RunningBatch, torch.Tensor]:
        """Prefill each of ``prompts`` once, give row ``i`` the cache of prompt ``rows[i]`` (a prompt's
        samples share its prefill); returns the batch (``next_tokens`` unset) and each row's last logits (N, V).
        Everything is made on ``rows``' device, the model's."""
        input_ids, attention_mask = left_pad(prompts, pad_token_id, rows.device)  # (P, T), (P, T)
        position_ids = (attention_mask.cumsum(dim=-1) - 1).clamp(min=0)  # (P, T)
        cache = new_cache(model, reserve=reserve)
        keep_last = {"logits_to_keep": 1} if accepts_logits_to_keep(model) else {}
        out = model(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                    past_key_values=cache, use_cache=True, **keep_last)
        if len(rows) != len(prompts) or rows.tolist() != list(range(len(prompts))):
            cache.batch_select_indices(rows)
        batch = cls()
        batch.sequences, batch.cache = sequences, cache
        batch.attention_mask = attention_mask[rows]
        batch.next_positions = attention_mask.sum(dim=-1)[rows]  # (N,) position of each row's first new token
        return batch, out.logits[rows, -1, :].float()

    def step(self, model) -> torch.Tensor:
        """Feed every row its ``next_tokens``; returns the logits for the token after them (B, V)."""
        ones = torch.ones((len(self), 1), dtype=self.attention_mask.dtype, device=self.attention_mask.device)
        self.attention_mask = torch.cat([self.attention_mask, ones], dim=-1)  # (B, T + 1)
        out = model(input_ids=self.next_tokens[:, None], attention_mask=self.attention_mask,
                    position_ids=self.next_positions[:, None], past_key_values=self.cache, use_cache=True)
        self.next_positions = self.next_positions + 1
        return out.logits[:, -1, :].float()
