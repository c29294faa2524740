"""Feedback data is the owner's only: the store's SQLite files, the served-response log and exports are
0600 (new directories 0700), and files an older version left readable to others are tightened on open."""

from __future__ import annotations

import os
import stat

from posttrain.config import write_text_atomic
from posttrain.feedback.records import Answer, FeedbackRecord
from posttrain.feedback.store import FeedbackStore
from posttrain.serve.feedback import JsonlFeedbackSink


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_a_new_database_and_its_directory_are_private(tmp_path):
    database = tmp_path / "new" / "dir" / "feedback.db"
    store = FeedbackStore(f"sqlite:///{database}")
    store.add_reviewer("ana", "ana-password")  # a write: SQLite now has its -wal and -shm files
    assert mode(database) == 0o600
    assert [mode(database.with_name("feedback.db" + suffix)) for suffix in ("-wal", "-shm")] == [0o600, 0o600]
    assert mode(tmp_path / "new") == mode(tmp_path / "new" / "dir") == 0o700
    store.close()


def test_an_existing_world_readable_database_is_tightened_and_keeps_working(tmp_path):
    database = tmp_path / "feedback.db"
    FeedbackStore(f"sqlite:///{database}").add_reviewer("ana", "ana-password")
    for path in tmp_path.iterdir():
        os.chmod(path, 0o644)  # as an older version left it
    os.chmod(tmp_path, 0o755)
    store = FeedbackStore(f"sqlite:///{database}")
    assert store.authenticate("ana", "ana-password") is not None
    assert {path.name: mode(path) for path in tmp_path.iterdir()} == {
        "feedback.db": 0o600, "feedback.db-wal": 0o600, "feedback.db-shm": 0o600}
    assert mode(tmp_path) == 0o755  # a directory the user made stays as they made it
    store.close()


def test_the_served_response_log_is_private_and_an_old_one_keeps_working(tmp_path):
    path = tmp_path / "logs" / "served.jsonl"
    sink = JsonlFeedbackSink(path)
    sink.record_served(FeedbackRecord(kind="served", id="r1", prompt=[{"role": "user", "content": "Hi"}],
                                      answers=[Answer(text="Hello", source="m")]))
    sink.close()
    assert (mode(path), mode(path.parent)) == (0o600, 0o700)
    os.chmod(path, 0o666)  # what the old os.open(..., 0o666) made under a permissive umask
    reopened = JsonlFeedbackSink(path)
    assert mode(path) == 0o600
    assert reopened.add_feedback("r1", thumbs="up").thumbs == "up"  # the old file's records still load
    reopened.close()
    assert len(path.read_text().splitlines()) == 2


def test_private_atomic_writes_are_owner_only(tmp_path):
    write_text_atomic(tmp_path / "out" / "records.jsonl", "{}\n", private=True)
    write_text_atomic(tmp_path / "plain.txt", "x")
    assert (mode(tmp_path / "out" / "records.jsonl"), mode(tmp_path / "out")) == (0o600, 0o700)
    assert mode(tmp_path / "plain.txt") == 0o666 & ~_umask()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
