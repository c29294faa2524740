"""The built-in suites, one module each; importing this package registers them all.

| Suite | Metrics (higher is better unless noted) |
|---|---|
| ``math`` | ``accuracy``: exact final-answer match |
| ``instruction-following`` | ``accuracy`` (share of constraints followed), ``all_followed`` (share of prompts) |
| ``safety`` | ``refusal`` on harmful requests, ``over_refusal`` on benign look-alikes (lower is better) |
| ``tool-use`` | ``call_accuracy`` (right tool, valid arguments), ``restraint`` (no call / ask when right) |
| ``multi-turn`` | ``accuracy``: the last answer uses what earlier turns said |
| ``style`` | ``median_words``, ``p90_words``, ``verbosity`` (neither), ``over_limit`` (lower is better) |
| ``helpfulness`` | ``win_rate`` against a baseline model, judged by a reward model |
| ``code`` | ``pass@1`` (every hidden test passes), ``tests_passed`` (share of tests), run in the sandbox |
"""

from posttrain.eval.suites import (  # noqa: F401  (imported to register)
    code,
    helpfulness,
    instruction_following,
    math,
    multi_turn,
    safety,
    style,
    tool_use,
)
