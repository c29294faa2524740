"""Batches that spend no compute on padding worth speaking of.

The global batch (``batch_size`` rows, one optimizer step) is fixed by the seed and the epoch,
so a resumed run sees exactly the batches an uninterrupted one would. Rows are grouped by
length inside windows of several global batches, then each global batch is cut into
micro-batches whose padded size (rows x longest row) stays within ``micro_batch_tokens``.
Micro-batches are right-padded and need no attention mask: under causal attention a real token
never looks at a pad that comes after it, so the results equal an unpadded run.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import torch

from posttrain.data.render import Rendered

LENGTH_WINDOW = 8  # global batches per length-sorting window: more groups tighter, fewer keeps order random


def plan_epoch(lengths: list[int], batch_size: int, seed: int, epoch: int) -> list[list[int]]:
    """Row indices of each global batch of one epoch (the last one may be smaller)."""
    order = list(range(len(lengths)))
    random.Random(f"{seed}-{epoch}").shuffle(order)
    window = batch_size * LENGTH_WINDOW
    batches = []
    for start in range(0, len(order), window):
        chunk = sorted(order[start : start + window], key=lambda index: lengths[index])
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    # Shuffle whole batches so long and short ones alternate through the epoch.
    random.Random(f"{seed}-{epoch}-batches").shuffle(batches)
    return batches


def split_micro_batches(rows: list[int], lengths: list[int], micro_batch_tokens: int) -> list[list[int]]:
    """Cut one global batch into micro-batches of padded size <= micro_batch_tokens."""
    rows = sorted(rows, key=lambda index: lengths[index])
    micro_batches, current = [], []
    for index in rows:
        longest = max([lengths[index]] + [lengths[i] for i in current])
        if current and longest * (len(current) + 1) > micro_batch_tokens:
            micro_batches.append(current)
            current = []
        current.append(index)
    if current:
        micro_batches.append(current)
    return micro_batches


@dataclass
class MicroBatch:
    input_ids: torch.Tensor  # (B, T) right-padded
    targets: torch.Tensor  # (B, T) next token at each position
    target_mask: torch.Tensor  # (B, T) bool: position t predicts a loss token
    num_loss_tokens: int
    num_tokens: int  # real (unpadded) tokens


def collate(rows: list[Rendered], pad_token_id: int) -> MicroBatch:
    longest = max(len(row) for row in rows)
    input_ids = torch.full((len(rows), longest), pad_token_id, dtype=torch.long)
    mask = torch.zeros((len(rows), longest), dtype=torch.bool)
    for i, row in enumerate(rows):
        input_ids[i, : len(row)] = torch.tensor(row.input_ids)
        mask[i, : len(row)] = torch.tensor(row.loss_mask, dtype=torch.bool)
    targets = torch.full_like(input_ids, pad_token_id)
    targets[:, :-1] = input_ids[:, 1:]
    target_mask = torch.zeros_like(mask)
    target_mask[:, :-1] = mask[:, 1:]  # position t is scored on token t+1
    return MicroBatch(input_ids, targets, target_mask, int(target_mask.sum()), sum(len(row) for row in rows))
