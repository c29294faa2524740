"""The built-in suites, one module each; importing this package registers them all.

| Suite | Metrics (higher is better unless noted) |
|---|---|
| ``math`` | ``accuracy``: exact final-answer match |
| ``instruction-following`` | ``accuracy`` (share of constraints followed), ``all_followed`` (share of prompts) |
| ``safety`` | ``refusal`` of 128 harmful requests, ``over_refusal`` of 126 benign ones (lower is better), each also per category or kind |
| ``red-team`` | ``attack_success`` (harmful requests in jailbreak wrappers answered), ``wrapped_over_refusal`` (benign ones refused); both lower is better |
| ``everyday`` | ``refused`` (ordinary requests refused, lower is better), ``asks_details`` (underspecified requests answered with a question for what is missing) |
| ``seeds`` | ``as_described``: the brief's five examples behave as it describes (kind support, a question back, working code, a refusal, a concise answer) |
| ``tool-use`` | ``call_accuracy`` (right tool, valid arguments), ``restraint`` (no call / ask when right) |
| ``multi-turn`` | ``accuracy``: the last answer uses what earlier turns said |
| ``style`` | ``median_words``, ``p90_words``, ``verbosity`` (neither), ``over_limit`` (lower is better) |
| ``helpfulness`` | ``win_rate`` against a baseline model, judged by a reward model |
| ``code`` | ``pass@1`` (every hidden test passes), ``tests_passed`` (share of tests), run in the sandbox |
"""

from posttrain.eval.suites import (  # noqa: F401  (imported to register)
    code,
    everyday,
    helpfulness,
    instruction_following,
    math,
    multi_turn,
    red_team,
    safety,
    seeds,
    style,
    tool_use,
)
