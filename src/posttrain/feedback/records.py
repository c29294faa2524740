"""The feedback export format: one JSON object per line, shared by every producer and consumer.

Producers: the labeling app's store (``posttrain label export``) and the serving endpoint (which
writes served responses and users' feedback). Consumer: ``posttrain loop``, which turns the
records into preference, SFT and unpaired (KTO) training rows with :func:`to_training_rows`.

Two record kinds, told apart by ``"kind"``:

``judgement`` — a reviewer compared two or more answers to one prompt::

    {"kind": "judgement", "id": "j-17", "item_id": "c1-42", "campaign": "c1", "reviewer": "ana",
     "prompt": [{"role": "user", "content": "..."}],
     "answers": [{"text": "...", "source": "model-a"}, {"text": "...", "source": "model-b"}],
     "preferred": 1,               # index into answers, or null for a tie
     "ratings": [{"helpfulness": 4, "accuracy": 5, "safety": 5}, {...}],   # optional, 1-5
     "harmful": false, "better_answer": null, "seconds": 12.5, "created": "2026-11-23T12:00:00Z",
     "gold": 0}                    # only on gold items: the index of the known better answer

``served`` — a response of the served model and what its user said about it::

    {"kind": "served", "id": "chatcmpl-abc", "model": "my-model", "created": "...",
     "prompt": [...messages...], "answers": [{"text": "...", "source": "my-model"}, ...],
     "thumbs": "up" | "down" | null,   # about answers[0]
     "preferred": 2 | null,            # the user's choice between n answers
     "client": "k-3f2a..."}            # fingerprint of the API key (absent without keys)

Rules of the conversion (:func:`to_training_rows`), stated once here:

- a judgement with a preferred answer gives one preference pair per other answer
  (preferred = chosen); a tie gives no pair;
- a judgement flagged ``harmful`` gives no pair whose chosen answer is the flagged preferred one:
  a reviewer who marks the item harmful is saying no answer should be reinforced;
- a written ``better_answer`` gives an SFT row and a pair (better answer over every shown answer);
- a served ``preferred`` choice gives pairs like a judgement; a served thumbs up/down gives an
  unpaired row labelled desirable/undesirable for ``answers[0]``;
- when several records share an ``id`` (a changed judgement is a new row), the last one wins.

``posttrain loop`` first applies :mod:`posttrain.feedback.defences` (reviewer quality, gold items,
deduplication and a per-client cap, conflict resolution), which counts everything it excludes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

from posttrain.data.readers import read_rows_with_errors
from posttrain.errors import DataError


class Answer(BaseModel):
    text: str
    source: str = ""


class FeedbackRecord(BaseModel):
    kind: Literal["judgement", "served"]
    id: str
    prompt: list[dict[str, Any]] = Field(min_length=1)
    answers: list[Answer] = Field(min_length=1)
    preferred: int | None = None
    thumbs: Literal["up", "down"] | None = None
    ratings: list[dict[str, int]] | None = None
    harmful: bool = False
    better_answer: str | None = None
    item_id: str | None = None
    campaign: str | None = None
    reviewer: str | None = None
    model: str | None = None
    seconds: float | None = None
    created: str | None = None
    gold: int | None = None  # judgement of a gold item: the index of its known better answer
    client: str | None = None  # served: the fingerprint of the API key that asked (never the key)

    def model_post_init(self, _context: Any) -> None:
        if self.preferred is not None and not 0 <= self.preferred < len(self.answers):
            raise ValueError(f"preferred={self.preferred} is not an index into {len(self.answers)} answers")
        if self.gold is not None and not 0 <= self.gold < len(self.answers):
            raise ValueError(f"gold={self.gold} is not an index into {len(self.answers)} answers")


def read_records(path: str) -> list[FeedbackRecord]:
    """Every record of a feedback JSONL file; a malformed row raises :class:`DataError` with its line."""
    records: list[FeedbackRecord] = []
    for line, row in read_rows_with_errors(path):
        if isinstance(row, DataError):
            raise row
        try:
            records.append(FeedbackRecord.model_validate(row))
        except ValidationError as error:
            first = error.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or None
            raise DataError(first["msg"], path=path, line=line, field=where) from None
    return records


def record_line(record: FeedbackRecord) -> str:
    """One JSONL line (no trailing newline) for ``record``, without empty optional fields."""
    return json.dumps(record.model_dump(exclude_none=True), ensure_ascii=False)


@dataclass
class TrainingRows:
    preference: list[dict[str, Any]] = field(default_factory=list)  # {"prompt", "chosen", "rejected", "source_id"}
    sft: list[dict[str, Any]] = field(default_factory=list)  # {"messages", "source_id"}
    unpaired: list[dict[str, Any]] = field(default_factory=list)  # {"prompt", "completion", "label", "source_id"}


def latest_by_id(records: list[FeedbackRecord]) -> list[FeedbackRecord]:
    """The last record of each id, in the order the ids first appeared."""
    latest: dict[str, FeedbackRecord] = {}
    for record in records:
        latest[record.id] = record  # re-assigning keeps the key's first position
    return list(latest.values())


def to_training_rows(records: list[FeedbackRecord]) -> TrainingRows:
    """Preference, SFT and unpaired rows from feedback records, by the rules in the module docstring."""
    rows = TrainingRows()
    for record in latest_by_id(records):
        texts = [answer.text for answer in record.answers]
        if record.better_answer and record.better_answer.strip():
            better = record.better_answer.strip()
            rows.sft.append({"messages": [*record.prompt, {"role": "assistant", "content": better}],
                             "source_id": record.id})
            rows.preference += [_pair(record, better, text) for text in texts if text.strip() != better]
        elif record.preferred is not None and not record.harmful:
            chosen = texts[record.preferred]
            rows.preference += [_pair(record, chosen, text) for index, text in enumerate(texts)
                                if index != record.preferred and text != chosen]
        if record.kind == "served" and record.thumbs is not None:
            rows.unpaired.append({"prompt": record.prompt, "completion": texts[0],
                                  "label": record.thumbs == "up", "source_id": record.id})
    return rows


def _pair(record: FeedbackRecord, chosen: str, rejected: str) -> dict[str, Any]:
    return {"prompt": record.prompt, "chosen": chosen, "rejected": rejected, "source_id": record.id}
