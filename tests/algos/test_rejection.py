import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import write_jsonl

from posttrain.algos.rejection import rejection_sample
from posttrain.algos.sft import train_sft
from posttrain.cli import cli
from posttrain.config import RejectionConfig, SFTConfig, load_config
from posttrain.data.formats import load_examples
from posttrain.errors import UserError


def shorter_is_better(prompt: str, completion: str, **_) -> float:
    """The test reward: the shorter the answer, the better."""
    return -len(completion) / 40.0


def fails_on_sevens(prompt: str, completion: str, **_) -> float:
    if "7" in prompt:
        raise ValueError("no sevens")
    return shorter_is_better(prompt, completion)


def prompt_rows(count: int) -> list[dict]:
    return [{"prompt": f"What is {i + 1} + {2 * i + 3}?", "answer": str(3 * i + 4)} for i in range(count)]


def make_config(tiny_model, tmp_path, name="out", **overrides) -> RejectionConfig:
    data = tmp_path / "prompts.jsonl"
    if not data.exists():
        write_jsonl(data, prompt_rows(8))
    values = {"model": tiny_model, "data": str(data), "output": str(tmp_path / name / "sft.jsonl"), "n": 4,
              "max_new_tokens": 8, "temperature": 1.0, "reward": "test_rejection:shorter_is_better",
              "keep_truncated": True, "batch_size": 16, "progress": False}
    return load_config(RejectionConfig, None, {**values, **overrides})


def read_jsonl(path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def expected_best(samples: list[dict], keep: int = 1) -> dict[int, list[dict]]:
    """The selection rule written out: non-blank, best score, then shorter, then earlier sample."""
    best: dict[int, list[dict]] = {}
    for sample in sorted(samples, key=lambda s: (-s["score"], len(s["completion"]), s["sample_index"])):
        chosen = best.setdefault(sample["prompt_index"], [])
        if sample["completion"].strip() and not sample["reward_failed"] and len(chosen) < keep:
            chosen.append(sample)
    return {prompt_index: chosen for prompt_index, chosen in best.items() if chosen}


def test_keeps_the_best_of_n_and_beats_the_mean(tiny_model, tmp_path):
    config = make_config(tiny_model, tmp_path)
    stats = rejection_sample(config)
    rows, samples = read_jsonl(config.output), read_jsonl(tmp_path / "out" / "sft.samples.jsonl")
    assert stats["prompts"] == 8 and stats["samples"] == len(samples) == 32
    best = expected_best(samples)
    assert len(rows) == stats["kept"] == len(best)
    for row in rows:
        chosen = best[row["prompt_index"]][0]
        assert row["sample_index"] == chosen["sample_index"] and row["round"] == 1
        assert row["messages"] == [{"role": "user", "content": prompt_rows(8)[row["prompt_index"]]["prompt"]},
                                   {"role": "assistant", "content": chosen["completion"]}]
        assert row["score"] == pytest.approx(shorter_is_better("", chosen["completion"]))
    assert [row["prompt_index"] for row in rows] == sorted(best)
    assert stats["mean_best_score"] == pytest.approx(sum(r["score"] for r in rows) / len(rows))
    assert stats["mean_score"] == pytest.approx(sum(s["score"] for s in samples) / 32)
    assert stats["mean_best_score"] > stats["mean_score"] + 0.05
    assert stats["score_quantiles"]["max"] == pytest.approx(max(s["score"] for s in samples))
    assert stats["score_quantiles"]["min"] == pytest.approx(min(s["score"] for s in samples))
    assert sum(s["kept"] for s in samples) == len(rows)
    on_disk = json.loads((tmp_path / "out" / "sft.stats.json").read_text())
    assert on_disk["kept"] == len(rows) and on_disk["config"]["n"] == 4


def test_threshold_rejects_prompts_whose_best_is_too_low(tiny_model, tmp_path):
    unfiltered = read_jsonl(rejection_sample(make_config(tiny_model, tmp_path, "all"))["output"])
    best_scores = sorted(row["score"] for row in unfiltered)
    threshold = best_scores[len(best_scores) // 2]
    passing = {row["prompt_index"] for row in unfiltered if row["score"] >= threshold}
    assert 0 < len(passing) < len(unfiltered)  # the cut is meaningful
    stats = rejection_sample(make_config(tiny_model, tmp_path, "cut", threshold=threshold))
    assert {row["prompt_index"] for row in read_jsonl(stats["output"])} == passing
    assert stats["prompts_below_threshold"] == len(unfiltered) - len(passing)
    assert stats["prompts_kept"] == len(passing)


def test_keep_several_and_dedupe(tiny_model, tmp_path):
    config = make_config(tiny_model, tmp_path, "top2", keep=2)
    rows, samples = read_jsonl(rejection_sample(config)["output"]), read_jsonl(tmp_path / "top2" / "sft.samples.jsonl")
    best = expected_best(samples, keep=2)
    assert [(r["prompt_index"], r["sample_index"]) for r in rows] == [
        (p, s["sample_index"]) for p in sorted(best) for s in best[p]]

    # Greedy sampling gives n identical answers: dedupe keeps one, without it all n (earliest sample first).
    greedy = {"temperature": 0.0, "n": 3, "keep": 3}
    deduped = rejection_sample(make_config(tiny_model, tmp_path, "dedupe", **greedy))
    repeated = rejection_sample(make_config(tiny_model, tmp_path, "repeat", dedupe=False, **greedy))
    once, thrice = read_jsonl(deduped["output"]), read_jsonl(repeated["output"])
    assert len(once) == 8 and deduped["duplicate_answers"] == 16
    assert len(thrice) == 24 and [r["sample_index"] for r in thrice[:3]] == [0, 1, 2]
    assert [r["messages"] for r in thrice[::3]] == [r["messages"] for r in once]


def test_truncated_answers_and_reward_failures_are_counted(tiny_model, tmp_path):
    stats = rejection_sample(make_config(tiny_model, tmp_path, max_new_tokens=32, keep_truncated=False,
                                         reward="test_rejection:fails_on_sevens"))
    samples = read_jsonl(stats["samples_file"])
    cut_off = [s for s in samples if s["truncated"] and s["completion"].strip() and not s["reward_failed"]]
    assert stats["truncated_answers_dropped"] == len(cut_off) > 0
    # The random model rarely ends an answer by itself: only those few complete answers are kept.
    best = expected_best([s for s in samples if not s["truncated"]])
    rows = read_jsonl(stats["output"])
    assert len(best) > 0 and [(r["prompt_index"], r["sample_index"]) for r in rows] == [
        (p, chosen[0]["sample_index"]) for p, chosen in sorted(best.items())]
    sevens = [s for s in samples if "7" in s["prompt"]]  # "3 + 7", "7 + 15", "8 + 17": 3 prompts x 4 samples
    assert stats["reward_failures"] == len(sevens) == 12
    assert all(s["reward_failed"] and s["score"] == 0.0 and not s["kept"] for s in sevens)
    scored = [s["score"] for s in samples if not s["reward_failed"]]
    assert stats["mean_score"] == pytest.approx(sum(scored) / len(scored))  # failures are no scores


def test_same_seed_same_output_and_rounds_differ(tiny_model, tmp_path):
    first = rejection_sample(make_config(tiny_model, tmp_path, "a"))
    again = rejection_sample(make_config(tiny_model, tmp_path, "b"))
    other_round = rejection_sample(make_config(tiny_model, tmp_path, "c", round=2))
    assert Path(first["output"]).read_text() == Path(again["output"]).read_text()
    assert Path(first["samples_file"]).read_text() == Path(again["samples_file"]).read_text()
    texts = [[s["completion"] for s in read_jsonl(run["samples_file"])] for run in (first, other_round)]
    assert texts[0] != texts[1]


def test_output_trains_with_sft_and_a_second_round_runs(tiny_model, tmp_path):
    stats = rejection_sample(make_config(tiny_model, tmp_path, "round1"))
    conversations = load_examples(stats["output"], "sft").examples
    assert len(conversations) == stats["kept"] and conversations[0].messages[-1]["role"] == "assistant"
    summary = train_sft(load_config(SFTConfig, None, {
        "model": tiny_model, "data": stats["output"], "output_dir": str(tmp_path / "sft"), "max_steps": 1,
        "batch_size": 4, "finetune": "full", "eval_fraction": 0.0, "max_length": 64, "progress": False,
        "tensorboard": False}))
    assert summary["step"] == 1 and summary["train_rows"] == stats["kept"]
    # Round 2 through the command line, sampling from the SFT'd model.
    output = tmp_path / "round2" / "sft.jsonl"
    result = CliRunner().invoke(cli, [
        "rejection-sample", "--model", str(tmp_path / "sft" / "final"), "--data", str(tmp_path / "prompts.jsonl"),
        "--output", str(output), "--round", "2", "--n", "2", "--max-new-tokens", "6", "--keep-truncated",
        "--reward", "test_rejection:shorter_is_better", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "Round 2: kept" in result.output
    rows = read_jsonl(output)
    assert len(rows) == 8 and {row["round"] for row in rows} == {2}


def test_bad_input_is_a_one_line_error(tiny_model, tmp_path):
    with pytest.raises(UserError, match="no reward: set `reward`"):
        rejection_sample(make_config(tiny_model, tmp_path, reward=None))
    with pytest.raises(UserError, match="unknown reward 'shortest'"):
        rejection_sample(make_config(tiny_model, tmp_path, reward="shortest"))
    with pytest.raises(UserError, match="no prompts"):
        rejection_sample(make_config(tiny_model, tmp_path, data=None))
    with pytest.raises(UserError, match="n: Input should be greater than or equal to 1"):
        make_config(tiny_model, tmp_path, n=0)
    assert not (tmp_path / "out").exists()  # nothing written
