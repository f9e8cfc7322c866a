"""The daemon's own memory and descriptor limits (glibc malloc, RLIMIT_NOFILE)."""
from __future__ import annotations

import ctypes
import resource

#: mallopt(3) parameters (glibc's malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


def keep_freed_memory() -> bool:
    """Ask glibc's malloc to keep big freed blocks instead of unmapping them.

    By default a block of more than 128 KiB (a batch's frame, a 64 KiB
    message's copy) is mmap'ed and unmapped on free, so each one faults its
    pages in afresh: measured, that is a fifth of the daemon's time in 4 KiB
    batches.  What is kept is given back by :func:`malloc_trim` once much has
    been freed.  Only the daemon's own process is tuned.  False where malloc
    is not glibc's.
    """
    try:
        libc = ctypes.CDLL(None)
        return bool(libc.mallopt(_M_MMAP_THRESHOLD, 32 * 1024 * 1024)
                    and libc.mallopt(_M_TRIM_THRESHOLD, 64 * 1024 * 1024))
    except (OSError, AttributeError):
        return False


def malloc_trim() -> bool:
    """glibc's malloc_trim(0): return free heap pages to the system."""
    try:
        return bool(ctypes.CDLL(None).malloc_trim(0))
    except (OSError, AttributeError):
        return False


def raise_nofile_limit() -> int:
    """Raise RLIMIT_NOFILE's soft limit to its hard limit: every segment and
    every connection holds a descriptor here.  Returns the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass
    return soft
