"""RLHF with PPO against a learned reward model (``posttrain ppo``), as in InstructGPT.

Run: ``posttrain ppo --reward-model runs/rm/final --data bundled:preference_chat --max-steps 50``.

One optimizer step of the loop below:

1. **Rollout.** ``batch_size`` prompts, ``num_generations`` samples each (1 by default), sampled
   with the KV-cache engine (the same :class:`~posttrain.algos.rl.Policy` GRPO uses), or vLLM with
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

The critic is a value head on the policy itself (:mod:`posttrain.models.value_head`: hidden -> 1,
zero-initialised), so one forward gives both the log-probs and the values, and the value loss also
trains the shared LoRA adapters (or weights). The head is in every checkpoint (exact resume) but
left out of the saved final model, a plain language model.

Rollouts are seeded by ``seed`` and the step, the coefficient of each step is appended to
``kl_controller.jsonl``, so a resumed run repeats the uninterrupted one. Every sample goes to
``rollouts.jsonl``; ``reward.png`` plots the reward against the step. Evaluation answers the
held-out prompts greedily and reports their mean reward-model score and KL to the reference.
"""

from __future__ import annotations

import json
import time
from collections.abc import Generator
from pathlib import Path

import torch
from torch.nn.utils.rnn import pad_sequence

from posttrain.algos import rl
from posttrain.config import PPOConfig
from posttrain.data.batching import split_micro_batches
from posttrain.data.render import Rendered
from posttrain.errors import UserError
from posttrain.losses import policy as losses
from posttrain.models.loading import load_tokenizer
from posttrain.models.reward import RewardModel
from posttrain.models.value_head import attach_value_head, logps_and_values
from posttrain.rollout.generate import SamplingParams
from posttrain.rollout.vllm_engine import require_vllm
from posttrain.training import distributed, loop
from posttrain.training.checkpoint import truncate_metrics
from posttrain.training.metrics import require_trackers
from posttrain.training.optim import build_optimizer, build_scheduler, own_group

KL_LOG = "kl_controller.jsonl"  # {"step", "kl_coef"}: the coefficient after each step's update


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


def score_samples(reward_model: RewardModel, extra_reward, samples: list[rl.Sample], step: int,
                  batch_size: int) -> tuple[list[float], dict[str, float]]:
    """Each sample's reward = reward-model score of the whole conversation + extra rule rewards.
    Returns the reward-model scores and the rule rewards' logging means."""
    conversations = [s.row.messages + [{"role": "assistant", "content": s.completion.text}] for s in samples]
    rm_scores = reward_model.score(conversations, batch_size)
    metrics = rl.score(extra_reward, samples, step) if extra_reward is not None else {}
    for sample, rm_score in zip(samples, rm_scores):
        sample.reward += rm_score  # the rule rewards' total, or 0
    return rm_scores, metrics


class Rollouts:
    """A scored rollout batch (this rank's share) and the per-token tensors PPO needs, one (T_i,)
    tensor per sample. Index ``len(samples)`` is a spare one-token sequence, 0 in every tensor, for
    the filler passes FSDP's balancing may run (``distributed.backward_each``)."""

    def __init__(self, samples: list[rl.Sample], policy: rl.Policy, config: PPOConfig):
        self.samples = samples
        self.sequences = rl.sequences_of(samples + [rl.Sample.spare(policy.pad_id)])
        self.groups = micro_batches(self.sequences[:-1], config)
        self.lengths = torch.tensor([len(s.completion.token_ids) for s in samples])  # (S,)
        self.zero = torch.zeros(1, device=policy.device)  # the spare sequence's one token
        self.old_logps, self.old_values, self.ref_logps = self.sampling_tensors(policy)
        # The rollout engine's log-probs of the same tokens: TIS and the mismatch metrics compare them.
        self.engine_logps = [torch.tensor(s.completion.logprobs, dtype=logps.dtype, device=logps.device)
                             for s, logps in zip(samples, self.old_logps)]
        self.advantages: list[torch.Tensor] = []
        self.returns: list[torch.Tensor] = []

    @torch.no_grad()
    def sampling_tensors(self, policy: rl.Policy) -> list[list[torch.Tensor]]:
        """Sampling-time log-probs and values (the policy before this step's update), and the reference's log-probs."""
        def forward(group: list[int]) -> tuple[torch.Tensor, ...]:
            batch = [self.sequences[i] for i in group]
            logps, values = logps_and_values(policy.model, batch, policy.pad_id, policy.config.logits_chunk)
            return logps, values, policy.token_logps([[seq] for seq in batch], reference=True)

        tensors = [[torch.empty(0)] * len(self.samples) for _ in range(3)]
        for group, outputs in distributed.forward_each(self.groups, forward, lambda: [len(self.samples)]):
            for kind, flat in zip(tensors, outputs):
                for i, part in zip(group, per_sequence(flat, group, self.sequences)):
                    kind[i] = part
        return tensors

    def flat(self, tensors: list[torch.Tensor], group: list[int]) -> torch.Tensor:
        """The flat (N,) tensor of one micro-batch, in the order its forward pass returns tokens."""
        return torch.cat([tensors[i] if i < len(self.samples) else self.zero for i in group])

    def mismatch(self, tis_cap: float | None) -> dict[str, float]:
        """The engine's log-probs against the trainer's over this rank's tokens (``logprob_mismatch``)."""
        if not self.samples:
            return losses.logprob_mismatch(torch.zeros(0), torch.zeros(0), tis_cap)
        return losses.logprob_mismatch(torch.cat(self.old_logps), torch.cat(self.engine_logps), tis_cap)

    def sequence_kls(self) -> torch.Tensor:
        """KL to the reference per sequence, estimated as the sum of ``logp - ref_logp`` over its sampled tokens. (S,)"""
        if not self.samples:
            return torch.zeros(0)
        return torch.stack([(logps - ref).sum() for logps, ref in zip(self.old_logps, self.ref_logps)])

    def estimate_advantages(self, kl_coef: float, config: PPOConfig) -> None:
        """Per-token rewards (KL penalty, plus the score at the last token), then GAE and whitening
        over every rank's tokens (a rank with no samples still joins the batch's statistics)."""
        if not self.samples:
            if config.whiten_advantages and distributed.is_distributed():
                distributed.sum_all(losses.whitening_moments(torch.zeros(0), torch.zeros(0)))
            return
        device = self.old_logps[0].device  # where the policy computed them
        mask = pad_sequence([torch.ones(int(n), device=device) for n in self.lengths], batch_first=True)  # (S, T)
        log_ratios = pad_sequence([lp - ref for lp, ref in zip(self.old_logps, self.ref_logps)], batch_first=True)
        scores = torch.tensor([s.reward for s in self.samples], device=device)  # (S,)
        rewards = losses.kl_shaped_rewards(log_ratios, self.lengths, scores, kl_coef)  # (S, T)
        values = pad_sequence(self.old_values, batch_first=True)  # (S, T)
        advantages, returns = losses.gae(rewards, values, mask, config.gamma, config.lam)
        if config.whiten_advantages and distributed.is_distributed():
            moments = distributed.sum_all(losses.whitening_moments(advantages, mask))  # every rank's tokens
            advantages = losses.whiten_by_moments(advantages, mask, *moments)
        elif config.whiten_advantages:
            advantages = losses.whiten(advantages, mask)
        self.advantages = [row[:n] for row, n in zip(advantages, self.lengths)]
        self.returns = [row[:n] for row, n in zip(returns, self.lengths)]


def ppo_update(policy: rl.Policy, rollouts: Rollouts, config: PPOConfig) -> Generator[None, None, dict]:
    """``num_iterations`` passes of clipped surrogate + value loss, yielding after each pass but the
    last (the run steps the optimizer there); returns the last pass's metrics summed over ranks.
    Token-mean over the whole global batch: every token weighs ``1 / total_tokens`` (all ranks' tokens)."""
    total_tokens = int(distributed.sum_all(int(rollouts.lengths.sum())))
    loss_fn = losses.policy_loss(config.policy_loss)
    flat = rollouts.flat

    def loss_of(group: list[int]):
        logps, values = logps_and_values(policy.model, [rollouts.sequences[i] for i in group], policy.pad_id,
                                         config.logits_chunk)  # (N,), (N,)
        weights = torch.full_like(logps, 1.0 / total_tokens)
        old_logps = flat(rollouts.old_logps, group)
        tis = losses.truncated_importance_weights(old_logps, flat(rollouts.engine_logps, group), config.tis_cap) \
            if policy.vllm and config.tis_cap else None
        counts = torch.tensor([sum(rollouts.sequences[i].loss_mask) for i in group], device=logps.device)
        index = torch.arange(len(group), device=logps.device).repeat_interleave(counts)  # (N,) each token's sequence
        policy_output = loss_fn(logps, old_logps, flat(rollouts.advantages, group), weights,
                                sequence_index=index, tis_weights=tis, **config.policy_loss_options)
        value_output = losses.value_loss(values, flat(rollouts.old_values, group), flat(rollouts.returns, group),
                                  weights, config.value_clip)
        loss = policy_output.loss + config.vf_coef * value_output.loss
        return loss, (loss, policy_output, value_output, logps.detach(), weights)

    metrics: dict[str, float] = {}
    for iteration in range(config.num_iterations):
        last = iteration == config.num_iterations - 1
        for _, (loss, policy_output, value_output, logps, weights) in distributed.backward_each(
                rollouts.groups, loss_of, lambda: [len(rollouts.samples)]):
            if last:
                for key, value in {"loss": loss.item(), "policy_loss": policy_output.loss.item(),
                                   "entropy_estimate": -float((logps * weights).sum()), **policy_output.metrics,
                                   **value_output.metrics}.items():
                    metrics[key] = metrics.get(key, 0.0) + value
        if not last:
            yield  # the run steps the optimizer between passes
    return distributed.sum_all(metrics)


@torch.no_grad()
def evaluate(policy: rl.Policy, reward_model: RewardModel, extra_reward, rows: list[rl.PromptRow],
             config: PPOConfig) -> dict:
    """Greedy answers to the held-out prompts: mean reward-model score, total reward, KL to the reference
    (nats per answer, sum of ``logp - ref_logp`` over its tokens) and length."""
    if not rows:
        return {}
    samples = policy.rollouts(rows, SamplingParams(max_new_tokens=config.max_new_tokens, temperature=0.0,
                                                   stop=config.stop))
    rm_scores, _ = score_samples(reward_model, extra_reward, samples, 0, config.rollout_batch_size)
    sequences = rl.sequences_of(samples)
    kls = torch.zeros(len(samples), device=policy.device)  # (S,)
    for group in micro_batches(sequences, config):
        batch = [sequences[i] for i in group]
        singles = [[seq] for seq in batch]
        log_ratios = policy.token_logps(singles) - policy.token_logps(singles, reference=True)  # (N,)
        kls[group] = torch.stack([ratios.sum() for ratios in per_sequence(log_ratios, group, sequences)])
    return {"eval/rm_score": sum(rm_scores) / len(rm_scores),
            "eval/reward_mean": sum(s.reward for s in samples) / len(samples),
            "eval/kl": float(kls.mean()),
            "eval/completion_tokens": sum(len(s.completion.token_ids) for s in samples) / len(samples)}


def restore_kl_coef(run_dir: Path, step: int, config: PPOConfig) -> float:
    """The coefficient after ``step`` from ``kl_controller.jsonl`` (records of later steps dropped)."""
    truncate_metrics(run_dir, step, KL_LOG)
    path = run_dir / KL_LOG
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []
    return records[-1]["kl_coef"] if records else config.init_kl_coef


def train_ppo(config: PPOConfig) -> dict:
    """Run PPO end to end; returns the final metrics (also in ``summary.json``)."""
    from posttrain.rewards import combine

    if config.engine == "vllm":
        require_vllm()  # before any slow loading
    require_trackers(config.report_to)  # so is a missing tracker package (loop.start checks again, cheaply)
    reward_model = load_reward_model(config)
    device = loop.start(config)
    reward_model.to(device)
    extra_reward = combine(config.reward) if config.reward else None
    tokenizer = load_tokenizer(config.model)
    train_rows, eval_rows = rl.load_prompts(config, tokenizer)
    policy = rl.Policy(config, tokenizer, device=device, reference=True)  # the KL penalty needs the reference
    value_head = attach_value_head(policy.model)
    total_steps = loop.total_steps_for(len(train_rows), config)
    # The value head, new and zero, learns at its own rate (value_lr), without weight decay.
    optimizer = own_group(build_optimizer(policy.model, config), value_head.parameters(), config.value_lr or config.lr)
    scheduler = build_scheduler(optimizer, config, total_steps)
    policy.watch(optimizer)  # engine vllm: push the weights after every step
    run = loop.begin(config, policy.model, tokenizer, optimizer, scheduler, total_steps,
                     {"train_prompts": len(train_rows), "eval_prompts": len(eval_rows)})
    truncate_metrics(run.run_dir, run.position.step, rl.ROLLOUT_LOG)
    kl_coef = distributed.broadcast(restore_kl_coef(run.run_dir, run.position.step, config))  # rank 0 truncated the log
    controller = losses.kl_controller(kl_coef, config.target_kl, config.kl_horizon)
    run_eval = loop.with_suites(lambda: evaluate(policy, reward_model, extra_reward, eval_rows, config),
                                policy.model, tokenizer, config)
    if config.eval_before and run.position.step == 0 and eval_rows:
        run.logger.log(0, run_eval())

    def step_fn(prompt_indices: list[int]) -> Generator[loop.StepResult | None, None, None]:
        step = run.position.step + 1
        started = time.perf_counter()
        samples = rl.sample_rollouts(policy, [train_rows[i] for i in prompt_indices], config, step)
        sampled = time.perf_counter()
        rm_scores, metrics = score_samples(reward_model, extra_reward, samples, step, config.rollout_batch_size)
        rollouts = Rollouts(samples, policy, config)
        metrics.update(rollouts.mismatch(config.tis_cap if policy.vllm else None))
        kl_coef = controller.coef
        rollouts.estimate_advantages(kl_coef, config)
        kls = rollouts.sequence_kls()  # (S,)
        # The batch's statistics over every rank's samples (one process: just this one's).
        everything = rl.log_rollouts(run.run_dir, [
            {"step": step, "prompt": sample.row.text, "completion": sample.completion.text, "reward": sample.reward,
             "rm_score": rm_score, "kl": kl, "finish_reason": sample.completion.finish_reason}
            for sample, rm_score, kl in zip(samples, rm_scores, kls.tolist())])
        update = yield from ppo_update(policy, rollouts, config)
        batch_kl = sum(record["kl"] for record in everything) / len(everything) if distributed.is_distributed() \
            else float(kls.mean())
        controller.update(batch_kl, len(everything))
        if distributed.is_main():
            rl.append_jsonl(run.run_dir / KL_LOG, [{"step": step, "kl_coef": controller.coef}])
        metrics = rl.mean_over_ranks(metrics, len(samples))
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
        yield loop.StepResult(update["loss"], int(token_sums[0]), metrics)

    last = loop.run_steps(run, [len(row.prompt_ids) for row in train_rows], step_fn, run_eval, "ppo")
    final_eval = run_eval()
    summary = loop.finish_run(run, last, final_eval, {**final_eval, "kl_coef": controller.coef})
    rl.finish_plot(run.run_dir)
    return summary
