"""Run trainers one after another in this process; under torchrun every rank runs this script.

Usage: ``torchrun --nproc_per_node 2 tests/distributed/launch.py runs.json`` where ``runs.json`` is a
list of ``{"algo": "sft" | "dpo" | "grpo", "config": {...}}``. The tests also call :func:`run`
in-process for the one-process runs, so both sides go through the same code.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def run(algo: str, values: dict) -> dict:
    from posttrain.algos.dpo import train_dpo
    from posttrain.algos.grpo import train_grpo
    from posttrain.algos.sft import train_sft
    from posttrain.config import DPOConfig, GRPOConfig, SFTConfig, load_config

    trainers = {"sft": (SFTConfig, train_sft), "dpo": (DPOConfig, train_dpo), "grpo": (GRPOConfig, train_grpo)}
    config_class, train = trainers[algo]
    return train(load_config(config_class, None, values))


if __name__ == "__main__":
    for spec in json.loads(Path(sys.argv[1]).read_text()):
        run(spec["algo"], spec["config"])
