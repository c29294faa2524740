"""RLHF with PPO against a learned reward model (``posttrain ppo``), as in InstructGPT.

Run: ``posttrain ppo --reward-model runs/rm/final --data bundled:preference_chat --max-steps 50``.

One optimizer step of the loop below:

1. **Rollout.** ``batch_size`` prompts, ``num_generations`` samples each (1 by default), sampled
   with the KV-cache engine (the same :class:`~posttrain.algos.grpo.Policy` GRPO uses), or vLLM with
   ``engine: vllm`` (the policy term then weighted by truncated importance sampling, ``tis_cap``).
2. **Score.** The reward model scores each whole conversation (prompt messages plus the answer);
   optional rule rewards (``reward``) are added to that score.
3. **Per-token rewards.** One no-grad pass gives the sampling-time log-probs and values, one pass
   of the reference (LoRA: adapters disabled; full: a frozen copy) its log-probs. Each token gets
   ``-kl_coef * (logp - ref_logp)``; the last token also gets the score (Ziegler et al. 2019).
4. **Advantages** by GAE over those rewards and the values, whitened over the batch's tokens;
   the returns ``A + V`` are the value targets.
5. **Update.** ``num_iterations`` passes (optimizer steps) of PPO's clipped surrogate (or the
   ``policy_loss`` named: gspo, cispo) plus
   ``vf_coef`` times the clipped value loss, over exactly the sampled token ids.
6. **KL controller.** The batch's KL (nats per sequence, sum over its tokens of ``logp - ref``)
   moves the coefficient towards ``target_kl`` (adaptive, Ziegler et al. 2019), or not at all.

The critic is a value head on the policy itself: a linear layer (hidden -> 1, zero-initialised)
on the final-normed hidden state before each completion token, so one forward gives both the
log-probs and the values, and the value loss also trains the shared LoRA adapters (or weights).
A separate critic model would double the forward/backward cost and the memory on a CPU box; the
shared head is what most RLHF libraries started with. The head is training state only: it is
in every checkpoint (exact resume) but left out of the saved final model, a plain language model.

Rollouts are seeded by ``seed`` and the step, the coefficient of each step is appended to
``kl_controller.jsonl``, so a resumed run repeats the uninterrupted one. Every sample goes to
``rollouts.jsonl``; ``reward.png`` plots the reward against the step. Evaluation answers the
held-out prompts greedily and reports their mean reward-model score and KL to the reference.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch
from torch.nn.utils.rnn import pad_sequence

from posttrain.algos import grpo
from posttrain.algos.grpo import Policy, PromptRow, Sample, sample_rollouts
from posttrain.config import PPOConfig
from posttrain.data.batching import collate, split_micro_batches
from posttrain.data.render import Rendered
from posttrain.errors import UserError
from posttrain.losses.policy import (
    gae,
    kl_controller,
    logprob_mismatch,
    policy_loss,
    truncated_importance_weights,
    value_loss,
    whiten,
)
from posttrain.models.loading import load_tokenizer
from posttrain.models.logprobs import (
    backbone_and_head,
    causal_hidden,
    chunked_token_logps,
)
from posttrain.models.lora import count_parameters
from posttrain.models.reward import RewardModel
from posttrain.rollout.generate import Completion, SamplingParams
from posttrain.rollout.vllm_engine import require_vllm
from posttrain.training import distributed, loop
from posttrain.training.checkpoint import truncate_metrics
from posttrain.training.device import model_device, to_device
from posttrain.training.metrics import require_trackers
from posttrain.training.optim import build_optimizer, build_scheduler
from posttrain.training.precision import compute_dtype

KL_LOG = "kl_controller.jsonl"  # {"step", "kl_coef"}: the coefficient after each step's update


def _leave_out_of_saves(module, state_dict, prefix, local_metadata) -> None:
    # state_dict() is what Hugging Face saves; checkpoints save named_parameters() and keep the head.
    for key in [key for key in state_dict if key.startswith(prefix)]:
        del state_dict[key]


def attach_value_head(model) -> torch.nn.Linear:
    """Give ``model`` a ``value_head`` (hidden -> 1), zero so that the first values are 0 and its
    first gradients leave the backbone alone. It trains, is checkpointed, and is not saved with the model."""
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    weight = inner.get_output_embeddings().weight
    head = torch.nn.Linear(weight.shape[1], 1, dtype=torch.float32, device=weight.device)  # trains: float32
    torch.nn.init.zeros_(head.weight)
    torch.nn.init.zeros_(head.bias)
    head.register_state_dict_post_hook(_leave_out_of_saves)
    model.value_head = head
    return head


def logps_and_values(model, sequences: list[Rendered], pad_id: int, chunk: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-prob and value of every completion token of ``sequences``, flat in sequence order, from one
    forward pass. (N,), (N,): the value of token t is V(state before it), read where t is predicted."""
    batch = to_device(collate(sequences, pad_id), model_device(model))
    body, head_weight = backbone_and_head(model)
    hidden = causal_hidden(body, batch.input_ids, head_weight)  # (B, T, H)
    positions = batch.target_mask.reshape(-1).nonzero().squeeze(1)  # (N,)
    selected = hidden.reshape(-1, hidden.shape[-1]).index_select(0, positions)  # (N, H)
    logps = chunked_token_logps(selected, head_weight, batch.targets.reshape(-1)[positions], chunk,
                                compute_dtype=compute_dtype(body))
    return logps, model.value_head(selected.float()).squeeze(-1)


def micro_batches(sequences: list[Rendered], config: PPOConfig) -> list[list[int]]:
    return split_micro_batches(list(range(len(sequences))), [len(seq) for seq in sequences], config.micro_batch_tokens)


def per_sequence(flat: torch.Tensor, group: list[int], sequences: list[Rendered]) -> tuple[torch.Tensor, ...]:
    """Split a flat (N,) token tensor of a micro-batch into one tensor per sequence."""
    return flat.split([sum(sequences[i].loss_mask) for i in group])


def load_reward_model(config: PPOConfig) -> RewardModel:
    if not config.reward_model:
        raise UserError("ppo needs a reward model: set reward_model to a directory saved by `posttrain rm` "
                        "(--reward-model runs/rm/final)")
    if not Path(config.reward_model).expanduser().is_dir():
        raise UserError(f"reward_model: no directory '{config.reward_model}'; train one with `posttrain rm`")
    try:
        return RewardModel.load(config.reward_model)
    except UserError as error:
        raise UserError(f"reward_model: {error}") from None


def score_samples(reward_model: RewardModel, extra_reward, samples: list[Sample], step: int,
                  batch_size: int) -> tuple[list[float], dict[str, float]]:
    """Each sample's reward = reward-model score of the whole conversation + extra rule rewards.
    Returns the reward-model scores and the rule rewards' logging means."""
    conversations = [s.row.messages + [{"role": "assistant", "content": s.completion.text}] for s in samples]
    rm_scores = reward_model.score(conversations, batch_size)
    metrics = grpo.score(extra_reward, samples, None, step) if extra_reward is not None else {}
    for sample, rm_score in zip(samples, rm_scores):
        sample.reward += rm_score  # the rule rewards' total, or 0
    return rm_scores, metrics


class Rollouts:
    """A scored rollout batch (this rank's share) and the per-token tensors PPO needs, one (T_i,)
    tensor per sequence. ``filler`` is a sequence FSDP ranks with fewer micro-batches run at zero weight."""

    def __init__(self, samples: list[Sample], config: PPOConfig, filler: Sample | None = None):
        self.samples = samples
        self.sequences = grpo.sequences_of(samples)
        self.groups = micro_batches(self.sequences, config)
        self.passes = distributed.balanced(self.groups, [len(samples)])
        if filler is not None:
            self.sequences.append(grpo.sequences_of([filler])[0])  # index len(samples): only fillers use it
        self.lengths = torch.tensor([len(s.completion.token_ids) for s in samples])  # (S,)
        self.old_logps: list[torch.Tensor] = [torch.empty(0)] * len(samples)
        self.old_values: list[torch.Tensor] = [torch.empty(0)] * len(samples)
        self.ref_logps: list[torch.Tensor] = [torch.empty(0)] * len(samples)
        self.advantages: list[torch.Tensor] = []
        self.returns: list[torch.Tensor] = []

    @torch.no_grad()
    def compute_token_tensors(self, policy: Policy) -> None:
        """Sampling-time log-probs and values (the policy before this step's update), and the reference's log-probs."""
        for group, weight in self.passes:
            batch = [self.sequences[i] for i in group]
            logps, values = logps_and_values(policy.model, batch, policy.pad_id, policy.config.logits_chunk)
            ref_logps = policy.token_logps([[seq] for seq in batch], reference=True)
            if not weight:  # a filler pass: it only kept FSDP ranks in step
                continue
            for i, *tensors in zip(group, *(per_sequence(t, group, self.sequences) for t in (logps, values, ref_logps))):
                self.old_logps[i], self.old_values[i], self.ref_logps[i] = tensors
        # The rollout engine's log-probs of the same tokens: TIS and the mismatch metrics compare them.
        self.engine_logps = [torch.tensor(s.completion.logprobs, dtype=logps.dtype, device=logps.device)
                             for s, logps in zip(self.samples, self.old_logps)]

    def mismatch(self, tis_cap: float | None) -> dict[str, float]:
        """The engine's log-probs against the trainer's over this rank's tokens (``logprob_mismatch``)."""
        if not self.samples:
            return logprob_mismatch(torch.zeros(0), torch.zeros(0), tis_cap)
        return logprob_mismatch(torch.cat(self.old_logps), torch.cat(self.engine_logps), tis_cap)

    def sequence_kls(self) -> torch.Tensor:
        """KL to the reference per sequence, estimated as the sum of ``logp - ref_logp`` over its sampled tokens. (S,)"""
        return torch.stack([(logps - ref).sum() for logps, ref in zip(self.old_logps, self.ref_logps)])

    def estimate_advantages(self, kl_coef: float, config: PPOConfig) -> None:
        """Per-token rewards (KL penalty, plus the score at the last token), then GAE and whitening."""
        if not self.samples:  # this rank's share of the batch is empty; it still joins the batch's statistics
            if config.whiten_advantages and distributed.is_distributed():
                whiten_over_ranks(torch.zeros(0), torch.zeros(0))
            return
        device = self.old_logps[0].device  # where the policy computed them
        mask = pad_sequence([torch.ones(int(n), device=device) for n in self.lengths], batch_first=True)  # (S, T)
        log_ratios = pad_sequence([lp - ref for lp, ref in zip(self.old_logps, self.ref_logps)], batch_first=True)
        rewards = -kl_coef * log_ratios  # (S, T)
        last_tokens = (torch.arange(len(self.samples)), self.lengths - 1)
        rewards[to_device(last_tokens, device)] += torch.tensor([s.reward for s in self.samples], device=device)
        values = pad_sequence(self.old_values, batch_first=True)  # (S, T)
        advantages, returns = gae(rewards, values, mask, config.gamma, config.lam)
        if config.whiten_advantages:
            whiten_fn = whiten_over_ranks if distributed.is_distributed() else whiten
            advantages = whiten_fn(advantages, mask)
        self.advantages = [row[:n] for row, n in zip(advantages, self.lengths)]
        self.returns = [row[:n] for row, n in zip(returns, self.lengths)]



def whiten_over_ranks(values: torch.Tensor, mask: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """:func:`whiten` with the mean and (population) variance of the valid tokens of every rank."""
    mask = mask.to(values.dtype)
    count, total, squares = distributed.sum_all([float(mask.sum()), float((values * mask).sum()),
                                                 float((values**2 * mask).sum())])
    mean = total / max(count, 1.0)
    variance = max(squares / max(count, 1.0) - mean**2, 0.0)
    return (values - mean) * (variance + eps) ** -0.5 * mask


def gather(per_sequence_tensors: list[torch.Tensor], group: list[int]) -> torch.Tensor:
    """The flat (N,) tensor of one micro-batch, in the order its forward pass returns tokens."""
    return torch.cat([per_sequence_tensors[i] for i in group])


def ppo_update(policy: Policy, rollouts: Rollouts, optimizer, config: PPOConfig) -> dict[str, float]:
    """``num_iterations`` passes of clipped surrogate + value loss; the caller takes the last optimizer step.
    Token-mean over the whole global batch: every token weighs ``1 / total_tokens`` (all ranks' tokens)."""
    total_tokens = int(distributed.sum_all(int(rollouts.lengths.sum())))
    loss_fn = policy_loss(config.policy_loss)
    metrics: dict[str, float] = {}
    for iteration in range(config.num_iterations):
        last = iteration == config.num_iterations - 1
        for group, pass_weight in rollouts.passes:
            if not pass_weight:  # a filler: the forward and backward keep FSDP ranks in step, at zero weight
                logps, values = logps_and_values(policy.model, [rollouts.sequences[i] for i in group], policy.pad_id,
                                                 config.logits_chunk)
                ((logps.sum() + values.sum()) * 0.0).backward()
                continue
            logps, values = logps_and_values(policy.model, [rollouts.sequences[i] for i in group], policy.pad_id,
                                             config.logits_chunk)  # (N,), (N,)
            weights = torch.full_like(logps, 1.0 / total_tokens)
            old_logps = gather(rollouts.old_logps, group)
            tis = truncated_importance_weights(old_logps, gather(rollouts.engine_logps, group), config.tis_cap) \
                if policy.vllm and config.tis_cap else None
            index = torch.arange(len(group), device=logps.device).repeat_interleave(
                rollouts.lengths[group].to(logps.device))  # (N,) each token's sequence, for gspo
            policy_output = loss_fn(logps, old_logps, gather(rollouts.advantages, group), weights,
                                    sequence_index=index, tis_weights=tis, **config.policy_loss_options)
            value_output = value_loss(values, gather(rollouts.old_values, group), gather(rollouts.returns, group),
                                      weights, config.value_clip)
            loss = policy_output.loss + config.vf_coef * value_output.loss
            loss.backward()
            if last:
                for key, value in {"loss": loss.item(), "policy_loss": policy_output.loss.item(),
                                   "entropy_estimate": -float((logps.detach() * weights).sum()),
                                   **policy_output.metrics, **value_output.metrics}.items():
                    metrics[key] = metrics.get(key, 0.0) + value
        if not last:
            loop.clip_gradients(policy.model, config.max_grad_norm)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
    return distributed.sum_all(metrics)


@torch.no_grad()
def evaluate(policy: Policy, reward_model: RewardModel, extra_reward, rows: list[PromptRow], config: PPOConfig) -> dict:
    """Greedy answers to the held-out prompts: mean reward-model score, total reward, KL to the reference
    (nats per answer, sum of ``logp - ref_logp`` over its tokens) and length."""
    if not rows:
        return {}
    completions = policy.sample(rows, SamplingParams(max_new_tokens=config.max_new_tokens, temperature=0.0,
                                                     stop=config.stop))
    samples = [Sample(rows[c.prompt_index], c) for c in completions]
    rm_scores, _ = score_samples(reward_model, extra_reward, samples, 0, config.rollout_batch_size)
    sequences = grpo.sequences_of(samples)
    kls = torch.zeros(len(samples), device=policy.device)  # (S,)
    for group in micro_batches(sequences, config):
        batch = [sequences[i] for i in group]
        singles = [[seq] for seq in batch]
        log_ratios = policy.token_logps(singles) - policy.token_logps(singles, reference=True)  # (N,)
        kls[group] = torch.stack([ratios.sum() for ratios in per_sequence(log_ratios, group, sequences)])
    return {"eval/rm_score": sum(rm_scores) / len(rm_scores),
            "eval/reward_mean": sum(s.reward for s in samples) / len(samples),
            "eval/kl": float(kls.mean()),
            "eval/completion_tokens": sum(len(c.token_ids) for c in completions) / len(completions)}


def build_optimization(policy: Policy, value_head: torch.nn.Linear, config: PPOConfig, total_steps: int):
    """AdamW and schedule as every trainer's, with the value head in its own group at ``value_lr``."""
    optimizer = build_optimizer(policy.model, config)
    head = {id(param) for param in value_head.parameters()}
    for group in optimizer.param_groups:
        group["params"] = [param for param in group["params"] if id(param) not in head]
    optimizer.add_param_group({"params": list(value_head.parameters()), "lr": config.value_lr or config.lr,
                               "weight_decay": 0.0})
    return optimizer, build_scheduler(optimizer, config, total_steps)


def append_jsonl(path: Path, records: list[dict]) -> None:
    with open(path, "a") as handle:
        handle.writelines(json.dumps(record) + "\n" for record in records)


def restore_kl_coef(run_dir: Path, step: int, config: PPOConfig) -> float:
    """The coefficient after ``step`` from ``kl_controller.jsonl`` (records of later steps dropped)."""
    truncate_metrics(run_dir, step, KL_LOG)
    path = run_dir / KL_LOG
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []
    return records[-1]["kl_coef"] if records else config.init_kl_coef


def train_ppo(config: PPOConfig) -> dict:
    """Run PPO end to end; returns the final metrics (also in ``summary.json``)."""
    from posttrain.rewards import combine

    run_dir = Path(config.output_dir)
    if config.engine == "vllm":
        require_vllm()  # before any slow loading
    require_trackers(config.report_to)  # so is a missing tracker package (loop.start checks again, cheaply)
    reward_model = load_reward_model(config)
    device = loop.start(config)
    reward_model.to(device)
    extra_reward = combine(config.reward) if config.reward else None
    tokenizer = load_tokenizer(config.model)
    train_rows, eval_rows = grpo.load_prompts(config, tokenizer)
    policy = Policy(config, tokenizer, device=device)
    value_head = attach_value_head(policy.model)
    trainable, total_params = count_parameters(policy.model)
    total_steps = loop.total_steps_for(len(train_rows), config)
    optimizer, scheduler = build_optimization(policy, value_head, config, total_steps)
    policy.watch(optimizer)  # engine vllm: push the weights after every step
    position = loop.resume(run_dir, config, policy.model, optimizer, scheduler)
    truncate_metrics(run_dir, position.step, "rollouts.jsonl")
    kl_coef = distributed.broadcast(restore_kl_coef(run_dir, position.step, config))  # rank 0 truncated the log
    controller = kl_controller(kl_coef, config.target_kl, config.kl_horizon)
    data_note = {"train_prompts": len(train_rows), "eval_prompts": len(eval_rows), "trainable_params": trainable,
                 "total_params": total_params, "total_steps": total_steps}
    logger = loop.open_run(run_dir, config, position, data_note)

    def policy_eval() -> dict:
        return evaluate(policy, reward_model, extra_reward, eval_rows, config)

    run_eval = loop.with_suites(policy_eval, policy.model, tokenizer, config)

    if config.eval_before and position.step == 0 and eval_rows:
        logger.log(0, run_eval())

    def step_fn(prompt_indices: list[int]) -> loop.StepResult:
        step = position.step + 1
        started = time.perf_counter()
        rows = [train_rows[i] for i in prompt_indices]
        samples = sample_rollouts(policy, rows, config, step)
        sampled = time.perf_counter()
        rm_scores, metrics = score_samples(reward_model, extra_reward, samples, step, config.rollout_batch_size)
        filler = Sample(rows[0], Completion(0, 0, [policy.pad_id], [0.0], "", "length")) \
            if distributed.is_distributed() else None
        rollouts = Rollouts(samples, config, filler)
        rollouts.compute_token_tensors(policy)
        metrics.update(rollouts.mismatch(config.tis_cap if policy.vllm else None))
        kl_coef = controller.coef
        rollouts.estimate_advantages(kl_coef, config)
        kls = rollouts.sequence_kls() if samples else torch.zeros(0)  # (S,)
        records = [{"step": step, "prompt": sample.row.text, "completion": sample.completion.text,
                    "reward": sample.reward, "rm_score": rm_score, "kl": kl,
                    "finish_reason": sample.completion.finish_reason}
                   for sample, rm_score, kl in zip(samples, rm_scores, kls.tolist())]
        # The batch's statistics over every rank's samples (one process: just this one's).
        everything = [record for part in distributed.gather_all(records) for record in part]
        update = ppo_update(policy, rollouts, optimizer, config)
        batch_kl = sum(record["kl"] for record in everything) / len(everything) if distributed.is_distributed() \
            else float(kls.mean())
        controller.update(batch_kl, len(everything))
        if distributed.is_main():
            append_jsonl(run_dir / "rollouts.jsonl", everything)
            append_jsonl(run_dir / KL_LOG, [{"step": step, "kl_coef": controller.coef}])
        if distributed.is_distributed():
            metrics = grpo.mean_over_ranks(metrics, len(samples))
        rewards = torch.tensor([record["reward"] for record in everything])
        values = torch.cat([*rollouts.old_values, torch.zeros(0, device=device)])  # (N,) this rank's tokens
        returns = torch.cat([*rollouts.returns, torch.zeros(0, device=device)])
        token_sums = distributed.sum_all([len(values), float(values.sum()), float(returns.sum())])
        metrics.update({
            "reward_mean": float(rewards.mean()), "reward_std": float(rewards.std()) if len(rewards) > 1 else 0.0,
            "rm_score": sum(record["rm_score"] for record in everything) / len(everything), "kl": batch_kl,
            "kl_coef": kl_coef, "value_mean": token_sums[1] / token_sums[0],
            "return_mean": token_sums[2] / token_sums[0],
            "completion_tokens": token_sums[0] / len(everything),
            "truncated_fraction": sum(record["finish_reason"] == "length" for record in everything) / len(everything),
            "completions_per_s": len(everything) / (time.perf_counter() - started),
            "rollout_seconds": sampled - started,
            **{key: value for key, value in update.items() if key != "loss"},
        })
        return loop.StepResult(update["loss"], int(token_sums[0]), metrics)

    last = loop.run_steps(config, run_dir, policy.model, optimizer, scheduler, position, total_steps,
                          [len(row.prompt_ids) for row in train_rows], step_fn, run_eval, logger, "ppo")
    final_eval = run_eval()
    summary = loop.finish_run(run_dir, position, policy.model, optimizer, scheduler, config, tokenizer, logger, last,
                              final_eval, {**final_eval, "kl_coef": controller.coef}, data_note)
    plot = grpo.plot_rewards(run_dir) if distributed.is_main() else None
    if plot:
        print(f"reward curve: {plot}")
    return summary
