"""RL with group-relative advantages (``posttrain grpo``): GRPO, RLOO and REINFORCE++.

Run: ``posttrain grpo --data bundled:addition --reward math_correct --num-generations 8``.

One optimizer step of the loop below:

1. **Rollout.** Each of ``batch_size`` prompts is sampled ``num_generations`` times with the
   KV-cache engine, which also returns each sampled token's log-prob (``engine: vllm``: a colocated
   vLLM engine, :mod:`posttrain.rollout.vllm_engine`, that the weights are pushed into after every
   optimizer step; the update then weights each token by truncated importance sampling, ``tis_cap``,
   for the gap between its log-probs and the trainer's, logged as ``mismatch/*``). With ``tools`` (and
   ``max_turns`` >= 2) each sample is a whole episode (``rollout.episode.run_episodes``): the policy
   may call a tool, its result is appended as a tool message and generation continues. The episode's
   own token ids are trained on, with only the model's tokens in the loss (tool output and template
   text are masked), and the reward scores the final answer, getting the episode as ``messages=``.
2. **Reward.** The reward function(s) score every completion; a reward that raises is logged
   with its prompt and scores 0 (if every sample fails, the run stops with the error).
3. **Advantages** per group, by the estimator named in ``advantage``. Groups whose samples all got
   the same reward carry no signal and are dropped (``drop_zero_variance``), which saves their
   forward and backward passes. ``dynamic_sampling`` (DAPO) refills the batch instead: extra
   generation batches of random training prompts until ``batch_size`` informative groups (at most
   ``max_extra_batches``; only the kept groups reach ``rollouts.jsonl``). ``overlong_buffer`` adds
   DAPO's soft length penalty to the rewards first.
4. **Update.** ``num_iterations`` passes of the policy loss (``policy_loss``: PPO's clipped
   surrogate by default, or GSPO, CISPO) over the kept sequences, with
   an optional k3 KL penalty to the reference (the starting model: LoRA with adapters disabled,
   or a frozen copy under full fine-tuning). The sequences trained on are exactly the prompt ids
   plus the sampled ids, never re-tokenized text, so rollout and training see the same tokens.

Departures from the GRPO paper, on purpose: no KL term by default (``kl_coef: 0``, as DAPO and
Dr. GRPO argue and which saves the reference forward) and token-mean aggregation by default.
With ``num_iterations: 1`` the sampling policy is the current one, so the "old" log-probs are the
current ones detached (ratio 1, the same gradient as REINFORCE with these advantages); with more,
tool episodes take the log-probs recorded while sampling (single-turn rollouts recompute them).

Rollouts are deterministic per step (seeded by ``seed``, the step number and the generation
batch), so a resumed run samples what the uninterrupted one would have, and under torchrun, where
each rank samples its share of the generation batches, N ranks sample what one process does.
Rewards are gathered from all ranks before advantages, and the update's normalisers count the
whole global batch, so N ranks compute the loss of one process. Every rollout goes to ``rollouts.jsonl``; the
reward curve is plotted to ``reward.png`` in the run directory.
"""

from __future__ import annotations

import time
from collections.abc import Generator

import torch

from posttrain.algos import rl
from posttrain.config import GRPOConfig
from posttrain.errors import UserError
from posttrain.losses import policy as losses
from posttrain.models.loading import load_tokenizer
from posttrain.rollout import vllm_engine
from posttrain.rollout.generate import SamplingParams
from posttrain.rollout.tools import load_tools
from posttrain.training import distributed, loop
from posttrain.training.checkpoint import truncate_metrics


def sampling_logps(policy: rl.Policy, batch: rl.MicroBatch) -> torch.Tensor:
    """The sampling policy's log-probs of the batch's tokens. (N,) Tool episodes carry those recorded
    while sampling; single-turn rollouts recompute them. vLLM's are another implementation's: the
    trainer recomputes them (TIS covers the gap)."""
    if policy.tools is not None and not policy.vllm:
        return batch.engine_logps(policy.device)
    return policy.token_logps(batch.packed())


def policy_update(policy: rl.Policy, samples: list[rl.Sample], config: GRPOConfig) -> Generator[None, None, dict]:
    """``num_iterations`` passes of the policy loss over this rank's kept samples, yielding after each
    pass but the last (the run steps the optimizer there); returns the last pass's metrics summed over
    ranks, and how far the engine's log-probs are from the trainer's (``mismatch/*``)."""
    device = policy.device  # per-token tensors meet the policy's log-probs there
    # The aggregation divides by counts of the whole global batch, summed over ranks.
    total_sequences, total_tokens = distributed.sum_all([len(samples), sum(s.num_loss_tokens for s in samples)])
    totals = {"total_sequences": int(total_sequences), "total_tokens": int(total_tokens),
              "max_new_tokens": config.max_new_tokens}
    batches = rl.micro_batches(samples, config.micro_batch_tokens)

    def spare() -> rl.MicroBatch:
        return rl.MicroBatch([rl.Sample.spare(policy.pad_id)])

    with torch.no_grad():
        if config.num_iterations > 1:  # later passes need the sampling policy's log-probs, fixed now
            for batch, logps in distributed.forward_each(batches, lambda b: sampling_logps(policy, b), spare):
                batch.old_logps = logps
        if config.kl_coef > 0:
            for batch, logps in distributed.forward_each(
                    batches, lambda b: policy.token_logps(b.packed(), reference=True), spare):
                batch.ref_logps = logps
    tis_cap = config.tis_cap if policy.vllm else None  # the native engine samples with the trainer's own weights
    loss_fn = losses.policy_loss(config.policy_loss)

    def loss_of(batch: rl.MicroBatch):
        logps = policy.token_logps(batch.packed())  # (N,)
        lengths = torch.tensor([s.num_loss_tokens for s in batch.samples], device=device)  # (S,)
        index = torch.arange(len(batch.samples), device=device).repeat_interleave(lengths)  # (N,) each token's sequence
        weights = losses.token_weights(index, lengths, config.loss_aggregation, **totals)  # (N,)
        advantages = torch.tensor([s.advantage for s in batch.samples], device=device)[index]  # (N,)
        old = batch.old_logps if batch.old_logps is not None else logps.detach()  # the trainer's, before this step
        behaviour = batch.engine_logps(device)  # (N,) the engine's, of the same weights
        output = loss_fn(logps, old, advantages, weights, sequence_index=index, **config.policy_loss_options,
                         ref_logps=batch.ref_logps, kl_coef=config.kl_coef,
                         tis_weights=losses.truncated_importance_weights(old, behaviour, tis_cap) if tis_cap else None)
        return output.loss, (output, logps.detach(), weights, old, behaviour)

    mismatch: dict[str, float] = {}  # token sums over the batch, of the engine against the trainer
    metrics: dict[str, float] = {}
    for iteration in range(config.num_iterations):
        for _, (output, logps, weights, old, behaviour) in distributed.backward_each(batches, loss_of, spare):
            if iteration == 0:
                for key, value in losses.logprob_mismatch(old, behaviour, tis_cap).items():
                    mismatch[key] = mismatch.get(key, 0.0) + value * len(old)
                mismatch["tokens"] = mismatch.get("tokens", 0.0) + len(old)
            if iteration == config.num_iterations - 1:
                for key, value in {"loss": output.loss.item(), "entropy_estimate": -float((logps * weights).sum()),
                                   **output.metrics}.items():
                    metrics[key] = metrics.get(key, 0.0) + value
        if iteration < config.num_iterations - 1:
            yield  # the run steps the optimizer between passes
    mismatch = distributed.sum_all(mismatch)
    tokens = mismatch.pop("tokens", 0.0)
    return {**distributed.sum_all(metrics), **{key: value / max(tokens, 1.0) for key, value in mismatch.items()}}


@torch.no_grad()
def evaluate(policy: rl.Policy, rows: list[rl.PromptRow], reward, config: GRPOConfig) -> dict:
    """Greedy answers to the held-out prompts, scored by the reward; mean reward and answer length."""
    if not rows:
        return {}
    from posttrain.rewards import score_rollouts

    samples = policy.rollouts(rows, SamplingParams(max_new_tokens=config.max_new_tokens, temperature=0.0,
                                                   stop=config.stop))
    scores, _, _ = score_rollouts(reward, [s.row.text for s in samples], [s.completion.text for s in samples],
                                  [s.reward_fields for s in samples])
    return {"eval/reward_mean": sum(scores) / len(scores),
            "eval/completion_tokens": sum(s.num_loss_tokens for s in samples) / len(samples)}



def train_grpo(config: GRPOConfig) -> dict:
    """Run RL end to end; returns the final metrics (also in ``summary.json``)."""
    from posttrain.rewards import combine

    if config.engine == "vllm":
        vllm_engine.require_vllm()  # before any slow loading
    device = loop.start(config)
    if config.dynamic_sampling and distributed.is_distributed():
        raise UserError("dynamic_sampling runs in one process only: ranks would draw different extra batches")
    reward = combine(config.reward)
    tools = load_tools(config.tools) if config.tools else None
    tokenizer = load_tokenizer(config.model)
    train_rows, eval_rows = rl.load_prompts(config, tokenizer, tools)
    policy = rl.Policy(config, tokenizer, tools, device, reference=config.kl_coef > 0)
    total_steps = loop.total_steps_for(len(train_rows), config)
    optimizer, scheduler = loop.build_optimization(policy.model, config, total_steps)
    policy.watch(optimizer)
    run = loop.begin(config, policy.model, tokenizer, optimizer, scheduler, total_steps,
                     {"train_prompts": len(train_rows), "eval_prompts": len(eval_rows)})
    truncate_metrics(run.run_dir, run.position.step, rl.ROLLOUT_LOG)
    if config.eval_before and run.position.step == 0 and eval_rows:
        run.logger.log(0, evaluate(policy, eval_rows, reward, config))

    def sample_more(step: int, first_batch: int, extra: int) -> list[rl.Sample]:
        """Dynamic sampling's ``extra``-th extra generation batch, scored (its reward/* means are not
        logged: the first batch's are); seeds past those of the step's own batches."""
        more = rl.sample_rollouts(policy, rl.extra_prompts(train_rows, config, step, extra), config, step,
                               first_batch=first_batch + extra)
        rl.score(reward, more, step)
        rl.shape_overlong(more, config)
        return more

    def step_fn(prompt_indices: list[int]) -> Generator[loop.StepResult | None, None, None]:
        step = run.position.step + 1
        started = time.perf_counter()
        rows = [train_rows[i] for i in prompt_indices]
        samples = rl.sample_rollouts(policy, rows, config, step)
        sampled = time.perf_counter()
        metrics = {**rl.score(reward, samples, step), **rl.shape_overlong(samples, config)}
        if config.dynamic_sampling:
            samples, dynamic = rl.refill_informative(samples, lambda extra: sample_more(step, len(rows), extra), config)
            metrics.update(dynamic)
            sampled = time.perf_counter()  # rollout_seconds then counts the extra batches and their scoring
        # Advantages need each group (on one rank) and, for reinforce_pp, the whole batch: every rank's
        # (reward, length, truncated, tool calls) per sample, in rank order; this rank's are `mine`.
        everything, mine = distributed.gather_concat([
            (s.reward, s.num_loss_tokens, s.completion.finish_reason == "length",
             s.episode.num_tool_calls if s.episode else 0) for s in samples])
        rewards = torch.tensor([stats[0] for stats in everything]).view(-1, config.num_generations)  # (P, G)
        advantages = losses.compute_advantages(config.advantage, rewards, scale=config.scale_rewards).flatten().tolist()
        for sample, advantage in zip(samples, advantages[mine]):
            sample.advantage = advantage
        informative = rewards.std(dim=1) > 0  # (P,) groups whose rewards differ
        keep = informative.repeat_interleave(config.num_generations).tolist()[mine]
        kept = [s for s, keep_it in zip(samples, keep) if keep_it or not config.drop_zero_variance]
        rl.log_rollouts(run.run_dir, [{"step": step, "prompt": s.row.text, "completion": s.completion.text,
                                    "reward": s.reward, "advantage": s.advantage,
                                    "finish_reason": s.completion.finish_reason,
                                    **({"messages": s.episode.messages} if s.episode else {})} for s in samples])
        metrics = rl.mean_over_ranks(metrics, len(samples))
        trained = distributed.sum_all([len(kept), sum(s.num_loss_tokens for s in kept)])
        update = {"loss": 0.0}
        if trained[0]:
            update = yield from policy_update(policy, kept, config)
        seconds = time.perf_counter() - started
        metrics.update({
            "reward_mean": float(rewards.mean()), "reward_std": float(rewards.std()),
            "informative_groups": float(informative.float().mean()),
            "completion_tokens": sum(stats[1] for stats in everything) / len(everything),
            "truncated_fraction": sum(stats[2] for stats in everything) / len(everything),
            "completions_per_s": metrics.get("dynamic/sampled_completions", len(everything)) / seconds,
            "rollout_seconds": sampled - started,
            **({"tool_calls": sum(stats[3] for stats in everything) / len(everything)} if config.tools else {}),
            **{k: v for k, v in update.items() if k != "loss"},
        })
        yield loop.StepResult(update["loss"], int(trained[1]), metrics)

    eval_fn = loop.with_suites(lambda: evaluate(policy, eval_rows, reward, config), policy.model, tokenizer, config)
    last = loop.run_steps(run, [len(row.prompt_ids) for row in train_rows], step_fn, eval_fn,
                          f"grpo ({config.advantage})")
    final_eval = eval_fn()
    summary = loop.finish_run(run, last, final_eval, final_eval)
    rl.finish_plot(run.run_dir)
    return summary
