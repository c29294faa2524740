import json
import shutil
from pathlib import Path

import pytest
import torch
from helpers import write_jsonl
from transformers import AutoModelForCausalLM

from posttrain.algos.sft import train_sft
from posttrain.config import SFTConfig, load_config
from posttrain.errors import DataError, UserError
from posttrain.training.checkpoint import list_checkpoints


def make_config(tiny_model, data, out, **overrides) -> SFTConfig:
    values = dict(
        model=tiny_model, data=data, output_dir=str(out), batch_size=8, lr=1e-2, max_length=128,
        progress=False, tensorboard=False, eval_fraction=0.1, warmup_ratio=0.0,
    )
    values.update(overrides)
    return load_config(SFTConfig, None, values)


def losses(run_dir) -> dict[int, float]:
    rows = [json.loads(line) for line in Path(run_dir, "metrics.jsonl").read_text().splitlines()]
    return {row["step"]: row["train/loss"] for row in rows if "train/loss" in row}


@pytest.mark.parametrize("finetune", ["full", "lora"])
def test_sft_lowers_heldout_loss(tiny_model, sft_data, tmp_path, finetune):
    before = train_sft(make_config(tiny_model, sft_data, tmp_path / "zero", max_steps=1, lr=1e-9, finetune=finetune))
    # Adapters on a random 32-wide model with frozen embeddings learn slowly: a larger step, a smaller bar.
    lr, gain = (1e-2, 0.5) if finetune == "full" else (5e-2, 0.25)
    after = train_sft(make_config(tiny_model, sft_data, tmp_path / "run", epochs=4, finetune=finetune, lr=lr))
    assert after["eval_loss"] < before["eval_loss"] - gain, (before["eval_loss"], after["eval_loss"])
    assert after["train_rows"] == 36 and after["eval_rows"] == 4


def test_resume_gives_the_same_loss_curve(tiny_model, sft_data, tmp_path):
    """A run stopped after step 3 (its newest checkpoint) and resumed equals an uninterrupted run."""
    config = make_config(tiny_model, sft_data, tmp_path / "straight", max_steps=8, save_every=3, keep_checkpoints=5)
    train_sft(config)
    straight = losses(tmp_path / "straight")

    resumed_dir = tmp_path / "resumed"
    train_sft(config.model_copy(update={"output_dir": str(resumed_dir), "max_steps": 8}))
    # Leave only the step-3 checkpoint, as a run killed during step 4 would.
    for checkpoint in list_checkpoints(resumed_dir):
        if checkpoint.name != "step-000003":
            shutil.rmtree(checkpoint)
    shutil.rmtree(resumed_dir / "final")
    train_sft(config.model_copy(update={"output_dir": str(resumed_dir)}))
    again = losses(resumed_dir)
    steps = [json.loads(line)["step"] for line in (resumed_dir / "metrics.jsonl").read_text().splitlines()]
    assert [s for s in steps if s > 0][:8] == [1, 2, 3, 4, 5, 6, 7, 8]  # steps after the checkpoint logged once
    for step in range(1, 9):
        assert again[step] == pytest.approx(straight[step], rel=1e-6, abs=1e-7), step


def test_resume_refuses_a_changed_config(tiny_model, sft_data, tmp_path):
    config = make_config(tiny_model, sft_data, tmp_path / "run", max_steps=2)
    train_sft(config)
    with pytest.raises(UserError, match="lr=0.01, now 0.001"):
        train_sft(config.model_copy(update={"lr": 1e-3}))
    with pytest.raises(UserError, match="already holds checkpoints"):
        train_sft(config.model_copy(update={"resume": False}))
    assert train_sft(config.model_copy(update={"progress": True}))["step"] == 2  # bookkeeping keys may change


def test_a_finished_run_is_extended_by_a_larger_max_steps(tiny_model, sft_data, tmp_path, capsys):
    config = make_config(tiny_model, sft_data, tmp_path / "run", max_steps=2)
    train_sft(config)
    first = losses(tmp_path / "run")
    summary = train_sft(config.model_copy(update={"max_steps": 4}))
    assert summary["step"] == 4 and "max_steps 2 -> 4: continuing from the last checkpoint" in capsys.readouterr().err
    extended = losses(tmp_path / "run")
    assert sorted(extended) == [1, 2, 3, 4]
    assert [extended[1], extended[2]] == [first[1], first[2]]  # the first two steps are kept, not run again
    with pytest.raises(UserError, match="lr=0.01, now 0.001"):  # other keys still may not change
        train_sft(config.model_copy(update={"max_steps": 6, "lr": 1e-3}))


def test_gradient_accumulation_matches_one_big_batch(tiny_model, sft_data, tmp_path):
    """Same global batch cut into many micro-batches or few: same losses."""
    big = make_config(tiny_model, sft_data, tmp_path / "big", max_steps=4, micro_batch_tokens=4096)
    small = make_config(tiny_model, sft_data, tmp_path / "small", max_steps=4, micro_batch_tokens=128)
    train_sft(big)
    train_sft(small)
    a, b = losses(tmp_path / "big"), losses(tmp_path / "small")
    for step in a:
        assert a[step] == pytest.approx(b[step], rel=1e-4), step


@pytest.mark.parametrize("finetune", ["full", "lora"])
def test_packed_rows_train_as_padded_rows(tiny_model, sft_data, tmp_path, finetune):
    """Rows back to back in one row (the default) or right-padded: the same losses, held-out loss too."""
    packed = make_config(tiny_model, sft_data, tmp_path / "packed", max_steps=4, finetune=finetune)
    padded = make_config(tiny_model, sft_data, tmp_path / "padded", max_steps=4, finetune=finetune, packing=False)
    assert packed.packing and not padded.packing
    a, b = train_sft(packed), train_sft(padded)
    assert a["eval_loss"] == pytest.approx(b["eval_loss"], rel=1e-4)
    for step, loss in losses(tmp_path / "packed").items():
        assert loss == pytest.approx(losses(tmp_path / "padded")[step], rel=1e-4), step


def test_final_models_load_with_transformers(tiny_model, sft_data, tmp_path):
    train_sft(make_config(tiny_model, sft_data, tmp_path / "run", max_steps=2, save_format="both"))
    merged = AutoModelForCausalLM.from_pretrained(tmp_path / "run" / "final")
    from_adapter = AutoModelForCausalLM.from_pretrained(tmp_path / "run" / "final-adapter")
    ids = torch.tensor([[1, 5, 9, 12]])
    torch.testing.assert_close(merged(ids).logits, from_adapter(ids).logits, atol=1e-5, rtol=1e-4)
    saved = load_config(SFTConfig, str(tmp_path / "run" / "config.yaml"))
    assert saved.max_steps == 2


def test_interrupted_checkpoint_write_is_ignored(tiny_model, sft_data, tmp_path):
    """A staging directory left by a crash mid-write never counts as a checkpoint."""
    run = tmp_path / "run"
    train_sft(make_config(tiny_model, sft_data, run, max_steps=2, save_every=1))
    (run / "checkpoints" / ".step-000003.abc").mkdir()
    assert [p.name for p in list_checkpoints(run)] == ["step-000001", "step-000002"]


def test_bad_row_names_file_line_and_field(tiny_model, tmp_path):
    rows = [{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}] * 3
    rows.append({"messages": [{"content": "no role"}, {"role": "assistant", "content": "x"}]})
    data = write_jsonl(tmp_path / "bad.jsonl", rows)
    with pytest.raises(DataError, match=r"bad\.jsonl:4: field 'messages\[0\]'"):
        train_sft(make_config(tiny_model, data, tmp_path / "run", max_steps=1))
    summary = train_sft(make_config(tiny_model, data, tmp_path / "skip", max_steps=1, skip_bad_rows=True, eval_fraction=0))
    assert summary["skipped_bad_rows"] == 1 and summary["train_rows"] == 3
    # The skipped row and its reason are kept in the run directory, not only counted.
    [skipped] = [json.loads(line) for line in (tmp_path / "skip" / "skipped_rows.jsonl").read_text().splitlines()]
    assert skipped["file"] == data and skipped["line"] == 4 and skipped["field"] == "messages[0]"
    assert skipped["reason"] and skipped["row"] == rows[3]


def test_truncation_is_counted_and_empty_rows_reported(tiny_model, tmp_path):
    long_answer = "word " * 200
    rows = [{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": long_answer}]}] * 2
    rows.append({"messages": [{"role": "user", "content": "x " * 300}, {"role": "assistant", "content": "ok"}]})
    data = write_jsonl(tmp_path / "long.jsonl", rows)
    summary = train_sft(make_config(tiny_model, data, tmp_path / "run", max_steps=1, eval_fraction=0, max_length=64))
    assert summary["truncated_rows"] == 3
    assert summary["rows_without_loss_tokens"] == 1  # the prompt alone fills max_length
    assert summary["train_rows"] == 2


def test_missing_data_is_one_line_error(tiny_model, tmp_path):
    with pytest.raises(UserError, match="data file not found"):
        train_sft(make_config(tiny_model, str(tmp_path / "nope.jsonl"), tmp_path / "run"))


def test_logged_lr_is_the_rate_the_step_used(tiny_model, sft_data, tmp_path):
    """A 1-step cosine run trains at the peak lr; logging after the scheduler step showed 0.0."""
    train_sft(make_config(tiny_model, sft_data, tmp_path / "run", max_steps=1, schedule="cosine"))
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [row["train/lr"] for row in rows if "train/lr" in row] == [1e-2]
