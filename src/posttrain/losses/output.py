"""What every loss function returns: the scalar to backpropagate and the numbers to log."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass
class LossOutput:
    loss: torch.Tensor  # scalar, mean over the batch; carries the graph
    metrics: dict[str, float] = field(default_factory=dict)  # detached python floats, ready to log
