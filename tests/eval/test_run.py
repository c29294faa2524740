"""``evaluate`` end to end on the tiny random model, the result JSON, user suites, helpfulness, and the CLI."""

import json
import subprocess
import sys

import pytest

from posttrain.errors import UserError
from posttrain.eval.generation import Request, answer_requests
from posttrain.rollout.tools import template_renders_tools, with_tools_in_system
from posttrain.eval.run import evaluate, format_table, write_result

SUITES = ["math", "instruction-following", "safety", "tool-use", "multi-turn", "style"]


@pytest.fixture(scope="module")
def result(tiny_model):
    return evaluate(tiny_model, SUITES, limit=2, seed=0, progress=False)


def test_result_structure(result, tiny_model):
    assert set(result) == {"model", "created", "seed", "package_version", "metrics", "items"}
    assert result["model"] == tiny_model and result["seed"] == 0 and result["package_version"] == "0.1.0"
    assert list(result["metrics"]) == [
        "math.accuracy", "instruction-following.accuracy", "instruction-following.all_followed",
        "safety.refusal", "safety.over_refusal", "safety.refusal_weapons", "safety.over_refusal_everyday",
        "tool-use.call_accuracy", "tool-use.restraint",
        "multi-turn.accuracy", "style.median_words", "style.p90_words", "style.verbosity", "style.over_limit"]
    for name, metric in result["metrics"].items():
        assert set(metric) == {"value", "ci", "n", "higher_is_better"}
        low, high = metric["ci"]
        assert low <= metric["value"] <= high, name
    directions = {name: metric["higher_is_better"] for name, metric in result["metrics"].items()}
    assert directions["math.accuracy"] is True and directions["safety.over_refusal"] is False
    assert directions["style.median_words"] is None and directions["style.over_limit"] is False
    # limit=2 takes two items per suite; safety's first two are one harmful, one benign request.
    assert result["metrics"]["safety.refusal"]["n"] == 1 and result["metrics"]["safety.over_refusal"]["n"] == 1
    # ... and the per-category breakdown has only the categories those two items belong to.
    assert result["metrics"]["safety.refusal_weapons"]["n"] == 1
    assert result["metrics"]["style.median_words"]["n"] == 2 and result["metrics"]["math.accuracy"]["n"] == 2


def test_every_item_has_its_trace(result):
    items = result["items"]
    assert [item["suite"] for item in items] == [name for name in SUITES for _ in range(2)]
    assert [item["id"] for item in items[:2]] == ["math-0001", "math-0002"]
    for item in items:
        assert set(item) == {"suite", "id", "prompt", "answer", "score", "reason", "metric"}
        assert item["prompt"][-1]["role"] == "user" and item["prompt"][-1]["content"]
        assert isinstance(item["answer"], str) and isinstance(item["score"], float) and item["reason"]
        assert item["metric"] in result["metrics"]
    # A metric's value is the mean score of the items carrying it.
    math_scores = [item["score"] for item in items if item["metric"] == "math.accuracy"]
    assert result["metrics"]["math.accuracy"]["value"] == sum(math_scores) / 2


def test_result_round_trips_and_table_lists_every_metric(result, tmp_path):
    path = tmp_path / "out" / "result.json"
    write_result(result, str(path))
    assert json.loads(path.read_text()) == result
    table = format_table(result).splitlines()
    assert table[0].split() == ["suite", "metric", "value", "95%", "CI", "n"]
    assert len(table) == 2 + len(result["metrics"])
    assert table[2].split()[:2] == ["math", "accuracy"] and table[2].split()[-1] == "2"


def test_answers_keep_request_order_across_setting_groups(tiny_model):
    from posttrain.models.loading import load_model, load_tokenizer
    from posttrain.rollout.generate import SamplingParams, generate_chat

    tokenizer, model = load_tokenizer(tiny_model), load_model(tiny_model)
    chats = [[{"role": "user", "content": text}] for text in ("What is 2 + 2?", "Hello there!", "Answer: 7.")]
    requests = [Request(chats[0], None, 3), Request(chats[1], None, 6), Request(chats[2], None, 3)]
    answers = answer_requests(model, tokenizer, requests, batch_size=2)
    alone = [generate_chat(model, tokenizer, [r.messages], SamplingParams(max_new_tokens=r.max_new_tokens,
                                                                           temperature=0))[0].text for r in requests]
    assert answers == alone
    # The test template ignores tools, so the schemas go into a system message.
    assert not template_renders_tools(tokenizer)
    folded = with_tools_in_system([{"role": "system", "content": "Be brief."}, *chats[0]], [{"name": "t"}])
    assert folded[0]["content"].startswith("Be brief.\n\nYou can call the following tools") and folded[1:] == chats[0]


def test_user_suite_from_jsonl_and_scorer(tiny_model, tmp_path, monkeypatch):
    data = tmp_path / "greetings.jsonl"
    data.write_text('{"prompt": "Say hi"}\n{"messages": [{"role": "user", "content": "Hello"}], "id": "g2"}\n')
    (tmp_path / "my_scorers.py").write_text(
        "def score(item, answer):\n    return (1.0 if item['id'] == 'g2' else 0.0), 'by id'\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delitem(sys.modules, "my_scorers", raising=False)
    result = evaluate(tiny_model, [f"{data}:my_scorers:score"], progress=False)
    assert result["metrics"]["greetings.score"]["value"] == 0.5 and result["metrics"]["greetings.score"]["n"] == 2
    assert [(item["id"], item["score"], item["reason"]) for item in result["items"]] == [
        ("greetings-0001", 0.0, "by id"), ("g2", 1.0, "by id")]
    with pytest.raises(UserError, match="has no 'nope'"):
        evaluate(tiny_model, [f"{data}:my_scorers:nope"], progress=False)


def test_helpfulness_against_itself_is_all_ties(tiny_model, tmp_path):
    """The same model as baseline gives the same greedy answers, so every pair ties: win rate 0.5."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    judge = tmp_path / "rm"
    AutoModelForSequenceClassification.from_pretrained(tiny_model, num_labels=1).save_pretrained(judge)
    AutoTokenizer.from_pretrained(tiny_model).save_pretrained(judge)
    result = evaluate(tiny_model, ["helpfulness"], limit=3, judge=str(judge), baseline=tiny_model, progress=False)
    assert result["metrics"]["helpfulness.win_rate"] == {"value": 0.5, "ci": [0.5, 0.5], "n": 3, "higher_is_better": True}
    assert all(item["reason"].startswith("tie: reward") for item in result["items"])


def test_cli_unknown_suite_is_one_line_error(tiny_model):
    run = subprocess.run([sys.executable, "-m", "posttrain.cli", "eval", tiny_model, "--suite", "saftey"],
                         capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert run.stderr.strip().splitlines() == [(
        "error: unknown suite 'saftey' (did you mean 'safety'?); suites: code, code-sampled, everyday, helpfulness, "
        "instruction-following, math, multi-turn, red-team, safety, seeds, style, tool-use or FILE.jsonl:MODULE:FUNCTION")]


def test_cli_runs_several_suites_after_one_flag(tiny_model, tmp_path):
    out = tmp_path / "result.json"
    run = subprocess.run([sys.executable, "-m", "posttrain.cli", "eval", tiny_model, "--suite", "math", "safety",
                          "--limit", "1", "--no-progress", "--out", str(out)], capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stderr
    saved = json.loads(out.read_text())
    assert [item["suite"] for item in saved["items"]] == ["math", "safety"]
    rows = [line.split() for line in run.stdout.splitlines()]
    assert ["math", "accuracy", "↑"] == rows[2][:3] and ["safety", "refusal", "↑"] == rows[3][:3]
    assert f"wrote {out}" in run.stdout
