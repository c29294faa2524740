"""Losses as pure functions of tensors (log-probs, rewards, masks in; loss and metrics out)."""
