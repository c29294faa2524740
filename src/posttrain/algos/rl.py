"""What the RL trainers (:mod:`~posttrain.algos.grpo`, :mod:`~posttrain.algos.ppo`) share.

- :class:`PromptRow` and :func:`load_prompts`: the prompts rollouts start from, rendered once;
- :class:`Sample`: one rollout (a single reply or a tool episode), its reward and advantage, and
  :attr:`Sample.sequence`, exactly the ids that were sampled, which is what the update trains on;
- :class:`Policy`: the model being trained, its rollout engine (native KV cache or vLLM) and its
  reference (LoRA with adapters disabled, or a frozen copy under full fine-tuning);
- :func:`sample_rollouts`: this rank's share of a step's samples, seeded so that a resumed run and
  N ranks sample what one uninterrupted process does; :func:`score`: rewards from reward functions
  (reward specs are parsed by :mod:`posttrain.rewards.registry`);
- DAPO's batch shaping: :func:`shape_overlong` (soft length penalty) and :func:`refill_informative`
  (dynamic sampling); :func:`micro_batches` of whole prompt groups for the update;
- logging: :func:`log_rollouts` (``rollouts.jsonl``), :func:`mean_over_ranks`, :func:`plot_rewards`.
"""

from __future__ import annotations

import copy
import json
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import torch

from posttrain.config import GRPOConfig, RolloutConfig
from posttrain.data.batching import pack_groups, packed_length, split_heldout, split_micro_batches
from posttrain.data.formats import load_examples
from posttrain.data.render import Rendered, render_prompt
from posttrain.errors import DataError, UserError
from posttrain.models.loading import load_model
from posttrain.models.logprobs import packed_token_logps
from posttrain.losses.policy import overlong_penalties
from posttrain.models.lora import prepare_model
from posttrain.rollout import vllm_engine
from posttrain.rollout.engine import LocalEngine
from posttrain.rollout.episode import Episode, run_episodes
from posttrain.rollout.generate import Completion, SamplingParams
from posttrain.rollout.tools import ToolRegistry, with_tool_prompt
from posttrain.training import distributed, loop, precision
from posttrain.training.device import to_device

ROLLOUT_LOG = "rollouts.jsonl"  # one record per sample per step, written by rank 0


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

    @classmethod
    def spare(cls, pad_id: int) -> Sample:
        """A one-token sample with advantage 0, for FSDP's filler passes (``distributed.backward_each``)."""
        return cls(PromptRow([], [pad_id]), Completion(0, 0, [pad_id], [0.0], "", "length"))

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


def sequences_of(samples: list[Sample]) -> list[Rendered]:
    return [sample.sequence for sample in samples]


def load_prompts(config: RolloutConfig, tokenizer, tools: ToolRegistry | None = None
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
    (where ``loop.start`` says to train); with ``tools``, its rollouts are multi-turn tool episodes.
    ``reference``: the trainer will ask for the reference's log-probs (a KL term)."""

    def __init__(self, config: RolloutConfig, tokenizer, tools: ToolRegistry | None = None,
                 device: torch.device | str = "cpu", reference: bool = False):
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
        if reference and config.finetune == "full":
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


def sample_rollouts(policy: Policy, rows: list[PromptRow], config: RolloutConfig, step: int,
                    first_batch: int = 0) -> list[Sample]:
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


def score(reward, samples: list[Sample], step: int) -> dict[str, float]:
    """Fill each sample's reward; returns per-component means for logging. A reward that raises
    is printed with its prompt and scores 0 (``score_rollouts`` stops the run if all fail)."""
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


# Rollout batches shaped and refilled as DAPO does (Yu et al. 2025): grpo's overlong_buffer, dynamic_sampling.
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


# Micro-batches of samples for the update.
def prompt_groups(samples: list[Sample]) -> list[list[Sample]]:
    """``samples`` cut into runs of consecutive samples of the same prompt row."""
    groups: list[list[Sample]] = []
    for sample in samples:
        if groups and groups[-1][-1].row is sample.row:
            groups[-1].append(sample)
        else:
            groups.append([sample])
    return groups


@dataclass
class MicroBatch:
    """Whole prompt groups that run in one packed forward (a group's prompt once), and the log-probs
    fixed before the update's first pass. Per-token tensors are flat (N,) in sample order."""

    samples: list[Sample]
    old_logps: torch.Tensor | None = None  # the sampling policy's, when num_iterations > 1
    ref_logps: torch.Tensor | None = None  # the reference's, when kl_coef > 0

    def packed(self) -> list[list[Rendered]]:
        return [sequences_of(group) for group in prompt_groups(self.samples)]

    def engine_logps(self, device) -> torch.Tensor:  # (N,) as the rollout engine reported them
        return torch.tensor([logp for s in self.samples for logp in s.sampled_logps], device=device)


def micro_batches(samples: list[Sample], micro_batch_tokens: int) -> list[MicroBatch]:
    """Samples in micro-batches of whole prompt groups (a group's prompt runs once), each within
    ``micro_batch_tokens`` of packed length."""
    groups = prompt_groups(samples)
    widths = [packed_length(sequences_of(group)) for group in groups]
    packs = split_micro_batches(list(range(len(groups))), widths, micro_batch_tokens)
    return [MicroBatch([sample for g in pack for sample in groups[g]]) for pack in packs]


def mean_over_ranks(means: dict[str, float], count: int) -> dict[str, float]:
    """Batch means from each rank's means over its ``count`` samples; counts (``failures``) are summed.
    Unchanged in one process."""
    if not distributed.is_distributed():
        return means
    weighted = distributed.sum_all({"count": count, **{k: v if k.endswith("failures") else v * count
                                                        for k, v in means.items()}})
    total = weighted.pop("count")
    return {k: v if k.endswith("failures") else v / total for k, v in weighted.items()}


def log_rollouts(run_dir: Path, records: list[dict]) -> list[dict]:
    """Every rank's rollout records, in rank order; rank 0 appends them to ``rollouts.jsonl``."""
    everything = [record for part in distributed.gather_all(records) for record in part]
    if distributed.is_main():
        append_jsonl(run_dir / ROLLOUT_LOG, everything)
    return everything


def append_jsonl(path: Path, records: list[dict]) -> None:
    with open(path, "a") as handle:
        handle.writelines(json.dumps(record) + "\n" for record in records)


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


def finish_plot(run_dir: Path) -> None:
    """Rank 0 plots the reward curve and says where."""
    plot = plot_rewards(run_dir) if distributed.is_main() else None
    if plot:
        print(f"reward curve: {plot}")
