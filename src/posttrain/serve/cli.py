"""``posttrain serve MODEL``: the OpenAI-compatible server with continuous batching and feedback capture.

    posttrain serve smollm2-135m --feedback-file served.jsonl
    posttrain serve out/sft --engine vllm      # vLLM generates (pip install 'posttrain[vllm]')
    posttrain serve out/sft --host 0.0.0.0 --api-key "$KEY" --max-batch-size 32
"""

from __future__ import annotations

import logging
import os

import click

from posttrain.config import DEVICE_HELP, ENGINE_HELP, INFERENCE_DTYPE_HELP
from posttrain.errors import UserError


@click.command("serve")
@click.argument("model")
@click.option("--host", default="127.0.0.1", show_default=True, help="Beyond loopback, an API key is required.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option("--api-key", "api_keys", multiple=True,
              help="Accepted bearer key; repeatable. Also POSTTRAIN_API_KEYS (comma-separated).")
@click.option("--served-model-name", help="The name clients pass as `model` [default: MODEL].")
@click.option("--max-batch-size", default=16, show_default=True, type=click.IntRange(min=1),
              help="Sequences decoded together (1 = one request at a time).")
@click.option("--max-queue", default=64, show_default=True, type=click.IntRange(min=1),
              help="Requests waiting for a slot before new ones get 429.")
@click.option("--max-prefill-tokens", default=2048, show_default=True, type=click.IntRange(min=1),
              help="Prompt tokens prefilled between two decode steps.")
@click.option("--timeout", default=600.0, show_default=True, type=click.FloatRange(min=0, min_open=True),
              help="Seconds a request may take, queueing included.")
@click.option("--read-timeout", default=30.0, show_default=True, type=click.FloatRange(min=0, min_open=True),
              help="Seconds a request's head, then its body, may take to arrive; slower connections are closed.")
@click.option("--keep-alive-timeout", default=5.0, show_default=True, type=click.FloatRange(min=0, min_open=True),
              help="Seconds an idle connection stays open.")
@click.option("--max-request-bytes", default=1_048_576, show_default=True, type=click.IntRange(min=256))
@click.option("--default-max-tokens", default=512, show_default=True, type=click.IntRange(min=1),
              help="max_tokens of requests that give none.")
@click.option("--feedback-file", type=click.Path(dir_okay=False), help="Append served responses and feedback here (JSONL).")
@click.option("--feedback-db", help="Feedback store URL (instead of --feedback-file).")
@click.option("--log-content/--no-log-content", default=False, show_default=True,
              help="Log prompts and answers (off: ids, token counts and timings only).")
@click.option("--device", default="auto", show_default=True, help=DEVICE_HELP)
@click.option("--dtype", default="auto", show_default=True, help=INFERENCE_DTYPE_HELP)
@click.option("--engine", default="native", show_default=True, type=click.Choice(["native", "vllm"]),
              help=ENGINE_HELP + " With vllm, --max-prefill-tokens does not apply (vLLM schedules prefills).")
def serve(model, host, port, api_keys, served_model_name, max_batch_size, max_queue, max_prefill_tokens, timeout,
          read_timeout, keep_alive_timeout, max_request_bytes, default_max_tokens, feedback_file, feedback_db,
          log_content, device, dtype, engine) -> None:
    """Serve MODEL on /v1/chat/completions (OpenAI API) with /v1/feedback for thumbs and choices.

    Example: posttrain serve smollm2-135m --feedback-file served.jsonl
    """
    from posttrain.serve.app import ServeConfig, check_binding

    keys = list(api_keys) + [key.strip() for key in os.environ.get("POSTTRAIN_API_KEYS", "").split(",") if key.strip()]
    config = ServeConfig(
        model=model, served_model_name=served_model_name, host=host, port=port, api_keys=keys,
        max_batch_size=max_batch_size, max_queue=max_queue, max_prefill_tokens=max_prefill_tokens, timeout=timeout,
        read_timeout=read_timeout, keep_alive_timeout=keep_alive_timeout, max_request_bytes=max_request_bytes,
        default_max_tokens=default_max_tokens, feedback_file=feedback_file, feedback_db=feedback_db,
        log_content=log_content, device=device, dtype=dtype, engine=engine,
    )
    check_binding(config)  # before the slow model load
    if feedback_file and feedback_db:
        raise UserError("give --feedback-file or --feedback-db, not both")
    if engine == "vllm":
        from posttrain.rollout.vllm_engine import require_vllm

        require_vllm()  # before the slow model load

    from posttrain.cli import _quiet_libraries

    _quiet_libraries()
    import uvicorn

    from posttrain.serve.app import create_app
    from posttrain.serve.connections import server_config

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = create_app(config)
    click.echo(f"serving '{config.name}' on http://{host}:{port}/v1 (batch {max_batch_size}, queue {max_queue}"
               + (f", feedback to {feedback_file or feedback_db})" if feedback_file or feedback_db else ")"), err=True)
    uvicorn.Server(server_config(app, config)).run()
