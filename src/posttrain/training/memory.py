"""Keep peak memory honest on CPU: give freed activation memory back to the OS.

glibc raises its mmap threshold after large blocks are freed, so later activation tensors land
on the heap, fragment it, and resident memory ratchets up step after step. Pinning the
threshold makes every large tensor its own mapping, returned to the system when freed.
"""

from __future__ import annotations

import ctypes
import sys

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3


def return_freed_memory(threshold: int = 1 << 20) -> bool:
    """Pin glibc's mmap and trim thresholds (Linux only; a no-op elsewhere)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    return bool(libc.mallopt(M_MMAP_THRESHOLD, threshold)) and bool(libc.mallopt(M_TRIM_THRESHOLD, threshold))
