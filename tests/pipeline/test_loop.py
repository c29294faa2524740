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
