"""Pieces every training loop shares: optimizer and schedule, checkpoints, metrics logging."""
