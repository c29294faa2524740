"""Defences that make noisy feedback safe to train on, applied by ``posttrain loop`` to every round.

Real feedback is noisy (random votes), biased (a group that always prefers the longer answer) and
sometimes malicious (upvoting harmful compliance). Before a round's records become training rows:

1. **Reviewer quality** (:func:`reviewer_quality`). For each reviewer of a labeling campaign, the
   share of agreements among their checkable judgements, smoothed by a prior::

       quality = (gold_weight * gold_correct + peer_agreements + prior_strength * prior)
                 / (gold_weight * gold_judged + peer_comparisons + prior_strength)

   ``gold_judged``/``gold_correct``: judgements of *gold items* (items seeded into a campaign with a
   known better answer, ``gold`` = its index; a tie is wrong) and how many named it.
   ``peer_comparisons``/``peer_agreements``: for every non-gold item the reviewer judged, one
   comparison per *other* reviewer of that item, agreeing when both chose the same answer (a tie
   agrees only with a tie). A reviewer with no checkable judgement gets the prior.
   The loop estimates it over every judgement so far (this round's and earlier rounds').
   Reviewers below ``min_reviewer_quality`` are excluded (their judgements are counted as
   ``low_quality_reviewer``); the others' quality is their vote's weight in rule 4.
2. **Gold items** are for checking reviewers, not for training: their judgements are counted as
   ``gold_item`` and give no rows (seeded checks often come from evaluation data).
3. **Served-API feedback** (records of kind ``served``), per client (the API key's fingerprint the
   server records; records without one share the client ``anonymous``):
   a record with the same client, prompt, answers and vote as an earlier one is a ``duplicate``;
   beyond ``max_feedback_per_client`` records per client in one round (oldest kept) the rest are
   ``rate_limited``. The anonymous client is not capped (one user without a key is every user).
4. **Conflicts** (:func:`resolve_conflicts`): training rows that judge the same pair of answers to
   the same prompt in opposite directions (or thumbs up and down on the same answer) are resolved
   by weighted majority: each row weighs its reviewer's quality (served users: 1). The direction
   with the larger total weight keeps its rows; the others are ``conflict_outvoted``. Equal totals
   keep nothing (``conflict_tied``): an undecided pair teaches nothing.

Nothing is dropped silently: :class:`DefenceReport` counts every excluded record and row by
reason and keeps each excluded id, and ``records_in == records_kept + sum(excluded.values())``.
The gate is the last defence: a round trained on poisoned feedback that slips through is refused
promotion by the safety and over-refusal suites.

Example::

    kept, report = apply_defences(records, DefenceConfig())
    rows, report = resolve_conflicts(to_training_rows(kept), report)
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from posttrain.feedback.records import FeedbackRecord, TrainingRows, latest_by_id

ANONYMOUS = "anonymous"


class DefenceConfig(BaseModel):
    """The ``defences`` section of a loop config (every key optional)."""

    model_config = ConfigDict(extra="forbid")

    min_reviewer_quality: float = Field(0.6, ge=0.0, le=1.0,
                                        description="Reviewers whose quality estimate is below this are excluded.")
    quality_prior: float = Field(0.7, ge=0.0, le=1.0, description="Quality assumed before any checkable judgement.")
    prior_strength: float = Field(2.0, ge=0.0, description="How many judgements the prior counts as.")
    gold_weight: float = Field(2.0, ge=0.0, description="How many peer comparisons one gold judgement counts as.")
    max_feedback_per_client: int | None = Field(100, gt=0,
                                                description="Served feedback kept per API key per round (null: no cap).")


@dataclass
class ReviewerQuality:
    gold_judged: int = 0
    gold_correct: int = 0
    peer_comparisons: int = 0
    peer_agreements: int = 0
    quality: float = 0.0
    excluded: bool = False


@dataclass
class DefenceReport:
    records_in: int = 0
    records_kept: int = 0
    excluded: dict[str, int] = field(default_factory=dict)  # reason -> records
    rows_excluded: dict[str, int] = field(default_factory=dict)  # reason -> training rows
    reviewers: dict[str, ReviewerQuality] = field(default_factory=dict)
    excluded_ids: list[dict[str, str]] = field(default_factory=list)  # {"id", "reason"} per record

    def as_record(self) -> dict[str, Any]:
        """The counts for the round's record (the excluded ids go to their own file)."""
        return {"records_in": self.records_in, "records_kept": self.records_kept, "excluded": dict(self.excluded),
                "rows_excluded": dict(self.rows_excluded),
                "reviewers": {name: vars(quality) for name, quality in sorted(self.reviewers.items())}}

    def _exclude(self, record: FeedbackRecord, reason: str) -> None:
        self.excluded[reason] = self.excluded.get(reason, 0) + 1
        self.excluded_ids.append({"id": record.id, "reason": reason})


def reviewer_quality(records: list[FeedbackRecord], config: DefenceConfig) -> dict[str, ReviewerQuality]:
    """Each reviewer's quality estimate (module docstring, rule 1) from judgement records."""
    judgements = [record for record in latest_by_id(records) if record.kind == "judgement" and record.reviewer]
    by_item: dict[str, dict[str, int | None]] = defaultdict(dict)
    for record in judgements:
        if record.gold is None:
            by_item[record.item_id or record.id][record.reviewer] = record.preferred
    found: dict[str, ReviewerQuality] = {}
    for record in judgements:
        quality = found.setdefault(record.reviewer, ReviewerQuality())
        if record.gold is not None:
            quality.gold_judged += 1
            quality.gold_correct += int(record.preferred == record.gold)
            continue
        for other, label in by_item[record.item_id or record.id].items():
            if other != record.reviewer:
                quality.peer_comparisons += 1
                quality.peer_agreements += int(label == record.preferred)
    for quality in found.values():
        agreements = config.gold_weight * quality.gold_correct + quality.peer_agreements
        checked = config.gold_weight * quality.gold_judged + quality.peer_comparisons
        denominator = checked + config.prior_strength
        quality.quality = ((agreements + config.prior_strength * config.quality_prior) / denominator
                           if denominator > 0 else config.quality_prior)
        quality.excluded = quality.quality < config.min_reviewer_quality
    return found


def _served_key(record: FeedbackRecord) -> str:
    return json.dumps([record.client, record.prompt, [answer.text for answer in record.answers],
                       record.thumbs, record.preferred], sort_keys=True, ensure_ascii=False)


def apply_defences(records: list[FeedbackRecord], config: DefenceConfig, *,
                   history: list[FeedbackRecord] | None = None) -> tuple[list[FeedbackRecord], DefenceReport]:
    """The records a round may train on (rules 1-3 of the module docstring) and the report of the rest.

    ``history`` (default: ``records``) is what reviewer quality is estimated from: the loop passes
    every judgement so far, so a reviewer caught in one round stays distrusted in the next.
    """
    records = latest_by_id(records)  # a changed judgement replaces the old one: not an exclusion
    report = DefenceReport(records_in=len(records))
    report.reviewers = reviewer_quality(records if history is None else [*history, *records], config)
    kept: list[FeedbackRecord] = []
    seen: set[str] = set()
    per_client: Counter = Counter()
    for record in sorted(records, key=lambda record: record.created or ""):
        if record.kind == "judgement":
            reviewer = report.reviewers.get(record.reviewer or "")
            if record.gold is not None:
                report._exclude(record, "gold_item")
            elif reviewer is not None and reviewer.excluded:
                report._exclude(record, "low_quality_reviewer")
            else:
                kept.append(record)
            continue
        if record.thumbs is None and record.preferred is None:  # served, never judged: gives no row
            kept.append(record)
            continue
        key = _served_key(record)
        client = record.client or ANONYMOUS
        if key in seen:
            report._exclude(record, "duplicate")
        elif (config.max_feedback_per_client is not None and client != ANONYMOUS
              and per_client[client] >= config.max_feedback_per_client):
            report._exclude(record, "rate_limited")
        else:
            seen.add(key)
            per_client[client] += 1
            kept.append(record)
    report.records_kept = len(kept)
    return kept, report


def resolve_conflicts(rows: TrainingRows, report: DefenceReport,
                      records: list[FeedbackRecord] | None = None) -> tuple[TrainingRows, DefenceReport]:
    """Rows with conflicting judgements resolved by weighted majority (module docstring, rule 4).

    ``records`` (the kept records) tell each row's reviewer through its ``source_id``; a row whose
    record has no known reviewer weighs 1.
    """
    reviewer_of = {record.id: record.reviewer for record in records or [] if record.kind == "judgement"}

    def weight(row: dict) -> float:
        reviewer = reviewer_of.get(row.get("source_id", ""))
        quality = report.reviewers.get(reviewer) if reviewer else None
        return quality.quality if quality is not None else 1.0

    def prompt_key(row: dict) -> str:
        return json.dumps(row["prompt"], sort_keys=True, ensure_ascii=False)

    preference = _majority(rows.preference, weight,
                           group=lambda row: (prompt_key(row), frozenset((row["chosen"], row["rejected"]))),
                           side=lambda row: row["chosen"], report=report)
    unpaired = _majority(rows.unpaired, weight, group=lambda row: (prompt_key(row), row["completion"]),
                         side=lambda row: row["label"], report=report)
    return TrainingRows(preference=preference, sft=rows.sft, unpaired=unpaired), report


def _majority(rows: list[dict], weight, *, group, side, report: DefenceReport) -> list[dict]:
    totals: dict[Any, Counter] = defaultdict(Counter)
    for row in rows:
        totals[group(row)][side(row)] += weight(row)
    winners: dict[Any, Any] = {}
    for key, by_side in totals.items():
        ranked = by_side.most_common()
        if len(ranked) == 1 or ranked[0][1] > ranked[1][1] + 1e-9:  # float sums: 0.1 + 0.2 vs 0.3
            winners[key] = ranked[0][0]
        else:
            winners[key] = None  # equal weight both ways: undecided
    kept = []
    for row in rows:
        winner = winners[group(row)]
        if winner is None:
            report.rows_excluded["conflict_tied"] = report.rows_excluded.get("conflict_tied", 0) + 1
        elif side(row) != winner:
            report.rows_excluded["conflict_outvoted"] = report.rows_excluded.get("conflict_outvoted", 0) + 1
        else:
            kept.append(row)
    return kept
