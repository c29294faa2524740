"""Generate the bundled two-digit addition prompts for RL with a verifiable reward.

Writes ``addition.jsonl`` (train) and ``addition_eval.jsonl`` (held out) next to this file::

    python -m datagen.make_addition

Rows are ``{"prompt": [{"role": "user", "content": "What is 23 + 45?"}], "answer": "68"}``; the
``answer`` field feeds the ``math_correct`` reward. Both operands run over 10..99 (8,100 ordered
pairs). The held-out split is 200 pairs drawn first, so no (a, b) pair is in both files, and the
train file holds 2,000 of the remaining pairs. Deterministic: one seeded ``random.Random``.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from datagen import BUNDLED_DIR

HERE = Path(BUNDLED_DIR)  # where the files go: the package's bundled data
EVAL_SIZE, TRAIN_SIZE, SEED = 200, 2000, 2026


def row(a: int, b: int) -> dict:
    return {"prompt": [{"role": "user", "content": f"What is {a} + {b}?"}], "answer": str(a + b)}


def build() -> tuple[list[dict], list[dict]]:
    pairs = [(a, b) for a in range(10, 100) for b in range(10, 100)]
    random.Random(SEED).shuffle(pairs)
    held, train = pairs[:EVAL_SIZE], pairs[EVAL_SIZE : EVAL_SIZE + TRAIN_SIZE]
    return [row(a, b) for a, b in train], [row(a, b) for a, b in held]


def main() -> None:
    from posttrain.config import write_text_atomic

    train, held = build()
    for name, rows in (("addition.jsonl", train), ("addition_eval.jsonl", held)):
        write_text_atomic(HERE / name, "".join(json.dumps(r) + "\n" for r in rows))
        print(f"wrote {len(rows)} rows to {HERE / name}")


if __name__ == "__main__":
    main()
