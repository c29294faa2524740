"""Every instruction-following constraint on hand-written responses, with its exact reason, and bad constraints."""

import pytest

from posttrain.errors import UserError
from posttrain.rewards.ifeval import (
    CONSTRAINTS,
    check,
    check_all,
    instruction_following,
)

CASES = [
    # (constraint, response, passed, reason)
    ({"type": "max_words", "n": 3}, "Don't stop, state-of-the-art!", True, "3 words, limit 3"),
    ({"type": "max_words", "n": 2}, "one two three", False, "3 words, limit 2"),
    ({"type": "min_words", "n": 2}, "one two", True, "2 words, minimum 2"),
    ({"type": "min_words", "n": 2}, "one.", False, "1 word, minimum 2"),
    ({"type": "max_sentences", "n": 2}, "Pi is 3.14. Really!", True, "2 sentences, limit 2"),
    ({"type": "max_sentences", "n": 2}, "One. Two? Three!", False, "3 sentences, limit 2"),
    ({"type": "json"}, '{"a": [1, 2]}', True, "valid JSON"),
    ({"type": "json"}, '```json\n{"a": 1}\n```', True, "valid JSON"),
    ({"type": "json"}, "```\n[1, 2]\n```", True, "valid JSON"),
    ({"type": "json"}, 'Here it is: {"a": 1}', False, "not JSON: Expecting value: line 1 column 1 (char 0)"),
    ({"type": "include_keywords", "keywords": ["Paris", "C++"]}, "paris loves c++ too", True, "all keywords present"),
    ({"type": "include_keywords", "keywords": ["cat", "dog"]}, "Concatenate the dogs", False, "missing: cat, dog"),
    ({"type": "exclude_keywords", "keywords": ["cat"]}, "a category error", True, "no excluded keyword"),
    ({"type": "exclude_keywords", "keywords": ["cat", "dog"]}, "The CAT sat.", False, "contains: cat"),
    ({"type": "bullet_count", "n": 3}, "Intro\n- one\n* two\n  - nested\n**bold** text\n---", True,
     "3 bullets, expected 3"),
    ({"type": "bullet_count", "n": 2}, "- only one", False, "1 bullet, expected 2"),
    ({"type": "lowercase"}, "all lower, 42!", True, "no uppercase letters"),
    ({"type": "lowercase"}, "Hello World", False, "2 uppercase letters"),
    ({"type": "uppercase"}, "ALL CAPS, 42!", True, "no lowercase letters"),
    ({"type": "uppercase"}, "ALMOST Caps", False, "3 lowercase letters"),
    ({"type": "ends_with", "phrase": "Any other questions?"}, "Done. any other questions?  \n", True,
     "ends with 'any other questions?'"),
    ({"type": "ends_with", "phrase": "Bye."}, "See you.", False, "ends with 'you.', expected 'Bye.'"),
    ({"type": "starts_with", "phrase": "Dear Sir"}, "  dear sir, hello", True, "starts with 'dear sir'"),
    ({"type": "starts_with", "phrase": "Hi"}, "Hello", False, "starts with 'He', expected 'Hi'"),
    ({"type": "no_commas"}, "No commas here.", True, "no commas"),
    ({"type": "no_commas"}, "a, b, c", False, "2 commas"),
    ({"type": "num_paragraphs", "n": 3}, "First.\n\nSecond\nstill second.\n \nThird.\n\n", True,
     "3 paragraphs, expected 3"),
    ({"type": "num_paragraphs", "n": 2}, "Just one\nparagraph.", False, "1 paragraph, expected 2"),
    ({"type": "quoted"}, ' "Hello there." ', True, "wrapped in double quotes"),
    ({"type": "quoted"}, "\u201cCurly works too\u201d", True, "wrapped in double quotes"),
    ({"type": "quoted"}, '"Only opened', False, "not wrapped in double quotes"),
]


@pytest.mark.parametrize(("constraint", "response", "passed", "reason"), CASES)
def test_constraint(constraint, response, passed, reason):
    assert check(constraint, response) == (passed, reason)


def test_every_constraint_type_is_tested():
    assert {constraint["type"] for constraint, *_ in CASES} == set(CONSTRAINTS)


def test_check_all_and_reward():
    constraints = [{"type": "lowercase"}, {"type": "no_commas"}, {"type": "max_words", "n": 5}, {"type": "quoted"}]
    fraction, details = check_all(constraints, "hello, world")
    assert fraction == 0.5
    assert details == [(True, "no uppercase letters"), (False, "1 comma"), (True, "2 words, limit 5"),
                       (False, "not wrapped in double quotes")]
    assert instruction_following("Say hi in lowercase.", "hello, world", constraints=constraints, answer=1) == 0.5


@pytest.mark.parametrize(("constraint", "message"), [
    ({"type": "max_word", "n": 3}, "unknown constraint type 'max_word' (did you mean 'max_words'?)"),
    ({"n": 3}, "a constraint is a dict with a 'type', got {'n': 3}"),
    ("max_words", "a constraint is a dict with a 'type', got 'max_words'"),
    ({"type": "max_words"}, "constraint 'max_words': missing param 'n' (a non-negative integer)"),
    ({"type": "max_words", "n": "3"}, "constraint 'max_words': param 'n' must be a non-negative integer, got '3'"),
    ({"type": "max_words", "n": -1}, "param 'n' must be a non-negative integer, got -1"),
    ({"type": "max_words", "n": 3, "limit": 4}, "constraint 'max_words': unknown param 'limit' (takes: n)"),
    ({"type": "lowercase", "n": 1}, "constraint 'lowercase': unknown param 'n' (takes: none)"),
    ({"type": "include_keywords", "keywords": "cat"}, "param 'keywords' must be a non-empty list of non-empty strings"),
    ({"type": "ends_with", "phrase": " "}, "param 'phrase' must be a non-empty string, got ' '"),
])
def test_bad_constraints(constraint, message):
    with pytest.raises(UserError) as raised:
        check(constraint, "text")
    assert message in str(raised.value)


def test_check_all_needs_constraints():
    with pytest.raises(UserError, match="constraints must be a non-empty list"):
        check_all([], "text")
