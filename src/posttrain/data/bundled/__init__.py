"""Small project-written datasets that ship with the package, named in configs as ``bundled:NAME``.

Each set is ``NAME.jsonl`` (train) plus ``NAME_eval.jsonl`` (held out); README.md in this folder is
their data card. The generators live outside the package, in ``datagen/`` (``python -m datagen.make_X``).

| set | rows for | made by |
|---|---|---|
| ``sft_chat`` | SFT: an instruction-tuning chat set (the SFT benchmark) | ``make_sft`` |
| ``preference_chat`` | DPO / reward model: concise and correct vs rambling, evasive or wrong | ``make_preference`` |
| ``capability_sft`` | SFT: math, instruction following, tool calls, multi-turn, style | ``make_capability`` |
| ``capability_preference`` | DPO on the same capabilities | ``make_capability`` |
| ``capability_rl_math``, ``capability_rl_ifeval`` | GRPO prompts with a verifiable answer or constraint | ``make_capability`` |
| ``judgement_sft``, ``judgement_preference`` | refusing harmful requests (also in jailbreak wrappers), helping with benign ones | ``make_judgement`` |
| ``code_sft``, ``code_rl`` | code answers, and code prompts with hidden tests for the sandboxed reward | ``make_code`` |
| ``addition`` | GRPO prompts: two-digit additions with their answer (``recipes/grpo_addition.yaml``) | ``make_addition`` |
"""

from __future__ import annotations

import os

BUNDLED_DIR = os.path.dirname(os.path.abspath(__file__))
SFT_CHAT = os.path.join(BUNDLED_DIR, "sft_chat.jsonl")
SFT_CHAT_EVAL = os.path.join(BUNDLED_DIR, "sft_chat_eval.jsonl")
PREFERENCE_CHAT = os.path.join(BUNDLED_DIR, "preference_chat.jsonl")
PREFERENCE_CHAT_EVAL = os.path.join(BUNDLED_DIR, "preference_chat_eval.jsonl")

__all__ = ["BUNDLED_DIR", "PREFERENCE_CHAT", "PREFERENCE_CHAT_EVAL", "SFT_CHAT", "SFT_CHAT_EVAL"]
