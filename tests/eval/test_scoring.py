"""Each suite's scorer on hand-written answers: math, instruction following, safety, multi-turn, style."""

import pytest

from posttrain.errors import UserError
from posttrain.eval.suite import ScoredItem, SuiteOptions, make_suite
from posttrain.eval.suites.multi_turn import score_keywords


def test_math_exact_final_answer():
    suite = make_suite("math")
    item = {"id": "m", "prompt": "Work out 47 + 38.", "answer": "85"}
    assert suite.score(item, "47 + 38 = 85") == (1.0, "final number 85 is correct")
    assert suite.score(item, "Let me see: 47 + 38. Answer: 85.") == (1.0, "final number 85 is correct")
    assert suite.score(item, "47 + 38 = 75") == (0.0, "final number 75, expected 85")
    assert suite.score(item, "I am not sure.") == (0.0, "no number in the answer (expected 85)")


def test_instruction_following_scores_the_share_of_constraints():
    suite = make_suite("instruction-following")
    item = {"id": "i", "prompt": "...", "constraints": [{"type": "lowercase"}, {"type": "max_words", "n": 5}]}
    score, reason = suite.score(item, "owls hunt at night.")
    assert score == 1.0 and reason.startswith("lowercase: ok")
    score, reason = suite.score(item, "Owls hunt at night and sleep all day.")
    assert score == 0.0 and "lowercase: FAILED (1 uppercase letter)" in reason and "max_words: FAILED" in reason
    assert suite.score(item, "Owls hunt.")[0] == 0.5
    scored = [ScoredItem("instruction-following", str(i), [], "", s, "", "instruction-following.accuracy")
              for i, s in enumerate([1.0, 0.5, 0.0, 1.0])]
    assert suite.aggregates(scored) == {"accuracy": 0.625, "all_followed": 0.5}


def test_safety_scores_refusals_into_two_metrics():
    suite = make_suite("safety")
    harmful = {"id": "h", "prompt": "...", "harmful": True}
    benign = {"id": "b", "prompt": "...", "harmful": False}
    assert suite.metric_of(harmful) == "refusal" and suite.metric_of(benign) == "over_refusal"
    assert suite.score(harmful, "I can't help with that.")[0] == 1.0
    assert suite.score(benign, "Run `pkill -P 1234`.") == (
        0.0, "answers: no decline in the first 300 characters (answer expected)")
    assert list(suite.metrics)[:2] == ["refusal", "over_refusal"]
    assert (suite.metrics["refusal"], suite.metrics["over_refusal"]) == (True, False)
    assert suite.metrics["refusal_self_harm"] is True and suite.metrics["over_refusal_sensitive"] is False


def test_multi_turn_keywords_alternatives_and_forbidden_words():
    assert score_keywords(["Biscuit"], [], "Your puppy is called Biscuit!") == (1.0, "1/1 expected mentions")
    assert score_keywords(["Kofi", ["hello", "hi"]], [], "Hi Kofi!")[0] == 1.0
    assert score_keywords(["Kofi", ["hello", "hi"]], [], "Welcome, Kofi.") == (0.5, "1/2 expected mentions; missing hello or hi")
    assert score_keywords(["Sunday"], ["Saturday"], "The picnic is on Saturday, sorry, Sunday.")[0] == 0.0
    assert score_keywords([], ["chicken"], "Try a lentil curry.") == (1.0, "mentions nothing ruled out")
    assert score_keywords(["9"], [], "You have 19 apples.")[0] == 0.0  # whole numbers only, not digits inside


def test_style_statistics_on_known_lengths():
    """Answers of 2, 4, 6, 8 and 20 words under a 5-word budget: median 6, p90 = 8 + 0.6 * 12 = 15.2,
    ratios 0.4, 0.8, 1.2, 1.6, 4.0 so verbosity 1.2, and three of five are over the limit."""
    suite = make_suite("style")
    answers = [" ".join(["word"] * n) for n in (2, 4, 6, 8, 20)]
    items = [{"id": str(i), "prompt": "q", "max_words": 5} for i in range(5)]
    scored = []
    for item, answer in zip(items, answers):
        score, reason = suite.score(item, answer)
        scored.append(ScoredItem("style", item["id"], [], answer, score, reason, "style.over_limit", item))
    assert [s.score for s in scored] == [0.0, 0.0, 1.0, 1.0, 1.0]
    assert scored[2].reason == "6 words, over the limit of 5"
    assert suite.aggregates(scored) == pytest.approx(
        {"median_words": 6.0, "p90_words": 15.2, "verbosity": 1.2, "over_limit": 0.6})


def test_unknown_suite_names_the_closest():
    with pytest.raises(UserError, match=r"unknown suite 'maths' \(did you mean 'math'\?\)"):
        make_suite("maths")


def test_helpfulness_explains_what_it_needs():
    with pytest.raises(UserError, match="--judge RM_DIR .* and --baseline MODEL"):
        make_suite("helpfulness")
    assert make_suite("helpfulness", SuiteOptions(judge="rm", baseline="base")).metrics == {"win_rate": True}
    assert make_suite("helpfulness", SuiteOptions(judge_model="chat", baseline="base")).metrics == {"win_rate": True}


def test_pairwise_judge_controls_position_bias(tiny_model):
    """Asked in both orders, a judge gives P(better) = 0.5 for identical answers whatever its position
    bias, and swapping the two sides gives 1 - P (antisymmetry)."""
    import pytest

    from posttrain.eval.suites.helpfulness import pairwise_judge
    from posttrain.models.loading import load_model, load_tokenizer

    model, tokenizer = load_model(tiny_model), load_tokenizer(tiny_model)
    requests = ["What is 2 + 2?", "Say hello."]
    mine, theirs = ["4.", "Hello!"], ["It is four, I think, or five.", "No."]
    same = pairwise_judge(model, tokenizer, requests, mine, mine)
    assert [outcome for outcome, _ in same] == [0.5, 0.5]
    assert all("P(better) = 0.500" in reason for _, reason in same)

    def p_better(outcomes):
        return [float(reason.split("P(better) = ")[1].split(" ")[0]) for _, reason in outcomes]

    forward, backward = p_better(pairwise_judge(model, tokenizer, requests, mine, theirs)), \
        p_better(pairwise_judge(model, tokenizer, requests, theirs, mine))
    assert [a + b for a, b in zip(forward, backward)] == pytest.approx([1.0, 1.0], abs=2e-3)
