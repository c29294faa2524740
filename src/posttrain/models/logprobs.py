"""Token log-probs without full-vocabulary logits for a whole micro-batch.

``chunked_token_logps(hidden, weight, targets)`` returns ``log p(target_i | h_i)`` for the N
selected positions, computing the ``(chunk, V)`` logits one chunk at a time. Its backward never
holds more than one chunk of logits either:

- the gradient with respect to ``hidden`` is linear in the incoming per-token gradient ``g_i``
  (``g_i * (onehot_i - p_i) @ W``), so the forward pass stores ``(onehot_i - p_i) @ W`` per token
  (an ``(N, H)`` tensor, small) and the backward pass only scales it: one logits matmul saved;
- the gradient with respect to ``weight`` (full fine-tuning; LoRA leaves ``lm_head`` frozen) is
  recomputed chunk by chunk in the backward pass, or, when the caller promises the same gradient
  for every token (``uniform_grad``, SFT's token mean), summed in the forward pass into a buffer
  reused from one micro-batch to the next.

When the output layer shares its weight with the input embedding (SmolLM2 ties them), full
fine-tuning looks the input up through :class:`_TiedEmbedding` (:func:`body_inputs`), which adds
its rows' gradients into ``weight.grad`` in place instead of building a vocabulary-sized gradient.

On CPU the vocabulary-sized buffers (a chunk's logits, the tied weight's gradient) are kept and
reused rather than allocated afresh: glibc serves blocks of 32 MB or more from new mappings
(:mod:`posttrain.training.memory`), which the kernel faults in page by page on every use.

Used by every trainer (SFT, DPO, RL), so all of them share one numerically identical path.
"""

from __future__ import annotations

import weakref
from contextlib import nullcontext

import torch

from posttrain.models import segment_attention as segments
from posttrain.training.precision import compute_dtype

# One reused (V, H) buffer per trained output weight for the summed gradient of ``uniform_grad``:
# a fresh one per micro-batch (113 MB for SmolLM2) is faulted in by the kernel page by page each time.
# A buffer is taken from its forward pass until its backward pass; a second forward pass in between
# (two losses summed before one backward) gets a fresh buffer instead.
_weight_grad_buffers: dict[int, tuple[weakref.ref, torch.Tensor]] = {}  # id(weight) -> (weight, free buffer)


def _take_weight_grad_buffer(weight: torch.Tensor) -> torch.Tensor:
    buffer = _kept_for(_weight_grad_buffers, weight, take=True)
    if buffer is None or buffer.shape != weight.shape or buffer.dtype != weight.dtype or buffer.device != weight.device:
        return torch.empty_like(weight)
    return buffer


def _give_back_weight_grad_buffer(weight: torch.Tensor, buffer: torch.Tensor) -> None:
    _keep(_weight_grad_buffers, weight, buffer)


def _keep(store: dict, weight: torch.Tensor, buffer: torch.Tensor) -> None:
    """Remember ``buffer`` for ``weight`` until the weight is freed."""
    key = id(weight)
    store[key] = (weakref.ref(weight, lambda _: store.pop(key, None)), buffer)


def _kept_for(store: dict, weight: torch.Tensor, take: bool = False) -> torch.Tensor | None:
    """The buffer :func:`_keep` remembered for this very ``weight`` (removed when ``take``), else None."""
    owner, buffer = (store.pop if take else store.get)(id(weight), (None, None))
    return buffer if owner is not None and owner() is weight else None


# On CPU, one kept (rows, V) scratch per output weight for the logits chunk, grown to the largest
# chunk seen (at most ``chunk_size`` rows): freshly allocated, every chunk's logits (85 MB for 431
# SmolLM2 tokens) came from a new mapping that the kernel faulted in page by page, about 5% of a
# full fine-tuning step's CPU time. CUDA's caching allocator already reuses its blocks.
_logits_scratch: dict[int, tuple[weakref.ref, torch.Tensor]] = {}
SCRATCH_ROWS = 256  # the scratch grows in steps of this many rows


def _logits_buffer(weight: torch.Tensor, rows: int, chunk_size: int) -> torch.Tensor | None:
    """A (rows, V) buffer to write one chunk's logits into, or None where fresh memory is cheap."""
    if weight.device.type != "cpu":
        return None
    buffer = _kept_for(_logits_scratch, weight)
    if buffer is None or buffer.shape[0] < rows or buffer.shape[1] != weight.shape[0] or buffer.dtype != weight.dtype:
        grown = min(chunk_size, -(-rows // SCRATCH_ROWS) * SCRATCH_ROWS)  # a chunk never exceeds chunk_size rows
        buffer = weight.new_empty(grown, weight.shape[0])
        _keep(_logits_scratch, weight, buffer)
    return buffer[:rows]


def _chunk_logits(hidden: torch.Tensor, weight: torch.Tensor, chunk_size: int) -> torch.Tensor:
    """``hidden @ weight.T`` (C, V), written into the kept scratch where there is one: the result
    is only valid until the next call for this weight."""
    buffer = _logits_buffer(weight, hidden.shape[0], chunk_size)
    return hidden @ weight.t() if buffer is None else torch.mm(hidden, weight.t(), out=buffer)


class _ChunkedTokenLogps(torch.autograd.Function):
    @staticmethod
    def forward(ctx, hidden, weight, targets, chunk_size: int, uniform_grad: bool):
        # hidden (N, H), weight (V, H), targets (N,)
        count = hidden.shape[0]
        logps = hidden.new_empty(count)
        need_hidden_grad, need_weight_grad = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        hidden_grad_unit = torch.empty_like(hidden) if need_hidden_grad else None
        # With the same upstream gradient g for every token (SFT's token mean), dW = g * sum_i
        # (onehot_i - p_i)^T h_i can be summed here, while the softmax is at hand, instead of
        # recomputing every chunk's logits in backward.
        weight_grad_unit = None
        if need_weight_grad and uniform_grad:
            weight_grad_unit = _take_weight_grad_buffer(weight)
            if count == 0:
                weight_grad_unit.zero_()
        lse = hidden.new_empty(count)
        for start in range(0, count, chunk_size):
            stop = min(start + chunk_size, count)
            chunk_targets = targets[start:stop]
            logits = _chunk_logits(hidden[start:stop], weight, chunk_size)  # (C, V)
            target_logit = logits.gather(1, chunk_targets[:, None]).squeeze(1)
            # One fused pass over the (C, V) logits (in place on CPU, whose kernel reads each row
            # before writing it), then one in-place exp: a separate logsumexp, subtract and exp
            # cost three more passes and a (C, V) temporary.
            log_probs = torch.log_softmax(logits, dim=-1, out=logits if logits.device.type == "cpu" else None)
            del logits
            target_logps = log_probs.gather(1, chunk_targets[:, None]).squeeze(1)
            logps[start:stop] = target_logps
            lse[start:stop] = target_logit - target_logps  # logit - log p: the same in every column
            if need_hidden_grad or weight_grad_unit is not None:
                probs = log_probs.exp_()
            if need_hidden_grad:
                # d logp / d logits = onehot - softmax, so the unit is W[target] - softmax @ W.
                torch.addmm(weight.index_select(0, chunk_targets), probs, weight, alpha=-1.0,
                            out=hidden_grad_unit[start:stop])
            if weight_grad_unit is not None:  # the first chunk overwrites what the buffer held
                weight_grad_unit.addmm_(probs.t(), hidden[start:stop], beta=1.0 if start else 0.0, alpha=-1.0)
        if weight_grad_unit is not None:
            weight_grad_unit.index_add_(0, targets, hidden)  # the one-hot part: + h_i on row target_i
        ctx.chunk_size = chunk_size
        ctx.weight_grad_unit = weight_grad_unit
        ctx.save_for_backward(hidden, weight, targets, lse, hidden_grad_unit)
        return logps

    @staticmethod
    def backward(ctx, grad_logps):
        hidden, weight, targets, lse, hidden_grad_unit = ctx.saved_tensors
        grad_hidden = grad_weight = None
        if ctx.needs_input_grad[0]:
            grad_hidden = hidden_grad_unit * grad_logps[:, None]
        if ctx.needs_input_grad[1]:
            unit, ctx.weight_grad_unit = ctx.weight_grad_unit, None  # scaled in place: usable once
            if unit is not None:
                _give_back_weight_grad_buffer(weight, unit)  # free again once this backward pass has used it
            if unit is not None and bool((grad_logps == grad_logps[0]).all()):
                # The buffer itself: autograd adds it into (or copies it to) weight.grad before any
                # later forward pass can take it (a caller keeping it, as autograd.grad's result, must copy).
                return grad_hidden, unit.mul_(grad_logps[0]), None, None, None
            # dW = sum_i g_i (onehot_i - p_i)^T h_i: the one-hot part adds g_i h_i to row target_i,
            # the softmax part is recomputed chunk by chunk.
            scaled_hidden = hidden * grad_logps[:, None]
            grad_weight = torch.zeros_like(weight).index_add_(0, targets, scaled_hidden)
            for start in range(0, hidden.shape[0], ctx.chunk_size):
                stop = min(start + ctx.chunk_size, hidden.shape[0])
                probs = _chunk_logits(hidden[start:stop], weight, ctx.chunk_size).sub_(lse[start:stop, None]).exp_()  # (C, V)
                grad_weight.addmm_(probs.t(), scaled_hidden[start:stop], alpha=-1.0)
        return grad_hidden, grad_weight, None, None, None


class _MixedTokenLogps(torch.autograd.Function):
    """:class:`_ChunkedTokenLogps` for a lower-precision compute dtype (bf16): each chunk's logits
    come from a ``compute_dtype`` matmul and are cast to float32 before the log-softmax, so the
    log-probs, and everything computed from them, are float32. Gradients come back in the inputs'
    dtypes; the output weight's is summed in float32. No buffers are kept (this is the GPU path)."""

    @staticmethod
    def forward(ctx, hidden, weight, targets, chunk_size: int, compute_dtype: torch.dtype):
        low_hidden, low_weight = hidden.to(compute_dtype), weight.to(compute_dtype)
        count = hidden.shape[0]
        logps = torch.empty(count, dtype=torch.float32, device=hidden.device)
        lse = torch.empty_like(logps)
        hidden_grad_unit = torch.empty_like(hidden) if ctx.needs_input_grad[0] else None
        for start in range(0, count, chunk_size):
            stop = min(start + chunk_size, count)
            chunk_targets = targets[start:stop]
            logits = (low_hidden[start:stop] @ low_weight.t()).float()  # (C, V)
            log_probs = torch.log_softmax(logits, dim=-1)
            target_logps = log_probs.gather(1, chunk_targets[:, None]).squeeze(1)
            logps[start:stop] = target_logps
            lse[start:stop] = logits.gather(1, chunk_targets[:, None]).squeeze(1) - target_logps
            del logits
            if hidden_grad_unit is not None:  # W[target] - softmax @ W, as in the float32 path
                probs = log_probs.exp_().to(compute_dtype)
                hidden_grad_unit[start:stop] = low_weight.index_select(0, chunk_targets) - probs @ low_weight
        ctx.chunk_size, ctx.compute_dtype = chunk_size, compute_dtype
        ctx.save_for_backward(hidden, weight, targets, lse, hidden_grad_unit)
        return logps

    @staticmethod
    def backward(ctx, grad_logps):
        hidden, weight, targets, lse, hidden_grad_unit = ctx.saved_tensors
        grad_hidden = grad_weight = None
        if ctx.needs_input_grad[0]:
            grad_hidden = (hidden_grad_unit.float() * grad_logps[:, None]).to(hidden.dtype)
        if ctx.needs_input_grad[1]:
            low_hidden, low_weight = hidden.to(ctx.compute_dtype), weight.to(ctx.compute_dtype)
            scaled_hidden = hidden.float() * grad_logps[:, None]  # (N, H)
            grad_weight = torch.zeros(weight.shape, dtype=torch.float32, device=weight.device)
            grad_weight.index_add_(0, targets, scaled_hidden)
            for start in range(0, hidden.shape[0], ctx.chunk_size):
                stop = min(start + ctx.chunk_size, hidden.shape[0])
                probs = (low_hidden[start:stop] @ low_weight.t()).float().sub_(lse[start:stop, None]).exp_()
                grad_weight.sub_((probs.to(ctx.compute_dtype).t() @ scaled_hidden[start:stop].to(ctx.compute_dtype)).float())
            grad_weight = grad_weight.to(weight.dtype)
        return grad_hidden, grad_weight, None, None, None


def chunked_token_logps(hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor, chunk_size: int = 1024,
                        uniform_grad: bool = False, compute_dtype: torch.dtype | None = None):
    """``log softmax(hidden @ weight.T)[i, targets[i]]`` for each row i, memory-light. (N,)

    ``uniform_grad``: the caller expects the same gradient for every token (a plain token mean, as
    in SFT), so a trained ``weight``'s gradient is summed in the forward pass, saving a recompute
    of the logits in backward. A hint only: a backward that brings unequal gradients recomputes.
    That summed gradient lives in a buffer the next forward pass reuses: ``.backward()`` adds it
    into ``weight.grad`` at once, but a caller keeping it (``torch.autograd.grad``) must copy it.
    ``compute_dtype`` (default: the weight's): the logits matmul's dtype; below float32 (bf16
    autocast, :mod:`posttrain.training.precision`) the logits are cast to float32 before the
    log-softmax and the result is float32.
    """
    compute_dtype = compute_dtype or weight.dtype
    if compute_dtype in (torch.bfloat16, torch.float16) or hidden.dtype != weight.dtype:
        return _MixedTokenLogps.apply(hidden, weight, targets, chunk_size, compute_dtype)
    return _ChunkedTokenLogps.apply(hidden, weight, targets, chunk_size, uniform_grad)


# The tied weight's gradient buffer, kept across optimizer steps on CPU: ``zero_grad(set_to_none=True)``
# drops ``weight.grad`` every step, and a fresh (V, H) buffer (113 MB for SmolLM2) is faulted in by
# the kernel page by page; zeroing the kept one is a plain memset. So ``weight.grad`` is the same
# tensor every step: a caller keeping last step's gradient must copy it.
_tied_grads: dict[int, tuple[weakref.ref, torch.Tensor]] = {}


def _zeroed_grad(weight: torch.Tensor) -> torch.Tensor:
    if weight.device.type != "cpu":
        return torch.zeros_like(weight)
    buffer = _kept_for(_tied_grads, weight)
    if buffer is None or buffer.shape != weight.shape or buffer.dtype != weight.dtype:
        buffer = torch.empty_like(weight)
        _keep(_tied_grads, weight, buffer)
    return buffer.zero_()


class _TiedEmbedding(torch.autograd.Function):
    """The input embedding lookup of a weight the output layer shares (full fine-tuning of a tied
    model), whose backward adds the looked-up rows' gradients into ``weight.grad`` in place.

    The stock backward builds a dense (V, H) gradient for every call, zeros plus the rows, which
    autograd then adds to the output layer's: for SmolLM2 a fresh 113 MB buffer per micro-batch,
    faulted in by the kernel page by page. The in-place add touches only the looked-up rows. Its
    order against autograd's own accumulation of the output layer's gradient does not matter: both
    add into ``weight.grad``.
    """

    @staticmethod
    def forward(ctx, ids, weight, padding_idx):
        ctx.save_for_backward(ids)
        ctx.weight, ctx.padding_idx = weight, padding_idx
        return torch.nn.functional.embedding(ids, weight, padding_idx)

    @staticmethod
    def backward(ctx, grad_output):
        (ids,) = ctx.saved_tensors
        weight, flat_ids = ctx.weight, ids.reshape(-1)
        rows = grad_output.reshape(-1, weight.shape[1])
        if ctx.padding_idx is not None:  # as nn.Embedding: the padding row gets no gradient
            rows = rows.masked_fill((flat_ids == ctx.padding_idx)[:, None], 0.0)
        if weight.grad is None:  # the step's first micro-batch: this runs before the output layer's gradient lands
            weight.grad = _zeroed_grad(weight)
        weight.grad.index_add_(0, flat_ids, rows.to(weight.grad.dtype))
        return None, None, None


def body_inputs(body, input_ids: torch.Tensor, head_weight: torch.Tensor) -> dict:
    """The body's token inputs: ``input_ids``, or for a trained weight shared by a plain embedding
    and the output layer, ``inputs_embeds`` from :class:`_TiedEmbedding`. Not under torch.distributed,
    whose gradient hooks must see every gradient, nor for embeddings with hooks or special options."""
    embedding = body.get_input_embeddings()
    tied = (torch.is_grad_enabled() and head_weight.requires_grad and type(embedding) is torch.nn.Embedding
            and embedding.weight is head_weight and embedding.max_norm is None
            and not embedding.scale_grad_by_freq and not embedding.sparse
            and not (embedding._forward_hooks or embedding._forward_pre_hooks)
            and not (torch.distributed.is_available() and torch.distributed.is_initialized()))
    if not tied:
        return {"input_ids": input_ids}
    return {"inputs_embeds": _TiedEmbedding.apply(input_ids, head_weight, embedding.padding_idx)}


def backbone_and_head(model):
    """The transformer body (returns final-normed hidden states) and the output projection weight."""
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    head = inner.get_output_embeddings()
    if getattr(head, "bias", None) is not None:
        raise NotImplementedError("output heads with a bias are not supported yet")
    return inner.model, head.weight


def _may_switch(body) -> bool:
    """Whether a forward pass may swap the attention implementation: not under gradient
    checkpointing, whose recompute in backward would run outside the switch."""
    return not getattr(body, "gradient_checkpointing", False)


def causal_hidden(body, input_ids: torch.Tensor, head_weight: torch.Tensor | None = None) -> torch.Tensor:
    """Final-normed hidden states of a right-padded batch under plain causal attention. (B, T, H)

    Right padding needs no attention mask: with causal attention no real token sees a pad. Rows
    of :data:`~posttrain.models.segment_attention.MIN_BLOCKED` tokens or more attend in query
    blocks, skipping most of the masked half. ``head_weight``: as for :func:`packed_hidden`.
    """
    inputs = {"input_ids": input_ids} if head_weight is None else body_inputs(body, input_ids, head_weight)
    blocked = input_ids.shape[1] >= segments.MIN_BLOCKED and _may_switch(body)
    with segments.causal_blocks(body) if blocked else nullcontext(False):
        return body(**inputs, use_cache=False).last_hidden_state


def sequence_token_logps(model, input_ids, targets, target_mask, chunk_size: int = 1024, uniform_grad: bool = False):
    """Log-probs of the masked target tokens of a right-padded batch.

    input_ids, targets, target_mask: (B, T); targets are input_ids shifted left by one (the body
    runs through :func:`causal_hidden`).
    Returns (logps (N,), flat positions (N,)) for the N positions where target_mask is 1.
    """
    body, head_weight = backbone_and_head(model)
    hidden = causal_hidden(body, input_ids, head_weight)  # (B, T, H)
    flat_positions = target_mask.reshape(-1).nonzero().squeeze(1)  # (N,)
    selected = hidden.reshape(-1, hidden.shape[-1]).index_select(0, flat_positions)  # (N, H)
    logps = chunked_token_logps(selected, head_weight, targets.reshape(-1)[flat_positions], chunk_size, uniform_grad,
                                compute_dtype(body))
    return logps, flat_positions


def packed_hidden(body, batch, head_weight: torch.Tensor | None = None):
    """Final-normed hidden states of a :class:`~posttrain.data.batching.PackedBatch`, flattened. (B*T, H)

    ``head_weight``: the output layer's weight, when the caller uses it (see :func:`body_inputs`).

    Rows that share a prefix run their attention segment by segment
    (:mod:`posttrain.models.segment_attention`) where the model allows, else under the batch's mask.
    """
    if batch.attention_mask is None:
        hidden = causal_hidden(body, batch.input_ids, head_weight)  # (B, T, H)
        return hidden.reshape(-1, hidden.shape[-1])
    inputs = {"input_ids": batch.input_ids} if head_weight is None else body_inputs(body, batch.input_ids, head_weight)
    extra = {"attention_mask": batch.attention_mask, "position_ids": batch.position_ids}
    # Rows without a shared prefix (packed documents) always go segment by segment: each segment is
    # a plain causal call, never dearer than the masked row.
    by_segment = batch.layout is not None and _may_switch(body) and (
        batch.input_ids.shape[1] >= segments.MIN_WIDTH or not any(prefix for prefix, _ in batch.layout))
    with segments.segment_attention(body) if by_segment else nullcontext(False) as switched:
        if switched:
            extra["packed_layout"] = batch.layout
        hidden = body(**inputs, use_cache=False, **extra).last_hidden_state
    return hidden.reshape(-1, hidden.shape[-1])


def packed_token_logps(model, batch, chunk_size: int = 1024, uniform_grad: bool = False) -> torch.Tensor:
    """Log-probs of the loss tokens of a packed batch (shared prefixes run once), in its
    ``loss_owner`` order. (N,) ``uniform_grad``: as for :func:`chunked_token_logps`."""
    body, head_weight = backbone_and_head(model)
    selected = packed_hidden(body, batch, head_weight).index_select(0, batch.loss_positions)  # (N, H)
    return chunked_token_logps(selected, head_weight, batch.loss_targets, chunk_size, uniform_grad, compute_dtype(body))
