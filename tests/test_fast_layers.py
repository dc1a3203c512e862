"""Fast layers: fast == naive over random geometries, adjointness, backends agree, tie rule.

Oracles: the naive reference layers (``intro2ai.layers``), an independent loop oracle for
max pooling and ``scipy.signal.correlate`` for the convolution (both in ``conftest.py``).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import (
    conv_arrays,
    conv_cases,
    conv_dw_oracle,
    conv_oracle,
    pool_arrays,
    pool_cases,
    pool_loop_oracle,
)
from intro2ai import _extension, _fast_plan, _im2col_numpy, fast_layers, layers

# float64 results differ from the naive loops only by summation order.
RTOL64 = 1e-10
# float32: sums of up to C*HH*WW ~ 50 products of N(0, 1) values, relative to their scale.
RTOL32 = 2e-5

HYP = settings(
    max_examples=100, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)

HAS_CYTHON = _extension.is_built()
BACKENDS = ["cython", "numpy"] if HAS_CYTHON else ["numpy"]


def _close(actual, desired, dtype, what):
    """Assert closeness with an atol scaled to the magnitude of ``desired``."""
    rtol = RTOL64 if np.dtype(dtype) == np.float64 else RTOL32
    scale = max(1.0, float(np.abs(desired).max(initial=0.0)))
    np.testing.assert_allclose(actual, desired, rtol=rtol, atol=rtol * scale, err_msg=what)


@pytest.fixture(params=BACKENDS)
def backend(request):
    """Run a test once with the compiled kernels and once with the NumPy fallback."""
    with fast_layers.use_layout(backend="numpy" if request.param == "numpy" else None):
        yield request.param


# ----------------------------------------------------------------------------- convolution


# fast_layers.use_layout settings that force each layout of the compiled core: one merged GEMM
# over a K-major cols buffer (when N > 1), batched per-image GEMMs over the whole cols array,
# and the chunked layout (cols made a few images at a time and recomputed in the backward
# pass) on one thread or shared by two or three threads, one image per chunk or several,
# GEMMs over whole images or over blocks of columns (with a remainder when the block does
# not divide H_out*W_out), and the direct layout (the compiled direct kernels, no im2col, at
# the best SIMD level this CPU runs; at strides above 1 on the image's phases, dx by GEMM +
# col2im in the compiled core) on one thread with dx by that GEMM + col2im for one or two
# channels (three fill a tile of 4 filters: direct), on two threads, or on three with dx by the
# direct kernels too (where pad < filter size; else GEMM + col2im), and the Winograd layout
# (3x3 filters at stride 1; other filters and strides: the direct layout) likewise, its dx by
# Winograd where the direct one's would be direct.
LAYOUTS = {
    "winograd": dict(layout="winograd", threads=1),
    "winograd-3threads-dx": dict(layout="winograd", threads=3, direct_dx_min_channels=1),
    "direct": dict(layout="direct", threads=1),
    "direct-2threads": dict(layout="direct", threads=2),
    "direct-3threads-dx": dict(layout="direct", threads=3, chunk_bytes=1, direct_dx_min_channels=1),
    "merged": dict(layout="merged"),
    "batched": dict(layout="batched"),
    "chunked": dict(layout="chunked", threads=1),
    "chunked-1img-2threads": dict(layout="chunked", threads=2, chunk_bytes=1),
    "chunked-2threads-blocks": dict(layout="chunked", threads=2, block=2),
    "chunked-1img-3threads-blocks": dict(layout="chunked", threads=3, chunk_bytes=1, block=3),
}


def _layout(name):
    """Force one GEMM layout (usable inside hypothesis tests)."""
    return fast_layers.use_layout(**LAYOUTS[name])


@HYP
@given(case=conv_cases(), layout=st.sampled_from(sorted(LAYOUTS)))
def test_conv_fast_equals_naive(case, layout):
    rng, x, w, b, cp = conv_arrays(case)
    out_naive, cache_naive = layers.conv_forward_naive(x, w, b, cp)
    dout = rng.standard_normal(out_naive.shape).astype(case["dtype"])
    grads_naive = layers.conv_backward_naive(dout, cache_naive)
    for fwd, bwd in [
        (fast_layers.conv_forward_fast, fast_layers.conv_backward_fast),
        (fast_layers.conv_forward_strides, fast_layers.conv_backward_strides),
    ]:
        with _layout(layout):
            out, cache = fwd(x, w, b, cp)
            grads = bwd(dout, cache)
            dx_none, dw_only, db_only = bwd(dout, cache, need_dx=False)  # first-layer shortcut
        assert out.dtype == x.dtype and out.shape == out_naive.shape
        assert out.flags.c_contiguous
        _close(out, out_naive, case["dtype"], f"{fwd.__name__} out, {layout}, case {case}")
        for name, g, g_ref, inp in zip(("dx", "dw", "db"), grads, grads_naive, (x, w, b)):
            assert g.dtype == inp.dtype and g.shape == inp.shape, (name, g.dtype, g.shape)
            _close(g, g_ref, case["dtype"], f"{bwd.__name__} {name}, {layout}, case {case}")
        assert dx_none is None
        np.testing.assert_array_equal(dw_only, grads[1])
        np.testing.assert_array_equal(db_only, grads[2])


@HYP
@given(case=conv_cases(), layout=st.sampled_from(sorted(LAYOUTS)))
def test_conv_backends_agree(case, layout):
    """The compiled kernels (either GEMM layout) and the NumPy fallback give the same numbers."""
    if not HAS_CYTHON:
        pytest.skip("Cython extension not built")
    rng, x, w, b, cp = conv_arrays(case)
    dout = rng.standard_normal(layers.conv_forward_naive(x, w, b, cp)[0].shape).astype(
        case["dtype"]
    )
    with _layout(layout):
        out_c, cache_c = fast_layers.conv_forward_fast(x, w, b, cp)
        grads_c = fast_layers.conv_backward_fast(dout, cache_c)
    if layout == "merged" and case["N"] > 1:
        assert not cache_c.cols.flags.c_contiguous  # really the K-major buffer
    if layout.startswith(("chunked", "direct", "winograd")):
        assert cache_c.cols is None  # the backward pass recomputes the columns
    else:
        cols_np = _im2col_numpy.im2col(x, case["HH"], case["WW"], case["pad"], case["stride"])
        np.testing.assert_array_equal(cache_c.cols, cols_np)  # im2col is a pure copy
    with fast_layers.use_layout(backend="numpy"):
        out_n, cache_n = fast_layers.conv_forward_fast(x, w, b, cp)
        grads_n = fast_layers.conv_backward_fast(dout, cache_n)
    _close(out_c, out_n, case["dtype"], f"out cython ({layout}) vs numpy")
    for name, gc, gn in zip(("dx", "dw", "db"), grads_c, grads_n):
        _close(gc, gn, case["dtype"], f"{name} cython vs numpy, case {case}")


@pytest.mark.parametrize(
    "xs, ws, stride, pad",
    [
        ((1, 1, 5, 5), (1, 1, 3, 3), 1, 0),  # batch 1, one channel
        ((2, 3, 6, 5), (4, 3, 3, 2), 1, 1),  # non-square filter 3x2
        ((2, 2, 5, 9), (3, 2, 1, 5), 2, 2),  # 1x5 filter, stride 2
        ((1, 2, 7, 7), (2, 2, 3, 3), 3, 1),  # stride 3
        ((2, 1, 3, 4), (2, 1, 2, 2), 1, 3),  # pad larger than the filter
        ((1, 1, 1, 1), (1, 1, 3, 3), 1, 1),  # 1x1 input, everything from the padding
        ((2, 3, 31, 31), (5, 3, 3, 3), 2, 1),  # the seed's (H + 2*pad - HH) / stride case
        ((9, 2, 11, 6), (3, 2, 3, 4), 3, 2),  # odd batch: uneven chunks and thread shares
        ((3, 4, 7, 6), (5, 4, 3, 3), 1, 2),  # 3x3, pad 2: Winograd with odd output sizes
        ((2, 5, 9, 8), (6, 5, 3, 3), 1, 0),  # 3x3, pad 0 (dx padded by 2)
        ((2, 3, 4, 4), (2, 3, 3, 3), 1, 4),  # 3x3, pad beyond the filter
    ],
)
@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_conv_fixed_geometries(backend, layout, xs, ws, stride, pad):
    rng = np.random.default_rng(0)
    with _layout(layout):
        for dt in (np.float32, np.float64):
            x = rng.standard_normal(xs).astype(dt)
            w = rng.standard_normal(ws).astype(dt)
            b = rng.standard_normal(ws[0]).astype(dt)
            cp = {"stride": stride, "pad": pad}
            out, cache = fast_layers.conv_forward_fast(x, w, b, cp)
            ref, ref_cache = layers.conv_forward_naive(x, w, b, cp)
            _close(out, ref, dt, f"out {xs} {ws} {cp}")
            dout = rng.standard_normal(out.shape).astype(dt)
            for name, g, r in zip(
                ("dx", "dw", "db"),
                fast_layers.conv_backward_fast(dout, cache),
                layers.conv_backward_naive(dout, ref_cache),
            ):
                assert g.dtype == dt
                _close(g, r, dt, f"{name} {xs} {ws} {cp}")


@pytest.mark.parametrize("xs, ws, stride, pad", [((9, 3, 11, 11), (5, 3, 3, 3), 2, 1)])
def test_conv_threads_same_numbers(xs, ws, stride, pad):
    """Threads share the direct layout's images through a counter, so which thread does which
    chunk changes from call to call; the results must not (dw's partial sums per chunk are
    added up in chunk order)."""
    if not HAS_CYTHON:
        pytest.skip("Cython extension not built")
    rng = np.random.default_rng(1)
    x = rng.standard_normal(xs)
    w = rng.standard_normal(ws)
    b = rng.standard_normal(ws[0])
    cp = {"stride": stride, "pad": pad}
    runs = []
    for _ in range(6):
        with fast_layers.use_layout("direct", threads=3):
            out, cache = fast_layers.conv_forward_fast(x, w, b, cp)
            runs.append((out, *fast_layers.conv_backward_fast(np.ones_like(out), cache)))
    for run in runs[1:]:
        for a, r in zip(run, runs[0]):
            np.testing.assert_array_equal(a, r)


def test_conv_plan_for_benchmark_shapes(monkeypatch):
    """The layouts the benchmark shapes take (and so the ones timed by ``make bench``)."""
    monkeypatch.setenv("INTRO2AI_NUM_THREADS", "2")
    plan = _fast_plan.plan
    # Stride 1 with SIMD direct kernels (cases B, C, D and the training step's conv): the
    # direct layout on two threads, whatever the size.
    for simd in (1, 2):
        for N, F, K, P in [(50, 32, 147, 1024), (100, 20, 25, 576), (64, 64, 576, 1024)]:
            p = plan(N, F, K, P, 4, stride=1, simd=simd)
            assert (p.layout, p.workers) == ("direct", 2), p
        p = plan(1, 25, 27, 256, 8, stride=1, simd=simd)
        assert (p.layout, p.workers) == ("direct", 1), p
        # Other strides take it for layers whose GEMMs OpenBLAS would not thread (case A).
        p = plan(100, 25, 27, 256, 8, stride=2, simd=simd)
        assert (p.layout, p.workers, p.block) == ("direct", 2, 256), p
        assert plan(64, 64, 576, 256, 4, stride=2, simd=simd).layout == "merged"
    # 3x3 filters at stride 1 between 32 or more channels (case D): the Winograd layout, on our
    # threads; fewer channels, other filters or strides: as without it.
    for simd in (1, 2):
        p = plan(64, 64, 576, 1024, 4, stride=1, simd=simd, filt=(3, 3))
        assert (p.layout, p.workers) == ("winograd", 2), p
        assert plan(64, 16, 144, 1024, 4, stride=1, simd=simd, filt=(3, 3)).layout == "direct"
        assert plan(64, 64, 576, 256, 4, stride=2, simd=simd, filt=(3, 3)).layout == "merged"
    assert plan(64, 64, 576, 1024, 4, stride=1, simd=0, filt=(3, 3)).layout == "merged"
    # Only the portable kernels (level 0) or none (-1): by size, as below.
    for simd in (-1, 0):
        assert plan(50, 32, 147, 1024, 4, stride=1, simd=simd).layout == "merged"
    # Without SIMD direct kernels, per-image GEMMs too small for OpenBLAS to thread (cases A
    # and C): chunks that stay in L2, shared by two threads, whole-image GEMMs.
    for N, F, K, P in [(100, 25, 27, 256), (100, 20, 25, 576)]:
        for size in (4, 8):
            p = plan(N, F, K, P, size)
            assert (p.layout, p.workers, p.block) == ("chunked", 2, P), p
            assert 1 <= p.chunk and p.chunk * K * P * size <= _fast_plan.CHUNK_BYTES, p
            assert F * K * P < _fast_plan.BLAS_THREADED_MIN
    # GEMMs OpenBLAS threads itself (case B, the training step's conv; case D): one merged
    # GEMM per operation; a single image: batched.
    assert plan(50, 32, 147, 1024, 4).layout == "merged"
    assert plan(64, 64, 576, 1024, 8).layout == "merged"
    assert plan(1, 64, 576, 1024, 8).layout == "batched"
    # A single image or a small layer: no threads.
    assert plan(1, 25, 27, 256, 8)[2:] == (1, 256)
    assert plan(2, 2, 9, 16, 8)[2:] == (1, 16)
    monkeypatch.setenv("INTRO2AI_NUM_THREADS", "1")
    assert plan(100, 25, 27, 256, 8).workers == 1
    assert plan(50, 32, 147, 1024, 4, stride=1, simd=2).workers == 1
    # A chunked layout forced on GEMMs OpenBLAS would thread: column blocks below its size,
    # unless they would be too narrow to be efficient.
    with fast_layers.use_layout("chunked"):
        p = plan(50, 32, 147, 1024, 4)
        assert 32 * 147 * p.block < _fast_plan.BLAS_THREADED_MIN and p.block >= 32, p
        assert plan(8, 256, 64, 64, 4)[2:] == (1, 64)
    # A forced direct layout: taken with any compiled kernels, else the chunked one.
    with fast_layers.use_layout("direct"):
        assert plan(50, 32, 147, 1024, 4, stride=1, simd=0).layout == "direct"
        assert plan(50, 32, 147, 1024, 4, stride=1, simd=-1).layout == "chunked"
        assert plan(50, 32, 147, 1024, 4, stride=2, simd=2).layout == "direct"
    # A forced Winograd layout: 3x3 filters at stride 1 with any compiled kernels, else the
    # direct layout.
    with fast_layers.use_layout("winograd"):
        assert plan(2, 2, 18, 16, 8, stride=1, simd=0, filt=(3, 3)).layout == "winograd"
        assert plan(2, 2, 18, 16, 8, stride=1, simd=-1, filt=(3, 3)).layout == "chunked"
        assert plan(50, 32, 147, 1024, 4, stride=1, simd=1, filt=(7, 7)).layout == "direct"
        assert plan(2, 2, 18, 16, 8, stride=2, simd=1, filt=(3, 3)).layout == "direct"
    # Outside the with blocks the size decides again; a misspelt layout is refused.
    assert plan(50, 32, 147, 1024, 4).layout == "merged"
    with pytest.raises(ValueError, match="layout must be one of"):
        with fast_layers.use_layout("chunky"):
            pass


def _conv_in_child(seed):
    """Run in a forked child: the chunked layout on two threads, checked against naive."""
    rng = np.random.default_rng(seed)
    x, w, b = rng.standard_normal((6, 2, 9, 9)), rng.standard_normal((3, 2, 3, 3)), np.zeros(3)
    cp = {"stride": 2, "pad": 1}
    dout = rng.standard_normal((6, 3, 5, 5))
    with _layout("chunked-1img-2threads"):
        out, cache = fast_layers.conv_forward_fast(x, w, b, cp)
        dx = fast_layers.conv_backward_fast(dout, cache)[0]
    ref, ref_cache = layers.conv_forward_naive(x, w, b, cp)
    dx_ref = layers.conv_backward_naive(dout, ref_cache)[0]
    return float(np.abs(out - ref).max() + np.abs(dx - dx_ref).max())


def test_conv_threads_work_after_fork():
    """A forked child (multiprocessing's default on Linux) gets its own worker threads."""
    import multiprocessing

    if "fork" not in multiprocessing.get_all_start_methods():
        pytest.skip("no fork on this platform")
    assert _conv_in_child(0) < 1e-9  # the parent's pool exists before the fork
    with multiprocessing.get_context("fork").Pool(1) as pool:
        err = pool.apply_async(_conv_in_child, (1,)).get(timeout=120)
    assert err < 1e-9


def test_conv_threads_unavailable_falls_back_to_one_thread(monkeypatch):
    """Where no thread can be started (a sandbox's process limit), this thread does it all."""
    if not HAS_CYTHON:
        pytest.skip("Cython extension not built")
    import concurrent.futures

    def refuse(*args, **kwargs):
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(concurrent.futures.ThreadPoolExecutor, "submit", refuse)
    rng = np.random.default_rng(5)
    x, w, b = rng.standard_normal((6, 2, 9, 9)), rng.standard_normal((3, 2, 3, 3)), np.zeros(3)
    cp = {"stride": 2, "pad": 1}
    dout = rng.standard_normal((6, 3, 5, 5))
    with _layout("chunked-1img-2threads"):
        out, cache = fast_layers.conv_forward_fast(x, w, b, cp)
        grads = fast_layers.conv_backward_fast(dout, cache)
    ref, ref_cache = layers.conv_forward_naive(x, w, b, cp)
    _close(out, ref, np.float64, "out without threads")
    for g, r in zip(grads, layers.conv_backward_naive(dout, ref_cache)):
        _close(g, r, np.float64, "grads without threads")


def _two_cpus() -> list:

    if not HAS_CYTHON:
        pytest.skip("Cython extension not built")
    cpus = sorted(_fast_plan._placement.cpus)
    if len(cpus) < 2 or not _fast_plan._placement.enabled:
        pytest.skip("needs two CPUs and thread affinity")
    return cpus[:2]


def _on_cpu(cpu: int):
    """Run this thread on ``cpu`` only, for the ``with`` block."""
    import contextlib
    import os

    @contextlib.contextmanager
    def pinned():
        before = os.sched_getaffinity(0)
        os.sched_setaffinity(0, {cpu})
        try:
            yield
        finally:
            os.sched_setaffinity(0, before)

    return pinned()


def test_conv_workers_kept_off_the_callers_cpu():
    """A woken worker tends to land on its waker's CPU; ours are kept off it (affinity), and
    follow when the caller moves."""
    import os

    rng = np.random.default_rng(3)
    x = rng.standard_normal((8, 3, 12, 12)).astype(np.float32)
    w = rng.standard_normal((8, 3, 3, 3)).astype(np.float32)
    b = np.zeros(8, np.float32)
    cp = {"stride": 1, "pad": 1}
    ref = layers.conv_forward_naive(x, w, b, cp)[0]
    for cpu in _two_cpus() * 2:
        with _on_cpu(cpu), fast_layers.use_layout("direct", threads=2):
            out = fast_layers.conv_forward_fast(x, w, b, cp)[0]
        _close(out, ref, np.float32, f"direct conv, caller on CPU {cpu}")
        (worker,) = _fast_plan._spinners.get(1, _extension.cython_module())
        allowed = os.sched_getaffinity(worker.thread.native_id)
        assert allowed == _fast_plan._placement.cpus - {cpu}, (cpu, allowed)


def test_pool_workers_kept_off_the_callers_cpu():
    """The same for the pool threads of ``run_parallel`` (pooling): the caller waits until a
    pool thread has taken an item, so one always takes part."""
    import os
    import threading

    cpus = _two_cpus()
    caller = threading.get_native_id()
    for cpu in cpus * 2:
        started = threading.Event()
        seen = {}

        def work(it, started=started, seen=seen):
            for _item in it:
                me = threading.get_native_id()
                seen[me] = os.sched_getaffinity(0)
                if me == caller:
                    assert started.wait(30), "no pool thread took an item"
                else:
                    started.set()

        with _on_cpu(cpu):
            _fast_plan.run_parallel(work, [0, 1], 2)
        pool = {t: a for t, a in seen.items() if t != caller}
        assert len(pool) == 1, seen
        assert list(pool.values()) == [_fast_plan._placement.cpus - {cpu}], (cpu, seen)


def test_refused_affinity_leaves_the_workers_where_they_are(monkeypatch):
    import os

    _two_cpus()

    def refuse(*args):
        raise PermissionError("not here")

    placement = _fast_plan._Placement()
    monkeypatch.setattr(_fast_plan, "_placement", placement)
    monkeypatch.setattr(os, "sched_setaffinity", refuse)
    rng = np.random.default_rng(6)
    x, w = rng.standard_normal((8, 3, 12, 12)), rng.standard_normal((8, 3, 3, 3))
    b, cp = np.zeros(8), {"stride": 1, "pad": 1}
    with fast_layers.use_layout("direct", threads=2):
        out, cache = fast_layers.conv_forward_fast(x, w, b, cp)
        grads = fast_layers.conv_backward_fast(np.ones_like(out), cache)
    ref, ref_cache = layers.conv_forward_naive(x, w, b, cp)
    _close(out, ref, np.float64, "out, affinity refused")
    for g, r in zip(grads, layers.conv_backward_naive(np.ones_like(out), ref_cache)):
        _close(g, r, np.float64, "grads, affinity refused")
    assert not placement.enabled and placement.caller() == -1


def test_conv_forward_matches_scipy_correlate(backend):
    """Independent oracle: out[n, f] = sum_c correlate(x_pad[n, c], w[f, c], 'valid')[::s, ::s] + b[f]."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 9, 8))
    w = rng.standard_normal((4, 3, 3, 2))
    b = rng.standard_normal(4)
    stride, pad = 2, 2
    out, _ = fast_layers.conv_forward_fast(x, w, b, {"stride": stride, "pad": pad})
    ref = conv_oracle(x, w, b, stride, pad)
    _close(out, ref, np.float64, "conv_forward_fast vs scipy.signal.correlate")


def test_conv_mixed_dtypes_and_noncontiguous_input(backend):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 2, 8, 6)).astype(np.float32)[:, :, ::2, :]  # non-contiguous
    w = rng.standard_normal((2, 2, 3, 3))
    b = rng.standard_normal(2).astype(np.float32)
    cp = {"stride": 1, "pad": 1}
    out, cache = fast_layers.conv_forward_fast(x, w, b, cp)
    assert out.dtype == np.float64  # promoted, as NumPy would
    ref, ref_cache = layers.conv_forward_naive(x.astype(np.float64), w, b.astype(np.float64), cp)
    _close(out, ref, np.float64, "mixed dtype out")
    dx, dw, db = fast_layers.conv_backward_fast(np.ones_like(out), cache)
    assert (dx.dtype, dw.dtype, db.dtype) == (np.float32, np.float64, np.float32)
    assert dx.shape == x.shape


def test_conv_backward_rejects_bad_dout_and_cache():
    rng = np.random.default_rng(3)
    x, w, b = rng.standard_normal((1, 1, 4, 4)), rng.standard_normal((2, 1, 3, 3)), np.zeros(2)
    out, cache = fast_layers.conv_forward_fast(x, w, b, {"stride": 1, "pad": 1})
    with pytest.raises(
        ValueError,
        match=r"conv_backward_fast: dout must have the shape .*\(1, 2, 4, 4\), got \(1, 2, 4, 3\)",
    ):
        fast_layers.conv_backward_fast(out[..., :3], cache)
    with pytest.raises(TypeError, match="conv_backward_fast: dout must be a floating-point array"):
        fast_layers.conv_backward_fast(out.astype(int), cache)
    with pytest.raises(TypeError, match="cache must be the ConvCache"):
        fast_layers.conv_backward_fast(out, (x, w, b))


def test_conv_forward_checks_inputs():
    x = np.zeros((2, 3, 30, 30))
    w = np.zeros((4, 3, 3, 3))
    with pytest.raises(
        ValueError,
        match=r"^conv_forward_fast: \(H \+ 2\*pad - HH\) = 29 is not divisible by stride 2; change pad or stride$",
    ):
        fast_layers.conv_forward_fast(x, w, np.zeros(4), {"stride": 2, "pad": 1})
    with pytest.raises(ValueError, match="conv_forward_strides: x has C = 3"):
        fast_layers.conv_forward_strides(
            x, np.zeros((4, 2, 3, 3)), np.zeros(4), {"stride": 1, "pad": 1}
        )
    with pytest.raises(TypeError, match="conv_forward_fast: x must be a floating-point array"):
        fast_layers.conv_forward_fast(x.astype(np.int64), w, np.zeros(4), {"stride": 1, "pad": 1})


# ----------------------------------------------------------------------------- im2col / col2im


@HYP
@given(case=conv_cases())
def test_im2col_col2im_adjoint(case):
    """<col2im(y), x> == <y, im2col(x)> for both backends."""
    rng, x, w, _, _ = conv_arrays(case)
    HH, WW, pad, stride = case["HH"], case["WW"], case["pad"], case["stride"]
    cols = _im2col_numpy.im2col(x, HH, WW, pad, stride)
    y = rng.standard_normal(cols.shape).astype(case["dtype"])
    results = {"numpy": (cols, _im2col_numpy.col2im(y, x.shape, HH, WW, pad, stride))}
    mod = _extension.cython_module()
    if mod is not None:
        cols_c = np.empty_like(cols)
        mod.im2col(x, cols_c, HH, WW, pad, stride)
        dx_c = np.zeros_like(x)
        mod.col2im(y, dx_c, HH, WW, pad, stride)
        results["cython"] = (cols_c, dx_c)
        np.testing.assert_array_equal(cols_c, cols)
        _close(dx_c, results["numpy"][1], case["dtype"], "col2im cython vs numpy")
    for name, (c, dx) in results.items():
        assert c.dtype == x.dtype and dx.dtype == x.dtype and dx.shape == x.shape
        lhs = float(np.vdot(dx.astype(np.float64), x.astype(np.float64)))
        rhs = float(np.vdot(y.astype(np.float64), c.astype(np.float64)))
        tol = (1e-9 if case["dtype"] == np.float64 else 1e-4) * max(1.0, abs(rhs), np.sqrt(y.size))
        assert abs(lhs - rhs) <= tol, f"{name}: <col2im(y), x> = {lhs} != <y, im2col(x)> = {rhs}"


def test_im2col_layout_small_case():
    """Hand-checked layout: cols[n, (c, i, j), (h, w)], zeros from the padding."""
    x = np.arange(1, 10, dtype=np.float64).reshape(1, 1, 3, 3)
    cols = _im2col_numpy.im2col(x, 2, 2, 1, 2)  # H_out = W_out = 2
    expected = np.array(
        [
            [0, 0, 0, 5],  # (i, j) = (0, 0): x_pad[2h, 2w]
            [0, 0, 4, 6],  # (0, 1)
            [0, 2, 0, 8],  # (1, 0)
            [1, 3, 7, 9],  # (1, 1)
        ],
        dtype=np.float64,
    )[None]  # one image
    np.testing.assert_array_equal(cols, expected)
    mod = _extension.cython_module()
    if mod is not None:
        cols_c = np.full_like(cols, np.nan)
        mod.im2col(x, cols_c, 2, 2, 1, 2)
        np.testing.assert_array_equal(cols_c, expected)


def test_cython_kernels_reject_wrong_shapes():
    mod = _extension.cython_module()
    if mod is None:
        pytest.skip("Cython extension not built")
    x = np.zeros((1, 1, 4, 4))
    with pytest.raises(
        ValueError, match=r"im2col: cols must have shape \(1, 9, 16\), got \(1, 9, 15\)"
    ):
        mod.im2col(x, np.zeros((1, 9, 15)), 3, 3, 1, 1)
    with pytest.raises(ValueError, match=r"col2im: cols must have shape \(1, 9, 16\)"):
        mod.col2im(np.zeros((2, 9, 16)), x, 3, 3, 1, 1)


# ----------------------------------------------------------------------------- direct kernels

SIMD_LEVELS = list(range(_extension.cython_module().DIRECT_SIMD_LEVEL + 1)) if HAS_CYTHON else []


@pytest.mark.skipif(not SIMD_LEVELS, reason="Cython extension not built")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "xs, ws, pad_h, pad_w",
    [
        pytest.param(
            (50, 3, 32, 32),
            (32, 3, 7, 7),
            3,
            3,  # the training step's first layer (part)
            marks=pytest.mark.slow,
        ),
        ((3, 1, 28, 28), (20, 1, 5, 5), 0, 0),  # case C: F not a multiple of any tile
        ((2, 2, 5, 7), (3, 2, 3, 2), 1, 0),  # non-square filter, pads differ
        ((1, 1, 1, 1), (1, 1, 1, 1), 0, 0),  # one pixel
        ((2, 5, 9, 4), (13, 5, 1, 5), 0, 2),  # 1x5 filter, K not a multiple of any tile
        ((1, 3, 3, 3), (9, 3, 3, 3), 3, 3),  # pad as big as the image
        ((2, 7, 3, 40), (17, 7, 3, 1), 1, 0),  # wide image: several vector tiles a row
        ((1, 64, 8, 8), (64, 64, 3, 3), 1, 1),  # many channels (case D's kind)
    ],
)
def test_direct_kernels_every_simd_level(dtype, xs, ws, pad_h, pad_w):
    """conv_direct_forward / conv_direct_dw at every SIMD level this CPU runs (the portable
    16-byte kernels included) against scipy.signal.correlate, with a random dout."""
    mod = _extension.cython_module()
    assert mod.DIRECT_FILTER_TILE[np.dtype(dtype).name] in (4, 8)  # filters per forward tile
    rng = np.random.default_rng(sum(xs) + sum(ws))
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal(ws).astype(dtype)
    b = rng.standard_normal(ws[0]).astype(dtype)
    # Stride-1 oracles in float64, independent of our code.
    ref = conv_oracle(x.astype(np.float64), w.astype(np.float64), b, 1, (pad_h, pad_w))
    dout = rng.standard_normal(ref.shape).astype(dtype)
    dw_ref = conv_dw_oracle(x, dout, (pad_h, pad_w))
    for level in SIMD_LEVELS:
        out = np.full(ref.shape, np.nan, dtype=dtype)
        mod.conv_direct_forward(x, w, b, out, pad_h, pad_w, level)
        _close(out, ref, dtype, f"direct forward, level {level}")
        start = rng.standard_normal(ws).astype(dtype)
        dw = start.copy()
        mod.conv_direct_dw(x, dout, dw, pad_h, pad_w, level)  # accumulates into dw
        _close(dw - start, dw_ref, dtype, f"direct dw, level {level}")


@pytest.mark.skipif(not SIMD_LEVELS, reason="Cython extension not built")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "xs, ws, stride, pad_h, pad_w",
    [
        ((3, 3, 31, 31), (25, 3, 3, 3), 2, 1, 1),  # case A: (H + 2*pad - HH) divisible
        ((2, 3, 8, 8), (5, 3, 3, 3), 2, 1, 1),  # (H + 2*pad - HH) odd: last row/column unread
        ((2, 2, 5, 9), (3, 2, 1, 5), 2, 2, 0),  # 1x5 filter, pads differ
        ((1, 2, 7, 7), (2, 2, 3, 3), 3, 1, 2),  # stride 3
        ((9, 2, 11, 6), (3, 2, 3, 4), 3, 2, 2),  # odd batch, 3x4 filter
        ((2, 4, 6, 6), (3, 4, 1, 1), 2, 0, 0),  # stride beyond the filter: phases unread
        ((1, 1, 4, 5), (2, 1, 2, 2), 4, 3, 1),  # stride 4, pad 3
    ],
)
def test_direct_kernels_strided_every_simd_level(dtype, xs, ws, stride, pad_h, pad_w):
    """conv_direct_forward / conv_direct_dw at strides 2-4 (the image's phases) at every SIMD
    level against scipy.signal.correlate, with a random dout."""
    mod = _extension.cython_module()
    rng = np.random.default_rng(sum(xs) + sum(ws) + stride)
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal(ws).astype(dtype)
    b = rng.standard_normal(ws[0]).astype(dtype)
    ref = conv_oracle(x.astype(np.float64), w.astype(np.float64), b, stride, (pad_h, pad_w))
    dout = rng.standard_normal(ref.shape).astype(dtype)
    dw_ref = conv_dw_oracle(x, dout, (pad_h, pad_w), stride, ws[2:])
    for level in SIMD_LEVELS:
        out = np.full(ref.shape, np.nan, dtype=dtype)
        mod.conv_direct_forward(x, w, b, out, pad_h, pad_w, level, stride)
        _close(out, ref, dtype, f"direct forward, stride {stride}, level {level}")
        start = rng.standard_normal(ws).astype(dtype)
        dw = start.copy()
        mod.conv_direct_dw(x, dout, dw, pad_h, pad_w, level, stride)
        _close(dw - start, dw_ref, dtype, f"direct dw, stride {stride}, level {level}")


@pytest.mark.skipif(not SIMD_LEVELS, reason="Cython extension not built")
def test_direct_kernels_reject_bad_input():
    mod = _extension.cython_module()
    x, w, b = np.zeros((2, 3, 8, 8)), np.zeros((4, 3, 3, 3)), np.zeros(4)
    out = np.zeros((2, 4, 8, 8))
    with pytest.raises(ValueError, match=r"conv_direct_forward: inconsistent shapes of b or out"):
        mod.conv_direct_forward(x, w, b, np.zeros((2, 4, 7, 8)), 1, 1)
    with pytest.raises(
        ValueError, match=r"conv_direct_forward: bad geometry x \(2, 3, 8, 8\), w \(4, 2, 3, 3\)"
    ):
        mod.conv_direct_forward(x, np.zeros((4, 2, 3, 3)), b, out, 1, 1)
    with pytest.raises(ValueError, match=r"conv_direct_forward: the filter \(3, 3\) does not fit"):
        mod.conv_direct_forward(np.zeros((2, 3, 1, 8)), w, b, np.zeros((2, 4, 0, 8)), 0, 1)
    with pytest.raises(ValueError, match=r"conv_direct_dw: bad geometry .* pad \(-1, 1\)"):
        mod.conv_direct_dw(x, out, np.zeros((4, 3, 3, 3)), -1, 1)
    with pytest.raises(ValueError, match=r"conv_direct_dw: inconsistent shape of dout"):
        mod.conv_direct_dw(x, out[:1], np.zeros((4, 3, 3, 3)), 1, 1)
    with pytest.raises(ValueError, match=r"conv_direct_forward: bad geometry .* stride 0"):
        mod.conv_direct_forward(x, w, b, out, 1, 1, -1, 0)
    with pytest.raises(ValueError, match=r"conv_direct_dw: inconsistent shape of dout"):
        mod.conv_direct_dw(x, out, np.zeros((4, 3, 3, 3)), 1, 1, -1, 2)  # dout of stride 1
    with pytest.raises(ValueError, match=r"SIMD level 3 asked, this CPU has"):
        mod.conv_direct_forward(x, w, b, out, 1, 1, 3)
    with pytest.raises((TypeError, ValueError)):  # mixed dtypes: no fused signature matches
        mod.conv_direct_forward(x.astype(np.float32), w, b, out, 1, 1)


# B^T and A^T of F(2x2, 3x3), written out here independently of the core's loops.
_WINO_BT = np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], dtype=float)
_WINO_AT = np.array([[1, 1, 1, 0], [0, 1, -1, -1]], dtype=float)


def _wino_input_oracle(x, pad, y0, th, tw):
    """V[4a + b, c, t] = (B^T d B)[a, b] for the 4x4 windows of the zero-padded x, in float64."""
    C, H, W = x.shape
    xp = np.zeros((C, 2 * (y0 + th) + 2, 2 * tw + 2))
    src = np.pad(x.astype(np.float64), ((0, 0), (pad, pad), (pad, pad)))
    h, w = min(src.shape[1], xp.shape[1]), min(src.shape[2], xp.shape[2])
    xp[:, :h, :w] = src[:, :h, :w]
    V = np.empty((16, C, th * tw))
    for ty in range(y0, y0 + th):
        for tx in range(tw):
            d = xp[:, 2 * ty : 2 * ty + 4, 2 * tx : 2 * tx + 4]
            V[:, :, (ty - y0) * tw + tx] = np.einsum(
                "ai,cij,bj->abc", _WINO_BT, d, _WINO_BT
            ).reshape(16, C)
    return V


@pytest.mark.skipif(not SIMD_LEVELS, reason="Cython extension not built")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "C, H, W, pad, y0, th",
    [
        (3, 32, 32, 1, 0, 16),  # case D's image size: whole vectors of tiles
        (2, 32, 32, 1, 5, 6),  # a band in the middle
        (5, 9, 7, 0, 0, 4),  # odd sizes, pad 0: tiles past the edge, scalar tails
        (1, 13, 34, 2, 2, 5),  # 17 tiles a row: one vector and a tail at every level
        (4, 3, 3, 2, 0, 2),  # image smaller than the padding's reach
    ],
)
def test_winograd_transforms_every_simd_level(dtype, C, H, W, pad, y0, th):
    """winograd_input / winograd_output at every SIMD level against the matrices B and A
    applied in float64, into buffers whose 16 planes are padded apart (as the layout uses)."""
    mod = _extension.cython_module()
    rng = np.random.default_rng(C * H + W + pad)
    Ho, Wo = H + 2 * pad - 2, W + 2 * pad - 2
    tw = -(-Wo // 2)
    th = min(th, -(-Ho // 2) - y0)
    x = rng.standard_normal((C, H, W)).astype(dtype)
    V_ref = _wino_input_oracle(x, pad, y0, th, tw)
    F = 3
    M = np.empty((16, F * th * tw + 5), dtype=dtype)[:, : F * th * tw].reshape(16, F, th * tw)
    M[...] = rng.standard_normal(M.shape)
    b = rng.standard_normal(F).astype(dtype)
    m = M.astype(np.float64).reshape(4, 4, F, th, tw)
    tiles = np.einsum("ia,abfyx,jb->fyixj", _WINO_AT, m, _WINO_AT).reshape(F, 2 * th, 2 * tw)
    for level in SIMD_LEVELS:
        V = np.full((16, C * th * tw + 7), np.nan, dtype=dtype)[:, : C * th * tw]
        V = V.reshape(16, C, th * tw)
        mod.winograd_input(x, V, pad, y0, th, tw, level)
        _close(V, V_ref, dtype, f"winograd_input, level {level}")
        out = np.full((F, Ho, Wo), np.nan, dtype=dtype)
        mod.winograd_output(M, b, out, y0, th, tw, level)
        rows = slice(2 * y0, min(Ho, 2 * (y0 + th)))
        expected = tiles[:, : rows.stop - rows.start, :Wo] + b[:, None, None]
        _close(out[:, rows], expected, dtype, f"winograd_output, level {level}")
        assert np.isnan(out[:, : rows.start]).all() and np.isnan(out[:, rows.stop :]).all()
    with pytest.raises(ValueError, match="winograd_input: a .* buffer needs contiguous"):
        mod.winograd_input(x, V_ref.astype(dtype)[:, :, ::-1], pad, y0, th, tw)
    with pytest.raises(ValueError, match="winograd_input: inconsistent shapes"):
        mod.winograd_input(x, V, -1, y0, th, tw)
    with pytest.raises(ValueError, match="winograd_output: inconsistent shapes"):
        mod.winograd_output(M, b, np.zeros((F, 2 * (y0 + th) - 2, Wo), dtype=dtype), y0, th, tw)


# ----------------------------------------------------------------------------- max pooling


@HYP
@given(case=pool_cases())
def test_pool_fast_equals_naive_and_oracle(case):
    rng, x, pp = pool_arrays(case)
    out_naive, cache_naive = layers.max_pool_forward_naive(x, pp)
    dout = rng.standard_normal(out_naive.shape).astype(case["dtype"])
    dx_naive = layers.max_pool_backward_naive(dout, cache_naive)
    out_o, dx_o = pool_loop_oracle(x, case["ph"], case["pw"], case["stride"], dout)
    np.testing.assert_array_equal(out_naive, out_o)
    _close(dx_naive, dx_o, case["dtype"], f"naive dx vs oracle, case {case}")
    for name in BACKENDS:
        with fast_layers.use_layout(backend=name):
            out, cache = fast_layers.max_pool_forward_fast(x, pp)
            tiles = case["ph"] == case["pw"] == case["stride"]
            assert cache.path == ("reshape" if tiles else "im2col")
            assert cache.backend == name
            assert out.dtype == x.dtype
            np.testing.assert_array_equal(out, out_naive, err_msg=f"{name} out, case {case}")
            dx = fast_layers.max_pool_backward_fast(dout, cache)
        assert dx.dtype == x.dtype and dx.shape == x.shape
        _close(dx, dx_naive, case["dtype"], f"{name} dx, case {case}")


@pytest.mark.parametrize("ph, pw, stride", [(2, 2, 2), (3, 3, 1), (2, 3, 1), (3, 3, 3)])
def test_pool_tie_rule_first_max_row_major(backend, ph, pw, stride):
    """All-equal windows: each window's gradient goes to its top-left element only."""
    N, C, H, W = 1, 2, 6, 6
    x = np.ones((N, C, H, W))
    pp = {"pool_height": ph, "pool_width": pw, "stride": stride}
    out, cache = fast_layers.max_pool_forward_fast(x, pp)
    dout = np.arange(1, out.size + 1, dtype=np.float64).reshape(out.shape)
    dx = fast_layers.max_pool_backward_fast(dout, cache)
    expected = np.zeros_like(x)
    for h in range(out.shape[2]):
        for w in range(out.shape[3]):
            expected[:, :, h * stride, w * stride] += dout[:, :, h, w]
    np.testing.assert_array_equal(dx, expected)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pool_2x2_ties_pick_the_first_max_like_naive(backend, dtype):
    """Windows with every pattern of ties (values in {-1, 0, 1}, all 81 orders of a 2x2
    window and random ones): the 2x2 kernel picks each window's first maximum in row-major
    order, as the naive layer does, so outputs and gradients are equal bit for bit."""
    rng = np.random.default_rng(15)
    patterns = np.array(np.meshgrid(*[[-1.0, 0.0, 1.0]] * 4, indexing="ij")).reshape(4, -1).T
    x = np.zeros((2, 3, 2 * 9, 2 * 9), dtype=dtype)
    windows = np.concatenate([patterns, rng.integers(-1, 2, (2 * 3 * 81 - 81, 4))])
    windows = windows.reshape(2, 3, 9, 9, 2, 2).astype(dtype)
    x[...] = windows.transpose(0, 1, 2, 4, 3, 5).reshape(x.shape)
    pp = {"pool_height": 2, "pool_width": 2, "stride": 2}
    out, cache = fast_layers.max_pool_forward_fast(x, pp)
    out_naive, cache_naive = layers.max_pool_forward_naive(x, pp)
    np.testing.assert_array_equal(out, out_naive)
    dout = rng.standard_normal(out.shape).astype(dtype)
    dx = fast_layers.max_pool_backward_fast(dout, cache)
    np.testing.assert_array_equal(dx, layers.max_pool_backward_naive(dout, cache_naive))


def test_pool_overlapping_windows_accumulate(backend):
    x = np.zeros((1, 1, 3, 3))
    x[0, 0, 1, 1] = 5.0  # the centre is the max of all four 2x2 windows
    out, cache = fast_layers.max_pool_forward_fast(
        x, {"pool_height": 2, "pool_width": 2, "stride": 1}
    )
    np.testing.assert_array_equal(out, np.full((1, 1, 2, 2), 5.0))
    dx = fast_layers.max_pool_backward_fast(np.array([[[[1.0, 2.0], [3.0, 4.0]]]]), cache)
    expected = np.zeros_like(x)
    expected[0, 0, 1, 1] = 10.0
    np.testing.assert_array_equal(dx, expected)


@pytest.mark.parametrize(
    "pp",
    [
        {"pool_height": 2, "pool_width": 2, "stride": 2},
        {"pool_height": 3, "pool_width": 3, "stride": 1},
    ],
)
@pytest.mark.parametrize("shape", [(2, 4, 32, 32), (9, 32, 32, 32)])
def test_pool_training_shape_both_dtypes(backend, pp, shape):
    """The ThreeLayerConvNet pool: (N, F, 32, 32) -> 2x2 stride 2 (and an overlapping pool),
    float32 and float64."""
    rng = np.random.default_rng(4)
    if pp["stride"] == 1:
        shape = shape[:2] + (31, 31)
    for dt in (np.float32, np.float64):
        x = rng.standard_normal(shape).astype(dt)
        out, cache = fast_layers.max_pool_forward_fast(x, pp)
        ref, ref_cache = layers.max_pool_forward_naive(x, pp)
        np.testing.assert_array_equal(out, ref)
        dout = rng.standard_normal(out.shape).astype(dt)
        # Overlapping windows add up in another order than in the naive loops.
        _close(
            fast_layers.max_pool_backward_fast(dout, cache),
            layers.max_pool_backward_naive(dout, ref_cache),
            dt,
            f"dx {shape} {pp}",
        )


@pytest.mark.parametrize(
    "pp",
    [
        {"pool_height": 2, "pool_width": 2, "stride": 2},
        {"pool_height": 3, "pool_width": 2, "stride": 1},
    ],
)
def test_pool_threads_give_the_same_numbers(pp):
    """Pooling shared among three threads (uneven image chunks) equals one thread exactly."""
    if not HAS_CYTHON:
        pytest.skip("Cython extension not built")
    rng = np.random.default_rng(9)
    x = rng.standard_normal((7, 3, 8, 6)).astype(np.float32)
    results = []
    for workers in (1, 3):
        with fast_layers.use_layout(threads=workers, pool_parallel_min=1):
            out, cache = fast_layers.max_pool_forward_fast(x, pp)
            dout = np.random.default_rng(1).standard_normal(out.shape).astype(np.float32)
            results.append((out, cache.idx, fast_layers.max_pool_backward_fast(dout, cache)))
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)
    ref, ref_cache = layers.max_pool_forward_naive(x, pp)
    np.testing.assert_array_equal(results[1][0], ref)


def test_pool_checks_inputs():
    x = np.zeros((1, 1, 5, 4))
    with pytest.raises(
        ValueError,
        match=r"max_pool_forward_fast: \(H - pool_height\) = 3 is not divisible by stride 2",
    ):
        fast_layers.max_pool_forward_fast(x, {"pool_height": 2, "pool_width": 2, "stride": 2})
    with pytest.raises(TypeError, match="max_pool_forward_fast: x must be a floating-point array"):
        fast_layers.max_pool_forward_fast(
            x.astype(np.int32), {"pool_height": 1, "pool_width": 1, "stride": 1}
        )
    out, cache = fast_layers.max_pool_forward_fast(
        np.zeros((1, 1, 4, 4)), {"pool_height": 2, "pool_width": 2, "stride": 2}
    )
    with pytest.raises(
        ValueError, match=r"max_pool_backward_fast: dout must have the shape .*\(1, 1, 2, 2\)"
    ):
        fast_layers.max_pool_backward_fast(np.zeros((1, 1, 2, 3)), cache)


@pytest.mark.parametrize(
    "pp",
    [
        {"pool_height": 2, "pool_width": 2, "stride": 2},  # the 2x2 kernel
        {"pool_height": 3, "pool_width": 2, "stride": 1},  # the generic kernel
    ],
)
def test_pool_nan_follows_argmax(backend, pp):
    """A NaN counts as the maximum, the first NaN in row-major order, as np.argmax does."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 3, 6, 6))
    x[0, 1, 2, 3] = np.nan
    x[1, 2, 0, 0] = np.nan
    x[1, 2, 1, 1] = np.nan
    out, cache = fast_layers.max_pool_forward_fast(x, pp)
    ref, ref_cache = layers.max_pool_forward_naive(x, pp)
    np.testing.assert_array_equal(out, ref)
    assert np.isnan(out).any()
    dout = rng.standard_normal(out.shape)
    np.testing.assert_allclose(
        fast_layers.max_pool_backward_fast(dout, cache),
        layers.max_pool_backward_naive(dout, ref_cache),
        rtol=1e-12,
    )


@pytest.mark.skipif(not SIMD_LEVELS, reason="Cython extension not built")
def test_winograd_item_failing_on_a_worker_is_raised(monkeypatch):
    """An item of the Winograd job that fails (on either thread) is still counted as done,
    so that the calling thread does not wait for it forever, and its error is raised."""
    _, mod = _fast_plan.backend()
    calls = []

    def failing(*args):
        calls.append(1)
        raise MemoryError("a failing Winograd item")

    x = np.random.default_rng(0).standard_normal((4, 32, 8, 8)).astype(np.float32)
    w = np.random.default_rng(1).standard_normal((32, 32, 3, 3)).astype(np.float32)
    b = np.zeros(32, dtype=np.float32)
    monkeypatch.setattr(mod, "winograd_output", failing)
    with _fast_plan.overriding(layout="winograd", threads=2):
        with pytest.raises(MemoryError, match="a failing Winograd item"):
            fast_layers.conv_forward_fast(x, w, b, {"stride": 1, "pad": 1})
    assert calls
