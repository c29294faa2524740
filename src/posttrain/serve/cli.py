"""``posttrain serve MODEL``: the OpenAI-compatible server with continuous batching and feedback capture.

    posttrain serve smollm2-135m --feedback-file served.jsonl
    posttrain serve out/sft --engine vllm      # vLLM generates (pip install 'posttrain[vllm]')
    posttrain serve out/sft --host 0.0.0.0 --api-key "$KEY" --max-batch-size 32
"""

from __future__ import annotations

import logging
import os

import click

from posttrain.errors import UserError
from posttrain.options import field_options
from posttrain.serve.config import ServeConfig
from posttrain.util import quiet_libraries, require_web


OPTIONS = ["host", "port", "api_keys", "served_model_name", "max_batch_size", "max_queue", "max_prefill_tokens",
           "timeout", "read_timeout", "keep_alive_timeout", "max_request_bytes", "default_max_tokens", "feedback_file",
           "feedback_db", "log_content", "device", "dtype", "engine"]  # every ServeConfig field but model, retry_after


@click.command("serve")
@click.argument("model")
@field_options(
    ServeConfig, OPTIONS,
    api_keys={"flag": "--api-key", "help": "Accepted bearer key; repeatable. Also POSTTRAIN_API_KEYS (comma-separated)."},
    feedback_file={"type": click.Path(dir_okay=False)},
)
def serve(model: str, api_keys: tuple[str, ...], **options) -> None:
    """Serve MODEL on /v1/chat/completions (OpenAI API) with /v1/feedback for thumbs and choices.

    Example: posttrain serve smollm2-135m --feedback-file served.jsonl
    """
    require_web("posttrain serve")
    from posttrain.serve.app import check_binding

    keys = list(api_keys) + [key.strip() for key in os.environ.get("POSTTRAIN_API_KEYS", "").split(",") if key.strip()]
    config = ServeConfig(model=model, api_keys=keys, **options)
    check_binding(config)  # before the slow model load
    if config.feedback_file and config.feedback_db:
        raise UserError("give --feedback-file or --feedback-db, not both")
    if config.engine == "vllm":
        from posttrain.rollout.vllm_engine import require_vllm

        require_vllm()  # before the slow model load

    quiet_libraries()
    import uvicorn

    from posttrain.serve.app import create_app
    from posttrain.serve.connections import server_config

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = create_app(config)
    feedback = config.feedback_file or config.feedback_db
    click.echo(f"serving '{config.name}' on http://{config.host}:{config.port}/v1 (batch {config.max_batch_size}, "
               f"queue {config.max_queue}" + (f", feedback to {feedback})" if feedback else ")"), err=True)
    uvicorn.Server(server_config(app, config)).run()
