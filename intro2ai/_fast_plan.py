"""How the fast layers lay out their work, and the threads that do it.

:func:`plan` chooses, for one convolution of the compiled core, one of the layouts of
:mod:`intro2ai._fast_layouts` (:data:`LAYOUTS`), how many images a chunk holds, how many of our
threads share the chunks and how many columns (of ``H_out * W_out``) one GEMM takes.
:func:`run_parallel` runs Python chunks (GEMMs through NumPy) on those threads;
:func:`run_shared` runs jobs of the compiled core whose chunks the threads claim inside the
core.

What the plan would choose by size can be overridden, for the tests and the benchmark, by
:func:`overriding` (behind ``intro2ai.fast_layers.use_layout``): a :class:`Settings` held in a
context variable, so an override is seen by the thread that set it and lasts as long as its
``with`` block. The values that decide by size are constants here; the measurements behind
them are in ``bench/NOTES.md``.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import contextvars
import dataclasses
import os
import threading
from collections.abc import Iterator
from typing import Any, NamedTuple

from intro2ai import _extension

LAYOUTS = ("winograd", "direct", "chunked", "merged", "batched")

# OpenBLAS gives a GEMM t threads only when m*n*k >= t * 65536 * 4 (interface/gemm.c): with
# two or more cores it threads the GEMMs from this size on. Layers whose per-image GEMMs are
# that big are left to OpenBLAS's threads (ours and its would fight for the cores, and its idle
# threads keep spinning after a threaded call).
BLAS_THREADED_MIN = 2 * 65536 * 4
# Every threaded GEMM is a synchronisation point of OpenBLAS's threads, slow on a busy machine:
# per-image GEMMs from this size on (its single-thread threshold) are merged into one GEMM per
# operation over a K-major cols buffer; smaller ones stay batched.
MERGE_GEMMS_MIN = 65536 * 4
# The chunked layout's cols of a chunk of images (at most this many bytes, at least one image)
# stay in the L2 cache while the GEMMs use them. Used when one image's cols fit in twice this.
CHUNK_BYTES = 1 << 20
# Layers with fewer multiply-adds stay on one thread (thread hand-offs would cost more).
PARALLEL_MIN_MACS = 1 << 21
# A chunked layout forced on GEMMs OpenBLAS would thread splits the H_out*W_out axis into
# blocks below its threshold, but never narrower than this (narrower GEMMs are inefficient).
MIN_BLOCK = 32
# The direct kernels compute dx with the C input channels as output channels, in tiles of 4 or
# 8 filters: with fewer channels most of each tile can be wasted and the GEMM + col2im is
# faster. From this many channels on dx is direct whatever the tile (see
# _fast_layouts.direct_dx_pays for fewer).
DIRECT_DX_MIN_C = 4
# 3x3 stride-1 layers with at least this many input and output channels take the Winograd
# layout: its GEMMs over channels are then big enough to run near the GEMM rate.
WINOGRAD_MIN_CHANNELS = 32
# Pooling kernels run on our threads from this many input elements on.
POOL_PARALLEL_MIN = 1 << 18
# At most this many threads of ours, whatever the core count.
MAX_WORKERS = 4
# After a job of the compiled core a worker may spin this long (seconds, without the GIL) for
# the next one before it sleeps (a sleeping thread is slow to wake, and the scheduler tends to
# put it beside the thread that wakes it). Off: a spinning worker slowed the training step
# (pooling and OpenBLAS's threads run between its conv layers) more than it sped up the
# small layers.
SPIN_S = 0.0
# The calling thread waits for the chunks a worker has claimed spinning this long, then in
# short naps (the worker may need its core).
WAIT_SPIN_S = 2e-4


@dataclasses.dataclass(frozen=True)
class Settings:
    """What :func:`plan` and the layers use; the defaults decide by size.

    Attributes
    ----------
    layout : str or None
        One of :data:`LAYOUTS`, or None to choose by size. A "winograd" layout where it does
        not apply (filters other than 3x3, strides other than 1) is the direct one; a "direct"
        layout without compiled direct kernels is the chunked one.
    threads : int or None
        Threads of ours; None: :func:`workers` (environment, else cores). When set, the
        chunked and direct layouts use them even for small layers.
    chunk_bytes : int
        Bytes of im2col columns per chunk (1 gives one image per chunk).
    block : int or None
        Columns per GEMM in the chunked layout; None chooses by size.
    direct_dx_min_channels : int
        Input channels from which dx goes through the direct kernels.
    pool_parallel_min : int
        Input elements from which pooling runs on our threads.
    backend : str or None
        "numpy" forces the pure-NumPy fallback; None uses the compiled core when built.
    """

    layout: str | None = None
    threads: int | None = None
    chunk_bytes: int = CHUNK_BYTES
    block: int | None = None
    direct_dx_min_channels: int = DIRECT_DX_MIN_C
    pool_parallel_min: int = POOL_PARALLEL_MIN
    backend: str | None = None


# Settings is frozen, so one shared default is safe.
_settings: contextvars.ContextVar[Settings] = contextvars.ContextVar(
    "intro2ai_fast_settings",
    default=Settings(),  # noqa: B039
)


def current() -> Settings:
    """The settings in effect in this thread."""
    return _settings.get()


@contextlib.contextmanager
def overriding(**changes: Any) -> Iterator[Settings]:
    """Override fields of :class:`Settings` (None values are ignored) inside a ``with`` block."""
    changes = {k: v for k, v in changes.items() if v is not None}
    if changes.get("layout") not in (None, *LAYOUTS):
        raise ValueError(f"layout must be one of {LAYOUTS} or None, got {changes['layout']!r}")
    if changes.get("backend") not in (None, "numpy", "cython"):
        raise ValueError(f"backend must be 'numpy', 'cython' or None, got {changes['backend']!r}")
    token = _settings.set(dataclasses.replace(current(), **changes))
    try:
        yield current()
    finally:
        _settings.reset(token)


def backend() -> tuple[str, Any]:
    """("cython", module) or ("numpy", None): the kernels the fast layers use now."""
    if current().backend == "numpy":
        return "numpy", None
    return _extension.backend()


def simd_level(mod: Any) -> int:
    """SIMD level of the compiled direct-convolution kernels (-1: none; see _direct_conv.h)."""
    return -1 if mod is None else int(getattr(mod, "DIRECT_SIMD_LEVEL", -1))


# ----------------------------------------------------------------------------- threads


def workers() -> int:
    """Threads of ours: the settings' ``threads``, else INTRO2AI_NUM_THREADS, else
    OMP_/OPENBLAS_NUM_THREADS, else the usable cores (at most :data:`MAX_WORKERS`)."""
    forced = current().threads
    if forced is not None:
        return max(1, int(forced))
    for var in ("INTRO2AI_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        value = os.environ.get(var, "").strip()
        if value.isdigit() and int(value) >= 1:
            return min(int(value), MAX_WORKERS)
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, MAX_WORKERS))


class _Pool:
    """One thread pool per process, grown on demand and made anew after a fork."""

    def __init__(self) -> None:
        self.executor: concurrent.futures.ThreadPoolExecutor | None = None
        self.size = 0
        self.pid: int | None = None
        self.lock = threading.Lock()

    def get(self, size: int) -> concurrent.futures.ThreadPoolExecutor:
        with self.lock:
            if self.size < size or self.pid != os.getpid():
                # After a fork the parent's threads are not ours: never shut them down here.
                if self.executor is not None and self.pid == os.getpid():
                    self.executor.shutdown(wait=False)
                self.executor = concurrent.futures.ThreadPoolExecutor(
                    max_workers=size, thread_name_prefix="intro2ai-conv"
                )
                self.size, self.pid = size, os.getpid()
            return self.executor

    def drop(self) -> None:
        with self.lock:
            if self.executor is not None and self.pid == os.getpid():
                self.executor.shutdown(wait=False)
            self.executor, self.size, self.pid = None, 0, None


_pool = _Pool()


class _Placement:
    """Keeps our worker threads off the CPU of the thread that hands them work.

    A worker sleeps between jobs, and Linux wakes a thread by preference on its waker's CPU.
    After a pause of the program (a student reading output, the benchmark between rounds) the
    woken worker kept landing on the caller's CPU, and for tens of milliseconds the two shared
    one core while the other idled: a small layer then took as long as on one thread
    (``bench/NOTES.md``). So a worker's affinity is the process's CPUs (as it had them when
    intro2ai loaded) less the one the caller runs on, set only when that CPU changes. Where the
    system does not say which CPU a thread runs on, or refuses the affinity, the workers are
    left where the scheduler puts them.
    """

    def __init__(self) -> None:
        try:
            self.cpus = frozenset(os.sched_getaffinity(0))
            self.enabled = hasattr(os, "sched_setaffinity")
        except (AttributeError, OSError):  # not on Linux
            self.cpus, self.enabled = frozenset(), False
        self.where: tuple[int, frozenset] = (-1, frozenset())  # caller's CPU, the others
        self.kept_off: dict[int, int] = {}  # worker's native thread id -> the CPU it avoids
        self.pid = os.getpid()

    def caller(self) -> int:
        """The CPU this thread runs on, or -1 (unknown, or placement off)."""
        mod = _extension.cython_module()
        if not self.enabled or mod is None:
            return -1
        cpu = int(mod.current_cpu())
        if cpu >= 0 and cpu != self.where[0]:
            self.where = (cpu, self.cpus - {cpu})
        return cpu

    def keep_off(self, native_id: int, cpu: int) -> None:
        """Keep the thread ``native_id`` off ``cpu`` (a value of :meth:`caller`)."""
        if self.pid != os.getpid():  # after a fork, thread ids may be reused
            self.kept_off, self.pid = {}, os.getpid()
        where = self.where
        if cpu < 0 or where[0] != cpu or not where[1] or self.kept_off.get(native_id) == cpu:
            return
        try:
            os.sched_setaffinity(native_id, where[1])
        except OSError:
            self.enabled = False
            return
        self.kept_off[native_id] = cpu


_placement = _Placement()


def run_parallel(work: Any, items: list, n_workers: int) -> None:
    """Call ``work(it)`` in ``n_workers`` threads (one of them this one) over one shared
    iterator ``it`` of ``items``: each thread takes the next item when it is done with one,
    so a thread slowed down by other processes simply takes fewer items."""
    n_workers = max(1, min(n_workers, len(items)))
    it = iter(items)  # next() on a list iterator is atomic under the GIL
    if n_workers == 1:
        work(it)
        return
    cpu = _placement.caller()

    def placed(it: Iterator) -> None:
        _placement.keep_off(threading.get_native_id(), cpu)
        work(it)

    futures = []
    try:
        executor = _pool.get(n_workers - 1)
        for _ in range(n_workers - 1):
            futures.append(executor.submit(placed, it))
    except RuntimeError:  # no thread can be started (e.g. a sandbox's process limit)
        _pool.drop()  # this thread does what is left
    try:
        work(it)
    finally:
        # A worker that has not started yet finds nothing left to do: it is cancelled
        # rather than waited for (its thread may not even have a core yet).
        for f in futures:
            f.cancel()
        concurrent.futures.wait(futures)  # never leave a thread writing into our arrays
    for f in futures:
        if not f.cancelled():
            f.result()  # re-raise a worker's exception


class _Spinner:
    """A worker thread of ours for jobs of the compiled core: after each job it spins (in the
    core, without the GIL) for :data:`SPIN_S`, waiting for the next, then sleeps until one is
    posted."""

    def __init__(self, mod: Any) -> None:
        import numpy as np

        self.mod = mod
        self.gen = np.zeros(1, dtype=np.int64)  # jobs posted
        self.jobs: tuple = ()
        self.wake = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="intro2ai-spin", daemon=True)
        self.thread.start()

    def post(self, jobs: tuple) -> None:
        self.jobs = jobs
        self.mod.post(self.gen)
        self.wake.set()

    def _loop(self) -> None:
        seen = 0
        while True:
            gen = self.mod.spin_wait(self.gen, seen, SPIN_S)
            if gen == seen:
                self.wake.wait()
                self.wake.clear()
                continue
            seen = gen
            jobs = self.jobs
            for job in jobs:
                try:
                    job()
                except Exception:  # noqa: S110  (the caller does what this thread did not)
                    pass
            jobs = job = None  # no reference to the caller's arrays while idle


class _Spinners:
    """The spinning workers of this process, started on demand, made anew after a fork."""

    def __init__(self) -> None:
        self.workers: list = []
        self.pid: int | None = None
        self.lock = threading.Lock()

    def get(self, n: int, mod: Any) -> list:
        with self.lock:
            if self.pid != os.getpid():  # after a fork the parent's threads are not ours
                self.workers, self.pid = [], os.getpid()
            try:
                while len(self.workers) < n:
                    self.workers.append(_Spinner(mod))
            except RuntimeError:  # no thread can be started (e.g. a sandbox's process limit)
                pass
            return self.workers[:n]


_spinners = _Spinners()


def run_shared(jobs: list, n_workers: int) -> None:
    """Run ``jobs`` (jobs of the compiled core: callables taking no argument, with ``mod``,
    ``ticket`` and ``n_chunks`` attributes) on ``n_workers`` threads, this one and
    :class:`_Spinner` workers, each calling them in order. A job shares its work among the threads itself:
    with a ticket (two counters: chunks claimed, chunks finished), each call of the core
    claims chunks of images until none is left, without the GIL. This thread does every job
    to the end of its claims and then waits only for the chunks a worker claimed: a worker
    that starts late finds less to do, or nothing, and is never waited for."""
    workers = _spinners.get(n_workers - 1, jobs[0].mod) if n_workers > 1 and jobs else []
    cpu = _placement.caller() if workers else -1
    for worker in workers:
        _placement.keep_off(worker.thread.native_id, cpu)
        worker.post(tuple(jobs))
    for job in jobs:
        job()
    for job in jobs:
        if job.ticket is not None:
            job.mod.wait_done(job.ticket, job.n_chunks, WAIT_SPIN_S)
    for worker in workers:
        worker.jobs = ()  # a worker that has not looked yet finds nothing to do


def share(N: int, n_workers: int, per_thread: int) -> int:
    """Images per chunk of a job shared through a ticket: about ``per_thread`` chunks per
    thread (a thread slowed down by other processes takes fewer)."""
    return max(1, -(-N // (per_thread * n_workers)))


def chunks(N: int, chunk: int) -> list:
    """(n0, n1) image ranges of at most ``chunk`` images covering the batch."""
    return [(a, min(a + chunk, N)) for a in range(0, N, chunk)]


def balanced_chunks(N: int, n_workers: int) -> list:
    """Image ranges for kernels that allocate their own scratch memory: four per thread, to
    balance the load, and no more than that (the whole batch on one thread)."""
    return chunks(N, -(-N // (4 * n_workers)) if n_workers > 1 else N)


def run_by_images(work: Any, N: int, size: int) -> None:
    """Pooling's ``work`` over image ranges covering the batch, on our threads when the layer
    has at least ``pool_parallel_min`` elements."""
    n = min(workers(), N) if size >= current().pool_parallel_min else 1
    run_parallel(work, balanced_chunks(N, n), n)


# ----------------------------------------------------------------------------- planner


class Plan(NamedTuple):
    layout: str  # one of LAYOUTS
    chunk: int  # images per chunk (direct and chunked layouts)
    workers: int  # threads (winograd, direct and chunked layouts)
    block: int  # columns (of H_out*W_out) per GEMM (chunked layout, dx of the direct one)


def plan(
    N: int,
    F: int,
    K: int,
    P: int,
    itemsize: int,
    layout: str | None = None,
    stride: int = 1,
    simd: int = -1,
    filt: tuple = (0, 0),
) -> Plan:
    """How the compiled-core convolution lays out its work for this size (or this layout).

    ``K = C*HH*WW``, ``P = H_out*W_out`` and ``filt = (HH, WW)``; ``simd`` is the compiled
    core's direct-convolution level: with SIMD kernels (level 1 or 2) the direct layout is
    taken at stride 1 (or for 3x3 filters between many channels the Winograd one) and, at other
    strides, for layers whose per-image GEMMs OpenBLAS would not thread. Without them, per-image
    GEMMs too small for OpenBLAS to thread, whose cols fit in the L2 cache, take the chunked
    layout on our threads; bigger ones are left to OpenBLAS, merged into one GEMM per operation
    or batched.
    """
    s = current()
    per_image = K * P * itemsize
    winograd = tuple(filt) == (3, 3) and stride == 1 and simd >= 0
    layout = layout or s.layout
    if layout is None:
        if winograd and simd >= 1 and min(K // 9, F) >= WINOGRAD_MIN_CHANNELS:
            layout = "winograd"
        elif simd >= 1 and (stride == 1 or F * K * P < BLAS_THREADED_MIN):
            layout = "direct"
        elif per_image <= 2 * s.chunk_bytes and F * K * P < BLAS_THREADED_MIN:
            layout = "chunked"
        elif F * K * P >= MERGE_GEMMS_MIN and N > 1:
            layout = "merged"
        else:
            layout = "batched"
    if layout == "winograd" and not winograd:
        layout = "direct"
    if layout == "direct" and simd < 0:
        layout = "chunked"
    n_workers, block = 1, P
    if layout in ("chunked", "direct", "winograd") and N > 1:
        # Each thread keeps its GEMMs below OpenBLAS's threading threshold.
        small = max(1, (BLAS_THREADED_MIN - 1) // max(1, F * K))
        if s.block is not None:
            small = s.block
        # Blocks too narrow for an efficient GEMM: whole images, which OpenBLAS may thread.
        if small >= P or small >= MIN_BLOCK or s.block is not None:
            block = small
            if s.threads is not None or N * F * K * P >= PARALLEL_MIN_MACS:
                n_workers = min(workers(), N)
        elif layout != "chunked" and N * F * K * P >= PARALLEL_MIN_MACS:
            n_workers = min(workers(), N)  # its own kernels are not BLAS: always ours
    chunk = max(1, s.chunk_bytes // per_image)
    if n_workers > 1:  # enough chunks for the threads to balance their loads
        chunk = min(chunk, -(-N // (4 * n_workers)))
    return Plan(layout, chunk, n_workers, min(block, P))
