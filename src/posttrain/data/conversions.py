"""Rows in other tools' shapes, rewritten as our own rows by one fixed mapping each.

Each function takes a raw row and returns a row in a native format of
:mod:`posttrain.data.formats` (``{"messages", "tools"?}`` for SFT, ``{"chosen", "rejected"}``
full conversations for preference pairs); fields it does not use ride along unchanged.

- **ShareGPT** ``{"conversations": [{"from", "value"}, ...], "system"?, "tools"?}``: ``from``
  ``human``/``user`` -> ``user``; ``gpt``/``assistant`` -> ``assistant``; ``system`` -> ``system``;
  ``function_call`` -> an assistant message with ``tool_calls`` (``value`` is the JSON of
  ``{"name", "arguments"}``, or a list of them); ``observation``/``tool``/``function`` -> ``tool``.
  A top-level ``system`` becomes the first message; ``tools`` (a list, or its JSON text, of
  OpenAI tool schemas or bare function schemas) become the conversation's tools.
- **Alpaca** ``{"instruction", "input"?, "output", "system"?, "history"?}``: one user turn
  ``instruction``, followed by ``"\\n"`` and ``input`` when ``input`` is not empty (LLaMA-Factory's
  join); ``output`` is the assistant turn; ``history`` (``[[user, assistant], ...]``) goes before
  it and ``system`` first.
- **Anthropic HH** ``{"chosen", "rejected"}`` strings of ``"\\n\\nHuman: ...\\n\\nAssistant: ..."``:
  ``Human`` -> ``user``, ``Assistant`` -> ``assistant``, each turn's text stripped; the two
  conversations then split at the last user turn they share (that prefix is the prompt).
"""

from __future__ import annotations

import json
import re
from typing import Any

from posttrain.data.conversation import validate_messages
from posttrain.errors import DataError

SHAREGPT_ROLES = {
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "system": "system",
    "function_call": "assistant",  # carries tool_calls
    "observation": "tool",
    "tool": "tool",
    "function": "tool",
}


def is_sharegpt(row: dict[str, Any]) -> bool:
    return "conversations" in row


def is_alpaca(row: dict[str, Any]) -> bool:
    return "instruction" in row and "output" in row


HH_TURN = re.compile(r"(?:^|\n\n)(Human|Assistant):")


def is_hh(row: dict[str, Any]) -> bool:
    """Anthropic HH: chosen/rejected are whole dialogues as text, with no separate prompt."""
    chosen, rejected = row.get("chosen"), row.get("rejected")
    return (
        "prompt" not in row
        and isinstance(chosen, str)
        and isinstance(rejected, str)
        and chosen.lstrip().startswith("Human:")
        and "\n\nAssistant:" in chosen
    )


def _string(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise DataError(f"must be a string, got {type(value).__name__}", field=name)
    return value


def _optional_system(row: dict[str, Any]) -> list[dict[str, Any]]:
    system = row.get("system")
    if system is None or system == "":
        return []
    return [{"role": "system", "content": _string(system, "system")}]


# ---- ShareGPT --------------------------------------------------------------------------


def sharegpt_row(row: dict[str, Any]) -> dict[str, Any]:
    turns = row.get("conversations")
    if not isinstance(turns, list) or not turns:
        raise DataError("must be a non-empty list of {'from', 'value'} turns", field="conversations")
    messages = [_sharegpt_message(turn, f"conversations[{index}]") for index, turn in enumerate(turns)]
    validate_messages(messages, field_name="conversations")  # indices still match the file's turns
    others = {key: value for key, value in row.items() if key not in ("conversations", "system", "tools")}
    converted = {"messages": _optional_system(row) + messages, **others}
    if row.get("tools") not in (None, "", []):
        converted["tools"] = _sharegpt_tools(row["tools"])
    return converted


def _sharegpt_message(turn: Any, where: str) -> dict[str, Any]:
    if not isinstance(turn, dict):
        raise DataError(f"must be an object, got {type(turn).__name__}", field=where)
    if "from" not in turn:
        raise DataError(f"missing 'from' (turn has: {', '.join(sorted(turn)) or 'no fields'})", field=where)
    source = turn["from"]
    if source not in SHAREGPT_ROLES:
        raise DataError(f"unknown role {source!r} (expected one of {', '.join(SHAREGPT_ROLES)})", field=f"{where}.from")
    if "value" not in turn:
        raise DataError("missing 'value'", field=where)
    value = _string(turn["value"], f"{where}.value")
    if source == "function_call":
        return {"role": "assistant", "content": None, "tool_calls": _tool_calls(value, f"{where}.value")}
    return {"role": SHAREGPT_ROLES[source], "content": value}


def _tool_calls(value: str, where: str) -> list[dict[str, Any]]:
    """``{"name", "arguments"}`` JSON (or a list of them) -> OpenAI-shaped ``tool_calls``."""
    try:
        calls = json.loads(value)
    except json.JSONDecodeError as error:
        raise DataError(f'a function_call must be JSON {{"name", "arguments"}}: {error.msg}', field=where) from None
    calls = calls if isinstance(calls, list) else [calls]
    converted = []
    for call in calls:
        if not isinstance(call, dict) or not isinstance(call.get("name"), str):
            raise DataError('a function_call must be JSON {"name", "arguments"}', field=where)
        converted.append({"type": "function", "function": {"name": call["name"], "arguments": call.get("arguments", {})}})
    return converted


def _sharegpt_tools(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as error:
            raise DataError(f"not valid JSON: {error.msg}", field="tools") from None
    if not isinstance(value, list) or not all(isinstance(tool, dict) for tool in value):
        raise DataError("must be a list of tool schemas", field="tools")
    # LLaMA-Factory stores bare function schemas; our tools are OpenAI-shaped.
    return [tool if "function" in tool else {"type": "function", "function": tool} for tool in value]


# ---- Alpaca ----------------------------------------------------------------------------


def alpaca_row(row: dict[str, Any]) -> dict[str, Any]:
    instruction = _string(row.get("instruction"), "instruction")
    extra_input = row.get("input")
    if extra_input not in (None, ""):
        instruction = f"{instruction}\n{_string(extra_input, 'input')}"
    output = _string(row.get("output"), "output")
    history = []
    for index, pair in enumerate(row.get("history") or []):
        if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(text, str) for text in pair)):
            raise DataError("must be a [user, assistant] pair of strings", field=f"history[{index}]")
        history += [{"role": "user", "content": pair[0]}, {"role": "assistant", "content": pair[1]}]
    messages = history + [{"role": "user", "content": instruction}, {"role": "assistant", "content": output}]
    others = {key: value for key, value in row.items() if key not in ("instruction", "input", "output", "system", "history")}
    return {"messages": _optional_system(row) + messages, **others}


# ---- Anthropic HH ----------------------------------------------------------------------


def hh_row(row: dict[str, Any]) -> dict[str, Any]:
    converted = {key: value for key, value in row.items() if key not in ("chosen", "rejected")}
    for name in ("chosen", "rejected"):
        if name not in row:
            raise DataError("missing", field=name)
        converted[name] = hh_messages(_string(row[name], name), name)
    return converted


def hh_messages(text: str, name: str) -> list[dict[str, Any]]:
    """``"\\n\\nHuman: q\\n\\nAssistant: a"`` -> ``[{"role": "user", ...}, {"role": "assistant", ...}]``."""
    parts = HH_TURN.split(text.lstrip(" \n"))
    if parts[0].strip():
        raise DataError("text before the first 'Human:' turn", field=name)
    roles = {"Human": "user", "Assistant": "assistant"}
    return [{"role": roles[speaker], "content": said.strip()} for speaker, said in zip(parts[1::2], parts[2::2])]
