"""Reward models: a causal LM's backbone with a scalar ``score`` head on the last token.

``RewardModel.load("runs/rm/final").score(conversations)`` renders each conversation with the
tokenizer's chat template (the one render contract, :func:`posttrain.data.render.render`) and
returns one float per conversation; RLHF, best-of-n and evaluation use it.

The reward of a sequence is ``score(h_last)``, the head applied to the final-normed hidden state
of its last real token. Batches are right-padded (under causal attention no real token sees a
pad after it), and a pair's chosen and rejected share one row that runs their prompt once, so
a batch scores like one sequence at a time. A directory saved by ``posttrain rm`` is a plain Hugging Face
``AutoModelForSequenceClassification`` checkpoint. Its own pooling reads the rightmost token
that is *not* ``pad_token_id``; that is our last token unless a sequence ends with the pad token
(a template ending in eos when pad == eos). ChatML ends a turn with ``<|im_end|>\\n``, so for
SmolLM2 (pad == eos == ``<|im_end|>``) both agree.
"""

from __future__ import annotations

import json
import os

import torch

from posttrain.data.batching import pack_groups
from posttrain.data.render import Rendered, render
from posttrain.errors import UserError
from posttrain.models.loading import (
    adapter_base,
    is_adapter_dir,
    load_tokenizer,
    resolve,
)
from posttrain.models.logprobs import packed_hidden
from posttrain.training.device import model_device, to_device


def load_reward_model(spec: str, pad_token_id: int | None = None, dtype: torch.dtype = torch.float32):
    """A one-label sequence classifier from any model spec.

    From a causal-LM checkpoint the backbone is loaded and the ``score`` head is new (initialised
    from the torch seed); a reward model directory, or an adapter saved by ``posttrain rm`` with
    ``save_format: adapter``, loads as trained.
    """
    from transformers import AutoModelForSequenceClassification

    source = resolve(spec)
    try:
        if is_adapter_dir(source):
            from peft import PeftModel

            if _adapter_task(source) != "SEQ_CLS":
                raise UserError(f"{spec} is a language-model adapter: merge it first (save_format: merged) "
                                "and start the reward model from the merged directory")
            base = AutoModelForSequenceClassification.from_pretrained(adapter_base(source), num_labels=1, dtype=dtype)
            model = PeftModel.from_pretrained(base, source).merge_and_unload()
        else:
            model = AutoModelForSequenceClassification.from_pretrained(source, num_labels=1, dtype=dtype)
    except (OSError, ValueError) as error:
        raise UserError(f"could not load '{spec}' as a reward model: {str(error).splitlines()[0]}") from None
    if pad_token_id is not None:
        model.config.pad_token_id = pad_token_id  # HF's own pooling finds the last token by it
    return model


def _adapter_task(path: str) -> str | None:
    with open(os.path.join(path, "adapter_config.json")) as handle:
        return json.load(handle).get("task_type")


def backbone_and_score(model):
    """The transformer body (final-normed hidden states) and the scalar head, through a peft wrapper."""
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    return inner.model, inner.score


def sequence_rewards(model, groups: list[list[Rendered]], pad_token_id: int) -> torch.Tensor:
    """Reward of each sequence of each group, groups flattened, from one forward pass. (S,)

    A group's sequences share their prefix (a pair's prompt), packed into one row that runs it
    once (:func:`~posttrain.data.batching.pack_groups`); one-sequence groups make a plain
    right-padded batch."""
    body, score = backbone_and_score(model)
    batch = to_device(pack_groups(groups, pad_token_id), model_device(model))
    pooled = packed_hidden(body, batch).index_select(0, batch.last_positions)  # (S, H) each last real token
    # The head runs in its own dtype (float32 when it trains over a bf16 body); rewards are float32.
    return score(pooled.to(next(score.parameters()).dtype)).squeeze(-1).float()  # (S,)


class RewardModel:
    """A trained reward model and its tokenizer, for scoring whole conversations."""

    def __init__(self, model, tokenizer):
        self.model, self.tokenizer = model.eval(), tokenizer

    def to(self, device: torch.device | str) -> RewardModel:
        """Score on ``device`` from now on (batches follow the model there); returns self."""
        self.model.to(device)
        return self

    @classmethod
    def load(cls, spec_or_dir: str, dtype: torch.dtype = torch.float32) -> RewardModel:
        source = resolve(spec_or_dir)
        if not is_adapter_dir(source):
            _check_is_reward_model(source, spec_or_dir)
        tokenizer = load_tokenizer(spec_or_dir)
        return cls(load_reward_model(spec_or_dir, tokenizer.pad_token_id, dtype), tokenizer)

    def score(self, conversations: list[list[dict]], batch_size: int = 8) -> list[float]:
        """One reward per conversation, in input order."""
        return self.score_rendered([render(conversation, self.tokenizer) for conversation in conversations], batch_size)

    @torch.no_grad()
    def score_rendered(self, sequences: list[Rendered], batch_size: int = 8) -> list[float]:
        """Rewards of already-rendered sequences, scored in length-sorted batches (little padding)."""
        order = sorted(range(len(sequences)), key=lambda index: len(sequences[index]))
        rewards = [0.0] * len(sequences)
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            values = sequence_rewards(self.model, [[sequences[i]] for i in batch], self.tokenizer.pad_token_id)
            for index, value in zip(batch, values.tolist()):
                rewards[index] = value
        return rewards


def _check_is_reward_model(source: str, spec: str) -> None:
    """Refuse a plain language model: its new score head would give random rewards."""
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(source)
    except (OSError, ValueError) as error:
        raise UserError(f"could not load '{spec}': {str(error).splitlines()[0]}") from None
    architectures = config.architectures or []
    if not any(name.endswith("ForSequenceClassification") for name in architectures):
        raise UserError(f"'{spec}' is not a reward model ({', '.join(architectures) or 'no architecture'}): "
                        "train one with `posttrain rm`")
    if config.num_labels != 1:
        raise UserError(f"'{spec}' has {config.num_labels} labels; a reward model has one")
