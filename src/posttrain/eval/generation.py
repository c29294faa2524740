"""How evaluation items become model answers: greedy, batched, with tools when an item has them.

Requests with the same settings (``max_new_tokens``, tool schemas, samples, temperature, stop strings) share
batches, across suites; within a group they are ordered by length so a batch holds prompts of
similar size. Decoding is greedy (temperature 0) unless a suite samples several answers per item,
seeded by the run's seed; either way answers depend only on the model, the prompts, the seed and the
batch size.

Tools go to the chat template's ``tools`` argument. Some templates ignore it (SmolLM2's renders
the same prompt with or without tools); for those the schemas are written into a system message
instead (:func:`posttrain.rollout.tools.tools_system_prompt`, the prompt the SFT data, GRPO and the
server use too), so the model still sees what it can call.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass

from posttrain.data.render import render_prompt
from posttrain.rollout.generate import SamplingParams, generate_chat
from posttrain.rollout.kv_cache import cpu_decode_linears
from posttrain.rollout.tools import template_renders_tools, with_tools_in_system


@dataclass(frozen=True)
class Request:
    """One conversation to answer and how."""

    messages: list[dict]
    tools: list[dict] | None
    max_new_tokens: int
    samples: int = 1  # > 1: that many answers, sampled at ``temperature``
    temperature: float = 0.0
    stop: tuple[str, ...] = ()  # the answer ends at the first of these it writes, which stays in it


def answer_requests(
    model,
    tokenizer,
    requests: list[Request],
    *,
    seed: int = 0,
    batch_size: int = 16,
    on_answered: Callable[[int], None] | None = None,
    engine=None,
) -> list[str]:
    """Answers to ``requests``, in order: a string each, or a list of ``samples`` strings for a request
    that samples several; ``on_answered(count)`` after each batch (a progress bar). ``engine`` (a
    ``RolloutEngine``, e.g. vLLM's) generates from the rendered prompts' token ids instead of ``model``."""
    native_tools = template_renders_tools(tokenizer) if any(r.tools for r in requests) else True
    groups: dict[tuple, list[int]] = {}
    prepared: list[tuple[list[dict], list[dict] | None]] = []
    for index, request in enumerate(requests):
        messages, tools = request.messages, request.tools or None
        if tools and not native_tools:
            messages, tools = with_tools_in_system(messages, tools), None
        prepared.append((messages, tools))
        key = (request.max_new_tokens, json.dumps(tools, sort_keys=True), request.samples, request.temperature,
               request.stop)
        groups.setdefault(key, []).append(index)
    answers: list = [""] * len(requests)
    # Every chunk decodes with the same weights: lay them out for the CPU kernels once for all.
    with cpu_decode_linears(model) if engine is None else nullcontext():
        for (max_new_tokens, _, samples, temperature, stop), indices in groups.items():
            # Similar lengths share a batch (less padding); characters are a cheap stand-in for tokens.
            indices.sort(key=lambda i: len(json.dumps(prepared[i][0])))
            params = SamplingParams(max_new_tokens=max_new_tokens, temperature=temperature, n=samples, seed=seed,
                                    stop=list(stop), include_stop=True)
            # Each call decodes ``batch_size`` rows at a time and refills the rows of finished answers;
            # four batches' worth per call keeps the rows full and the progress bar moving.
            chunk = 4 * batch_size
            for start in range(0, len(indices), chunk):
                batch = indices[start : start + chunk]
                tools = prepared[batch[0]][1]
                if engine is not None:
                    completions = engine.generate([render_prompt(prepared[i][0], tokenizer, tools) for i in batch],
                                                  params)
                else:
                    completions = generate_chat(model, tokenizer, [prepared[i][0] for i in batch], params,
                                                batch_size=batch_size, tools=tools)
                for position, index in enumerate(batch):
                    texts = [completion.text for completion in completions[position * samples : (position + 1) * samples]]
                    answers[index] = texts if samples > 1 else texts[0]
                if on_answered is not None:
                    on_answered(len(batch))
    return answers


def requests_for(suite, items: list[dict]) -> list[Request]:
    """What to generate for each of a suite's items."""
    generation = suite.generation
    return [Request(suite.messages(item), suite.tools(item), suite.max_new_tokens(item), generation.samples,
                    generation.temperature, generation.stop) for item in items]
