"""Pieces every training loop shares.

- ``loop``: the ``Run`` object, the step loop (the one place the optimizer steps), evaluation hooks, the run's end.
- ``optim``: AdamW and the warmup + cosine/linear/constant schedule.
- ``checkpoint``: ``checkpoints/step-N`` with everything exact resume needs.
- ``metrics``: metrics.jsonl and the trackers (TensorBoard, W&B, MLflow, Trackio).
- ``device``, ``precision``, ``memory``: device choice, bf16/float32 handling, memory figures.
- ``distributed``: DDP/FSDP2 wrapping, sharding, and the forward/backward helpers that balance ranks.
"""
