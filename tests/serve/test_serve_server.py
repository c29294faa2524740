"""The HTTP server, driven by the official ``openai`` client and by raw HTTP for bad input."""

from __future__ import annotations

import http.client
import json
import threading
import time
from urllib.parse import urlsplit

import httpx
import openai
import pytest
from scripted_scheduler import ScriptedScheduler

from posttrain.data.render import render_prompt
from posttrain.feedback.records import latest_by_id, read_records

HELLO = [{"role": "user", "content": "Hello there!"}]
WEATHER_TOOL = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather of a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}


def _client(base_url: str, api_key: str = "unused") -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{base_url}/v1", api_key=api_key, max_retries=0, timeout=30)


def _streamed(stream) -> tuple[dict[int, str], dict[int, str], object]:
    """Content and finish reason per choice index, and the usage chunk, from a chat stream."""
    texts: dict[int, str] = {}
    reasons: dict[int, str] = {}
    usage = None
    for chunk in stream:
        usage = chunk.usage or usage
        for choice in chunk.choices:
            texts[choice.index] = texts.get(choice.index, "") + (choice.delta.content or "")
            if choice.finish_reason:
                reasons[choice.index] = choice.finish_reason
    return texts, reasons, usage


def test_chat_models_usage_and_streaming_match(serve):
    base_url, _ = serve()
    client = _client(base_url)
    assert [model.id for model in client.models.list().data] == ["tiny"]
    settings = {"model": "tiny", "messages": HELLO, "max_tokens": 12, "temperature": 0.8, "seed": 3}
    reply = client.chat.completions.create(**settings, extra_body={"ignore_eos": True})
    assert reply.id.startswith("chatcmpl-") and reply.object == "chat.completion" and reply.model == "tiny"
    assert reply.choices[0].finish_reason == "length" and reply.choices[0].message.role == "assistant"
    assert reply.usage.completion_tokens == 12 and reply.usage.prompt_tokens == 16 and reply.usage.total_tokens == 28
    stream = client.chat.completions.create(**settings, extra_body={"ignore_eos": True}, stream=True,
                                            stream_options={"include_usage": True})
    texts, reasons, usage = _streamed(stream)
    assert texts == {0: reply.choices[0].message.content} and reasons == {0: "length"}
    assert (usage.prompt_tokens, usage.completion_tokens) == (16, 12)
    # max_completion_tokens is the newer name of the same limit.
    newer = client.chat.completions.create(model="tiny", messages=HELLO, max_completion_tokens=5, temperature=0,
                                           extra_body={"ignore_eos": True})
    assert newer.usage.completion_tokens == 5


def test_n_choices_stream_and_stop(serve):
    base_url, _ = serve()
    client = _client(base_url)
    settings = {"model": "tiny", "messages": HELLO, "max_tokens": 8, "temperature": 1.0, "seed": 11, "n": 3,
                "extra_body": {"ignore_eos": True}}
    reply = client.chat.completions.create(**settings)
    assert [choice.index for choice in reply.choices] == [0, 1, 2]
    assert reply.usage.completion_tokens == 24 and reply.usage.prompt_tokens == 16  # the prompt counts once
    assert len({choice.message.content for choice in reply.choices}) == 3
    texts, reasons, _ = _streamed(client.chat.completions.create(**settings, stream=True))
    assert texts == {choice.index: choice.message.content for choice in reply.choices}
    assert reasons == {0: "length", 1: "length", 2: "length"}

    full = client.chat.completions.create(model="tiny", messages=HELLO, max_tokens=30, temperature=0,
                                          extra_body={"ignore_eos": True}).choices[0].message.content
    start = next(i for i in range(3, len(full) - 2) if full[i:i + 2].isalnum() and full.find(full[i:i + 2]) == i)
    stop = full[start:start + 2]
    stopped = client.chat.completions.create(model="tiny", messages=HELLO, max_tokens=30, temperature=0, stop=[stop],
                                             extra_body={"ignore_eos": True})
    assert stopped.choices[0].message.content == full[:start]
    assert stopped.choices[0].finish_reason == "stop"
    texts, reasons, _ = _streamed(client.chat.completions.create(
        model="tiny", messages=HELLO, max_tokens=30, temperature=0, stop=stop, stream=True,
        extra_body={"ignore_eos": True}))
    assert texts == {0: full[:start]} and reasons == {0: "stop"}


def test_tools_round_trip_with_the_official_client(serve, tiny_lm):
    """An agent loop: the model calls a tool, the client runs it and sends the result back."""
    call = '<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>'

    def reply(prompt: str) -> str:
        return "It is 21 C in Paris." if "<|im_start|>tool\n" in prompt else "Let me check." + call

    scripted = ScriptedScheduler(tiny_lm[1], reply)
    base_url, _ = serve(scheduler=scripted)
    client = _client(base_url)
    messages = [{"role": "user", "content": "Weather in Paris?"}]
    first = client.chat.completions.create(model="tiny", messages=messages, tools=[WEATHER_TOOL])
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content == "Let me check."
    (tool_call,) = choice.message.tool_calls
    assert tool_call.function.name == "get_weather" and json.loads(tool_call.function.arguments) == {"city": "Paris"}
    assert "You can call the following tools" in scripted.prompts[0] and '"name": "get_weather"' in scripted.prompts[0]

    messages += [choice.message, {"role": "tool", "tool_call_id": tool_call.id, "content": "21 C"}]
    second = client.chat.completions.create(model="tiny", messages=messages, tools=[WEATHER_TOOL])
    assert second.choices[0].message.content == "It is 21 C in Paris." and second.choices[0].finish_reason == "stop"
    # The model saw its own call written back as text, then the tool's result.
    assert scripted.prompts[1].endswith(f"<|im_start|>assistant\nLet me check.\n{call.replace('}}', '}}')}<|im_end|>\n"
                                        "<|im_start|>tool\n21 C<|im_end|>\n<|im_start|>assistant\n")

    stream = client.chat.completions.create(model="tiny", messages=messages[:1], tools=[WEATHER_TOOL], stream=True)
    content, calls, reasons = "", [], []
    for chunk in stream:
        delta = chunk.choices[0].delta
        content += delta.content or ""
        calls += delta.tool_calls or []
        reasons.append(chunk.choices[0].finish_reason)
    assert content == "Let me check." and reasons[-1] == "tool_calls"
    assert [(c.index, c.function.name, json.loads(c.function.arguments)) for c in calls] == [
        (0, "get_weather", {"city": "Paris"})]
    # tool_choice="none": the same text stays plain content.
    plain = client.chat.completions.create(model="tiny", messages=messages[:1], tools=[WEATHER_TOOL], tool_choice="none")
    assert plain.choices[0].message.content == "Let me check." + call and plain.choices[0].message.tool_calls is None


def test_tools_are_rendered_for_the_real_model(serve):
    base_url, _ = serve()
    client = _client(base_url)
    plain = client.chat.completions.create(model="tiny", messages=HELLO, max_tokens=1, temperature=0)
    with_tools = client.chat.completions.create(model="tiny", messages=HELLO, max_tokens=1, temperature=0,
                                                tools=[WEATHER_TOOL])
    assert with_tools.usage.prompt_tokens > plain.usage.prompt_tokens + 30  # the tool listing is in the prompt


def test_feedback_round_trip_to_jsonl(serve, tmp_path):
    path = tmp_path / "served.jsonl"
    base_url, _ = serve(feedback_file=str(path))
    client = _client(base_url)
    reply = client.chat.completions.create(model="tiny", messages=HELLO, max_tokens=6, n=2, temperature=1.0, seed=1,
                                           extra_body={"ignore_eos": True})
    texts, _, _ = _streamed(client.chat.completions.create(model="tiny", messages=HELLO, max_tokens=4, stream=True,
                                                           temperature=0, extra_body={"ignore_eos": True}))
    choice = client.post("/feedback", body={"id": reply.id, "preferred": 1}, cast_to=httpx.Response).json()
    assert choice == {"id": reply.id, "object": "feedback", "thumbs": None, "preferred": 1}
    thumbs = httpx.post(f"{base_url}/v1/feedback", json={"id": reply.id, "thumbs": "down"}).json()
    assert thumbs == {"id": reply.id, "object": "feedback", "thumbs": "down", "preferred": 1}

    records = read_records(str(path))
    assert [record.id for record in records] == [reply.id, records[1].id, reply.id, reply.id]
    latest = {record.id: record for record in latest_by_id(records)}
    judged = latest[reply.id]
    assert (judged.kind, judged.model, judged.thumbs, judged.preferred) == ("served", "tiny", "down", 1)
    assert judged.prompt == HELLO
    assert [answer.text for answer in judged.answers] == [c.message.content for c in reply.choices]
    assert [answer.text for answer in latest[records[1].id].answers] == [texts[0]]  # the streamed one

    unknown = httpx.post(f"{base_url}/v1/feedback", json={"id": "chatcmpl-nope", "thumbs": "up"})
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "response_not_found"
    bad_choice = httpx.post(f"{base_url}/v1/feedback", json={"id": reply.id, "preferred": 2})
    assert bad_choice.status_code == 400 and bad_choice.json()["error"]["param"] == "preferred"
    empty = httpx.post(f"{base_url}/v1/feedback", json={"id": reply.id})
    assert empty.status_code == 400 and "thumbs" in empty.json()["error"]["message"]


def test_feedback_is_a_404_when_collection_is_off(serve):
    base_url, _ = serve()
    response = httpx.post(f"{base_url}/v1/feedback", json={"id": "chatcmpl-1", "thumbs": "up"})
    assert response.status_code == 404 and response.json()["error"]["code"] == "feedback_off"


BAD_BODIES = [
    (b"{not json", 400, None),
    (b"[1, 2]", 400, None),
    (b'{"model": "tiny"}', 400, "messages"),
    (b'{"messages": [{"role": "user", "content": "x"}]}', 400, "model"),
    (b'{"model": "tiny", "messages": []}', 400, "messages"),
    (b'{"model": "tiny", "messages": [{"role": "robot", "content": "x"}]}', 400, "messages[0].role"),
    (b'{"model": "tiny", "messages": [{"role": "user"}]}', 400, "messages[0]"),
    (b'{"model": "tiny", "messages": [{"role": "user", "content": 5}]}', 400, "messages[0].content.str"),
    (b'{"model": "tiny", "messages": [{"role": "user", "content": "x"}], "temperature": "hot"}', 400, "temperature"),
    (b'{"model": "tiny", "messages": [{"role": "user", "content": "x"}], "temperature": 3}', 400, "temperature"),
    (b'{"model": "tiny", "messages": [{"role": "user", "content": "x"}], "n": 0}', 400, "n"),
    (b'{"model": "tiny", "messages": [{"role": "user", "content": "x"}], "top_p": NaN}', 400, "top_p"),
    (b'{"model": "tiny", "messages": [{"role": "user", "content": "x"}], "seed": 1.5}', 400, "seed"),
    (b'{"model": "tiny", "messages": [{"role": "user", "content": "x"}], "max_tokens": "9"}', 400, "max_tokens"),
    (b'{"model": "tiny", "messages": [{"role": "user", "content": "x"}], "stop": ["a","b","c","d","e"]}', 400, "stop"),
    (b'{"model": "tiny", "messages": [{"role": "user", "content": "x"}], "stop": "' + b"s" * 257 + b'"}', 400, "stop"),
    (b'{"model": "tiny", "messages": [{"role": "user", "content": "x"}], "max_tokens": 5000}', 400, "messages"),
    (b'{"model": "tiny", "messages": [{"role": "user", "content": "x"}], "tools": [{"type": "function"}]}', 400,
     "tools[0].function"),
    (b'{"model": "tiny", "messages": [{"role": "user", "content": "x"}], "stream": "yes"}', 400, "stream"),
    (b'{"model": "other", "messages": [{"role": "user", "content": "x"}]}', 404, "model"),
    (b"[" * 100_000 + b"]" * 100_000, 413, None),
    (b'{"model": "tiny", "messages": [{"role": "user", "content": "' + b"x" * 5000 + b'"}]}', 413, None),
]


def test_bad_input_gets_openai_error_bodies_never_a_500(serve):
    base_url, _ = serve(max_request_bytes=4096)
    with httpx.Client(base_url=base_url) as http:
        for body, status, param in BAD_BODIES:
            response = http.post("/v1/chat/completions", content=body, headers={"content-type": "application/json"})
            error = response.json()["error"]
            assert (response.status_code, error["param"]) == (status, param), body[:80]
            assert error["message"] and error["type"] in ("invalid_request_error",)
        deep = http.post("/v1/chat/completions", content=b"[" * 2000 + b"]" * 2000)
        assert deep.status_code == 400 and deep.json()["error"] == {
            "message": "the request body: nested more than 64 levels deep", "type": "invalid_request_error",
            "param": None, "code": "invalid_value"}
        chunked = http.post("/v1/chat/completions", content=iter([b"{" + b" " * 3000, b" " * 3000 + b"}"]))
        assert chunked.status_code == 413  # no Content-Length: counted while reading
        assert http.get("/v1/nowhere").json()["error"]["code"] == "not_found"
        wrong_method = http.get("/v1/chat/completions")
        assert wrong_method.status_code == 405 and "error" in wrong_method.json()
    with pytest.raises(openai.BadRequestError) as caught:
        _client(base_url).chat.completions.create(model="tiny", messages=HELLO, top_p=0)
    assert caught.value.body["param"] == "top_p"


def _nested(levels: int) -> str:
    return "[" * levels + "]" * levels


def _call_message(arguments: str) -> dict:
    return {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": arguments}}]}


NESTED_BODIES = [  # (body, param): each nested past the 64 levels a request may use
    ({"messages": [_call_message('{"city": ' + _nested(3000) + "}"), *HELLO]},
     "messages[0].tool_calls[0].function.arguments"),
    ({"messages": HELLO, "tools": [{**WEATHER_TOOL, "function": {**WEATHER_TOOL["function"], "parameters": {
        "type": "object", "properties": {"city": json.loads(_nested(100))}}}}]}, "tools[0].function.parameters"),
    ({"messages": [{"role": "user", "content": json.loads(_nested(200))}]}, "messages[0].content[0]"),
    ({"messages": HELLO, "metadata": {"a": json.loads(_nested(900))}}, "metadata"),  # unknown fields too
]


def test_nested_json_is_a_400_naming_the_field_on_a_connection_that_stays_open(serve):
    base_url, _ = serve()
    connection = http.client.HTTPConnection(urlsplit(base_url).hostname, urlsplit(base_url).port, timeout=30)

    def post(body: bytes) -> tuple[int, dict]:
        connection.request("POST", "/v1/chat/completions", body, {"Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, json.loads(response.read())

    status, reply = post(json.dumps({"model": "tiny", "messages": HELLO, "max_tokens": 1}).encode())
    assert status == 200
    kept_alive = connection.sock
    too_deep = [(json.dumps({"model": "tiny", **body}).encode(), param) for body, param in NESTED_BODIES]
    too_deep.append((_nested(100_000).encode(), None))  # 200 kB, deep enough to crash a recursive parser
    for body, param in too_deep:
        status, reply = post(body)
        assert (status, reply) == (400, {"error": {
            "message": f"{param or 'the request body'}: nested more than 64 levels deep",
            "type": "invalid_request_error", "param": param, "code": "invalid_value"}})
        assert connection.sock is kept_alive  # the same socket: no reset after any of them
    # 64 levels of arguments are allowed, and rendered for the model
    status, reply = post(json.dumps({"model": "tiny", "max_tokens": 1, "messages": [
        _call_message('{"city": ' + _nested(63) + "}"), *HELLO]}).encode())
    assert status == 200 and reply["object"] == "chat.completion" and connection.sock is kept_alive
    connection.close()


def test_a_prompt_past_the_context_is_a_400_saying_what_fits(serve, tiny_lm):
    base_url, app = serve()
    client = _client(base_url)
    context = app.state.service.context_length
    assert context == 1024  # the tiny model's max_position_embeddings

    def refusal(messages, **settings) -> dict:
        with pytest.raises(openai.BadRequestError) as caught:
            client.chat.completions.create(model="tiny", messages=messages, **settings)
        assert (caught.value.body["param"], caught.value.body["code"]) == ("messages", "context_length_exceeded")
        return caught.value.body["message"]

    near_full = [{"role": "user", "content": "x " * 480}]
    prompt = len(render_prompt(near_full, tiny_lm[1]))
    room = context - prompt
    assert 0 < room < 100
    filled = client.chat.completions.create(model="tiny", messages=near_full, extra_body={"ignore_eos": True})
    assert filled.usage.prompt_tokens == prompt
    assert filled.usage.completion_tokens == room  # the default max_tokens (512) shrinks to what fits
    exact = client.chat.completions.create(model="tiny", messages=near_full, max_tokens=room)
    assert exact.usage.prompt_tokens == prompt
    assert refusal(near_full, max_tokens=room + 1) == (
        f"the prompt has {prompt} tokens and max_tokens is {room + 1}, but the model's context is 1024 tokens: "
        f"at most {room} new tokens fit after this prompt")

    too_long = [{"role": "user", "content": "x " * 3000}]
    prompt = len(render_prompt(too_long, tiny_lm[1]))
    assert prompt > context
    assert refusal(too_long) == (f"the prompt has {prompt} tokens, but the model's context is 1024 tokens: "
                                 "a prompt can have at most 1023 tokens to leave room for 1 new token")
    assert refusal(too_long, max_tokens=5) == (
        f"the prompt has {prompt} tokens and max_tokens is 5, but the model's context is 1024 tokens: "
        "a prompt can have at most 1019 tokens to leave room for 5 new tokens")
    assert refusal(too_long, max_tokens=2000) == (
        f"the prompt has {prompt} tokens and max_tokens is 2000, but the model's context is 1024 tokens: "
        "max_tokens must be less than 1024")
    assert refusal(HELLO, max_tokens=2000) == ("the prompt has 16 tokens and max_tokens is 2000, but the model's "
                                               "context is 1024 tokens: at most 1008 new tokens fit after this prompt")


def test_api_keys(serve):
    base_url, _ = serve(api_keys=["k-one", "k-two"])
    with pytest.raises(openai.AuthenticationError) as caught:
        _client(base_url, api_key="wrong").models.list()
    assert caught.value.body["code"] == "invalid_api_key"
    assert httpx.post(f"{base_url}/v1/chat/completions", json={}).status_code == 401  # before any validation
    reply = _client(base_url, api_key="k-two").chat.completions.create(model="tiny", messages=HELLO, max_tokens=2)
    assert reply.choices[0].message.role == "assistant"
    assert httpx.get(f"{base_url}/health").json()["status"] == "ok"


def test_full_queue_answers_429_with_retry_after(serve):
    base_url, app = serve(max_batch_size=1, max_queue=1)
    long_request = {"model": "tiny", "messages": HELLO, "max_tokens": 900, "ignore_eos": True, "stream": True}
    with httpx.Client(base_url=base_url, timeout=30) as http, http.stream("POST", "/v1/chat/completions",
                                                                          json=long_request) as running:
        lines = running.iter_lines()  # kept: a dropped line iterator closes the connection
        assert next(lines).startswith("data: ")  # the first request holds the only batch slot
        waiting = threading.Thread(target=httpx.post, args=(f"{base_url}/v1/chat/completions",),
                                   kwargs={"json": {**long_request, "stream": False, "max_tokens": 3}, "timeout": 30})
        waiting.start()
        deadline = time.monotonic() + 10
        while (health := http.get("/health").json())["waiting"] != 1:
            assert time.monotonic() < deadline, health
            time.sleep(0.01)
        refused = http.post("/v1/chat/completions", json={**long_request, "stream": False})
        assert refused.status_code == 429 and refused.headers["retry-after"] == "1"
        assert refused.json()["error"]["type"] == "rate_limit_error"
    waiting.join(timeout=30)  # closing the stream cancelled the first request, so the second ran
    assert not waiting.is_alive()
    assert app.state.scheduler.wait_idle()
    assert app.state.scheduler.stats["cancelled"] == 1 and app.state.scheduler.stats["completed"] == 1


def test_client_disconnect_cancels_generation(serve):
    base_url, app = serve()
    scheduler = app.state.scheduler
    body = {"model": "tiny", "messages": HELLO, "max_tokens": 900, "ignore_eos": True}
    with httpx.Client(base_url=base_url, timeout=30) as http:
        with http.stream("POST", "/v1/chat/completions", json={**body, "stream": True}) as response:
            chunks = (line for line in response.iter_lines() if line.startswith("data: "))
            assert [json.loads(next(chunks)[6:])["object"] for _ in range(3)] == ["chat.completion.chunk"] * 3
        with pytest.raises(httpx.ReadTimeout):  # a non-streaming client that gives up
            http.post("/v1/chat/completions", json=body, timeout=0.3)
    assert scheduler.wait_idle()
    assert scheduler.stats["cancelled"] == 2 and scheduler.stats["completed"] == 0
    assert scheduler.stats["tokens"] < 600  # neither ran to its 900 tokens


def test_timeout_gives_504_and_a_stream_error_event(serve, tiny_lm):
    base_url, _ = serve(scheduler=ScriptedScheduler(tiny_lm[1], lambda prompt: None), timeout=0.3)
    with pytest.raises(openai.APIStatusError) as caught:
        _client(base_url).chat.completions.create(model="tiny", messages=HELLO)
    assert caught.value.status_code == 504 and caught.value.body["code"] == "timeout"
    with pytest.raises(openai.APIError, match="timed out"):
        list(_client(base_url).chat.completions.create(model="tiny", messages=HELLO, stream=True))


def test_feedback_round_trip_to_the_store(serve, tmp_path):
    from posttrain.feedback.store import FeedbackStore

    url = f"sqlite:///{tmp_path / 'feedback.db'}"
    base_url, _ = serve(feedback_db=url)
    reply = _client(base_url).chat.completions.create(model="tiny", messages=HELLO, max_tokens=3, n=2, temperature=1.0)
    assert httpx.post(f"{base_url}/v1/feedback", json={"id": reply.id, "thumbs": "up"}).json()["thumbs"] == "up"
    assert httpx.post(f"{base_url}/v1/feedback", json={"id": "chatcmpl-nope", "thumbs": "up"}).status_code == 404
    assert httpx.post(f"{base_url}/v1/feedback", json={"id": reply.id, "preferred": 7}).status_code == 400
    store = FeedbackStore(url)
    try:
        (record,) = store.export_records()
    finally:
        store.close()
    assert (record.id, record.kind, record.thumbs, record.prompt) == (reply.id, "served", "up", HELLO)
    assert [answer.text for answer in record.answers] == [choice.message.content for choice in reply.choices]


def test_serve_refuses_to_bind_beyond_loopback_without_a_key(tiny_model, monkeypatch):
    from click.testing import CliRunner

    from posttrain.cli import cli
    from posttrain.errors import UserError
    from posttrain.serve.app import ServeConfig, check_binding

    monkeypatch.delenv("POSTTRAIN_API_KEYS", raising=False)
    result = CliRunner().invoke(cli, ["serve", tiny_model, "--host", "0.0.0.0"])
    assert isinstance(result.exception, UserError) and "--api-key" in str(result.exception)
    for host in ("127.0.0.1", "localhost", "::1"):
        check_binding(ServeConfig(model=tiny_model, host=host))
    check_binding(ServeConfig(model=tiny_model, host="0.0.0.0", api_keys=["k"]))
    with pytest.raises(UserError):
        check_binding(ServeConfig(model=tiny_model, host="my-host.example"))


def test_serve_cli_passes_the_connection_timeouts_to_uvicorn(tiny_model, monkeypatch):
    import uvicorn
    from click.testing import CliRunner

    from posttrain.cli import cli

    started = []

    class FakeServer:
        def __init__(self, config):
            self.config = config

        def run(self):
            started.append(self.config)

    monkeypatch.setattr("posttrain.serve.app.create_app", lambda config: "the app")
    monkeypatch.setattr("logging.basicConfig", lambda **settings: None)  # leave the test session's logging alone
    monkeypatch.setattr(uvicorn, "Server", FakeServer)
    result = CliRunner().invoke(cli, ["serve", tiny_model, "--read-timeout", "7", "--keep-alive-timeout", "3"])
    assert result.exit_code == 0, result.output
    (config,) = started
    assert (config.app, config.host, config.timeout_keep_alive, config.access_log) == ("the app", "127.0.0.1", 3, False)
    assert config.http.func.__name__ == "TimedH11Protocol" and config.http.keywords == {"read_timeout": 7}
    refused = CliRunner().invoke(cli, ["serve", tiny_model, "--read-timeout", "0"])
    assert refused.exit_code == 2 and "--read-timeout" in refused.output


def test_served_records_name_the_client_by_a_fingerprint_of_its_key_never_the_key(serve, tmp_path):
    """The loop deduplicates and caps feedback per client: the record carries k- + sha256(key)[:16]."""
    import hashlib

    from posttrain.feedback.store import FeedbackStore

    url = f"sqlite:///{tmp_path / 'feedback.db'}"
    base_url, _ = serve(feedback_db=url, api_keys=["secret-key-one", "secret-key-two"])
    client = openai.OpenAI(base_url=f"{base_url}/v1", api_key="secret-key-two", max_retries=0)
    reply = client.chat.completions.create(model="tiny", messages=HELLO, max_tokens=3)
    client.post("/feedback", body={"id": reply.id, "thumbs": "up"}, cast_to=httpx.Response)
    store = FeedbackStore(url)
    try:
        (record,) = store.export_records()
    finally:
        store.close()
    assert record.client == "k-" + hashlib.sha256(b"secret-key-two").hexdigest()[:16]
    assert b"secret-key-two" not in (tmp_path / "feedback.db").read_bytes()
