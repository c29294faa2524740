"""Rollout: batched sampling with a KV cache (``generate``), the base of the RL rollout engine."""
