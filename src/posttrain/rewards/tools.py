"""A bundled tool and reward for tool-use RL: ``calculator`` (safe arithmetic) and ``tool_answer_correct``.

A GRPO run that lets the policy call the calculator and rewards a correct final answer::

    tools: ["posttrain.rewards.tools:calculator"]
    max_turns: 3
    reward: "posttrain.rewards.tools:tool_answer_correct"

``calculator`` evaluates one arithmetic expression by walking its syntax tree: numbers, ``+ - * /
// % **`` and parentheses, nothing else (no names, calls or attributes), so a policy cannot run code
through it. Like any tool it may raise; the tool registry turns the exception into an ``error: ...``
tool message for the policy to read::

    calculator("12 * (3 + 4)")   # "84"
    calculator("7 / 2")          # "3.5"
"""

from __future__ import annotations

import ast
import math
import operator
from typing import Any

from posttrain.rewards.math import math_correct

_BINARY = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow,
}
_UNARY = {ast.UAdd: operator.pos, ast.USub: operator.neg}
MAX_EXPRESSION_CHARS = 200
MAX_EXPONENT = 100  # 10 ** 100 is still instant; a policy writing 9 ** 9 ** 9 must not stall the rollout
MAX_MAGNITUDE = 1e100


def _evaluate(node: ast.AST) -> float:
    if isinstance(node, ast.Expression):
        return _evaluate(node.body)
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return node.value
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_evaluate(node.operand))
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _evaluate(node.left), _evaluate(node.right)
        if isinstance(node.op, ast.Pow) and abs(right) > MAX_EXPONENT:
            raise ValueError(f"exponent {right} is too large (at most {MAX_EXPONENT})")
        result = _BINARY[type(node.op)](left, right)
        if isinstance(result, complex) or abs(result) > MAX_MAGNITUDE:
            raise ValueError("result is out of range")
        return result
    raise ValueError(f"unsupported syntax: {ast.unparse(node)}")


def _format_number(value: float) -> str:
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return str(int(value))
    return repr(round(value, 10)) if isinstance(value, float) else str(value)


def calculator(expression: str) -> str:
    """Evaluate an arithmetic expression with + - * / // % ** and parentheses.

    Args:
        expression: The expression to evaluate, e.g. "12 * (3 + 4)".
    """
    if len(expression) > MAX_EXPRESSION_CHARS:
        raise ValueError(f"expression is longer than {MAX_EXPRESSION_CHARS} characters")
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError:
        raise ValueError(f"not an arithmetic expression: {expression!r}") from None
    return _format_number(_evaluate(tree))


def tool_answer_correct(prompt: str, completion: str, *, answer: Any, messages: list[dict] | None = None,
                        require_tool: bool = False, **_: Any) -> float:
    """1.0 if the final answer's number equals the row's ``answer`` (as ``math_correct``), else 0.0.

    ``messages`` is the whole episode, which the GRPO trainer passes for tool rollouts; with
    ``require_tool`` (a reward kwarg) an answer only counts when some tool result came before it.
    """
    if require_tool and not any(message["role"] == "tool" for message in messages or []):
        return 0.0
    return math_correct(prompt, completion, answer=answer)
