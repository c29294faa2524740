import json
import shutil
from pathlib import Path

import pytest
from helpers import write_jsonl

from posttrain.algos.grpo import train_grpo
from posttrain.rewards.registry import parse_reward_spec
from posttrain.config import GRPOConfig, load_config
from posttrain.errors import UserError
from posttrain.training.checkpoint import list_checkpoints


def short_answer(prompt: str, completion: str, **_) -> float:
    """A reward a random model can learn fast: the shorter the completion, the better."""
    return -len(completion) / 40.0


def digit_share(prompt: str, completion: str, **_) -> float:
    """The share of digits in the completion: a tiny random model's LoRA learns to emit more within 8 steps."""
    return sum(ch.isdigit() for ch in completion) / max(1, len(completion))


def prompt_rows(count: int) -> list[dict]:
    return [{"prompt": f"What is {i % 9 + 1} + {i % 7 + 2}?", "answer": str(i % 9 + 1 + i % 7 + 2)} for i in range(count)]


def make_config(tiny_model, data, out, **overrides) -> GRPOConfig:
    values = dict(model=tiny_model, data=data, output_dir=str(out), batch_size=4, num_generations=4, max_new_tokens=12,
                  max_length=64, lr=3e-2, progress=False, tensorboard=False, eval_fraction=0.25, eval_prompts=4,
                  reward="test_grpo:short_answer", temperature=1.0, rollout_batch_size=16)
    values.update(overrides)
    return load_config(GRPOConfig, None, values)


def records(run: Path, name: str = "metrics.jsonl") -> list[dict]:
    return [json.loads(line) for line in (run / name).read_text().splitlines() if line.strip()]


def test_grpo_raises_the_reward_and_logs_rollouts(tiny_model, tmp_path):
    data = write_jsonl(tmp_path / "prompts.jsonl", prompt_rows(32))
    run = tmp_path / "run"
    summary = train_grpo(make_config(tiny_model, data, run, max_steps=8, reward="test_grpo:digit_share"))
    train = [r for r in records(run) if "train/reward_mean" in r]
    assert len(train) == 8
    first, last = sum(r["train/reward_mean"] for r in train[:2]) / 2, sum(r["train/reward_mean"] for r in train[-2:]) / 2
    assert last > first + 0.2  # completions hold more digits (about 0.1 of their characters at the start)
    rollouts = records(run, "rollouts.jsonl")
    assert len(rollouts) == 8 * 4 * 4 and {"prompt", "completion", "reward", "advantage"} <= set(rollouts[0])
    assert (run / "reward.png").stat().st_size > 1000
    assert "eval/reward_mean" in summary
    assert any(r.get("step") == 0 and "eval/reward_mean" in r for r in records(run))  # the starting model, step 0
    for key in ("train/completions_per_s", "train/clip_fraction", "train/entropy_estimate", "train/informative_groups"):
        assert key in train[-1]


@pytest.mark.parametrize("advantage", ["rloo", "reinforce_pp"])
def test_other_estimators_and_kl_run(tiny_model, tmp_path, advantage):
    data = write_jsonl(tmp_path / "prompts.jsonl", prompt_rows(8))
    summary = train_grpo(make_config(tiny_model, data, tmp_path / advantage, max_steps=2, advantage=advantage,
                                     kl_coef=0.05, num_iterations=2, loss_aggregation="sequence_mean", eval_prompts=0))
    train = [r for r in records(tmp_path / advantage) if "train/reward_mean" in r]
    assert summary["step"] == 2 and all(r["train/kl"] >= 0 for r in train)
    assert train[0]["train/kl"] > 0  # the second pass starts from an updated policy, away from the reference


def test_resume_repeats_the_same_rollouts(tiny_model, tmp_path):
    """A run cut back to its step-2 checkpoint and resumed samples and scores what the straight run did."""
    data = write_jsonl(tmp_path / "prompts.jsonl", prompt_rows(16))
    config = make_config(tiny_model, data, tmp_path / "straight", max_steps=4, eval_prompts=0, save_every=2,
                         keep_checkpoints=5)
    train_grpo(config)
    split = tmp_path / "split"
    train_grpo(config.model_copy(update={"output_dir": str(split)}))
    for checkpoint in list_checkpoints(split):  # as if killed during step 3
        if checkpoint.name != "step-000002":
            shutil.rmtree(checkpoint)
    shutil.rmtree(split / "final")
    train_grpo(config.model_copy(update={"output_dir": str(split)}))
    straight, resumed = records(tmp_path / "straight", "rollouts.jsonl"), records(split, "rollouts.jsonl")
    assert [r["step"] for r in resumed] == [r["step"] for r in straight]  # steps 3-4 logged once, not twice
    assert [r["completion"] for r in resumed] == [r["completion"] for r in straight]
    assert [r["reward"] for r in resumed] == pytest.approx([r["reward"] for r in straight])


def test_reward_spec_parsing_and_errors(tiny_model, tmp_path):
    assert parse_reward_spec("math_correct") == {"math_correct": 1.0}
    assert parse_reward_spec("math_correct=1, answer_tag=0.2") == {"math_correct": 1.0, "answer_tag": 0.2}
    assert parse_reward_spec("pkg.mod:fn=0.5") == {"pkg.mod:fn": 0.5}
    with pytest.raises(UserError, match="must be a number"):
        parse_reward_spec("math_correct=high")
    with pytest.raises(UserError, match="no training prompts"):
        train_grpo(make_config(tiny_model, None, tmp_path / "x"))
