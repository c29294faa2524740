"""The one conversation type: OpenAI-style chat ``messages`` plus optional tool schemas.

A conversation is a list of messages, each ``{"role": ..., "content": ...}`` with roles
``system``, ``user``, ``assistant`` and ``tool``. An assistant message may carry
``tool_calls`` (OpenAI shape: ``[{"id", "type": "function", "function": {"name", "arguments"}}]``)
and a tool message may carry ``tool_call_id`` / ``name``. Messages stay plain dicts so they
go straight into a tokenizer's chat template.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from posttrain.errors import DataError

ROLES = ("system", "user", "assistant", "tool")


@dataclass
class Conversation:
    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]] | None = None
    # Extra row fields (e.g. a reference answer for a reward function) ride along untouched.
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_prompt_completion(cls, prompt: str, completion: str, system: str | None = None) -> Conversation:
        messages = [{"role": "system", "content": system}] if system else []
        messages += [{"role": "user", "content": prompt}, {"role": "assistant", "content": completion}]
        return cls(messages)


def validate_messages(messages: Any, *, field_name: str = "messages", need_assistant: bool = True) -> list[dict]:
    """Check the shape of a ``messages`` list; raise :class:`DataError` naming the bad field.

    Returns the messages with ``content`` normalised (``None`` allowed only for an assistant
    message that carries ``tool_calls``).
    """
    if not isinstance(messages, list) or not messages:
        raise DataError("must be a non-empty list of messages", field=field_name)
    for index, message in enumerate(messages):
        where = f"{field_name}[{index}]"
        if not isinstance(message, dict):
            raise DataError(f"must be an object, got {type(message).__name__}", field=where)
        role = message.get("role")
        if role is None:
            raise DataError("missing 'role'", field=where)
        if role not in ROLES:
            raise DataError(f"unknown role {role!r} (expected one of {', '.join(ROLES)})", field=f"{where}.role")
        content = message.get("content")
        tool_calls = message.get("tool_calls")
        if tool_calls is not None:
            if role != "assistant":
                raise DataError("only assistant messages may have tool_calls", field=f"{where}.tool_calls")
            _validate_tool_calls(tool_calls, f"{where}.tool_calls")
        if content is None and not tool_calls:
            raise DataError("missing 'content'", field=where)
        if content is not None and not isinstance(content, str):
            raise DataError(f"must be a string, got {type(content).__name__}", field=f"{where}.content")
        if role == "assistant" and not tool_calls and not content.strip():
            raise DataError("empty assistant turn", field=f"{where}.content")
    if need_assistant and not any(m["role"] == "assistant" for m in messages):
        raise DataError("no assistant turn to learn from", field=field_name)
    return messages


def _validate_tool_calls(tool_calls: Any, where: str) -> None:
    if not isinstance(tool_calls, list) or not tool_calls:
        raise DataError("must be a non-empty list", field=where)
    for index, call in enumerate(tool_calls):
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise DataError("each tool call needs function.name", field=f"{where}[{index}]")
        arguments = function.get("arguments", {})
        if not isinstance(arguments, (str, dict)):
            raise DataError("function.arguments must be a JSON string or an object", field=f"{where}[{index}]")
