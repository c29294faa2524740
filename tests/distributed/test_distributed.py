"""Two processes (torchrun, gloo, CPU) compute what one process does, and checkpoints reshard.

One torchrun launch runs every two-process job back to back (starting Python, torch and
transformers twice costs more than the training), against one-process runs done in this process
on the same global batches:

- SFT (FSDP, LoRA): the same loss at every step, the same consolidated final weights;
- DPO (DDP, full fine-tuning, each rank takes half of each batch of pairs): the same losses;
- GRPO (FSDP, LoRA; REINFORCE++ advantages whitened over the whole batch, two passes with a KL
  term): each rank samples one of the step's two generation batches, yet the rollouts and the
  first step's loss, KL and gradient norm are those of one process;
- resharding: a two-process checkpoint resumes in one process, and a one-process checkpoint in
  two, and both continue the loss curve of the uninterrupted run.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from helpers import arithmetic_rows, write_jsonl
from safetensors.torch import load_file

from posttrain.training.checkpoint import list_checkpoints

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
from launch import run

TOLERANCE = 1e-4  # float32 sums in another order; a wrong normaliser would be off by ~2x


def short_answer(prompt: str, completion: str, **_) -> float:
    """A reward with spread on a random model: shorter completions score higher."""
    return -len(completion) / 40.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def metric(run_dir: Path, key: str = "train/loss") -> dict[int, float]:
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]
    return {row["step"]: row[key] for row in rows if key in row}


def rollouts(run_dir: Path) -> list[tuple]:
    rows = [json.loads(line) for line in (run_dir / "rollouts.jsonl").read_text().splitlines() if line.strip()]
    return sorted((row["step"], row["prompt"], row["completion"], round(row["advantage"], 5)) for row in rows)


def cut_back_to(run_dir: Path, step: int) -> None:
    """Leave ``run_dir`` as if the run had stopped right after checkpoint ``step``."""
    for checkpoint in list_checkpoints(run_dir):
        if int(checkpoint.name.split("-")[1]) > step:
            shutil.rmtree(checkpoint)
    shutil.rmtree(run_dir / "final")
    (run_dir / "config.yaml").unlink()  # it names the directory the run was copied from


@pytest.fixture(scope="module")
def runs(tiny_model, tmp_path_factory):
    root = tmp_path_factory.mktemp("distributed")
    sft_data = write_jsonl(root / "sft.jsonl", arithmetic_rows(24))
    pairs = [{"prompt": f"What is {a} + {a + 3}?", "chosen": f"{a} + {a + 3} = {2 * a + 3}.",
              "rejected": f"I think it is {a * 7 % 50}, maybe."} for a in range(1, 17)]
    dpo_data = write_jsonl(root / "pairs.jsonl", pairs)
    prompts = write_jsonl(root / "prompts.jsonl", [{"prompt": f"What is {i} + {i + 2}?"} for i in range(1, 9)])
    common = {"model": tiny_model, "progress": False, "tensorboard": False, "warmup_ratio": 0.0, "max_length": 64}
    sft = dict(common, data=sft_data, batch_size=8, max_steps=4, save_every=2, micro_batch_tokens=96, lr=1e-2,
               eval_fraction=0.0)
    dpo = dict(common, data=dpo_data, batch_size=6, max_steps=2, finetune="full", distributed_strategy="ddp",
               lr=1e-3, eval_fraction=0.0, reference_cache=False)
    grpo = dict(common, data=prompts, batch_size=4, num_generations=4, rollout_batch_size=8, max_new_tokens=8,
                max_steps=1, lr=3e-2, eval_fraction=0.0, eval_before=False, eval_prompts=0,
                reward="test_distributed:short_answer", advantage="reinforce_pp", num_iterations=2, kl_coef=0.05)
    sft_bf16 = dict(sft, finetune="full", dtype="bfloat16", save_every=0)
    dirs = {name: root / name for name in ("sft1", "sft2", "dpo1", "dpo2", "grpo1", "grpo2", "sft1to2", "sft2to1",
                                           "bf16sft1", "bf16sft2")}

    # One process, in this process.
    run("sft", dict(sft, output_dir=str(dirs["sft1"])))
    run("dpo", dict(dpo, output_dir=str(dirs["dpo1"])))
    run("grpo", dict(grpo, output_dir=str(dirs["grpo1"])))
    run("sft", dict(sft_bf16, output_dir=str(dirs["bf16sft1"])))
    shutil.copytree(dirs["sft1"], dirs["sft1to2"])
    cut_back_to(dirs["sft1to2"], 2)

    # Two processes, one launch.
    jobs = [("sft", sft, "sft2"), ("dpo", dpo, "dpo2"), ("grpo", grpo, "grpo2"), ("sft", sft, "sft1to2"),
            ("sft", sft_bf16, "bf16sft2")]
    spec = root / "jobs.json"
    spec.write_text(json.dumps([{"algo": algo, "config": dict(values, output_dir=str(dirs[name]))}
                                      for algo, values, name in jobs]))
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=os.pathsep.join(
        [str(HERE), str(HERE.parent), os.environ.get("PYTHONPATH", "")]))
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                           "--master-port", str(free_port()), str(HERE / "launch.py"), str(spec)],
                          env=env, capture_output=True, text=True, timeout=600, check=False)
    (root / "launch.log").write_text(done.stdout + done.stderr)
    assert done.returncode == 0, done.stderr[-4000:]

    # Back to one process: resume the two-process run from its step-2 checkpoint.
    shutil.copytree(dirs["sft2"], dirs["sft2to1"])
    cut_back_to(dirs["sft2to1"], 2)
    run("sft", dict(sft, output_dir=str(dirs["sft2to1"])))
    return dirs


def test_sft_two_processes_match_one(runs):
    one, two = metric(runs["sft1"]), metric(runs["sft2"])
    assert sorted(two) == [1, 2, 3, 4]
    assert two == pytest.approx(one, abs=TOLERANCE)
    assert metric(runs["sft2"], "train/loss_tokens") == metric(runs["sft1"], "train/loss_tokens")
    # The final model of the FSDP run is consolidated into one Hugging Face directory, equal to one process's.
    final_one = load_file(runs["sft1"] / "final" / "model.safetensors")
    final_two = load_file(runs["sft2"] / "final" / "model.safetensors")
    assert final_one.keys() == final_two.keys()
    for name, tensor in final_one.items():
        torch.testing.assert_close(final_two[name], tensor, atol=1e-5, rtol=1e-4)


def test_bf16_full_sft_under_fsdp_matches_one_process(runs):
    """FSDP2 with bf16 parameters gathered and float32 gradients reduced (MixedPrecisionPolicy) against
    one process under bf16 autocast: the same losses within bf16 rounding, a bf16 final model."""
    one, two = metric(runs["bf16sft1"]), metric(runs["bf16sft2"])
    assert sorted(two) == sorted(one) == [1, 2, 3, 4]
    for step in one:
        assert two[step] == pytest.approx(one[step], rel=2e-2), step
    config = json.loads((runs["bf16sft2"] / "final" / "config.json").read_text())
    assert config["dtype"] == "bfloat16"


def test_dpo_two_processes_match_one(runs):
    one, two = metric(runs["dpo1"]), metric(runs["dpo2"])
    assert sorted(two) == [1, 2]
    assert two == pytest.approx(one, abs=TOLERANCE)
    assert one[1] == pytest.approx(0.6931, abs=1e-3)  # step 1: policy == reference, loss = log 2
    assert metric(runs["dpo2"], "train/accuracy") == pytest.approx(metric(runs["dpo1"], "train/accuracy"))


def test_grpo_two_processes_sample_and_learn_like_one(runs):
    assert rollouts(runs["grpo2"]) == rollouts(runs["grpo1"])  # 4 prompts x 4 samples, sampled on two ranks
    assert len(rollouts(runs["grpo2"])) == 16
    # The second pass over the batch starts from the policy after the first pass's update, so its
    # loss and KL to the reference (LoRA adapters off) are away from 0 and depend on that update.
    for key in ("train/loss", "train/kl", "train/grad_norm"):
        one, two = metric(runs["grpo1"], key), metric(runs["grpo2"], key)
        assert abs(one[1]) > 1e-3, key
        assert two[1] == pytest.approx(one[1], abs=TOLERANCE, rel=1e-3), key
    assert metric(runs["grpo2"], "train/reward_mean") == pytest.approx(metric(runs["grpo1"], "train/reward_mean"))


def test_checkpoints_reshard_between_one_and_two_processes(runs):
    straight = metric(runs["sft1"])
    # Two processes write torch.distributed.checkpoint shards; one process the whole-tensor files.
    assert (list_checkpoints(runs["sft2"])[0] / "sharded" / ".metadata").exists()
    assert (list_checkpoints(runs["sft1"])[0] / "trainable.safetensors").exists()
    for resumed in ("sft2to1", "sft1to2"):
        losses = metric(runs[resumed])
        assert sorted(losses) == [1, 2, 3, 4], resumed
        assert [losses[3], losses[4]] == pytest.approx([straight[3], straight[4]], abs=TOLERANCE), resumed
