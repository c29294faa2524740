"""The request bodies the server accepts, as pydantic schemas, and OpenAI-style error bodies.

Only the request side is typed: responses are plain dicts built in ``app.py`` in the shape the
official ``openai`` client reads. Unknown request fields are ignored (clients send many optional
ones); known fields are checked strictly, and a failure becomes a 400 whose body names the field::

    {"error": {"message": "messages[0].role: Input should be 'system', ...", "type": "invalid_request_error",
               "param": "messages[0].role", "code": "invalid_value"}}

Nesting is bounded before anything recursive sees a body: ``json.loads``, pydantic, the chat
template and ``json.dumps`` all recurse once per level, and a body nested a few thousand levels
deep would otherwise end in a ``RecursionError``. The same bound holds inside the JSON strings of
``tool_calls[].function.arguments``.

``ignore_eos`` is an extension (the name other OpenAI-compatible servers use): generate exactly
``max_tokens`` tokens, for load tests whose requests must all do the same work.
"""

from __future__ import annotations

import itertools
import json
import re
import types
import typing
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

MAX_N = 16  # choices per request; more would let one request take the whole batch for long
MAX_STOP = 4  # stop strings per request, as the OpenAI API allows
# Characters per stop string. Streaming holds back any end of the text that may start a stop string,
# a check that grows with (text length) x (stop length) per token: 4 stop strings of 120,000
# characters tripled the time of a 16-choice, 1000-token stream with the tiny test model.
MAX_STOP_CHARS = 256
# Levels of nesting in a body or in tool-call arguments. Real tool schemas use about a dozen; 64 keeps
# every recursive step after parsing far below Python's recursion limit of 1000.
MAX_JSON_DEPTH = 64


class ApiError(Exception):
    """An error answered with an OpenAI-style body; raised anywhere a request is handled."""

    def __init__(self, status: int, message: str, *, type: str = "invalid_request_error",
                 param: str | None = None, code: str | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.type, self.param, self.code = status, message, type, param, code
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


def field_path(parts: Sequence[str | int]) -> str | None:
    """``["messages", 0, "content"]`` as ``messages[0].content``, the way OpenAI names fields; None for the body."""
    path = ""
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else f".{part}" if path else str(part)
    return path or None


# Three passes in C: escapes out (so every string is a plain "..." run), strings out, all but brackets out.
_ESCAPE = re.compile(rb"\\.", re.DOTALL)
_STRING = re.compile(rb'"[^"]*"')
_NOT_A_BRACKET = bytes(sorted(set(range(256)) - set(b"[]{}")))
_DEPTH_STEP = [0] * 256
_DEPTH_STEP[ord("[")] = _DEPTH_STEP[ord("{")] = 1
_DEPTH_STEP[ord("]")] = _DEPTH_STEP[ord("}")] = -1
# Tokens that move along a path: strings (keys among them), brackets, commas.
_PATH_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{},]', re.DOTALL)


def _max_depth(text: str) -> int:
    """How many levels ``text`` nests, without recursion and without a Python step per character."""
    raw = text.encode("utf-8", "surrogatepass")  # the JSON escape \ud800 decodes to a lone surrogate
    brackets = _STRING.sub(b"", _ESCAPE.sub(b"", raw)).translate(None, _NOT_A_BRACKET)
    return max(itertools.accumulate(map(_DEPTH_STEP.__getitem__, brackets)), default=0)


def _path_to_depth(text: str, limit: int) -> list[str | int]:
    """Keys and indexes down to the first value opened deeper than ``limit``; slower than
    :func:`_max_depth` (a Python step per token), so it runs only for bodies already refused."""
    path: list[str | int] = []  # per open container: the key or index being read
    key_next = False  # the next string in an object is a key
    for match in _PATH_TOKEN.finditer(text):
        token = match.group()
        if token in ("{", "["):
            if len(path) == limit:
                break
            path.append(0 if token == "[" else "")
            key_next = token == "{"
        elif token in ("}", "]"):
            path = path[:-1]
            key_next = False
        elif token == ",":
            if path and isinstance(path[-1], int):
                path[-1] += 1
            key_next = bool(path) and isinstance(path[-1], str)
        elif key_next:
            try:
                path[-1] = json.loads(token)
            except ValueError:  # an invalid escape: the raw key still names the place
                path[-1] = token[1:-1]
            key_next = False
    return path


def nested_too_deep(text: str) -> list[str | int] | None:
    """The path to the first value nested deeper than :data:`MAX_JSON_DEPTH`, or None when ``text`` is
    within it. JSON syntax is not checked here: ``json.loads`` does that once nesting is known to be safe."""
    if _max_depth(text) <= MAX_JSON_DEPTH:
        return None
    return _path_to_depth(text, MAX_JSON_DEPTH)


def _typed_part(model: type[BaseModel], path: Sequence[str | int]) -> list[str | int]:
    """The start of ``path`` that ``model`` types: it ends at a free-form value (``dict[str, Any]``, e.g.
    a tool's ``parameters``) or just after a field the schema does not know, so a deep value is named by
    the field holding it, not by sixty-four keys and indexes below it."""
    kept: list[str | int] = []
    annotation: Any = model
    for part in path:
        union = typing.get_origin(annotation) in (typing.Union, types.UnionType)
        options = typing.get_args(annotation) if union else (annotation,)
        models = [option for option in options if isinstance(option, type) and issubclass(option, BaseModel)]
        lists = [option for option in options if typing.get_origin(option) is list]
        if isinstance(part, str) and models:
            kept.append(part)
            field = models[0].model_fields.get(part)  # no union here holds two models
            if field is None:
                break
            annotation = field.annotation
        elif isinstance(part, int) and lists:
            kept.append(part)
            annotation = typing.get_args(lists[0])[0]
        else:
            break
    return kept


def _json_object(text: str) -> dict[str, Any]:
    """Tool-call arguments (a JSON object as a string; blank means none) as a dict; ValueError if not one."""
    if not text.strip():
        return {}
    if nested_too_deep(text) is not None:
        raise ValueError(f"nested more than {MAX_JSON_DEPTH} levels deep")
    try:
        value = json.loads(text)
    except ValueError:  # malformed, or an integer past Python's 4300-digit limit
        value = None
    if not isinstance(value, dict):
        raise ValueError("must be a JSON object, as a string")
    return value


class _Strict(BaseModel):
    # Unknown fields are ignored; known ones are not coerced ("1" is not an int, 1 is not a str).
    model_config = ConfigDict(extra="ignore", strict=True)


class TextPart(_Strict):
    type: Literal["text"]
    text: str


class FunctionCall(_Strict):
    name: str
    arguments: str  # a JSON object, as a string (the OpenAI convention)

    @field_validator("arguments")
    @classmethod
    def _a_json_object(cls, arguments: str) -> str:
        _json_object(arguments)  # checked here, so the error names this field
        return arguments

    def argument_object(self) -> dict[str, Any]:
        return _json_object(self.arguments)


class ToolCallIn(_Strict):
    id: str = ""
    type: Literal["function"] = "function"
    function: FunctionCall


class Message(_Strict):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[TextPart] | None = None
    name: str | None = None
    tool_calls: list[ToolCallIn] | None = None
    tool_call_id: str | None = None

    @model_validator(mode="after")
    def _content_needed(self):
        if self.content is None and not (self.role == "assistant" and self.tool_calls):
            raise ValueError(f"a '{self.role}' message needs content")
        return self

    def text(self) -> str:
        """The content as one string (text parts joined by newlines; none gives "")."""
        if isinstance(self.content, list):
            return "\n".join(part.text for part in self.content)
        return self.content or ""


class FunctionSpec(_Strict):
    name: str = Field(min_length=1, max_length=64)
    description: str = ""
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})


class ToolSpec(_Strict):
    type: Literal["function"]
    function: FunctionSpec


class StreamOptions(_Strict):
    include_usage: bool = False


class ChatCompletionRequest(_Strict):
    model: str
    messages: list[Message] = Field(min_length=1)
    temperature: float = Field(default=1.0, ge=0, le=2)
    top_p: float = Field(default=1.0, gt=0, le=1)
    n: int = Field(default=1, ge=1, le=MAX_N)
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    stop: str | list[str] | None = None
    seed: int | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    tools: list[ToolSpec] | None = None
    tool_choice: Literal["none", "auto", "required"] | dict[str, Any] | None = None
    logprobs: bool | None = None
    user: str | None = None
    ignore_eos: bool = False  # extension, see the module docstring

    # JSON has one number type: accept 1 for a float field, as every OpenAI client may send it.
    @field_validator("temperature", "top_p", mode="before")
    @classmethod
    def _int_is_a_float(cls, value):
        return float(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("stop")
    @classmethod
    def _stop_strings(cls, value):
        stops = [value] if isinstance(value, str) else (value or [])
        if len(stops) > MAX_STOP:
            raise ValueError(f"at most {MAX_STOP} stop strings are allowed")
        if any(not stop for stop in stops):
            raise ValueError("stop strings must be non-empty")
        if any(len(stop) > MAX_STOP_CHARS for stop in stops):
            raise ValueError(f"stop strings can have at most {MAX_STOP_CHARS} characters")
        return stops

    @model_validator(mode="after")
    def _checks(self):
        if self.logprobs:
            raise ValueError("logprobs are not supported by this server")
        return self

    def stop_strings(self) -> list[str]:
        return list(self.stop or [])

    def token_limit(self) -> int | None:
        """``max_completion_tokens`` (the newer name) or ``max_tokens``; None when neither is set."""
        return self.max_completion_tokens or self.max_tokens


class FeedbackRequest(_Strict):
    id: str = Field(min_length=1)
    thumbs: Literal["up", "down"] | None = None
    preferred: int | None = Field(default=None, ge=0)

    @model_validator(mode="before")
    @classmethod
    def _response_id_alias(cls, data):
        if isinstance(data, dict) and "id" not in data and "response_id" in data:
            data = {**data, "id": data["response_id"]}
        return data

    @model_validator(mode="after")
    def _something_to_say(self):
        if self.thumbs is None and self.preferred is None:
            raise ValueError("give thumbs ('up' or 'down') or preferred (the index of the best choice)")
        return self


def validation_error(error: ValidationError) -> ApiError:
    """A 400 for the first problem pydantic found, naming its field (the value itself is not echoed)."""
    first = error.errors(include_input=False, include_url=False)[0]
    param = field_path(first["loc"])
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "missing":
        message = "field required"
    return ApiError(400, f"{param}: {message}" if param else message, param=param,
                    code="missing_required_parameter" if first["type"] == "missing" else "invalid_value")


def parse_body(cls: type[BaseModel], raw: bytes) -> Any:
    """A request body as ``cls``; raises a 400 :class:`ApiError` on any problem, nesting first."""
    invalid = ApiError(400, "the request body is not valid JSON", code="invalid_json")
    try:
        text = raw.decode(json.detect_encoding(raw))  # UTF-8, or the UTF-16/32 that json.loads also takes
    except UnicodeDecodeError:
        raise invalid from None
    if (path := nested_too_deep(text)) is not None:
        param = field_path(_typed_part(cls, path))
        raise ApiError(400, f"{param or 'the request body'}: nested more than {MAX_JSON_DEPTH} levels deep",
                       param=param, code="invalid_value")
    try:
        data = json.loads(text)
    except ValueError:
        raise invalid from None
    if not isinstance(data, dict):
        raise ApiError(400, "the request body must be a JSON object")
    try:
        return cls.model_validate(data)
    except ValidationError as error:
        raise validation_error(error) from None
