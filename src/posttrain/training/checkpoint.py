"""Checkpoints that are complete or absent, and exact resume.

A checkpoint is a directory ``checkpoints/step-000123`` holding the trainable weights, the
optimizer and scheduler states, the RNG states, the trainer state (step, epoch, data position)
and the resolved config. It is written under a temporary name and renamed into place at the
end, so a crash mid-write never leaves a directory that looks complete.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from posttrain.config import make_staging_dir, save_config, write_text_atomic
from posttrain.errors import UserError

PREFIX = "step-"
# Keys that may change between a run and its resumption without changing what is computed.
RESUME_MAY_CHANGE = {
    "progress", "tensorboard", "wandb_project", "num_threads", "save_every", "eval_every", "log_every",
    "keep_checkpoints", "resume", "save_format",
}


def trainable_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {name: p.detach().contiguous() for name, p in model.named_parameters() if p.requires_grad}


def save_checkpoint(run_dir: Path, step: int, model, optimizer, scheduler, trainer_state: dict, config, keep: int) -> Path:
    root = Path(run_dir) / "checkpoints"
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"{PREFIX}{step:06d}"
    staging = make_staging_dir(final)
    save_file(trainable_state(model), staging / "trainable.safetensors")
    torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()}, staging / "optimizer.pt")
    torch.save(
        {"torch": torch.get_rng_state(), "python": random.getstate()}, staging / "rng.pt"
    )
    (staging / "trainer_state.json").write_text(json.dumps(trainer_state, indent=1))
    save_config(config, staging / "config.yaml")
    if final.exists():  # a re-run of the same step: replace it
        shutil.rmtree(final)
    os.rename(staging, final)
    for old in list_checkpoints(run_dir)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def list_checkpoints(run_dir: Path) -> list[Path]:
    root = Path(run_dir) / "checkpoints"
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and p.name.startswith(PREFIX))


def load_checkpoint(path: Path, model, optimizer, scheduler) -> dict:
    """Restore everything saved by :func:`save_checkpoint`; returns the trainer state."""
    weights = load_file(Path(path) / "trainable.safetensors")
    missing = set(trainable_state(model)) - set(weights)
    if missing:
        raise RuntimeError(f"checkpoint {path} lacks {len(missing)} trainable tensors, e.g. {sorted(missing)[0]}")
    model.load_state_dict(weights, strict=False)
    states = torch.load(Path(path) / "optimizer.pt", weights_only=False)
    optimizer.load_state_dict(states["optimizer"])
    scheduler.load_state_dict(states["scheduler"])
    rng = torch.load(Path(path) / "rng.pt", weights_only=False)
    torch.set_rng_state(rng["torch"])
    random.setstate(rng["python"])
    return json.loads((Path(path) / "trainer_state.json").read_text())


def check_resumable(run_dir: Path, config) -> None:
    """Refuse to mix runs: resuming needs ``resume`` on and the same computation-relevant config."""
    if not config.resume:
        raise UserError(f"{run_dir} already holds checkpoints: resume it (drop --no-resume) or pick a new output_dir")
    saved_path = Path(run_dir) / "config.yaml"
    if not saved_path.exists():
        return
    import yaml

    saved = yaml.safe_load(saved_path.read_text()) or {}
    current = config.model_dump(mode="json")
    changed = [key for key in current if key not in RESUME_MAY_CHANGE and key in saved and saved[key] != current[key]]
    if changed:
        key = changed[0]
        raise UserError(
            f"{run_dir} holds a run with {key}={saved[key]!r}, now {current[key]!r}: "
            "resume it with the same settings or pick a new output_dir"
        )


def truncate_metrics(run_dir: Path, step: int, filename: str = "metrics.jsonl") -> None:
    """Drop records logged after the checkpoint we resume from: those steps run again."""
    path = Path(run_dir) / filename
    if not path.exists():
        return
    kept = [line for line in path.read_text().splitlines() if line.strip() and json.loads(line).get("step", 0) <= step]
    write_text_atomic(path, "".join(line + "\n" for line in kept))
