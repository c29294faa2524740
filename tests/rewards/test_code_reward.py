"""Code extraction from chat answers, and the code_tests_passed reward run in the sandbox."""

import pytest

from posttrain.errors import UserError
from posttrain.rewards import BUILTIN, combine, score_rollouts
from posttrain.rewards.code import code_tests_passed, extract_code

ADD = "def add(a, b):\n    return a + b"


@pytest.mark.parametrize(("answer", "entry_point", "expected"), [
    # fences: python, py, bare, an upper-case tag, prose around them
    (f"Here you go:\n```python\n{ADD}\n```\nIt adds the numbers.", "add", ADD),
    (f"```py\n{ADD}\n```", "add", ADD),
    (f"Sure.\n\n```\n{ADD}\n```", "add", ADD),
    (f"```Python\n{ADD}\n```", "add", ADD),
    # generation stopped at max tokens inside the block: the open fence runs to the end
    ("Here:\n```python\ndef add(a, b):\n    return a +", "add", "def add(a, b):\n    return a +"),
    # the block defining the entry point wins over a usage example, whichever comes first
    (f"```python\nprint(add(2, 3))\n```\nand\n```python\n{ADD}\n```", "add", ADD),
    (f"```python\n{ADD}\n```\nUsage:\n```python\nprint(add(2, 3))  # 5\n```", "add", ADD),
    # a fix quotes the broken version first: the last definition is the answer
    ("Broken:\n```python\ndef add(a, b):\n    return a - b\n```\nFixed:\n```python\n" + ADD + "\n```", "add", ADD),
    # no block defines the entry point: the blocks that define functions are joined, in order
    ("```python\ndef helper(x):\n    return x\n```\n```python\nprint(1)\n```\n```python\nclass Box:\n    pass\n```",
     "add", "def helper(x):\n    return x\n\nclass Box:\n    pass"),
    # no definitions at all: the longest block that parses
    ("```python\nx = [1, 2, 3]\n```\n```python\ny = (((((\n```", None, "x = [1, 2, 3]"),
    ("```python\nx = 1\n```\n```python\ny = 2\n```", None, "y = 2"),  # ties go to the last block
    # other languages are skipped; an indented fence (inside a list item) is dedented
    (f"Install nothing:\n```bash\npip install x\n```\n```python\n{ADD}\n```", "add", ADD),
    ("1. Write it:\n   ```python\n   def add(a, b):\n       return a + b\n   ```", "add", ADD),
    # Windows line endings
    ("```python\r\ndef add(a, b):\r\n    return a + b\r\n```", "add", ADD),
])
def test_extract_code_from_fences(answer, entry_point, expected):
    assert extract_code(answer, entry_point) == expected


@pytest.mark.parametrize(("answer", "entry_point", "expected"), [
    # prose before and after the function is dropped; blank lines inside the body stay
    ("Sure! Here's the function:\n\ndef add(a, b):\n    total = a + b\n\n    return total\n\nThis returns the sum.",
     "add", "def add(a, b):\n    total = a + b\n\n    return total"),
    # imports and helpers directly above the entry point belong to it
    ("You need math:\nimport math\n\ndef root(x):\n    return math.sqrt(x)\nDone.", "root",
     "import math\n\ndef root(x):\n    return math.sqrt(x)"),
    ("def helper(x):\n    return x * 2\n\ndef twice(x):\n    return helper(x)\nThat's all.", "twice",
     "def helper(x):\n    return x * 2\n\ndef twice(x):\n    return helper(x)"),
    # a top-level call after the function is not part of it
    (f"{ADD}\n\nprint(add(1, 2))", "add", ADD),
    # the last run of code that defines the entry point (the fix after the quoted bug)
    ("The bug is here:\ndef add(a, b):\n    return a - b\nIt should add:\n" + ADD + "\nNow it works.", "add", ADD),
    # without the entry point: the first run of code
    ("First:\ndef f(x):\n    return x\nand later:\ndef g(x):\n    return 2", None, "def f(x):\n    return x"),
    ("def other(x):\n    return x", "add", "def other(x):\n    return x"),  # a misnamed function is still code
    # an indented prose line right before the code is not code
    ("Steps:\n  1. loop over it\ndef add(a, b):\n    return a + b", "add", ADD),
])
def test_extract_code_without_fences(answer, entry_point, expected):
    assert extract_code(answer, entry_point) == expected


@pytest.mark.parametrize("answer", [
    "",
    "I am not sure how to do that.",
    "import the module first\nfrom the list, pick one",  # prose lines starting like code are not code
    "```bash\npip install numpy\n```",
    "```python\n\n   \n```",
])
def test_extract_code_finds_nothing(answer):
    assert extract_code(answer, "add") is None


TESTS = ["assert add(2, 3) == 5", "assert add(-1, 1) == 0"]


def test_reward_is_the_share_of_tests_passed():
    assert code_tests_passed("q", f"```python\n{ADD}\n```", tests=TESTS, entry_point="add") == 1.0
    # right for add(2, 3) only
    half = "```python\ndef add(a, b):\n    return 5\n```"
    assert code_tests_passed("q", half, tests=TESTS, entry_point="add") == 0.5
    assert code_tests_passed("q", half, tests=TESTS, entry_point="add", all_pass_bonus=0.5) == 0.5
    assert code_tests_passed("q", ADD, tests=TESTS, entry_point="add", all_pass_bonus=0.5) == 1.5
    assert code_tests_passed("q", half, tests=TESTS, entry_point="add", partial_credit=False) == 0.0
    assert code_tests_passed("q", ADD, tests=TESTS, entry_point="add", partial_credit=False) == 1.0
    # no code, code that does not parse, code that raises when loaded, the wrong name
    assert code_tests_passed("q", "It is a + b.", tests=TESTS, entry_point="add") == 0.0
    assert code_tests_passed("q", "```python\ndef add(a, b)\n    return a + b\n```", tests=TESTS) == 0.0
    assert code_tests_passed("q", "```python\nraise ValueError('no')\n```", tests=TESTS) == 0.0
    assert code_tests_passed("q", "def plus(a, b):\n    return a + b", tests=TESTS, entry_point="add") == 0.0


@pytest.mark.parametrize("tests", [None, [], "assert add(1, 1) == 2"])
def test_reward_refuses_rows_without_a_list_of_tests(tests):
    with pytest.raises(UserError, match="tests must be a non-empty list of call checks or statements"):
        code_tests_passed("q", ADD, tests=tests)


@pytest.mark.parametrize("test, message", [
    (1, "a test is an assert statement or"),
    ({"call": "add(1, 1)"}, "a test is an assert statement or"),
    ({"call": "add(x, 1)", "expected": "2"}, "every argument must be a literal"),
    ({"call": "obj.add(1, 1)", "expected": "2"}, "must call a function by name"),
    ({"call": "add(1, 1)", "expected": "two"}, "is not a Python literal"),
])
def test_reward_refuses_malformed_tests_in_one_line(test, message):
    with pytest.raises(UserError, match=message):
        code_tests_passed("q", ADD, tests=[test])


def test_call_checks_keep_types_apart_that_equality_mixes_up():
    """The parent's comparison: True is no 1, a list is no tuple; ints and floats compare as numbers."""
    from posttrain.sandbox.checks import same_value

    assert same_value(True, True) and not same_value(1, True) and not same_value(True, 1)
    assert same_value(2.0, 2) and same_value(0.1 + 0.2, 0.3) and not same_value(0.31, 0.3)
    assert not same_value([1, 2], (1, 2)) and same_value({"a": [1, (2,)]}, {"a": [1, (2,)]})
    assert same_value(frozenset({1}), {1}) and not same_value({1: 2}, {1: 3}) and not same_value("1", 1)


def test_builtin_reward_reads_the_row_fields_through_score_rollouts():
    assert BUILTIN["code_tests_passed"] is code_tests_passed
    reward = combine({"name": "code_tests_passed", "kwargs": {"all_pass_bonus": 1.0}})
    rows = [{"prompt": "add", "tests": TESTS, "entry_point": "add", "solution": "ignored"},
            {"prompt": "mul", "tests": ["assert mul(2, 3) == 6"], "entry_point": "mul"}]
    completions = [f"```python\n{ADD}\n```", "def mul(a, b):\n    return a + b"]
    scores, components, failures = score_rollouts(reward, ["add", "mul"], completions, rows)
    assert scores == [2.0, 0.0] and components == {"code_tests_passed": [2.0, 0.0]} and failures == []


def test_a_batch_is_scored_in_parallel_with_each_rows_tests(monkeypatch):
    from posttrain import sandbox

    rows = [{"prompt": "p", "entry_point": "double", "tests": ["assert double(2) == 4", "assert double(0) == 0"]},
            {"prompt": "p", "entry_point": "inc", "tests": ["assert inc(1) == 2"]},
            {"prompt": "p", "entry_point": "inc", "tests": ["assert inc(1) == 2"]}]
    completions = ["```python\ndef double(x):\n    return x * 2 if x else 1\n```",
                   "```python\ndef inc(x):\n    return x + 1\n```",
                   "I cannot write code."]
    calls = []
    real = sandbox.run_many
    monkeypatch.setattr(sandbox, "run_many", lambda jobs, *a, **k: calls.append(len(jobs)) or real(jobs, *a, **k))
    scores, _, failures = score_rollouts(code_tests_passed, ["p"] * 3, completions, rows)
    assert scores == [0.5, 1.0, 0.0] and failures == []
    assert calls == [2]  # one parallel call for the two answers holding code
    one_by_one = [code_tests_passed("p", c, **{k: v for k, v in r.items() if k != "prompt"})
                  for c, r in zip(completions, rows)]
    assert one_by_one == scores
    # A recipe's all_pass_bonus (a bound kwarg) keeps the one parallel call and adds the bonus.
    calls.clear()
    bonus = combine({"name": "code_tests_passed", "kwargs": {"all_pass_bonus": 0.5}})
    scores, _, failures = score_rollouts(bonus, ["p"] * 3, completions, rows)
    assert scores == [0.5, 1.5, 0.0] and failures == [] and calls == [2]
    calls.clear()
    binary = combine({"name": "code_tests_passed", "kwargs": {"partial_credit": False}})
    scores, _, failures = score_rollouts(binary, ["p"] * 3, completions, rows)
    assert scores == [0.0, 1.0, 0.0] and failures == [] and calls == [2]


@pytest.mark.parametrize("kwargs, message", [({"partial_credit": "false"}, "partial_credit must be true or false"),
                                             ({"all_pass_bonus": "0.5"}, "all_pass_bonus must be a number")])
def test_mistyped_reward_options_stop_the_batch_with_one_line(kwargs, message):
    reward = combine({"name": "code_tests_passed", "kwargs": kwargs})
    rows = [{"prompt": "p", "entry_point": "add", "tests": TESTS}] * 2
    with pytest.raises(UserError, match=message):
        score_rollouts(reward, ["p", "p"], [f"```python\n{ADD}\n```", "no code"], rows)
    with pytest.raises(UserError, match=message):
        code_tests_passed("p", "no code", tests=TESTS, **kwargs)


def test_a_bound_kwarg_the_batch_scorer_lacks_scores_one_by_one():
    import functools

    from posttrain.rewards.registry import _batch_scorer

    def reward(prompt, completion, *, scale=1.0, **_):
        return scale * len(completion)

    reward.score_batch = lambda prompts, completions: [0.0] * len(prompts)  # knows no scale
    assert _batch_scorer(reward) == (reward.score_batch, {})
    assert _batch_scorer(functools.partial(reward, scale=2.0)) == (None, {})
    scores, _, failures = score_rollouts(functools.partial(reward, scale=2.0), ["p", "p"], ["ab", "abc"], [{}, {}])
    assert scores == [4.0, 6.0] and failures == []


def test_a_recipe_reward_list_binds_the_all_pass_bonus():
    from posttrain.config import GRPOConfig

    config = GRPOConfig(reward=[{"name": "code_tests_passed", "weight": 2.0, "kwargs": {"all_pass_bonus": 0.5}}])
    reward = combine(config.reward)
    answer = "```python\ndef f(x):\n    return x\n```"
    assert reward("p", answer, tests=["assert f(1) == 1"], entry_point="f") == 2.0 * 1.5
    assert reward("p", answer, tests=["assert f(1) == 1", "assert f(2) == 3"], entry_point="f") == 2.0 * 0.5
