"""Resolving rewards by name, weighted combinations with per-component scores, and failure handling."""

import math

import pytest

from posttrain.errors import UserError
from posttrain.rewards import BUILTIN, combine, resolve_reward, score_rollouts
from posttrain.rewards.format import length_penalty
from posttrain.rewards.math import math_correct


def test_resolve_builtin_and_module_function(tmp_path, monkeypatch):
    assert resolve_reward("math_correct") is math_correct
    assert set(BUILTIN) == {"math_correct", "answer_tag", "instruction_following", "length_penalty", "tool_answer_correct",
                            "code_tests_passed"}
    assert resolve_reward("posttrain.rewards.format:length_penalty") is length_penalty
    (tmp_path / "my_rewards.py").write_text("def brevity(prompt, completion, **_):\n    return -len(completion)\n")
    from_file = resolve_reward(f"{tmp_path / 'my_rewards.py'}:brevity")
    assert from_file("q", "abc") == -3
    monkeypatch.syspath_prepend(str(tmp_path))
    assert resolve_reward("my_rewards:brevity")("q", "ab") == -2


def test_resolve_errors(tmp_path):
    (tmp_path / "broken.py").write_text("raise RuntimeError('boom')\n")
    (tmp_path / "needs_dep.py").write_text("import not_installed_dependency_xyz\n")
    cases = {
        "math_corect": "unknown reward 'math_corect' (did you mean 'math_correct'?): use one of math_correct, "
                       "answer_tag, instruction_following, length_penalty, tool_answer_correct, code_tests_passed, "
                       "reward_model or module:function",
        "no_such_module_xyz:fn": "reward 'no_such_module_xyz:fn': no module named 'no_such_module_xyz' "
                                 "(put it on PYTHONPATH, or give a file as path/to/file.py:function)",
        "posttrain.no_such:fn": "no module named 'posttrain.no_such'",
        "posttrain.rewards.math:math_corect": "module 'posttrain.rewards.math' has no 'math_corect' "
                                              "(did you mean 'math_correct'?)",
        "posttrain.rewards.math:NUMBER": "reward 'posttrain.rewards.math:NUMBER': 'NUMBER' is a str, not a function",
        f"{tmp_path}/broken.py:fn": "failed: RuntimeError: boom",
        f"{tmp_path}/needs_dep.py:fn": "failed: ModuleNotFoundError: No module named 'not_installed_dependency_xyz'",
        f"{tmp_path}/absent.py:fn": "file not found",
    }
    for spec, message in cases.items():
        with pytest.raises(UserError) as raised:
            resolve_reward(spec)
        assert message in str(raised.value), spec


def test_combine_weights_and_components():
    reward = combine({"math_correct": 1.0, "answer_tag": 0.2})
    assert repr(reward) == "1 * math_correct + 0.2 * answer_tag"
    assert reward("q", "<answer>42</answer>", answer=42) == pytest.approx(1.2)
    assert reward("q", "<answer>41</answer>", answer=42) == pytest.approx(0.2)
    assert reward.components("q", "41", answer=42) == {"math_correct": 0.0, "answer_tag": 0.0}


def test_combine_forms_with_kwargs():
    entry = {"name": "length_penalty", "weight": 0.1, "kwargs": {"target_words": 2}}
    for specs in ([entry, "answer_tag"], {"length_penalty": {"weight": 0.1, "kwargs": {"target_words": 2}},
                                         "answer_tag": 1}):
        reward = combine(specs)
        # "a b c <answer>x</answer>" has 4 words: penalty -(4 - 2) / 2 = -1.0 (weighted -0.1); answer_tag 1.0
        assert reward.components("q", "a b c <answer>x</answer>") == {"length_penalty": -1.0, "answer_tag": 1.0}
        assert reward("q", "a b c <answer>x</answer>") == pytest.approx(0.9)
    assert combine(entry)("q", "a b c") == pytest.approx(-0.05)  # a single entry; 3 words: -0.5 * 0.1
    assert combine("answer_tag")("q", "<answer>1</answer>") == 1.0


@pytest.mark.parametrize(("specs", "message"), [
    ([{"name": "length_penalty", "kwargs": {"target_word": 5}}],
     "reward 'length_penalty': unknown kwarg 'target_word' (did you mean 'target_words'?)"),
    ({"math_correct": "high"}, "reward 'math_correct': weight must be a number, got 'high'"),
    ({"math_correct": True}, "weight must be a number, got True"),
    ([{"name": "math_correct", "weigth": 2}], "reward 'math_correct': unknown key 'weigth' (keys: name, weight, kwargs)"),
    (["answer_tag", {"name": "answer_tag", "weight": 2}], "reward 'answer_tag' is listed twice"),
    ([{"weight": 1}], "a reward entry is a name or {'name', 'weight', 'kwargs'}, got {'weight': 1}"),
    ([], "no reward given"),
    (3, "reward must be a name, a {name: weight} mapping or a list, got 3"),
    ([{"name": "reward_model", "kwargs": {}}], "reward 'reward_model': bad kwargs:"),
    ([{"name": "reward_model", "kwargs": {"model_path": "x", "dtype": "float64"}}],
     "reward_model: dtype must be one of float32, bfloat16, float16, got 'float64'"),
])
def test_combine_errors(specs, message):
    with pytest.raises(UserError) as raised:
        combine(specs)
    assert message in str(raised.value)


def test_score_rollouts_records_a_failing_sample():
    reward = combine({"math_correct": 1.0, "answer_tag": 0.2})
    prompts = ["What is 40 + 2?", "What is 1 + 1?", "What is 2 + 2?"]
    completions = ["<answer>42</answer>", "<answer>2</answer>", "5"]
    rows = [{"prompt": prompts[0], "answer": "42"}, {"prompt": prompts[1]}, {"answer": 4}]  # row 1 lacks its answer
    scores, components, failures = score_rollouts(reward, prompts, completions, rows)
    assert scores == pytest.approx([1.2, 0.0, 0.0])  # sample 1 fails: 0.0 although its tag is fine
    assert components == {"math_correct": [1.0, 0.0, 0.0], "answer_tag": [1.0, 1.0, 0.0]}
    assert failures == [{"index": 1, "reward": "math_correct", "prompt": "What is 1 + 1?",
                         "error": "TypeError: math_correct() missing 1 required keyword-only argument: 'answer'"}]


def test_score_rollouts_rejects_non_numbers():
    values = iter([None, math.nan, True, 2])

    def flaky(prompt, completion, **_):
        return next(values)

    scores, components, failures = score_rollouts(flaky, ["a", "b", "c", "d"], ["x"] * 4, [{}] * 4)
    assert scores == [0.0, 0.0, 1.0, 2.0] and components == {"flaky": [0.0, 0.0, 1.0, 2.0]}
    assert [(failure["index"], failure["error"]) for failure in failures] == [
        (0, "TypeError: reward returned NoneType 'None', not a number"), (1, "ValueError: reward returned nan")]


def test_score_rollouts_all_failing_raises():
    prompts = ["What is 1 + 1?", "What is 2 + 2?"]
    with pytest.raises(UserError) as raised:
        score_rollouts(combine("math_correct"), prompts, ["2", "4"], [{}, {}])
    assert str(raised.value) == (
        "reward 'math_correct' failed on all 2 samples of the batch; first error: TypeError: math_correct() "
        "missing 1 required keyword-only argument: 'answer' (prompt: 'What is 1 + 1?')")


def test_score_rollouts_empty_batch():
    assert score_rollouts(combine("answer_tag"), [], [], []) == ([], {"answer_tag": []}, [])


class BatchedLength:
    """A reward with a batched path: score_rollouts must call score_batch once, never __call__."""

    def __init__(self, extra: int = 0):
        self.calls, self.extra = [], extra

    def score_batch(self, prompts, completions):
        self.calls.append((prompts, completions))
        return [float(len(completion)) for completion in completions] + [0.0] * self.extra

    def __call__(self, prompt, completion, **_):
        raise AssertionError("scored one at a time")


def test_score_rollouts_uses_score_batch():
    batched = BatchedLength()
    scores, components, failures = score_rollouts(batched, ["p1", "p2"], ["abc", "de"], [{"answer": 1}, {}])
    assert scores == [3.0, 2.0] and components == {"BatchedLength": [3.0, 2.0]} and failures == []
    assert batched.calls == [(["p1", "p2"], ["abc", "de"])]


def test_score_rollouts_batch_of_wrong_length_fails_loudly():
    with pytest.raises(UserError, match=r"failed on all 2 samples .* ValueError: score_batch returned 3 scores for 2"):
        score_rollouts(BatchedLength(extra=1), ["p1", "p2"], ["abc", "de"], [{}, {}])
