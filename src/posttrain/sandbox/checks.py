"""Hidden tests, and verdicts the tested program cannot forge.

A test is one of two kinds:

- a **call check** ``{"call": "add(2, 3)", "expected": "5"}``: the function called with literal
  arguments, and the value it must return, a Python literal. Only the call goes to the sandboxed
  process; it sends back the value its function returned, and *this* process decides whether it
  matches. The expected value never enters the tested program's process, and what that process
  sends is parsed as a literal (:func:`ast.literal_eval`: numbers, strings, bytes, None, booleans,
  lists, tuples, dicts, sets), never trusted as a verdict, so no object with an ``__eq__`` that is
  always true, no patched builtin and no forged result line can make a wrong function pass.
- an **assert statement** ``"assert add(2, 3) == 5"``, run inside the sandboxed process after the code.
  For checks a call cannot express (a side effect, a raised exception). The verdict comes from the
  tested process itself, so a program that means to can forge it (rebind ``builtins``, patch the
  reporting, ``os._exit`` after writing fake lines): such tests are **hackable**, and RL against them
  teaches the model to hack. Kernel isolation still keeps the machine safe. Prefer call checks.

Matching (:func:`same_value`) is ``==`` with the types kept apart that ``==`` mixes up where a test
means one: a ``bool`` is not an ``int`` (``True`` does not pass for ``1``), a list is not a tuple;
ints and floats compare as numbers, floats within a relative 1e-9.
"""

from __future__ import annotations

import ast
import math
from dataclasses import dataclass
from typing import Any

from posttrain.errors import UserError

MAX_VALUE_CHARS = 100_000  # a returned value's literal text, beyond which the test fails


@dataclass(frozen=True)
class CallCheck:
    function: str
    args: tuple
    kwargs: dict
    expected: Any
    source: str  # "add(2, 3) == 5", for messages

    def request(self) -> dict:
        """What the sandboxed process is told: the call, never the expected value."""
        return {"kind": "call", "function": self.function, "args": repr(self.args), "kwargs": repr(self.kwargs)}


@dataclass(frozen=True)
class AssertCheck:
    source: str

    def request(self) -> dict:
        return {"kind": "assert", "source": self.source}


Check = CallCheck | AssertCheck


class BadTest(UserError):
    """A test that is neither a call check nor a statement; the message says what is wrong."""


def parse_test(test: Any) -> Check:
    """A data row's test (a call check dict or an assert string) as a :data:`Check`; a Check is returned as is."""
    if isinstance(test, CallCheck | AssertCheck):
        return test
    if isinstance(test, str):
        if not test.strip():
            raise BadTest("a test statement is empty")
        return AssertCheck(test)
    if isinstance(test, dict) and set(test) == {"call", "expected"}:
        call, expected = test["call"], test["expected"]
        if not isinstance(call, str) or not isinstance(expected, str):
            raise BadTest(f"a call check's 'call' and 'expected' are strings (Python source), got {test!r}")
        function, args, kwargs = parse_call(call)
        try:
            value = ast.literal_eval(expected)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            raise BadTest(f"expected value {expected!r} is not a Python literal") from None
        return CallCheck(function, args, kwargs, value, f"{call} == {expected}")
    raise BadTest(f"a test is an assert statement or {{'call': ..., 'expected': ...}}, got {test!r}")


def parse_call(call: str) -> tuple[str, tuple, dict]:
    """``"f(1, x=[2])"`` -> ``("f", (1,), {"x": [2]})``; arguments must be literals."""
    try:
        node = ast.parse(call.strip(), mode="eval").body
    except SyntaxError:
        raise BadTest(f"call {call!r} is not a Python expression") from None
    if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
        raise BadTest(f"call {call!r} must call a function by name, e.g. add(2, 3)")
    try:
        args = tuple(ast.literal_eval(arg) for arg in node.args)
        kwargs = {keyword.arg: ast.literal_eval(keyword.value) for keyword in node.keywords}
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        raise BadTest(f"call {call!r}: every argument must be a literal") from None
    if None in kwargs:
        raise BadTest(f"call {call!r}: **kwargs unpacking is not a literal argument")
    return node.func.id, args, kwargs


def assert_to_call(test: str, entry_point: str) -> dict | None:
    """``"assert f(1) == 2"`` or ``"assert f(1) is True"`` as a call check dict, or None when it is not that simple."""
    try:
        node = ast.parse(test.strip()).body
    except SyntaxError:
        return None
    if len(node) != 1 or not isinstance(node[0], ast.Assert) or node[0].msg is not None:
        return None
    compare = node[0].test
    if not (isinstance(compare, ast.Compare) and len(compare.ops) == 1 and isinstance(compare.ops[0], ast.Eq | ast.Is)):
        return None
    call, right = compare.left, compare.comparators[0]
    if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == entry_point):
        return None
    try:
        expected = ast.literal_eval(right)
        parse_call(ast.unparse(call))
    except (ValueError, TypeError, SyntaxError, BadTest):
        return None
    if isinstance(compare.ops[0], ast.Is) and not (expected is None or isinstance(expected, bool)):
        return None
    return {"call": ast.unparse(call), "expected": repr(expected)}


def decode_value(text: Any) -> tuple[bool, Any]:
    """``(ok, value)`` from the literal text a sandboxed process sent; ``ok`` False for anything else."""
    if not isinstance(text, str) or len(text) > MAX_VALUE_CHARS:
        return False, None
    try:
        return True, ast.literal_eval(text)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False, None


def same_value(got: Any, expected: Any) -> bool:
    """Whether a returned value matches the expected one (see the module docstring). Both are plain literals."""
    if isinstance(expected, bool) or expected is None:
        return type(got) is type(expected) and got == expected
    if isinstance(expected, int | float):
        if isinstance(got, bool) or not isinstance(got, int | float):
            return False
        if isinstance(expected, float) or isinstance(got, float):
            return math.isclose(got, expected, rel_tol=1e-9, abs_tol=0.0) or got == expected
        return got == expected
    if isinstance(expected, list | tuple):
        return (type(got) is type(expected) and len(got) == len(expected)
                and all(same_value(a, b) for a, b in zip(got, expected)))
    if isinstance(expected, dict):
        return (type(got) is dict and got.keys() == expected.keys()
                and all(same_value(got[key], expected[key]) for key in expected))
    if isinstance(expected, set | frozenset):
        return isinstance(got, set | frozenset) and got == expected
    return type(got) is type(expected) and got == expected  # str, bytes, complex
