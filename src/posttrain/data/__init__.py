"""Data: from rows in files to the token ids and loss masks trainers consume.

``conversation`` (the message format and its checks), ``render`` (the one contract between data and
loss: ``render(conversation) -> (input_ids, loss_mask)`` through the chat template, also used by
the rollout engine and the server), ``readers`` (JSONL, JSON, CSV, Parquet, saved HF datasets, hub
ids, ``bundled:NAME``), ``formats`` (sft, preference, unpaired, prompts, auto-detection) with
``conversions`` (ShareGPT, Alpaca, Anthropic HH), ``batching`` (micro-batches that spend almost
nothing on padding, in a seeded, resumable order) and ``bundled/`` (the datasets that ship with the package, with their card).
"""
