"""GRPO variants on the tiny random model: the gspo and cispo losses, DAPO dynamic sampling and overlong shaping."""

import pytest
from helpers import write_jsonl
from test_grpo import make_config, prompt_rows, records

from posttrain.algos.grpo import train_grpo


def odd_prompts_only(prompt: str, completion: str, **_) -> float:
    """Signal only for prompts whose first number is odd; the others' groups all score 0 (no signal)."""
    return float(len(completion) % 3) if int(prompt.split()[2]) % 2 else 0.0


def constant(prompt: str, completion: str, **_) -> float:
    return 0.0


def by_step(run) -> dict[int, list[dict]]:
    steps: dict[int, list[dict]] = {}
    for record in records(run, "rollouts.jsonl"):
        steps.setdefault(record["step"], []).append(record)
    return steps


def test_dynamic_sampling_refills_the_batch_with_informative_groups(tiny_model, tmp_path):
    """About half the prompts carry no signal: the first batch of 4 prompts leaves the update short, extra
    batches of 4 prompts are drawn until 4 groups with differing rewards are found, and the count is logged."""
    data = write_jsonl(tmp_path / "prompts.jsonl", prompt_rows(32))
    run = tmp_path / "run"
    train_grpo(make_config(tiny_model, data, run, max_steps=2, eval_prompts=0, dynamic_sampling=True,
                           max_extra_batches=6, reward="test_grpo_variants:odd_prompts_only"))
    train = [r for r in records(run) if "train/reward_mean" in r]
    assert all(1 <= r["train/dynamic/extra_batches"] <= 6 for r in train)
    for step, rollouts in by_step(run).items():
        groups = [rollouts[i : i + 4] for i in range(0, len(rollouts), 4)]
        assert len(groups) == 4  # batch_size groups, all informative
        assert all(len({r["reward"] for r in group}) > 1 for group in groups)
    assert all(0 < r["train/dynamic/kept_groups"] < 1 for r in train)


def test_dynamic_sampling_stops_at_the_cap(tiny_model, tmp_path):
    """No group ever has signal: each step draws exactly max_extra_batches extra batches, keeps none and goes on."""
    data = write_jsonl(tmp_path / "prompts.jsonl", prompt_rows(16))
    run = tmp_path / "run"
    summary = train_grpo(make_config(tiny_model, data, run, max_steps=2, eval_prompts=0, dynamic_sampling=True,
                                     max_extra_batches=2, reward="test_grpo_variants:constant"))
    train = [r for r in records(run) if "train/reward_mean" in r]
    assert summary["step"] == 2
    assert [r["train/dynamic/extra_batches"] for r in train] == [2.0, 2.0]
    assert [r["train/dynamic/kept_groups"] for r in train] == [0.0, 0.0]
    assert [r["train/dynamic/sampled_completions"] for r in train] == [48.0, 48.0]  # (1 + 2 batches) * 4 prompts * 4


def test_overlong_shaping_follows_the_formula(tiny_model, tmp_path):
    """A zero reward plus the penalty with max_new_tokens 12, buffer 6, penalty 1: -(L - 6) / 6 for
    L in (6, 12], so every reward is a multiple of -1/6 in [-1, 0], and a completion cut at the limit gets -1."""
    data = write_jsonl(tmp_path / "prompts.jsonl", prompt_rows(16))
    run = tmp_path / "run"
    train_grpo(make_config(tiny_model, data, run, max_steps=2, eval_prompts=0, overlong_buffer=6,
                           reward="test_grpo_variants:constant"))
    rollouts = records(run, "rollouts.jsonl")
    assert all(-1.0 <= r["reward"] <= 0.0 and r["reward"] * 6 == pytest.approx(round(r["reward"] * 6), abs=1e-6)
               for r in rollouts)
    assert all(r["reward"] == pytest.approx(-1.0) for r in rollouts if r["finish_reason"] == "length")
    assert any(r["finish_reason"] == "length" for r in rollouts)
    for record in (r for r in records(run) if "train/reward_mean" in r):
        step = [r["reward"] for r in rollouts if r["step"] == record["step"]]
        assert record["train/reward/overlong_penalty"] == pytest.approx(sum(step) / len(step), abs=1e-6)


@pytest.mark.parametrize("policy_loss", ["gspo", "cispo"])
def test_other_policy_losses_run_and_move_off_policy(tiny_model, tmp_path, policy_loss):
    """Two passes per batch, so the second is off-policy: its ratios leave 1 and gspo's tiny range clips."""
    data = write_jsonl(tmp_path / "prompts.jsonl", prompt_rows(8))
    run = tmp_path / policy_loss
    summary = train_grpo(make_config(tiny_model, data, run, max_steps=2, eval_prompts=0, num_iterations=2,
                                     policy_loss=policy_loss, reward="test_grpo:digit_share"))
    train = [r for r in records(run) if "train/reward_mean" in r]
    assert summary["step"] == 2 and all(r["train/ratio_mean"] != 1.0 for r in train)
    if policy_loss == "gspo":
        assert any(r["train/clip_fraction"] > 0 for r in train)
