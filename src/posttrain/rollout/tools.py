"""Tools the policy may call during a rollout: plain Python functions with a JSON schema.

A tool is registered with a schema derived from its signature, type hints and docstring (or one
given explicitly); the model calls it by writing a ChatML-style block, as SmolLM2/Qwen templates do::

    <tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>

``parse_tool_calls`` finds such blocks (or, leniently, a reply that is nothing but such a JSON object)
and ``ToolRegistry.execute`` runs one; ``parse_tool_calls_lenient`` is the evaluation's more forgiving
reader (JSON anywhere in the text, lists of calls, OpenAI's shape), with the same ``ToolCall`` result. Execution never raises: an unknown tool, bad arguments, a
malformed block or an exception inside the tool come back as an ``error: ...`` string, which becomes
the tool message, so the policy sees its mistake instead of the rollout crashing.

Example::

    registry = ToolRegistry()

    @registry.register
    def add(a: int, b: int) -> int:
        \"\"\"Add two integers.\"\"\"
        return a + b

    calls = parse_tool_calls('<tool_call>{"name": "add", "arguments": {"a": 2, "b": 3}}</tool_call>')
    registry.execute(calls[0])  # "5"

From a config, ``load_tools(["posttrain.rewards.tools:calculator", "my_tools.py:lookup"])`` imports and
registers each ``module:function`` or ``path/to/file.py:function``.

This module owns the tool-call contract: the call format above, its parsing, and the one prompt
that shows tools to a model whose chat template ignores ``tools=`` (SmolLM2's renders the same
prompt with or without them): :func:`tools_system_prompt`, put in the system message by
:func:`with_tools_in_system` when :func:`template_renders_tools` says the template does not render
them. The bundled SFT data, the evaluation, GRPO's tool episodes and the server all use it, so a
model is trained, evaluated, RL-trained and served with the same prompt.
"""

from __future__ import annotations

import inspect
import json
import re
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from posttrain.data.render import render_prompt
from posttrain.errors import UserError
from posttrain.imports import import_function

JSON_TYPES = {str: "string", int: "integer", float: "number", bool: "boolean", list: "array", dict: "object"}
# What Python values json.loads gives for each JSON schema type (bool is an int, so it is excluded).
PYTHON_TYPES = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
}
TOOL_CALL_BLOCK = re.compile(r"<tool_call>(.*?)(?:</tool_call>|$)", re.DOTALL)
CODE_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.DOTALL)


@dataclass
class ToolCall:
    name: str
    arguments: dict[str, Any] = field(default_factory=dict)
    error: str | None = None  # set when the block could not be parsed; executing it returns the error


def _type_schema(annotation: Any, where: str) -> dict[str, Any]:
    """JSON schema of one type hint: builtins, list[X], dict[str, X], Literal[...], X | None."""
    if annotation is inspect.Parameter.empty or annotation is Any:
        return {}
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        kept = [arg for arg in args if arg is not type(None)]
        if len(kept) == 1:
            return _type_schema(kept[0], where)
        return {"anyOf": [_type_schema(arg, where) for arg in kept]}
    if origin is typing.Literal:
        return {"type": JSON_TYPES[type(args[0])], "enum": list(args)}
    if origin in (list, tuple, set) or annotation in (list, tuple, set):
        return {"type": "array", **({"items": _type_schema(args[0], where)} if args else {})}
    if origin is dict or annotation is dict:
        return {"type": "object", **({"additionalProperties": _type_schema(args[1], where)} if args else {})}
    if annotation in JSON_TYPES:
        return {"type": JSON_TYPES[annotation]}
    raise UserError(f"{where} has type {annotation!r}, which has no JSON schema type; pass schema= explicitly")


def _docstring_parts(fn: Callable) -> tuple[str, dict[str, str]]:
    """The summary paragraph and the per-argument descriptions of a Google-style ``Args:`` section."""
    doc = inspect.getdoc(fn) or ""
    summary = doc.split("\n\n")[0].strip().replace("\n", " ")
    descriptions: dict[str, str] = {}
    section = re.search(r"^(?:Args|Arguments|Parameters):\s*\n(.*?)(?:\n\S|\Z)", doc, re.DOTALL | re.MULTILINE)
    if section:
        for match in re.finditer(r"^\s+(\w+)\s*(?:\([^)]*\))?:\s*(.+)$", section.group(1), re.MULTILINE):
            descriptions[match.group(1)] = match.group(2).strip()
    if summary.startswith(("Args:", "Arguments:", "Parameters:")):
        summary = ""
    return summary, descriptions


def function_schema(fn: Callable, name: str | None = None) -> dict[str, Any]:
    """The OpenAI-style schema of ``fn``: ``{"type": "function", "function": {name, description, parameters}}``.

    Parameters without a default are required; ``*args`` / ``**kwargs`` are not allowed.
    """
    name = name or fn.__name__
    hints = typing.get_type_hints(fn)
    summary, descriptions = _docstring_parts(fn)
    properties: dict[str, Any] = {}
    required = []
    for parameter in inspect.signature(fn).parameters.values():
        where = f"tool '{name}': parameter '{parameter.name}'"
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            raise UserError(f"{where}: *args/**kwargs cannot be described by a schema; pass schema= explicitly")
        prop = _type_schema(hints.get(parameter.name, inspect.Parameter.empty), where)
        if parameter.name in descriptions:
            prop["description"] = descriptions[parameter.name]
        properties[parameter.name] = prop
        if parameter.default is inspect.Parameter.empty:
            required.append(parameter.name)
    parameters = {"type": "object", "properties": properties, "required": required}
    return {"type": "function", "function": {"name": name, "description": summary, "parameters": parameters}}


def tool(fn: Callable | None = None, *, schema: dict | None = None, name: str | None = None):
    """Mark a function as a tool (``@tool`` or ``@tool(schema=...)``); its schema is checked now."""

    def mark(function: Callable) -> Callable:
        function.__tool_schema__ = schema or function_schema(function, name)
        return function

    return mark(fn) if fn is not None else mark


def _parse_call(payload: str) -> ToolCall | None:
    """One call from a JSON object with ``name`` and ``arguments`` (or ``parameters``); None if not one."""
    try:
        data = json.loads(payload)
    except json.JSONDecodeError as error:
        return ToolCall("", error=f"tool call is not valid JSON ({error.msg} at char {error.pos})")
    except RecursionError:  # model output nested thousands of levels deep
        return ToolCall("", error="tool call is nested too deeply")
    if not isinstance(data, dict) or not isinstance(data.get("name"), str):
        return ToolCall("", error='tool call must be a JSON object with a string "name"')
    arguments = data.get("arguments", data.get("parameters", {}))
    if isinstance(arguments, str):  # OpenAI style: arguments as a JSON string
        try:
            arguments = json.loads(arguments) if arguments.strip() else {}
        except (json.JSONDecodeError, RecursionError):
            return ToolCall(data["name"], error=f'arguments of "{data["name"]}" are not valid JSON')
    if not isinstance(arguments, dict):
        return ToolCall(data["name"], error=f'arguments of "{data["name"]}" must be a JSON object')
    return ToolCall(data["name"], arguments)


def parse_tool_calls(text: str) -> list[ToolCall]:
    """Tool calls in an assistant reply, in order.

    Each ``<tool_call>...</tool_call>`` block is one call (an unclosed last block counts too); a
    malformed block gives a ToolCall with ``error`` set, so the model is told what went wrong.
    Without any block, a reply that is only a JSON object with ``name`` and ``arguments`` (optionally
    in a code fence) is one call; any other reply, JSON or not, has no calls.
    """
    blocks = TOOL_CALL_BLOCK.findall(text)
    if blocks:
        return [_parse_call(block.strip()) for block in blocks]
    bare = text.strip()
    fenced = CODE_FENCE.match(bare)
    bare = fenced.group(1) if fenced else bare
    if not bare.startswith("{"):
        return []
    try:
        data = json.loads(bare)
    except (json.JSONDecodeError, RecursionError):
        return []
    if not isinstance(data, dict) or "name" not in data or not ({"arguments", "parameters"} & data.keys()):
        return []  # an answer that happens to be JSON, not a call
    return [_parse_call(bare)]


_JSON_START = re.compile(r"[{\[]")


def _as_call(value: Any) -> ToolCall | None:
    """A call from a decoded JSON value (also OpenAI's ``{"type": "function", "function": {...}}`` shape and
    arguments as a JSON string), or None when it is not one."""
    if not isinstance(value, dict):
        return None
    if isinstance(value.get("function"), dict):
        value = value["function"]
    arguments = value.get("arguments", value.get("parameters"))
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except json.JSONDecodeError:
            return None
    if not isinstance(value.get("name"), str) or not isinstance(arguments, dict):
        return None
    return ToolCall(value["name"], arguments)


def _as_calls(value: Any) -> list[ToolCall] | None:
    calls = [_as_call(item) for item in (value if isinstance(value, list) else [value])]
    return None if any(call is None for call in calls) else calls


def _json_values(text: str):
    """Every top-level JSON object or list embedded in ``text``, in order."""
    decoder = json.JSONDecoder()
    position = 0
    while (match := _JSON_START.search(text, position)) is not None:
        try:
            value, end = decoder.raw_decode(text, match.start())
        except (json.JSONDecodeError, RecursionError):
            position = match.start() + 1
            continue
        yield value
        position = end


def parse_tool_calls_lenient(text: str) -> list[ToolCall]:
    """Tool calls as the evaluation reads them: more forgiving than :func:`parse_tool_calls`, so that a
    model is scored on which tool it chose, not on how exactly it wrote the call.

    A ``<tool_call>`` block may hold one call or a JSON list of calls (``[]``: none), with text around
    the JSON; a block with no call in it is a ToolCall with ``error`` set ("malformed tool call: ...").
    Without blocks, the first JSON value anywhere in the text that is a call (or a list of calls) counts,
    fenced or not, in OpenAI's shape too.
    """
    blocks = [block.strip() for block in TOOL_CALL_BLOCK.findall(text)]
    if not blocks:
        return next((calls for value in _json_values(text) if (calls := _as_calls(value))), [])
    calls = []
    for block in blocks:
        decoded = next((_as_calls(value) for value in _json_values(block)), None)
        calls += decoded if decoded is not None else [ToolCall("", error=f"malformed tool call: {block[:80]!r}")]
    return calls


def _format_result(result: Any) -> str:
    if isinstance(result, str):
        return result
    try:
        return json.dumps(result)
    except TypeError:
        return str(result)


class ToolRegistry:
    """Named tools with their schemas; ``execute`` runs a parsed call and always returns a string."""

    def __init__(self, tools: list[Callable] | None = None):
        self._functions: dict[str, Callable] = {}
        self._schemas: dict[str, dict[str, Any]] = {}
        for function in tools or []:
            self.register(function)

    def register(self, fn: Callable, schema: dict | None = None) -> Callable:
        """Add ``fn`` (usable as a decorator); the schema is ``schema``, its ``@tool`` one, or derived."""
        schema = schema or getattr(fn, "__tool_schema__", None) or function_schema(fn)
        name = schema.get("function", {}).get("name")
        if not isinstance(name, str):
            raise UserError(f'the schema of tool {fn.__name__!r} needs {{"function": {{"name": ...}}}}')
        if name in self._functions:
            raise UserError(f"tool '{name}' is registered twice")
        self._functions[name], self._schemas[name] = fn, schema
        return fn

    def __contains__(self, name: str) -> bool:
        return name in self._functions

    def __len__(self) -> int:
        return len(self._functions)

    def schemas(self) -> list[dict[str, Any]]:
        """Schemas in registration order, in the shape chat templates take as ``tools=``."""
        return list(self._schemas.values())

    def system_prompt(self) -> str:
        """:func:`tools_system_prompt` for these tools."""
        return tools_system_prompt(self.schemas())

    def _argument_error(self, call: ToolCall) -> str | None:
        parameters = self._schemas[call.name]["function"].get("parameters", {})
        missing = [name for name in parameters.get("required", []) if name not in call.arguments]
        if missing:
            return f"missing required argument(s): {', '.join(missing)}"
        if "properties" not in parameters:
            return None  # a hand-written schema that does not list its parameters: nothing to check against
        properties = parameters["properties"]
        for name, value in call.arguments.items():
            if name not in properties:
                return f"unexpected argument '{name}' (expected: {', '.join(properties) or 'none'})"
            expected = properties[name].get("type")
            allowed = PYTHON_TYPES.get(expected, (object,))
            if not isinstance(value, allowed) or (isinstance(value, bool) and bool not in allowed):
                return f"argument '{name}' must be of type {expected}, got {type(value).__name__}"
        return None

    def execute(self, call: ToolCall) -> str:
        """Run ``call``; its result as text (JSON for non-strings), or ``error: ...`` on any failure."""
        if call.error is not None:
            return f"error: {call.error}"
        if call.name not in self._functions:
            return f"error: unknown tool '{call.name}' (available: {', '.join(self._functions) or 'none'})"
        problem = self._argument_error(call)
        if problem is not None:
            return f"error: bad arguments for '{call.name}': {problem}"
        try:
            return _format_result(self._functions[call.name](**call.arguments))
        except Exception as error:  # noqa: BLE001  (a failing tool is feedback for the model, not a crash)
            return f"error: tool '{call.name}' raised {type(error).__name__}: {error}"


def load_tools(specs: list[str]) -> ToolRegistry:
    """A registry of the functions named by ``specs`` (``module:function`` or ``path/to/file.py:function``),
    each with the schema ``function_schema`` derives from its signature and docstring (or its ``@tool`` one)."""
    registry = ToolRegistry()
    for spec in specs:
        registry.register(import_function(spec, f"tool '{spec}'"))
    return registry


def tools_system_prompt(schemas: list[dict]) -> str:
    """The system message that shows tool schemas (``{"type": "function", "function": {...}}``) to a
    model whose chat template ignores ``tools=``: the one tool prompt of training, evaluation,
    rollouts and serving."""
    listing = "\n".join(json.dumps(schema, ensure_ascii=False) for schema in schemas)
    return (
        "You can call the following tools. Their JSON schemas:\n<tools>\n" + listing + "\n</tools>\n\n"
        "To call a tool, reply with only the call, in this form:\n"
        '<tool_call>{"name": "tool_name", "arguments": {"argument": "value"}}</tool_call>\n'
        "If no tool fits the request, answer it yourself. If a tool fits but the request lacks information "
        "the tool needs, ask the user for it instead of guessing."
    )


_PROBE = [{"role": "user", "content": "hi"}]
_PROBE_TOOL = {"type": "function", "function": {"name": "probe_tool", "description": "probe", "parameters": {
    "type": "object", "properties": {}}}}


def template_renders_tools(tokenizer) -> bool:
    """Whether the tokenizer's chat template puts ``tools=`` schemas into the prompt: a probe
    conversation rendered with and without one tool differs. A template that fails on the probe
    does not render tools. Computed once per tokenizer."""
    known = getattr(tokenizer, "_posttrain_renders_tools", None)
    if known is None:
        try:
            known = render_prompt(_PROBE, tokenizer, [_PROBE_TOOL]) != render_prompt(_PROBE, tokenizer, None)
        except Exception:  # noqa: BLE001  (jinja raises for templates that choke on the probe)
            known = False
        try:
            tokenizer._posttrain_renders_tools = known
        except AttributeError:  # a tokenizer object that takes no attributes: probe again next time
            pass
    return known


def with_tools_in_system(messages: list[dict], schemas: list[dict]) -> list[dict]:
    """``messages`` with :func:`tools_system_prompt` after an existing system message's text, or as
    a new system message."""
    prompt = tools_system_prompt(schemas)
    if messages and messages[0]["role"] == "system":
        return [{**messages[0], "content": messages[0]["content"] + "\n\n" + prompt}, *messages[1:]]
    return [{"role": "system", "content": prompt}, *messages]


def with_tool_prompt(messages: list[dict], tools: ToolRegistry, tokenizer) -> list[dict]:
    """``messages`` with the tool prompt in the system message when the template ignores ``tools=``
    (SmolLM2's does): otherwise the policy would never learn which tools exist."""
    if not len(tools) or template_renders_tools(tokenizer):
        return messages
    return with_tools_in_system(messages, tools.schemas())
