"""Where served responses and their users' feedback go: a tiny sink interface and two sinks.

A sink has two methods, called from a worker thread (never on the event loop):

- ``record_served(record)``: a response was served (a ``FeedbackRecord`` of kind ``served``);
- ``add_feedback(response_id, thumbs=None, preferred=None) -> FeedbackRecord``: a user judged it;
  raises :class:`UnknownResponse` for an id never served, ``UserError`` for a bad ``preferred``.

``JsonlFeedbackSink(path)`` appends ``record_line`` lines: one per served response and, per
feedback, the same record again with ``thumbs``/``preferred`` set (the export format's rule is
that the last record of an id wins, so ``read_records`` + ``latest_by_id`` give the current state).
``StoreFeedbackSink(url)`` writes to ``posttrain.feedback.store.FeedbackStore`` instead.

Example::

    sink = open_sink(feedback_file="served.jsonl")
    sink.record_served(FeedbackRecord(kind="served", id="chatcmpl-1", prompt=[...], answers=[...]))
    sink.add_feedback("chatcmpl-1", thumbs="up")
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Protocol

from pydantic import ValidationError

from posttrain.errors import UserError
from posttrain.feedback.files import open_private
from posttrain.feedback.records import FeedbackRecord, read_records, record_line


class UnknownResponse(LookupError):
    """Feedback for a response id that was never served (or not recorded)."""


class FeedbackSink(Protocol):
    def record_served(self, record: FeedbackRecord) -> None: ...

    def add_feedback(self, response_id: str, thumbs: str | None = None, preferred: int | None = None
                     ) -> FeedbackRecord: ...


def with_feedback(record: FeedbackRecord, thumbs: str | None, preferred: int | None) -> FeedbackRecord:
    """``record`` with the given judgements set (the others kept); a bad ``preferred`` is a UserError."""
    update = record.model_dump()
    if thumbs is not None:
        update["thumbs"] = thumbs
    if preferred is not None:
        if not 0 <= preferred < len(record.answers):
            raise UserError(f"preferred={preferred} is not the index of one of the {len(record.answers)} choices")
        update["preferred"] = preferred
    try:
        return FeedbackRecord.model_validate(update)
    except ValidationError as error:
        raise UserError(error.errors()[0]["msg"]) from None


class JsonlFeedbackSink:
    """An append-only feedback file; earlier records of the file are loaded so feedback on them works.

    Each record is one ``os.write`` of one whole line to a file opened with ``O_APPEND``: appends
    never interleave and a record is never rewritten, which is the atomic unit of a log (rewriting
    the whole file atomically per record would cost time quadratic in its length).
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._records: dict[str, FeedbackRecord] = {}
        if self.path.exists() and self.path.stat().st_size:
            for record in read_records(str(self.path)):
                if record.kind == "served":
                    self._records[record.id] = record
        self._lock = threading.Lock()
        # Every prompt and answer served lands here: created 0600 (new directories 0700), and a file
        # an older version made readable to others is tightened.
        self._fd = open_private(self.path, os.O_WRONLY | os.O_APPEND)

    def _append(self, record: FeedbackRecord) -> None:
        data = (record_line(record) + "\n").encode("utf-8")
        written = os.write(self._fd, data)
        if written != len(data):  # a full disk: say so rather than leave a torn line unnoticed
            raise OSError(f"short write to {self.path}: {written} of {len(data)} bytes")

    def record_served(self, record: FeedbackRecord) -> None:
        with self._lock:
            self._append(record)
            self._records[record.id] = record

    def add_feedback(self, response_id: str, thumbs: str | None = None, preferred: int | None = None
                     ) -> FeedbackRecord:
        with self._lock:
            if response_id not in self._records:
                raise UnknownResponse(response_id)
            record = with_feedback(self._records[response_id], thumbs, preferred)
            self._append(record)
            self._records[response_id] = record
            return record

    def close(self) -> None:
        os.close(self._fd)


class StoreFeedbackSink:
    """Writes through ``posttrain.feedback.store.FeedbackStore(url)`` (imported only when used)."""

    def __init__(self, url: str):
        try:
            from posttrain.feedback.store import FeedbackStore
        except ImportError as error:
            raise UserError(f"--feedback-db needs posttrain.feedback.store, which is not available: {error}") from None
        self.store = FeedbackStore(url)

    def record_served(self, record: FeedbackRecord) -> None:
        self.store.record_served(record)

    def add_feedback(self, response_id: str, thumbs: str | None = None, preferred: int | None = None
                     ) -> FeedbackRecord:
        try:
            record = self.store.add_served_feedback(response_id, thumbs=thumbs, preferred=preferred)
        except (KeyError, LookupError) as error:
            raise UnknownResponse(response_id) from error
        if record is None or record is False:
            raise UnknownResponse(response_id)
        return record

    def close(self) -> None:
        close = getattr(self.store, "close", None)
        if close is not None:
            close()


def open_sink(feedback_file: str | None = None, feedback_db: str | None = None) -> FeedbackSink | None:
    """The sink the options ask for, or None (feedback collection off)."""
    if feedback_file and feedback_db:
        raise UserError("give --feedback-file or --feedback-db, not both")
    if feedback_file:
        return JsonlFeedbackSink(feedback_file)
    if feedback_db:
        return StoreFeedbackSink(feedback_db)
    return None
