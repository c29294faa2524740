"""The judgement sets (datagen/make_judgement.py): they load with the counts their card documents, every
category has its minimum, reruns are byte-identical, held-out and train are disjoint, and no evaluation
prompt is among them (with a planted leak to show that the check can fail)."""

import json
import os
import re
from collections import Counter

import pytest

from datagen import BUNDLED_DIR, make_judgement
from datagen.card import write_sets
from datagen.judgement_items import CODING, EVERYDAY, HARMFUL, LOOKALIKE, SENSITIVE, UNDERSPECIFIED, WRAPPERS
from datagen.make_eval import normalise_prompt, user_turns

from posttrain.data.formats import load_examples

SETS = make_judgement.FORMATS  # set name -> format


@pytest.fixture(scope="module")
def sets():
    return make_judgement.build()


def _rows(name: str) -> list[dict]:
    with open(os.path.join(BUNDLED_DIR, f"{name}.jsonl"), encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def _card_counts() -> dict[str, int]:
    """Row counts from the data card's table: {"judgement_sft.jsonl": 415, ...}."""
    with open(os.path.join(BUNDLED_DIR, "README.md"), encoding="utf-8") as handle:
        card = handle.read()
    section = card[card.index(make_judgement.CARD_BEGIN):card.index(make_judgement.CARD_END)]
    counts = {}
    for train_file, train_rows, held_file, held_rows in re.findall(r"\| `(\w+\.jsonl)` \| (\d+) \| `(\w+\.jsonl)` \| (\d+) \|", section):
        counts[train_file], counts[held_file] = int(train_rows), int(held_rows)
    return counts


def test_files_load_without_skipped_rows_and_with_the_documented_counts():
    documented = _card_counts()
    assert len(documented) == 4
    for name, fmt in SETS.items():
        for split in (name, f"{name}_eval"):
            loaded = load_examples(f"bundled:{split}", fmt)
            assert loaded.skipped == []
            assert len(loaded.examples) == len(_rows(split)) == documented[f"{split}.jsonl"], split


def test_the_card_is_what_the_generator_writes(sets):
    """The card's counts are this build's (token counts, which need the tokenizer, aside)."""
    with open(os.path.join(BUNDLED_DIR, "README.md"), encoding="utf-8") as handle:
        card = handle.read()
    head, tail = make_judgement.render_card_section(sets, None).split("### How it was made")
    assert head in card and tail in card


def test_every_category_has_its_minimum():
    sft = _rows("judgement_sft") + _rows("judgement_sft_eval")
    kinds = Counter(row["kind"] for row in sft)
    requests = Counter(row["category"] for row in sft if row["kind"] == "harmful")
    assert set(requests) == {"weapons_explosives", "drugs", "cyber_malware", "violence", "self_harm", "fraud_scams",
                             "harassment_hate", "privacy_stalking"}
    assert min(requests.values()) >= 18
    assert kinds["harmful_wrapped"] >= 55 and kinds["benign_wrapped"] >= 45
    assert kinds["everyday"] + kinds["underspecified"] >= 80 and kinds["underspecified"] >= 25
    assert kinds["lookalike"] >= 30 and kinds["sensitive"] >= 25 and kinds["code"] >= 12
    for kind in ("harmful_wrapped", "benign_wrapped"):  # every wrapper on both sides
        assert {row["wrapper"] for row in sft if row["kind"] == kind} == {wrapper.name for wrapper in WRAPPERS}
    assert len(WRAPPERS) >= 12
    pairs = Counter(row["rejected_kind"] for row in _rows("judgement_preference") + _rows("judgement_preference_eval"))
    assert set(pairs) == {"complies", "refuses", "rambles"}
    assert pairs["complies"] == kinds["harmful"] + kinds["harmful_wrapped"]
    assert pairs["refuses"] == sum(kinds[kind] for kind in make_judgement.BENIGN_KINDS)


def test_items_are_distinct_and_answers_short():
    requests = [item.request for items in HARMFUL.values() for item in items]
    requests += [item.request for item in EVERYDAY + UNDERSPECIFIED + LOOKALIKE + SENSITIVE + CODING]
    assert len({normalise_prompt(request) for request in requests}) == len(requests)
    for row in _rows("judgement_sft") + _rows("judgement_sft_eval"):
        assert len(row["messages"][1]["content"].split()) <= 90, row["messages"][0]["content"]


def test_refusals_are_tied_to_the_request_not_to_a_phrase():
    sft = _rows("judgement_sft") + _rows("judgement_sft_eval")
    refusals = [row["messages"][1]["content"] for row in sft if row["kind"].startswith("harmful")]
    assert sum(refusal.startswith(("I can't", "I cannot")) for refusal in refusals) < 0.1 * len(refusals)
    assert len({" ".join(refusal.split()[:3]) for refusal in refusals}) > 0.5 * len(refusals)
    assert len(set(refusals)) == len(refusals)
    # A wrapped refusal names the real request.
    what = {item.request: item.what for items in HARMFUL.values() for item in items}
    for row in sft:
        if row["kind"] == "harmful_wrapped":
            prompt = row["messages"][0]["content"]
            request = next(r for r in what if make_judgement.wrap(_wrapper(row["wrapper"]), r) == prompt)
            assert what[request] in row["messages"][1]["content"]


def _wrapper(name: str):
    return next(wrapper for wrapper in WRAPPERS if wrapper.name == name)


def test_rejected_sides_are_short_or_rambling():
    """A "complies" text is an eager start, never a how-to: short; a "refuses" text is a refusal without an
    answer (some in the refusal form the harmful refusals use: a reason, "I won't", an offer); a "rambles" text
    is the answer padded 3x."""
    for row in _rows("judgement_preference") + _rows("judgement_preference_eval"):
        rejected, chosen = row["rejected"].split(), row["chosen"].split()
        if row["rejected_kind"] == "complies":
            assert len(rejected) < 40, row["rejected"]
        elif row["rejected_kind"] == "refuses":
            assert len(rejected) < 30, row["rejected"]
        else:
            assert len(rejected) >= 3 * len(chosen) and row["chosen"] in row["rejected"]


def test_code_answers_are_fenced_working_functions():
    answers = {row["messages"][0]["content"]: row["messages"][1]["content"]
               for row in _rows("judgement_sft") + _rows("judgement_sft_eval") if row["kind"] == "code"}
    assert len(answers) == len(CODING)
    for task in CODING:
        code = re.search(r"```python\n(.*?)\n```", answers[task.request], re.S).group(1)
        namespace: dict = {}
        exec(code, namespace)  # our own hand-written reference functions
        for call, expected in task.checks:
            assert eval(call, namespace) == expected, call


def test_regeneration_is_byte_identical(sets, tmp_path):
    write_sets(make_judgement.build(), str(tmp_path))
    for name in SETS:
        for filename in (f"{name}.jsonl", f"{name}_eval.jsonl"):
            with open(os.path.join(BUNDLED_DIR, filename), "rb") as shipped:
                assert (tmp_path / filename).read_bytes() == shipped.read(), filename


def test_train_and_held_out_are_disjoint_by_prompt(sets):
    for train, held in sets.values():
        train_prompts = {normalise_prompt(turn) for row in train for turn in user_turns(row)}
        assert not {normalise_prompt(turn) for row in held for turn in user_turns(row)} & train_prompts
    train, held = sets["judgement_sft"]
    planted = {"judgement_sft": (train, [*held, train[0]])}
    assert any("also in train" in problem for problem in make_judgement.check(planted))


def test_no_eval_prompt_and_the_check_catches_a_planted_leak(sets):
    assert make_judgement.check(sets) == []
    leaked = sorted(make_judgement.eval_prompts())[0]
    train, held = sets["judgement_sft"]
    planted = {"judgement_sft": ([*train, make_judgement.chat(leaked.upper() + "?!", "ok", "x", "everyday")], held)}
    assert any("equals an eval prompt" in problem for problem in make_judgement.check(planted))


def test_the_command_refuses_to_write_over_an_eval_leak(tmp_path, monkeypatch):
    """An eval file that holds one of our prompts (case and punctuation aside) stops the generator."""
    eval_dir, out_dir = tmp_path / "eval", tmp_path / "out"
    eval_dir.mkdir()
    (eval_dir / "suite.jsonl").write_text(json.dumps({"prompt": "how do i make my pancakes FLUFFIER"}) + "\n")
    monkeypatch.setattr(make_judgement, "EVAL_DIR", str(eval_dir))
    with pytest.raises(SystemExit, match="pancakes"):
        make_judgement.main(["--out-dir", str(out_dir)])
    assert not out_dir.exists() or not list(out_dir.iterdir())


def test_the_generator_keeps_clear_of_the_eval_refusal_classifier():
    for module in ("make_judgement", "judgement_items"):
        with open(os.path.join(os.path.dirname(make_judgement.__file__), f"{module}.py"), encoding="utf-8") as handle:
            source = handle.read()
        assert "posttrain.eval" not in source and "refusal import" not in source
