"""The ``tool-use`` suite: the right tool with valid arguments, or no call when none fits or facts are missing.

Items ``{"id", "prompt", "tools": [schema, ...], "expect": ...}``; tools are OpenAI-style function
schemas, handed to the chat template (or a system message, see :mod:`posttrain.eval.generation`).
``expect`` is one of:

- ``{"name": "get_weather", "arguments": {"city": "Lisbon"}}``: the answer must call that tool (and
  no other) with arguments that validate against its schema (:func:`validate_arguments`) and have
  the expected values (strings compared ignoring case and surrounding space, numbers numerically);
  arguments not listed in ``expect`` only need to validate. Metric ``call_accuracy``.
- ``"no_call"``: no tool fits; the answer must not call one. Metric ``restraint``.
- ``"ask"``: a tool fits but the request lacks a required argument; the answer must not call and
  must ask (contain a question mark). Metric ``restraint``.

Tool calls are read by :func:`posttrain.rollout.tools.parse_tool_calls_lenient` in two shapes:
``<tool_call>{"name": ..., "arguments": {...}}</tool_call>`` (a JSON list of calls inside the tags
works too) and a bare JSON object ``{"name": ..., "arguments": {...}}`` anywhere in the answer,
fenced or not.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

from posttrain.eval.suite import Generation, Suite, register
from posttrain.rewards.math import numbers_equal
from posttrain.rollout.tools import parse_tool_calls_lenient

_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,), "integer": (int,), "number": (int, float), "boolean": (bool,),
    "array": (list,), "object": (dict,), "null": (type(None),),
}


def validate_arguments(parameters: dict, arguments: dict) -> list[str]:
    """Problems of ``arguments`` against a JSON-schema ``parameters`` object: missing required
    keys, unknown keys, wrong types and values outside an ``enum``. Empty when valid."""
    properties = parameters.get("properties", {})
    problems = [f"missing required argument '{key}'" for key in parameters.get("required", []) if key not in arguments]
    for key, value in arguments.items():
        if key not in properties:
            problems.append(f"unknown argument '{key}'")
            continue
        schema = properties[key]
        kind = schema.get("type")
        kinds = kind if isinstance(kind, list) else [kind] if kind else []
        # bool is an int in Python but not a JSON integer or number.
        if kinds and not any(isinstance(value, _JSON_TYPES.get(k, object)) and not (
                isinstance(value, bool) and k in ("integer", "number")) for k in kinds):
            problems.append(f"argument '{key}' should be {'/'.join(kinds)}, got {type(value).__name__} {value!r}")
        elif "enum" in schema and value not in schema["enum"]:
            problems.append(f"argument '{key}' is {value!r}, not one of {schema['enum']}")
    return problems


def _same_value(found: Any, expected: Any) -> bool:
    if isinstance(expected, str):
        return isinstance(found, str) and found.strip().lower() == expected.strip().lower()
    if isinstance(expected, int | float) and not isinstance(expected, bool):
        return numbers_equal(found, expected)
    return found == expected


def score_tool_answer(tools: list[dict], expect: Any, answer: str) -> tuple[float, str]:
    """Score one answer against the item's ``expect`` (see the module docstring)."""
    parsed = parse_tool_calls_lenient(answer)
    calls = [call for call in parsed if call.error is None]
    problems = [call.error for call in parsed if call.error is not None]
    called = ", ".join(call.name for call in calls)
    if expect in ("no_call", "ask"):
        if calls or problems:
            why = "no tool fits" if expect == "no_call" else "required information is missing"
            return 0.0, f"called {called or 'a tool (malformed call)'}, but {why}"
        if expect == "ask" and "?" not in answer:
            return 0.0, "no call, but did not ask for the missing information"
        return 1.0, "asked for the missing information" if expect == "ask" else "answered without calling a tool"
    if not calls:
        return 0.0, problems[0] if problems else f"no tool call (expected {expect['name']})"
    wrong = [call.name for call in calls if call.name != expect["name"]]
    if wrong:
        return 0.0, f"called {', '.join(wrong)}, expected {expect['name']}"
    schema = next(tool["function"] for tool in tools if tool["function"]["name"] == expect["name"])
    arguments = calls[0].arguments
    invalid = validate_arguments(schema.get("parameters", {}), arguments)
    if invalid:
        return 0.0, f"{expect['name']}: " + "; ".join(invalid)
    for key, value in expect.get("arguments", {}).items():
        if not _same_value(arguments.get(key), value):
            return 0.0, f"{expect['name']}: argument '{key}' is {arguments.get(key)!r}, expected {value!r}"
    return 1.0, f"called {expect['name']} with valid arguments {json.dumps(arguments)}"


@register
class ToolUseSuite(Suite):
    name = "tool-use"
    data_file = "tool_use.jsonl"
    generation = Generation(max_new_tokens=64)
    metrics: ClassVar[dict[str, bool | None]] = {"call_accuracy": True, "restraint": True}

    def metric_of(self, item: dict) -> str:
        return "call_accuracy" if isinstance(item["expect"], dict) else "restraint"

    def score(self, item: dict, answer: str) -> tuple[float, str]:
        return score_tool_answer(item["tools"], item["expect"], answer)
