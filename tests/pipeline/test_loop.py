"""`posttrain loop`: feedback since the last round -> data -> retrain -> eval -> gate -> promote or keep."""

import json
from pathlib import Path

import pytest
import yaml

from posttrain.errors import UserError
from posttrain.feedback.records import (
    Answer,
    FeedbackRecord,
    record_line,
    to_training_rows,
)
from posttrain.pipeline.loop import load_loop_config, read_feedback, run_round

FAST = {"progress": False, "tensorboard": False, "max_length": 96, "warmup_ratio": 0.0}


def judgement(i: int, created: str, **fields) -> FeedbackRecord:
    return FeedbackRecord(kind="judgement", id=f"j{i}", created=created, reviewer="ana",
                          prompt=[{"role": "user", "content": f"Name the number {i}."}],
                          answers=[{"text": "I cannot help.", "source": "m"}, {"text": f"{i}.", "source": "m"}],
                          preferred=1, **fields)


def write_feedback(path: Path, records: list[FeedbackRecord], append: bool = False) -> None:
    with open(path, "a" if append else "w") as handle:
        handle.writelines(record_line(record) + "\n" for record in records)


def loop_file(tmp_path: Path, tiny_model: str, feedback: Path, **gate) -> str:
    config = {"name": "tiny-loop", "output_dir": str(tmp_path / "loop"), "feedback": str(feedback),
              "model": tiny_model, "defaults": FAST, "min_pairs": 4,
              "train": {"stage": "dpo", "max_steps": 2, "batch_size": 4, "reference_cache": False},
              "sft": {"max_steps": 1, "batch_size": 2},
              "eval": {"suites": ["math"], "limit": 2, "progress": False},
              "gate": gate or {"max_drop": {"math.accuracy": 1.0}}}
    path = tmp_path / "loop.yaml"
    path.write_text(yaml.safe_dump(config))
    return str(path)


def test_a_passing_round_promotes_and_the_next_round_waits_for_new_feedback(tiny_model, tmp_path):
    feedback = tmp_path / "feedback.jsonl"
    records = [judgement(i, f"2026-11-20T10:00:{i:02d}+00:00") for i in range(6)]
    records.append(judgement(99, "2026-11-20T10:01:00+00:00", better_answer="Ninety-nine."))
    records += [judgement(i, "2026-11-20T10:02:00+00:00", harmful=True) for i in (7, 8)]  # no pairs from these
    write_feedback(feedback, records)
    config = load_loop_config(loop_file(tmp_path, tiny_model, feedback))

    record = run_round(config)
    out = tmp_path / "loop"
    assert record["status"] == "promoted"
    # 6 judgements give one pair each; the written answer gives 2 more pairs and one SFT row; harmful items none.
    assert (record["preference_rows"], record["sft_rows"], record["feedback_records"]) == (8, 1, 9)
    # one reviewer, no gold items: ana keeps the prior (0.7) and nothing is excluded, but it is all counted
    assert record["defences"]["records_in"] == record["defences"]["records_kept"] == 9
    assert record["defences"]["excluded"] == {} and record["defences"]["reviewers"]["ana"]["quality"] == 0.7
    assert len((out / "round-001" / "data" / "preference.jsonl").read_text().splitlines()) == 8
    assert (out / "round-001" / "data" / "preference.jsonl").stat().st_mode & 0o777 == 0o600  # users' prompts
    state = json.loads((out / "state.json").read_text())
    assert state["promoted"] == str(out / "round-001" / "export" / "model") and state["rounds"] == 1
    assert state["cutoff"] == "2026-11-20T10:02:00+00:00"
    assert (Path(state["promoted"]) / "config.json").is_file()
    recipe = yaml.safe_load((out / "round-001" / "recipe.yaml").read_text())
    assert [stage["name"] for stage in recipe["stages"]] == ["promoted", "train", "candidate", "gate", "export"]
    # min_sft=4: one written answer is not worth an SFT stage.

    again = run_round(config)
    assert again["status"] == "skipped" and again["feedback_records"] == 0
    assert json.loads((out / "state.json").read_text())["promoted"] == state["promoted"]
    rounds = [json.loads(line) for line in (out / "rounds.jsonl").read_text().splitlines()]
    assert [row["status"] for row in rounds] == ["promoted", "skipped"]


def test_a_failing_gate_leaves_the_promoted_model_untouched(tiny_model, tmp_path):
    feedback = tmp_path / "feedback.jsonl"
    write_feedback(feedback, [judgement(i, f"2026-11-20T10:00:{i:02d}Z") for i in range(5)])
    # A drop allowance below zero with point values cannot be met: the gate must fail.
    config = load_loop_config(loop_file(tmp_path, tiny_model, feedback,
                                        max_drop={"math.accuracy": -0.5}, strict=True))
    record = run_round(config)
    assert record["status"] == "rejected"
    assert record["gate"]["passed"] is False
    state = json.loads((tmp_path / "loop" / "state.json").read_text())
    assert state["promoted"] == tiny_model and state["rounds"] == 1 and state["in_progress"] is None


def test_feedback_cutoff_and_bad_input(tmp_path):
    feedback = tmp_path / "feedback.jsonl"
    write_feedback(feedback, [judgement(1, "2026-11-20T10:00:00Z"), judgement(2, "2026-11-21T10:00:00Z")])
    assert [r.id for r in read_feedback(str(feedback), "2026-11-20T12:00:00+00:00")] == ["j2"]
    assert len(read_feedback(str(feedback), None)) == 2
    feedback.write_text(json.dumps({"kind": "judgement", "id": "x", "prompt": [{"role": "user", "content": "q"}],
                                    "answers": [{"text": "a"}]}) + "\n")
    with pytest.raises(UserError, match="no 'created' time"):
        read_feedback(str(feedback), None)
    feedback.write_text('{"kind": "judgement", "id": "x", "prompt": [], "answers": [{"text": "a"}]}\n')
    with pytest.raises(UserError, match=r"feedback.jsonl:1: field .prompt."):
        read_feedback(str(feedback), None)
    with pytest.raises(UserError, match="feedback file not found"):
        read_feedback(str(tmp_path / "none.jsonl"), None)
    (tmp_path / "loop.yaml").write_text("feedback: f.jsonl\n")
    with pytest.raises(UserError, match="gate"):
        load_loop_config(str(tmp_path / "loop.yaml"))


def test_the_loop_reads_judgements_and_served_feedback_from_the_store(tmp_path):
    from posttrain.feedback.store import FeedbackStore, NewItem, NewJudgement

    url = f"sqlite:///{tmp_path / 'feedback.db'}"
    store = FeedbackStore(url)
    store.create_campaign("c1", judgements_per_item=1)
    prompt = [{"role": "user", "content": "Capital of France?"}]
    store.add_items("c1", [NewItem(prompt=prompt, answers=[Answer(text="Paris.", source="a"),
                                                            Answer(text="Lyon.", source="b")])])
    store.add_reviewer("ana", "a long password 1")
    item = store.next_item("c1", "ana")
    store.add_judgement(NewJudgement(item_id=item.item_id, reviewer="ana", preferred=0))
    store.record_served(FeedbackRecord(kind="served", id="chatcmpl-1", model="m", prompt=prompt,
                                       answers=[{"text": "Paris!", "source": "m"}]))
    store.add_served_feedback("chatcmpl-1", thumbs="down")
    records = read_feedback(url, None)
    store.close()
    rows = to_training_rows(records)
    assert [(row["chosen"], row["rejected"]) for row in rows.preference] == [("Paris.", "Lyon.")]
    assert [(row["completion"], row["label"]) for row in rows.unpaired] == [("Paris!", False)]
    newest = max(record.created for record in records)
    assert read_feedback(url, newest) == []  # nothing newer than the last record


def test_a_second_loop_on_the_same_directory_refuses_in_one_line(tmp_path):
    """While one process holds the round (its lock on loop.lock), `posttrain loop` exits at once with one line."""
    import subprocess
    import sys

    from posttrain.pipeline.loop import loop_lock

    feedback = tmp_path / "feedback.jsonl"
    write_feedback(feedback, [judgement(1, "2026-11-20T10:00:00Z")])
    config = loop_file(tmp_path, "unused-model", feedback)
    (tmp_path / "loop").mkdir()
    with loop_lock(tmp_path / "loop"):
        result = subprocess.run([sys.executable, "-c", "from posttrain.cli import main; main()", "loop", config],
                                capture_output=True, text=True, timeout=120)
        assert result.returncode != 0 and result.stdout == ""
        message = result.stderr.strip()
        assert "another `posttrain loop` is running" in message and len(message.splitlines()) == 1
        assert not (tmp_path / "loop" / "rounds.jsonl").exists()
    # released: the round runs (and, with 1 pair < min_pairs, is skipped)
    assert run_round(load_loop_config(config))["status"] == "skipped"


def test_the_round_record_counts_every_exclusion_and_lists_the_excluded_ids(tmp_path):
    """Gold items g1, g2 (gold 0): ana right twice, bob wrong twice; on i1 and i2 they disagree. bob is
    excluded (quality below), so his i1 and i2 are; the second of two identical served votes is a
    duplicate. 10 records in = 3 kept (ana's i1, i2; s1) + 4 gold_item + 2 low_quality_reviewer + 1 duplicate."""
    def judged(item, reviewer, preferred, gold=None):
        return FeedbackRecord(kind="judgement", id=f"{item}:{reviewer}", item_id=item, reviewer=reviewer, gold=gold,
                              created="2026-11-20T10:00:00+00:00", prompt=[{"role": "user", "content": item}],
                              answers=[{"text": "A"}, {"text": "B"}], preferred=preferred)

    served = [FeedbackRecord(kind="served", id=f"s{i}", client="k-1", thumbs="up", created=f"2026-11-20T10:0{i}:00+00:00",
                             prompt=[{"role": "user", "content": "hi"}], answers=[{"text": "hello"}]) for i in (1, 2)]
    records = [judged("g1", "ana", 0, 0), judged("g2", "ana", 0, 0), judged("g1", "bob", 1, 0), judged("g2", "bob", 1, 0),
               judged("i1", "ana", 0), judged("i2", "ana", 1), judged("i1", "bob", 1), judged("i2", "bob", 0), *served]
    feedback = tmp_path / "feedback.jsonl"
    write_feedback(feedback, records)
    config = load_loop_config(loop_file(tmp_path, "unused-model", feedback))
    config.min_pairs = 100  # skip the training: the accounting happens before
    record = run_round(config)
    assert record["status"] == "skipped"
    defences = record["defences"]
    assert defences["records_in"] == 10 and defences["records_kept"] == 3
    assert defences["excluded"] == {"gold_item": 4, "low_quality_reviewer": 2, "duplicate": 1}
    # ana and bob disagree on i1, i2 (peer 0/2): ana (2*2 + 0 + 1.4) / (4 + 2 + 2) = 0.675; bob 1.4 / 8 = 0.175
    assert defences["reviewers"]["ana"]["quality"] == pytest.approx(0.675)
    assert defences["reviewers"]["bob"]["quality"] == pytest.approx(0.175) and defences["reviewers"]["bob"]["excluded"]
    excluded = [json.loads(line) for line in (tmp_path / "loop" / "round-001" / "data" / "excluded.jsonl").read_text().splitlines()]
    assert sorted(row["id"] for row in excluded if row["reason"] == "low_quality_reviewer") == ["i1:bob", "i2:bob"]
