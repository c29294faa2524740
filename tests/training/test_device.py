"""Device placement: the ``device`` option, moving batches, and CPU runs unchanged by it.

There is no GPU here: CUDA is simulated by patching ``torch.cuda.is_available`` and
``torch.cuda.device_count`` (``torch.device("cuda", 1)`` itself needs no GPU), and the ``meta``
device stands in for "somewhere other than the CPU" where tensors must actually move.
"""

from __future__ import annotations

import json
import shutil
from collections import namedtuple
from pathlib import Path

import pytest
import torch
from helpers import write_jsonl
from safetensors.torch import load_file

from posttrain.algos.dpo import train_dpo
from posttrain.algos.rejection import rejection_sample
from posttrain.algos.sft import train_sft
from posttrain.config import DPOConfig, RejectionConfig, SFTConfig, load_config
from posttrain.data.batching import MicroBatch
from posttrain.errors import UserError
from posttrain.losses.policy import token_weights
from posttrain.training.checkpoint import list_checkpoints
from posttrain.training.device import (
    local_rank,
    model_device,
    resolve_device,
    to_device,
)


@pytest.fixture
def gpu_machine(monkeypatch):
    """A machine with two CUDA devices, as far as resolve_device can tell."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)


@pytest.fixture
def cpu_machine(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)


# -- resolve_device ----------------------------------------------------------------------------


def test_auto_is_cpu_without_cuda(cpu_machine):
    assert resolve_device("auto", None) == torch.device("cpu")
    assert resolve_device("auto", 3) == torch.device("cpu")  # torchrun on a CPU box: every rank on CPU


def test_auto_under_torchrun_takes_the_local_rank_gpu(gpu_machine, monkeypatch):
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert local_rank() == 1
    assert resolve_device("auto", local_rank()) == torch.device("cuda", 1)
    assert resolve_device("cuda", local_rank()) == torch.device("cuda", 1)


def test_auto_in_one_process_is_cuda(gpu_machine, monkeypatch):
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    assert local_rank() is None
    assert resolve_device("auto", local_rank()) == torch.device("cuda")
    assert resolve_device("cuda", None) == torch.device("cuda")


def test_explicit_values(gpu_machine):
    assert resolve_device("cpu", 1) == torch.device("cpu")  # cpu even when a GPU is there
    assert resolve_device("cuda:0", 1) == torch.device("cuda", 0)  # an explicit index beats LOCAL_RANK
    assert resolve_device(" CUDA:1 ", None) == torch.device("cuda", 1)


def test_gpu_index_beyond_the_visible_devices(gpu_machine):
    with pytest.raises(UserError, match=r"needs GPU 5 \(cuda:5\) but only 2 CUDA device\(s\) are visible"):
        resolve_device("cuda:5", None)
    with pytest.raises(UserError, match=r"needs GPU 2 \(LOCAL_RANK 2\) but only 2"):
        resolve_device("auto", 2)  # three processes per node on a two-GPU machine


def test_unavailable_cuda_is_a_user_error(cpu_machine):
    with pytest.raises(UserError) as error:
        resolve_device("cuda", None)
    assert str(error.value) == "device 'cuda' requested but torch.cuda.is_available() is False"
    with pytest.raises(UserError, match=r"device 'cuda:1' requested but torch.cuda.is_available\(\) is False"):
        resolve_device("cuda:1", 1)


def test_mps(cpu_machine, monkeypatch):
    with pytest.raises(UserError, match=r"device 'mps' requested but torch.backends.mps.is_available\(\) is False"):
        resolve_device("mps", None)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert resolve_device("mps", None) == torch.device("mps")
    assert resolve_device("auto", None) == torch.device("cpu")  # never chosen automatically


@pytest.mark.parametrize("spec", ["bogus", "gpu", "cuda:", "cuda:x", "cuda:-1", "cpu:0", ""])
def test_unknown_values_are_user_errors(gpu_machine, spec):
    with pytest.raises(UserError, match=f"unknown device '{spec}': use auto, cpu, cuda, cuda:N or mps"):
        resolve_device(spec, None)


# -- to_device and model_device ----------------------------------------------------------------

Pair = namedtuple("Pair", "left right")


def test_to_device_moves_every_tensor_of_a_nested_batch():
    batch = MicroBatch(torch.tensor([[1, 2]]), torch.tensor([[2, 0]]), torch.tensor([[True, False]]), 1, 2)
    value = {"batch": batch, "ref": [torch.zeros(2), (torch.ones(1), "label", 3)],
             "pair": Pair(torch.arange(3), None), "note": "text"}
    moved = to_device(value, "meta")
    assert moved["batch"].input_ids.device.type == "meta" and moved["batch"].input_ids.shape == (1, 2)
    assert moved["batch"].targets.device.type == "meta" and moved["batch"].target_mask.dtype == torch.bool
    assert (moved["batch"].num_loss_tokens, moved["batch"].num_tokens) == (1, 2)
    assert isinstance(moved["ref"], list) and moved["ref"][0].device.type == "meta"
    assert isinstance(moved["ref"][1], tuple) and moved["ref"][1][0].device.type == "meta"
    assert moved["ref"][1][1:] == ("label", 3)
    assert isinstance(moved["pair"], Pair) and moved["pair"].left.device.type == "meta" and moved["pair"].right is None
    assert moved["note"] == "text"
    assert batch.input_ids.device.type == "cpu"  # the input is left as it was


def test_to_device_does_not_copy_what_is_already_there():
    """On the CPU (today's runs) the helper hands back the very same tensors: nothing is copied."""
    batch = MicroBatch(torch.tensor([[5, 6, 7]]), torch.tensor([[6, 7, 0]]), torch.tensor([[True, True, False]]), 2, 3)
    same = to_device(batch, torch.device("cpu"))
    assert same.input_ids is batch.input_ids and same.targets is batch.targets
    assert same.target_mask is batch.target_mask
    tensor = torch.ones(2)
    assert to_device(tensor, "cpu") is tensor


def test_model_device_follows_the_model():
    model = torch.nn.Sequential(torch.nn.Linear(2, 2))
    assert model_device(model) == torch.device("cpu")
    assert model_device(model.to("meta")).type == "meta"


@pytest.mark.parametrize("aggregation", ["sequence_mean", "token_mean", "constant"])
def test_token_weights_are_built_where_the_tokens_are(aggregation):
    """Weights meet the policy's log-probs, so they follow the token index's device.
    On the CPU: two sequences of 2 and 1 tokens, batch of 2 sequences, 3 tokens, max_new_tokens 4."""
    index, lengths = torch.tensor([0, 0, 1]), torch.tensor([2, 1])
    weights = token_weights(index, lengths, aggregation, total_sequences=2, total_tokens=3, max_new_tokens=4)
    expected = {"sequence_mean": [1 / 4, 1 / 4, 1 / 2], "token_mean": [1 / 3] * 3, "constant": [1 / 8] * 3}
    assert weights.tolist() == pytest.approx(expected[aggregation])
    on_meta = token_weights(index.to("meta"), lengths.to("meta"), aggregation, total_sequences=2, total_tokens=3,
                            max_new_tokens=4)
    assert on_meta.device.type == "meta" and on_meta.shape == (3,)


# -- the option in configs, on the command line and at the start of a run ------------------------


def test_device_is_an_option_of_every_trainer_and_of_rejection_sampling():
    from click.testing import CliRunner

    from posttrain.cli import cli

    for command in ("sft", "dpo", "rm", "grpo", "ppo", "rejection-sample"):
        result = CliRunner().invoke(cli, [command, "--help"])
        assert "--device TEXT" in result.output, command
    assert load_config(SFTConfig, None, {"device": "cuda:1"}).device == "cuda:1"
    assert RejectionConfig().device == "auto"


def test_a_bad_device_stops_a_run_before_any_work(tmp_path, monkeypatch):
    from posttrain import cli as cli_module

    monkeypatch.setattr(cli_module, "_quiet_libraries", lambda: None)  # keep library logging as other tests expect
    cli = cli_module.cli
    with pytest.raises(UserError, match="unknown device 'tpu'"):
        cli.main(["sft", "--device", "tpu", "--output-dir", str(tmp_path / "run")], standalone_mode=False)
    assert not (tmp_path / "run").exists()
    with pytest.raises(UserError, match="unknown device 'tpu'"):
        rejection_sample(RejectionConfig(device="tpu", output=str(tmp_path / "out.jsonl")))


# -- real runs on the CPU: an explicit device="cpu" changes nothing -----------------------------


def train_losses(run_dir: Path) -> dict[int, float]:
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return {row["step"]: row["train/loss"] for row in rows if "train/loss" in row}


def sft_config(tiny_model, data, out, **overrides) -> SFTConfig:
    values = {"model": tiny_model, "data": data, "output_dir": str(out), "batch_size": 8, "lr": 1e-2,
              "max_length": 128, "progress": False, "tensorboard": False, "eval_fraction": 0.1, "warmup_ratio": 0.0,
              "max_steps": 3, "finetune": "full", "save_format": "merged"}
    return load_config(SFTConfig, None, {**values, **overrides})


def test_sft_on_cpu_equals_the_default_run(tiny_model, sft_data, tmp_path):
    default = train_sft(sft_config(tiny_model, sft_data, tmp_path / "auto"))
    explicit = train_sft(sft_config(tiny_model, sft_data, tmp_path / "cpu", device="cpu"))
    assert train_losses(tmp_path / "cpu") == train_losses(tmp_path / "auto")  # bit for bit
    assert explicit["eval_loss"] == default["eval_loss"] and explicit["step"] == 3
    weights_auto = load_file(tmp_path / "auto" / "final" / "model.safetensors")
    weights_cpu = load_file(tmp_path / "cpu" / "final" / "model.safetensors")
    assert weights_cpu.keys() == weights_auto.keys()
    assert all(torch.equal(weights_cpu[name], weights_auto[name]) for name in weights_auto)
    assert "device: cpu" in (tmp_path / "cpu" / "config.yaml").read_text().splitlines()


def test_a_run_resumes_under_another_device_value(tiny_model, sft_data, tmp_path):
    """``device`` does not change what is computed, so a run may resume with a different value
    (checkpoints load onto the CPU first, then onto the parameters' device)."""
    config = sft_config(tiny_model, sft_data, tmp_path / "run", save_every=2, keep_checkpoints=5)
    straight = train_sft(config)
    straight_losses = train_losses(tmp_path / "run")
    for checkpoint in list_checkpoints(tmp_path / "run"):
        if checkpoint.name != "step-000002":  # as if stopped during step 3
            shutil.rmtree(checkpoint)
    shutil.rmtree(tmp_path / "run" / "final")
    resumed = train_sft(config.model_copy(update={"device": "cpu"}))
    assert resumed["step"] == 3
    assert train_losses(tmp_path / "run")[3] == pytest.approx(straight_losses[3], rel=1e-6)
    assert resumed["eval_loss"] == pytest.approx(straight["eval_loss"], rel=1e-6)


def test_dpo_on_cpu_equals_the_default_run(tiny_model, tmp_path):
    rows = [{"prompt": f"What is {i % 9 + 1} + 1?", "chosen": f"It is {i % 9 + 2}.", "rejected": "No idea, sorry."}
            for i in range(12)]
    data = write_jsonl(tmp_path / "pairs.jsonl", rows)
    values = {"model": tiny_model, "data": data, "batch_size": 4, "lr": 5e-2, "max_length": 96, "progress": False,
              "tensorboard": False, "eval_fraction": 0.25, "warmup_ratio": 0.0, "reference_cache": False,
              "max_steps": 2}
    default = train_dpo(load_config(DPOConfig, None, {**values, "output_dir": str(tmp_path / "auto")}))
    explicit = train_dpo(load_config(DPOConfig, None, {**values, "output_dir": str(tmp_path / "cpu"), "device": "cpu"}))
    losses = train_losses(tmp_path / "cpu")
    assert losses == train_losses(tmp_path / "auto")
    assert losses[1] == pytest.approx(0.693147, abs=1e-5)  # policy == reference at step 1: -log sigmoid(0)
    assert {k: v for k, v in explicit.items() if k.startswith("eval/")} == \
        {k: v for k, v in default.items() if k.startswith("eval/")}
