"""Reward modelling (``posttrain rm``): a scalar reward head trained on preference pairs.

Run: ``posttrain rm --data pairs.jsonl``. The model is the policy's backbone with a one-output
``score`` head on the last token (:mod:`posttrain.models.reward`); it learns to rank each pair's
chosen completion above its rejected one under the Bradley-Terry loss (Ouyang et al. 2022,
eq. 1), optionally with a per-pair margin read from the data (``margin_key``, Llama 2) and an
auxiliary term that keeps rewards centred on zero (``center_rewards_coef``).

Like DPO, chosen and rejected of a pair go through one forward pass together, packed into one
row that holds their shared prompt once (``pack_groups``); pairs are length-grouped into
micro-batches of at most ``micro_batch_tokens``. The final model is a plain Hugging Face ``AutoModelForSequenceClassification``
directory (LoRA merged); load it with ``RewardModel.load`` to score conversations for RLHF,
best-of-n sampling and evaluation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from posttrain.config import RMConfig
from posttrain.data.batching import packed_length, split_grouped, split_heldout
from posttrain.data.formats import FORMAT_KINDS, PreferenceExample, load_examples
from posttrain.data.render import Rendered, render_completion
from posttrain.errors import DataError, UserError
from posttrain.losses.output import LossOutput
from posttrain.losses.reward import reward_loss
from posttrain.models.loading import load_tokenizer
from posttrain.models.lora import prepare_model
from posttrain.models.reward import load_reward_model, sequence_rewards
from posttrain.training import distributed, loop, precision


@dataclass
class RewardPair:
    sequences: list[Rendered]  # [chosen, rejected], prompt included
    margin: float = 0.0  # how far the chosen reward must exceed the rejected one (margin_key)


def pair_margin(example: PreferenceExample, key: str | None) -> float:
    if key is None:
        return 0.0
    if key not in example.extra:
        raise DataError(f"missing (margin_key is '{key}')", field=key)
    value = example.extra[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise DataError(f"must be a finite number, got {value!r}", field=key)
    return float(value)


def render_pairs(numbered, tokenizer, config: RMConfig, counts: dict, source: str, skipped: list) -> list[RewardPair]:
    """Render ``(row_number, example)`` pairs; count what truncation made indistinguishable, and add
    the pairs skipped as bad to ``skipped``."""
    pairs = []
    for line, example in numbered:
        try:
            sequences = [render_completion(example.prompt_messages, side, tokenizer, config.max_length)
                         for side in (example.chosen_messages, example.rejected_messages)]
            margin = pair_margin(example, config.margin_key)
        except DataError as error:
            if not config.skip_bad_rows:
                raise DataError(error.reason, path=source, line=line, field=error.field) from None
            counts["skipped_bad_rows"] += 1
            skipped.append(DataError(error.reason, path=source, line=line, field=error.field))
            continue
        counts["truncated_rows"] += any(seq.truncated for seq in sequences)
        if sequences[0].input_ids == sequences[1].input_ids:  # truncation cut off what told them apart
            counts["identical_after_truncation"] += 1
            continue
        pairs.append(RewardPair(sequences, margin))
    return pairs


def load_data(config: RMConfig, tokenizer) -> tuple[list[RewardPair], list[RewardPair], dict]:
    if not config.data:
        raise UserError("no training data: set `data` in the config or pass --data FILE")
    data_format = "preference" if config.format == "auto" else config.format
    if FORMAT_KINDS.get(data_format) != "preference":  # 'hh' is a preference format too
        raise UserError(f"a reward model needs preference data (prompt, chosen, rejected), not format '{config.format}'")
    counts = {"skipped_bad_rows": 0, "truncated_rows": 0, "identical_after_truncation": 0}
    train = load_examples(config.data, data_format, skip_bad_rows=config.skip_bad_rows, limit=config.limit)
    counts["skipped_bad_rows"] += len(train.skipped)
    skipped = list(train.skipped)
    train_pairs = render_pairs(train.numbered(), tokenizer, config, counts, config.data, skipped)
    if config.eval_data:
        held = load_examples(config.eval_data, data_format, skip_bad_rows=config.skip_bad_rows)
        counts["skipped_bad_rows"] += len(held.skipped)
        skipped += held.skipped
        eval_pairs = render_pairs(held.numbered(), tokenizer, config, counts, config.eval_data, skipped)
    else:
        train_pairs, eval_pairs = split_heldout(train_pairs, config)
    loop.write_skipped_rows(config, skipped)
    if not train_pairs:
        raise UserError(f"{config.data}: no trainable pairs left ({counts})")
    return train_pairs, eval_pairs, counts


def micro_batches(pairs: list[RewardPair], indices: list[int], config: RMConfig) -> list[list[int]]:
    # A pair's chosen and rejected go into one packed row: their shared prompt once, then each answer.
    return split_grouped([pair.sequences for pair in pairs], indices, config.micro_batch_tokens)


def group_loss(model, pairs: list[RewardPair], group: list[int], config: RMConfig, pad_id: int) -> tuple[LossOutput, int]:
    """Loss and metrics of one micro-batch of pairs, and the tokens it ran."""
    rewards = sequence_rewards(model, [pairs[i].sequences for i in group], pad_id).view(len(group), 2)  # (G, 2): chosen, rejected
    margins = torch.tensor([pairs[i].margin for i in group], device=rewards.device) if config.margin_key else None
    output = reward_loss(rewards[:, 0], rewards[:, 1], margins, config.center_rewards_coef)
    return output, sum(packed_length(pairs[i].sequences) for i in group)


@torch.no_grad()
def evaluate(model, pairs: list[RewardPair], config: RMConfig, pad_id: int) -> dict:
    """Held-out loss and pairwise accuracy (`eval/accuracy`), means over pairs."""
    if not pairs:
        return {}
    was_training = model.training
    model.eval()
    totals = {}
    for group in micro_batches(pairs, list(range(len(pairs))), config):
        output, _ = group_loss(model, pairs, group, config, pad_id)
        for key, value in {"loss": output.loss.item(), **output.metrics}.items():
            totals[key] = totals.get(key, 0.0) + value * len(group)
    model.train(was_training)
    return {f"eval/{key}": value / len(pairs) for key, value in totals.items()}


def train_rm(config: RMConfig) -> dict:
    """Train a reward model end to end; returns the final metrics (also in ``summary.json``)."""
    device = loop.start(config)
    tokenizer = load_tokenizer(config.model)
    train_pairs, eval_pairs, counts = load_data(config, tokenizer)
    pad_id = tokenizer.pad_token_id
    dtype = precision.resolve_dtype(config.dtype, device)
    model = prepare_model(load_reward_model(config.model, pad_id, precision.weights_dtype(dtype, config.finetune)), config,
                          task_type="SEQ_CLS", modules_to_save=["score"])
    model = precision.prepare_for_training(model, device, dtype)
    model = distributed.wrap_model(model, config.distributed_strategy)  # on its device before wrapping
    model.train()

    total_steps = loop.total_steps_for(len(train_pairs), config)
    optimizer, scheduler = loop.build_optimization(model, config, total_steps)
    run = loop.begin(config, model, tokenizer, optimizer, scheduler, total_steps,
                     {"train_rows": len(train_pairs), "eval_rows": len(eval_pairs), **counts})

    def step_fn(pair_indices: list[int]) -> loop.StepResult:
        def loss_of(group: list[int]):
            output, tokens = group_loss(model, train_pairs, group, config, pad_id)
            weight = len(group) / len(pair_indices)  # batch-mean over the global batch's pairs
            return output.loss * weight, (output, weight, tokens)

        loss_sum, tokens, metrics = 0.0, 0, {}
        groups = micro_batches(train_pairs, distributed.shard(pair_indices), config)  # this rank's pairs
        for _, (output, weight, group_tokens) in distributed.backward_each(groups, loss_of,
                                                                          filler=lambda: pair_indices[:1]):
            loss_sum += output.loss.item() * weight
            tokens += group_tokens
            for key, value in output.metrics.items():
                metrics[key] = metrics.get(key, 0.0) + value * weight
        totals = distributed.sum_all({"loss": loss_sum, "tokens": tokens, **metrics})
        return loop.StepResult(totals.pop("loss"), int(totals.pop("tokens")), totals)

    last = loop.run_steps(run, [sum(len(seq) for seq in pair.sequences) for pair in train_pairs], step_fn,
                          lambda: evaluate(model, eval_pairs, config, pad_id), "rm")

    final_eval = evaluate(model, eval_pairs, config, pad_id)
    return loop.finish_run(run, last, final_eval, final_eval)
