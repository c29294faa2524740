"""Choosing the rollout engine: what a user sees without vLLM installed, and bad engine names."""

from __future__ import annotations

import builtins

import pytest

from posttrain.config import GRPOConfig, RejectionConfig, load_config
from posttrain.errors import UserError
from posttrain.rollout.vllm_engine import require_vllm, vllm_dtype


def test_a_missing_vllm_is_one_line_naming_the_extra(monkeypatch):
    """As if vLLM were not installed: a user error (one line, no traceback at the CLI), naming the extra."""
    real_import = builtins.__import__

    def without_vllm(name, *args, **kwargs):
        if name == "vllm" or name.startswith("vllm."):
            raise ModuleNotFoundError("No module named 'vllm'", name="vllm")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", without_vllm)
    with pytest.raises(UserError, match=r"pip install 'posttrain\[vllm\]'"):
        require_vllm()


def test_engine_names_are_checked_with_the_valid_ones_named():
    with pytest.raises(UserError, match="engine: Input should be 'native' or 'vllm'"):
        load_config(GRPOConfig, None, {"engine": "vlm"})
    with pytest.raises(UserError, match="engine"):
        load_config(RejectionConfig, None, {"engine": "hf"})
    with pytest.raises(UserError, match="tis_cap"):
        load_config(GRPOConfig, None, {"engine": "vllm", "tis_cap": 0.5})  # a cap below 1 would shrink every weight


def test_vllm_dtype_names():
    import torch

    assert vllm_dtype(torch.bfloat16) == "bfloat16" and vllm_dtype("float32") == "float32"
    assert vllm_dtype("auto") in ("float32", "bfloat16")
