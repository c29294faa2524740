"""Direct preference optimisation (``posttrain dpo``): DPO, cDPO, IPO, SimPO, ORPO and KTO.

Run: ``posttrain dpo --data pairs.jsonl --loss sigmoid --beta 0.1``. The loss is chosen by name
from ``posttrain.losses.preference``; this file only feeds it log-probs.

How it stays cheap:
- The reference model's log-probs are computed once, in a pass before training, and cached on
  disk keyed by the model and the rendered data; training steps run only the policy. The
  reference is the starting policy: with LoRA it is the base with adapters disabled, with full
  fine-tuning the policy before its first step, so no second model is ever held in memory.
  Reference-free losses (simpo, orpo) skip the pass.
- Chosen and rejected of a pair go through one forward pass together, packed into one row that
  holds their shared prompt once (``pack_groups``: position ids and an attention mask keep each
  answer blind to the other), through the same chunked log-prob code as SFT (no
  full-vocabulary logits).
"""

from __future__ import annotations

import hashlib
import inspect
import os
from contextlib import nullcontext
from dataclasses import dataclass

import torch
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm

from posttrain.config import DPOConfig
from posttrain.data.batching import pack_groups, split_grouped, split_heldout
from posttrain.data.formats import FORMAT_KINDS, load_examples
from posttrain.data.render import Rendered, render_completion
from posttrain.errors import DataError, UserError
from posttrain.losses.preference import PairedLogps, get_loss, kto_reference_point
from posttrain.models.loading import cache_dir, load_model, load_tokenizer, resolve
from posttrain.models.logprobs import packed_token_logps
from posttrain.models.lora import prepare_model
from posttrain.training import distributed, loop, precision
from posttrain.training.device import model_device, to_device


@dataclass
class PreferenceRow:
    sequences: list[Rendered]  # [chosen, rejected] for pairs, [completion] for unpaired rows
    label: bool | None = None  # unpaired rows: True = desirable


def render_rows(numbered, tokenizer, config: DPOConfig, counts: dict, source: str, skipped: list) -> list[PreferenceRow]:
    """Render ``(row_number, example)`` pairs; count what is truncated or has nothing to learn, and
    add the rows skipped as bad to ``skipped``."""
    rows = []
    for line, example in numbered:
        try:
            if hasattr(example, "chosen_messages"):
                sequences = [render_completion(example.prompt_messages, side, tokenizer, config.max_length)
                             for side in (example.chosen_messages, example.rejected_messages)]
                label = None
            else:
                sequences = [render_completion(example.prompt_messages, example.completion_messages, tokenizer, config.max_length)]
                label = bool(example.label)
        except DataError as error:
            if not config.skip_bad_rows:
                raise DataError(error.reason, path=source, line=line, field=error.field) from None
            counts["skipped_bad_rows"] += 1
            skipped.append(DataError(error.reason, path=source, line=line, field=error.field))
            continue
        counts["truncated_rows"] += any(seq.truncated for seq in sequences)
        if any(sum(seq.loss_mask[1:]) == 0 for seq in sequences):
            counts["rows_without_loss_tokens"] += 1
            continue
        rows.append(PreferenceRow(sequences, label))
    return rows


def load_data(config: DPOConfig, tokenizer):
    if not config.data:
        raise UserError("no training data: set `data` in the config or pass --data FILE")
    spec = get_loss(config.loss)
    expected = "preference" if spec.paired else "unpaired"
    data_format = expected if config.format in ("auto", "preference", "unpaired") else config.format
    if FORMAT_KINDS.get(data_format) != expected:  # 'hh' is a preference format too
        raise UserError(f"loss '{config.loss}' needs {expected} data, not format '{config.format}'")
    counts = {"skipped_bad_rows": 0, "truncated_rows": 0, "rows_without_loss_tokens": 0}
    train = load_examples(config.data, data_format, skip_bad_rows=config.skip_bad_rows, limit=config.limit)
    counts["skipped_bad_rows"] += len(train.skipped)
    skipped = list(train.skipped)
    if config.eval_data:
        held = load_examples(config.eval_data, data_format, skip_bad_rows=config.skip_bad_rows)
        counts["skipped_bad_rows"] += len(held.skipped)
        skipped += held.skipped
        train_examples, eval_examples = train.numbered(), held.numbered()
    else:
        train_examples, eval_examples = split_heldout(train.numbered(), config)
    train_rows = render_rows(train_examples, tokenizer, config, counts, config.data, skipped)
    eval_rows = render_rows(eval_examples, tokenizer, config, counts, config.eval_data or config.data, skipped)
    loop.write_skipped_rows(config, skipped)
    if not train_rows:
        raise UserError(f"{config.data}: no trainable rows left ({counts})")
    return train_rows, eval_rows, counts


def sequence_logps(model, groups: list[list[Rendered]], pad_id: int, chunk: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Summed completion log-probs and completion lengths of each sequence of each group (a row's
    chosen and rejected share their prompt, which runs once), in one forward. (S,), (S,)"""
    batch = to_device(pack_groups(groups, pad_id), model_device(model))
    token_logps = packed_token_logps(model, batch, chunk)
    count = sum(len(group) for group in groups)
    sums = token_logps.new_zeros(count).index_add(0, batch.loss_owner, token_logps)
    lengths = torch.bincount(batch.loss_owner, minlength=count)
    return sums, lengths


def micro_batches(rows: list[PreferenceRow], indices: list[int], config) -> list[list[int]]:
    # A row's sequences go into one packed row: its shared prompt once, then each answer.
    return split_grouped([row.sequences for row in rows], indices, config.micro_batch_tokens)


@torch.no_grad()
def reference_pass(model, rows: list[PreferenceRow], config, pad_id: int, desc: str) -> torch.Tensor:
    """Reference log-probs of every sequence of every row, (R, K), on the CPU (what the disk cache
    holds): adapters off, no gradients."""
    was_training = model.training
    model.eval()
    out = torch.zeros(len(rows), len(rows[0].sequences)) if rows else torch.zeros(0, 2)
    disable = model.disable_adapter() if hasattr(model, "disable_adapter") else nullcontext()
    groups = micro_batches(rows, list(range(len(rows))), config)
    with disable:
        quiet = not config.progress or not distributed.is_main()
        for group in tqdm(groups, desc=desc, disable=quiet, dynamic_ncols=True):
            sums, _ = sequence_logps(model, [rows[i].sequences for i in group], pad_id, config.logits_chunk)
            out[group] = sums.view(len(group), -1).cpu()
    model.train(was_training)
    return out


def _model_identity(spec: str) -> str:
    source = resolve(spec)
    if not os.path.isdir(source):
        return source
    parts = []
    for name in sorted(os.listdir(source)):
        if name.endswith((".safetensors", ".bin", ".json")):
            stat = os.stat(os.path.join(source, name))
            parts.append(f"{name}:{stat.st_size}:{int(stat.st_mtime)}")
    return os.path.abspath(source) + "|" + "|".join(parts)


def reference_logps(model, rows, config: DPOConfig, pad_id: int, name: str) -> torch.Tensor:
    """Reference log-probs from the disk cache, or computed once and cached."""
    digest = hashlib.sha256(_model_identity(config.model).encode())
    for row in rows:
        for seq in row.sequences:
            digest.update(torch.tensor(seq.input_ids, dtype=torch.int32).numpy().tobytes())
            digest.update(bytes(seq.loss_mask))
    path = cache_dir() / "reference_logps" / f"{digest.hexdigest()[:32]}.safetensors"
    # Rank 0 decides for all: under FSDP every rank must run the pass if any does.
    if distributed.broadcast(config.reference_cache and path.exists()):
        return load_file(path)["logps"]
    logps = reference_pass(model, rows, config, pad_id, f"reference log-probs ({name})")
    if distributed.is_main():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        save_file({"logps": logps.contiguous()}, tmp)
        os.replace(tmp, path)
    return logps


def loss_kwargs(config: DPOConfig, fn) -> dict:
    """The config values the chosen loss function takes (its signature decides)."""
    accepted = inspect.signature(fn).parameters
    values = {"beta": config.beta, "label_smoothing": config.label_smoothing, "gamma": config.gamma,
              "desirable_weight": config.desirable_weight, "undesirable_weight": config.undesirable_weight}
    return {key: value for key, value in values.items() if key in accepted and value is not None}


def group_loss(model, rows, group, ref: torch.Tensor | None, config, pad_id: int):
    """Loss and metrics of one micro-batch of rows."""
    spec = get_loss(config.loss)
    sums, lengths = sequence_logps(model, [rows[i].sequences for i in group], pad_id, config.logits_chunk)
    sums, lengths = sums.view(len(group), -1), lengths.view(len(group), -1)  # (G, K)
    ref_group = ref[group] if ref is not None else None
    kwargs = loss_kwargs(config, spec.fn)
    if spec.paired:
        inputs = PairedLogps(sums[:, 0], sums[:, 1], lengths[:, 0], lengths[:, 1],
                             ref_group[:, 0] if ref_group is not None else None,
                             ref_group[:, 1] if ref_group is not None else None)
        output = spec.fn(inputs, **kwargs)
    else:
        labels = torch.tensor([rows[i].label for i in group], device=sums.device)
        z0 = kto_reference_point(sums[:, 0], ref_group[:, 0])  # the batch's mean log-ratio
        output = spec.fn(sums[:, 0], ref_group[:, 0], labels, z0, **kwargs)
    if ref_group is not None:
        output.metrics["kl_estimate"] = (sums.detach() - ref_group).mean().item()
    return output, int(lengths.sum())


@torch.no_grad()
def evaluate(model, rows, ref, config, pad_id) -> dict:
    if not rows:
        return {}
    was_training = model.training
    model.eval()
    totals, count = {}, 0
    for group in micro_batches(rows, list(range(len(rows))), config):
        output, _ = group_loss(model, rows, group, ref, config, pad_id)
        for key, value in {"loss": output.loss.item(), **output.metrics}.items():
            totals[key] = totals.get(key, 0.0) + value * len(group)
        count += len(group)
    model.train(was_training)
    return {f"eval/{key}": value / count for key, value in totals.items()}


def train_dpo(config: DPOConfig) -> dict:
    """Run preference optimisation end to end; returns the final metrics (also in ``summary.json``)."""
    device = loop.start(config)
    spec = get_loss(config.loss)
    tokenizer = load_tokenizer(config.model)
    train_rows, eval_rows, counts = load_data(config, tokenizer)
    dtype = precision.resolve_dtype(config.dtype, device)
    model = prepare_model(load_model(config.model, precision.weights_dtype(dtype, config.finetune)), config)
    model = precision.prepare_for_training(model, device, dtype)  # on its device before wrapping
    model = distributed.wrap_model(model, config.distributed_strategy)
    model.train()
    pad_id = tokenizer.pad_token_id

    total_steps = loop.total_steps_for(len(train_rows), config)
    optimizer, scheduler = loop.build_optimization(model, config, total_steps)
    # The reference pass comes before resuming: with full fine-tuning it must see the starting
    # weights (the cache makes it free on a resumed run).
    train_ref = eval_ref = None
    if spec.needs_reference:
        # Cached on the CPU, used on the device beside the policy's log-probs.
        train_ref = to_device(reference_logps(model, train_rows, config, pad_id, "train"), device)
        eval_ref = to_device(reference_logps(model, eval_rows, config, pad_id, "eval"), device) if eval_rows else None
    run = loop.begin(config, model, tokenizer, optimizer, scheduler, total_steps,
                     {"train_rows": len(train_rows), "eval_rows": len(eval_rows), **counts})

    def step_fn(row_indices: list[int]) -> loop.StepResult:
        def loss_of(group: list[int]):
            output, tokens = group_loss(model, train_rows, group, train_ref, config, pad_id)
            weight = len(group) / len(row_indices)  # batch-mean over the global batch's rows
            return output.loss * weight, (output, weight, tokens)

        loss_sum, tokens, metrics = 0.0, 0, {}
        groups = micro_batches(train_rows, distributed.shard(row_indices), config)  # this rank's rows
        for _, (output, weight, group_tokens) in distributed.backward_each(groups, loss_of,
                                                                          filler=lambda: row_indices[:1]):
            loss_sum += output.loss.item() * weight
            tokens += group_tokens
            for key, value in output.metrics.items():
                metrics[key] = metrics.get(key, 0.0) + value * weight
        totals = distributed.sum_all({"loss": loss_sum, "tokens": tokens, **metrics})
        return loop.StepResult(totals.pop("loss"), int(totals.pop("tokens")), totals)

    eval_fn = loop.with_suites(lambda: evaluate(model, eval_rows, eval_ref, config, pad_id), model, tokenizer, config)
    lengths = [sum(len(seq) for seq in row.sequences) for row in train_rows]
    last = loop.run_steps(run, lengths, step_fn, eval_fn, config.loss)

    final_eval = eval_fn()
    return loop.finish_run(run, last, final_eval, final_eval)
