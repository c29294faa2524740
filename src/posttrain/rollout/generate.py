"""Batched chat generation with a KV cache, returning each sampled token's log-prob.

Our own sampling loop rather than ``model.generate``: the RL rollout engine needs the
log-prob of every sampled token, and a loop we can read makes padding and positions checkable.

How a batch is generated:

1. Prompts are left-padded to one length, so every row's last prompt token sits in the last
   column. ``position_ids = cumsum(attention_mask) - 1`` (clamped at 0 on pads) gives each row
   the positions it would have had alone.
2. One prefill forward fills a ``DynamicCache`` and returns logits for the last column only.
3. Each decode step feeds one token per row, extends the attention mask by one column and
   advances each row's position by one. A finished row keeps receiving a masked pad token
   until every row is done.

Example::

    from posttrain.rollout.generate import SamplingParams, generate_chat
    completions = generate_chat(model, tokenizer, [[{"role": "user", "content": "Hi"}]],
                                SamplingParams(max_new_tokens=64, temperature=0.7, n=4, seed=0))
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from posttrain.data.render import end_of_turn_ids, render_prompt
from posttrain.errors import UserError

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
    stop: list[str] = field(default_factory=list)  # stop strings, cut from the returned text
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
    string, ``token_ids`` ends with the token that completed it and ``text`` is cut just before it.
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
    probs = scaled.softmax(dim=-1)  # (B, V)
    return torch.multinomial(probs, num_samples=1, generator=generator).squeeze(-1)


def left_pad(prompts: list[list[int]], pad_token_id: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Left-pad ``prompts`` into ``input_ids`` and ``attention_mask``, both (B, T)."""
    width = max(len(p) for p in prompts)
    input_ids = torch.full((len(prompts), width), pad_token_id, dtype=torch.long)
    attention_mask = torch.zeros((len(prompts), width), dtype=torch.long)
    for row, prompt in enumerate(prompts):
        input_ids[row, width - len(prompt) :] = torch.tensor(prompt, dtype=torch.long)
        attention_mask[row, width - len(prompt) :] = 1
    return input_ids.to(device), attention_mask.to(device)


def _new_cache(model):
    from transformers import DynamicCache

    # Passing the config lets the cache honour per-layer sliding windows (transformers 5).
    try:
        return DynamicCache(config=model.config)
    except TypeError:
        return DynamicCache()


def _accepts_logits_to_keep(model) -> bool:
    return "logits_to_keep" in inspect.signature(model.forward).parameters


class _RowState:
    """What one batch row has generated so far."""

    def __init__(self) -> None:
        self.token_ids: list[int] = []
        self.logprobs: list[float] = []
        self.finish_reason: str | None = None


def _hit_stop_string(token_ids: list[int], stop: list[str], decode: Decode) -> bool:
    # A stop string completed by the newest token lies within its last len(stop) tokens when every
    # token decodes to at least one character; a few extra tokens cover byte-level pieces.
    window = max(len(s) for s in stop) + 4
    tail = decode(token_ids[-window:])
    return any(s in tail for s in stop)


def _update_rows(
    rows: list[_RowState],
    next_tokens: list[int],
    next_logprobs: list[float],
    step: int,
    params: SamplingParams,
    eos_token_ids: set[int],
    decode: Decode | None,
) -> None:
    """Append this step's token to each running row and mark the rows that just finished."""
    for row, token, logprob in zip(rows, next_tokens, next_logprobs):
        if row.finish_reason is not None:
            continue
        row.token_ids.append(token)
        row.logprobs.append(logprob)
        if token in eos_token_ids or params.stop and _hit_stop_string(row.token_ids, params.stop, decode):
            row.finish_reason = "stop"
        elif step + 1 == params.max_new_tokens:
            row.finish_reason = "length"


def _generate_batch(
    model,
    prompts: list[list[int]],
    params: SamplingParams,
    eos_token_ids: set[int],
    pad_token_id: int,
    decode: Decode | None,
    generator: torch.Generator,
) -> list[_RowState]:
    """Generate one continuation per prompt in ``prompts`` (one batch) with a KV cache."""
    device = next(model.parameters()).device
    input_ids, attention_mask = left_pad(prompts, pad_token_id, device)  # (B, T), (B, T)
    position_ids = (attention_mask.cumsum(dim=-1) - 1).clamp(min=0)  # (B, T)
    next_positions = attention_mask.sum(dim=-1)  # (B,) position of each row's first new token
    cache = _new_cache(model)
    # Left padding puts every row's last prompt token in the last column: only it needs logits.
    keep = {"logits_to_keep": 1} if _accepts_logits_to_keep(model) else {}
    out = model(
        input_ids=input_ids,
        attention_mask=attention_mask,
        position_ids=position_ids,
        past_key_values=cache,
        use_cache=True,
        **keep,
    )
    rows = [_RowState() for _ in prompts]
    for step in range(params.max_new_tokens):
        logits = out.logits[:, -1, :].float()  # (B, V)
        next_tokens = sample_next(logits, params, generator)  # (B,)
        next_logprobs = logits.log_softmax(dim=-1).gather(-1, next_tokens[:, None]).squeeze(-1)  # (B,)
        _update_rows(rows, next_tokens.tolist(), next_logprobs.tolist(), step, params, eos_token_ids, decode)
        running = torch.tensor([row.finish_reason is None for row in rows], device=device)  # (B,)
        if not running.any():
            break
        # Finished rows get a pad token that is masked out, so they no longer affect anything.
        next_tokens = torch.where(running, next_tokens, torch.full_like(next_tokens, pad_token_id))
        attention_mask = torch.cat([attention_mask, running.long()[:, None]], dim=-1)  # (B, T + step + 1)
        out = model(
            input_ids=next_tokens[:, None],  # (B, 1)
            attention_mask=attention_mask,
            position_ids=next_positions[:, None],  # (B, 1)
            past_key_values=cache,
            use_cache=True,
        )
        next_positions = next_positions + 1
    return rows


def _completion_text(row: _RowState, params: SamplingParams, eos_token_ids: set[int], decode: Decode | None) -> str:
    if decode is None:
        return ""
    ids = row.token_ids
    if ids and ids[-1] in eos_token_ids:
        ids = ids[:-1]  # the eos token is kept in token_ids but never shown
    text = decode(ids)
    cuts = [text.find(s) for s in params.stop if s in text]
    return text[: min(cuts)] if cuts else text


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
    # Each prompt appears n times; sorting by length keeps similar lengths in the same batch.
    jobs = [(p, s) for p in range(len(prompt_ids)) for s in range(params.n)]
    jobs.sort(key=lambda job: len(prompt_ids[job[0]]))
    completions = []
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            for start in range(0, len(jobs), batch_size):
                batch = jobs[start : start + batch_size]
                prompts = [prompt_ids[p] for p, _ in batch]
                rows = _generate_batch(model, prompts, params, eos_token_ids, pad_token_id, decode, generator)
                for (p, s), row in zip(batch, rows):
                    text = _completion_text(row, params, eos_token_ids, decode)
                    completions.append(Completion(p, s, row.token_ids, row.logprobs, text, row.finish_reason))
    finally:
        model.train(was_training)
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
