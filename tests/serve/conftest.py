"""Fixtures of the serving tests: a real uvicorn server on a free loopback port, in a thread."""

from __future__ import annotations

import contextlib

import pytest
from helpers import serve_in_thread

from posttrain.models.loading import load_model, load_tokenizer
from posttrain.serve.app import ServeConfig


@pytest.fixture(scope="session")
def tiny_lm(tiny_model):
    """The tiny model and tokenizer, loaded once for every server of the session."""
    return load_model(tiny_model), load_tokenizer(tiny_model)


@pytest.fixture
def serve(tiny_model, tiny_lm):
    """Start servers for the test: ``serve(**config_fields) -> (base_url, app)``; stopped after the test."""
    stack = contextlib.ExitStack()

    def start(scheduler=None, **fields):
        fields.setdefault("served_model_name", "tiny")
        return stack.enter_context(serve_in_thread(ServeConfig(model=tiny_model, **fields), *tiny_lm, scheduler))

    with stack:
        yield start
