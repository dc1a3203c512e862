"""glibc's malloc: keep the memory of freed arrays for the next ones.

A training step allocates the same large arrays again and again (the pooling layer's dx in
HW5's network is 6.5 MB). glibc serves an allocation above its mmap threshold with fresh pages
from the kernel and gives them back when it is freed; it raises that threshold as such blocks
are freed, and gives the top of its heap back once more than twice the threshold is free there.
In a training loop an array then often came from pages the kernel had to map again, and every
first write to a 4 KiB page is a page fault (about 4 us each in a VM): the pooling backward pass
took 4-9 ms instead of 0.6 ms (``bench/NOTES.md``).

:func:`keep_freed_memory` fixes both thresholds with ``mallopt`` at ``import intro2ai``: arrays
below :data:`MMAP_THRESHOLD` come from the heap, and up to :data:`TRIM_THRESHOLD` of free heap
is kept for the next ones. Larger arrays (a data set) are still mapped and given back when
freed. A user's own malloc settings (``MALLOC_*_`` or ``GLIBC_TUNABLES``) are left alone, and
without glibc nothing is done. Nothing here may stop ``import intro2ai``.
"""

from __future__ import annotations

import ctypes
import os
import platform

# glibc's largest mmap threshold on 64-bit systems (DEFAULT_MMAP_THRESHOLD_MAX): mallopt
# refuses more.
MMAP_THRESHOLD = 32 << 20
TRIM_THRESHOLD = 128 << 20
# mallopt's parameter numbers (<malloc.h>).
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
USER_VARS = (
    "MALLOC_MMAP_THRESHOLD_",
    "MALLOC_TRIM_THRESHOLD_",
    "MALLOC_TOP_PAD_",
    "MALLOC_MMAP_MAX_",
    "GLIBC_TUNABLES",
)

_status = {"malloc": "not run"}


def status() -> str:
    """What :func:`keep_freed_memory` did in this process (for the benchmark's environment)."""
    return _status["malloc"]


def keep_freed_memory() -> str:
    """Set glibc's thresholds (see the module docstring); returns the status."""
    try:
        _status["malloc"] = _keep_freed_memory()
    except Exception as exc:  # never fail the import over a speed setting
        _status["malloc"] = f"failed ({type(exc).__name__}: {exc})"
    return _status["malloc"]


def _keep_freed_memory() -> str:
    user = [v for v in USER_VARS if v in os.environ]
    if user:
        return f"user set ({', '.join(user)})"
    if platform.libc_ver()[0] != "glibc":
        return "not glibc"
    mallopt = ctypes.CDLL(None).mallopt
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    if not (
        mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    ):
        return "refused by mallopt"
    return "set"
