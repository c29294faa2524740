"""The data card (README.md beside the bundled sets) has one generated section per generator."""

from __future__ import annotations

from posttrain.config import write_text_atomic


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
