"""``posttrain label``: import (answer files and a model), add-user, export, progress; one-line errors."""

from __future__ import annotations

import io
import json
import stat
import sys

import pytest
from helpers import write_jsonl
from sqlalchemy import select
from sqlalchemy.orm import Session

from posttrain.cli import main
from posttrain.feedback.records import read_records
from posttrain.feedback.store import FeedbackStore, Item, NewJudgement


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
    assert out.splitlines()[0] == ("colours: 2/2 items complete (1 judgement each), 2 judgements; "
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


def test_import_takes_messages_rows_as_its_help_says(monkeypatch, capsys, tmp_path):
    system = {"role": "system", "content": "Be brief."}
    ask = {"role": "user", "content": "Name a colour."}
    prompts = write_jsonl(tmp_path / "prompts.jsonl", [
        {"messages": [system, ask]},
        {"messages": [ask, {"role": "assistant", "content": "Blue"}]},  # an SFT row: its answer is dropped
        {"prompt": "What is 2 + 2?"},
    ])
    answers = [write_jsonl(tmp_path / f"{name}.jsonl", [{"answer": f"{name} {index}"} for index in range(3)])
               for name in ("a", "b")]
    db = f"sqlite:///{tmp_path / 'feedback.db'}"
    code, out, err = run(monkeypatch, capsys, "label", "import", "--db", db, "--campaign", "c", "--prompts", prompts,
                         "--answers", answers[0], "--answers", answers[1], "--judgements-per-item", "1")
    assert (code, out.strip()) == (0, "campaign 'c': added 3 items (c-1 .. c-3), 2 answers each"), err
    with Session(FeedbackStore(db).engine) as session:
        stored = list(session.scalars(select(Item.prompt).order_by(Item.position)))
    assert stored == [[system, ask], [ask], [{"role": "user", "content": "What is 2 + 2?"}]]

    bad = write_jsonl(tmp_path / "bad.jsonl", [{"messages": [system]}])
    code, _, err = run(monkeypatch, capsys, "label", "import", "--db", db, "--campaign", "c", "--prompts", bad,
                       "--answers", answers[0], "--answers", answers[1])
    assert code == 2 and err == f"error: {bad}:1: field 'messages': has no user turn to ask the models\n"
    neither = write_jsonl(tmp_path / "neither.jsonl", [{"question": "?"}])
    code, _, err = run(monkeypatch, capsys, "label", "import", "--db", db, "--campaign", "c", "--prompts", neither,
                       "--answers", answers[0], "--answers", answers[1])
    assert code == 2 and err == f"error: {neither}:1: a prompt row needs 'prompt' or 'messages' (row has: question)\n"


def test_reset_password_reads_stdin_and_ends_sessions(monkeypatch, capsys, tmp_path):
    db = f"sqlite:///{tmp_path / 'feedback.db'}"
    run(monkeypatch, capsys, "label", "add-user", "ana", "--password", "ana-password", "--db", db)
    monkeypatch.setattr(sys, "stdin", io.StringIO("a brand new password\n"))
    code, out, err = run(monkeypatch, capsys, "label", "reset-password", "ana", "--db", db)
    assert (code, out, err) == (0, "reset the password of 'ana'; their sessions are ended\n", "")
    store = FeedbackStore(db)
    assert store.authenticate("ana", "ana-password") is None
    assert store.authenticate("ana", "a brand new password").session_epoch == 1  # cookies of epoch 0 refused
    mistakes = [
        (["nobody"], "long enough\n", "error: no reviewer 'nobody'\n"),
        (["ana"], "", "error: no password on standard input (send it as the first line)\n"),
        (["ana"], "short\n", "error: a password needs at least 8 characters\n"),
    ]
    for args, stdin, message in mistakes:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        code, _, err = run(monkeypatch, capsys, "label", "reset-password", *args, "--db", db)
        assert (code, err) == (2, message)
    code, _, err = run(monkeypatch, capsys, "label", "reset-password", "ana", "--password", "x", "--db", db)
    assert code == 2 and "No such option '--password'" in err  # never on the command line
    assert store.authenticate("ana", "a brand new password") is not None


def test_export_out_is_private_and_serve_checks_trusted_proxies(monkeypatch, capsys, tmp_path):
    db = f"sqlite:///{tmp_path / 'feedback.db'}"
    out_file = tmp_path / "exports" / "records.jsonl"
    code, _, _ = run(monkeypatch, capsys, "label", "export", "--db", db, "--out", str(out_file))
    assert code == 0 and stat.S_IMODE(out_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(out_file.parent.stat().st_mode) == 0o700
    code, _, err = run(monkeypatch, capsys, "label", "serve", "--db", db, "--trusted-proxy", "my-proxy")
    assert code == 2 and err == ("error: --trusted-proxy 'my-proxy' is not an IP address or network "
                                 "(e.g. 127.0.0.1 or 10.0.0.0/8)\n")
