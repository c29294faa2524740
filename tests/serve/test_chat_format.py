"""Messages to prompts, model text to assistant messages, and the streaming delta rules."""

from __future__ import annotations

import json

import pytest

from posttrain.data.render import tool_call_text
from posttrain.serve.chat import ChatFormat, DeltaAssembler, assistant_message
from posttrain.serve.protocol import ApiError, ChatCompletionRequest, parse_body

WEATHER = {"type": "function", "function": {"name": "get_weather", "description": "Weather of a city.",
                                            "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                                                           "required": ["city"]}}}


def test_assistant_message_splits_tool_calls_from_content():
    text = 'Let me look. <tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>'
    content, calls = assistant_message(text, parse_tools=True)
    assert content == "Let me look. "
    assert [(c["type"], c["function"]["name"], json.loads(c["function"]["arguments"])) for c in calls] == [
        ("function", "get_weather", {"city": "Paris"})]
    assert calls[0]["id"].startswith("call_") and len(calls[0]["id"]) == 29


def test_assistant_message_bare_json_call_two_blocks_and_plain_text():
    content, calls = assistant_message('{"name": "add", "arguments": {"a": 1, "b": 2}}', parse_tools=True)
    assert content is None and json.loads(calls[0]["function"]["arguments"]) == {"a": 1, "b": 2}
    two = tool_call_text({"name": "a", "arguments": {}}) + "\n" + tool_call_text({"name": "b", "arguments": {"x": 1}})
    content, calls = assistant_message(two, parse_tools=True)
    assert content is None and [c["function"]["name"] for c in calls] == ["a", "b"]
    # Without tools, or with only malformed calls, the text stays content.
    assert assistant_message(two, parse_tools=False) == (two, [])
    assert assistant_message("<tool_call>{oops</tool_call>", parse_tools=True) == ("<tool_call>{oops</tool_call>", [])


def _chars(text: str) -> list[int]:
    """Token ids that are code points, with a decode back: streaming rules without a tokenizer."""
    return [ord(ch) for ch in text]


def _decode(ids: list[int]) -> str:
    return "".join(chr(i) for i in ids)


def _stream(text: str, stop: list[str], parse_tools: bool) -> tuple[list[str], str]:
    assembler = DeltaAssembler(_decode, stop, parse_tools)
    ids = _chars(text)
    deltas = [assembler.push(ids[: end + 1]) for end in range(len(ids))]
    content, _ = assistant_message(assembler.text(ids), parse_tools)
    deltas.append(assembler.finish(content))
    return [delta for delta in deltas if delta], content


def test_deltas_hold_back_a_possible_stop_string_and_cut_at_it():
    deltas, content = _stream("abc END def", stop=["END"], parse_tools=False)
    assert content == "abc "
    assert "".join(deltas) == "abc "
    # "E" and "EN" were held back while they could still become "END".
    assembler = DeltaAssembler(_decode, ["END"], False)
    assert assembler.push(_chars("abc E")) == "abc "
    assert assembler.push(_chars("abc EN")) == ""
    assert assembler.push(_chars("abc ENx")) == "ENx"


def test_deltas_never_show_a_tool_call_block_or_a_bare_json_call():
    text = 'Checking.<tool_call>{"name": "get_weather", "arguments": {"city": "Oslo"}}</tool_call>'
    deltas, content = _stream(text, stop=[], parse_tools=True)
    assert "".join(deltas) == "Checking." and not any("<" in delta for delta in deltas)
    assert content == "Checking."
    deltas, content = _stream('  {"name": "f", "arguments": {}}', stop=[], parse_tools=True)
    assert deltas == [] and content is None
    deltas, content = _stream('  {"not": "a call"}', stop=[], parse_tools=True)
    assert "".join(deltas) == '  {"not": "a call"}' == content


def test_deltas_wait_for_a_whole_utf8_character():
    assembler = DeltaAssembler(lambda ids: "é" if ids == [1, 2] else "a\ufffd" if ids == [3, 1] else "a", [], False)
    assert assembler.push([3]) == "a"
    assert assembler.push([3, 1]) == ""  # half of a character: nothing new yet


def test_template_without_tool_support_gets_tools_as_a_system_prompt_and_calls_as_text(tiny_lm):
    _, tokenizer = tiny_lm
    chat_format = ChatFormat.probe(tokenizer)
    assert not chat_format.native_tools  # the tiny ChatML template ignores tools=
    body = ChatCompletionRequest.model_validate({
        "model": "m", "tools": [WEATHER],
        "messages": [
            {"role": "developer", "content": "Be brief."},
            {"role": "user", "content": [{"type": "text", "text": "Weather"}, {"type": "text", "text": "in Oslo?"}]},
            {"role": "assistant", "content": None,
             "tool_calls": [{"id": "call_1", "type": "function",
                             "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "-3 C"},
        ]})
    messages = chat_format.template_messages(body.messages, body.tools)
    assert messages[0]["role"] == "system"
    # The tool prompt the SFT data and the evaluation use (posttrain.rollout.tools.tools_system_prompt).
    assert messages[0]["content"].startswith("Be brief.\n\nYou can call the following tools. Their JSON schemas:\n")
    assert json.dumps(WEATHER["function"]) in messages[0]["content"]
    assert messages[1] == {"role": "user", "content": "Weather\nin Oslo?"}
    assert messages[2] == {"role": "assistant", "content": "", "tool_calls": [
        {"type": "function", "id": "call_1", "function": {"name": "get_weather", "arguments": {"city": "Oslo"}}}]}
    assert messages[3] == {"role": "tool", "content": "-3 C", "tool_call_id": "call_1"}
    prompt = tokenizer.decode(chat_format.prompt_ids(messages, body.tools))
    assert prompt.endswith('<|im_start|>assistant\n<tool_call>{"name": "get_weather", "arguments": {"city": "Oslo"}}'
                           "</tool_call><|im_end|>\n<|im_start|>tool\n-3 C<|im_end|>\n<|im_start|>assistant\n")


@pytest.mark.parametrize("arguments, message", [
    ("[1, 2]", "must be a JSON object, as a string"),
    ('{"a": ', "must be a JSON object, as a string"),
    ('{"a": ' + "[" * 63 + "]" * 63 + "}", None),  # 64 levels: the most allowed
    ('{"a": "\ud800"}', None),  # a lone surrogate, as a JSON escape may give
    ('{"a": ' + "[" * 64 + "]" * 64 + "}", "nested more than 64 levels deep"),
    ("[" * 100_000, "nested more than 64 levels deep"),  # refused before json.loads could recurse
])
def test_tool_call_arguments_must_be_a_shallow_json_object(arguments, message):
    body = {"model": "m", "messages": [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "tool_calls": [{"function": {"name": "f", "arguments": "{}"}},
                                             {"function": {"name": "g", "arguments": arguments}}]}]}
    if message is None:
        parsed = parse_body(ChatCompletionRequest, json.dumps(body).encode())
        assert parsed.messages[1].tool_calls[1].function.argument_object() == json.loads(arguments)
        return
    with pytest.raises(ApiError) as caught:
        parse_body(ChatCompletionRequest, json.dumps(body).encode())
    param = "messages[1].tool_calls[1].function.arguments"
    assert (caught.value.status, caught.value.param, caught.value.message) == (400, param, f"{param}: {message}")


def test_a_reply_nested_too_deep_stays_content():
    """Parsing it as a call would recurse once per level; the user sees the text instead."""
    text = '<tool_call>{"name": "f", "arguments": {"a": ' + "[" * 3000 + "]" * 3000 + "}}</tool_call>"
    assert assistant_message(text, parse_tools=True) == (text, [])
