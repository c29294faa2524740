"""Fixtures shared by the whole suite (helpers live in helpers.py)."""

from __future__ import annotations

import pytest
from helpers import arithmetic_rows, build_tiny_model_dir, write_jsonl


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> str:
    """Path of a tiny random Llama + BPE tokenizer directory (built once per session)."""
    return build_tiny_model_dir(tmp_path_factory.mktemp("tiny-model"))


@pytest.fixture
def sft_data(tmp_path) -> str:
    return write_jsonl(tmp_path / "train.jsonl", arithmetic_rows(40))
