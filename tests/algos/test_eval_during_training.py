"""Capability suites during training: every eval_every steps on a subset, metrics in the same log."""

import json

import pytest
from helpers import write_jsonl

from posttrain.algos.dpo import train_dpo
from posttrain.algos.sft import train_sft
from posttrain.config import DPOConfig, RMConfig, SFTConfig, load_config
from posttrain.errors import UserError

FAST = dict(progress=False, tensorboard=False, max_length=96, warmup_ratio=0.0, batch_size=4)


def rows(count: int) -> list[dict]:
    return [{"messages": [{"role": "user", "content": f"What is {i} + 1?"},
                          {"role": "assistant", "content": f"{i} + 1 = {i + 1}."}]} for i in range(count)]


def logged(run) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_sft_logs_suite_metrics_every_n_steps_and_at_the_end(tiny_model, tmp_path):
    data = write_jsonl(tmp_path / "sft.jsonl", rows(16))
    run = tmp_path / "run"
    config = load_config(SFTConfig, None, dict(model=tiny_model, data=data, output_dir=str(run), max_steps=3,
                                               eval_every=2, eval_suites=["math", "safety"], eval_suite_limit=2, **FAST))
    summary = train_sft(config)
    with_suites = [row for row in logged(run) if "eval/math.accuracy" in row]
    assert [row["step"] for row in with_suites] == [2, 3]  # step 2 (eval_every) and the final evaluation
    for row in with_suites:
        assert 0.0 <= row["eval/math.accuracy"] <= 1.0 and "eval/safety.over_refusal" in row and "eval/loss" in row
    assert "eval/math.accuracy" in summary and summary["eval_loss"] == with_suites[-1]["eval/loss"]


def test_dpo_runs_suites_too_and_wrong_suite_names_fail_before_training(tiny_model, tmp_path):
    data = write_jsonl(tmp_path / "pairs.jsonl", [{"prompt": f"Say {i}.", "chosen": f"{i}.", "rejected": "No."}
                                                  for i in range(8)])
    run = tmp_path / "dpo"
    values = dict(model=tiny_model, data=data, output_dir=str(run), max_steps=1, eval_suites=["style"],
                  eval_suite_limit=2, reference_cache=False, **FAST)
    summary = train_dpo(load_config(DPOConfig, None, values))
    assert "eval/style.median_words" in summary
    with pytest.raises(UserError, match="mathh"):
        train_dpo(load_config(DPOConfig, None, {**values, "eval_suites": ["mathh"], "output_dir": str(tmp_path / "x")}))
    assert not (tmp_path / "x" / "checkpoints").exists()
    with pytest.raises(UserError, match="does not apply to rm"):
        load_config(RMConfig, None, {"eval_suites": ["math"]})
