"""Supervised fine-tuning (``posttrain sft``): next-token loss on the assistant's turns.

Run: ``posttrain sft recipe.yaml --data chats.jsonl --finetune lora``. Reads chat rows, renders
them through the one render contract, then trains with AdamW under a warmup + decay schedule,
evaluating held-out loss, checkpointing atomically, and resuming exactly where it stopped.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from posttrain.config import SFTConfig
from posttrain.data.batching import (
    MicroBatch,
    PackedBatch,
    collate,
    pack_documents,
    split_heldout,
    split_micro_batches,
    split_packs,
)
from posttrain.data.formats import load_examples
from posttrain.data.render import Rendered, render
from posttrain.errors import DataError, UserError
from posttrain.losses.sft import sft_loss
from posttrain.models.loading import load_model, load_tokenizer
from posttrain.models.logprobs import packed_token_logps, sequence_token_logps
from posttrain.models.lora import prepare_model
from posttrain.training import distributed, loop, precision
from posttrain.training.device import model_device, to_device


@dataclass
class DataStats:
    rows: int = 0
    skipped_bad: int = 0
    skipped: list[DataError] = field(default_factory=list)  # the skipped rows' errors, for skipped_rows.jsonl
    truncated: int = 0
    no_loss_tokens: int = 0  # rows whose kept part has nothing to learn from (skipped, counted)


def render_rows(numbered, tokenizer, config: SFTConfig, stats: DataStats, source: str) -> list[Rendered]:
    """Render ``(row_number, conversation)`` pairs; count what is truncated or has nothing to learn."""
    rows = []
    for line, conversation in numbered:
        try:
            rendered = render(conversation, tokenizer, config.max_length)
        except DataError as error:
            if not config.skip_bad_rows:
                raise DataError(error.reason, path=source, line=line, field=error.field) from None
            stats.skipped_bad += 1
            stats.skipped.append(DataError(error.reason, path=source, line=line, field=error.field))
            continue
        if not config.assistant_only_loss:
            rendered.loss_mask = [1] * len(rendered)
        stats.truncated += rendered.truncated
        if sum(rendered.loss_mask[1:]) == 0:
            stats.no_loss_tokens += 1
            continue
        rows.append(rendered)
    stats.rows += len(rows)
    return rows


def load_data(config: SFTConfig, tokenizer) -> tuple[list[Rendered], list[Rendered], DataStats]:
    if not config.data:
        raise UserError("no training data: set `data` in the config or pass --data FILE")
    stats = DataStats()
    train = load_examples(config.data, config.format, skip_bad_rows=config.skip_bad_rows, limit=config.limit)
    stats.skipped_bad += len(train.skipped)
    stats.skipped += train.skipped
    if config.eval_data:
        held = load_examples(config.eval_data, config.format, skip_bad_rows=config.skip_bad_rows)
        stats.skipped_bad += len(held.skipped)
        stats.skipped += held.skipped
        train_convs, eval_convs = train.numbered(), held.numbered()
    else:
        train_convs, eval_convs = split_heldout(train.numbered(), config)
    train_rows = render_rows(train_convs, tokenizer, config, stats, config.data)
    eval_rows = render_rows(eval_convs, tokenizer, config, stats, config.eval_data or config.data)
    loop.write_skipped_rows(config, stats.skipped)
    if not train_rows:
        raise UserError(f"{config.data}: no trainable rows left (skipped: {stats.skipped_bad}, truncated: "
                        f"{stats.truncated}, without loss tokens: {stats.no_loss_tokens})")
    return train_rows, eval_rows, stats


def micro_batches_for(rows: list[Rendered], indices: list[int], config, pad_id: int) -> list[MicroBatch | PackedBatch]:
    """The forward passes of these rows: packs of back-to-back rows (``packing``) or right-padded
    micro-batches, each within ``micro_batch_tokens``."""
    lengths = {i: len(rows[i]) for i in indices}
    if config.packing:
        return [pack_documents([rows[i] for i in pack]) for pack in split_packs(indices, lengths, config.micro_batch_tokens)]
    groups = split_micro_batches(indices, lengths, config.micro_batch_tokens)
    return [collate([rows[i] for i in group], pad_id) for group in groups]


def micro_batch_logps(model, mb: MicroBatch | PackedBatch, chunk_size: int, uniform_grad: bool = False) -> torch.Tensor:
    """Log-probs of a micro-batch's loss tokens. (N,)"""
    if isinstance(mb, PackedBatch):
        return packed_token_logps(model, mb, chunk_size, uniform_grad)
    return sequence_token_logps(model, mb.input_ids, mb.targets, mb.target_mask, chunk_size, uniform_grad)[0]


def train_step(model, micro_batches: list[MicroBatch | PackedBatch], config, filler) -> float:
    """Forward and backward over this rank's part of one global batch (all of it in one process);
    returns the global batch's token-mean loss. ``filler()`` builds a micro-batch for FSDP's balancing."""
    # Every rank divides by the loss tokens of the whole global batch, so the parts add up.
    total = distributed.sum_all(sum(mb.num_loss_tokens for mb in micro_batches))
    device = model_device(model)

    def loss_of(mb: MicroBatch | PackedBatch) -> tuple[torch.Tensor, torch.Tensor]:
        mb = to_device(mb, device)  # one micro-batch at a time on the device
        logps = micro_batch_logps(model, mb, config.logits_chunk, uniform_grad=True)  # a token mean: one gradient for all
        loss = sft_loss(logps, total)
        return loss, loss

    loss_sum = sum((loss.item() for _, loss in distributed.backward_each(micro_batches, loss_of, filler)), 0.0)
    return distributed.sum_all(loss_sum)


@torch.no_grad()
def evaluate(model, rows: list[Rendered], config, pad_id: int) -> float | None:
    """Token-mean loss of ``rows`` (None when there are none)."""
    if not rows:
        return None
    was_training = model.training
    model.eval()
    nll, count = 0.0, 0
    for mb in micro_batches_for(rows, list(range(len(rows))), config, pad_id):
        mb = to_device(mb, model_device(model))
        nll -= micro_batch_logps(model, mb, config.logits_chunk).sum().item()
        count += mb.num_loss_tokens
    model.train(was_training)
    return nll / max(count, 1)


def train_sft(config: SFTConfig) -> dict:
    """Run SFT end to end; returns the final metrics (also written to ``summary.json``)."""
    device = loop.start(config)
    tokenizer = load_tokenizer(config.model)
    train_rows, eval_rows, stats = load_data(config, tokenizer)
    dtype = precision.resolve_dtype(config.dtype, device)
    model = prepare_model(load_model(config.model, precision.weights_dtype(dtype, config.finetune)), config)
    model = precision.prepare_for_training(model, device, dtype)  # on its device before wrapping
    model = distributed.wrap_model(model, config.distributed_strategy)
    model.train()
    pad_id = tokenizer.pad_token_id

    total_steps = loop.total_steps_for(len(train_rows), config)
    optimizer, scheduler = loop.build_optimization(model, config, total_steps)
    run = loop.begin(config, model, tokenizer, optimizer, scheduler, total_steps, {
        "train_rows": len(train_rows), "eval_rows": len(eval_rows), "skipped_bad_rows": stats.skipped_bad,
        "truncated_rows": stats.truncated, "rows_without_loss_tokens": stats.no_loss_tokens})

    def step_fn(row_indices: list[int]) -> loop.StepResult:
        micro_batches = micro_batches_for(train_rows, distributed.shard(row_indices), config, pad_id)
        loss = train_step(model, micro_batches, config,
                          filler=lambda: micro_batches_for(train_rows, row_indices[:1], config, pad_id)[0])
        return loop.StepResult(loss, int(distributed.sum_all(sum(mb.num_loss_tokens for mb in micro_batches))))

    def eval_fn() -> dict:
        return {"eval/loss": evaluate(model, eval_rows, config, pad_id)}

    eval_fn = loop.with_suites(eval_fn, model, tokenizer, config)
    last = loop.run_steps(run, [len(row) for row in train_rows], step_fn, eval_fn, "sft")

    final_eval = eval_fn()
    summary_metrics = {"eval_loss": final_eval["eval/loss"], **{k: v for k, v in final_eval.items() if k != "eval/loss"}}
    return loop.finish_run(run, last, final_eval, summary_metrics)
