"""The `posttrain` command as a user runs it: one-line errors, exit codes, round trips."""

import json
import subprocess
import sys

import pytest
import yaml


def run_cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "posttrain.cli", *args], capture_output=True, text=True, cwd=cwd, timeout=600)


def assert_one_line_error(result, pattern):
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    assert any(pattern in line for line in lines), result.stderr


def test_unknown_yaml_key_names_the_closest_valid_key(tmp_path):
    config = tmp_path / "recipe.yaml"
    config.write_text(yaml.safe_dump({"learning_rate": 1e-4, "data": "x.jsonl"}))
    result = run_cli("sft", str(config))
    assert_one_line_error(result, "unknown key 'learning_rate' (did you mean 'lr'?)")


def test_typo_in_option_suggests_the_option():
    result = run_cli("sft", "--lrr", "1e-4")
    assert result.returncode == 2 and "--lr" in result.stderr and "Traceback" not in result.stderr


def test_trl_option_name_suggests_ours():
    result = run_cli("sft", "--learning-rate", "1e-4")
    assert result.returncode == 2 and "Did you mean '--lr'?" in result.stderr and "Traceback" not in result.stderr


def test_wrong_type_names_the_key(tmp_path):
    config = tmp_path / "recipe.yaml"
    config.write_text("batch_size: many\n")
    assert_one_line_error(run_cli("sft", str(config)), "batch_size")


def test_missing_config_and_data_files(tmp_path):
    assert_one_line_error(run_cli("sft", str(tmp_path / "nope.yaml")), "config file not found")
    assert_one_line_error(run_cli("sft", "--data", str(tmp_path / "nope.jsonl")), "data file not found")


def test_bad_row_error_names_file_line_field(tiny_model, tmp_path):
    data = tmp_path / "train.jsonl"
    data.write_text('{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}\n{not json\n')
    result = run_cli("sft", "--model", tiny_model, "--data", str(data), "--output-dir", str(tmp_path / "run"))
    assert_one_line_error(result, "train.jsonl:2: invalid JSON")


def test_unknown_model_is_one_line_error(tmp_path):
    result = run_cli("generate", "no-such-model", "--prompt", "hi")
    assert_one_line_error(result, "unknown model 'no-such-model'")


@pytest.mark.parametrize("command", [["generate", "runs/nope", "--prompt", "hi"], ["serve", "runs/nope"],
                                     ["eval", "./nope", "--suite", "math"]])
def test_mistyped_local_path_is_one_line_error_not_a_hub_call(command, tmp_path):
    """A path-looking spec is never sent to the hub (which retried for ~48 s, then printed a traceback)."""
    result = run_cli(*command, cwd=tmp_path)
    assert_one_line_error(result, "model directory not found")


def test_sft_then_generate_round_trip(tiny_model, sft_data, tmp_path):
    """CLI overrides beat the YAML file; the trained model generates through the CLI."""
    config = tmp_path / "recipe.yaml"
    config.write_text(yaml.safe_dump({"model": tiny_model, "data": sft_data, "max_steps": 50, "lr": 1e-3}))
    out = tmp_path / "run"
    result = run_cli("sft", str(config), "--max-steps", "2", "--output-dir", str(out), "--no-progress", "--no-tensorboard")
    assert result.returncode == 0, result.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["step"] == 2
    saved = yaml.safe_load((out / "config.yaml").read_text())
    assert saved["max_steps"] == 2 and saved["lr"] == 1e-3 and saved["model"] == tiny_model
    generated = run_cli("generate", str(out / "final"), "--prompt", "What is 2 + 2?", "--max-tokens", "5", "-n", "2", "--temperature", "1", "--json")
    assert generated.returncode == 0, generated.stderr
    rows = [json.loads(line) for line in generated.stdout.splitlines()]
    assert [(r["prompt_index"], r["sample_index"]) for r in rows] == [(0, 0), (0, 1)]
    assert all(r["tokens"] <= 5 for r in rows)


def test_models_lists_the_embedded_default():
    result = run_cli("models")
    assert result.returncode == 0 and "smollm2-135m" in result.stdout


@pytest.mark.parametrize("command", ["sft", "generate", "models"])
def test_every_command_has_help(command):
    result = run_cli(command, "--help")
    assert result.returncode == 0 and "Usage" in result.stdout
