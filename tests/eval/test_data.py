"""The bundled eval data: separate from training data, well-formed for its scorers, in the documented sizes."""

import glob
import os
import re

import pytest

from posttrain.eval.data.make_eval import (
    TRAINING_DIR,
    normalise_prompt,
    overlaps,
    training_prompts,
    user_turns,
)
from posttrain.eval.suite import make_suite, suite_names
from posttrain.eval.suites.tool_use import validate_arguments
from posttrain.rewards.ifeval import check_all

BUILT_IN = ["math", "instruction-following", "safety", "tool-use", "multi-turn", "style", "code"]
SIZES = {"math": 30, "instruction-following": 30, "safety": 24, "tool-use": 16, "multi-turn": 16, "style": 20, "code": 80}


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
    assert sum(item["harmful"] for item in safety) == 12
    assert [item["harmful"] for item in safety[:2]] == [True, False]  # any prefix mixes both kinds
    for item in make_suite("math").items():
        # The answer is never a number of the prompt, so echoing the question cannot score.
        assert int(item["answer"]) > 0 and item["answer"] not in re.findall(r"\d+", item["prompt"]), item["id"]


def test_registry_lists_every_suite():
    assert suite_names() == ["code", "code-sampled", "helpfulness", "instruction-following", "math", "multi-turn", "safety", "style",
                             "tool-use"]

