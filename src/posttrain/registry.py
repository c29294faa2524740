"""The stage registry: every trainer, its typed config and the function that runs it, in one place.

The ``posttrain sft|dpo|rm|grpo|ppo|rejection-sample`` commands (``posttrain.cli``) and the recipe
stages of the same names (``posttrain.pipeline.recipe.STAGE_CONFIGS``, ``posttrain.pipeline.stages.EXECUTORS``)
are built from ``TRAINERS``, so a command and a recipe stage with the same keys do the same thing.
A new algorithm is one entry here. The functions are named as ``module:function`` and imported only
when a stage runs, so that ``posttrain --help`` does not load torch.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

from posttrain.config import (
    BaseConfig,
    DPOConfig,
    GRPOConfig,
    PPOConfig,
    RejectionConfig,
    RMConfig,
    SFTConfig,
)


@dataclass(frozen=True)
class Trainer:
    config: type[BaseConfig]
    function: str  # "module:function" taking the config and returning a summary dict
    help: str  # the command's help; its first line is the summary `posttrain --help` lists
    echo_summary: bool = True  # the command prints the returned summary as JSON (rejection sampling prints its own)

    def load(self) -> Callable[[BaseConfig], dict]:
        module, _, name = self.function.partition(":")
        return getattr(importlib.import_module(module), name)


TRAINERS: dict[str, Trainer] = {
    "sft": Trainer(SFTConfig, "posttrain.algos.sft:train_sft", """Supervised fine-tuning on chat demonstrations.

    CONFIG_FILE is an optional YAML file of the same keys as the options below.
    Example: posttrain sft recipes/sft_quickstart.yaml --max-steps 20
    """),
    "dpo": Trainer(DPOConfig, "posttrain.algos.dpo:train_dpo", """Preference optimisation: DPO (sigmoid), cDPO, IPO, SimPO, ORPO or KTO (--loss).

    Data: preference rows {"prompt", "chosen", "rejected"}; for --loss kto, unpaired rows
    {"prompt", "completion", "label"}. Example: posttrain dpo --data pairs.jsonl --beta 0.1
    """),
    "rm": Trainer(RMConfig, "posttrain.algos.rm:train_rm", """Reward model: a scalar head trained on preference pairs (Bradley-Terry loss).

    Data: preference rows {"prompt", "chosen", "rejected"}, plus a per-pair margin field with
    --margin-key. Example: posttrain rm --data pairs.jsonl --output-dir runs/rm
    """),
    "grpo": Trainer(GRPOConfig, "posttrain.algos.grpo:train_grpo", """RL on prompts with a reward function: GRPO, RLOO or REINFORCE++ (--advantage).

    Data: prompt rows {"prompt", ...}; the other fields go to the reward (e.g. "answer" for
    math_correct). Rollouts land in OUTPUT_DIR/rollouts.jsonl, the reward curve in reward.png.
    Example: posttrain grpo --data bundled:addition --eval-data bundled:addition_eval --max-steps 30
    """),
    "ppo": Trainer(PPOConfig, "posttrain.algos.ppo:train_ppo", """RLHF with PPO against a reward model saved by `posttrain rm` (--reward-model DIR).

    Data: prompt rows {"prompt", ...}. A value head on the policy is the critic; the KL penalty to
    the starting model adapts towards --target-kl. Rollouts land in OUTPUT_DIR/rollouts.jsonl.
    Example: posttrain ppo --reward-model runs/rm/final --data bundled:preference_chat --max-steps 50
    """),
    "rejection-sample": Trainer(RejectionConfig, "posttrain.algos.rejection:rejection_sample", """Rejection sampling: n answers per prompt, scored; the best become an SFT dataset.

    Data: prompt rows {"prompt", ...}; the other fields go to the reward. Writes OUTPUT (SFT rows
    for posttrain sft) plus <stem>.samples.jsonl and <stem>.stats.json beside it.
    Example: posttrain rejection-sample --data bundled:addition --reward math_correct --n 8 --threshold 1
    """, echo_summary=False),
}
TRAINING = {"sft", "rm", "dpo", "grpo", "ppo"}  # stages that write a model directory
POLICY_TRAINING = {"sft", "dpo", "grpo", "ppo"}  # stages whose output becomes the current model of a recipe
