"""Supervised fine-tuning loss: negative log-likelihood of the assistant's tokens."""

from __future__ import annotations

import torch


def sft_loss(token_logps: torch.Tensor, num_loss_tokens: int) -> torch.Tensor:
    """Token-mean negative log-likelihood.

    token_logps: (N,) log-probs of this micro-batch's loss tokens.
    num_loss_tokens: loss tokens in the whole global batch, so that the sum of the micro-batch
    losses of one optimizer step equals the loss of that batch computed in one piece, however
    the batch is split (gradient accumulation and data-parallel ranks stay consistent).
    """
    return -token_logps.sum() / max(num_loss_tokens, 1)
