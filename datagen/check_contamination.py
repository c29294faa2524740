"""The contamination check: no evaluation prompt may appear in any data set the package ships.

    python -m datagen.check_contamination          # one line per evaluation file; exit 1 on any overlap

Compares every user turn of every evaluation file (``src/posttrain/eval/data/*.jsonl``) with every
user turn of every shipped training file, held-out splits included (``src/posttrain/data/bundled/
*.jsonl``), after the suites' normalisation (lowercase, punctuation dropped, whitespace collapsed),
and code-suite function names with the function names the code sets teach. The generators run the
same comparison before they write; this script checks what is actually on disk, and the test suite
runs it (``tests/data/test_contamination.py``).
"""

from __future__ import annotations

import argparse
import glob
import os
import re
import sys

from datagen import BUNDLED_DIR, EVAL_DATA_DIR
from datagen.make_eval import normalise_prompt, read_jsonl, user_turns

DEF = re.compile(r"def (\w+)\(")


def taught_functions(rows: list[dict]) -> set[str]:
    """Names of the functions a data set's answers define (assistant turns and ``chosen`` texts)."""
    names: set[str] = set()
    for row in rows:
        turns = [m for m in row.get("messages", []) if isinstance(m, dict)]
        texts = [m.get("content") for m in turns if m.get("role") == "assistant"]
        texts += [row.get(key) for key in ("chosen", "completion", "solution")]
        names.update(name for text in texts if isinstance(text, str) for name in DEF.findall(text))
    return names


def find_overlaps(eval_dir: str = EVAL_DATA_DIR, train_dir: str = BUNDLED_DIR) -> dict[str, list[str]]:
    """``{eval file: [what of it is in training data, with the training file]}``."""
    train: dict[str, str] = {}
    functions: dict[str, str] = {}
    for path in sorted(glob.glob(os.path.join(train_dir, "*.jsonl"))):
        rows = read_jsonl(path)
        name = os.path.basename(path)
        for row in rows:
            for turn in user_turns(row):
                train.setdefault(normalise_prompt(turn), name)
        for function in taught_functions(rows):
            functions.setdefault(function, name)
    found: dict[str, list[str]] = {}
    for path in sorted(glob.glob(os.path.join(eval_dir, "*.jsonl"))):
        rows = read_jsonl(path)
        hits = [f"prompt {turn!r} is in {train[normalise_prompt(turn)]}"
                for row in rows for turn in user_turns(row) if normalise_prompt(turn) in train]
        hits += [f"code task {row['entry_point']!r} is taught in {functions[row['entry_point']]}"
                 for row in rows if row.get("entry_point") in functions]
        found[os.path.basename(path)] = hits
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--eval-dir", default=EVAL_DATA_DIR)
    parser.add_argument("--train-dir", default=BUNDLED_DIR)
    args = parser.parse_args(argv)
    found = find_overlaps(args.eval_dir, args.train_dir)
    if not found:
        print(f"error: no evaluation files in {args.eval_dir}", file=sys.stderr)
        return 2
    for name, hits in found.items():
        print(f"{name}: {'clean' if not hits else f'{len(hits)} in training data'}")
        for hit in hits[:10]:
            print(f"  {hit}")
    return 1 if any(found.values()) else 0


if __name__ == "__main__":
    raise SystemExit(main())
