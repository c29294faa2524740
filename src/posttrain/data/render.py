"""The one contract between data and loss: ``render(conversation, tokenizer) -> Rendered``.

Every trainer and the rollout engine tokenize through here, so training and sampling agree.

How the loss mask is found, for any chat template and without ``{% generation %}`` markers:
for each assistant turn *k* we render the conversation up to that turn with the generation
prompt (what the model sees before it speaks) and the conversation including the turn. The
second must extend the first, and every such render must be a token prefix of the full
conversation; the tokens between the two are what the assistant produced. Of those we keep in
the mask everything up to and including the end-of-turn token, and leave out formatting the
template appends after it (ChatML's trailing newline), which the model never generates.
A template that rewrites earlier turns breaks the prefix property; we then raise an error that
names the template and the turn instead of training on a wrong mask.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from posttrain.data.conversation import Conversation
from posttrain.errors import DataError

# End-of-turn tokens of the common template families; the tokenizer's eos is added at run time.
END_OF_TURN_TOKENS = ("<|im_end|>", "<|eot_id|>", "<|end|>", "<end_of_turn>", "</s>", "<|endoftext|>")


@dataclass
class Rendered:
    input_ids: list[int]
    loss_mask: list[int]  # 1 where the token is an assistant-produced target, else 0
    truncated: bool = False

    def __len__(self) -> int:
        return len(self.input_ids)


def end_of_turn_ids(tokenizer, model=None) -> set[int]:
    """Token ids that end an assistant turn: eos, the end-of-turn tokens in the vocabulary and,
    when ``model`` is given, its generation config's eos ids (Llama 3 lists several there)."""
    ids: set[int] = set()
    candidates = [tokenizer.eos_token_id]
    generation_config = getattr(model, "generation_config", None)
    if generation_config is not None:
        candidates.append(generation_config.eos_token_id)
    for candidate in candidates:
        if isinstance(candidate, int):
            ids.add(candidate)
        elif candidate is not None:
            ids.update(int(token) for token in candidate)
    if not hasattr(tokenizer, "convert_tokens_to_ids"):  # a minimal tokenizer: its vocabulary dict
        vocab = tokenizer.get_vocab()
        ids.update(int(vocab[token]) for token in END_OF_TURN_TOKENS if token in vocab)
        return ids
    # Looked up one by one: building the whole vocabulary dict (get_vocab) costs about 20 ms a call.
    for token in END_OF_TURN_TOKENS:
        token_id = tokenizer.convert_tokens_to_ids(token)
        if isinstance(token_id, int) and tokenizer.convert_ids_to_tokens(token_id) == token:
            ids.add(token_id)
    return ids


def tool_call_text(call: dict) -> str:
    """One tool call as the text a model writes: ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>``."""
    function = call.get("function", call)
    arguments = function.get("arguments", {})
    if isinstance(arguments, str):  # OpenAI messages carry arguments as a JSON string
        try:
            arguments = json.loads(arguments)
        except json.JSONDecodeError:
            pass
    return "<tool_call>" + json.dumps({"name": function.get("name"), "arguments": arguments}, ensure_ascii=False) + "</tool_call>"


def _for_template(messages: list[dict], tokenizer) -> list[dict]:
    """Messages a template that knows nothing of ``tool_calls`` still renders faithfully.

    Such a template (SmolLM2's, for one) prints ``content`` only, so an assistant turn that calls a
    tool would render empty, or fail on a ``None`` content. The calls are written into the content
    as the text the model produces, the same text the tool-call parser reads back.
    """
    if "tool_calls" in (getattr(tokenizer, "chat_template", None) or ""):
        return messages
    converted = []
    for message in messages:
        if message.get("tool_calls"):
            text = "\n".join(tool_call_text(call) for call in message["tool_calls"])
            content = message.get("content") or ""
            message = {key: value for key, value in message.items() if key != "tool_calls"}
            message["content"] = f"{content}\n{text}" if content.strip() else text
        elif message.get("content") is None:
            message = {**message, "content": ""}
        converted.append(message)
    return converted


def _template_ids(tokenizer, messages: list[dict], tools, add_generation_prompt: bool) -> list[int]:
    messages = _for_template(messages, tokenizer)
    out = tokenizer.apply_chat_template(messages, tools=tools, add_generation_prompt=add_generation_prompt, tokenize=True)
    # transformers 5 returns a BatchEncoding by default; older versions a list; some a batch of one.
    if isinstance(out, Mapping):
        out = out["input_ids"]
    if hasattr(out, "tolist"):
        out = out.tolist()
    if out and isinstance(out[0], list):
        out = out[0]
    return [int(token) for token in out]


def template_name(tokenizer) -> str:
    return getattr(tokenizer, "name_or_path", "") or type(tokenizer).__name__


def render_messages(messages: list[dict[str, Any]], tokenizer, tools=None) -> Rendered:
    """Tokenize a whole conversation; mask covers every assistant turn's own tokens."""
    full = _template_ids(tokenizer, messages, tools, add_generation_prompt=False)
    mask = [0] * len(full)
    stop_ids = end_of_turn_ids(tokenizer)
    for turn, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        before = _template_ids(tokenizer, messages[:turn], tools, add_generation_prompt=True)
        through = _template_ids(tokenizer, messages[: turn + 1], tools, add_generation_prompt=False)
        if through[: len(before)] != before or full[: len(through)] != through:
            raise DataError(
                f"chat template of '{template_name(tokenizer)}' is not prefix-consistent at assistant turn "
                f"{turn} (messages[{turn}]): it rewrites earlier turns, so the assistant's tokens cannot be located",
                field=f"messages[{turn}]",
            )
        start, end = len(before), len(through)
        produced = through[start:end]
        # Cut after the last end-of-turn token: what follows is template formatting.
        last_stop = max((i for i, token in enumerate(produced) if token in stop_ids), default=None)
        if last_stop is not None:
            end = start + last_stop + 1
        for position in range(start, end):
            mask[position] = 1
    return Rendered(full, mask)


def render(conversation: Conversation | list[dict], tokenizer, max_length: int | None = None) -> Rendered:
    """Render a conversation to ``(input_ids, loss_mask)``.

    Truncation policy when ``max_length`` is set: keep the first ``max_length`` tokens (the
    prompt stays intact, the tail of the answer is cut) and mark the row ``truncated`` so the
    caller can count it. A row whose kept part has no loss token at all is the caller's to skip
    and count.
    """
    if isinstance(conversation, Conversation):
        rendered = render_messages(conversation.messages, tokenizer, conversation.tools)
    else:
        rendered = render_messages(conversation, tokenizer)
    if max_length is not None and len(rendered) > max_length:
        rendered = Rendered(rendered.input_ids[:max_length], rendered.loss_mask[:max_length], truncated=True)
    return rendered


def render_prompt(messages: list[dict], tokenizer, tools=None) -> list[int]:
    """The ids the model sees before it answers (generation prompt included)."""
    return _template_ids(tokenizer, messages, tools, add_generation_prompt=True)


def render_completion(prompt_messages: list[dict], completion_messages: list[dict], tokenizer,
                      max_length: int) -> Rendered:
    """Prompt + completion with the loss mask on the completion only (earlier turns are context):
    one side of a preference pair, or an unpaired completion."""
    prompt_ids = render_prompt(prompt_messages, tokenizer)
    full = render(prompt_messages + completion_messages, tokenizer)
    if full.input_ids[: len(prompt_ids)] != prompt_ids:
        raise DataError("the chat template renders the prompt differently once the answer is added", field="prompt")
    mask = [0] * len(prompt_ids) + full.loss_mask[len(prompt_ids):]
    truncated = len(full) > max_length
    return Rendered(full.input_ids[:max_length], mask[:max_length], truncated)
