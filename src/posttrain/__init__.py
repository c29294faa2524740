"""posttrain: turn a pretrained language model into a helpful, safe assistant.

Stages live in their own sub-packages: ``data`` (conversations, rendering, readers, batching),
``models`` (loading, LoRA, log-prob helpers, saving), ``losses`` (pure tensor functions),
``algos`` (one training loop per algorithm) and ``cli`` (the ``posttrain`` command).
"""

__version__ = "0.1.0"
