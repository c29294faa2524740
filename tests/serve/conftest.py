"""Fixtures of the serving tests: a real uvicorn server on a free loopback port, in a thread."""

from __future__ import annotations

import contextlib
import socket
import threading
import time

import pytest
import uvicorn

from posttrain.models.loading import load_model, load_tokenizer
from posttrain.serve.app import ServeConfig, create_app
from posttrain.serve.connections import server_config


@pytest.fixture(scope="session")
def tiny_lm(tiny_model):
    """The tiny model and tokenizer, loaded once for every server of the session."""
    return load_model(tiny_model), load_tokenizer(tiny_model)


@contextlib.contextmanager
def running_server(config: ServeConfig, model, tokenizer, scheduler=None):
    """Yield ``(base_url, app)`` of a server for ``config`` until the block ends."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    app = create_app(config, model=model, tokenizer=tokenizer, scheduler=scheduler)
    server = uvicorn.Server(server_config(app, config, host="127.0.0.1", port=port))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "server did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}", app
    finally:
        server.should_exit = True
        thread.join(timeout=20)


@pytest.fixture
def serve(tiny_model, tiny_lm):
    """Start servers for the test: ``serve(**config_fields) -> (base_url, app)``; stopped after the test."""
    stack = contextlib.ExitStack()

    def start(scheduler=None, **fields):
        fields.setdefault("served_model_name", "tiny")
        return stack.enter_context(running_server(ServeConfig(model=tiny_model, **fields), *tiny_lm, scheduler))

    with stack:
        yield start
