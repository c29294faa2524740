"""Small project-written datasets that ship with the package.

- ``sft_chat.jsonl`` (train) and ``sft_chat_eval.jsonl`` (held out): an instruction-tuning
  chat set used by the quickstart job and the SFT benchmark. Regenerate both with
  ``python -m datagen.make_sft``; README.md in this folder is the data card.
- ``preference_chat.jsonl`` (train) and ``preference_chat_eval.jsonl`` (held out): chosen/rejected
  pairs for DPO and reward-model training (concise and correct vs. rambling, evasive or wrong, plus
  safety refusals). Regenerate both with ``python -m datagen.make_preference``; the
  "Preference set" section of README.md is their data card.
"""

from __future__ import annotations

import os

BUNDLED_DIR = os.path.dirname(os.path.abspath(__file__))
SFT_CHAT = os.path.join(BUNDLED_DIR, "sft_chat.jsonl")
SFT_CHAT_EVAL = os.path.join(BUNDLED_DIR, "sft_chat_eval.jsonl")
PREFERENCE_CHAT = os.path.join(BUNDLED_DIR, "preference_chat.jsonl")
PREFERENCE_CHAT_EVAL = os.path.join(BUNDLED_DIR, "preference_chat_eval.jsonl")

__all__ = ["BUNDLED_DIR", "PREFERENCE_CHAT", "PREFERENCE_CHAT_EVAL", "SFT_CHAT", "SFT_CHAT_EVAL"]
