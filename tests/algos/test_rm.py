import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from helpers import write_jsonl
from transformers import AutoModelForSequenceClassification

from posttrain.algos.rm import train_rm
from posttrain.models.lora import prepare_model
from posttrain.config import RMConfig, load_config
from posttrain.data.render import render
from posttrain.errors import DataError, UserError
from posttrain.models.reward import RewardModel, load_reward_model
from posttrain.training.checkpoint import list_checkpoints

REFUSAL = "I do not know, please ask someone else today."


def pair_rows(count: int) -> list[dict]:
    rows = []
    for i in range(count):
        a, b = i % 9 + 1, (i * 7) % 9 + 1
        rows.append({"prompt": f"What is {a} + {b}?", "chosen": f"{a} + {b} = {a + b}.", "rejected": REFUSAL})
    return rows


def make_config(tiny_model, data, out, **overrides) -> RMConfig:
    values = dict(model=tiny_model, data=data, output_dir=str(out), batch_size=8, lr=1e-3, max_length=128,
                  progress=False, tensorboard=False, eval_fraction=0.2, warmup_ratio=0.0)
    values.update(overrides)
    return load_config(RMConfig, None, values)


def losses(run_dir) -> dict[int, float]:
    rows = [json.loads(line) for line in Path(run_dir, "metrics.jsonl").read_text().splitlines()]
    return {row["step"]: row["train/loss"] for row in rows if "train/loss" in row}


def conversations() -> list[list[dict]]:
    """Unseen conversations of different lengths, one multi-turn."""
    def chat(question, answer):
        return [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]

    return [
        chat("What is 12 + 30?", "12 + 30 = 42."),
        chat("What is 12 + 30?", REFUSAL),
        chat("Hello there!", "Hello! How are you today? I am fine, thank you."),
        chat("Explain step by step: what is 2 + 5?", "2 + 5 = 7. Answer: 7."),
        chat("hi", "hello") + chat("And 3 + 3?", "3 + 3 = 6."),
    ]


@pytest.fixture(scope="module")
def trained_rm(tiny_model, tmp_path_factory) -> Path:
    """A LoRA reward model trained a few steps, saved merged and as an adapter."""
    tmp = tmp_path_factory.mktemp("rm")
    data = write_jsonl(tmp / "pairs.jsonl", pair_rows(24))
    train_rm(make_config(tiny_model, data, tmp / "run", max_steps=3, save_format="both"))
    return tmp / "run"


@pytest.mark.parametrize("finetune", ["lora", "full"])
def test_rm_learns_the_preference(tiny_model, tmp_path, finetune):
    data = write_jsonl(tmp_path / "pairs.jsonl", pair_rows(40))
    summary = train_rm(make_config(tiny_model, data, tmp_path / "run", epochs=3, finetune=finetune))
    assert summary["eval_rows"] == 8
    assert summary["eval/accuracy"] >= 0.9 and summary["eval/loss"] < 0.3 and summary["eval/margin"] > 0
    # The saved model carries the preference to pairs it never saw.
    chosen, rejected = RewardModel.load(str(tmp_path / "run" / "final")).score(conversations()[:2])
    assert chosen > rejected


def test_lora_trains_the_new_score_head(tiny_model, tmp_path):
    config = make_config(tiny_model, "unused.jsonl", tmp_path / "run")
    model = prepare_model(load_reward_model(tiny_model), config, task_type="SEQ_CLS", modules_to_save=["score"])
    trainable = [name for name, param in model.named_parameters() if param.requires_grad]
    assert any("score" in name for name in trainable) and any("lora_" in name for name in trainable)
    assert not any("embed_tokens" in name for name in trainable)


def test_saved_model_scores_like_transformers(trained_rm):
    """HF's pooling reads the rightmost token that is not pad_token_id; ours, the last token. They
    agree while no sequence ends with the pad token: ChatML ends with "<|im_end|>\\n", and the
    tiny tokenizer's pad is <|endoftext|>."""
    reward_model = RewardModel.load(str(trained_rm / "final"))
    ours = reward_model.score(conversations())
    hf_model = AutoModelForSequenceClassification.from_pretrained(trained_rm / "final").eval()
    tokenizer = reward_model.tokenizer
    assert hf_model.config.pad_token_id == tokenizer.pad_token_id
    sequences = [render(conversation, tokenizer).input_ids for conversation in conversations()]
    with torch.no_grad():
        for ids, our_score in zip(sequences, ours):
            assert ids[-1] != tokenizer.pad_token_id
            hf_score = hf_model(torch.tensor([ids])).logits[0, 0].item()
            assert hf_score == pytest.approx(our_score, abs=1e-5)
        # HF on a right-padded batch with its attention mask finds the same last tokens.
        padded = tokenizer.pad({"input_ids": sequences}, return_tensors="pt")
        batch_scores = hf_model(**padded).logits[:, 0]
    torch.testing.assert_close(batch_scores, torch.tensor(ours), atol=1e-5, rtol=0)
    from_adapter = RewardModel.load(str(trained_rm / "final-adapter")).score(conversations())
    torch.testing.assert_close(torch.tensor(from_adapter), torch.tensor(ours), atol=1e-5, rtol=0)
    assert len(set(round(score, 4) for score in ours)) == len(ours)  # not a constant head


def test_padded_batch_scores_like_one_at_a_time(trained_rm):
    reward_model = RewardModel.load(str(trained_rm / "final"))
    batched = reward_model.score(conversations(), batch_size=8)
    single = [reward_model.score([conversation], batch_size=1)[0] for conversation in conversations()]
    torch.testing.assert_close(torch.tensor(batched), torch.tensor(single), atol=1e-5, rtol=0)
    reversed_scores = reward_model.score(conversations()[::-1], batch_size=3)
    torch.testing.assert_close(torch.tensor(reversed_scores[::-1]), torch.tensor(batched), atol=1e-5, rtol=0)


def test_reward_model_refuses_a_plain_language_model(tiny_model):
    with pytest.raises(UserError, match="not a reward model .*LlamaForCausalLM"):
        RewardModel.load(tiny_model)


def test_resume_gives_the_same_loss_curve(tiny_model, tmp_path):
    """A run stopped after step 3 (its newest checkpoint) and resumed equals an uninterrupted one,
    LoRA adapters and the score head both restored."""
    data = write_jsonl(tmp_path / "pairs.jsonl", pair_rows(24))
    config = make_config(tiny_model, data, tmp_path / "straight", max_steps=6, save_every=3, batch_size=4)
    train_rm(config)
    straight = losses(tmp_path / "straight")

    resumed_dir = tmp_path / "resumed"
    train_rm(config.model_copy(update={"output_dir": str(resumed_dir)}))
    for checkpoint in list_checkpoints(resumed_dir):
        if checkpoint.name != "step-000003":
            shutil.rmtree(checkpoint)
    shutil.rmtree(resumed_dir / "final")
    summary = train_rm(config.model_copy(update={"output_dir": str(resumed_dir)}))
    again = losses(resumed_dir)
    assert summary["step"] == 6 and sorted(again) == list(range(1, 7))
    for step in range(1, 7):
        assert again[step] == pytest.approx(straight[step], rel=1e-6, abs=1e-7), step


def test_margin_key_raises_the_loss(tiny_model, tmp_path):
    """A margin m asks for r_c - r_r > m: with the rewards unchanged, -log σ(gap - m) > -log σ(gap)."""
    rows = [dict(row, strength=3.0) for row in pair_rows(8)]
    data = write_jsonl(tmp_path / "pairs.jsonl", rows)
    common = dict(max_steps=1, lr=1e-9, eval_fraction=0.0)
    plain = train_rm(make_config(tiny_model, data, tmp_path / "plain", **common))
    margin = train_rm(make_config(tiny_model, data, tmp_path / "margin", margin_key="strength", **common))
    assert margin["train_loss"] > plain["train_loss"] + 0.5


def test_bad_rows_name_file_line_and_field(tiny_model, tmp_path):
    rows = pair_rows(4)
    data = write_jsonl(tmp_path / "pairs.jsonl", rows[:2] + [{"prompt": "hi", "chosen": "hello"}] + rows[2:])
    with pytest.raises(DataError, match=r"pairs\.jsonl:3: field 'rejected'"):
        train_rm(make_config(tiny_model, data, tmp_path / "a", max_steps=1))
    summary = train_rm(make_config(tiny_model, data, tmp_path / "b", max_steps=1, skip_bad_rows=True, eval_fraction=0))
    assert summary["skipped_bad_rows"] == 1 and summary["train_rows"] == 4

    # A bad margin is found while rendering; its line still counts blank lines in the file.
    margins = [dict(row, strength=1.0) for row in rows]
    margins[1]["strength"] = "big"
    data = write_jsonl(tmp_path / "margins.jsonl", [margins[0], "", margins[1], margins[2]])
    with pytest.raises(DataError, match=r"margins\.jsonl:3: field 'strength': must be a finite number"):
        train_rm(make_config(tiny_model, data, tmp_path / "c", max_steps=1, margin_key="strength"))
    train_rm(make_config(tiny_model, data, tmp_path / "e", max_steps=1, margin_key="strength", skip_bad_rows=True,
                         eval_fraction=0))
    [skipped] = [json.loads(line) for line in (tmp_path / "e" / "skipped_rows.jsonl").read_text().splitlines()]
    assert (skipped["line"], skipped["field"]) == (3, "strength") and "finite number" in skipped["reason"]
    with pytest.raises(UserError, match="needs preference data"):
        train_rm(make_config(tiny_model, data, tmp_path / "d", max_steps=1, format="sft"))


def test_cli_round_trip(tiny_model, tmp_path):
    data = write_jsonl(tmp_path / "pairs.jsonl", pair_rows(8))
    result = subprocess.run(
        [sys.executable, "-m", "posttrain.cli", "rm", "--model", tiny_model, "--data", data, "--output-dir",
         str(tmp_path / "run"), "--max-steps", "1", "--no-progress", "--no-tensorboard", "--center-rewards-coef", "0.1"],
        capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout[result.stdout.index("{\n"):])
    assert summary["step"] == 1 and "eval/accuracy" in summary
    saved = load_config(RMConfig, str(tmp_path / "run" / "config.yaml"))
    assert saved.center_rewards_coef == 0.1 and saved.output_dir == str(tmp_path / "run")
    assert len(RewardModel.load(str(tmp_path / "run" / "final")).score(conversations()[:1])) == 1
