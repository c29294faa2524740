"""Tool-call parsing (tagged and bare JSON), argument validation against schemas, and item scoring."""

from posttrain.eval.suites.tool_use import score_tool_answer, validate_arguments
from posttrain.rollout.tools import ToolCall
from posttrain.rollout.tools import parse_tool_calls_lenient as parse_tool_calls

WEATHER = {"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "required": ["city"],
    "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}}}}}
TIMER = {"type": "function", "function": {"name": "set_timer", "parameters": {
    "type": "object", "required": ["minutes"], "properties": {"minutes": {"type": "integer"}, "label": {"type": "string"}}}}}
TOOLS = [WEATHER, TIMER]


def test_parses_tagged_calls_single_and_list():
    text = '<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>'
    assert parse_tool_calls(text) == [ToolCall("get_weather", {"city": "Paris"})]
    text = '<tool_call>[{"name": "a", "arguments": {}}, {"name": "b", "arguments": {"x": 1}}]</tool_call>'
    assert parse_tool_calls(text) == [ToolCall("a", {}), ToolCall("b", {"x": 1})]
    assert parse_tool_calls("<tool_call>[]</tool_call> No tool needed.") == []


def test_parses_bare_fenced_and_openai_shaped_json():
    assert parse_tool_calls('Sure: {"name": "set_timer", "arguments": {"minutes": 5}} done') == [
        ToolCall("set_timer", {"minutes": 5})]
    fenced = '```json\n{"name": "set_timer", "parameters": {"minutes": 5}}\n```'
    assert parse_tool_calls(fenced) == [ToolCall("set_timer", {"minutes": 5})]
    openai = '{"type": "function", "function": {"name": "get_weather", "arguments": "{\\"city\\": \\"Rome\\"}"}}'
    assert parse_tool_calls(openai) == [ToolCall("get_weather", {"city": "Rome"})]


def test_non_calls_and_malformed_calls():
    assert parse_tool_calls("The weather in Paris is mild.") == []
    assert parse_tool_calls('{"city": "Paris"}') == []  # JSON, but not a call
    (malformed,) = parse_tool_calls('<tool_call>{"name": "get_weather", "arguments": {"city": </tool_call>')
    assert malformed.name == "" and malformed.error.startswith("malformed tool call")


def test_validate_arguments_against_schema():
    schema = WEATHER["function"]["parameters"]
    assert validate_arguments(schema, {"city": "Oslo", "unit": "celsius"}) == []
    assert validate_arguments(schema, {"unit": "kelvin", "town": "Oslo"}) == [
        "missing required argument 'city'", "argument 'unit' is 'kelvin', not one of ['celsius', 'fahrenheit']",
        "unknown argument 'town'"]
    timer = TIMER["function"]["parameters"]
    assert validate_arguments(timer, {"minutes": "12"}) == ["argument 'minutes' should be integer, got str '12'"]
    assert validate_arguments(timer, {"minutes": True}) == ["argument 'minutes' should be integer, got bool True"]


def test_score_expected_call():
    expect = {"name": "get_weather", "arguments": {"city": "Lisbon"}}
    good = '<tool_call>{"name": "get_weather", "arguments": {"city": " lisbon "}}</tool_call>'
    assert score_tool_answer(TOOLS, expect, good)[0] == 1.0
    assert score_tool_answer(TOOLS, expect, '<tool_call>{"name": "get_weather", "arguments": {"city": "Porto"}}'
                                            '</tool_call>') == (0.0, "get_weather: argument 'city' is 'Porto', expected 'Lisbon'")
    assert score_tool_answer(TOOLS, expect, '{"name": "set_timer", "arguments": {"minutes": 3}}') == (
        0.0, "called set_timer, expected get_weather")
    assert score_tool_answer(TOOLS, expect, "It is sunny in Lisbon.") == (0.0, "no tool call (expected get_weather)")
    invalid = '{"name": "get_weather", "arguments": {"city": "Lisbon", "unit": "kelvin"}}'
    assert score_tool_answer(TOOLS, expect, invalid)[0] == 0.0
    numbers = {"name": "set_timer", "arguments": {"minutes": 12}}
    assert score_tool_answer(TOOLS, numbers, '{"name": "set_timer", "arguments": {"minutes": 12}}')[0] == 1.0


def test_score_restraint_no_call_and_ask():
    call = '<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>'
    assert score_tool_answer(TOOLS, "no_call", "Octopuses have three hearts.") == (1.0, "answered without calling a tool")
    assert score_tool_answer(TOOLS, "no_call", call) == (0.0, "called get_weather, but no tool fits")
    assert score_tool_answer(TOOLS, "ask", "Which city would you like the forecast for?") == (
        1.0, "asked for the missing information")
    assert score_tool_answer(TOOLS, "ask", "It will be sunny.") == (
        0.0, "no call, but did not ask for the missing information")
    assert score_tool_answer(TOOLS, "ask", call)[0] == 0.0
