"""Confined execution of model-written code: see :mod:`posttrain.sandbox.executor`."""

from posttrain.sandbox.executor import (
    ExecutionResult,
    Limits,
    TestOutcome,
    run_code,
    run_many,
)

__all__ = ["ExecutionResult", "Limits", "TestOutcome", "run_code", "run_many"]
