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

import copy
import json
import time
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import torch

from posttrain.algos.sft import split_heldout
from posttrain.config import GRPOConfig
from posttrain.data.batching import pack_groups, packed_length, split_micro_batches
from posttrain.data.formats import load_examples
from posttrain.data.render import Rendered, render_prompt
from posttrain.errors import DataError, UserError
from posttrain.losses.policy import (
    compute_advantages,
    logprob_mismatch,
    overlong_penalties,
    policy_loss,
    token_weights,
    truncated_importance_weights,
)
from posttrain.models.loading import load_model, load_tokenizer
from posttrain.models.logprobs import packed_token_logps
from posttrain.models.lora import count_parameters, prepare_model
from posttrain.rollout import vllm_engine
from posttrain.rollout.engine import LocalEngine
from posttrain.rollout.episode import Episode, run_episodes
from posttrain.rollout.generate import Completion, SamplingParams
from posttrain.rollout.tools import ToolRegistry, load_tools, with_tool_prompt
from posttrain.training import distributed, loop, precision
from posttrain.training.checkpoint import truncate_metrics
from posttrain.training.device import to_device
from posttrain.training.metrics import MetricsLogger


@dataclass
class PromptRow:
    messages: list[dict]
    prompt_ids: list[int]
    fields: dict = field(default_factory=dict)  # e.g. the reference answer, passed to the reward

    @property
    def text(self) -> str:
        """What reward functions get as ``prompt``: the last user message."""
        return next((m["content"] for m in reversed(self.messages) if m["role"] == "user"), "")


@dataclass
class Sample:
    """One rollout: a completion of a prompt, its reward and its advantage.

    For a tool episode (``episode`` set), ``completion`` holds every token after the prompt (the
    model's turns and the template's tool messages) and the final answer as ``text``; the episode's
    loss mask tells which of those tokens the model sampled.
    """

    row: PromptRow
    completion: Completion
    reward: float = 0.0
    advantage: float = 0.0
    episode: Episode | None = None

    @classmethod
    def of_episode(cls, row: PromptRow, episode: Episode) -> Sample:
        after_prompt = slice(episode.prompt_length, None)
        completion = Completion(episode.prompt_index, episode.sample_index, episode.input_ids[after_prompt],
                                episode.logprobs[after_prompt], episode.final_text, episode.finish_reason)
        return cls(row, completion, episode=episode)

    @property
    def sequence(self) -> Rendered:
        """What is trained on: exactly the ids the policy saw and sampled, never re-tokenized text."""
        if self.episode is not None:
            return Rendered(self.episode.input_ids, self.episode.loss_mask)
        prompt, sampled = self.row.prompt_ids, self.completion.token_ids
        return Rendered(prompt + sampled, [0] * len(prompt) + [1] * len(sampled))

    @property
    def num_loss_tokens(self) -> int:
        """Tokens the policy sampled: the ones the loss covers."""
        return sum(self.episode.loss_mask) if self.episode is not None else len(self.completion.token_ids)

    @property
    def sampled_logps(self) -> list[float]:
        """The sampling policy's log-prob of each loss token, as recorded while sampling."""
        if self.episode is None:
            return self.completion.logprobs
        return [logp for logp, kept in zip(self.episode.logprobs, self.episode.loss_mask) if kept]

    @property
    def reward_fields(self) -> dict:
        """Keyword arguments of the reward: the row's fields, plus the whole episode as ``messages``."""
        return self.row.fields if self.episode is None else {**self.row.fields, "messages": self.episode.messages}


def load_prompts(config: GRPOConfig, tokenizer, tools: ToolRegistry | None = None
                 ) -> tuple[list[PromptRow], list[PromptRow]]:
    """Training and held-out prompt rows; with ``tools``, rendered as tool episodes start (tool
    schemas passed to the template, or listed in the system message if it ignores them)."""
    if not config.data:
        raise UserError("no training prompts: set `data` in the config or pass --data FILE")
    longest_prompt = config.max_length - config.max_new_tokens
    schemas = tools.schemas() if tools else None
    skipped = []

    def rows_of(path: str, **kwargs) -> list[tuple[int, PromptRow]]:
        loaded = load_examples(path, "prompts", skip_bad_rows=config.skip_bad_rows, **kwargs)
        skipped.extend(loaded.skipped)
        rows = []
        for line, example in loaded.numbered():
            messages = with_tool_prompt(example.prompt_messages, tools, tokenizer) if tools else example.prompt_messages
            ids = render_prompt(messages, tokenizer, schemas)
            if len(ids) > longest_prompt:
                raise DataError(f"prompt is {len(ids)} tokens; max_length - max_new_tokens allows {longest_prompt}",
                                path=path, line=line, field="prompt")
            rows.append((line, PromptRow(messages, ids, example.fields)))
        return rows

    train = rows_of(config.data, limit=config.limit)
    if config.eval_data:
        held = rows_of(config.eval_data)
    else:
        train, held = split_heldout(train, config)
    loop.write_skipped_rows(config, skipped)
    return [row for _, row in train], [row for _, row in held][: config.eval_prompts]


class Policy:
    """The model being trained plus what rollouts and the reference need from it, on ``device``
    (where ``loop.start`` says to train); with ``tools``, its rollouts are multi-turn tool episodes."""

    def __init__(self, config: GRPOConfig, tokenizer, tools: ToolRegistry | None = None,
                 device: torch.device | str = "cpu"):
        self.config, self.tokenizer, self.tools = config, tokenizer, tools
        self.device = torch.device(device)
        # On its device before the reference copy and the wrapping (FSDP shards what it finds there).
        self.dtype = precision.resolve_dtype(config.dtype, self.device)
        weights = precision.weights_dtype(self.dtype, config.finetune)
        self.model = prepare_model(load_model(config.model, weights), config)
        self.model = precision.prepare_for_training(self.model, self.device, self.dtype)
        self.model.train()
        # Merging LoRA into the base for sampling, then unmerging, is exact enough in float32 only:
        # in bf16 every round trip would round the base weights a little further.
        self.merge_for_sampling = hasattr(self.model, "merge_adapter") and weights == torch.float32
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        # Full fine-tuning needs a frozen copy for the KL term; LoRA disables its adapters instead.
        self.frozen_reference = None
        if config.kl_coef > 0 and config.finetune == "full":
            # No master weights needed for a frozen copy: stored in the compute dtype.
            self.frozen_reference = copy.deepcopy(self.model).to(self.dtype).eval().requires_grad_(False)
        self.model = distributed.wrap_model(self.model, config.distributed_strategy)
        # engine: vllm samples from its own copy of the weights, pushed after each optimizer step (watch)
        self.vllm = config.engine == "vllm"
        self.engine = vllm_engine.engine_for_training(config.model, tokenizer, dtype=self.dtype) if self.vllm \
            else LocalEngine(self.model, tokenizer, batch_size=config.rollout_batch_size)

    def watch(self, optimizer) -> None:
        """vllm engine: after every step of ``optimizer``, push the weights before the next rollout."""
        if self.vllm:
            self.engine.watch(optimizer)

    @contextmanager
    def _sampling(self):
        # LoRA adapters are merged into the base weights while sampling: the adapter matmuls would
        # add about 30% to every decode step. Unmerging restores the weights up to float rounding.
        merged = self.merge_for_sampling
        with distributed.gathered(self.model):  # FSDP: whole weights while this rank decodes alone
            if self.vllm:  # vLLM decodes its own copy: push the weights if an optimizer step changed them
                self.engine.sync_if_stale(self.model)
                merged = False
            if merged:
                self.model.merge_adapter()
            try:
                yield
            finally:
                if merged:
                    self.model.unmerge_adapter()

    def sample(self, rows: list[PromptRow], params: SamplingParams) -> list[Completion]:
        with self._sampling():
            return self.engine.generate([row.prompt_ids for row in rows], params)

    def rollouts(self, rows: list[PromptRow], params: SamplingParams) -> list[Sample]:
        """``params.n`` samples of each row, ordered by (row, sample): single replies, or tool episodes."""
        if self.tools is None:
            return [Sample(rows[c.prompt_index], c) for c in self.sample(rows, params)]
        with self._sampling():
            episodes = run_episodes(self.engine, self.tokenizer, [row.messages for row in rows], params, self.tools,
                                    max_turns=self.config.max_turns, max_length=self.config.max_length)
        return [Sample.of_episode(rows[e.prompt_index], e) for e in episodes]

    def token_logps(self, groups: list[list[Rendered]], reference: bool = False) -> torch.Tensor:
        """Log-probs of every completion token of each group's sequences (a prompt's samples, which
        share the prompt: it runs once), flat in sequence order. (N,)"""
        model = self.frozen_reference if reference and self.frozen_reference is not None else self.model
        disable = model.disable_adapter() if reference and hasattr(model, "disable_adapter") else nullcontext()
        batch = to_device(pack_groups(groups, self.pad_id), self.device)
        with disable:
            return packed_token_logps(model, batch, self.config.logits_chunk)


def sample_rollouts(policy: Policy, rows: list[PromptRow], config, step: int, first_batch: int = 0) -> list[Sample]:
    """``num_generations`` samples of this rank's share of ``rows`` (the global batch's prompts),
    ordered by (row, sample).

    The rows are cut into generation batches of whole prompts (``rollout_batch_size`` sequences),
    each seeded by the run's seed, the step and its index (counted from ``first_batch``, which
    dynamic sampling's extra batches advance): a resumed run samples exactly what the
    uninterrupted one did, and ranks sampling their share of the batches sample what one process
    does. A prompt's group never spans two ranks.
    """
    per_batch = max(1, config.rollout_batch_size // config.num_generations)
    batches = [rows[start : start + per_batch] for start in range(0, len(rows), per_batch)]
    samples = []
    with distributed.gathered(policy.model):
        for index in distributed.shard(range(len(batches))):
            params = SamplingParams(max_new_tokens=config.max_new_tokens, temperature=config.temperature,
                                    top_p=config.top_p, top_k=config.top_k, n=config.num_generations, stop=config.stop,
                                    seed=config.seed * 1_000_003 + step + 1_000_000_007 * (first_batch + index))
            samples += policy.rollouts(batches[index], params)
    return samples


def score(reward, samples: list[Sample], logger: MetricsLogger, step: int) -> dict[str, float]:
    """Fill each sample's reward; returns per-component means for logging."""
    from posttrain.rewards import score_rollouts

    scores, components, failures = score_rollouts(
        reward, [s.row.text for s in samples], [s.completion.text for s in samples], [s.reward_fields for s in samples])
    for sample, value in zip(samples, scores):
        sample.reward = float(value)
    for failure in failures:
        print(f"reward failed at step {step}: {failure['error']} (prompt: {failure['prompt'][:120]!r})")
    metrics = {f"reward/{name}": sum(values) / len(values) for name, values in components.items() if values}
    if failures:
        metrics["reward/failures"] = len(failures)
    return metrics


def shape_overlong(samples: list[Sample], config: GRPOConfig) -> dict[str, float]:
    """Add DAPO's overlong penalty (``overlong_buffer``, ``overlong_penalty``) to each sample's reward;
    returns its mean for logging (nothing when off)."""
    if not config.overlong_buffer or not samples:
        return {}
    lengths = torch.tensor([s.num_loss_tokens for s in samples])  # (S,)
    penalties = overlong_penalties(lengths, config.max_new_tokens, config.overlong_buffer, config.overlong_penalty)
    for sample, penalty in zip(samples, penalties.tolist()):
        sample.reward += penalty
    return {"reward/overlong_penalty": float(penalties.mean())}


def informative_groups(samples: list[Sample], group_size: int) -> list[list[Sample]]:
    """The groups (consecutive runs of ``group_size`` samples of one prompt) whose rewards are not all equal."""
    groups = [samples[start : start + group_size] for start in range(0, len(samples), group_size)]
    return [group for group in groups if len({s.reward for s in group}) > 1]


def extra_prompts(train_rows: list[PromptRow], config: GRPOConfig, step: int, extra: int) -> list[PromptRow]:
    """Dynamic sampling's ``extra``-th extra generation batch of this step: prompts drawn at random from
    the training set, seeded by (seed, step, extra) so a resumed run draws the same ones."""
    count = min(len(train_rows), max(1, config.rollout_batch_size // config.num_generations))
    generator = torch.Generator().manual_seed(config.seed * 1_000_003 + step * 1_009 + extra)
    return [train_rows[i] for i in torch.randperm(len(train_rows), generator=generator)[:count].tolist()]


def refill_informative(samples: list[Sample], sample_more, config: GRPOConfig) -> tuple[list[Sample], dict[str, float]]:
    """DAPO's dynamic sampling (Yu et al. 2025, section 3.2): keep the groups whose rewards differ and
    call ``sample_more(extra)`` (sampled and scored samples of the ``extra``-th extra generation batch)
    until ``batch_size`` such groups are found or ``max_extra_batches`` were drawn; returns the first
    ``batch_size`` informative groups' samples and what it took. Short of groups at the cap, the step
    trains on those it has (DAPO's verl code stops the run there instead)."""
    group_size = config.num_generations
    kept, sampled, extra = informative_groups(samples, group_size), samples, 0
    while len(kept) < config.batch_size and extra < config.max_extra_batches:
        more = sample_more(extra)
        kept, sampled, extra = kept + informative_groups(more, group_size), sampled + more, extra + 1
    kept = kept[: config.batch_size]
    metrics = {"dynamic/extra_batches": float(extra),
               "dynamic/kept_groups": len(kept) / (len(sampled) // group_size),
               "dynamic/sampled_completions": float(len(sampled)),
               "dynamic/sampled_reward_mean": sum(s.reward for s in sampled) / len(sampled)}
    # Not one informative group: the first batch goes on, so the step logs as usual (and trains on nothing
    # under drop_zero_variance: its advantages are all 0).
    return ([s for group in kept for s in group] if kept else samples), metrics


def mean_over_ranks(means: dict[str, float], count: int) -> dict[str, float]:
    """Batch means from each rank's means over its ``count`` samples; counts (``failures``) are summed."""
    weighted = distributed.sum_all({"count": count, **{k: v if k.endswith("failures") else v * count
                                                        for k, v in means.items()}})
    total = weighted.pop("count")
    return {k: v if k.endswith("failures") else v / total for k, v in weighted.items()}


def sequences_of(samples: list[Sample]) -> list[Rendered]:
    return [sample.sequence for sample in samples]


def prompt_runs(samples: list[Sample], indices) -> list[list[int]]:
    """``indices`` cut into runs of consecutive samples of the same prompt row."""
    runs: list[list[int]] = []
    for i in indices:
        if runs and samples[runs[-1][-1]].row is samples[i].row:
            runs[-1].append(i)
        else:
            runs.append([i])
    return runs


def policy_update(policy: Policy, samples: list[Sample], optimizer, config: GRPOConfig,
                  filler: Sample | None = None) -> dict[str, float]:
    """``num_iterations`` passes of the policy loss (``policy_loss``) over this rank's kept samples; the caller
    takes the last optimizer step. Metrics are summed over ranks. ``filler`` keeps FSDP ranks in step."""
    everyone = samples + ([filler] if filler else [])
    sequences = sequences_of(everyone)
    device = policy.device  # per-token tensors meet the policy's log-probs there
    lengths = torch.tensor([s.num_loss_tokens for s in everyone])  # (S,) on the CPU: read as Python ints
    # The aggregation divides by counts of the whole global batch, summed over ranks.
    total_sequences, total_tokens = distributed.sum_all([len(samples), int(lengths[: len(samples)].sum())])
    totals = {"total_sequences": int(total_sequences), "total_tokens": int(total_tokens),
              "max_new_tokens": config.max_new_tokens}
    # Micro-batches of whole prompt groups: a prompt's samples share one packed row, prompt run once.
    units = prompt_runs(samples, range(len(samples)))
    widths = [packed_length([sequences[i] for i in unit]) for unit in units]
    packs = split_micro_batches(list(range(len(units))), widths, config.micro_batch_tokens)
    groups = distributed.balanced([[i for u in pack for i in units[u]] for pack in packs], [len(samples)])

    def packed(group: list[int]) -> list[list[Rendered]]:
        return [[sequences[i] for i in run] for run in prompt_runs(everyone, group)]

    def flat(group: list[int], values) -> torch.Tensor:  # one value per sequence -> one per token
        return torch.cat([torch.full((int(lengths[i]),), float(values[i]), device=device) for i in group])

    def sampling_logps(group: list[int]) -> torch.Tensor:  # (N,)
        # Tool episodes carry the log-probs recorded while sampling; single-turn rollouts recompute them.
        # The vLLM engine's are another implementation's: the trainer recomputes them (TIS covers the gap).
        if policy.tools is not None and not policy.vllm:
            return engine_logps(group)
        return policy.token_logps(packed(group))

    def engine_logps(group: list[int]) -> torch.Tensor:  # (N,) as the rollout engine reported them
        return torch.tensor([logp for i in group for logp in everyone[i].sampled_logps], device=device)

    def real_tokens(group: list[int]) -> torch.Tensor:  # (N,) False on the filler's token
        return torch.cat([torch.full((int(lengths[i]),), i < len(samples), device=device) for i in group])

    tis_cap = config.tis_cap if policy.vllm else None  # the native engine samples with the trainer's own weights
    loss_fn = policy_loss(config.policy_loss)
    mismatch: dict[str, float] = {}  # token sums over the batch, of the engine against the trainer
    old_logps = ref_logps = None
    with torch.no_grad():
        if config.num_iterations > 1:  # later passes need the sampling policy's log-probs, fixed now
            old_logps = {tuple(g): sampling_logps(g) for g, _ in groups}
        if config.kl_coef > 0:
            ref_logps = {tuple(g): policy.token_logps(packed(g), reference=True) for g, _ in groups}
    advantages = [s.advantage for s in samples] + [0.0]
    metrics: dict[str, float] = {}
    for iteration in range(config.num_iterations):
        for group, pass_weight in groups:
            logps = policy.token_logps(packed(group))  # (N,)
            index = torch.cat([torch.full((int(lengths[i]),), position, device=device)
                               for position, i in enumerate(group)])  # (N,) each token's place in the group
            weights = token_weights(index, lengths[group].to(device), config.loss_aggregation, **totals)
            old = old_logps[tuple(group)] if old_logps else logps.detach()  # (N,) the trainer's, before this step
            behaviour = engine_logps(group)  # (N,) the engine's, of the same weights
            if iteration == 0 and pass_weight:
                real = real_tokens(group)
                count = int(real.sum())
                for key, value in logprob_mismatch(old[real], behaviour[real], tis_cap).items():
                    mismatch[key] = mismatch.get(key, 0.0) + value * count
                mismatch["tokens"] = mismatch.get("tokens", 0.0) + count
            output = loss_fn(
                logps, old, flat(group, advantages), weights, sequence_index=index, **config.policy_loss_options,
                ref_logps=ref_logps[tuple(group)] if ref_logps else None, kl_coef=config.kl_coef,
                tis_weights=truncated_importance_weights(old, behaviour, tis_cap) if tis_cap else None)
            (output.loss * pass_weight).backward()
            if iteration == config.num_iterations - 1:
                metrics["loss"] = metrics.get("loss", 0.0) + output.loss.item() * pass_weight
                metrics["entropy_estimate"] = (metrics.get("entropy_estimate", 0.0)
                                               - float((logps.detach() * weights).sum()) * pass_weight)
                for key, value in output.metrics.items():
                    metrics[key] = metrics.get(key, 0.0) + value * pass_weight
        if iteration < config.num_iterations - 1:
            loop.clip_gradients(policy.model, config.max_grad_norm)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
    mismatch = distributed.sum_all(mismatch)
    tokens = mismatch.pop("tokens", 0.0)
    return {**distributed.sum_all(metrics), **{key: value / max(tokens, 1.0) for key, value in mismatch.items()}}


@torch.no_grad()
def evaluate(policy: Policy, rows: list[PromptRow], reward, config: GRPOConfig) -> dict:
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


def plot_rewards(run_dir: Path) -> Path | None:
    """``reward.png``: training reward mean per step and held-out greedy reward, from metrics.jsonl."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]
    train = [(r["step"], r["train/reward_mean"]) for r in records if "train/reward_mean" in r]
    held = [(r["step"], r["eval/reward_mean"]) for r in records if "eval/reward_mean" in r]
    if not train and not held:
        return None
    figure, axes = plt.subplots(figsize=(7, 4))
    if train:
        axes.plot(*zip(*train), label="rollout reward (mean)", alpha=0.7)
    if held:
        axes.plot(*zip(*held), "o-", label="held-out greedy reward")
    axes.set_xlabel("optimizer step")
    axes.set_ylabel("reward")
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    path = run_dir / "reward.png"
    tmp = path.with_suffix(".tmp.png")
    figure.savefig(tmp, dpi=110)
    plt.close(figure)
    tmp.replace(path)
    return path


def train_grpo(config: GRPOConfig) -> dict:
    """Run RL end to end; returns the final metrics (also in ``summary.json``)."""
    from posttrain.rewards import combine

    run_dir = Path(config.output_dir)
    if config.engine == "vllm":
        vllm_engine.require_vllm()  # before any slow loading
    device = loop.start(config)
    if config.dynamic_sampling and distributed.is_distributed():
        raise UserError("dynamic_sampling runs in one process only: ranks would draw different extra batches")
    reward = combine(config.reward)
    tools = load_tools(config.tools) if config.tools else None
    tokenizer = load_tokenizer(config.model)
    train_rows, eval_rows = load_prompts(config, tokenizer, tools)
    policy = Policy(config, tokenizer, tools, device)
    trainable, total_params = count_parameters(policy.model)
    total_steps = loop.total_steps_for(len(train_rows), config)
    optimizer, scheduler = loop.build_optimization(policy.model, config, total_steps)
    policy.watch(optimizer)
    position = loop.resume(run_dir, config, policy.model, optimizer, scheduler)
    truncate_metrics(run_dir, position.step, "rollouts.jsonl")
    data_note = {"train_prompts": len(train_rows), "eval_prompts": len(eval_rows), "trainable_params": trainable,
                 "total_params": total_params, "total_steps": total_steps}
    logger = loop.open_run(run_dir, config, position, data_note)
    if config.eval_before and position.step == 0 and eval_rows:
        logger.log(0, evaluate(policy, eval_rows, reward, config))
    rollout_log = open(run_dir / "rollouts.jsonl", "a") if distributed.is_main() else None

    def step_fn(prompt_indices: list[int]) -> loop.StepResult:
        step = position.step + 1
        started = time.perf_counter()
        rows = [train_rows[i] for i in prompt_indices]
        samples = sample_rollouts(policy, rows, config, step)
        sampled = time.perf_counter()
        metrics = {**score(reward, samples, logger, step), **shape_overlong(samples, config)}
        if config.dynamic_sampling:
            def sample_more(extra: int) -> list[Sample]:  # seeds past those of the step's own batches
                more = sample_rollouts(policy, extra_prompts(train_rows, config, step, extra), config, step,
                                       first_batch=len(rows) + extra)
                score(reward, more, logger, step)  # its reward/* means are not logged: the first batch's are
                shape_overlong(more, config)
                return more

            samples, dynamic = refill_informative(samples, sample_more, config)
            metrics.update(dynamic)
            sampled = time.perf_counter()  # rollout_seconds then counts the extra batches and their scoring
        # Advantages need each group (on one rank) and, for reinforce_pp, the whole batch: gather every
        # rank's (reward, length, truncated) per sample, in rank order; this rank's samples start at `offset`.
        per_rank = distributed.gather_all([(s.reward, s.num_loss_tokens, s.completion.finish_reason == "length",
                                            s.episode.num_tool_calls if s.episode else 0) for s in samples])
        offset = sum(len(part) for part in per_rank[: distributed.rank()])
        everything = [stats for part in per_rank for stats in part]
        rewards = torch.tensor([stats[0] for stats in everything]).view(-1, config.num_generations)  # (P, G)
        advantages = compute_advantages(config.advantage, rewards, scale=config.scale_rewards).flatten().tolist()
        for sample, advantage in zip(samples, advantages[offset : offset + len(samples)]):
            sample.advantage = advantage
        informative = rewards.std(dim=1) > 0  # (P,)
        keep = informative.repeat_interleave(config.num_generations)[offset : offset + len(samples)]
        kept = [s for s, keep_it in zip(samples, keep) if keep_it or not config.drop_zero_variance]
        records = [{"step": step, "prompt": sample.row.text, "completion": sample.completion.text,
                    "reward": sample.reward, "advantage": sample.advantage,
                    "finish_reason": sample.completion.finish_reason,
                    **({"messages": sample.episode.messages} if sample.episode else {})} for sample in samples]
        if distributed.is_distributed():
            records = [record for part in distributed.gather_all(records) for record in part]
            metrics = mean_over_ranks(metrics, len(samples))
        if distributed.is_main():
            rollout_log.writelines(json.dumps(record) + "\n" for record in records)
            rollout_log.flush()
        filler = Sample(rows[0], Completion(0, 0, [policy.pad_id], [0.0], "", "length")) \
            if distributed.is_distributed() else None
        trained = distributed.sum_all([len(kept), sum(s.num_loss_tokens for s in kept)])
        update = policy_update(policy, kept, optimizer, config, filler) if trained[0] else {"loss": 0.0}
        seconds = time.perf_counter() - started
        metrics.update({
            "reward_mean": float(rewards.mean()), "reward_std": float(rewards.std()),
            "informative_groups": float(informative.float().mean()),
            "completion_tokens": sum(stats[1] for stats in everything) / len(everything),
            "truncated_fraction": sum(stats[2] for stats in everything) / len(everything),
            "completions_per_s": metrics.get("dynamic/sampled_completions", len(everything)) / seconds, "rollout_seconds": sampled - started,
            **({"tool_calls": sum(stats[3] for stats in everything) / len(everything)} if config.tools else {}),
            **{k: v for k, v in update.items() if k != "loss"},
        })
        return loop.StepResult(update["loss"], int(trained[1]), metrics)

    eval_fn = loop.with_suites(lambda: evaluate(policy, eval_rows, reward, config), policy.model, tokenizer, config)
    try:
        last = loop.run_steps(config, run_dir, policy.model, optimizer, scheduler, position, total_steps,
                              [len(row.prompt_ids) for row in train_rows], step_fn, eval_fn, logger,
                              f"grpo ({config.advantage})")
    finally:
        if rollout_log:
            rollout_log.close()
    final_eval = eval_fn()
    summary = loop.finish_run(run_dir, position, policy.model, optimizer, scheduler, config, tokenizer, logger, last,
                              final_eval, final_eval, data_note)
    plot = plot_rewards(run_dir) if distributed.is_main() else None
    if plot:
        print(f"reward curve: {plot}")
    return summary
