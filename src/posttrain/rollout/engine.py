"""The interface trainers sample through, and the in-process engine that implements it.

Trainers (and multi-turn ``run_episodes``) only ever call two methods:

- ``generate(prompt_ids, params) -> list[Completion]``: token ids in, sampled token ids with their
  log-probs and finish reasons out, ordered by ``(prompt_index, sample_index)``. Token ids, not
  text, cross the boundary, so whatever backend samples, the trainer scores exactly those tokens.
- ``sync_weights(model)``: called after each optimiser step. ``LocalEngine`` samples from the
  trainer's own module, so there is nothing to copy.

A faster backend plugs in as another class with these two methods, e.g. a vLLM engine on GPUs:
``generate`` passes the ids as token prompts with ``logprobs=0`` (the sampled token's log-prob)
and maps each output to a ``Completion``; ``sync_weights`` loads the trainer's (LoRA-merged) state
dict into the vLLM worker. Trainers take any ``RolloutEngine`` and need no change. Note that
``Completion.logprobs`` must be the model's raw log-probs (before temperature/top-k/top-p), as
``generate_ids`` returns them, since trainers use them as the behaviour policy's log-probs.

Example::

    engine = LocalEngine(model, tokenizer, batch_size=16)
    completions = engine.generate([render_prompt(messages, tokenizer)], SamplingParams(n=4, seed=0))
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from posttrain.data.render import end_of_turn_ids
from posttrain.errors import UserError
from posttrain.rollout.generate import Completion, SamplingParams, generate_ids


@runtime_checkable
class RolloutEngine(Protocol):
    def generate(self, prompt_ids: list[list[int]], params: SamplingParams) -> list[Completion]: ...

    def sync_weights(self, model) -> None: ...


class LocalEngine:
    """Samples in-process with ``generate_ids``: batched, KV-cached, on the model's own device.

    A turn ends at eos or any end-of-turn token of the template (``end_of_turn_ids``); text is
    decoded without special tokens; padding uses the tokenizer's pad token, else its eos.
    """

    def __init__(self, model, tokenizer, batch_size: int = 16):
        pad_token_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        if pad_token_id is None:
            raise UserError("the tokenizer has neither a pad token nor an eos token")
        self.model, self.tokenizer, self.batch_size = model, tokenizer, batch_size
        self.pad_token_id = pad_token_id
        self.eos_token_ids = end_of_turn_ids(tokenizer, model)

    def decode(self, token_ids: list[int]) -> str:
        return self.tokenizer.decode(token_ids, skip_special_tokens=True)

    def generate(self, prompt_ids: list[list[int]], params: SamplingParams) -> list[Completion]:
        return generate_ids(
            self.model,
            prompt_ids,
            params,
            eos_token_ids=self.eos_token_ids,
            pad_token_id=self.pad_token_id,
            decode=self.decode,
            batch_size=self.batch_size,
        )

    def sync_weights(self, model) -> None:
        """Nothing to copy: the engine shares the trainer's module. Re-pointing covers a trainer
        that wrapped its model (e.g. with LoRA) after building the engine."""
        self.model = model
