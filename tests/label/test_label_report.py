"""``posttrain label report``: a two-model campaign's win rates, ratings, ties, flags and agreement,
checked against figures worked by hand."""

from __future__ import annotations

import json
import math

import pytest
from test_label_cli import run

from posttrain.feedback.human_eval import campaign_report, wilson_interval
from posttrain.feedback.records import Answer
from posttrain.feedback.store import FeedbackStore, NewItem, NewJudgement

# item -> (answer sources in stored order, {reviewer: (preferred, harmful, ratings)})
CAMPAIGN = {
    "c1-1": (["a", "b"], {"ana": (0, False, {0: {"helpfulness": 4}, 1: {"helpfulness": 2}}), "ben": (0, False, {})}),
    "c1-2": (["b", "a"], {"ana": (0, False, {}), "ben": (1, False, {0: {"accuracy": 3}, 1: {"accuracy": 5}})}),
    "c1-3": (["a", "b"], {"ana": (None, False, {}), "ben": (1, True, {})}),
    "c1-4": (["gold", "gold"], {"ana": (1, False, {})}),  # a gold item: left out of the report
}


@pytest.fixture
def store_url(tmp_path):
    url = f"sqlite:///{tmp_path / 'report.db'}"
    store = FeedbackStore(url)
    store.create_campaign("c1", judgements_per_item=2)
    items = [NewItem([{"role": "user", "content": f"question {item}"}],
                     [Answer(text=f"{source} answers {item}", source=source) for source in sources],
                     gold=1 if item == "c1-4" else None)
             for item, (sources, _) in CAMPAIGN.items()]
    assert store.add_items("c1", items) == list(CAMPAIGN)
    for reviewer in ("ana", "ben"):
        store.add_reviewer(reviewer, "a long password 1")
        while (view := store.next_item("c1", reviewer)) is not None and reviewer in CAMPAIGN[view.item_id][1]:
            preferred, harmful, ratings = CAMPAIGN[view.item_id][1][reviewer]
            store.add_judgement(NewJudgement(view.item_id, reviewer, preferred, ratings=ratings, harmful=harmful))
    store.close()
    return url


def test_wilson_interval_by_hand():
    """p = 3.5/6, z = 1.96: denominator 1 + 3.8415/6 = 1.64024; centre (0.58333 + 0.32012) / 1.64024 = 0.55080;
    half-width 1.96 * sqrt(0.040509 + 0.026677) / 1.64024 = 0.30973: [0.2411, 0.8605]."""
    low, high = wilson_interval(3.5, 6)
    assert (low, high) == (pytest.approx(0.2411, abs=1e-4), pytest.approx(0.8605, abs=1e-4))
    assert all(math.isnan(value) for value in wilson_interval(0, 0))


def test_the_report_figures_match_the_hand_computed_ones(store_url):
    """Six judgements of three items (the gold item left out). a wins c1-1 twice and c1-2 once (ben:
    position 1 is a); b wins c1-2 (ana) and c1-3 (ben, flagged harmful); ana's c1-3 is a tie.
    a: (3 + 0.5) / 6 = 0.5833 in [0.2411, 0.8605]; b: 2.5 / 6 = 0.4167 in [0.1395, 0.7589].
    Ratings: a helpfulness 4, accuracy 5; b helpfulness 2, accuracy 3 (one each).
    Agreement on (ana, ben): c1-1 (0, 0), c1-2 (0, 1), c1-3 (tie, 1). Fleiss: P_o = (1 + 0 + 0) / 3;
    category shares 0: 3/6, 1: 2/6, tie: 1/6, P_e = 1/4 + 1/9 + 1/36 = 7/18; kappa = (1/3 - 7/18) / (11/18) = -1/11.
    Cohen: observed 1/3; chance = (ana's 2 zeros x ben's 1 zero) / 9 = 2/9; kappa = (1/9) / (7/9) = 1/7."""
    report = campaign_report(FeedbackStore(store_url), "c1")
    assert (report.judgements, report.items, report.ties, report.flagged) == (6, 3, 1, 1)
    a, b = report.models
    assert (a.model, a.wins, b.model, b.wins) == ("a", 3, "b", 2)
    assert a.win_rate == pytest.approx(3.5 / 6) and b.win_rate == pytest.approx(2.5 / 6)
    assert a.interval == (pytest.approx(0.2411, abs=1e-4), pytest.approx(0.8605, abs=1e-4))
    assert b.interval == (pytest.approx(0.1395, abs=1e-4), pytest.approx(0.7589, abs=1e-4))
    assert a.ratings == {"helpfulness": 4.0, "accuracy": 5.0} and b.ratings == {"helpfulness": 2.0, "accuracy": 3.0}
    assert report.fleiss == pytest.approx(-1 / 11) and report.fleiss_items == 3
    assert [(x, y, n) for x, y, n, _ in report.cohen] == [("ana", "ben", 3)]
    assert report.cohen[0][3] == pytest.approx(1 / 7)


def test_the_cli_prints_the_table_and_writes_json(monkeypatch, capsys, tmp_path, store_url):
    out = tmp_path / "report.json"
    code, stdout, _ = run(monkeypatch, capsys, "label", "report", "c1", "--db", store_url, "--json", str(out))
    assert code == 0
    assert "6 judgements of 3 items, 1 tie, 1 flagged harmful" in stdout
    assert "0.583     [0.241, 0.861]" in stdout and "Fleiss' kappa -0.091" in stdout
    assert json.loads(out.read_text())["models"][0]["wins"] == 3
    code, _, err = run(monkeypatch, capsys, "label", "report", "nope", "--db", store_url)
    assert code != 0 and err.strip().count("\n") == 0 and "no campaign 'nope'" in err
    code, _, err = run(monkeypatch, capsys, "label", "report", "c1", "--db", store_url, "--model", "a")
    assert code != 0 and "give it twice" in err


def test_import_mixes_gold_items_in_and_exports_them_marked(monkeypatch, capsys, tmp_path):
    from helpers import write_jsonl

    db = f"sqlite:///{tmp_path / 'gold.db'}"
    prompts = write_jsonl(tmp_path / "prompts.jsonl", [{"prompt": "Hi"}, {"prompt": "Bye"}])
    a = write_jsonl(tmp_path / "a.jsonl", [{"answer": "Hello"}, {"answer": "Goodbye"}])
    b = write_jsonl(tmp_path / "b.jsonl", [{"answer": "Hey"}, {"answer": "Later"}])
    gold = write_jsonl(tmp_path / "gold.jsonl", [{"prompt": "How do I make a pipe bomb?",
                                                   "answers": ["Step one: ...", "I can't help with that."], "gold": 1}])
    code, out, err = run(monkeypatch, capsys, "label", "import", "--db", db, "--campaign", "g", "--prompts", prompts,
                         "--answers", a, "--answers", b, "--gold", gold)
    assert code == 0, err
    assert "added 3 items" in out and "1 gold item among them" in out
    store = FeedbackStore(db)
    store.add_reviewer("ana", "a long password 1")
    while (view := store.next_item("g", "ana")) is not None:
        store.add_judgement(NewJudgement(view.item_id, "ana", 0))
    records = store.export_records(campaign="g")
    assert [record.gold for record in records].count(1) == 1 and [record.gold for record in records].count(None) == 2
    bad = write_jsonl(tmp_path / "bad.jsonl", [{"prompt": "x", "answers": ["a", "b"], "gold": 2}])
    code, _, err = run(monkeypatch, capsys, "label", "import", "--db", db, "--campaign", "g", "--prompts", prompts,
                       "--answers", a, "--answers", b, "--gold", bad)
    assert code != 0 and "bad.jsonl:1" in err and "gold" in err
