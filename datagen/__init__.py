"""Generators of the data posttrain ships: tools for making data, not part of the installed package.

Run from the repository root, e.g. ``python -m datagen.make_code``; each writes its files into the
package's data folders below and, with ``--card``, its section of the folder's README (the data card).
"""

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BUNDLED_DIR = str(REPO / "src" / "posttrain" / "data" / "bundled")  # training sets: bundled:NAME
EVAL_DATA_DIR = str(REPO / "src" / "posttrain" / "eval" / "data")  # evaluation suites' items
