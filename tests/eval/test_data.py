"""The bundled eval data: separate from training data, well-formed for its scorers, in the documented sizes."""

import glob
import os
import re
from collections import Counter

import pytest

from datagen.make_eval import (
    TRAINING_DIR,
    normalise_prompt,
    overlaps,
    training_prompts,
    user_turns,
)
from posttrain.eval.suite import make_suite, suite_names
from posttrain.eval.suites.tool_use import validate_arguments
from posttrain.rewards.ifeval import check_all

BUILT_IN = ["math", "instruction-following", "safety", "red-team", "everyday", "seeds", "tool-use", "multi-turn", "style",
            "code"]
SIZES = {"math": 30, "instruction-following": 30, "safety": 254, "red-team": 104, "everyday": 48, "seeds": 5,
         "tool-use": 16, "multi-turn": 16, "style": 20, "code": 80}


def test_normalise_prompt():
    assert normalise_prompt("  What's   12 + 30?\n") == "whats 12 30"
    assert normalise_prompt("HOW do I kill a Python process") == normalise_prompt("How do I kill a python process?")


def test_user_turns_are_found_in_every_row_shape():
    row = {"prompt": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}], "chosen": "c"}
    assert list(user_turns(row)) == ["a"]
    assert list(user_turns({"prompt": "x", "messages": [{"role": "user", "content": "y"}]})) == ["x", "y"]


def test_no_eval_prompt_appears_in_the_training_data():
    """Every bundled training file (held-out splits and files added later included) is checked."""
    assert glob.glob(os.path.join(TRAINING_DIR, "*.jsonl")), "no training files found: the check would be empty"
    train = training_prompts()
    assert len(train) > 500
    for name in BUILT_IN:
        items = make_suite(name).items()
        assert overlaps(items, train) == [], name
    # The check itself catches a leak, after normalisation.
    leaked = {"prompt": train[0].upper() + "  !"}
    assert overlaps([leaked], train) == [leaked["prompt"]]


@pytest.mark.parametrize("name", BUILT_IN)
def test_suite_data_sizes_and_unique_ids(name):
    items = make_suite(name).items()
    assert len(items) == SIZES[name]
    assert len({item["id"] for item in items}) == len(items)
    assert len({normalise_prompt(list(user_turns(item))[-1]) for item in items}) == len(items)


def test_items_are_valid_for_their_scorers():
    for item in make_suite("instruction-following").items():
        check_all(item["constraints"], "")  # raises UserError on a malformed constraint
    for item in make_suite("tool-use").items():
        if isinstance(item["expect"], dict):
            tool = next(t["function"] for t in item["tools"] if t["function"]["name"] == item["expect"]["name"])
            # Expected arguments may leave out free text (an email body) but must be valid otherwise.
            problems = validate_arguments(tool["parameters"], item["expect"]["arguments"])
            assert all(p.startswith("missing required") for p in problems), (item["id"], problems)
        else:
            assert item["expect"] in ("no_call", "ask")
    safety = make_suite("safety").items()
    assert sum(item["harmful"] for item in safety) == 128
    assert [item["harmful"] for item in safety[:2]] == [True, False]  # any prefix mixes both kinds
    for item in make_suite("math").items():
        # The answer is never a number of the prompt, so echoing the question cannot score.
        assert int(item["answer"]) > 0 and item["answer"] not in re.findall(r"\d+", item["prompt"]), item["id"]


def test_judgement_suites_have_the_documented_make_up():
    """Safety: >= 120 harmful requests over 8 categories (16 each, several phrasings) and >= 120 benign ones of
    three kinds; red-team: every wrapper around every harm category and around benign requests; everyday:
    plain and underspecified requests; every prefix of 16 items mixes the kinds."""
    safety = make_suite("safety").items()
    harmful = Counter(item["category"] for item in safety if item["harmful"])
    benign = Counter(item["category"] for item in safety if not item["harmful"])
    assert set(harmful) == {"weapons", "drugs", "cyber", "violence", "self-harm", "fraud", "harassment", "privacy"}
    assert set(harmful.values()) == {16} and set(benign) == {"everyday", "look-alike", "sensitive"}
    assert sum(benign.values()) >= 120 and min(benign.values()) >= 40
    assert len({item["category"] for item in safety[:16]}) >= 8
    red = make_suite("red-team").items()
    wrappers = {item["wrapper"] for item in red}
    assert len(wrappers) == 8
    for wrapper in wrappers:
        inside = [item for item in red if item["wrapper"] == wrapper]
        assert {item["category"] for item in inside if item["harmful"]} == set(harmful)
        assert sum(not item["harmful"] for item in inside) == 5
        for item in inside:  # the request reads as written, except where leetspeak hides its spelling
            visible = normalise_prompt(item["request"]) in normalise_prompt(item["prompt"])
            assert visible == (wrapper != "obfuscated"), item["id"]
    assert {item["harmful"] for item in red[:4]} == {True, False}
    everyday = make_suite("everyday").items()
    assert Counter(item["kind"] for item in everyday) == {"plain": 32, "underspecified": 16}
    assert all(item["missing"] for item in everyday if item["kind"] == "underspecified")


def test_red_team_requests_are_neither_safety_nor_training_prompts():
    """The suite measures the wrapper: its bare requests are not prompts a model was trained on or is
    scored on elsewhere (the generator checks this too)."""
    seen = {normalise_prompt(turn) for turn in training_prompts()}
    seen |= {normalise_prompt(item["prompt"]) for item in make_suite("safety").items()}
    requests = {item["request"] for item in make_suite("red-team").items()}
    assert len(requests) == 26
    assert [request for request in requests if normalise_prompt(request) in seen] == []


def test_registry_lists_every_suite():
    assert suite_names() == ["code", "code-sampled", "everyday", "helpfulness", "instruction-following", "math",
                             "multi-turn", "red-team", "safety", "seeds", "style", "tool-use"]

