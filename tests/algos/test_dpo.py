import json
from pathlib import Path

import pytest
from helpers import write_jsonl

from posttrain.algos.dpo import render_completion, train_dpo
from posttrain.config import DPOConfig, load_config
from posttrain.errors import UserError


def pair_rows(count: int) -> list[dict]:
    rows = []
    for i in range(count):
        a, b = i % 9 + 1, (i * 7) % 9 + 1
        rows.append({"prompt": f"What is {a} + {b}?", "chosen": f"{a} + {b} = {a + b}.",
                     "rejected": "I do not know, please ask someone else today."})
    return rows


def make_config(tiny_model, data, out, **overrides) -> DPOConfig:
    values = dict(model=tiny_model, data=data, output_dir=str(out), batch_size=8, lr=5e-2, max_length=128,
                  progress=False, tensorboard=False, eval_fraction=0.2, warmup_ratio=0.0, reference_cache=False)
    values.update(overrides)
    return load_config(DPOConfig, None, values)


def test_dpo_learns_the_preference(tiny_model, tmp_path):
    data = write_jsonl(tmp_path / "pairs.jsonl", pair_rows(40))
    summary = train_dpo(make_config(tiny_model, data, tmp_path / "run", epochs=3))
    metrics = [json.loads(line) for line in Path(tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    first = next(row for row in metrics if "train/loss" in row)
    assert first["train/loss"] == pytest.approx(0.6931, abs=1e-3)  # policy == reference at step 1: -log sigma(0)
    assert summary["eval/rewards/accuracy"] == 1.0
    assert summary["eval/loss"] < 0.5 and summary["eval/rewards/margin"] > 0


@pytest.mark.parametrize("loss", ["sigmoid", "ipo", "simpo", "orpo"])
def test_every_paired_loss_trains(tiny_model, tmp_path, loss):
    data = write_jsonl(tmp_path / "pairs.jsonl", pair_rows(16))
    summary = train_dpo(make_config(tiny_model, data, tmp_path / loss, loss=loss, max_steps=2, lr=1e-2))
    assert summary["step"] == 2 and summary["train_loss"] == summary["train_loss"]  # ran and is not NaN


def test_kto_on_unpaired_rows(tiny_model, tmp_path):
    rows = []
    for row in pair_rows(16):
        rows.append({"prompt": row["prompt"], "completion": row["chosen"], "label": True})
        rows.append({"prompt": row["prompt"], "completion": row["rejected"], "label": False})
    data = write_jsonl(tmp_path / "unpaired.jsonl", rows)
    summary = train_dpo(make_config(tiny_model, data, tmp_path / "kto", loss="kto", epochs=2))
    assert summary["eval/rewards/margin"] > 0


def test_reference_logps_are_cached(tiny_model, tmp_path, monkeypatch):
    monkeypatch.setenv("POSTTRAIN_CACHE", str(tmp_path / "cache"))
    data = write_jsonl(tmp_path / "pairs.jsonl", pair_rows(12))
    train_dpo(make_config(tiny_model, data, tmp_path / "a", max_steps=1, reference_cache=True))
    cached = list((tmp_path / "cache" / "reference_logps").glob("*.safetensors"))
    assert len(cached) == 2  # train and eval

    import posttrain.algos.dpo as dpo

    def fail(*args, **kwargs):
        raise AssertionError("reference pass ran although its log-probs were cached")

    monkeypatch.setattr(dpo, "reference_pass", fail)
    train_dpo(make_config(tiny_model, data, tmp_path / "b", max_steps=1, reference_cache=True))


def test_completion_mask_covers_only_the_answer(tiny_model):
    from posttrain.models.loading import load_tokenizer

    tokenizer = load_tokenizer(tiny_model)
    prompt = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "earlier"}, {"role": "user", "content": "and?"}]
    rendered = render_completion(prompt, [{"role": "assistant", "content": "Answer: 7."}], tokenizer, 512)
    masked = tokenizer.decode([t for t, m in zip(rendered.input_ids, rendered.loss_mask) if m])
    assert masked == "Answer: 7.<|im_end|>"  # the earlier assistant turn is context, not target


def test_wrong_data_and_loss_names_are_user_errors(tiny_model, tmp_path):
    data = write_jsonl(tmp_path / "pairs.jsonl", pair_rows(4))
    with pytest.raises(UserError, match="did you mean 'simpo'"):
        make_config(tiny_model, data, tmp_path / "x", loss="simpoo")
    with pytest.raises(UserError, match="needs unpaired data"):
        train_dpo(make_config(tiny_model, data, tmp_path / "y", loss="kto", format="sft"))
