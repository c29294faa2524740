"""Owner-only files for feedback data: prompts, answers, judgements, password hashes, the session key.

Everything the feedback store and the served-response log write is private to the user running
posttrain: files are created 0600 and the directories posttrain creates for them 0700. A file
left by an older version with group or other permissions is tightened the next time it is opened
(when this user owns it), so upgrading closes the hole without moving any data.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700


def make_private_dirs(directory: Path) -> None:
    """Create ``directory`` and any missing parents as 0700; directories that already exist are left alone."""
    missing = []
    for path in (directory, *directory.parents):
        if path.exists():
            break
        missing.append(path)
    for path in reversed(missing):
        try:
            os.mkdir(path, PRIVATE_DIR)
        except FileExistsError:  # made by another process meanwhile: theirs to keep as they made it
            pass


def open_private(path: Path, flags: int) -> int:
    """``os.open`` that creates ``path`` 0600 (its missing directories 0700) and tightens an old, wider file."""
    make_private_dirs(path.parent)
    fd = os.open(path, flags | os.O_CREAT, PRIVATE_FILE)
    try:
        _tighten(fd)
    except BaseException:
        os.close(fd)
        raise
    return fd


def ensure_private_file(path: Path) -> None:
    """Create ``path`` empty and 0600 if it is missing, else drop its group and other permissions."""
    os.close(open_private(path, os.O_RDONLY))


def tighten_if_present(path: Path) -> None:
    """Drop group and other permissions of ``path`` when it exists (a SQLite -wal or -shm file)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return
    try:
        _tighten(fd)
    finally:
        os.close(fd)


def _tighten(fd: int) -> None:
    info = os.fstat(fd)
    mode = stat.S_IMODE(info.st_mode)
    # Only the owner may chmod; a file shared with us by someone else stays theirs to decide on.
    if mode & 0o077 and info.st_uid == os.geteuid():
        os.fchmod(fd, mode & 0o700)
