"""The optimizer-step loop every trainer shares, as plain functions over one :class:`Run`.

A trainer builds its model, optimizer and schedule, then :func:`begin` resumes from the last
checkpoint and opens the run's logs, giving a :class:`Run`. It supplies ``step_fn(row_indices)``
(forward and backward over one global batch) and ``eval_fn() -> dict``; :func:`run_steps` walks
the length-grouped global batches epoch after epoch, clips, steps the optimizer and schedule,
logs, evaluates and checkpoints, and :func:`finish_run` saves the final model and summary.

The optimizer is stepped here and nowhere else. ``step_fn`` returns a :class:`StepResult`; an
algorithm that takes several optimizer steps per global batch (PPO's ``num_iterations`` passes
over one rollout batch) writes ``step_fn`` as a generator instead: it yields ``None`` after the
backward of every pass but the last, and the :class:`StepResult` after the last, and the loop
steps the optimizer after each yield (see :func:`optimizer_steps`).

Under ``torchrun`` every rank runs the same loop over the same global batches (``step_fn`` takes
its share of the rows, see :mod:`posttrain.training.distributed`); only rank 0 shows progress,
prints, logs metrics and writes the run's files.
"""

from __future__ import annotations

import contextlib
import json
import math
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from posttrain.config import save_config
from posttrain.data.batching import plan_epoch
from posttrain.models.lora import count_parameters, save_final
from posttrain.training import distributed
from posttrain.training.checkpoint import (
    check_resumable,
    list_checkpoints,
    load_checkpoint,
    save_checkpoint,
    truncate_metrics,
)
from posttrain.training import precision
from posttrain.training.device import local_rank, model_device, prefer_flash_attention, resolve_device
from posttrain.training.memory import reuse_freed_memory
from posttrain.training.metrics import MetricsLogger, require_trackers
from posttrain.training.optim import build_optimizer, build_scheduler
from posttrain.util import write_text_atomic


@dataclass
class StepResult:
    """One optimizer step's results over the whole global batch (under torchrun: already summed
    over ranks, the same on every rank)."""

    loss: float
    loss_tokens: int  # tokens that carried loss this step, for tokens/s
    metrics: dict[str, float] = field(default_factory=dict)


@dataclass
class Position:
    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0


@dataclass
class Run:
    """One training run as the shared loop sees it: what trains, where it stands, where it logs."""

    config: Any  # the trainer's typed config (output_dir is the run directory)
    model: torch.nn.Module
    tokenizer: Any
    optimizer: torch.optim.Optimizer
    scheduler: Any
    total_steps: int
    position: Position  # advanced by run_steps; what checkpoints record
    logger: Any  # MetricsLogger on rank 0, QuietLogger on the others
    data_note: dict  # data counts and sizes: logged at step 0, repeated in summary.json

    @property
    def run_dir(self) -> Path:
        return Path(self.config.output_dir)


def start(config) -> torch.device:
    """Process-wide set-up before anything random happens; returns the device to train on
    (``config.device`` resolved, see :mod:`posttrain.training.device`).

    Freed activation memory is kept for reuse rather than faulted in afresh every micro-batch
    (:mod:`posttrain.training.memory`). Under torchrun it also joins the process group (every
    rank seeds alike). A tracker of ``report_to`` whose package is missing fails here, before anything loads.
    """
    require_trackers(config.report_to)
    device = resolve_device(config.device, local_rank())  # a bad value fails before the process group waits
    if device.type == "cuda" and device.index is not None:
        torch.cuda.set_device(device)  # before the process group: NCCL and FSDP's device mesh use the current device
    prefer_flash_attention(device)
    distributed.init()
    reuse_freed_memory()
    torch.manual_seed(config.seed)
    random.seed(config.seed)
    if config.num_threads:
        torch.set_num_threads(config.num_threads)
    return device


def total_steps_for(num_rows: int, config) -> int:
    return config.max_steps or math.ceil(num_rows / config.batch_size) * config.epochs


def build_optimization(model, config, total_steps: int):
    optimizer = build_optimizer(model, config)
    return optimizer, build_scheduler(optimizer, config, total_steps)


def resume(run_dir: Path, config, model, optimizer, scheduler) -> Position:
    checkpoints = list_checkpoints(run_dir)
    if not checkpoints:
        return Position()
    check_resumable(run_dir, config)
    state = load_checkpoint(checkpoints[-1], model, optimizer, scheduler)
    truncate_metrics(run_dir, state["step"])
    return Position(state["step"], state["epoch"], state["batch_in_epoch"])


def clip_gradients(model, max_norm: float | None) -> float:
    """Finish the step's gradients: sum them over ranks (data parallel), then clip them to
    ``max_norm``; returns their global norm before clipping."""
    distributed.reduce_gradients(model)
    params = [p for p in model.parameters() if p.grad is not None]
    if distributed.is_distributed():
        return distributed.clip_gradients(params, max_norm)
    if not params:
        return 0.0
    if max_norm is None:
        return float(torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in params])))
    return float(torch.nn.utils.clip_grad_norm_(params, max_norm))


def save(run_dir: Path, position: Position, model, optimizer, scheduler, config) -> None:
    state = {"step": position.step, "epoch": position.epoch, "batch_in_epoch": position.batch_in_epoch}
    save_checkpoint(run_dir, position.step, model, optimizer, scheduler, state, config, config.keep_checkpoints)


def begin(config, model, tokenizer, optimizer, scheduler, total_steps: int, data_counts: dict) -> Run:
    """Resume from the run directory's last checkpoint (if any), then save the config and open the
    metrics log; ``data_counts`` (rows, skipped, ...) are logged with the model's parameter counts."""
    position = resume(Path(config.output_dir), config, model, optimizer, scheduler)
    trainable, total_params = count_parameters(model)
    data_note = {**data_counts, "trainable_params": trainable, "total_params": total_params,
                 "total_steps": total_steps}
    logger = open_run(Path(config.output_dir), config, position, data_note)
    return Run(config, model, tokenizer, optimizer, scheduler, total_steps, position, logger, data_note)


def optimizer_steps(model, optimizer, max_grad_norm: float | None, passes) -> tuple[Any, float]:
    """Clip and take one optimizer step for the backward ``passes`` of a step function: a result
    (one step), or an iterator that yields ``None`` after each pass but the last and the result after
    the last (one step per yield). Returns the result and the last step's gradient norm."""
    results = iter([passes]) if not isinstance(passes, Iterator) else passes
    result, grad_norm = None, 0.0
    for result in results:
        grad_norm = clip_gradients(model, max_grad_norm)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    return result, grad_norm


def run_steps(run: Run, lengths: list[int], step_fn: Callable[[list[int]], StepResult | Iterator],
              eval_fn: Callable[[], dict], desc: str) -> StepResult | None:
    """Train from ``run.position`` to ``run.total_steps`` over the rows of ``lengths`` (one length per
    row, for length-grouped batches); returns the last step's result."""
    config, position = run.config, run.position
    bar = tqdm(total=run.total_steps, initial=position.step, desc=desc, unit="step",
               disable=not config.progress or not distributed.is_main(), dynamic_ncols=True)
    seen_tokens, started, last = 0, time.perf_counter(), None
    while position.step < run.total_steps:
        batches = plan_epoch(lengths, config.batch_size, config.seed, position.epoch)
        while position.batch_in_epoch < len(batches) and position.step < run.total_steps:
            step_start = time.perf_counter()
            step_lr = run.scheduler.get_last_lr()[0]  # the rate this step uses, logged as train/lr
            last, grad_norm = optimizer_steps(run.model, run.optimizer, config.max_grad_norm,
                                              step_fn(batches[position.batch_in_epoch]))
            run.scheduler.step()
            position.step += 1
            position.batch_in_epoch += 1
            seen_tokens += last.loss_tokens
            bar.update(1)
            bar.set_postfix(loss=f"{last.loss:.4f}", tok_s=f"{seen_tokens / (time.perf_counter() - started):.0f}")
            if position.step % config.log_every == 0 or position.step == run.total_steps:
                run.logger.log(position.step, {
                    "train/loss": last.loss, "train/grad_norm": grad_norm, "train/lr": step_lr,
                    "train/loss_tokens": last.loss_tokens,
                    "train/loss_tokens_per_s": last.loss_tokens / (time.perf_counter() - step_start),
                    "train/epoch": position.epoch + position.batch_in_epoch / len(batches),
                    **{f"train/{key}": value for key, value in last.metrics.items()},
                })
            if config.eval_every and position.step % config.eval_every == 0 and position.step < run.total_steps:
                run.logger.log(position.step, eval_fn())
            if config.save_every and position.step % config.save_every == 0 and position.step < run.total_steps:
                save(run.run_dir, position, run.model, run.optimizer, run.scheduler, config)
        if position.batch_in_epoch >= len(batches):
            position.epoch, position.batch_in_epoch = position.epoch + 1, 0
    bar.close()
    return last


class QuietLogger:
    """What ranks other than 0 log to: nothing."""

    def log(self, step: int, metrics: dict) -> None:
        pass

    def close(self) -> None:
        pass


def open_run(run_dir: Path, config, position: Position, data_note: dict) -> MetricsLogger | QuietLogger:
    """Save the resolved config, open the metrics log and report the data counts (rank 0 only)."""
    if not distributed.is_main():
        return QuietLogger()
    save_config(config, run_dir / "config.yaml")
    logger = MetricsLogger(run_dir, config)
    if position.step == 0:
        logger.log(0, data_note)
    print(f"data: {json.dumps(data_note)}" + (f"; resuming at step {position.step}" if position.step else ""))
    return logger


def write_skipped_rows(config, skipped: list) -> None:
    """With ``skip_bad_rows``, write each skipped row (file, line, field, reason, the row where it parsed)
    to ``skipped_rows.jsonl`` in the run directory, so what was dropped can be fixed; rank 0 only."""
    if not getattr(config, "skip_bad_rows", False) or not distributed.is_main():
        return
    records = [{"file": error.path, "line": error.line, "field": error.field, "reason": error.reason,
                **({"row": error.row} if getattr(error, "row", None) is not None else {})} for error in skipped]
    Path(config.output_dir).mkdir(parents=True, exist_ok=True)
    write_text_atomic(Path(config.output_dir) / "skipped_rows.jsonl",
                      "".join(json.dumps(record, default=str) + "\n" for record in records))


def with_suites(eval_fn: Callable[[], dict], model, tokenizer, config) -> Callable[[], dict]:
    """``eval_fn`` plus the capability suites of ``config.eval_suites`` on the model being trained.

    Each suite answers its first ``eval_suite_limit`` items (greedy, seeded), and the metrics land in
    the same log as ``eval/<suite>.<metric>``. The suites are built here, so a wrong name fails
    before any training step.
    """
    if not getattr(config, "eval_suites", None):
        return eval_fn
    from posttrain.eval.run import build_suites

    suites = build_suites(list(config.eval_suites))

    def evaluate_all() -> dict:
        return {**eval_fn(), **suite_metrics(model, tokenizer, suites, config)}

    return evaluate_all


def suite_metrics(model, tokenizer, suites: list, config) -> dict:
    """The suites' metrics on ``model`` as ``{"eval/<suite>.<metric>": value}``; the model's mode is restored."""
    from posttrain.eval.run import evaluate_model

    was_training = model.training
    model.eval()
    # Under FSDP every rank generates with whole weights; ranks evaluate the same items.
    holding = distributed.gathered(model) if distributed.is_distributed() else contextlib.nullcontext()
    with holding, torch.no_grad():
        result = evaluate_model(model, tokenizer, suites, model_name="training", limit=config.eval_suite_limit,
                                seed=config.seed, batch_size=config.eval_suite_batch_size)
    model.train(was_training)
    return {f"eval/{name}": entry["value"] for name, entry in result["metrics"].items()}


def finish_run(run: Run, last: StepResult | None, eval_metrics: dict, summary_metrics: dict) -> dict:
    """Last checkpoint, final model, closing metrics and ``summary.json``; returns the summary.

    Under torchrun the final model is consolidated into one Hugging Face directory by rank 0, and
    every rank waits for the others at the end."""
    config, position = run.config, run.position
    save(run.run_dir, position, run.model, run.optimizer, run.scheduler, config)
    whole = distributed.full_model(run.model)
    final = run.run_dir / "final"
    dtype = precision.resolve_dtype(config.dtype, model_device(run.model))
    written = save_final(whole, run.tokenizer, final, config.save_format, dtype,
                         base_spec=config.model) if whole is not None else [final]
    summary = {"step": position.step, "train_loss": last.loss if last else None, **summary_metrics,
               "final_model": [str(p) for p in written], **run.data_note}
    run.logger.log(position.step, eval_metrics)
    run.logger.close()
    if distributed.is_main():
        write_text_atomic(run.run_dir / "summary.json", json.dumps(summary, indent=1))
    distributed.end_of_run()
    return summary
