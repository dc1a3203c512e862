"""OpenBLAS's idle threads: let them sleep right after a job instead of spinning.

After each threaded call OpenBLAS's worker threads spin, waiting for the next job, for
2**OPENBLAS_THREAD_TIMEOUT CPU cycles (default 2**28, about 0.1 s here) before they sleep. A
training step is shorter than that, so in a training loop they never sleep: right after the
affine layers' GEMMs a spinning worker holds a core while the fast layers' own threads (and
everything else) want it. ``OPENBLAS_THREAD_TIMEOUT=4`` (the minimum, 16 cycles) lets them
sleep at once; waking them for the next threaded GEMM costs microseconds.

OpenBLAS reads the variable when it loads, and a notebook imports NumPy (and so OpenBLAS)
before ``intro2ai``. So :func:`quiet_openblas` sets it before NumPy loads when it can, and
otherwise has NumPy's OpenBLAS read its environment again and restart its thread pool, which
takes the new timeout (the same shutdown OpenBLAS does itself around ``fork``). That restart
must not happen while another thread is inside a BLAS call; it happens once, at
``import intro2ai``.

``OPENBLAS_THREAD_TIMEOUT`` set by the user (any value) is left alone, and so is a BLAS that is
not OpenBLAS with its own pthreads pool. Nothing here may stop ``import intro2ai``: any failure
leaves OpenBLAS as it was and is reported by :func:`status` only.
"""

from __future__ import annotations

import os
import sys

VAR = "OPENBLAS_THREAD_TIMEOUT"
TIMEOUT = "4"

# What quiet_openblas did: "env before numpy", "restarted", "user set", "not needed (...)",
# "skipped (...)" or "failed (...)".
_status = {"openblas": "not run"}


def status() -> str:
    """What :func:`quiet_openblas` did in this process (for the benchmark's environment)."""
    return _status["openblas"]


def quiet_openblas() -> str:
    """Make OpenBLAS's idle threads sleep at once (see the module docstring); returns the status."""
    try:
        _status["openblas"] = _quiet_openblas()
    except Exception as exc:  # never fail the import over a speed setting
        _status["openblas"] = f"failed ({type(exc).__name__}: {exc})"
    return _status["openblas"]


def _quiet_openblas() -> str:
    if VAR in os.environ:
        return "user set"
    if "numpy" not in sys.modules:
        # OpenBLAS loads with NumPy and reads its environment then; the variable is removed
        # again afterwards so that child processes start with the environment they were given.
        os.environ[VAR] = TIMEOUT
        try:
            import numpy  # noqa: F401
        finally:
            os.environ.pop(VAR, None)
        return "env before numpy"
    # threadpoolctl finds the OpenBLAS NumPy loaded (bundled or the system's) and its
    # threading layer; only the pthreads build has the spinning pool.
    from threadpoolctl import ThreadpoolController

    libs = ThreadpoolController().select(internal_api="openblas").lib_controllers
    if not libs:
        return "not needed (no OpenBLAS loaded)"
    done = []
    for lib in libs:
        if getattr(lib, "threading_layer", None) != "pthreads" or lib.num_threads <= 1:
            continue
        dll = lib.dynlib
        read_env = getattr(dll, "openblas_read_env", None)
        shutdown = getattr(dll, "blas_thread_shutdown_", None)
        if read_env is None or shutdown is None:
            continue
        os.environ[VAR] = TIMEOUT
        try:
            read_env()
        finally:
            os.environ.pop(VAR, None)
        # The next threaded call starts the pool again (blas_thread_init), with the timeout
        # just read.
        shutdown()
        done.append(lib.prefix)
    if not done:
        return "not needed (OpenBLAS single-threaded or not pthreads)"
    return "restarted"
