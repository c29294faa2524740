"""How evaluation items become model answers: greedy, batched, with tools when an item has them.

Requests with the same settings (``max_new_tokens``, tool schemas, samples, temperature, stop strings) share
batches, across suites; within a group they are ordered by length so a batch holds prompts of
similar size. Decoding is greedy (temperature 0) unless a suite samples several answers per item,
seeded by the run's seed; either way answers depend only on the model, the prompts, the seed and the
batch size.

Tools go to the chat template's ``tools`` argument. Some templates ignore it (SmolLM2's renders
the same prompt with or without tools); for those the schemas are written into a system message
instead (:func:`tools_system_prompt`), so the model still sees what it can call.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass

from posttrain.data.render import render_prompt
from posttrain.rollout.generate import SamplingParams, generate_chat
from posttrain.rollout.kv_cache import cpu_decode_linears


@dataclass(frozen=True)
class Request:
    """One conversation to answer and how."""

    messages: list[dict]
    tools: list[dict] | None
    max_new_tokens: int
    samples: int = 1  # > 1: that many answers, sampled at ``temperature``
    temperature: float = 0.0
    stop: tuple[str, ...] = ()  # the answer ends at the first of these it writes, which stays in it


def tools_system_prompt(tools: list[dict]) -> str:
    """The system message that shows tool schemas to a model whose chat template ignores ``tools``."""
    schemas = "\n".join(json.dumps(tool, ensure_ascii=False) for tool in tools)
    return (
        "You can call the following tools. Their JSON schemas:\n<tools>\n" + schemas + "\n</tools>\n\n"
        "To call a tool, reply with only the call, in this form:\n"
        '<tool_call>{"name": "tool_name", "arguments": {"argument": "value"}}</tool_call>\n'
        "If no tool fits the request, answer it yourself. If a tool fits but the request lacks information "
        "the tool needs, ask the user for it instead of guessing."
    )


def template_renders_tools(tokenizer) -> bool:
    """Whether the tokenizer's chat template puts tool schemas into the prompt."""
    probe = [{"role": "user", "content": "hi"}]
    tool = {"type": "function", "function": {"name": "probe_tool", "description": "probe", "parameters": {
        "type": "object", "properties": {}}}}
    return render_prompt(probe, tokenizer, [tool]) != render_prompt(probe, tokenizer, None)


def with_tools_in_system(messages: list[dict], tools: list[dict]) -> list[dict]:
    """``messages`` with the tools prompt added to (or as) the system message."""
    prompt = tools_system_prompt(tools)
    if messages and messages[0]["role"] == "system":
        return [{**messages[0], "content": messages[0]["content"] + "\n\n" + prompt}] + messages[1:]
    return [{"role": "system", "content": prompt}] + messages


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
