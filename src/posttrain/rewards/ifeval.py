"""Verifiable instruction-following constraints, shared by the RL reward and the evaluation suite.

A constraint is a dict ``{"type": NAME, **params}``; :func:`check` validates it and returns
``(passed, reason)``, the reason a short explanation such as ``"42 words, limit 30"``::

    check({"type": "max_words", "n": 30}, response)            # (False, "42 words, limit 30")
    check_all([{"type": "lowercase"}, {"type": "no_commas"}], response)  # (0.5, [(True, ...), (False, ...)])

As a reward, a ``prompts`` row lists its constraints in a ``constraints`` field and
:func:`instruction_following` returns the fraction passed. ``CONSTRAINTS`` maps each type to its
check ``(text, params) -> (passed, reason)``; ``PARAMS`` lists the parameters :func:`check` validates.

Conventions: words are runs of letters/digits (``don't`` and ``state-of-the-art`` are one word);
sentences end with ``.``, ``!`` or ``?`` before whitespace or the end; paragraphs are separated by
blank lines; keyword and phrase matches ignore case.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from posttrain.errors import UserError
from posttrain.util import closest

Check = Callable[[str, dict], tuple[bool, str]]
CONSTRAINTS: dict[str, Check] = {}
PARAMS: dict[str, dict[str, str]] = {}  # type -> {param: kind}, kinds as in _VALIDATORS

_VALIDATORS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "count": (lambda v: type(v) is int and v >= 0, "a non-negative integer"),
    "phrase": (lambda v: isinstance(v, str) and v.strip() != "", "a non-empty string"),
    "keywords": (lambda v: isinstance(v, list) and v != [] and all(isinstance(k, str) and k.strip() for k in v),
                 "a non-empty list of non-empty strings"),
}


def constraint(name: str, **params: str) -> Callable[[Check], Check]:
    """Register a check under ``name``, with the kind of each parameter it needs."""
    def register(fn: Check) -> Check:
        CONSTRAINTS[name], PARAMS[name] = fn, params
        return fn
    return register


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def count_words(text: str) -> int:
    return len(re.findall(r"\w+(?:['’-]\w+)*", text))


def _has(text: str, keyword: str) -> bool:
    # Lookarounds rather than \b, so keywords that start or end with punctuation ("C++") still match.
    return re.search(rf"(?<!\w){re.escape(keyword.strip())}(?!\w)", text, re.IGNORECASE) is not None


@constraint("max_words", n="count")
def _max_words(text: str, params: dict) -> tuple[bool, str]:
    words = count_words(text)
    return words <= params["n"], f"{_plural(words, 'word')}, limit {params['n']}"


@constraint("min_words", n="count")
def _min_words(text: str, params: dict) -> tuple[bool, str]:
    words = count_words(text)
    return words >= params["n"], f"{_plural(words, 'word')}, minimum {params['n']}"


@constraint("max_sentences", n="count")
def _max_sentences(text: str, params: dict) -> tuple[bool, str]:
    sentences = sum(1 for piece in re.split(r"[.!?]+(?=\s|$)", text) if re.search(r"\w", piece))
    return sentences <= params["n"], f"{_plural(sentences, 'sentence')}, limit {params['n']}"


@constraint("json")
def _json(text: str, params: dict) -> tuple[bool, str]:
    fenced = re.fullmatch(r"\s*```(?:json)?\s*\n(.*?)\n?\s*```\s*", text, re.DOTALL | re.IGNORECASE)
    try:
        json.loads(fenced.group(1) if fenced else text)
    except json.JSONDecodeError as error:
        return False, f"not JSON: {error}"
    return True, "valid JSON"


@constraint("include_keywords", keywords="keywords")
def _include_keywords(text: str, params: dict) -> tuple[bool, str]:
    missing = [keyword for keyword in params["keywords"] if not _has(text, keyword)]
    return not missing, f"missing: {', '.join(missing)}" if missing else "all keywords present"


@constraint("exclude_keywords", keywords="keywords")
def _exclude_keywords(text: str, params: dict) -> tuple[bool, str]:
    found = [keyword for keyword in params["keywords"] if _has(text, keyword)]
    return not found, f"contains: {', '.join(found)}" if found else "no excluded keyword"


@constraint("bullet_count", n="count")
def _bullet_count(text: str, params: dict) -> tuple[bool, str]:
    bullets = len(re.findall(r"^[ \t]*[-*][ \t]+\S", text, re.MULTILINE))  # "**bold**" and "---" are no bullets
    return bullets == params["n"], f"{_plural(bullets, 'bullet')}, expected {params['n']}"


@constraint("lowercase")
def _lowercase(text: str, params: dict) -> tuple[bool, str]:
    upper = sum(char.isupper() for char in text)
    return upper == 0, _plural(upper, 'uppercase letter') if upper else "no uppercase letters"


@constraint("uppercase")
def _uppercase(text: str, params: dict) -> tuple[bool, str]:
    lower = sum(char.islower() for char in text)
    return lower == 0, _plural(lower, 'lowercase letter') if lower else "no lowercase letters"


def _edge(text: str, phrase: str, at_end: bool) -> tuple[bool, str]:
    text, phrase = text.strip(), phrase.strip()
    edge = text[-len(phrase):] if at_end else text[: len(phrase)]
    passed = edge.lower() == phrase.lower()
    return passed, f"{'ends' if at_end else 'starts'} with {edge!r}" + ("" if passed else f", expected {phrase!r}")


@constraint("ends_with", phrase="phrase")
def _ends_with(text: str, params: dict) -> tuple[bool, str]:
    return _edge(text, params["phrase"], at_end=True)


@constraint("starts_with", phrase="phrase")
def _starts_with(text: str, params: dict) -> tuple[bool, str]:
    return _edge(text, params["phrase"], at_end=False)


@constraint("no_commas")
def _no_commas(text: str, params: dict) -> tuple[bool, str]:
    commas = text.count(",")
    return commas == 0, _plural(commas, "comma") if commas else "no commas"


@constraint("num_paragraphs", n="count")
def _num_paragraphs(text: str, params: dict) -> tuple[bool, str]:
    paragraphs = sum(1 for piece in re.split(r"\n\s*\n", text) if piece.strip())
    return paragraphs == params["n"], f"{_plural(paragraphs, 'paragraph')}, expected {params['n']}"


@constraint("quoted")
def _quoted(text: str, params: dict) -> tuple[bool, str]:
    text = text.strip()
    passed = len(text) >= 2 and (text[0], text[-1]) in {('"', '"'), ("“", "”")}
    return passed, "wrapped in double quotes" if passed else "not wrapped in double quotes"


def check(constraint: dict, text: str) -> tuple[bool, str]:
    """``(passed, reason)`` for one constraint; UserError on an unknown type or missing/bad params."""
    if not isinstance(constraint, dict) or not isinstance(constraint.get("type"), str):
        raise UserError(f"a constraint is a dict with a 'type', got {constraint!r}")
    name = constraint["type"]
    if name not in CONSTRAINTS:
        raise UserError(f"unknown constraint type '{name}'{closest(name, list(CONSTRAINTS))}")
    params = {key: value for key, value in constraint.items() if key != "type"}
    expected = PARAMS.get(name, {})
    unknown = sorted(params.keys() - expected.keys())
    if unknown:
        raise UserError(f"constraint '{name}': unknown param '{unknown[0]}' (takes: {', '.join(expected) or 'none'})")
    for key, kind in expected.items():
        valid, description = _VALIDATORS[kind]
        if key not in params:
            raise UserError(f"constraint '{name}': missing param '{key}' ({description})")
        if not valid(params[key]):
            raise UserError(f"constraint '{name}': param '{key}' must be {description}, got {params[key]!r}")
    return CONSTRAINTS[name](text, params)


def check_all(constraints: list[dict], text: str) -> tuple[float, list[tuple[bool, str]]]:
    """The fraction of ``constraints`` that ``text`` passes, and each one's ``(passed, reason)``."""
    if not isinstance(constraints, list) or not constraints:
        raise UserError(f"constraints must be a non-empty list of constraint dicts, got {constraints!r}")
    details = [check(item, text) for item in constraints]
    return sum(passed for passed, _ in details) / len(details), details


def instruction_following(prompt: str, completion: str, *, constraints: list[dict], **_: Any) -> float:
    """Reward: the fraction of the row's ``constraints`` the completion passes."""
    return check_all(constraints, completion)[0]
