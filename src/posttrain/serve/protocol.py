"""The request bodies the server accepts, as pydantic schemas, and OpenAI-style error bodies.

Only the request side is typed: responses are plain dicts built in ``app.py`` in the shape the
official ``openai`` client reads. Unknown request fields are ignored (clients send many optional
ones); known fields are checked strictly, and a failure becomes a 400 whose body names the field::

    {"error": {"message": "messages.0.role: Input should be 'system', ...", "type": "invalid_request_error",
               "param": "messages.0.role", "code": null}}

``ignore_eos`` is an extension (the name other OpenAI-compatible servers use): generate exactly
``max_tokens`` tokens, for load tests whose requests must all do the same work.
"""

from __future__ import annotations

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


class ApiError(Exception):
    """An error answered with an OpenAI-style body; raised anywhere a request is handled."""

    def __init__(self, status: int, message: str, *, type: str = "invalid_request_error",
                 param: str | None = None, code: str | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.type, self.param, self.code = status, message, type, param, code
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


class _Strict(BaseModel):
    # Unknown fields are ignored; known ones are not coerced ("1" is not an int, 1 is not a str).
    model_config = ConfigDict(extra="ignore", strict=True)


class TextPart(_Strict):
    type: Literal["text"]
    text: str


class FunctionCall(_Strict):
    name: str
    arguments: str  # a JSON object, as a string (the OpenAI convention)


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
    param = ".".join(str(part) for part in first["loc"]) or None
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "missing":
        message = "field required"
    return ApiError(400, f"{param}: {message}" if param else message, param=param,
                    code="missing_required_parameter" if first["type"] == "missing" else "invalid_value")


def parse_body(cls: type[BaseModel], data: Any) -> Any:
    """Validate a decoded JSON body against ``cls``; raises a 400 :class:`ApiError` on any problem."""
    if not isinstance(data, dict):
        raise ApiError(400, "the request body must be a JSON object")
    try:
        return cls.model_validate(data)
    except ValidationError as error:
        raise validation_error(error) from None
