"""Typed configs: one pydantic model per algorithm, loaded from YAML with CLI overrides.

``load_config(SFTConfig, "recipe.yaml", {"lr": 2e-5})`` reads the file, applies the overrides,
and validates. An unknown key is an error that names the closest valid key; a wrong type is an
error that names the key. The resolved config is saved beside every checkpoint (``save_config``)
so a run can be reproduced from its directory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from posttrain.errors import UserError
from posttrain.util import (  # noqa: F401  (write_text_atomic, make_staging_dir, TRL_NAMES: re-exported for old importers)
    TRL_NAMES,
    closest,
    format_validation_error,
    make_staging_dir,
    read_yaml,
    write_text_atomic,
)

# Old private names some modules still import (algos/ and training/ switch to posttrain.util in their own time).
_closest = closest
_format_error = format_validation_error


# A reward as the registry's combine() reads it: a name or "a=1,b=0.2", {name: weight}, or a list of names
# and {"name", "weight", "kwargs"} entries (kwargs bind options such as code_tests_passed's all_pass_bonus).
RewardSpec = str | dict[str, float] | list[str | dict[str, Any]]

class BaseConfig(BaseModel):
    # defer_build: validators are built on a config's first use, not when `posttrain --help` imports them all.
    model_config = ConfigDict(extra="forbid", validate_assignment=True, defer_build=True)


# Checked when a run starts (posttrain.training.device.resolve_device): what exists depends on the machine.
DTYPE_HELP = ("Precision: auto (bfloat16 on a CUDA device that supports it, else float32), float32 or bfloat16; "
              "see posttrain.training.precision.")
INFERENCE_DTYPE_HELP = "Precision: auto (bfloat16 on a CUDA device that supports it, else float32), float32, bfloat16 or float16."


def check_dtype(value: str, training: bool) -> str:
    from posttrain.training.precision import resolve_dtype

    resolve_dtype(value, "cpu", training=training)  # the name only; what the device supports is checked at start
    return value
DEVICE_HELP = "Where to compute: auto (cuda:LOCAL_RANK when CUDA is available, else cpu), cpu, cuda, cuda:N or mps."
VLLM_EXTRA = "pip install 'posttrain[vllm]'"
ENGINE_HELP = f"Generation engine: native (our KV-cache loop) or vllm (vLLM; {VLLM_EXTRA})."


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
        None, gt=0, description="Token budget of one forward pass (packed rows: their tokens; padded rows: rows x "
                                "longest); default: max_length."
    )
    logits_chunk: int = Field(1024, gt=0, description="Tokens per chunk of the output projection (memory vs speed).")
    gradient_checkpointing: bool = Field(False, description="Recompute activations in backward to save memory.")
    # Data
    data: str | None = Field(None, description="Training data file (JSONL, JSON, Parquet or saved HF dataset dir).")
    eval_data: str | None = Field(None, description="Held-out data file; default: a split of `data`.")
    eval_fraction: float = Field(0.05, ge=0, lt=1, description="Share of `data` held out when eval_data is not given.")
    format: str = Field("auto", description="Data format: auto, sft, sharegpt, alpaca, preference, hh, unpaired, prompts.")
    max_length: int = Field(512, gt=0, description="Rows longer than this are truncated (the tail is cut) and counted.")
    skip_bad_rows: bool = Field(False, description="Skip and count bad rows instead of stopping at the first.")
    limit: int | None = Field(None, gt=0, description="Use only the first N rows of `data` (quick tries).")
    # Bookkeeping
    eval_every: int = Field(0, ge=0, description="Evaluate every N steps (0: only at the end).")
    eval_suites: list[str] = Field(default_factory=list, description="Capability suites also run at each evaluation (e.g. math safety).")
    eval_suite_limit: int = Field(8, gt=0, description="Items per suite at each evaluation during training.")
    eval_suite_batch_size: int = Field(16, gt=0, description="Answers generated together by those suites.")
    save_every: int = Field(0, ge=0, description="Checkpoint every N steps (0: only at the end).")
    keep_checkpoints: int = Field(2, gt=0, description="How many recent checkpoints to keep.")
    log_every: int = Field(1, gt=0, description="Log metrics every N steps.")
    resume: bool = Field(True, description="Resume from the newest checkpoint in output_dir if there is one.")
    save_format: Literal["merged", "adapter", "both"] = Field("merged", description="Final LoRA model: merged weights, adapter, or both.")
    report_to: list[str] = Field(
        default_factory=lambda: ["tensorboard"],
        description="Trackers the metrics also go to (metrics.jsonl is always written): tensorboard, wandb, mlflow, "
                    "trackio, or none; a list or comma-separated. wandb, mlflow and trackio need "
                    "pip install 'posttrain[NAME]'.")
    project: str | None = Field(None, description="Project (wandb, trackio) or experiment (mlflow) the run is "
                                                  "logged under; default: the tracker's own.")
    tensorboard: bool | None = Field(None, description="Old key: true adds tensorboard to report_to, false removes it.")
    wandb_project: str | None = Field(None, description="Old key: adds wandb to report_to and sets project.")
    num_threads: int | None = Field(None, gt=0, description="torch CPU threads (default: torch's choice).")
    device: str = Field("auto", description=DEVICE_HELP)
    dtype: str = Field("auto", description=DTYPE_HELP)
    progress: bool = Field(True, description="Show a progress bar.")
    distributed_strategy: Literal["fsdp", "ddp"] = Field(
        "fsdp", description="Under torchrun: shard decoder layers across ranks (fsdp) or replicate the model (ddp).")

    @field_validator("dtype")
    @classmethod
    def _dtype_name(cls, value: str) -> str:
        return check_dtype(value, training=True)

    @field_validator("report_to", mode="before")
    @classmethod
    def _tracker_names(cls, value):
        from posttrain.training.metrics import tracker_names

        return tracker_names(value)

    @model_validator(mode="after")
    def _old_tracker_keys(self):
        # The old keys are applied on top of report_to, so a YAML written before report_to still means what it
        # said; written into __dict__ so that validate_assignment does not run this validator again.
        trackers = [name for name in self.report_to if not (name == "tensorboard" and self.tensorboard is False)]
        if self.tensorboard and "tensorboard" not in trackers:
            trackers.append("tensorboard")
        if self.wandb_project:
            if self.project not in (None, self.wandb_project):
                raise ValueError(f"wandb_project ({self.wandb_project!r}) and project ({self.project!r}) differ: "
                                 "give project only")
            self.__dict__["project"] = self.wandb_project
            if "wandb" not in trackers:
                trackers.append("wandb")
        self.__dict__["report_to"] = trackers
        return self

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

    format: str = Field("sft", description="Data format: sft (messages, prompt/completion, ShareGPT or Alpaca rows), sharegpt or alpaca.")
    assistant_only_loss: bool = Field(True, description="Loss on assistant tokens only (else on every token).")
    packing: bool = Field(True, description="Run a micro-batch's rows back to back in one row, no padding, each "
                                            "attending within itself (false: right-padded rows).")


class DPOConfig(TrainConfig):
    """Direct preference optimisation and its variants (``posttrain dpo``)."""

    output_dir: str = Field("runs/dpo", description="Run directory: checkpoints, metrics, final model.")
    format: str = Field("preference", description="Data format: preference (pairs; Anthropic HH text too), hh, or unpaired for kto.")
    lr: float = Field(5e-5, gt=0, description="Peak learning rate (AdamW).")
    loss: str = Field("sigmoid", description="Preference loss: sigmoid (DPO; `dpo` names it too), ipo, simpo, orpo, kto.")
    beta: float | None = Field(None, gt=0, description="Loss strength (tau in IPO, lambda in ORPO); default: the loss's own.")
    label_smoothing: float = Field(0.0, ge=0, lt=0.5, description="Conservative DPO: assumed label-noise rate (sigmoid only).")
    gamma: float = Field(0.5, ge=0, description="SimPO target reward margin.")
    desirable_weight: float = Field(1.0, gt=0, description="KTO weight of desirable completions.")
    undesirable_weight: float = Field(1.0, gt=0, description="KTO weight of undesirable completions.")
    reference_cache: bool = Field(True, description="Reuse reference log-probs cached on disk for the same model and data.")

    @field_validator("loss", mode="before")
    @classmethod
    def _loss_alias(cls, value):
        from posttrain.losses.preference import LOSS_ALIASES

        return LOSS_ALIASES.get(value, value)  # `loss: dpo` (TRL's habit) is the sigmoid loss

    @model_validator(mode="after")
    def _check_loss(self):
        from posttrain.losses.preference import PREFERENCE_LOSSES

        if self.loss not in PREFERENCE_LOSSES:
            raise ValueError(f"unknown loss '{self.loss}'{closest(self.loss, list(PREFERENCE_LOSSES))}; "
                             f"valid: {', '.join(PREFERENCE_LOSSES)}")
        return self


class RMConfig(TrainConfig):
    """Reward model on preference pairs, Bradley-Terry loss (``posttrain rm``)."""

    output_dir: str = Field("runs/rm", description="Run directory: checkpoints, metrics, final model.")
    format: str = Field("preference", description="Data format: preference (pairs; Anthropic HH text too) or hh.")
    lr: float = Field(1e-4, gt=0, description="Peak learning rate (AdamW).")
    margin_key: str | None = Field(
        None, description="Row field holding a per-pair margin the reward gap must exceed (Llama 2); null: none."
    )
    center_rewards_coef: float = Field(
        0.0, ge=0, description="Weight of the auxiliary loss mean((r_chosen + r_rejected)^2) that centres rewards on 0."
    )

    @model_validator(mode="after")
    def _no_suites(self):
        if self.eval_suites:
            raise ValueError("a reward model does not generate answers, so eval_suites does not apply to rm")
        return self


class RolloutConfig(TrainConfig):
    """Fields every RL trainer shares: rollout sampling, the clipped update and held-out evaluation."""

    format: str = Field("prompts", description="Data format: prompts (a 'prompt' plus fields the reward reads).")
    lr: float = Field(1e-5, gt=0, description="Peak learning rate (AdamW).")
    warmup_ratio: float = Field(0.0, ge=0, le=1, description="Fraction of steps spent warming up linearly.")
    schedule: Literal["cosine", "linear", "constant"] = Field("constant", description="Decay after warmup.")
    batch_size: int = Field(8, gt=0, description="Prompts per optimizer step; each gets num_generations samples.")
    max_new_tokens: int = Field(64, gt=0, description="Longest completion.")
    temperature: float = Field(1.0, gt=0, description="Sampling temperature of rollouts.")
    top_p: float = Field(1.0, gt=0, le=1, description="Nucleus sampling of rollouts (1: off).")
    top_k: int = Field(0, ge=0, description="Top-k sampling of rollouts (0: off).")
    stop: list[str] = Field(default_factory=list, description="Stop strings that end a completion.")
    clip_low: float = Field(0.2, ge=0, lt=1, description="Lower clip range of the importance ratio (1 - eps).")
    clip_high: float = Field(0.2, ge=0, description="Upper clip range of the importance ratio (1 + eps).")
    policy_loss: Literal["ppo_clip", "gspo", "cispo"] = Field(
        "ppo_clip", description="Policy loss: ppo_clip (per-token clipped surrogate, clip_low/clip_high), gspo "
        "(sequence-level ratio, clipped per sequence by gspo_clip_low/high) or cispo (REINFORCE weighted by the "
        "token ratio capped at cispo_cap, no gradient through the weight, no token dropped by clipping).")
    # GSPO's ranges get their own fields: they are ~500x PPO's, and a reused clip_low: 0.2 would leave GSPO unclipped.
    gspo_clip_low: float = Field(3e-4, ge=0, lt=1, description="gspo: lower clip of the sequence ratio (1 - eps); "
                                                             "the GSPO paper's 3e-4.")
    gspo_clip_high: float = Field(4e-4, ge=0, description="gspo: upper clip of the sequence ratio (1 + eps); "
                                                        "the GSPO paper's 4e-4.")
    cispo_cap: float = Field(5.0, gt=0, description="cispo: the most a token's importance weight may be (the weight "
                             "itself, not 1 + eps: ScaleRL's eps_max, TRL's epsilon_high for cispo, both 5).")
    rollout_batch_size: int = Field(32, gt=0, description="Sequences generated together.")
    eval_prompts: int = Field(64, ge=0, description="Held-out prompts scored greedily at each evaluation (0: none).")
    eval_before: bool = Field(True, description="Also evaluate the starting model, as step 0.")
    tools: list[str] = Field(
        default_factory=list, description="Tools the policy may call: each module:function or path/file.py:function.")
    max_turns: int = Field(
        1, ge=1, description="Assistant turns per episode; >= 2 with `tools` (call, read the result, answer).")
    engine: Literal["native", "vllm"] = Field(
        "native", description=f"Rollout engine: native (our KV-cache loop on the trainer's module) or vllm (a colocated "
                              f"vLLM engine the weights are pushed into after every optimizer step; {VLLM_EXTRA}).")
    tis_cap: float | None = Field(
        2.0, ge=1, description="engine vllm: truncated importance sampling, each token's policy loss weighted by "
                               "min(exp(trainer - engine log-prob), tis_cap) (null: off).")

    @model_validator(mode="after")
    def _check_lengths(self):
        if self.max_new_tokens >= self.max_length:
            raise ValueError(f"max_new_tokens ({self.max_new_tokens}) must be < max_length ({self.max_length})")
        return self

    @property
    def policy_loss_options(self) -> dict[str, float]:
        """The keyword options of the chosen ``policy_loss`` (``losses.policy.POLICY_LOSSES``)."""
        return {"ppo_clip": {"clip_low": self.clip_low, "clip_high": self.clip_high},
                "gspo": {"clip_low": self.gspo_clip_low, "clip_high": self.gspo_clip_high},
                "cispo": {"cap": self.cispo_cap}}[self.policy_loss]

    @model_validator(mode="after")
    def _check_tools(self):
        for spec in self.tools:
            module, _, function = spec.rpartition(":")
            if not module or not function:
                raise ValueError(f"tool '{spec}' is not module:function or path/file.py:function")
        if self.tools and self.max_turns < 2:
            raise ValueError("tools need max_turns >= 2 (one turn to call a tool, one to answer with its result)")
        if self.max_turns > 1 and not self.tools:
            raise ValueError(f"max_turns {self.max_turns} needs tools: an episode only continues after a tool call")
        return self


class GRPOConfig(RolloutConfig):
    """RL with group-relative advantages: GRPO, RLOO, REINFORCE++ (``posttrain grpo``)."""

    output_dir: str = Field("runs/grpo", description="Run directory: checkpoints, metrics, rollouts, final model.")
    eval_fraction: float = Field(0.0, ge=0, lt=1, description="Share of `data` held out when eval_data is not given.")
    reward: RewardSpec = Field(
        "math_correct", description="Reward: a builtin name or module:function, or weighted 'a=1.0,b=0.2' (a mapping in "
        "YAML, or a list of names and {name, weight, kwargs} entries).")
    num_generations: int = Field(8, ge=2, description="Completions sampled per prompt (the group).")
    advantage: Literal["grpo", "rloo", "reinforce_pp"] = Field("grpo", description="Advantage estimator.")
    scale_rewards: bool = Field(True, description="grpo: divide by the group's reward std (false: Dr. GRPO).")
    loss_aggregation: Literal["sequence_mean", "token_mean", "constant"] = Field(
        "token_mean", description="How token losses are averaged: per sequence, over all tokens, or by a constant.")
    kl_coef: float = Field(0.0, ge=0, description="Weight of the k3 KL penalty to the reference model (0: no reference pass).")
    num_iterations: int = Field(1, gt=0, description="Optimisation epochs over each rollout batch.")
    drop_zero_variance: bool = Field(True, description="Skip groups whose samples all got the same reward (no signal).")
    dynamic_sampling: bool = Field(
        False, description="DAPO dynamic sampling: keep only groups whose rewards differ, and sample extra generation "
        "batches of other training prompts until batch_size such groups are found (single process only).")
    max_extra_batches: int = Field(
        8, ge=0, description="dynamic_sampling: most extra generation batches (rollout_batch_size / num_generations "
        "prompts each) per step; past it the step trains on the informative groups it has.")
    overlong_buffer: int = Field(
        0, ge=0, description="DAPO overlong shaping: completions longer than max_new_tokens - overlong_buffer tokens "
        "lose reward linearly, down to -overlong_penalty at max_new_tokens (0: off).")
    overlong_penalty: float = Field(1.0, ge=0, description="overlong_buffer: the penalty at max_new_tokens.")

    @model_validator(mode="after")
    def _check_overlong(self):
        if self.overlong_buffer > self.max_new_tokens:
            raise ValueError(f"overlong_buffer ({self.overlong_buffer}) must be <= max_new_tokens ({self.max_new_tokens})")
        if self.overlong_buffer and self.tools:
            raise ValueError("overlong_buffer applies to single replies: max_new_tokens bounds each turn of a tool "
                             "episode, not the episode")
        return self


class RejectionConfig(BaseConfig):
    """Best-of-n rejection sampling into an SFT dataset (``posttrain rejection-sample``); nothing is trained."""

    model: str = Field("smollm2-135m", description="Model that samples: embedded name, HF directory, .gguf file or hub id.")
    data: str | None = Field(None, description="Prompt rows {'prompt', ...}; the other fields reach the reward.")
    output: str = Field("runs/rejection/sft.jsonl", description="SFT JSONL to write; stats and all samples go beside it.")
    round: int = Field(1, ge=1, description="Round number recorded in every row (repeat with the SFT'd model).")
    n: int = Field(8, ge=1, description="Samples per prompt.")
    max_new_tokens: int = Field(256, gt=0, description="Longest answer.")
    temperature: float = Field(0.8, ge=0, description="Sampling temperature (0: greedy, every sample the same).")
    top_p: float = Field(1.0, gt=0, le=1, description="Nucleus sampling (1: off).")
    top_k: int = Field(0, ge=0, description="Top-k sampling (0: off).")
    stop: list[str] = Field(default_factory=list, description="Stop strings that end an answer.")
    include_stop: bool = Field(False, description="Keep the stop string that ended an answer in its text (e.g. a closing code fence).")
    engine: Literal["native", "vllm"] = Field("native", description=ENGINE_HELP)
    seed: int = Field(0, description="Sampling seed; the same seed, data and batch_size give the same samples.")
    batch_size: int = Field(32, gt=0, description="Sequences generated together.")
    reward: RewardSpec | None = Field(
        None, description="Reward: a builtin name or module:function, or weighted 'a=1.0,b=0.2' (a mapping in YAML).")
    reward_model: str | None = Field(None, description="Reward model directory (from posttrain rm); added to `reward`.")
    threshold: float | None = Field(None, description="Keep an answer only if its score is >= this (null: keep the best).")
    keep: int = Field(1, ge=1, description="Answers kept per prompt: the best `keep`.")
    dedupe: bool = Field(True, description="Count identical answers of a prompt once.")
    keep_truncated: bool = Field(False, description="Also keep answers cut off at max_new_tokens.")
    limit: int | None = Field(None, gt=0, description="Use only the first N prompts (quick tries).")
    skip_bad_rows: bool = Field(False, description="Skip and count bad rows instead of stopping at the first.")
    num_threads: int | None = Field(None, gt=0, description="torch CPU threads (default: torch's choice).")
    device: str = Field("auto", description=DEVICE_HELP)
    dtype: str = Field("auto", description=INFERENCE_DTYPE_HELP)
    progress: bool = Field(True, description="Show a progress bar.")

    @field_validator("dtype")
    @classmethod
    def _dtype_name(cls, value: str) -> str:
        return check_dtype(value, training=False)


class PPOConfig(RolloutConfig):
    """RLHF with PPO against a reward model: policy plus value head, adaptive KL penalty, GAE (``posttrain ppo``)."""

    output_dir: str = Field("runs/ppo", description="Run directory: checkpoints, metrics, rollouts, final model.")
    reward_model: str | None = Field(None, description="Reward model directory saved by `posttrain rm` (required).")
    reward: RewardSpec | None = Field(
        None, description="Extra rule rewards added to the reward-model score: a name, module:function or 'a=1,b=0.2'.")
    num_generations: int = Field(1, ge=1, description="Completions sampled per prompt.")
    num_iterations: int = Field(2, gt=0, description="PPO epochs (optimizer steps) over each rollout batch.")
    init_kl_coef: float = Field(0.05, gt=0, description="KL penalty coefficient in the reward (its start when adaptive).")
    target_kl: float | None = Field(
        6.0, gt=0, description="KL to the reference (nats per sequence) the adaptive coefficient steers to; null: fixed.")
    kl_horizon: int = Field(10000, gt=0, description="Samples over which the adaptive KL coefficient may change by 20%.")
    gamma: float = Field(1.0, ge=0, le=1, description="Discount of per-token rewards (GAE gamma).")
    lam: float = Field(0.95, ge=0, le=1, description="GAE lambda: 0 one-step TD, 1 Monte-Carlo returns.")
    vf_coef: float = Field(0.1, ge=0, description="Weight of the value loss beside the policy loss.")
    value_clip: float | None = Field(0.2, gt=0, description="Clip range of the value update around rollout values (null: off).")
    whiten_advantages: bool = Field(True, description="Normalise advantages to mean 0, std 1 over the batch's tokens.")
    value_lr: float | None = Field(None, gt=0, description="Learning rate of the value head (default: lr).")

    @model_validator(mode="after")
    def _check_no_tools(self):
        if self.tools:
            raise ValueError("ppo does not run tool episodes; train tool use with grpo")
        return self


def load_config(cls: type[BaseModel], path: str | None = None, overrides: dict[str, Any] | None = None):
    """Build a validated config from an optional YAML file and CLI overrides (overrides win)."""
    values: dict[str, Any] = {}
    source = path or "command line"
    if path:
        loaded = read_yaml(path, "config file")[0] or {}
        if not isinstance(loaded, dict):
            raise UserError(f"{path}: a config must be a mapping of keys to values")
        values.update(loaded)
    values.update({key: value for key, value in (overrides or {}).items() if value is not None})
    try:
        return cls(**values)
    except ValidationError as error:
        raise UserError(format_validation_error(cls, error, source)) from None


def save_config(config: BaseModel, path: str | Path) -> None:
    write_text_atomic(path, yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False))
