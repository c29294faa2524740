"""The loop's defences against noisy feedback: reviewer quality, gold items, dedup and cap, conflicts.

Numbers are worked by hand in each docstring with the defaults: prior 0.7 counted as 2 judgements,
a gold judgement counted as 2 peer comparisons, exclusion below 0.6.
"""

import pytest

from posttrain.feedback.defences import DefenceConfig, apply_defences, resolve_conflicts, reviewer_quality
from posttrain.feedback.records import FeedbackRecord, TrainingRows, to_training_rows

ANSWERS = [{"text": "A", "source": "m1"}, {"text": "B", "source": "m2"}]


def judged(item: str, reviewer: str, preferred: int | None, gold: int | None = None, minute: int = 0) -> FeedbackRecord:
    return FeedbackRecord(kind="judgement", id=f"{item}:{reviewer}", item_id=item, reviewer=reviewer, gold=gold,
                          prompt=[{"role": "user", "content": f"prompt of {item}"}], answers=ANSWERS,
                          preferred=preferred, created=f"2026-12-01T10:{minute:02d}:00+00:00")


def served(number: int, client: str | None, content: str = "hi", thumbs: str | None = "up",
           preferred: int | None = None) -> FeedbackRecord:
    return FeedbackRecord(kind="served", id=f"s{number}", client=client, thumbs=thumbs, preferred=preferred,
                          prompt=[{"role": "user", "content": content}], answers=ANSWERS,
                          created=f"2026-12-01T11:{number:02d}:00+00:00")


def campaign() -> list[FeedbackRecord]:
    # g1 (gold 0) and g2 (gold 1) are gold items; i1 and i2 are ordinary; dan alone judged i3.
    return [judged("g1", "ana", 0, gold=0), judged("g1", "ben", 1, gold=0), judged("g1", "cat", 0, gold=0),
            judged("g2", "ana", 1, gold=1), judged("g2", "ben", 0, gold=1), judged("g2", "cat", 1, gold=1),
            judged("i1", "ana", 0), judged("i1", "ben", 1), judged("i1", "cat", 0),
            judged("i2", "ana", 1), judged("i2", "ben", 1), judged("i2", "cat", None),
            judged("i3", "dan", 0)]


def test_reviewer_quality_pools_gold_and_peer_agreement_with_a_prior():
    """ana: gold 2/2; peers i1 (ben 1 != 0: no, cat 0: yes), i2 (ben 1: yes, cat tie: no) = 2/4;
    quality = (2*2 + 2 + 2*0.7) / (2*2 + 4 + 2) = 7.4 / 10 = 0.74.
    ben: gold 0/2; peers i1 (ana no, cat no), i2 (ana yes, cat no) = 1/4: (0 + 1 + 1.4) / 10 = 0.24, excluded.
    cat: gold 2/2; peers i1 (ana yes, ben no), i2 (tie vs 1, 1: no, no) = 1/4: (4 + 1 + 1.4) / 10 = 0.64.
    dan: nothing checkable, the prior: 1.4 / 2 = 0.7."""
    quality = reviewer_quality(campaign(), DefenceConfig())
    assert quality["ana"].quality == pytest.approx(0.74)
    assert (quality["ana"].gold_judged, quality["ana"].gold_correct) == (2, 2)
    assert (quality["ana"].peer_comparisons, quality["ana"].peer_agreements) == (4, 2)
    assert quality["ben"].quality == pytest.approx(0.24) and quality["ben"].excluded
    assert quality["cat"].quality == pytest.approx(0.64) and not quality["cat"].excluded
    assert quality["dan"].quality == pytest.approx(0.7) and not quality["dan"].excluded


def test_gold_items_train_nothing_and_low_quality_reviewers_are_excluded_and_counted():
    """13 records: the 6 gold judgements are kept out of training, ben's 2 others are excluded
    (quality 0.24), and ana's 2, cat's 2 and dan's 1 are kept: 13 = 5 + 6 + 2."""
    kept, report = apply_defences(campaign(), DefenceConfig())
    assert report.records_in == 13 and report.records_kept == 5 == len(kept)
    assert report.excluded == {"gold_item": 6, "low_quality_reviewer": 2}
    assert {entry["id"] for entry in report.excluded_ids if entry["reason"] == "low_quality_reviewer"} == {"i1:ben", "i2:ben"}
    assert report.records_in == report.records_kept + sum(report.excluded.values())
    record = report.as_record()
    assert record["reviewers"]["ben"]["excluded"] is True and record["excluded"]["gold_item"] == 6


def test_a_stricter_threshold_excludes_more_and_a_reviewer_with_one_lucky_gold_item_is_not_trusted_blindly():
    """Threshold 0.65 also excludes cat (0.64). A reviewer with 1/1 gold and nothing else:
    (2*1 + 1.4) / (2 + 2) = 0.85; with 0/1: 1.4 / 4 = 0.35."""
    quality = reviewer_quality(campaign(), DefenceConfig(min_reviewer_quality=0.65))
    assert quality["cat"].excluded and not quality["ana"].excluded
    lone = reviewer_quality([judged("g9", "eve", 0, gold=0), judged("g8", "fay", 1, gold=0)], DefenceConfig())
    assert lone["eve"].quality == pytest.approx(0.85) and lone["fay"].quality == pytest.approx(0.35)


def test_served_feedback_is_deduplicated_and_capped_per_client_but_anonymous_feedback_is_not_capped():
    """k1 sends s1..s5 in time order: s2 repeats s1 (same prompt, answers, vote): duplicate; s1, s3, s4
    fill the cap of 3; s5 is rate limited. k2's s6 repeats s1's content but from another client: kept.
    Five anonymous records, all different: all kept (no cap without a key)."""
    records = [served(1, "k1"), served(2, "k1"), served(3, "k1", "b"), served(4, "k1", "c"), served(5, "k1", "d"),
               served(6, "k2")] + [served(10 + index, None, f"anon {index}") for index in range(5)]
    kept, report = apply_defences(records, DefenceConfig(max_feedback_per_client=3))
    assert [record.id for record in kept if record.client == "k1"] == ["s1", "s3", "s4"]
    assert report.excluded == {"duplicate": 1, "rate_limited": 1}
    assert {entry["id"]: entry["reason"] for entry in report.excluded_ids} == {"s2": "duplicate", "s5": "rate_limited"}
    assert report.records_kept == 9 and report.records_in == 11


def test_conflicting_pairs_are_resolved_by_quality_weighted_majority_and_ties_give_nothing():
    """Pair A/B on 'prompt of i1': ana (0.74) prefers A; cat (0.64) and one served user (1.0) prefer B:
    B weighs 1.64 > 0.74, so ana's row is outvoted and 2 rows remain.
    Pair A/B on 'x': two served users choose opposite answers, 1.0 each: tied, both rows go.
    Thumbs on answer A of 'y': up, up, down (1.0 each): 2 > 1, the down row is outvoted."""
    _, report = apply_defences(campaign(), DefenceConfig())
    records = [judged("i1", "ana", 0), judged("i1", "cat", 1),
               FeedbackRecord(kind="served", id="u1", prompt=[{"role": "user", "content": "prompt of i1"}],
                              answers=ANSWERS, preferred=1),
               served(20, "k1", "x", thumbs=None, preferred=0), served(21, "k2", "x", thumbs=None, preferred=1),
               served(22, "k1", "y"), served(23, "k2", "y"), served(24, "k3", "y", thumbs="down")]
    rows, report = resolve_conflicts(to_training_rows(records), report, records)
    prompt_i1 = [row for row in rows.preference if row["prompt"][0]["content"] == "prompt of i1"]
    assert sorted(row["source_id"] for row in prompt_i1) == ["i1:cat", "u1"]
    assert all(row["chosen"] == "B" for row in prompt_i1)
    assert not [row for row in rows.preference if row["prompt"][0]["content"] == "x"]
    assert [row["label"] for row in rows.unpaired] == [True, True]
    assert report.rows_excluded == {"conflict_outvoted": 2, "conflict_tied": 2}


def test_rows_without_conflict_pass_untouched():
    rows = TrainingRows(preference=[{"prompt": [{"role": "user", "content": "q"}], "chosen": "A", "rejected": "B",
                                     "source_id": "s"}] * 2)
    _, report = apply_defences([], DefenceConfig())
    resolved, report = resolve_conflicts(rows, report)
    assert resolved.preference == rows.preference and report.rows_excluded == {}


def test_quality_comes_from_the_whole_history_so_a_reviewer_caught_earlier_stays_excluded():
    """This round ben judged i9 alone (the prior: 0.7, kept). With last round's two wrong gold judgements:
    (0 + 1.4) / (2*2 + 0 + 2) = 0.233, so his i9 is excluded."""
    this_round = [judged("i9", "ben", 1, minute=30)]
    _, alone = apply_defences(this_round, DefenceConfig())
    assert alone.reviewers["ben"].quality == pytest.approx(0.7) and alone.excluded == {}
    history = [judged("g1", "ben", 1, gold=0), judged("g2", "ben", 0, gold=1)]
    kept, report = apply_defences(this_round, DefenceConfig(), history=history)
    assert report.reviewers["ben"].quality == pytest.approx(1.4 / 6) and kept == []
    assert report.excluded == {"low_quality_reviewer": 1} and report.records_in == 1  # history is not counted again


def test_served_records_without_a_vote_are_neither_duplicates_nor_counted_against_the_cap():
    """A feedback file also holds answers nobody judged: kept (they give no row), never excluded."""
    records = [served(1, "k1", thumbs=None), served(2, "k1", thumbs=None), served(3, "k1"), served(4, "k1", "b")]
    kept, report = apply_defences(records, DefenceConfig(max_feedback_per_client=2))
    assert len(kept) == 4 and report.excluded == {}
