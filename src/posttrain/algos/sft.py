"""Supervised fine-tuning (``posttrain sft``): next-token loss on the assistant's turns.

Run: ``posttrain sft recipe.yaml --data chats.jsonl --finetune lora``. Reads chat rows, renders
them through the one render contract, then trains with AdamW under a warmup + decay schedule,
evaluating held-out loss, checkpointing atomically, and resuming exactly where it stopped.
"""

from __future__ import annotations

import json
import math
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from tqdm.auto import tqdm

from posttrain.config import SFTConfig, save_config, write_text_atomic
from posttrain.data.batching import MicroBatch, collate, plan_epoch, split_micro_batches
from posttrain.data.formats import load_examples
from posttrain.data.render import Rendered, render
from posttrain.errors import DataError, UserError
from posttrain.losses.sft import sft_loss
from posttrain.models.loading import load_model, load_tokenizer
from posttrain.models.logprobs import sequence_token_logps
from posttrain.models.lora import count_parameters, prepare_model, save_final
from posttrain.training.checkpoint import (
    check_resumable, list_checkpoints, load_checkpoint, save_checkpoint, truncate_metrics,
)
from posttrain.training.memory import return_freed_memory
from posttrain.training.metrics import MetricsLogger
from posttrain.training.optim import build_optimizer, build_scheduler


@dataclass
class DataStats:
    rows: int = 0
    skipped_bad: int = 0
    truncated: int = 0
    no_loss_tokens: int = 0  # rows whose kept part has nothing to learn from (skipped, counted)
    notes: list[str] = field(default_factory=list)


def render_rows(conversations, tokenizer, config: SFTConfig, stats: DataStats, source: str) -> list[Rendered]:
    rows = []
    for index, conversation in enumerate(conversations):
        try:
            rendered = render(conversation, tokenizer, config.max_length)
        except DataError as error:
            if not config.skip_bad_rows:
                raise DataError(error.reason, path=source, line=index + 1, field=error.field) from None
            stats.skipped_bad += 1
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
    if config.eval_data:
        held = load_examples(config.eval_data, config.format, skip_bad_rows=config.skip_bad_rows)
        stats.skipped_bad += len(held.skipped)
        train_convs, eval_convs = train.examples, held.examples
    else:
        order = list(range(len(train.examples)))
        random.Random(config.seed).shuffle(order)
        n_eval = int(len(order) * config.eval_fraction)
        if config.eval_fraction > 0 and len(order) >= 2:
            n_eval = max(1, n_eval)
        eval_set = set(order[:n_eval])
        train_convs = [c for i, c in enumerate(train.examples) if i not in eval_set]
        eval_convs = [c for i, c in enumerate(train.examples) if i in eval_set]
    train_rows = render_rows(train_convs, tokenizer, config, stats, config.data)
    eval_rows = render_rows(eval_convs, tokenizer, config, stats, config.eval_data or config.data)
    if not train_rows:
        raise UserError(f"{config.data}: no trainable rows left (see counts: {stats})")
    return train_rows, eval_rows, stats


def micro_batches_for(rows: list[Rendered], indices: list[int], config, pad_id: int) -> list[MicroBatch]:
    lengths = {i: len(rows[i]) for i in indices}
    groups = split_micro_batches(indices, lengths, config.micro_batch_tokens)
    return [collate([rows[i] for i in group], pad_id) for group in groups]


def train_step(model, micro_batches: list[MicroBatch], config) -> float:
    """Forward and backward over one global batch; returns its token-mean loss."""
    total = sum(mb.num_loss_tokens for mb in micro_batches)
    loss_sum = 0.0
    for mb in micro_batches:
        logps, _ = sequence_token_logps(model, mb.input_ids, mb.targets, mb.target_mask, config.logits_chunk)
        loss = sft_loss(logps, total)
        loss.backward()
        loss_sum += loss.item()
    return loss_sum


@torch.no_grad()
def evaluate(model, rows: list[Rendered], config, pad_id: int) -> float | None:
    if not rows:
        return None
    was_training = model.training
    model.eval()
    nll, count = 0.0, 0
    for mb in micro_batches_for(rows, list(range(len(rows))), config, pad_id):
        logps, _ = sequence_token_logps(model, mb.input_ids, mb.targets, mb.target_mask, config.logits_chunk)
        nll -= logps.sum().item()
        count += mb.num_loss_tokens
    model.train(was_training)
    return nll / max(count, 1)


def train_sft(config: SFTConfig) -> dict:
    """Run SFT end to end; returns the final metrics (also written to ``summary.json``)."""
    run_dir = Path(config.output_dir)
    return_freed_memory()
    torch.manual_seed(config.seed)
    random.seed(config.seed)
    if config.num_threads:
        torch.set_num_threads(config.num_threads)

    tokenizer = load_tokenizer(config.model)
    train_rows, eval_rows, stats = load_data(config, tokenizer)
    model = prepare_model(load_model(config.model), config)
    model.train()
    trainable, total_params = count_parameters(model)
    pad_id = tokenizer.pad_token_id

    lengths = [len(row) for row in train_rows]
    steps_per_epoch = math.ceil(len(train_rows) / config.batch_size)
    total_steps = config.max_steps or steps_per_epoch * config.epochs
    optimizer = build_optimizer(model, config)
    scheduler = build_scheduler(optimizer, config, total_steps)

    step, epoch, batch_in_epoch = 0, 0, 0
    checkpoints = list_checkpoints(run_dir)
    if checkpoints:
        check_resumable(run_dir, config)
        state = load_checkpoint(checkpoints[-1], model, optimizer, scheduler)
        step, epoch, batch_in_epoch = state["step"], state["epoch"], state["batch_in_epoch"]
        truncate_metrics(run_dir, step)
    save_config(config, run_dir / "config.yaml")
    logger = MetricsLogger(run_dir, config.tensorboard, config.wandb_project, config)
    data_note = {
        "train_rows": len(train_rows), "eval_rows": len(eval_rows), "skipped_bad_rows": stats.skipped_bad,
        "truncated_rows": stats.truncated, "rows_without_loss_tokens": stats.no_loss_tokens,
        "trainable_params": trainable, "total_params": total_params, "total_steps": total_steps,
    }
    if step == 0:
        logger.log(0, data_note)
    print(f"data: {json.dumps(data_note)}" + (f"; resuming at step {step}" if step else ""))

    bar = tqdm(total=total_steps, initial=step, desc="sft", unit="step", disable=not config.progress, dynamic_ncols=True)
    seen_tokens, started = 0, time.perf_counter()
    last_loss = None
    while step < total_steps:
        batches = plan_epoch(lengths, config.batch_size, config.seed, epoch)
        while batch_in_epoch < len(batches) and step < total_steps:
            micro_batches = micro_batches_for(train_rows, batches[batch_in_epoch], config, pad_id)
            step_start = time.perf_counter()
            last_loss = train_step(model, micro_batches, config)
            grad_norm = _clip(model, config.max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step, batch_in_epoch = step + 1, batch_in_epoch + 1
            loss_tokens = sum(mb.num_loss_tokens for mb in micro_batches)
            seen_tokens += loss_tokens
            rate = seen_tokens / (time.perf_counter() - started)
            bar.update(1)
            bar.set_postfix(loss=f"{last_loss:.4f}", tok_s=f"{rate:.0f}")
            if step % config.log_every == 0 or step == total_steps:
                logger.log(step, {
                    "train/loss": last_loss, "train/grad_norm": grad_norm, "train/lr": scheduler.get_last_lr()[0],
                    "train/loss_tokens": loss_tokens, "train/loss_tokens_per_s": loss_tokens / (time.perf_counter() - step_start),
                    "train/epoch": epoch + batch_in_epoch / len(batches),
                })
            if config.eval_every and step % config.eval_every == 0 and step < total_steps:
                logger.log(step, {"eval/loss": evaluate(model, eval_rows, config, pad_id)})
            if config.save_every and step % config.save_every == 0 and step < total_steps:
                _save(run_dir, step, epoch, batch_in_epoch, model, optimizer, scheduler, config)
        if batch_in_epoch >= len(batches):
            epoch, batch_in_epoch = epoch + 1, 0
    bar.close()

    eval_loss = evaluate(model, eval_rows, config, pad_id)
    _save(run_dir, step, epoch, batch_in_epoch, model, optimizer, scheduler, config)
    written = save_final(model, tokenizer, run_dir / "final", config.save_format)
    summary = {"step": step, "train_loss": last_loss, "eval_loss": eval_loss,
               "final_model": [str(p) for p in written], **data_note}
    logger.log(step, {"eval/loss": eval_loss})
    logger.close()
    write_text_atomic(run_dir / "summary.json", json.dumps(summary, indent=1))
    return summary


def _clip(model, max_norm: float | None) -> float:
    params = [p for p in model.parameters() if p.grad is not None]
    if max_norm is None:
        return float(torch.norm(torch.stack([p.grad.norm() for p in params]))) if params else 0.0
    return float(torch.nn.utils.clip_grad_norm_(params, max_norm))


def _save(run_dir, step, epoch, batch_in_epoch, model, optimizer, scheduler, config):
    state = {"step": step, "epoch": epoch, "batch_in_epoch": batch_in_epoch}
    save_checkpoint(run_dir, step, model, optimizer, scheduler, state, config, config.keep_checkpoints)
