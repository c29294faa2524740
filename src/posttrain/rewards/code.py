"""Code answers: the program inside a chat answer, and the ``code_tests_passed`` reward.

``extract_code`` reads fenced blocks (```python, ```py, bare ```, and a final fence left open when
generation stopped at its token limit), choosing the block that defines the expected function;
without a fence it takes the code that starts at a top-level ``def``/``import`` line::

    extract_code("Here you go:\\n```python\\ndef add(a, b):\\n    return a + b\\n```", "add")
    # "def add(a, b):\\n    return a + b"

As a reward, a ``prompts`` row lists its hidden tests in a ``tests`` field and names the function in
``entry_point``; the code runs in :mod:`posttrain.sandbox`, one process per sample. A test is a call
check, ``{"call": "add(2, 3)", "expected": "5"}``, judged outside the sandboxed process so that a
completion cannot forge its reward, or an assert statement (``"assert add(2, 3) == 5"``), judged
inside it and therefore hackable: a policy trained against assert tests can learn to fake passing
them (:mod:`posttrain.sandbox.checks`). Use call checks for RL::

    code_tests_passed(prompt, completion, tests=[{"call": "add(2, 3)", "expected": "5"}], entry_point="add")  # 1.0
"""

from __future__ import annotations

import ast
import re
import textwrap
from typing import Any

from posttrain.errors import UserError

PYTHON_LANGUAGES = {"", "python", "python3", "py", "py3"}  # a fence's tag, lowercased; others (bash, text) are skipped
_FENCE = re.compile(r"^\s*```")
# Where unfenced code starts: a top-level definition, decorator or import (a strict import form, so a
# prose line such as "import the module first" does not count).
_CODE_START = re.compile(r"^(?:def \w+\s*\(|class \w+|@\w|import [\w.]+(?:\s+as\s+\w+)?(?:\s*,\s*[\w.]+)*\s*$"
                         r"|from [\w.]+ import )")


def extract_code(answer: str, entry_point: str | None = None) -> str | None:
    """The Python program in a chat ``answer``, or None when it holds none.

    Fenced blocks win over bare code. Among them: the last one defining ``def entry_point(``; else
    every block defining a function or class, joined in order; else the longest block that parses
    (the last on ties). Without a fence, the code is the run of lines around the last top-level
    ``def entry_point(`` (else from the first top-level ``def``/``class``/``import`` line): definitions,
    imports, their indented bodies and blank lines, bounded by prose, which is dropped.
    """
    text = answer.replace("\r\n", "\n")
    blocks = [block for block in _fenced_blocks(text) if block.strip()]
    if blocks:
        return _choose_block(blocks, entry_point)
    return _unfenced_code(text.split("\n"), entry_point)


def _fenced_blocks(text: str) -> list[str]:
    """The dedented contents of the Python fences in ``text``; an unclosed final fence runs to the end."""
    blocks, current, language = [], None, ""
    for line in text.split("\n"):
        if current is None:
            if _FENCE.match(line):
                current, language = [], line.strip()[3:].strip().lower()
        elif _FENCE.match(line):
            if language in PYTHON_LANGUAGES:
                blocks.append(current)
            current = None
        else:
            current.append(line)
    if current is not None and language in PYTHON_LANGUAGES:
        blocks.append(current)
    return [textwrap.dedent("\n".join(lines)).strip("\n").rstrip() for lines in blocks]


def _defines(code: str, name: str) -> bool:
    return re.search(rf"^\s*(?:async\s+)?def\s+{re.escape(name)}\s*\(", code, re.MULTILINE) is not None


def _parses(code: str) -> bool:
    try:
        ast.parse(code)
    except (SyntaxError, ValueError):
        return False
    return True


def _choose_block(blocks: list[str], entry_point: str | None) -> str:
    if entry_point:
        defining = [block for block in blocks if _defines(block, entry_point)]
        if defining:
            return defining[-1]  # a debugging answer often quotes the broken version before the fix
    definitions = [block for block in blocks if re.search(r"^\s*(?:def|class)\s+\w+", block, re.MULTILINE)]
    if definitions:
        return "\n\n".join(definitions)
    # max() keeps the first of equals, so reverse to let the last block win ties.
    return max(reversed(blocks), key=lambda block: (_parses(block), len(block)))


def _is_code_line(line: str) -> bool:
    """Blank, indented (a body) or a top-level definition/import: what unfenced code is made of."""
    return not line.strip() or line[0] in " \t" or _CODE_START.match(line) is not None


def _unfenced_code(lines: list[str], entry_point: str | None) -> str | None:
    starts = [index for index, line in enumerate(lines) if _CODE_START.match(line)]
    if not starts:
        return None
    defining = [index for index in starts if entry_point and re.match(rf"def {re.escape(entry_point)}\s*\(", lines[index])]
    # The run of code around the (last) definition of the entry point, else the first run of code;
    # a run starts at a definition or import line and is bounded by prose on both sides.
    anchor = defining[-1] if defining else starts[0]
    first = anchor
    while first > 0 and _is_code_line(lines[first - 1]):
        first -= 1
    first = next(index for index in starts if index >= first)
    end = anchor + 1
    while end < len(lines) and _is_code_line(lines[end]):
        end += 1
    return "\n".join(lines[first:end]).strip("\n").rstrip()


def code_tests_passed(prompt: str, completion: str, *, tests: Any, entry_point: str | None = None,
                      all_pass_bonus: float = 0.0, partial_credit: bool = True, **_: Any) -> float:
    """The share of the row's ``tests`` the completion's code passes, plus ``all_pass_bonus`` if all pass.
    ``partial_credit=False``: 1.0 when every test passes (plus the bonus), else 0.0.

    Partial credit pays for handing a debugging task's broken function back unchanged, since it
    fails only some tests (the embedded model does that for half the held-out debugging items). 0.0 when the
    completion holds no code. Each call runs the code once in the sandbox (its own process, with
    time and memory limits).
    """
    _check_options(all_pass_bonus, partial_credit)
    tests = _checked_tests(tests)
    code = extract_code(completion, entry_point)
    if code is None:
        return 0.0
    from posttrain.sandbox import run_code

    return _score(run_code(code, tests), all_pass_bonus, partial_credit)


def _check_options(all_pass_bonus: Any, partial_credit: Any) -> None:
    """A recipe's kwargs arrive unchecked: a quoted "false" would silently keep partial credit."""
    if not isinstance(partial_credit, bool):
        raise UserError(f"code_tests_passed: partial_credit must be true or false, got {partial_credit!r}")
    if isinstance(all_pass_bonus, bool) or not isinstance(all_pass_bonus, int | float):
        raise UserError(f"code_tests_passed: all_pass_bonus must be a number, got {all_pass_bonus!r}")


def _score(result, all_pass_bonus: float, partial_credit: bool) -> float:
    base = result.fraction if partial_credit else float(result.all_passed)
    return base + (all_pass_bonus if result.all_passed else 0.0)


def _score_batch(prompts: list[Any], completions: list[str], rows: list[dict], all_pass_bonus: float = 0.0,
                 partial_credit: bool = True) -> list[float]:
    """:func:`code_tests_passed` for a whole batch, the programs run in parallel, one per core."""
    from posttrain.sandbox import run_many

    _check_options(all_pass_bonus, partial_credit)

    jobs, indexes = [], []
    for index, (completion, row) in enumerate(zip(completions, rows)):
        tests = _checked_tests(row.get("tests"))
        code = extract_code(completion, row.get("entry_point"))
        if code is not None:
            jobs.append((code, tests))
            indexes.append(index)
    scores = [0.0] * len(completions)
    for index, result in zip(indexes, run_many(jobs)):
        scores[index] = _score(result, all_pass_bonus, partial_credit)
    return scores


# score_rollouts calls this instead of one sample at a time, with a recipe's all_pass_bonus.
code_tests_passed.score_batch = _score_batch  # type: ignore[attr-defined]


def _checked_tests(tests: Any) -> list:
    """A row's tests parsed once (each a call check or an assert statement), so the sandbox need not parse
    them again for every sample; a malformed one is a one-line error."""
    from posttrain.sandbox.checks import parse_test

    if not isinstance(tests, list | tuple) or not tests:
        raise UserError(f"the row's tests must be a non-empty list of call checks or statements, got {tests!r}")
    return [parse_test(test) for test in tests]
