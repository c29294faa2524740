"""The code suite: pass@k by hand, scoring hand-written answers in the sandbox, aggregates and the run path."""

import json
from math import comb

import pytest

from posttrain.errors import DataError
from posttrain.eval.run import evaluate_model, suite_metrics
from posttrain.eval.suite import RunSettings, ScoredItem, make_suite
from posttrain.eval.suites.code import (
    CodeSampledSuite,
    CodeSuite,
    pass_at_k,
    pass_at_k_from_samples,
)


@pytest.mark.parametrize(("n", "c", "k", "expected"), [
    (5, 2, 1, 0.4),        # one draw: c / n = 2/5
    (5, 2, 2, 0.7),        # 1 - C(3, 2) / C(5, 2) = 1 - 3/10
    (5, 0, 3, 0.0),        # nothing correct
    (5, 4, 2, 1.0),        # n - c = 1 < k: every pair holds a correct answer
    (3, 1, 2, 2 / 3),      # 1 - C(2, 2) / C(3, 2) = 1 - 1/3
    (1, 1, 1, 1.0),
    (10, 10, 1, 1.0),
])
def test_pass_at_k_by_hand(n, c, k, expected):
    assert pass_at_k(n, c, k) == pytest.approx(expected, abs=1e-12)


def test_pass_at_k_equals_the_ratio_of_binomials_and_stays_finite_for_large_n():
    for n in range(1, 13):
        for c in range(n + 1):
            for k in range(1, n + 1):
                assert pass_at_k(n, c, k) == pytest.approx(1 - comb(n - c, k) / comb(n, k), abs=1e-12)
    # C(2000, 1000) overflows a float; the product form does not.
    assert pass_at_k(2000, 1, 1000) == pytest.approx(0.5)
    assert pass_at_k(2000, 3, 1000) == pytest.approx(1 - (1000 * 999 * 998) / (2000 * 1999 * 1998))


@pytest.mark.parametrize(("n", "c", "k"), [(0, 0, 1), (5, 6, 1), (5, 2, 0), (5, 2, 6), (5, -1, 1)])
def test_pass_at_k_refuses_impossible_counts(n, c, k):
    with pytest.raises(ValueError, match="pass_at_k needs"):
        pass_at_k(n, c, k)


def test_pass_at_k_from_samples_averages_items():
    samples = [[True, False, False], [False, False, False]]
    assert pass_at_k_from_samples(samples, k=2) == pytest.approx((2 / 3 + 0) / 2)
    assert pass_at_k_from_samples(samples, k=1) == pytest.approx((1 / 3 + 0) / 2)
    assert pass_at_k_from_samples([[True], [False]], k=1) == 0.5
    with pytest.raises(ValueError):
        pass_at_k_from_samples([], k=1)


ITEMS = [
    {"id": "t-1", "prompt": "Write `add(a, b)`.", "entry_point": "add", "kind": "write",
     "tests": ["assert add(2, 3) == 5", "assert add(0, 0) == 0"]},
    {"id": "t-2", "prompt": "Write `neg(x)`.", "entry_point": "neg", "kind": "write",
     "tests": ["assert neg(1) == -1", "assert neg(-2) == 2", "assert neg(0) == 0", "assert neg(5) == -5"]},
]


def _score(answers, items=ITEMS):
    return CodeSuite().score_all(items, answers, RunSettings())


def test_score_all_on_hand_written_answers():
    right = "Here it is:\n```python\ndef add(a, b):\n    return a + b\n```"
    wrong = "```python\ndef neg(x):\n    return -abs(x)\n```"  # fails neg(-2) only
    no_code = "You could add them in your head."
    syntax_error = "```python\ndef add(a, b)\n    return a + b\n```"
    raises_on_load = "```python\ndef neg(x):\n    return -x\nneg(undefined_name)\n```"
    items = [ITEMS[0], ITEMS[1], ITEMS[0], ITEMS[0], ITEMS[1]]
    results = _score([right, wrong, no_code, syntax_error, raises_on_load], items)
    assert results[0] == (1.0, "2/2 tests passed")
    assert results[1][0] == 0.75
    assert results[1][1].startswith("3/4 tests passed; first failure (test 2): AssertionError")
    assert results[2] == (0.0, "no code found in the answer")
    assert results[3][0] == 0.0 and results[3][1].startswith("the code raised when loaded: SyntaxError")
    assert results[3][1].endswith("0/2 tests passed")
    assert results[4][0] == 0.0 and results[4][1].startswith("the code raised when loaded: NameError")
    # score() judges one answer the same way
    assert CodeSuite().score(ITEMS[0], right) == (1.0, "2/2 tests passed")
    assert _score([no_code, no_code]) == [(0.0, "no code found in the answer")] * 2  # nothing to run


def test_aggregates_pass_at_1_and_tests_passed():
    suite = CodeSuite()
    scored = [ScoredItem(suite="code", id=str(i), prompt=[], answer="", score=score, reason="",
                         metric=f"code.{suite.metric_of({})}") for i, score in enumerate([1.0, 0.5, 0.0, 1.0])]
    assert suite.aggregates(scored) == {"pass@1": 0.5, "tests_passed": 0.625}
    metrics = suite_metrics(suite, scored)
    assert list(metrics) == ["code.pass@1", "code.tests_passed"]
    assert metrics["code.pass@1"]["n"] == 4 and metrics["code.pass@1"]["higher_is_better"] is True
    assert metrics["code.pass@1"]["ci"][0] <= 0.5 <= metrics["code.pass@1"]["ci"][1]


def test_bundled_items_load_and_score_their_references():
    suite = make_suite("code")
    items = suite.items()
    assert len(items) == 80 and suite.generation.max_new_tokens == 256
    items = items[:8]  # every reference is checked in tests/data/test_code_data.py; here the suite's path
    answers = [f"Here is the function:\n\n```python\n{item['solution']}\n```" for item in items]
    assert [score for score, _ in suite.score_all(items, answers, RunSettings())] == [1.0] * 8
    fixes = [item for item in items if item["kind"] == "debug"]
    unfixed = [f"```python\n{item['broken']}\n```" for item in fixes]  # answering with the broken code
    assert all(score < 1.0 for score, _ in suite.score_all(fixes, unfixed, RunSettings()))


@pytest.mark.parametrize(("field", "value", "message"), [
    ("tests", [], "field 'tests': item code-0001: must be a non-empty list"),
    ("tests", "assert f(1) == 1", "field 'tests'"),
    ("entry_point", "not a name", "field 'entry_point'"),
    ("kind", "refactor", "must be one of write, debug"),
])
def test_malformed_items_are_data_errors(tmp_path, monkeypatch, field, value, message):
    item = {"id": "code-0001", "prompt": "Write f.", "entry_point": "f", "tests": ["assert f(1) == 1"], "kind": "write"}
    (tmp_path / "code.jsonl").write_text(json.dumps({**item, field: value}) + "\n")
    monkeypatch.setattr("posttrain.eval.suite.DATA_DIR", tmp_path)
    monkeypatch.setattr("posttrain.eval.suites.code.DATA_DIR", tmp_path)
    with pytest.raises(DataError, match=message):
        CodeSuite().items()


def test_evaluate_model_reports_the_code_metrics(monkeypatch):
    """The run path with canned answers in place of generation: metrics, traces and reasons."""
    answers = ["```python\ndef add(a, b):\n    return a + b\n```", "no idea"]
    monkeypatch.setattr("posttrain.eval.generation.answer_requests", lambda model, tokenizer, requests, **_: answers)
    result = evaluate_model(None, None, [CodeSuite()], model_name="canned", items={"code": ITEMS})
    assert {name: metric["value"] for name, metric in result["metrics"].items()} == {
        "code.pass@1": 0.5, "code.tests_passed": 0.5}
    assert [(item["id"], item["score"], item["reason"], item["metric"]) for item in result["items"]] == [
        ("t-1", 1.0, "2/2 tests passed", "code.tests_passed"),
        ("t-2", 0.0, "no code found in the answer", "code.tests_passed")]


def test_sampled_suite_estimates_pass_at_k_from_every_sample(monkeypatch):
    """Four samples per item through the run path: an item's score is c / n, pass@k is the unbiased
    estimate over items, and every sample lands in the trace."""
    right = "```python\ndef add(a, b):\n    return a + b\n```"
    wrong = "```python\ndef add(a, b):\n    return a - b\n```"
    neg = "```python\ndef neg(x):\n    return -x\n```"
    answers = [[right, wrong, wrong, right], ["no code", "no code", "no code", neg]]
    seen = []

    def canned(model, tokenizer, requests, **_):
        seen.extend(requests)
        return answers

    monkeypatch.setattr("posttrain.eval.generation.answer_requests", canned)
    suite = CodeSampledSuite()
    result = evaluate_model(None, None, [suite], model_name="canned", items={"code-sampled": ITEMS})
    # the suite's settings; answers end at the closing code fence
    assert [(request.samples, request.temperature, request.stop) for request in seen] == [(8, 0.8, ("\n```\n",))] * 2
    values = {name: metric["value"] for name, metric in result["metrics"].items()}
    # item 1: n=4, c=2; item 2: n=4, c=1. pass@2 = 1 - C(n-c, 2)/C(n, 2): 1 - 1/6 and 1 - 3/6.
    assert values["code-sampled.pass@1"] == pytest.approx((2 / 4 + 1 / 4) / 2)
    assert values["code-sampled.pass@2"] == pytest.approx(((1 - 1 / 6) + (1 - 3 / 6)) / 2)
    assert values["code-sampled.pass@8"] == pytest.approx(1.0)  # k capped at the n drawn; both items have a pass
    first, second = result["items"]
    assert first["samples"] == answers[0] and first["answer"] == right and first["score"] == 0.5
    assert first["reason"].startswith("2/4 samples pass every test; first failing sample: 1/2 tests passed")
    assert second["reason"].startswith("1/4 samples pass every test; first failing sample: no code found")


def test_sampled_answers_are_seeded_and_n_per_request(tiny_model):
    from posttrain.eval.generation import Request, answer_requests
    from posttrain.models.loading import load_model, load_tokenizer

    tokenizer, model = load_tokenizer(tiny_model), load_model(tiny_model)
    chats = [[{"role": "user", "content": text}] for text in ("What is 2 + 2?", "Hello there!")]
    requests = [Request(chat, None, 6, samples=3, temperature=1.0) for chat in chats] + [Request(chats[0], None, 6)]
    answers = answer_requests(model, tokenizer, requests, seed=5, batch_size=4)
    assert [len(answer) for answer in answers[:2]] == [3, 3] and isinstance(answers[2], str)
    assert answer_requests(model, tokenizer, requests, seed=5, batch_size=4) == answers
    assert len(set(answers[0])) > 1  # three draws at temperature 1 from a random model differ



def test_a_suites_stop_strings_end_its_answers_and_stay_in_them(monkeypatch, tiny_model):
    from posttrain.eval import generation
    from posttrain.models.loading import load_model, load_tokenizer

    seen = []

    def fake_generate(model, tokenizer, chats, params, **_):  # the cut itself is generate_chat's (tested there)
        seen.append(params)
        text = "code\n```\nprose after"
        if params.stop and params.include_stop:
            text = text[: text.index(params.stop[0]) + len(params.stop[0])]
        return [type("Completion", (), {"text": text})()] * (len(chats) * params.n)

    monkeypatch.setattr(generation, "generate_chat", fake_generate)
    tokenizer, model = load_tokenizer(tiny_model), load_model(tiny_model)
    chat = [{"role": "user", "content": "Write f."}]
    requests = [generation.Request(chat, None, 8, stop=("\n```\n",)), generation.Request(chat, None, 8)]
    answers = generation.answer_requests(model, tokenizer, requests, batch_size=2)
    assert sorted(tuple(params.stop) for params in seen) == [(), ("\n```\n",)]  # two groups: stop differs
    assert all(params.include_stop for params in seen)
    assert answers == ["code\n```\n", "code\n```\nprose after"]
