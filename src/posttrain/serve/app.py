"""The OpenAI-compatible HTTP app: chat completions (plain and streamed), models, feedback.

Routes:

- ``POST /v1/chat/completions``: ``messages``, ``n``, ``temperature``, ``top_p``, ``max_tokens`` /
  ``max_completion_tokens``, ``stop``, ``seed``, ``stream`` (server-sent events, with
  ``stream_options.include_usage``), ``tools`` (rendered through the chat template; the model's
  ``<tool_call>`` output comes back as ``tool_calls``, also while streaming);
- ``GET /v1/models``: the one served model;
- ``POST /v1/feedback``: ``{"id": <response id>, "thumbs": "up"|"down", "preferred": <choice index>}``
  on a served response (when feedback collection is on, every response is recorded with its prompt);
- ``GET /health``: liveness and the scheduler's queue, without authentication.

Every error is an OpenAI-style body ``{"error": {"message", "type", "param", "code"}}``: 400 for
bad input (never a 500), 401 without a valid API key, 404 for unknown models and response ids,
408 for a body slower than ``read_timeout``, 413 for oversize bodies, 429 with ``Retry-After`` when
the queue is full, 504 on timeout. Requests are logged, one INFO line each, without their content
unless ``log_content`` is on; a client that leaves before its answer is complete is logged as 499.

Example::

    config = ServeConfig(model="smollm2-135m")
    app = create_app(config)
    uvicorn.Server(server_config(app, config)).run()  # posttrain.serve.connections: timeouts uvicorn lacks
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import ipaddress
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI
from fastapi import Request as HttpRequest
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from posttrain.data.render import end_of_turn_ids
from posttrain.errors import UserError
from posttrain.feedback.records import Answer, FeedbackRecord
from posttrain.rollout.generate import SamplingParams
from posttrain.serve.chat import ChatFormat, DeltaAssembler, assistant_message
from posttrain.serve.config import ServeConfig
from posttrain.serve.feedback import FeedbackSink, UnknownResponse, open_sink
from posttrain.serve.protocol import (
    ApiError,
    ChatCompletionRequest,
    FeedbackRequest,
    parse_body,
)
from posttrain.serve.scheduler import QueueFull, Request, Scheduler, SchedulerConfig

log = logging.getLogger("posttrain.serve")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name other than localhost may resolve anywhere


def check_binding(config: ServeConfig) -> None:
    """Refuse to listen beyond loopback without an API key."""
    if not is_loopback(config.host) and not config.api_keys:
        raise UserError(f"binding to {config.host} exposes the model beyond this machine: "
                        "give --api-key KEY (or POSTTRAIN_API_KEYS), or bind to 127.0.0.1")


def _error_response(error: ApiError) -> JSONResponse:
    return JSONResponse(error.body(), status_code=error.status, headers=error.headers)


async def read_body(request: HttpRequest, limit: int, timeout: float) -> bytes:
    """The request body: 413 past ``limit`` bytes (checked while reading), 408 when it takes more than
    ``timeout`` seconds to arrive, 499 when the client leaves first."""
    too_large = ApiError(413, f"request body larger than {limit} bytes", code="request_too_large")
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise ApiError(400, "invalid Content-Length header")
        if int(declared) > limit:
            raise too_large
    body = bytearray()
    try:
        async with asyncio.timeout(timeout):
            async for chunk in request.stream():
                body += chunk
                if len(body) > limit:
                    raise too_large
    except TimeoutError:
        # Connection: close, since the rest of a body that slow is not worth waiting for
        raise ApiError(408, f"the request body did not arrive within {timeout:g} seconds", code="request_timeout",
                       headers={"Connection": "close"}) from None
    except ClientDisconnect:
        raise ApiError(499, "the client closed the connection", code="client_closed_request") from None
    return bytes(body)


def _usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens}


class _Completion:
    """One request in flight: its events, the token ids so far and how each choice ended."""

    def __init__(self, generation: Request, timeout: float):
        self.generation = generation
        self.deadline = time.monotonic() + timeout
        n = generation.params.n
        self.token_ids: list[list[int]] = [[] for _ in range(n)]
        self.finish_reasons: list[str | None] = [None] * n

    async def events(self) -> AsyncIterator[tuple]:
        """Token and finish events until every choice finished; 504 at the deadline; stops on disconnect."""
        while None in self.finish_reasons:
            remaining = self.deadline - time.monotonic()
            try:
                event = await asyncio.wait_for(self.generation.events.get(), max(remaining, 0))
            except TimeoutError:
                self.generation.cancel()
                raise ApiError(504, "the request timed out", type="timeout", code="timeout") from None
            if event[0] == "disconnected":
                return
            if event[0] == "error":
                raise ApiError(503, event[1], type="server_error", code="generation_failed")
            _, index, value = event
            if event[0] == "token":
                self.token_ids[index].append(value)
            else:
                self.finish_reasons[index] = value
            yield event

    @property
    def done(self) -> bool:
        return None not in self.finish_reasons


async def _watch_disconnect(request: HttpRequest, generation: Request) -> None:
    """Cancel ``generation`` when the client goes away (the body is read, so only disconnects arrive)."""
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            generation.cancel()
            generation.events.put_nowait(("disconnected",))
            return


class ChatService:
    """What the routes call: builds prompts, queues generations, shapes responses, records them."""

    def __init__(self, config: ServeConfig, model, tokenizer, scheduler, sink: FeedbackSink | None):
        self.config, self.tokenizer, self.scheduler, self.sink = config, tokenizer, scheduler, sink
        self.chat_format = ChatFormat.probe(tokenizer)
        self.context_length = getattr(getattr(model, "config", None), "max_position_embeddings", None)
        self.eos_token_ids = end_of_turn_ids(tokenizer, model)
        self.created = int(time.time())

    def decode(self, token_ids: list[int]) -> str:
        return self.tokenizer.decode(token_ids, skip_special_tokens=True)

    def prepare(self, body: ChatCompletionRequest) -> tuple[list[dict], Request]:
        if body.model != self.config.name:
            raise ApiError(404, f"model '{body.model}' is not served here; this server serves '{self.config.name}'",
                           param="model", code="model_not_found")
        messages = self.chat_format.template_messages(body.messages, body.tools)
        prompt_ids = self.chat_format.prompt_ids(messages, body.tools)
        asked = body.token_limit()
        max_tokens = asked or self.config.default_max_tokens
        if self.context_length:
            room = self.context_length - len(prompt_ids)
            if room < 1 or (asked or 0) > room:
                raise self._context_exceeded(len(prompt_ids), asked)
            max_tokens = min(max_tokens, room)  # only the default shrinks to fit; an asked limit fits or is refused
        try:
            params = SamplingParams(max_new_tokens=max_tokens, temperature=body.temperature, top_p=body.top_p,
                                    n=body.n, stop=body.stop_strings(), seed=body.seed)
        except UserError as error:
            raise ApiError(400, str(error)) from None
        return messages, Request(prompt_ids, params, ignore_eos=body.ignore_eos)

    def _context_exceeded(self, prompt_tokens: int, asked: int | None) -> ApiError:
        """The 400 for a prompt (plus the max_tokens asked) longer than the context, saying what fits."""
        context, room, needed = self.context_length, self.context_length - prompt_tokens, asked or 1
        if room >= 1:
            fits = f"at most {room} new tokens fit after this prompt"
        elif needed < context:
            fits = f"a prompt can have at most {context - needed} tokens to leave room for {needed} new token" + (
                "s" if needed > 1 else "")
        else:
            fits = f"max_tokens must be less than {context}"
        return ApiError(400, f"the prompt has {prompt_tokens} tokens" + (f" and max_tokens is {asked}" if asked else "")
                        + f", but the model's context is {context} tokens: {fits}", param="messages",
                        code="context_length_exceeded")

    def submit(self, generation: Request) -> None:
        try:
            self.scheduler.submit(generation)
        except QueueFull:
            raise ApiError(429, "the server is busy: too many requests are waiting; retry later", type="rate_limit_error",
                           code="queue_full", headers={"Retry-After": str(self.config.retry_after)}) from None

    def _assembler(self, body: ChatCompletionRequest) -> DeltaAssembler:
        return DeltaAssembler(self.decode, body.stop_strings(), self._parse_tools(body), self.eos_token_ids)

    @staticmethod
    def _parse_tools(body: ChatCompletionRequest) -> bool:
        return bool(body.tools) and body.tool_choice != "none"

    def _choice(self, body: ChatCompletionRequest, completion: _Completion, index: int) -> tuple[str, dict]:
        text = self._assembler(body).text(completion.token_ids[index])
        content, tool_calls = assistant_message(text, self._parse_tools(body))
        message: dict[str, Any] = {"role": "assistant", "content": content}
        if tool_calls:
            message["tool_calls"] = tool_calls
        finish = "tool_calls" if tool_calls else completion.finish_reasons[index]
        return text, {"index": index, "message": message, "logprobs": None, "finish_reason": finish}

    async def record(self, response_id: str, messages: list[dict], texts: list[str],
                     request: HttpRequest | None = None) -> None:
        if self.sink is None:
            return
        record = FeedbackRecord(kind="served", id=response_id, model=self.config.name, prompt=messages,
                                answers=[Answer(text=text, source=self.config.name) for text in texts],
                                created=datetime.now(UTC).isoformat(timespec="seconds"),
                                client=client_fingerprint(request, self.config.api_keys))
        try:
            await asyncio.to_thread(self.sink.record_served, record)
        except Exception:  # the user still gets the answer; the operator gets the traceback
            log.exception("%s could not be recorded for feedback", response_id)

    def log_request(self, response_id: str, status: int, completion: _Completion | None, started: float,
                    messages: list[dict] | None = None, texts: list[str] | None = None) -> None:
        tokens = sum(len(ids) for ids in completion.token_ids) if completion else 0
        prompt = len(completion.generation.prompt_ids) if completion else 0
        log.info("%s status=%d prompt_tokens=%d completion_tokens=%d seconds=%.2f", response_id, status, prompt, tokens,
                 time.monotonic() - started)
        if self.config.log_content and messages is not None:
            log.info("%s messages=%s answers=%s", response_id, json.dumps(messages, ensure_ascii=False),
                     json.dumps(texts, ensure_ascii=False))

    async def complete(self, request: HttpRequest, body: ChatCompletionRequest, response_id: str, started: float):
        messages, generation = self.prepare(body)
        self.submit(generation)
        completion = _Completion(generation, self.config.timeout)
        watcher = asyncio.create_task(_watch_disconnect(request, generation))
        try:
            async for _ in completion.events():
                pass
        finally:
            watcher.cancel()
            generation.cancel()  # a no-op once every choice finished
        if not completion.done:  # the client left; nobody reads an answer
            self.log_request(response_id, 499, completion, started)
            return JSONResponse({}, status_code=499)
        texts, choices = zip(*(self._choice(body, completion, index) for index in range(body.n)))
        await self.record(response_id, messages, list(texts), request)
        self.log_request(response_id, 200, completion, started, messages, list(texts))
        return {"id": response_id, "object": "chat.completion", "created": int(time.time()), "model": self.config.name,
                "choices": list(choices), "system_fingerprint": None,
                "usage": _usage(len(generation.prompt_ids), sum(len(ids) for ids in completion.token_ids))}

    def stream(self, request: HttpRequest, body: ChatCompletionRequest, response_id: str, started: float):
        messages, generation = self.prepare(body)
        self.submit(generation)
        return StreamingResponse(self._events(request, body, response_id, started, messages, generation),
                                 media_type="text/event-stream", headers={"Cache-Control": "no-cache"})

    async def _events(self, request, body, response_id, started, messages, generation) -> AsyncIterator[str]:
        created = int(time.time())
        include_usage = bool(body.stream_options and body.stream_options.include_usage)

        def chunk(choices: list[dict], usage: dict | None = None) -> str:
            data = {"id": response_id, "object": "chat.completion.chunk", "created": created,
                    "model": self.config.name, "system_fingerprint": None, "choices": choices}
            if include_usage:
                data["usage"] = usage
            return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"

        def delta(index: int, content: dict, finish_reason: str | None = None) -> str:
            return chunk([{"index": index, "delta": content, "logprobs": None, "finish_reason": finish_reason}])

        completion = _Completion(generation, self.config.timeout)
        assemblers = [self._assembler(body) for _ in range(body.n)]
        texts = [""] * body.n
        watcher = asyncio.create_task(_watch_disconnect(request, generation))
        # 499 until the last event is taken: a client that leaves earlier cancels this generator at a
        # yield (GeneratorExit) or an await (CancelledError), and the finally below logs what it saw
        status = 499
        try:
            for index in range(body.n):
                yield delta(index, {"role": "assistant", "content": ""})
            async for kind, index, value in completion.events():
                assembler = assemblers[index]
                if kind == "token":
                    new_text = assembler.push(completion.token_ids[index])
                    if new_text:
                        yield delta(index, {"content": new_text})
                    continue
                texts[index], choice = self._choice(body, completion, index)
                rest = assembler.finish(choice["message"]["content"])
                if rest:
                    yield delta(index, {"content": rest})
                if "tool_calls" in choice["message"]:
                    calls = [{"index": k, **call} for k, call in enumerate(choice["message"]["tool_calls"])]
                    yield delta(index, {"tool_calls": calls})
                yield delta(index, {}, choice["finish_reason"])
            if not completion.done:
                return
            if include_usage:
                yield chunk([], _usage(len(generation.prompt_ids), sum(len(ids) for ids in completion.token_ids)))
            await self.record(response_id, messages, texts, request)
            yield "data: [DONE]\n\n"
            status = 200
        except ApiError as error:  # headers are sent: the error travels as an event, as OpenAI does
            status = error.status
            yield f"data: {json.dumps(error.body())}\n\n"
        finally:
            watcher.cancel()
            generation.cancel()
            self.log_request(response_id, status, completion, started, messages, texts)

    async def feedback(self, body: FeedbackRequest) -> dict[str, Any]:
        if self.sink is None:
            raise ApiError(404, "feedback collection is off: start the server with --feedback-file or --feedback-db",
                           code="feedback_off")
        try:
            record = await asyncio.to_thread(self.sink.add_feedback, body.id, body.thumbs, body.preferred)
        except UnknownResponse:
            raise ApiError(404, f"no served response with id '{body.id}'", param="id", code="response_not_found") from None
        except UserError as error:
            raise ApiError(400, str(error), param="preferred") from None
        return {"id": body.id, "object": "feedback", "thumbs": record.thumbs, "preferred": record.preferred}


def client_fingerprint(request: HttpRequest | None, api_keys: list[str]) -> str | None:
    """``k-`` and 16 hex digits of the SHA-256 of the request's API key (None without keys): names the
    client in feedback records, so the loop can deduplicate and cap per client, without storing the key."""
    if request is None or not api_keys:
        return None
    _scheme, _, given = request.headers.get("authorization", "").partition(" ")
    return "k-" + hashlib.sha256(given.strip().encode()).hexdigest()[:16]


def create_app(config: ServeConfig, *, model=None, tokenizer=None, scheduler=None) -> FastAPI:
    """The app for ``config``; loads the model unless given. ``scheduler`` replaces the batching
    scheduler (anything with ``submit(Request)``, ``start()``, ``stop()``), e.g. a scripted one in tests."""
    if scheduler is None and config.engine == "vllm":  # vLLM loads its own copy of the weights
        from posttrain.serve.vllm_scheduler import vllm_scheduler

        scheduler, model, tokenizer = vllm_scheduler(config, tokenizer)
    if tokenizer is None or (model is None and scheduler is None):
        from posttrain.models.loading import load_tokenizer
        from posttrain.training.precision import load_for_inference

        tokenizer = tokenizer or load_tokenizer(config.model)
        model = model if model is not None else load_for_inference(config.model, config.device, config.dtype)
    if scheduler is None:
        scheduler = Scheduler(model, tokenizer, SchedulerConfig(config.max_batch_size, config.max_queue,
                                                                config.max_prefill_tokens))
    sink = open_sink(config.feedback_file, config.feedback_db)
    service = ChatService(config, model, tokenizer, scheduler, sink)
    keys = [key.encode() for key in config.api_keys]

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI):
        scheduler.start()
        try:
            yield
        finally:
            scheduler.stop()
            if sink is not None and hasattr(sink, "close"):
                sink.close()

    app = FastAPI(title="posttrain", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.service, app.state.scheduler = service, scheduler

    def authorize(request: HttpRequest) -> None:
        if not keys:
            return
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        # compare_digest against every key: the time taken says nothing about which key was close
        matches = [hmac.compare_digest(given.strip().encode(), key) for key in keys]
        if scheme.lower() != "bearer" or not any(matches):
            raise ApiError(401, "missing or invalid API key: send 'Authorization: Bearer <key>'",
                           type="invalid_request_error", code="invalid_api_key")

    @app.exception_handler(ApiError)
    async def api_error(request: HttpRequest, error: ApiError):
        if error.status == 499:  # the chat route logs its own; this is the one line for the others
            log.info("%s %s status=499 (the client left)", request.method, request.url.path)
        return _error_response(error)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: HttpRequest, error: StarletteHTTPException):
        return _error_response(ApiError(error.status_code, str(error.detail), code="not_found"
                                        if error.status_code == 404 else None))

    @app.exception_handler(Exception)
    async def unexpected(_request: HttpRequest, error: Exception):
        log.exception("unexpected error")
        return _error_response(ApiError(500, "internal server error", type="server_error"))

    @app.get("/health")
    async def health():
        return {"status": "ok", "running": getattr(scheduler, "running", 0), "waiting": getattr(scheduler, "waiting", 0)}

    @app.get("/v1/models")
    async def models(request: HttpRequest):
        authorize(request)
        return {"object": "list", "data": [_model_card(config, service)]}

    @app.get("/v1/models/{name:path}")
    async def model_card(name: str, request: HttpRequest):
        authorize(request)
        if name != config.name:
            raise ApiError(404, f"model '{name}' is not served here", param="model", code="model_not_found")
        return _model_card(config, service)

    @app.post("/v1/chat/completions")
    async def chat_completions(request: HttpRequest):
        started = time.monotonic()
        response_id = f"chatcmpl-{uuid.uuid4().hex}"
        try:
            authorize(request)
            raw = await read_body(request, config.max_request_bytes, config.read_timeout)
            body = parse_body(ChatCompletionRequest, raw)
            if body.stream:
                return service.stream(request, body, response_id, started)
            return await service.complete(request, body, response_id, started)
        except ApiError as error:
            service.log_request(response_id, error.status, None, started)
            return _error_response(error)

    @app.post("/v1/feedback")
    async def feedback(request: HttpRequest):
        authorize(request)
        raw = await read_body(request, config.max_request_bytes, config.read_timeout)
        body = parse_body(FeedbackRequest, raw)
        return await service.feedback(body)

    return app


def _model_card(config: ServeConfig, service: ChatService) -> dict[str, Any]:
    return {"id": config.name, "object": "model", "created": service.created, "owned_by": "posttrain"}
