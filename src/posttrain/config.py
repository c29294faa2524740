"""Typed configs: one pydantic model per algorithm, loaded from YAML with CLI overrides.

``load_config(SFTConfig, "recipe.yaml", {"lr": 2e-5})`` reads the file, applies the overrides,
and validates. An unknown key is an error that names the closest valid key; a wrong type is an
error that names the key. The resolved config is saved beside every checkpoint (``save_config``)
so a run can be reproduced from its directory.
"""

from __future__ import annotations

import difflib
import os
import tempfile
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from posttrain.errors import UserError


class BaseConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class TrainConfig(BaseConfig):
    """Fields every trainer shares."""

    model: str = Field("smollm2-135m", description="Model spec: embedded name, HF directory, .gguf file or hub id.")
    output_dir: str = Field("runs/sft", description="Run directory: checkpoints, metrics, final model.")
    seed: int = Field(0, description="Seed for data order, initialisation of new weights and sampling.")
    # Fine-tuning mode
    finetune: Literal["lora", "full"] = Field("lora", description="Train LoRA adapters or every weight.")
    lora_r: int = Field(16, gt=0, description="LoRA rank.")
    lora_alpha: float = Field(32.0, gt=0, description="LoRA scaling numerator (scale = alpha / r).")
    lora_dropout: float = Field(0.0, ge=0, lt=1, description="Dropout on the LoRA input.")
    lora_targets: str = Field("all-linear", description="Modules that get adapters: 'all-linear' or comma-separated names.")
    # Optimisation
    lr: float = Field(2e-4, gt=0, description="Peak learning rate (AdamW).")
    weight_decay: float = Field(0.0, ge=0, description="AdamW weight decay.")
    adam_betas: tuple[float, float] = Field((0.9, 0.999), description="AdamW betas.")
    schedule: Literal["cosine", "linear", "constant"] = Field("cosine", description="Decay after warmup.")
    warmup_ratio: float = Field(0.03, ge=0, le=1, description="Fraction of steps spent warming up linearly.")
    min_lr_ratio: float = Field(0.0, ge=0, le=1, description="Final learning rate as a fraction of the peak.")
    max_grad_norm: float | None = Field(1.0, description="Clip gradients to this global norm (null: off).")
    epochs: int = Field(1, gt=0, description="Passes over the training data.")
    max_steps: int | None = Field(None, gt=0, description="Stop after this many optimizer steps (overrides epochs).")
    batch_size: int = Field(16, gt=0, description="Rows per optimizer step (the global batch).")
    micro_batch_tokens: int | None = Field(
        None, gt=0, description="Token budget of one forward pass (rows x padded length); default: max_length."
    )
    logits_chunk: int = Field(1024, gt=0, description="Tokens per chunk of the output projection (memory vs speed).")
    gradient_checkpointing: bool = Field(False, description="Recompute activations in backward to save memory.")
    # Data
    data: str | None = Field(None, description="Training data file (JSONL, JSON, Parquet or saved HF dataset dir).")
    eval_data: str | None = Field(None, description="Held-out data file; default: a split of `data`.")
    eval_fraction: float = Field(0.05, ge=0, lt=1, description="Share of `data` held out when eval_data is not given.")
    format: str = Field("auto", description="Data format: auto, sft, preference, unpaired, prompts.")
    max_length: int = Field(512, gt=0, description="Rows longer than this are truncated (the tail is cut) and counted.")
    skip_bad_rows: bool = Field(False, description="Skip and count bad rows instead of stopping at the first.")
    limit: int | None = Field(None, gt=0, description="Use only the first N rows of `data` (quick tries).")
    # Bookkeeping
    eval_every: int = Field(0, ge=0, description="Evaluate every N steps (0: only at the end).")
    save_every: int = Field(0, ge=0, description="Checkpoint every N steps (0: only at the end).")
    keep_checkpoints: int = Field(2, gt=0, description="How many recent checkpoints to keep.")
    log_every: int = Field(1, gt=0, description="Log metrics every N steps.")
    resume: bool = Field(True, description="Resume from the newest checkpoint in output_dir if there is one.")
    save_format: Literal["merged", "adapter", "both"] = Field("merged", description="Final LoRA model: merged weights, adapter, or both.")
    tensorboard: bool = Field(True, description="Also write TensorBoard event files.")
    wandb_project: str | None = Field(None, description="Log to this Weights & Biases project (needs wandb).")
    num_threads: int | None = Field(None, gt=0, description="torch CPU threads (default: torch's choice).")
    progress: bool = Field(True, description="Show a progress bar.")

    @model_validator(mode="after")
    def _check_micro_batch(self):
        # One longest row per forward by default: activation memory, not matmul size, is what
        # limits a CPU run, and rows of 512 tokens already keep the matmuls efficient.
        if self.micro_batch_tokens is None:
            self.__dict__["micro_batch_tokens"] = self.max_length
        if self.micro_batch_tokens < self.max_length:
            raise ValueError(f"micro_batch_tokens ({self.micro_batch_tokens}) must be >= max_length ({self.max_length})")
        return self


class SFTConfig(TrainConfig):
    """Supervised fine-tuning on chat demonstrations (``posttrain sft``)."""

    format: str = Field("sft", description="Data format: sft (messages or prompt/completion).")
    assistant_only_loss: bool = Field(True, description="Loss on assistant tokens only (else on every token).")


class DPOConfig(TrainConfig):
    """Direct preference optimisation and its variants (``posttrain dpo``)."""

    output_dir: str = Field("runs/dpo", description="Run directory: checkpoints, metrics, final model.")
    format: str = Field("preference", description="Data format: preference (pairs), or unpaired for kto.")
    lr: float = Field(5e-5, gt=0, description="Peak learning rate (AdamW).")
    loss: str = Field("sigmoid", description="Preference loss: sigmoid (DPO), ipo, simpo, orpo, kto.")
    beta: float | None = Field(None, gt=0, description="Loss strength (tau in IPO, lambda in ORPO); default: the loss's own.")
    label_smoothing: float = Field(0.0, ge=0, lt=0.5, description="Conservative DPO: assumed label-noise rate (sigmoid only).")
    gamma: float = Field(0.5, ge=0, description="SimPO target reward margin.")
    desirable_weight: float = Field(1.0, gt=0, description="KTO weight of desirable completions.")
    undesirable_weight: float = Field(1.0, gt=0, description="KTO weight of undesirable completions.")
    reference_cache: bool = Field(True, description="Reuse reference log-probs cached on disk for the same model and data.")

    @model_validator(mode="after")
    def _check_loss(self):
        from posttrain.losses.preference import PREFERENCE_LOSSES

        if self.loss not in PREFERENCE_LOSSES:
            raise ValueError(f"unknown loss '{self.loss}'{_closest(self.loss, list(PREFERENCE_LOSSES))}; "
                             f"valid: {', '.join(PREFERENCE_LOSSES)}")
        return self


class RMConfig(TrainConfig):
    """Reward model on preference pairs, Bradley-Terry loss (``posttrain rm``)."""

    output_dir: str = Field("runs/rm", description="Run directory: checkpoints, metrics, final model.")
    format: str = Field("preference", description="Data format: preference (pairs).")
    lr: float = Field(1e-4, gt=0, description="Peak learning rate (AdamW).")
    margin_key: str | None = Field(
        None, description="Row field holding a per-pair margin the reward gap must exceed (Llama 2); null: none."
    )
    center_rewards_coef: float = Field(
        0.0, ge=0, description="Weight of the auxiliary loss mean((r_chosen + r_rejected)^2) that centres rewards on 0."
    )


def _closest(name: str, valid: list[str]) -> str:
    match = difflib.get_close_matches(name, valid, n=1, cutoff=0.5)
    return f" (did you mean '{match[0]}'?)" if match else ""


def _format_error(cls: type[BaseModel], error: ValidationError, source: str) -> str:
    first = error.errors()[0]
    key = ".".join(str(part) for part in first["loc"]) or "config"
    if first["type"] == "extra_forbidden":
        return f"{source}: unknown key '{key}'{_closest(key, list(cls.model_fields))}"
    return f"{source}: {key}: {first['msg']}"


def load_config(cls: type[BaseModel], path: str | None = None, overrides: dict[str, Any] | None = None):
    """Build a validated config from an optional YAML file and CLI overrides (overrides win)."""
    values: dict[str, Any] = {}
    source = path or "command line"
    if path:
        if not os.path.exists(path):
            raise UserError(f"config file not found: {path}")
        try:
            with open(path) as handle:
                loaded = yaml.safe_load(handle) or {}
        except yaml.YAMLError as error:
            raise UserError(f"{path}: invalid YAML: {str(error).splitlines()[0]}") from None
        if not isinstance(loaded, dict):
            raise UserError(f"{path}: a config must be a mapping of keys to values")
        values.update(loaded)
    values.update({key: value for key, value in (overrides or {}).items() if value is not None})
    try:
        return cls(**values)
    except ValidationError as error:
        raise UserError(_format_error(cls, error, source)) from None


def save_config(config: BaseModel, path: str | Path) -> None:
    write_text_atomic(path, yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False))


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write a file so that a crash leaves either the old file or the new one, never half."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the usual permissions
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def make_staging_dir(target: Path) -> Path:
    """A temporary sibling directory of ``target`` with ordinary (umask) permissions."""
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    os.chmod(staging, 0o777 & ~_umask())
    return staging
