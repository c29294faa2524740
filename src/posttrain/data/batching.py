"""Batches that spend no compute on padding worth speaking of.

The global batch (``batch_size`` rows, one optimizer step) is fixed by the seed and the epoch,
so a resumed run sees exactly the batches an uninterrupted one would. Rows are grouped by
length inside windows of several global batches, then each global batch is cut into forward
passes of at most ``micro_batch_tokens``: packs of rows run back to back in one row
(:func:`split_packs`, :func:`pack_documents`; no padding at all), or right-padded micro-batches
(:func:`split_micro_batches`, :func:`collate`; rows x longest row within the budget). Right-padded
micro-batches need no attention mask: under causal attention a real token never looks at a pad
that comes after it, so the results equal an unpadded run.
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



def split_grouped(groups: list[list[Rendered]], indices: list[int], micro_batch_tokens: int) -> list[list[int]]:
    """Cut ``indices`` into ``groups`` (e.g. a preference row's chosen and rejected) into micro-batches:
    each group becomes one packed row (:func:`pack_groups`) that holds its shared prompt once."""
    widths = {i: packed_length(groups[i]) for i in indices}
    return split_micro_batches(indices, widths, micro_batch_tokens)


def split_heldout(examples: list, config) -> tuple[list, list]:
    """Hold out ``config.eval_fraction`` of the rows (at least one when the fraction is positive),
    drawn with ``config.seed``; returns (train, held out), each in the original order."""
    order = list(range(len(examples)))
    random.Random(config.seed).shuffle(order)
    n_eval = int(len(order) * config.eval_fraction)
    if config.eval_fraction > 0 and len(order) >= 2:
        n_eval = max(1, n_eval)
    held = set(order[:n_eval])
    return [e for i, e in enumerate(examples) if i not in held], [e for i, e in enumerate(examples) if i in held]

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


def common_prefix_length(sequences: list[Rendered]) -> int:
    """How many leading tokens every sequence of a group shares (a prompt and its answers)."""
    first = sequences[0].input_ids
    length = min(len(seq) for seq in sequences)
    for seq in sequences[1:]:
        ids = seq.input_ids
        length = next((i for i in range(length) if ids[i] != first[i]), length)
    return length


def packed_length(sequences: list[Rendered]) -> int:
    """Tokens of a group once its shared prefix is run once: the prefix plus every suffix."""
    prefix = common_prefix_length(sequences)
    return prefix + sum(len(seq) - prefix for seq in sequences)


@dataclass
class PackedBatch:
    """Groups of sequences that share a prefix, each group packed into one row.

    A row holds the shared prefix once, then each sequence's own suffix. Position ids restart
    after the prefix for every suffix, and the attention mask lets a suffix token see the
    prefix and the earlier tokens of its own suffix only, so every sequence is computed exactly
    as it would be alone, while the prefix's tokens are run once for the whole group. For DPO's
    pairs (about 50 prompt tokens shared by a 35-token and a 60-token answer in the bundled set)
    that is a third fewer tokens than two padded rows.

    The loss tokens come out sequence by sequence, in order, as from :func:`collate`.
    """

    input_ids: torch.Tensor  # (B, T) right-padded
    position_ids: torch.Tensor | None  # (B, T); None when no group shares anything (plain causal batch)
    attention_mask: torch.Tensor | None  # (B, 1, T, T) bool, True = may attend; None as above
    loss_positions: torch.Tensor  # (N,) flat index into (B*T) of the position that predicts each loss token
    loss_targets: torch.Tensor  # (N,) the loss token
    loss_owner: torch.Tensor  # (N,) index of the sequence (groups flattened) the token belongs to
    last_positions: torch.Tensor  # (S,) flat index of each sequence's last token
    num_tokens: int  # tokens run, each shared prefix counted once
    # Per row: (prefix length, [(start, stop) of each sequence's own part]); None as above.
    layout: list[tuple[int, list[tuple[int, int]]]] | None = None

    @property
    def num_loss_tokens(self) -> int:
        return int(self.loss_positions.numel())


def split_packs(rows: list[int], lengths: list[int], micro_batch_tokens: int) -> list[list[int]]:
    """Cut one global batch into packs of at most ``micro_batch_tokens`` tokens in all (no padding):
    longest rows first, each into the first pack with room (first-fit decreasing)."""
    packs, room = [], []
    for index in sorted(rows, key=lambda i: (-lengths[i], i)):
        slot = next((k for k, free in enumerate(room) if lengths[index] <= free), None)
        if slot is None:
            packs.append([])
            room.append(micro_batch_tokens)
            slot = len(packs) - 1
        packs[slot].append(index)
        room[slot] -= lengths[index]
    return packs


def pack_documents(rows: list[Rendered]) -> PackedBatch:
    """Unrelated sequences back to back in one row, no padding: position ids restart at every
    sequence and its tokens attend within it only, so each is computed exactly as alone. The
    layout has no prefix; the mask (for models whose attention cannot run segment by segment) is
    block-diagonal causal. Loss tokens come out sequence by sequence, as from :func:`collate`."""
    ids, positions, segment, spans = [], [], [], []
    loss_positions, loss_targets, loss_owner, last_positions = [], [], [], []
    for owner, row in enumerate(rows):
        start = len(ids)
        spans.append((start, start + len(row)))
        ids += row.input_ids
        positions += range(len(row))
        segment += [owner] * len(row)
        for t in range(len(row) - 1):
            if row.loss_mask[t + 1]:  # position t is scored on token t+1
                loss_positions.append(start + t)
                loss_targets.append(row.input_ids[t + 1])
                loss_owner.append(owner)
        last_positions.append(start + len(row) - 1)
    seg = torch.tensor(segment, dtype=torch.long)
    attention_mask = (torch.ones(len(ids), len(ids), dtype=torch.bool).tril() & (seg[:, None] == seg[None, :]))
    return PackedBatch(torch.tensor([ids], dtype=torch.long), torch.tensor([positions], dtype=torch.long),
                       attention_mask[None, None], torch.tensor(loss_positions, dtype=torch.long),
                       torch.tensor(loss_targets, dtype=torch.long), torch.tensor(loss_owner, dtype=torch.long),
                       torch.tensor(last_positions, dtype=torch.long), len(ids), [(0, spans)])


def pack_groups(groups: list[list[Rendered]], pad_token_id: int) -> PackedBatch:
    """Pack each group (sequences sharing a prefix) into one row; see :class:`PackedBatch`."""
    rows, segments, positions, layout = [], [], [], []
    loss_positions, loss_targets, loss_owner, last_positions = [], [], [], []
    width = max(packed_length(group) for group in groups)
    owner = 0
    for row_index, group in enumerate(groups):
        prefix = common_prefix_length(group)
        ids, seg, pos = list(group[0].input_ids[:prefix]), [0] * prefix, list(range(prefix))
        base, spans = row_index * width, []
        for k, seq in enumerate(group, start=1):
            shift = len(ids) - prefix  # the sequence's token t >= prefix sits at t + shift in the row
            where = [base + t + (shift if t >= prefix else 0) for t in range(len(seq))]
            spans.append((len(ids), len(ids) + len(seq) - prefix))
            ids += seq.input_ids[prefix:]
            seg += [k] * (len(seq) - prefix)
            pos += range(prefix, len(seq))
            for t in range(len(seq) - 1):
                if seq.loss_mask[t + 1]:  # position t is scored on token t+1
                    loss_positions.append(where[t])
                    loss_targets.append(seq.input_ids[t + 1])
                    loss_owner.append(owner)
            last_positions.append(where[-1])
            owner += 1
        rows.append(ids)
        layout.append((prefix, spans))
        segments.append(seg)
        positions.append(pos)

    input_ids = torch.full((len(rows), width), pad_token_id, dtype=torch.long)
    for i, ids in enumerate(rows):
        input_ids[i, : len(ids)] = torch.tensor(ids, dtype=torch.long)
    position_ids = attention_mask = None
    if any(len(group) > 1 for group in groups):
        position_ids = torch.zeros_like(input_ids)
        seg = torch.full_like(input_ids, -1)  # -1: padding, which no real token can see
        for i, (row_pos, row_seg) in enumerate(zip(positions, segments)):
            position_ids[i, : len(row_pos)] = torch.tensor(row_pos, dtype=torch.long)
            seg[i, : len(row_seg)] = torch.tensor(row_seg, dtype=torch.long)
        causal = torch.ones(width, width, dtype=torch.bool).tril()
        query, key = seg[:, :, None], seg[:, None, :]
        # Padding sees the prefix and earlier padding, so no row of the mask is empty.
        attention_mask = (causal & ((key == 0) | (key == query)))[:, None]
    return PackedBatch(input_ids, position_ids, attention_mask, torch.tensor(loss_positions, dtype=torch.long),
                       torch.tensor(loss_targets, dtype=torch.long), torch.tensor(loss_owner, dtype=torch.long),
                       torch.tensor(last_positions, dtype=torch.long), sum(len(ids) for ids in rows),
                       layout if attention_mask is not None else None)
