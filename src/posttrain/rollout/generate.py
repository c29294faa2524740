"""Batched chat generation with a KV cache, returning each sampled token's log-prob.

Our own sampling loop rather than ``model.generate``: the RL rollout engine needs the
log-prob of every sampled token, and a loop we can read makes padding and positions checkable.

How generation runs (continuous batching):

1. Jobs are ``(prompt, sample)`` pairs, shortest prompts first. Up to ``batch_size`` rows decode
   together; a prompt's ``n`` samples share one prefill, whose cache is copied to each sample.
2. Prompts are left-padded to one length, so every row's last prompt token sits in the last
   column. ``position_ids = cumsum(attention_mask) - 1`` (clamped at 0 on pads) gives each row
   the positions it would have had alone. The prefill returns logits for the last column only.
3. Each decode step feeds one token per row, extends the attention mask by one column and
   advances each row's position by one. The KV cache (``kv_cache.ReservedLayer``) writes the new
   column in place rather than copying itself.
4. A finished row leaves the batch at once (``RunningBatch.keep``); once a quarter of the batch is
   free, waiting prompts are prefilled and merged in (``RunningBatch.merge``, left-padding the
   narrower cache), so the batch stays full until the jobs run out.

Example::

    from posttrain.rollout.generate import SamplingParams, generate_chat
    completions = generate_chat(model, tokenizer, [[{"role": "user", "content": "Hi"}]],
                                SamplingParams(max_new_tokens=64, temperature=0.7, n=4, seed=0))
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from posttrain.data.render import end_of_turn_ids, render_prompt
from posttrain.errors import UserError
from posttrain.rollout.kv_cache import RunningBatch, cpu_decode_linears, left_pad  # noqa: F401  (left_pad: part of this module's API)

# End-of-turn tokens of common chat templates (ChatML, Llama 3, Phi-3, Gemma); any present in
# the vocabulary also end a generation, since chat models emit them rather than the eos token.

Decode = Callable[[list[int]], str]


@dataclass
class SamplingParams:
    """How to sample: ``temperature == 0`` is greedy; ``top_k == 0`` and ``top_p == 1`` are off.

    The same ``seed`` with the same prompts and ``batch_size`` gives the same samples.
    """

    max_new_tokens: int = 256
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    n: int = 1  # samples per prompt
    stop: list[str] = field(default_factory=list)  # stop strings, cut from the returned text ...
    include_stop: bool = False  # ... unless this keeps the one that ended it
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1:
            raise UserError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")
        if self.temperature < 0:
            raise UserError(f"temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise UserError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.top_k < 0:
            raise UserError(f"top_k must be >= 0 (0 turns it off), got {self.top_k}")
        if self.n < 1:
            raise UserError(f"n must be >= 1, got {self.n}")
        if any(not s for s in self.stop):
            raise UserError("stop strings must be non-empty")


@dataclass
class Completion:
    """One sampled continuation of one prompt.

    ``token_ids`` ends with the eos token when one was sampled (``text`` leaves it out). On a stop
    string, ``token_ids`` ends with the token that completed it and ``text`` is cut just before it (just
    after it with ``include_stop``).
    ``logprobs[i]`` is ``log_softmax(raw logits)[token_ids[i]]``: the model's own log-prob, before
    temperature, top-k or top-p.
    """

    prompt_index: int
    sample_index: int
    token_ids: list[int]
    logprobs: list[float]
    text: str
    finish_reason: str  # "stop" (eos or stop string) or "length"


def filter_logits(logits: torch.Tensor, top_k: int, top_p: float) -> torch.Tensor:
    """Set logits outside the top-k / nucleus (top-p) set to -inf. ``logits``: (B, V)."""
    if top_k > 0 and top_k < logits.size(-1):
        kth_best = torch.topk(logits, top_k, dim=-1).values[:, -1:]  # (B, 1)
        logits = logits.masked_fill(logits < kth_best, float("-inf"))
    if top_p < 1.0:
        sorted_logits, sorted_ids = torch.sort(logits, dim=-1, descending=True)  # (B, V)
        sorted_probs = sorted_logits.softmax(dim=-1)
        # Drop a token when the tokens ranked above it already hold top_p of the mass
        # (Holtzman et al. 2020); the best token has nothing above it, so it always stays.
        mass_above = sorted_probs.cumsum(dim=-1) - sorted_probs  # (B, V)
        drop_sorted = mass_above >= top_p
        drop = drop_sorted.scatter(-1, sorted_ids, drop_sorted)  # back to vocabulary order
        logits = logits.masked_fill(drop, float("-inf"))
    return logits


def sample_next(logits: torch.Tensor, params: SamplingParams, generator: torch.Generator) -> torch.Tensor:
    """Pick one token per row from ``logits`` (B, V); returns (B,) ids."""
    if params.temperature == 0:
        return logits.argmax(dim=-1)
    scaled = filter_logits(logits / params.temperature, params.top_k, params.top_p)
    # Inverse-CDF sampling: one uniform draw per row. torch.multinomial draws an exponential per
    # vocabulary entry (49k per row), which cost more than the model's own sampling-time work.
    # A token of probability 0 is never picked: its CDF step is empty.
    cdf = scaled.softmax(dim=-1).cumsum(dim=-1)  # (B, V)
    draw = (1.0 - torch.rand(cdf.shape[0], 1, generator=generator, device=cdf.device)) * cdf[:, -1:]  # (B, 1) in (0, total]
    return torch.searchsorted(cdf, draw).squeeze(-1).clamp_(max=cdf.shape[-1] - 1)


class _RowState:
    """What one batch row has generated so far, and which (prompt, sample) it is."""

    def __init__(self, job: tuple[int, int] = (0, 0)) -> None:
        self.job = job
        self.token_ids: list[int] = []
        self.logprobs: list[float] = []
        self.finish_reason: str | None = None


def hit_stop_string(token_ids: list[int], stop: list[str], decode: Decode) -> bool:
    # A stop string completed by the newest token lies within its last len(stop) tokens when every
    # token decodes to at least one character; a few extra tokens cover byte-level pieces.
    window = max(len(s) for s in stop) + 4
    tail = decode(token_ids[-window:])
    return any(s in tail for s in stop)


def _append_tokens(rows: list[_RowState], tokens: list[int], logprobs: list[float], params: SamplingParams,
                   eos_token_ids: set[int], decode: Decode | None) -> None:
    """Append each row's newly sampled token and mark the rows it finishes."""
    for row, token, logprob in zip(rows, tokens, logprobs):
        row.token_ids.append(token)
        row.logprobs.append(logprob)
        if token in eos_token_ids or params.stop and hit_stop_string(row.token_ids, params.stop, decode):
            row.finish_reason = "stop"
        elif len(row.token_ids) == params.max_new_tokens:
            row.finish_reason = "length"


class _Decoder:
    """Continuous batching for one ``generate_ids`` call: up to ``batch_size`` rows decode together,
    finished rows leave the batch at once, and waiting prompts are prefilled into the free slots."""

    def __init__(self, model, prompt_ids: list[list[int]], params: SamplingParams, eos_token_ids: set[int],
                 pad_token_id: int, decode: Decode | None, generator: torch.Generator, batch_size: int):
        self.model, self.prompt_ids, self.params = model, prompt_ids, params
        self.eos_token_ids, self.pad_token_id, self.decode = eos_token_ids, pad_token_id, decode
        self.generator, self.batch_size = generator, batch_size
        self.device = next(model.parameters()).device
        self.batch = RunningBatch()
        self.done: list[_RowState] = []

    def run(self, jobs: list[tuple[int, int]]) -> list[_RowState]:
        """Generate every ``(prompt, sample)`` job; rows in the order they finished."""
        waiting = list(jobs)  # sorted by the caller: a prompt's samples are neighbours
        # Admitting costs a prefill and a cache copy, so wait until a quarter of the batch is free.
        admit_at = max(1, self.batch_size // 4)
        while waiting or len(self.batch):
            free = self.batch_size - len(self.batch)
            if waiting and free >= min(admit_at, len(waiting)):
                taken, waiting = waiting[:free], waiting[free:]
                self._admit(taken)
            if len(self.batch):
                self._step()
        return self.done

    def _sample(self, rows: list[_RowState], logits: torch.Tensor) -> torch.Tensor:
        """Sample a token for each row from ``logits`` (B, V) and record it; returns the tokens (B,)."""
        tokens = sample_next(logits, self.params, self.generator)  # (B,)
        logprobs = logits.log_softmax(dim=-1).gather(-1, tokens[:, None]).squeeze(-1)  # (B,)
        _append_tokens(rows, tokens.tolist(), logprobs.tolist(), self.params, self.eos_token_ids, self.decode)
        return tokens

    def _admit(self, jobs: list[tuple[int, int]]) -> None:
        """Prefill each distinct prompt of ``jobs`` once (its samples share the cache), sample their
        first tokens and merge them into the running batch."""
        prompts = list(dict.fromkeys(prompt for prompt, _ in jobs))
        row_of = {prompt: row for row, prompt in enumerate(prompts)}
        rows = torch.tensor([row_of[prompt] for prompt, _ in jobs], dtype=torch.long, device=self.device)  # (N,)
        new, logits = RunningBatch.prefilled(self.model, [self.prompt_ids[p] for p in prompts], rows, self.pad_token_id,
                                             self.params.max_new_tokens, [_RowState(job) for job in jobs])
        new.next_tokens = self._sample(new.sequences, logits)
        self.batch.merge(new)
        self._retire()

    def _step(self) -> None:
        """Feed every running row its last sampled token and sample the next."""
        self.batch.next_tokens = self._sample(self.batch.sequences, self.batch.step(self.model))
        self._retire()

    def _retire(self) -> None:
        finished = [row for row in self.batch.sequences if row.finish_reason is not None]
        if finished:
            self.done += finished
            self.batch.keep([i for i, row in enumerate(self.batch.sequences) if row.finish_reason is None])


def _completion_text(row: _RowState, params: SamplingParams, eos_token_ids: set[int], decode: Decode | None) -> str:
    return completion_text(row.token_ids, params, eos_token_ids, decode)


def completion_text(token_ids: list[int], params: SamplingParams, eos_token_ids: set[int], decode: Decode | None) -> str:
    """The text of a completion's ``token_ids``: the final eos left out, cut at the earliest stop string
    (just after it with ``include_stop``). Every engine builds ``Completion.text`` this way."""
    if decode is None:
        return ""
    ids = token_ids
    if ids and ids[-1] in eos_token_ids:
        ids = ids[:-1]  # the eos token is kept in token_ids but never shown
    text = decode(ids)
    cuts = [(text.find(s), -len(s)) for s in params.stop if s in text]
    if not cuts:
        return text
    start, minus_length = min(cuts)  # the earliest stop string; the longest of those starting there
    return text[: start - minus_length] if params.include_stop else text[:start]


def generate_ids(
    model,
    prompt_ids: list[list[int]],
    params: SamplingParams,
    *,
    eos_token_ids: set[int],
    pad_token_id: int,
    decode: Decode | None = None,
    batch_size: int = 16,
) -> list[Completion]:
    """Sample ``params.n`` continuations of each tokenized prompt.

    ``decode`` turns generated ids into text; it is needed for ``text`` and for stop strings.
    Prompts are sorted by length into batches of ``batch_size`` sequences to limit padding.
    Returns completions ordered by ``(prompt_index, sample_index)``.
    """
    if any(len(p) == 0 for p in prompt_ids):
        raise UserError("every prompt needs at least one token")
    if params.stop and decode is None:
        raise UserError("stop strings need a decode function to turn tokens into text")
    if batch_size < 1:
        raise UserError(f"batch_size must be >= 1, got {batch_size}")
    device = next(model.parameters()).device
    generator = torch.Generator(device=device)
    if params.seed is None:
        generator.seed()
    else:
        generator.manual_seed(params.seed)
    # Each prompt appears n times, its samples side by side; sorting by length (stable) admits
    # prompts of similar length together, which pads less.
    jobs = [(p, s) for p in range(len(prompt_ids)) for s in range(params.n)]
    jobs.sort(key=lambda job: len(prompt_ids[job[0]]))
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode(), cpu_decode_linears(model):
            rows = _Decoder(model, prompt_ids, params, eos_token_ids, pad_token_id, decode, generator, batch_size).run(jobs)
    finally:
        model.train(was_training)
    completions = [Completion(*row.job, row.token_ids, row.logprobs, _completion_text(row, params, eos_token_ids, decode),
                              row.finish_reason) for row in rows]
    completions.sort(key=lambda c: (c.prompt_index, c.sample_index))
    return completions


def generate_chat(
    model,
    tokenizer,
    conversations: list[list[dict]],
    params: SamplingParams,
    *,
    batch_size: int = 16,
    tools=None,
) -> list[Completion]:
    """Sample ``params.n`` assistant replies to each conversation (a list of chat messages).

    Each conversation is rendered with the tokenizer's chat template; generation ends at eos or at
    any end-of-turn token in the vocabulary. Text is decoded without special tokens.
    """
    prompt_ids = [render_prompt(messages, tokenizer, tools) for messages in conversations]
    pad_token_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    if pad_token_id is None:
        raise UserError("the tokenizer has neither a pad token nor an eos token")
    return generate_ids(
        model,
        prompt_ids,
        params,
        eos_token_ids=end_of_turn_ids(tokenizer, model),
        pad_token_id=pad_token_id,
        decode=lambda ids: tokenizer.decode(ids, skip_special_tokens=True),
        batch_size=batch_size,
    )
