"""Token log-probs without full-vocabulary logits for a whole micro-batch.

``chunked_token_logps(hidden, weight, targets)`` returns ``log p(target_i | h_i)`` for the N
selected positions, computing the ``(chunk, V)`` logits one chunk at a time. Its backward never
holds more than one chunk of logits either:

- the gradient with respect to ``hidden`` is linear in the incoming per-token gradient ``g_i``
  (``g_i * (onehot_i - p_i) @ W``), so the forward pass stores ``(onehot_i - p_i) @ W`` per token
  (an ``(N, H)`` tensor, small) and the backward pass only scales it: one logits matmul saved;
- the gradient with respect to ``weight`` (full fine-tuning; LoRA leaves ``lm_head`` frozen) is
  recomputed chunk by chunk in the backward pass.

Used by every trainer (SFT, DPO, RL), so all of them share one numerically identical path.
"""

from __future__ import annotations

import torch


class _ChunkedTokenLogps(torch.autograd.Function):
    @staticmethod
    def forward(ctx, hidden, weight, targets, chunk_size: int):
        # hidden (N, H), weight (V, H), targets (N,)
        count = hidden.shape[0]
        logps = hidden.new_empty(count)
        need_hidden_grad = ctx.needs_input_grad[0]
        hidden_grad_unit = torch.empty_like(hidden) if need_hidden_grad else None
        lse = hidden.new_empty(count)
        for start in range(0, count, chunk_size):
            stop = min(start + chunk_size, count)
            logits = hidden[start:stop] @ weight.t()  # (C, V)
            chunk_targets = targets[start:stop]
            chunk_lse = torch.logsumexp(logits, dim=-1)  # (C,)
            lse[start:stop] = chunk_lse
            logps[start:stop] = logits.gather(1, chunk_targets[:, None]).squeeze(1) - chunk_lse
            if need_hidden_grad:
                # d logp / d logits = onehot - softmax, reusing the logits buffer for it.
                probs = logits.sub_(chunk_lse[:, None]).exp_().neg_()
                probs[torch.arange(stop - start, device=probs.device), chunk_targets] += 1.0
                hidden_grad_unit[start:stop] = probs @ weight
        ctx.chunk_size = chunk_size
        ctx.save_for_backward(hidden, weight, targets, lse, hidden_grad_unit)
        return logps

    @staticmethod
    def backward(ctx, grad_logps):
        hidden, weight, targets, lse, hidden_grad_unit = ctx.saved_tensors
        grad_hidden = grad_weight = None
        if ctx.needs_input_grad[0]:
            grad_hidden = hidden_grad_unit * grad_logps[:, None]
        if ctx.needs_input_grad[1]:
            grad_weight = torch.zeros_like(weight)
            for start in range(0, hidden.shape[0], ctx.chunk_size):
                stop = min(start + ctx.chunk_size, hidden.shape[0])
                chunk_hidden = hidden[start:stop]
                probs = (chunk_hidden @ weight.t()).sub_(lse[start:stop, None]).exp_().neg_()  # (C, V)
                probs[torch.arange(stop - start, device=probs.device), targets[start:stop]] += 1.0
                probs.mul_(grad_logps[start:stop, None])
                grad_weight.addmm_(probs.t(), chunk_hidden)
        return grad_hidden, grad_weight, None, None


def chunked_token_logps(hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor, chunk_size: int = 1024):
    """``log softmax(hidden @ weight.T)[i, targets[i]]`` for each row i, memory-light. (N,)"""
    return _ChunkedTokenLogps.apply(hidden, weight, targets, chunk_size)


def backbone_and_head(model):
    """The transformer body (returns final-normed hidden states) and the output projection weight."""
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    head = inner.get_output_embeddings()
    if getattr(head, "bias", None) is not None:
        raise NotImplementedError("output heads with a bias are not supported yet")
    return inner.model, head.weight


def sequence_token_logps(model, input_ids, targets, target_mask, chunk_size: int = 1024):
    """Log-probs of the masked target tokens of a right-padded batch.

    input_ids, targets, target_mask: (B, T); targets are input_ids shifted left by one.
    Right padding needs no attention mask: with causal attention no real token sees a pad.
    Returns (logps (N,), flat positions (N,)) for the N positions where target_mask is 1.
    """
    body, head_weight = backbone_and_head(model)
    hidden = body(input_ids=input_ids, use_cache=False).last_hidden_state  # (B, T, H)
    flat_positions = target_mask.reshape(-1).nonzero().squeeze(1)  # (N,)
    selected = hidden.reshape(-1, hidden.shape[-1]).index_select(0, flat_positions)  # (N, H)
    logps = chunked_token_logps(selected, head_weight, targets.reshape(-1)[flat_positions], chunk_size)
    return logps, flat_positions


def packed_hidden(body, batch):
    """Final-normed hidden states of a :class:`~posttrain.data.batching.PackedBatch`, flattened. (B*T, H)"""
    extra = {}
    if batch.attention_mask is not None:
        extra = {"attention_mask": batch.attention_mask, "position_ids": batch.position_ids}
    hidden = body(input_ids=batch.input_ids, use_cache=False, **extra).last_hidden_state  # (B, T, H)
    return hidden.reshape(-1, hidden.shape[-1])


def packed_token_logps(model, batch, chunk_size: int = 1024) -> torch.Tensor:
    """Log-probs of the loss tokens of a packed batch (shared prefixes run once), in its
    ``loss_owner`` order. (N,)"""
    body, head_weight = backbone_and_head(model)
    selected = packed_hidden(body, batch).index_select(0, batch.loss_positions)  # (N, H)
    return chunked_token_logps(selected, head_weight, batch.loss_targets, chunk_size)
