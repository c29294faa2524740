"""``posttrain label``: import (answer files and a model), add-user, export, progress; one-line errors."""

from __future__ import annotations

import json
import sys

import pytest
from helpers import write_jsonl

from posttrain.cli import main
from posttrain.feedback.records import read_records
from posttrain.feedback.store import FeedbackStore, NewJudgement


def run(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    """Run ``posttrain ARGS`` in-process; returns (exit code, stdout, stderr)."""
    monkeypatch.setattr(sys, "argv", ["posttrain", *args])
    try:
        main()
        code = 0
    except SystemExit as exit_:
        code = exit_.code
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def files(tmp_path):
    prompts = write_jsonl(tmp_path / "prompts.jsonl", [{"prompt": "What is 2 + 2?"}, {"prompt": "Name a colour."}])
    first = write_jsonl(tmp_path / "model-a.jsonl", [{"answer": "4"}, {"answer": "Blue", "source": "human"}])
    # posttrain generate --json output: placed by prompt_index, in any order
    second = write_jsonl(tmp_path / "model-b.jsonl",
                         [{"prompt_index": 1, "text": "Red"}, {"prompt_index": 0, "text": "5"}])
    return prompts, first, second


def test_import_from_answer_files_then_judge_and_export(monkeypatch, capsys, tmp_path, files):
    prompts, first, second = files
    db = f"sqlite:///{tmp_path / 'feedback.db'}"
    code, out, err = run(monkeypatch, capsys, "label", "import", "--db", db, "--campaign", "colours",
                         "--prompts", prompts, "--answers", first, "--answers", second, "--judgements-per-item", "1")
    assert code == 0, err
    assert out.strip() == "campaign 'colours': added 2 items (colours-1 .. colours-2), 2 answers each"
    assert run(monkeypatch, capsys, "label", "add-user", "ana", "--password", "ana-password", "--db", db)[1] == \
        "added reviewer 'ana'\n"
    store = FeedbackStore(db)
    for preferred in (0, 1):
        item = store.next_item("colours", "ana")
        store.add_judgement(NewJudgement(item.item_id, "ana", preferred=preferred))
    out_file = tmp_path / "records.jsonl"
    code, _, err = run(monkeypatch, capsys, "label", "export", "--db", db, "--out", str(out_file))
    assert code == 0 and err == "wrote 2 rows to " + str(out_file) + "\n"
    records = read_records(str(out_file))
    assert [[(answer.text, answer.source) for answer in record.answers] for record in records] == [
        [("4", "model-a"), ("5", "model-b")], [("Blue", "human"), ("Red", "model-b")]]
    code, out, _ = run(monkeypatch, capsys, "label", "export", "--db", db, "--format", "preference",
                       "--campaign", "colours")
    pairs = [(row["chosen"], row["rejected"]) for row in map(json.loads, out.splitlines())]
    assert pairs == [("4", "5"), ("Red", "Blue")]
    code, out, _ = run(monkeypatch, capsys, "label", "progress", "--db", db)
    assert out.splitlines()[0] == ("colours: 2/2 items complete (1 judgements each), 2 judgements; "
                                   "Fleiss' kappa n/a over 0 items")
    # importing again appends
    run(monkeypatch, capsys, "label", "import", "--db", db, "--campaign", "colours", "--prompts", prompts,
        "--answers", first, "--answers", second)
    assert store.progress("colours").items == 4


def test_import_with_a_model_generates_the_answers(monkeypatch, capsys, tmp_path, files, tiny_model):
    prompts, first, _ = files
    db = f"sqlite:///{tmp_path / 'feedback.db'}"
    code, out, err = run(monkeypatch, capsys, "label", "import", "--db", db, "--campaign", "gen", "--prompts", prompts,
                         "--answers", first, "--model", tiny_model, "--samples", "2", "--max-tokens", "8")
    assert code == 0, err
    assert "added 2 items" in out and "3 answers each" in out
    store = FeedbackStore(db)
    store.add_reviewer("ana", "ana-password")
    item = store.next_item("gen", "ana")
    store.add_judgement(NewJudgement(item.item_id, "ana", preferred=None))
    [record] = store.export_records()
    assert [answer.source for answer in record.answers] == ["model-a", tiny_model, tiny_model]
    assert all(isinstance(answer.text, str) for answer in record.answers)


@pytest.mark.parametrize(("args", "message"), [
    (["--answers", "{first}"], "a comparison needs two or more answers per prompt"),
    ([], "give --model NAME and/or --answers FILE"),
    (["--answers", "{first}", "--answers", "{missing}"], "answers file not found"),
    (["--answers", "{first}", "--answers", "{short}"], "has 1 answers for 2 prompts (first missing: prompt 1)"),
    (["--answers", "{first}", "--answers", "{bad}"], "a row needs the answer as a string in 'answer' or 'text'"),
])
def test_import_mistakes_are_one_line_errors(monkeypatch, capsys, tmp_path, files, args, message):
    prompts, first, _ = files
    paths = {"first": first, "missing": str(tmp_path / "nope.jsonl"),
             "short": write_jsonl(tmp_path / "short.jsonl", [{"answer": "x"}]),
             "bad": write_jsonl(tmp_path / "bad.jsonl", [{"answer": 3}, {"answer": "y"}])}
    db = f"sqlite:///{tmp_path / 'feedback.db'}"
    code, _, err = run(monkeypatch, capsys, "label", "import", "--db", db, "--campaign", "c", "--prompts", prompts,
                       *[arg.format(**paths) for arg in args])
    assert code == 2 and "Traceback" not in err and message in err, err
    assert len(err.strip().splitlines()) == 1


def test_add_user_and_export_mistakes(monkeypatch, capsys, tmp_path):
    db = f"sqlite:///{tmp_path / 'feedback.db'}"
    code, out, _ = run(monkeypatch, capsys, "label", "add-user", "ana", "--password", "ana-password", "--admin",
                       "--db", db)
    assert (code, out) == (0, "added admin 'ana'\n")
    code, _, err = run(monkeypatch, capsys, "label", "add-user", "ana", "--password", "ana-password", "--db", db)
    assert code == 2 and err == "error: reviewer 'ana' already exists\n"
    code, _, err = run(monkeypatch, capsys, "label", "add-user", "bo", "--password", "short", "--db", db)
    assert code == 2 and err == "error: a password needs at least 8 characters\n"
    code, _, err = run(monkeypatch, capsys, "label", "export", "--db", db, "--since", "last week")
    assert code == 2 and "not an ISO time: 'last week'" in err
    code, _, err = run(monkeypatch, capsys, "label", "export", "--db", db, "--campaign", "nope")
    assert code == 2 and err == "error: no campaign 'nope'\n"
    code, _, err = run(monkeypatch, capsys, "label", "progress", "--db", "mysql://x/y")
    assert code == 2 and "supports sqlite:// and postgresql://" in err
