"""Between the OpenAI message format and the model: prompt ids in, assistant messages out.

In: request messages become the dicts the chat template takes, rendered with ``render_prompt``.
``tools`` go to the template as ``tools=``; a template that ignores them (SmolLM2's; probed once
per tokenizer by :class:`ChatFormat`) gets ``ToolRegistry.system_prompt()`` in the system message
instead. An assistant turn's ``tool_calls`` are passed on with their arguments as objects;
``render_prompt`` writes them as ``<tool_call>`` text for templates that ignore them.

Out: the model's text becomes ``content`` and ``tool_calls`` (:func:`assistant_message`), and,
while streaming, :class:`DeltaAssembler` turns growing token lists into content deltas that never
show a stop string, half a UTF-8 character, or the start of a tool call block.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from posttrain.data.render import render_prompt
from posttrain.rollout.tools import ToolRegistry, parse_tool_calls, template_renders_tools
from posttrain.serve.protocol import ApiError, Message, ToolSpec, nested_too_deep

TOOL_CALL_OPEN = "<tool_call>"
def _not_executable(**_arguments):  # the server only shows tools to the model; the client runs them
    raise NotImplementedError


@dataclass
class ChatFormat:
    """How one tokenizer's chat template takes tools; builds prompts for requests."""

    tokenizer: Any
    native_tools: bool = False  # the template renders ``tools=``

    @classmethod
    def probe(cls, tokenizer) -> ChatFormat:
        user = [{"role": "user", "content": "x"}]
        return cls(tokenizer, template_renders_tools(tokenizer))

    def template_messages(self, messages: list[Message], tools: list[ToolSpec] | None) -> list[dict[str, Any]]:
        """The request's messages as template dicts (with the tool prompt when the template needs it)."""
        out: list[dict[str, Any]] = []
        for message in messages:
            role = "system" if message.role == "developer" else message.role
            entry: dict[str, Any] = {"role": role, "content": message.text()}
            if message.name:
                entry["name"] = message.name
            if message.tool_call_id:
                entry["tool_call_id"] = message.tool_call_id
            if message.tool_calls:
                entry["tool_calls"] = [{"type": "function", "id": call.id, "function": {
                    "name": call.function.name, "arguments": call.function.argument_object()}}
                    for call in message.tool_calls]
            out.append(entry)
        if tools and not self.native_tools:
            registry = ToolRegistry()
            for spec in tools:
                try:
                    registry.register(_not_executable, schema=spec.model_dump())
                except Exception as error:  # noqa: BLE001  (a duplicate name is the client's mistake)
                    raise ApiError(400, str(error), param="tools") from None
            if out and out[0]["role"] == "system":
                out[0] = {**out[0], "content": f"{out[0]['content']}\n\n{registry.system_prompt()}"}
            else:
                out.insert(0, {"role": "system", "content": registry.system_prompt()})
        return out

    def prompt_ids(self, template_messages: list[dict[str, Any]], tools: list[ToolSpec] | None) -> list[int]:
        """Render through the chat template; a template error is the request's fault (400)."""
        native = [spec.model_dump() for spec in tools] if tools and self.native_tools else None
        try:
            return render_prompt(template_messages, self.tokenizer, native)
        except Exception as error:  # noqa: BLE001  (jinja raises for conversations its template rejects)
            raise ApiError(400, f"the chat template rejected these messages: {type(error).__name__}: "
                                f"{str(error).splitlines()[0] if str(error) else ''}", param="messages") from None


def new_call_id() -> str:
    return f"call_{uuid.uuid4().hex[:24]}"


def assistant_message(text: str, parse_tools: bool) -> tuple[str | None, list[dict[str, Any]]]:
    """``(content, tool_calls)`` of a reply. With tools, well-formed calls become ``tool_calls`` and
    content is what came before the first call block (None when blank); a reply whose calls are
    all malformed stays plain content, so the user sees what the model wrote. So does a reply nested
    deeper than a request may be: parsing it would recurse once per level, into a RecursionError."""
    if not parse_tools or nested_too_deep(text) is not None:
        return text, []
    calls = [call for call in parse_tool_calls(text) if call.error is None]
    if not calls:
        return text, []
    start = text.find(TOOL_CALL_OPEN)
    content = text[:start] if start >= 0 else ""
    tool_calls = [{"id": new_call_id(), "type": "function",
                   "function": {"name": call.name, "arguments": json.dumps(call.arguments, ensure_ascii=False)}}
                  for call in calls]
    return (content if content.strip() else None), tool_calls


def _held_suffix(text: str, markers: list[str]) -> int:
    """Length of the longest end of ``text`` that could be the start of one of ``markers``."""
    longest = 0
    for marker in markers:
        for size in range(min(len(marker) - 1, len(text)), longest, -1):
            if marker.startswith(text[-size:]):
                longest = size
                break
    return longest


@dataclass
class DeltaAssembler:
    """Streams one choice's text: ``push(token_ids)`` returns the new safe text, ``finish`` the rest.

    Safe text stops before a stop string (or what may become one), before a trailing incomplete
    UTF-8 character and, when tools are on, before a ``<tool_call>`` block or a reply that may be
    a bare JSON call, so the streamed content is always a prefix of the final content.
    """

    decode: Callable[[list[int]], str]
    stop: list[str]
    parse_tools: bool
    eos_token_ids: set[int] = field(default_factory=set)
    sent: str = ""

    def text(self, token_ids: list[int]) -> str:
        """The full reply so far: eos left out, cut before the first stop string."""
        if token_ids and token_ids[-1] in self.eos_token_ids:
            token_ids = token_ids[:-1]
        text = self.decode(token_ids)
        cuts = [text.find(stop) for stop in self.stop if stop in text]
        return text[: min(cuts)] if cuts else text

    def _safe(self, text: str) -> str:
        text = text.rstrip("\ufffd")  # bytes of a character still being generated
        markers = list(self.stop)
        if self.parse_tools:
            if not text.strip() or text.lstrip().startswith(("{", "```")):
                return ""  # nothing to show yet, or possibly a bare JSON call
            start = text.find(TOOL_CALL_OPEN)
            if start >= 0:
                return text[:start]
            markers.append(TOOL_CALL_OPEN)
        return text[: len(text) - _held_suffix(text, markers)]

    def push(self, token_ids: list[int]) -> str:
        safe = self._safe(self.text(token_ids))
        if len(safe) <= len(self.sent) or not safe.startswith(self.sent):
            return ""
        delta, self.sent = safe[len(self.sent):], safe
        return delta

    def finish(self, final_content: str | None) -> str:
        """The content not streamed yet, given the final content of the reply."""
        final_content = final_content or ""
        if not final_content.startswith(self.sent):  # cannot happen by construction; never resend
            return ""
        delta, self.sent = final_content[len(self.sent):], final_content
        return delta
