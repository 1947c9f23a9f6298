"""glibc's malloc, set up for a server's allocation pattern.

A request body arrives as one ``bytes`` object per read (up to 256 KiB on uvloop),
lives for one request, and is freed; a busy server frees and allocates such blocks
many times a second. glibc hands the top of its heap back to the kernel as soon as
128 KiB of it is free (``M_TRIM_THRESHOLD``'s default), so the next body grows the
heap again and every page of it is faulted in and zeroed anew: sixteen page faults
per 64 KiB body, on every request. Measured here (POST echo of 64 KiB, 64
connections, one worker): 86 us of system time per request with the defaults,
36 us with the heap kept; uvicorn 0.54 pays the 86.

So each serving process sets two thresholds once, before it accepts a connection:
blocks under ``MMAP_THRESHOLD`` come from the heap (glibc's own default adapts up
to 32 MiB after the first large block, but only for blocks mapped on their own,
never for the mid-sized ones that churn), and up to ``TRIM_THRESHOLD`` of free
heap is kept rather than returned. The cost is bounded: at most ``TRIM_THRESHOLD``
of free memory stays resident per process after a burst.

Setting either threshold fixes both (glibc then stops adapting), so a process
whose environment already chooses malloc's behaviour (``MALLOC_*_`` variables or
``GLIBC_TUNABLES`` with a ``glibc.malloc`` tunable) is left as it is:
``MALLOC_TRIM_THRESHOLD_=131072`` restores glibc's default. Other C libraries
(musl, macOS) are left alone.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping

__all__ = ["MMAP_THRESHOLD", "TRIM_THRESHOLD", "tune_allocator"]

logger = logging.getLogger("uvicorn.error")

MMAP_THRESHOLD = 4 * 1024 * 1024  # blocks this large or larger get a mapping of their own
TRIM_THRESHOLD = 16 * 1024 * 1024  # free heap kept before any of it is returned

# mallopt() parameters, from glibc's <malloc.h>
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3

_USER_SETTINGS = (
    "MALLOC_TRIM_THRESHOLD_",
    "MALLOC_MMAP_THRESHOLD_",
    "MALLOC_TOP_PAD_",
    "MALLOC_MMAP_MAX_",
)


def _user_configured(environ: Mapping[str, str]) -> bool:
    if any(name in environ for name in _USER_SETTINGS):
        return True
    return "glibc.malloc." in environ.get("GLIBC_TUNABLES", "")


def tune_allocator(environ: Mapping[str, str] | None = None) -> bool:
    """Set the heap thresholds in this process; True if they are set.

    Called by each serving process (a worker, or the single process), not by a
    supervisor that only forks and waits.
    """
    if not sys.platform.startswith("linux"):
        return False
    if _user_configured(os.environ if environ is None else environ):
        logger.debug("malloc left as the environment sets it")
        return False
    try:
        if not os.confstr("CS_GNU_LIBC_VERSION"):
            return False
    except (ValueError, OSError):  # not glibc (musl has no such name)
        return False
    try:
        import ctypes

        mallopt = ctypes.CDLL(None).mallopt
    except (ImportError, OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    if not (
        mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) and mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    ):
        return False
    logger.debug(
        "malloc: heap blocks up to %d bytes, %d bytes of free heap kept",
        MMAP_THRESHOLD,
        TRIM_THRESHOLD,
    )
    return True
