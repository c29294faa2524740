"""What ``posttrain serve`` takes, as one typed config: the command's options are made from it
(:func:`posttrain.options.field_options`), and the app is built from it. No web imports here, so the
command can describe itself without the ``web`` extra.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from posttrain.config import DEVICE_HELP, ENGINE_HELP, INFERENCE_DTYPE_HELP, check_dtype


class ServeConfig(BaseModel):
    """Everything ``posttrain serve`` takes; validated once at start."""

    model_config = ConfigDict(defer_build=True)  # built when serve starts, not when `posttrain --help` imports it

    model: str = Field(description="Model to serve: embedded name, HF directory, .gguf file or hub id")
    served_model_name: str | None = Field(None, description="The name clients pass as `model` [default: MODEL].")
    host: str = Field("127.0.0.1", description="Beyond loopback, an API key is required.")
    port: int = Field(8000, ge=0, le=65535)
    api_keys: list[str] = Field(default_factory=list, description="Accepted bearer keys; empty = no auth")
    max_batch_size: int = Field(16, ge=1, description="Sequences decoded together (1 = one request at a time).")
    max_queue: int = Field(64, ge=1, description="Requests waiting for a slot before new ones get 429.")
    max_prefill_tokens: int = Field(2048, ge=1, description="Prompt tokens prefilled between two decode steps.")
    timeout: float = Field(600.0, gt=0, description="Seconds a request may take, queueing included.")
    read_timeout: float = Field(30.0, gt=0, description="Seconds a request's head, then its body, may take to arrive; "
                                                        "slower connections are closed.")
    keep_alive_timeout: float = Field(5.0, gt=0, description="Seconds an idle connection stays open.")
    max_request_bytes: int = Field(1_048_576, ge=256, description="Largest accepted request body.")
    default_max_tokens: int = Field(512, ge=1, description="max_tokens of requests that give none.")
    feedback_file: str | None = Field(None, description="Append served responses and feedback here (JSONL).")
    feedback_db: str | None = Field(None, description="Feedback store URL (instead of --feedback-file).")
    log_content: bool = Field(False, description="Log prompts and answers (off: ids, token counts and timings only).")
    retry_after: int = Field(1, ge=1, description="Seconds a 429 asks the client to wait")
    engine: Literal["native", "vllm"] = Field(
        "native", description=ENGINE_HELP + " With vllm, --max-prefill-tokens does not apply (vLLM schedules prefills).")
    device: str = Field("auto", description=DEVICE_HELP)
    dtype: str = Field("auto", description=INFERENCE_DTYPE_HELP)

    @field_validator("dtype")
    @classmethod
    def _dtype_name(cls, value: str) -> str:
        return check_dtype(value, training=False)

    @property
    def name(self) -> str:
        return self.served_model_name or self.model
