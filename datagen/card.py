"""What the train/held-out set generators share: writing their JSONL files, their data-card section
(README.md beside the bundled sets, one generated section per generator) and their command line."""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable
from typing import Any

from posttrain.config import write_text_atomic

Sets = dict[str, tuple[list[dict], list[dict]]]  # set name -> (train rows, held-out rows)


def replace_section(path: str, section: str, begin_marker: str, end_marker: str) -> None:
    """Replace the card's section between the two markers with ``section``, or append it if it is missing."""
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    begin, end = text.find(begin_marker), text.find(end_marker)
    if begin >= 0 and end > begin:
        text = text[:begin] + section + text[end + len(end_marker):]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    write_text_atomic(path, text)


def write_sets(sets: Sets, out_dir: str) -> dict[str, str]:
    """Write ``NAME.jsonl`` and ``NAME_eval.jsonl`` per set, atomically; return ``{file name: path}``."""
    written = {}
    for name, (train, held) in sets.items():
        for filename, rows in ((f"{name}.jsonl", train), (f"{name}_eval.jsonl", held)):
            path = os.path.join(out_dir, filename)
            write_text_atomic(path, "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
            written[filename] = path
    return written


def generator_main(argv: list[str] | None, *, description: str, title: str, default_dir: str,
                   build: Callable[[int], Sets], render_section: Callable[[Sets, Any], str],
                   begin_marker: str, end_marker: str) -> None:
    """The command line of a set generator: ``[--seed N] [--out-dir DIR] [--card]``.

    Builds the sets, writes them, and with ``--card`` rewrites the generator's ``title`` section of the
    README.md in the output directory (token counts need the embedded tokenizer; skipped without it).
    """
    from datagen.make_sft import load_tokenizer

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out-dir", default=default_dir, help="where to write the files (default: next to this module)")
    parser.add_argument("--card", action="store_true", help=f"also rewrite the '{title}' section of README.md")
    args = parser.parse_args(argv)
    sets = build(args.seed)
    os.makedirs(args.out_dir, exist_ok=True)
    for path in write_sets(sets, args.out_dir).values():
        with open(path, encoding="utf-8") as handle:
            print(f"wrote {sum(1 for _ in handle)} rows to {path}")
    if args.card:
        card_path = os.path.join(args.out_dir, "README.md")
        if not os.path.exists(card_path):
            write_text_atomic(card_path, "")
        tokenizer = load_tokenizer()
        replace_section(card_path, render_section(sets, tokenizer), begin_marker, end_marker)
        print(f"updated {card_path}" + ("" if tokenizer is not None else " (no tokenizer: token counts skipped)"))
