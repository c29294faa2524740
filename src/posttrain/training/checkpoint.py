"""Checkpoints that are complete or absent, and exact resume.

A checkpoint is a directory ``checkpoints/step-000123`` holding the trainable weights, the
optimizer and scheduler states, the RNG states, the trainer state (step, epoch, data position)
and the resolved config. It is written under a temporary name and renamed into place at the
end, so a crash mid-write never leaves a directory that looks complete.

Two layouts hold the weights and optimizer state, and either resumes under any number of ranks:

- one process writes ``trainable.safetensors`` and ``optimizer.pt`` (whole tensors);
- a distributed run writes ``sharded/`` through ``torch.distributed.checkpoint``: each rank
  writes its shards, keyed by parameter name, and a load reshards them to the world size of the
  resuming run. The scheduler goes to ``scheduler.pt``; rank 0 writes every file but the shards.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from posttrain.config import make_staging_dir, save_config, write_text_atomic
from posttrain.errors import UserError
from posttrain.training import distributed

PREFIX = "step-"
# Keys that may change between a run and its resumption without changing what is computed.
RESUME_MAY_CHANGE = {
    "progress", "report_to", "project", "tensorboard", "wandb_project", "num_threads", "save_every", "eval_every",
    "log_every", "keep_checkpoints", "resume", "save_format", "distributed_strategy", "device",
}
# A run may be extended (or cut short) by asking for more or fewer steps: it continues from its last
# checkpoint, and the learning-rate schedule is recomputed for the new total.
RESUME_MAY_EXTEND = {"max_steps", "epochs"}
SHARDED = "sharded"  # the torch.distributed.checkpoint directory of a distributed run


def trainable_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {name: p.detach().contiguous() for name, p in model.named_parameters() if p.requires_grad}


def save_checkpoint(run_dir: Path, step: int, model, optimizer, scheduler, trainer_state: dict, config, keep: int) -> Path:
    """Write checkpoint ``step`` (every rank calls this when distributed); returns its directory."""
    root = Path(run_dir) / "checkpoints"
    final = root / f"{PREFIX}{step:06d}"
    staging = None
    if distributed.is_main():
        root.mkdir(parents=True, exist_ok=True)
        staging = make_staging_dir(final)
    staging = Path(distributed.broadcast(str(staging) if staging else None))
    if distributed.is_distributed():
        _save_sharded(staging / SHARDED, model, optimizer)
    else:
        save_file(trainable_state(model), staging / "trainable.safetensors")
        names = {id(p): name for name, p in model.named_parameters()}
        torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                    "param_names": [names[id(p)] for group in optimizer.param_groups for p in group["params"]]},
                   staging / "optimizer.pt")
    if distributed.is_main():
        if distributed.is_distributed():
            torch.save({"scheduler": scheduler.state_dict()}, staging / "scheduler.pt")
        torch.save({"torch": torch.get_rng_state(), "python": random.getstate()}, staging / "rng.pt")
        (staging / "trainer_state.json").write_text(json.dumps(trainer_state, indent=1))
        save_config(config, staging / "config.yaml")
        if final.exists():  # a re-run of the same step: replace it
            shutil.rmtree(final)
        os.rename(staging, final)
        for old in list_checkpoints(run_dir)[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    distributed.barrier()  # no rank reads or resumes before the directory is in place
    return final


def _save_sharded(path: Path, model, optimizer) -> None:
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import get_optimizer_state_dict

    dcp.save({"model": trainable_state(model), "optim": get_optimizer_state_dict(model, optimizer)},
             checkpoint_id=str(path))


def list_checkpoints(run_dir: Path) -> list[Path]:
    root = Path(run_dir) / "checkpoints"
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and p.name.startswith(PREFIX))


def load_checkpoint(path: Path, model, optimizer, scheduler) -> dict:
    """Restore everything saved by :func:`save_checkpoint`, in either layout and under any number of
    ranks; returns the trainer state."""
    path = Path(path)
    if (path / SHARDED).is_dir():
        _load_sharded(path / SHARDED, model, optimizer)
        states = torch.load(path / "scheduler.pt", weights_only=False, map_location="cpu")
        restore_scheduler(scheduler, states["scheduler"])
    else:
        weights = load_file(path / "trainable.safetensors")
        missing = set(trainable_state(model)) - set(weights)
        if missing:
            raise RuntimeError(f"checkpoint {path} lacks {len(missing)} trainable tensors, e.g. {min(missing)}")
        # Onto the CPU first: a checkpoint saved on a GPU resumes anywhere; load_state_dict moves the
        # optimizer state to each parameter's device.
        states = torch.load(path / "optimizer.pt", weights_only=False, map_location="cpu")
        if distributed.is_distributed():
            _load_whole_into_distributed(weights, states, model, optimizer)
        else:
            model.load_state_dict(weights, strict=False)
            optimizer.load_state_dict(states["optimizer"])
        restore_scheduler(scheduler, states["scheduler"])
    rng = torch.load(path / "rng.pt", weights_only=False, map_location="cpu")
    torch.set_rng_state(rng["torch"])
    random.setstate(rng["python"])
    return json.loads((path / "trainer_state.json").read_text())


def restore_scheduler(scheduler, state: dict) -> None:
    """Load a LambdaLR state, also when FSDP split the optimizer's groups differently than the run
    that saved it: the schedule is a function of the step, so the step is all that must carry over."""
    if len(state.get("base_lrs", [])) == len(scheduler.base_lrs):
        scheduler.load_state_dict(state)
        return
    scheduler.last_epoch = state["last_epoch"]
    for group, base_lr, factor in zip(scheduler.optimizer.param_groups, scheduler.base_lrs, scheduler.lr_lambdas):
        group["lr"] = base_lr * factor(scheduler.last_epoch)
    scheduler._last_lr = [group["lr"] for group in scheduler.optimizer.param_groups]


def _load_sharded(path: Path, model, optimizer) -> None:
    """Load shards written by any number of ranks into this run's layout (one process or N)."""
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import (
        get_optimizer_state_dict,
        set_optimizer_state_dict,
    )

    # The current states are the templates: load fills them in place, resharding as it goes; the
    # model entries are the parameters themselves (detached views).
    state = {"model": trainable_state(model), "optim": get_optimizer_state_dict(model, optimizer)}
    dcp.load(state, checkpoint_id=str(path), no_dist=not distributed.is_distributed())
    set_optimizer_state_dict(model, optimizer, state["optim"])


def _load_whole_into_distributed(weights: dict, states: dict, model, optimizer) -> None:
    """A one-process checkpoint into a distributed run: each rank copies its part of every tensor."""
    from torch.distributed.checkpoint.state_dict import (
        get_optimizer_state_dict,
        set_optimizer_state_dict,
    )

    with torch.no_grad():
        for name, param in trainable_state(model).items():
            _copy_part(param, weights[name])
    saved = states["optimizer"]
    # Checkpoints name their parameters in optimizer order; older ones did not, and were written
    # by the same grouping a one-process run of this config builds (FSDP may split groups).
    names = states.get("param_names") or [name for name, _ in _optimizer_order(model, optimizer)]
    by_name = {name: saved["state"].get(index) for index, name in enumerate(names)}
    group_of = {name: group for group in saved["param_groups"] for name in (names[i] for i in group["params"])}
    current = get_optimizer_state_dict(model, optimizer)
    for name, slots in current["state"].items():
        for key, value in (by_name.get(name) or {}).items():
            if isinstance(slots.get(key), torch.Tensor):
                _copy_part(slots[key], value)
    for group in current["param_groups"]:
        source = group_of.get(group["params"][0]) if group["params"] else None
        if source:
            group.update({key: value for key, value in source.items() if key != "params"})
    set_optimizer_state_dict(model, optimizer, current)


def _copy_part(target: torch.Tensor, whole: torch.Tensor) -> None:
    """Copy ``whole`` into ``target``, or this rank's shard of it when ``target`` is sharded."""
    from torch.distributed.tensor import DTensor, distribute_tensor

    if isinstance(target, DTensor):
        # src_data_rank=None: every rank holds the whole tensor and keeps its own part, no messages.
        part = distribute_tensor(whole, target.device_mesh, target.placements, src_data_rank=None)
        target.to_local().copy_(part.to_local())
    else:
        target.copy_(whole)


def _optimizer_order(model, optimizer) -> list[tuple[str, torch.nn.Parameter]]:
    names = {id(p): name for name, p in model.named_parameters()}
    return [(names[id(p)], p) for group in optimizer.param_groups for p in group["params"]]


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
    extended = [key for key in changed if key in RESUME_MAY_EXTEND]
    changed = [key for key in changed if key not in RESUME_MAY_EXTEND]
    if extended and not changed and distributed.is_main():
        print(f"{run_dir}: " + ", ".join(f"{key} {saved[key]} -> {current[key]}" for key in extended)
              + ": continuing from the last checkpoint; the learning-rate schedule is recomputed for the new "
              "total (warmup and decay stretched over it), so the rate jumps to that schedule's value at this step",
              file=sys.stderr)
    if changed:
        key = changed[0]
        raise UserError(
            f"{run_dir} holds a run with {key}={saved[key]!r}, now {current[key]!r}: "
            "resume it with the same settings or pick a new output_dir"
        )


def truncate_metrics(run_dir: Path, step: int, filename: str = "metrics.jsonl") -> None:
    """Drop records logged after the checkpoint we resume from: those steps run again."""
    path = Path(run_dir) / filename
    if not distributed.is_main() or not path.exists():
        return
    kept = [line for line in path.read_text().splitlines() if line.strip() and json.loads(line).get("step", 0) <= step]
    write_text_atomic(path, "".join(line + "\n" for line in kept))
