"""Tool registry: schemas derived from Python functions, parsing tool-call blocks, safe execution."""

from typing import Literal

import pytest

from posttrain.errors import UserError
from posttrain.rollout.tools import ToolCall, ToolRegistry, function_schema, parse_tool_calls, tool


def get_weather(city: str, unit: Literal["C", "F"] = "C", days: int | None = None) -> str:
    """Current weather of a city.

    Longer notes that are not part of the description.

    Args:
        city: Name of the city, e.g. Paris.
        unit (str): Temperature unit.
    """
    return f"Sunny, 21 {unit} in {city}"


def add(a: int, b: float, tags: list[str] = (), options: dict | None = None):
    return a + b


def test_schema_from_signature_hints_and_docstring():
    assert function_schema(get_weather) == {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather of a city.",
            "parameters": {
                "type": "object",
                "properties": {
                    "city": {"type": "string", "description": "Name of the city, e.g. Paris."},
                    "unit": {"type": "string", "enum": ["C", "F"], "description": "Temperature unit."},
                    "days": {"type": "integer"},
                },
                "required": ["city"],
            },
        },
    }
    parameters = function_schema(add)["function"]["parameters"]
    assert function_schema(add)["function"]["description"] == ""
    assert parameters["properties"] == {
        "a": {"type": "integer"},
        "b": {"type": "number"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "options": {"type": "object"},
    }
    assert parameters["required"] == ["a", "b"]


def test_schema_rejects_what_json_cannot_describe():
    def takes_bytes(data: bytes):
        return data

    def takes_kwargs(**kwargs):
        return kwargs

    with pytest.raises(UserError, match="tool 'takes_bytes': parameter 'data' has type"):
        function_schema(takes_bytes)
    with pytest.raises(UserError, match=r"\*args/\*\*kwargs"):
        function_schema(takes_kwargs)


def test_registration_by_decorator_explicit_schema_and_duplicates():
    registry = ToolRegistry()

    @tool(name="weather")
    def lookup(city: str) -> str:
        """Weather lookup."""
        return city

    explicit = {"type": "function", "function": {"name": "sum", "description": "Sum.", "parameters": {}}}
    registry.register(lookup)
    registry.register(add, schema=explicit)
    assert [s["function"]["name"] for s in registry.schemas()] == ["weather", "sum"]
    assert "weather" in registry and "lookup" not in registry and len(registry) == 2
    assert registry.execute(ToolCall("sum", {"a": 1, "b": 2})) == "3"
    with pytest.raises(UserError, match="tool 'weather' is registered twice"):
        registry.register(lookup)
    assert '"name": "weather"' in registry.system_prompt()
    with pytest.raises(UserError, match="the schema of tool 'add' needs"):
        registry.register(add, schema={"name": "add"})


def test_parse_one_and_many_calls():
    text = (
        'Let me check. <tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>\n'
        '<tool_call>\n{"name": "add", "arguments": "{\\"a\\": 1, \\"b\\": 2}"}\n</tool_call>'
        '<tool_call>{"name": "get_weather", "parameters": {"city": "Rome"}}'  # unclosed, Llama-style key
    )
    assert parse_tool_calls(text) == [
        ToolCall("get_weather", {"city": "Paris"}),
        ToolCall("add", {"a": 1, "b": 2}),
        ToolCall("get_weather", {"city": "Rome"}),
    ]


def test_parse_malformed_blocks_become_error_calls():
    calls = parse_tool_calls(
        '<tool_call>{"name": "get_weather", "arguments": {"city": }</tool_call>'
        "<tool_call>[1, 2]</tool_call>"
        '<tool_call>{"name": "add", "arguments": [1, 2]}</tool_call>'
    )
    assert [call.name for call in calls] == ["", "", "add"]
    assert calls[0].error.startswith("tool call is not valid JSON (Expecting value at char 46)")
    assert calls[1].error == 'tool call must be a JSON object with a string "name"'
    assert calls[2].error == 'arguments of "add" must be a JSON object'


def test_parse_bare_json_leniently_but_not_plain_answers():
    assert parse_tool_calls(' {"name": "add", "arguments": {"a": 1, "b": 2}} ') == [ToolCall("add", {"a": 1, "b": 2})]
    assert parse_tool_calls('```json\n{"name": "add", "arguments": {}}\n```') == [ToolCall("add", {})]
    assert parse_tool_calls('{"name": "Bob", "age": 3}') == []  # JSON answer, not a call
    assert parse_tool_calls('{"name": "add", "arguments": ') == []
    assert parse_tool_calls("The answer is 42.") == []


def test_execute_returns_results_and_errors_as_strings():
    def explode(reason: str) -> str:
        raise ValueError(reason)

    def info(key: str) -> dict:
        return {"key": key, "values": [1, 2]}

    registry = ToolRegistry([get_weather, add, explode, info])
    assert registry.execute(ToolCall("get_weather", {"city": "Paris"})) == "Sunny, 21 C in Paris"
    assert registry.execute(ToolCall("add", {"a": 2, "b": 0.5})) == "2.5"
    assert registry.execute(ToolCall("info", {"key": "k"})) == '{"key": "k", "values": [1, 2]}'
    assert registry.execute(ToolCall("search", {"q": "x"})) == (
        "error: unknown tool 'search' (available: get_weather, add, explode, info)"
    )
    assert registry.execute(ToolCall("get_weather", {})) == (
        "error: bad arguments for 'get_weather': missing required argument(s): city"
    )
    assert registry.execute(ToolCall("get_weather", {"city": "Paris", "country": "FR"})) == (
        "error: bad arguments for 'get_weather': unexpected argument 'country' (expected: city, unit, days)"
    )
    assert registry.execute(ToolCall("add", {"a": "1", "b": 2})) == (
        "error: bad arguments for 'add': argument 'a' must be of type integer, got str"
    )
    assert registry.execute(ToolCall("add", {"a": True, "b": 2})) == (
        "error: bad arguments for 'add': argument 'a' must be of type integer, got bool"
    )
    assert registry.execute(ToolCall("explode", {"reason": "no network"})) == (
        "error: tool 'explode' raised ValueError: no network"
    )
    malformed = parse_tool_calls("<tool_call>not json</tool_call>")[0]
    assert registry.execute(malformed).startswith("error: tool call is not valid JSON")


def test_deeply_nested_model_output_is_a_malformed_call_not_a_crash():
    deep = "[" * 5000 + "]" * 5000
    calls = parse_tool_calls(f'<tool_call>{{"name": "f", "arguments": {deep}}}</tool_call>')
    assert len(calls) == 1 and calls[0].error == "tool call is nested too deeply"
    string_arguments = '{"name": "f", "arguments": "' + "[" * 5000 + "]" * 5000 + '"}'
    assert parse_tool_calls(f"<tool_call>{string_arguments}</tool_call>")[0].error == 'arguments of "f" are not valid JSON'
    assert parse_tool_calls('{"name": "f", "arguments": ' + deep + "}") == []


def test_one_tool_prompt_for_sft_data_eval_rollouts_and_serving():
    """The bundled SFT data, the evaluation, GRPO's tool episodes and the server show tools with the
    same prompt: the one in posttrain.rollout.tools."""
    import json as json_module

    from posttrain.data.bundled import BUNDLED_DIR  # noqa: F401  (the package's data files)
    from posttrain.rollout.tools import tools_system_prompt, with_tools_in_system

    registry = ToolRegistry()

    @registry.register
    def weather(city: str) -> str:
        """Current weather.

        Args:
            city: The city.
        """
        return "sunny"

    prompt = registry.system_prompt()
    assert prompt == tools_system_prompt(registry.schemas())
    assert with_tools_in_system([{"role": "user", "content": "hi"}], registry.schemas())[0]["content"] == prompt
    # Every tool-use row of the bundled SFT data carries this prompt for its own tools.
    from pathlib import Path

    import posttrain.data.bundled as bundled

    rows = [json_module.loads(line) for line in (Path(bundled.__file__).parent / "capability_sft.jsonl").open()]
    with_tools = [row for row in rows if row["messages"][0]["role"] == "system"
                  and "You can call the following tools" in row["messages"][0]["content"]]
    assert with_tools
    for row in with_tools[:20]:
        system = row["messages"][0]["content"]
        schemas = [json_module.loads(line) for line in system.split("<tools>\n")[1].split("\n</tools>")[0].splitlines()]
        assert system.endswith(tools_system_prompt(schemas)), system[:200]
