"""Fast convolution and max-pool layers (cs231n-compatible API).

- ``conv_forward_fast`` / ``conv_backward_fast``: at stride 1, when the compiled core has
  SIMD kernels for this CPU (AVX2+FMA or AVX-512), the direct layout: the forward pass and
  ``dw`` are computed by the core's direct convolution (``_direct_conv.h``: each padded
  image is read in place, no im2col columns), chunks of images shared among our threads; so
  is ``dx`` (a direct convolution of ``dout`` with the flipped filters) for layers with 4 or
  more input channels, else it is the chunked layout's GEMM and col2im. Otherwise im2col
  into an ``(N, C*HH*WW, H_out*W_out)`` array, GEMMs through NumPy/BLAS for the output,
  ``dw`` and the column gradient, and col2im for ``dx``. With the compiled core, when the
  per-image GEMMs are too small for OpenBLAS to thread them (and one image's columns fit in
  2 MB), the batch is processed in chunks of a few images whose columns stay in the L2
  cache: im2col of the chunk, GEMM straight into the output, and in the backward pass the
  same columns recomputed (cheaper than keeping a big array), ``dw`` accumulated and col2im
  of the chunk. The chunks are shared among two threads taking them from one queue (NumPy's
  GEMMs and the kernels release the GIL; ``INTRO2AI_NUM_THREADS=1`` turns that off). Bigger
  GEMMs are done in one piece and threaded by OpenBLAS: per-image GEMMs batched over a
  batch-major array (``np.matmul``; results land in ``(N, F, H_out, W_out)`` order with no
  transpose copies) or, when BLAS would thread each of them, one merged GEMM per operation
  over a K-major buffer (fewer thread synchronisations, which matters on a busy machine).
- ``conv_forward_strides`` / ``conv_backward_strides``: the same GEMMs over windows taken with
  ``numpy.lib.stride_tricks.as_strided`` (no compiled code at all in the forward pass).
- ``max_pool_forward_fast`` / ``max_pool_backward_fast``: a reshape path when the window
  tiles the input (``pool_height == pool_width == stride`` dividing H and W), an im2col path
  otherwise (``PoolCache.path`` says which). With the compiled core each path is one
  single-pass kernel over the input (a specialised one for the common 2x2 stride-2 pool);
  the NumPy fallback does the reshape or strided-window copy literally. The forward pass
  records the index of each window's FIRST maximum in row-major order (``np.argmax`` order);
  the backward pass sends the window's gradient there, and overlapping windows accumulate.
  The naive layers in ``intro2ai.layers`` follow the same rule.

The loops live in the Cython core ``intro2ai._im2col_cython`` (float32 and float64). When it
is not built, ``intro2ai._extension`` warns once and the pure-NumPy twins in
``intro2ai._im2col_numpy`` are used (same results, slower). Results keep the input dtype;
mixed float32/float64 inputs compute in the promoted dtype and each gradient is returned in
the dtype of its input. Caches are ``NamedTuple`` s; ``conv_*_fast`` and ``conv_*_strides``
caches are interchangeable.
"""

from __future__ import annotations

import concurrent.futures
import os
from typing import Any, NamedTuple

import numpy as np

from intro2ai import _checks, _extension, _im2col_numpy

__all__ = [
    "conv_forward_fast",
    "conv_backward_fast",
    "conv_forward_strides",
    "conv_backward_strides",
    "max_pool_forward_fast",
    "max_pool_backward_fast",
    "ConvCache",
    "PoolCache",
]

_KERNEL_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _backend() -> tuple[str, Any]:
    """("cython", module) or ("numpy", None); tests replace this to force a backend."""
    return _extension.backend()


class ConvCache(NamedTuple):
    """What the convolution forward passes keep for the backward pass."""

    x: np.ndarray
    w: np.ndarray
    b: np.ndarray
    conv_param: dict
    # (N, C*HH*WW, H_out*W_out) in the compute dtype (maybe a K-major view), or None when the
    # forward pass took the chunked layout (the backward pass recomputes it chunk by chunk).
    cols: np.ndarray | None


class PoolCache(NamedTuple):
    """What the max-pool forward pass keeps for the backward pass."""

    x_shape: tuple
    x_dtype: np.dtype
    pool_param: dict
    path: str      # "reshape" (window tiles the input) or "im2col"
    backend: str   # "cython": idx holds int32 in-plane offsets; "numpy": int64 flat indices
    idx: np.ndarray  # (N, C, H_out, W_out): where each window's first maximum is


# ----------------------------------------------------------------------------- helpers


def _check_dout(who: str, dout: Any, expected_shape: tuple) -> None:
    if not isinstance(dout, np.ndarray):
        raise TypeError(
            f"{who}: dout must be a numpy ndarray of shape {expected_shape}, "
            f"got {type(dout).__name__}"
        )
    if not np.issubdtype(dout.dtype, np.floating):
        raise TypeError(
            f"{who}: dout must be a floating-point array, got dtype {dout.dtype}; "
            f"convert it with dout.astype(np.float64)"
        )
    if dout.shape != tuple(expected_shape):
        raise ValueError(
            f"{who}: dout must have the shape of the forward output {tuple(expected_shape)}, "
            f"got {dout.shape}; pass the gradient of the output this cache came from"
        )


def _check_cache(who: str, cache: Any, cls: type) -> None:
    if not isinstance(cache, cls):
        raise TypeError(
            f"{who}: cache must be the {cls.__name__} returned by the matching forward "
            f"function, got {type(cache).__name__}"
        )


# Per-image GEMMs at least this big (F * K * P multiply-adds) are threaded by OpenBLAS (its
# threshold is m*n*k >= 65536*4), and every threaded call is a synchronisation point of its
# threads: a batch of them is slow on a busy machine. Without chunks they are merged into one
# GEMM per operation over a K-major cols buffer; smaller per-image GEMMs stay batched.
_MERGE_GEMMS_MIN = 65536 * 4

# OpenBLAS gives a GEMM t threads only when m*n*k >= t * 65536 * 4 (interface/gemm.c), so
# with two or more cores it threads the GEMMs from this size on. Layers whose per-image GEMMs
# are that big keep the merged layout: OpenBLAS threads them itself. (Our own threads lose
# against OpenBLAS's: after a threaded call its idle threads keep spinning for a while, so in
# a network whose affine layers run threaded GEMMs our second thread finds its core busy;
# measured on the training step's first layer, conv fwd + dw 26 vs 20 ms right after an
# affine-sized GEMM, 15 vs 20 ms after a pause.)
_BLAS_THREADED_MIN = 2 * 65536 * 4

# Chunked layout: the cols of a chunk of images (at most this many bytes, at least one image)
# are made, used by the GEMMs and dropped while they are still in the L2 cache (2 MB per core
# here), instead of materialising the whole (N, K, P) array (30 MB for the training step's
# first layer). Used when one image's cols fit in twice this size.
_CHUNK_BYTES = 1 << 20

# The chunked layout shares the batch among this many threads (NumPy's GEMMs and the kernels
# release the GIL) when the layer has at least _PARALLEL_MIN_MACS multiply-adds. Each thread
# keeps its GEMMs below _BLAS_THREADED_MIN, so OpenBLAS never threads them (threads of ours
# and of OpenBLAS would fight for the cores): the layouts chosen by size already are; a
# chunked layout forced on bigger GEMMs splits the H_out*W_out axis into blocks of at least
# _MIN_BLOCK columns. None = decide on first use (see _workers); tests set it.
_WORKERS: int | None = None
_PARALLEL_MIN_MACS = 1 << 21
_MIN_BLOCK = 32
_P_BLOCK: int | None = None  # tests force a block size

# Tests force a layout: "chunked", "merged" or "batched"; None = choose by size.
_LAYOUT: str | None = None

_pool_state: dict = {"pool": None, "size": 0, "pid": None}


def _workers() -> int:
    """Threads for the chunked layout: INTRO2AI_NUM_THREADS, else OMP_/OPENBLAS_NUM_THREADS,
    else the usable cores (at most 4)."""
    if _WORKERS is not None:
        return max(1, int(_WORKERS))
    for var in ("INTRO2AI_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        value = os.environ.get(var, "").strip()
        if value.isdigit() and int(value) >= 1:
            return min(int(value), 4)
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, 4))


def _run_parallel(work: Any, items: list, workers: int) -> None:
    """Call ``work(it)`` in ``workers`` threads (one of them this one) over one shared
    iterator ``it`` of ``items``: each thread takes the next item when it is done with one,
    so a thread slowed down by other processes simply takes fewer items."""
    workers = max(1, min(workers, len(items)))
    it = iter(items)  # next() on a list iterator is atomic under the GIL
    if workers == 1:
        work(it)
        return
    futures = []
    try:
        # A new pool when it is too small, or after a fork (the parent's threads are not ours).
        if _pool_state["size"] < workers - 1 or _pool_state["pid"] != os.getpid():
            if _pool_state["pool"] is not None and _pool_state["pid"] == os.getpid():
                _pool_state["pool"].shutdown(wait=False)
            _pool_state["pool"] = concurrent.futures.ThreadPoolExecutor(
                max_workers=workers - 1, thread_name_prefix="intro2ai-conv")
            _pool_state["size"] = workers - 1
            _pool_state["pid"] = os.getpid()
        for _ in range(workers - 1):
            futures.append(_pool_state["pool"].submit(work, it))
    except RuntimeError:  # no thread can be started (e.g. a sandbox's process limit)
        _pool_state.update(pool=None, size=0, pid=None)  # this thread does what is left
    try:
        work(it)
    finally:
        concurrent.futures.wait(futures)  # never leave a thread writing into our arrays
    for f in futures:
        f.result()  # re-raise a worker's exception


class _Plan(NamedTuple):
    layout: str   # "direct", "chunked", "merged" or "batched"
    chunk: int    # images per chunk (direct and chunked layouts)
    workers: int  # threads (direct and chunked layouts)
    block: int    # columns (of H_out*W_out) per GEMM (chunked layout, dx of the direct one)


def _simd_level(mod: Any) -> int:
    """SIMD level of the compiled direct-convolution kernels (-1: none; see _direct_conv.h)."""
    return -1 if mod is None else int(getattr(mod, "DIRECT_SIMD_LEVEL", -1))


def _plan(N: int, F: int, K: int, P: int, itemsize: int, layout: str | None = None,
          stride: int = 1, simd: int = -1) -> _Plan:
    """How the compiled-core convolution lays out its work for this size (or this layout).

    ``simd`` is the compiled core's direct-convolution level: at stride 1 with SIMD kernels
    (level 1 or 2) the direct layout is taken. A forced "direct" layout at another stride, or
    without direct kernels, is the chunked one.
    """
    per_image = K * P * itemsize
    layout = layout or _LAYOUT
    if layout is None:
        if stride == 1 and simd >= 1:
            layout = "direct"
        elif per_image <= 2 * _CHUNK_BYTES and F * K * P < _BLAS_THREADED_MIN:
            layout = "chunked"
        elif F * K * P >= _MERGE_GEMMS_MIN and N > 1:
            layout = "merged"
        else:
            layout = "batched"
    if layout == "direct" and (stride != 1 or simd < 0):
        layout = "chunked"
    workers, block = 1, P
    if layout in ("chunked", "direct") and N > 1:
        small = max(1, (_BLAS_THREADED_MIN - 1) // max(1, F * K))
        if _P_BLOCK is not None:
            small = _P_BLOCK
        # Blocks too narrow for an efficient GEMM: whole images, which OpenBLAS may thread.
        if small >= P or small >= _MIN_BLOCK or _P_BLOCK is not None:
            block = small
            if _WORKERS is not None or N * F * K * P >= _PARALLEL_MIN_MACS:
                workers = min(_workers(), N)
        elif layout == "direct" and N * F * K * P >= _PARALLEL_MIN_MACS:
            workers = min(_workers(), N)  # its own kernels are not BLAS: always ours
    chunk = max(1, _CHUNK_BYTES // per_image)
    if workers > 1:  # enough chunks for the threads to balance their loads
        chunk = min(chunk, -(-N // (4 * workers)))
    return _Plan(layout, chunk, workers, min(block, P))


def _chunks(N: int, chunk: int) -> list:
    """(n0, n1) image ranges of at most ``chunk`` images covering the batch."""
    return [(a, min(a + chunk, N)) for a in range(0, N, chunk)]


def _blocks(a: np.ndarray, block: int) -> list:
    """A (k, R, P) array as column blocks for stacked GEMMs (views, no copies).

    Returns ``[a]`` if ``block >= P``; else the whole blocks as one array of shape
    ``(k, P // block, R, block)`` and, if ``block`` does not divide P, the remaining columns
    ``(k, R, P % block)``. Slicing a view along its first axis slices ``a`` the same way.
    """
    k, R, P = a.shape
    if block >= P:
        return [a]
    whole = (P // block) * block
    s0, s1, s2 = a.strides
    parts = [np.lib.stride_tricks.as_strided(
        a, shape=(k, P // block, R, block), strides=(s0, block * s2, s1, s2))]
    if whole < P:
        parts.append(a[:, :, whole:])
    return parts


def _im2col(x: np.ndarray, F: int, HH: int, WW: int, pad: int, stride: int,
            layout: str = "batched") -> np.ndarray:
    """im2col into an (N, K, P) array (x is C-contiguous).

    The result is C-contiguous ("batched"), or ("merged") a transposed view of a C-contiguous
    (K, N, P) buffer, so that ``buffer.reshape(K, N * P)`` feeds one GEMM per operation.
    """
    _, mod = _backend()
    if mod is None or x.dtype not in _KERNEL_DTYPES:
        return _im2col_numpy.im2col(x, HH, WW, pad, stride)
    N, C, H, W = x.shape
    H_out = _im2col_numpy.out_size(H, HH, pad, stride)
    W_out = _im2col_numpy.out_size(W, WW, pad, stride)
    K, P = C * HH * WW, H_out * W_out
    if layout == "merged" and N > 1:
        buf = np.empty((K, N, P), dtype=x.dtype)
        mod.im2col(x, buf, HH, WW, pad, stride, True)
        return buf.transpose(1, 0, 2)
    cols = np.empty((N, K, P), dtype=x.dtype)
    mod.im2col(x, cols, HH, WW, pad, stride, False)
    return cols


def _k_major(cols: np.ndarray) -> np.ndarray | None:
    """The (K, N*P) matrix behind a K-major cols view, or None for a C-contiguous (N, K, P)."""
    if cols.flags.c_contiguous:
        return None
    base = cols.transpose(1, 0, 2)
    if not base.flags.c_contiguous:
        return None
    return base.reshape(base.shape[0], -1)


def _col2im(dcols: np.ndarray, x_shape: tuple, HH: int, WW: int, pad: int,
            stride: int) -> np.ndarray:
    """col2im of an (N, K, P) array whose last axis is contiguous (any layout of N and K)."""
    _, mod = _backend()
    if mod is None or dcols.dtype not in _KERNEL_DTYPES:
        return _im2col_numpy.col2im(dcols, x_shape, HH, WW, pad, stride)
    dx = np.zeros(x_shape, dtype=dcols.dtype)
    if dcols.flags.c_contiguous:
        mod.col2im(dcols, dx, HH, WW, pad, stride, False)
    else:
        kmaj = np.ascontiguousarray(dcols.transpose(1, 0, 2))  # a view when K-major
        mod.col2im(kmaj, dx, HH, WW, pad, stride, True)
    return dx


def _conv_gemm_forward(cols: np.ndarray, w: np.ndarray, b: np.ndarray, N: int, H_out: int,
                       W_out: int) -> np.ndarray:
    """out[n] = w.reshape(F, -1) @ cols[n] + b, written straight into (N, F, H_out, W_out)."""
    F = w.shape[0]
    dtype = cols.dtype
    wmat = w.reshape(F, -1).astype(dtype, copy=False)
    bias = b.astype(dtype, copy=False)
    out = np.empty((N, F, H_out * W_out), dtype=dtype)
    merged = _k_major(cols)
    if merged is None:
        np.matmul(wmat, cols, out=out)  # one GEMM per image, results land in place
        out += bias.reshape(1, F, 1)
    else:
        out2 = wmat @ merged  # one GEMM for the batch: (F, N*P)
        np.add(out2.reshape(F, N, -1).transpose(1, 0, 2), bias.reshape(1, F, 1), out=out)
    return out.reshape(N, F, H_out, W_out)


def _direct_chunks(N: int, plan: _Plan) -> list:
    """Image ranges for the direct kernels: a few per thread to balance the load (each call
    allocates its own scratch memory, so chunks are no smaller than needed)."""
    return _chunks(N, -(-N // (4 * plan.workers)) if plan.workers > 1 else N)


def _conv_direct_forward(mod: Any, xc: np.ndarray, w: np.ndarray, b: np.ndarray, pad_h: int,
                         pad_w: int, H_out: int, W_out: int, plan: _Plan) -> np.ndarray:
    """Direct layout (stride 1): the compiled kernels convolve chunks of images, no im2col."""
    N, dtype = xc.shape[0], xc.dtype
    wc = np.ascontiguousarray(w, dtype=dtype)
    bc = np.ascontiguousarray(b, dtype=dtype)
    out = np.empty((N, w.shape[0], H_out, W_out), dtype=dtype)

    def work(chunks):
        for n0, n1 in chunks:
            mod.conv_direct_forward(xc[n0:n1], wc, bc, out[n0:n1], pad_h, pad_w)

    _run_parallel(work, _direct_chunks(N, plan), plan.workers)
    return out


def _conv_direct_dw(mod: Any, xc: np.ndarray, dout4: np.ndarray, w_shape: tuple, pad: int,
                    plan: _Plan) -> np.ndarray:
    """dw of the direct layout: one partial sum per chunk, added up in chunk order (the same
    numbers whichever thread did which chunk)."""
    chunks = _direct_chunks(xc.shape[0], plan)
    partial = np.zeros((len(chunks),) + tuple(w_shape), dtype=xc.dtype)

    def work(items):
        for i, (n0, n1) in items:
            mod.conv_direct_dw(xc[n0:n1], dout4[n0:n1], partial[i], pad, pad)

    _run_parallel(work, list(enumerate(chunks)), plan.workers)
    dw = partial[0]
    for part in partial[1:]:
        dw += part
    return dw


# The direct kernels give dx as the forward convolution of dout (padded by HH-1-pad) with the
# flipped filters, channels and filters swapped: C output channels, tiled by up to 8 filters
# at a time, so a layer with few input channels wastes most of each tile. From this many input
# channels on it beats the GEMM + col2im (measured at batch 50, float32: 1.3x slower with 3
# channels, even with 4, 1.2-1.3x faster with 8 and 16, 2.3x with 64).
_DIRECT_DX_MIN_C = 4


def _direct_dx_pays(C: int, HH: int, WW: int, pad: int) -> bool:
    """Whether dx goes through the direct kernels (needs pad <= HH-1 and pad <= WW-1)."""
    return C >= _DIRECT_DX_MIN_C and pad <= HH - 1 and pad <= WW - 1


def _conv_direct_dx(mod: Any, dout4: np.ndarray, w: np.ndarray, pad: int, x_shape: tuple,
                    plan: _Plan) -> np.ndarray:
    """dx of a stride-1 convolution as a direct convolution of dout:
    dx[n, c] = sum_f correlate(pad(dout[n, f], HH-1-pad, WW-1-pad), w[f, c] flipped)."""
    HH, WW = w.shape[2], w.shape[3]
    w_flip = w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)
    zero_bias = np.zeros(w.shape[1], dtype=dout4.dtype)
    return _conv_direct_forward(mod, dout4, w_flip, zero_bias, HH - 1 - pad, WW - 1 - pad,
                                x_shape[2], x_shape[3], plan)


def _conv_chunked_forward(mod: Any, xc: np.ndarray, w: np.ndarray, b: np.ndarray,
                          HH: int, WW: int, pad: int, stride: int, H_out: int, W_out: int,
                          plan: _Plan) -> np.ndarray:
    """Chunked layout: per chunk of images, im2col into a small buffer and GEMM into ``out``."""
    N, dtype = xc.shape[0], xc.dtype
    F = w.shape[0]
    wmat = np.ascontiguousarray(w.reshape(F, -1), dtype=dtype)
    bias = b.astype(dtype, copy=False).reshape(F, 1)
    K, P = wmat.shape[1], H_out * W_out
    out = np.empty((N, F, P), dtype=dtype)

    out_blocks = _blocks(out, plan.block)  # views made once: little Python per chunk

    def work(chunks):
        buf = np.empty((plan.chunk, K, P), dtype=dtype)
        buf_blocks = _blocks(buf, plan.block)
        for n0, n1 in chunks:
            k = n1 - n0
            mod.im2col(xc[n0:n1], buf[:k], HH, WW, pad, stride, False)
            for c, o in zip(buf_blocks, out_blocks):
                np.matmul(wmat, c[:k], out=o[n0:n1])
            o = out[n0:n1]
            o += bias

    _run_parallel(work, _chunks(N, plan.chunk), plan.workers)
    return out.reshape(N, F, H_out, W_out)


def _conv_chunked_backward(mod: Any, xc: np.ndarray, w: np.ndarray, dout3: np.ndarray,
                           HH: int, WW: int, pad: int, stride: int, plan: _Plan,
                           need_dw: bool, need_dx: bool):
    """Chunked layout backward: im2col is recomputed per chunk (cheap, stays in cache).

    Returns dx (None unless ``need_dx``) and dw.T (K, F) (None unless ``need_dw``).
    """
    N, dtype = xc.shape[0], xc.dtype
    F, P = dout3.shape[1], dout3.shape[2]
    wmat_t = np.ascontiguousarray(w.reshape(F, -1).T, dtype=dtype)
    K = wmat_t.shape[0]
    dx = np.zeros(xc.shape, dtype=dtype) if need_dx else None
    block = plan.block

    chunks = _chunks(N, plan.chunk)
    # One partial dw per chunk, added up in chunk order afterwards: the same numbers whichever
    # thread did which chunk.
    partial_dw_t = np.zeros((max(1, len(chunks)), K, F) if need_dw else (0,), dtype=dtype)

    dout_blocks = _blocks(dout3, block)  # views made once: little Python per chunk

    def work(items):
        if need_dw:
            buf = np.empty((plan.chunk, K, P), dtype=dtype)
            buf_blocks = _blocks(buf, block)
            # The GEMM results per block (allocated once: they can be big enough for mmap).
            prods = [np.empty(c.shape[:-2] + (K, F), dtype=dtype) for c in buf_blocks]
        if need_dx:
            dbuf = np.empty((plan.chunk, K, P), dtype=dtype)
            dbuf_blocks = _blocks(dbuf, block)
        for i, (n0, n1) in items:
            k = n1 - n0
            if need_dw:
                dw_t = partial_dw_t[i]
                mod.im2col(xc[n0:n1], buf[:k], HH, WW, pad, stride, False)
                # dw.T += cols[n] @ dout[n].T, the long P axis as the inner dimension (in
                # blocks of it when the GEMMs must stay small, summed afterwards).
                for c, d, prod in zip(buf_blocks, dout_blocks, prods):
                    p = np.matmul(c[:k], np.swapaxes(d[n0:n1], -1, -2), out=prod[:k])
                    dw_t += p.reshape(-1, K, F).sum(axis=0)
            if need_dx:
                for d, dc in zip(dout_blocks, dbuf_blocks):
                    np.matmul(wmat_t, d[n0:n1], out=dc[:k])
                mod.col2im(dbuf[:k], dx[n0:n1], HH, WW, pad, stride, False)

    _run_parallel(work, list(enumerate(chunks)), plan.workers)
    if not need_dw:
        return dx, None
    dw_t = partial_dw_t[0]
    for part in partial_dw_t[1:]:
        dw_t += part
    return dx, dw_t.T


def _conv_backward(who: str, dout: np.ndarray, cache: ConvCache, need_dx: bool = True):
    _check_cache(who, cache, ConvCache)
    x, w, b, conv_param, cols = cache
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    stride, pad = int(conv_param["stride"]), int(conv_param["pad"])
    H_out = _im2col_numpy.out_size(H, HH, pad, stride)
    W_out = _im2col_numpy.out_size(W, WW, pad, stride)
    _check_dout(who, dout, (N, F, H_out, W_out))
    dtype = np.result_type(x.dtype, w.dtype, b.dtype) if cols is None else cols.dtype
    P = H_out * W_out
    wmat = w.reshape(F, -1).astype(dtype, copy=False)
    dx = None
    if cols is None:  # chunked or direct forward: work chunk by chunk
        xc = np.ascontiguousarray(x, dtype=dtype)
        dout3 = np.ascontiguousarray(dout, dtype=dtype).reshape(N, F, P)
        db = dout3.sum(axis=(0, 2))
        _, mod = _backend()
        if mod is not None and dtype in _KERNEL_DTYPES:
            K, simd = C * HH * WW, _simd_level(mod)
            plan = _plan(N, F, K, P, dtype.itemsize, stride=stride, simd=simd)
            if plan.layout not in ("direct", "chunked"):
                plan = _plan(N, F, K, P, dtype.itemsize, "chunked")
            direct = plan.layout == "direct"
            direct_dx = direct and need_dx and _direct_dx_pays(C, HH, WW, pad)
            dx = dw = None
            if (need_dx and not direct_dx) or not direct:
                dx, dw = _conv_chunked_backward(mod, xc, w, dout3, HH, WW, pad, stride, plan,
                                                not direct, need_dx and not direct_dx)
            if direct:
                dout4 = dout3.reshape(N, F, H_out, W_out)
                dw = _conv_direct_dw(mod, xc, dout4, w.shape, pad, plan)
                if direct_dx:
                    dx = _conv_direct_dx(mod, dout4, w, pad, xc.shape, plan)
        else:  # the backend changed since the forward pass: do it in one piece
            cols = _im2col_numpy.im2col(xc, HH, WW, pad, stride)
            dw = np.matmul(dout3, cols.transpose(0, 2, 1)).sum(axis=0)
            if need_dx:
                dx = _col2im(np.matmul(wmat.T, dout3), x.shape, HH, WW, pad, stride)
        if need_dx:
            dx = dx.astype(x.dtype, copy=False)
        return (
            dx,
            dw.reshape(w.shape).astype(w.dtype, copy=False),
            db.astype(b.dtype, copy=False),
        )
    merged = _k_major(cols)
    if merged is None:
        dout3 = np.ascontiguousarray(dout, dtype=dtype).reshape(N, F, P)
        db = dout3.sum(axis=(0, 2))
        # dw = sum_n dout[n] @ cols[n].T: one (F, K) GEMM per image, then a small reduction.
        dw = np.matmul(dout3, cols.transpose(0, 2, 1)).sum(axis=0)
        dcols = np.matmul(wmat.T, dout3) if need_dx else None  # (N, K, P)
    else:
        dout2 = np.empty((F, N, P), dtype=dtype)
        dout2[...] = dout.reshape(N, F, P).transpose(1, 0, 2)
        dout2 = dout2.reshape(F, N * P)
        db = dout2.sum(axis=1)
        # One GEMM: dw = dout2 @ merged.T, computed as (merged @ dout2.T).T: with the long
        # N*P axis as the inner dimension OpenBLAS is ~1.5x faster in this orientation.
        dw = (merged @ dout2.T).T
        dcols = None
        if need_dx:
            dcols = (wmat.T @ dout2).reshape(-1, N, P).transpose(1, 0, 2)  # K-major view
    if need_dx:  # the GEMM for dcols and col2im: about half the work of the backward pass
        dx = _col2im(dcols, x.shape, HH, WW, pad, stride).astype(x.dtype, copy=False)
    return (
        dx,
        dw.reshape(w.shape).astype(w.dtype, copy=False),
        db.astype(b.dtype, copy=False),
    )


# ----------------------------------------------------------------------------- convolution


def conv_forward_fast(x: np.ndarray, w: np.ndarray, b: np.ndarray,
                      conv_param: dict) -> tuple[np.ndarray, ConvCache]:
    """Convolution (cross-correlation) forward pass with im2col and one GEMM.

    Parameters
    ----------
    x : ndarray of shape (N, C, H, W)
    w : ndarray of shape (F, C, HH, WW)
    b : ndarray of shape (F,)
    conv_param : dict
        ``{'stride': int >= 1, 'pad': int >= 0}``; zero padding on all four sides.

    Returns
    -------
    out : ndarray of shape (N, F, H_out, W_out)
        ``H_out = 1 + (H + 2 * pad - HH) // stride``, likewise ``W_out``.
    cache : ConvCache
    """
    who = "conv_forward_fast"
    stride, pad, H_out, W_out = _checks.conv_geometry(who, x, w, b, conv_param)
    dtype = np.result_type(x.dtype, w.dtype, b.dtype)
    xc = np.ascontiguousarray(x, dtype=dtype)
    N, C = x.shape[:2]
    F, _, HH, WW = w.shape
    _, mod = _backend()
    if mod is not None and dtype in _KERNEL_DTYPES:
        plan = _plan(N, F, C * HH * WW, H_out * W_out, dtype.itemsize, stride=stride,
                     simd=_simd_level(mod))
        if plan.layout == "direct":
            out = _conv_direct_forward(mod, xc, w, b, pad, pad, H_out, W_out, plan)
            return out, ConvCache(x, w, b, conv_param, None)
        if plan.layout == "chunked":
            out = _conv_chunked_forward(mod, xc, w, b, HH, WW, pad, stride, H_out, W_out, plan)
            return out, ConvCache(x, w, b, conv_param, None)
        cols = _im2col(xc, F, HH, WW, pad, stride, plan.layout)
    else:
        cols = _im2col(xc, F, HH, WW, pad, stride)
    out = _conv_gemm_forward(cols, w, b, N, H_out, W_out)
    return out, ConvCache(x, w, b, conv_param, cols)


def conv_backward_fast(dout: np.ndarray, cache: ConvCache, need_dx: bool = True):
    """Backward pass of :func:`conv_forward_fast`.

    Parameters
    ----------
    dout : ndarray of shape (N, F, H_out, W_out)
    cache : ConvCache
    need_dx : bool, default True
        False skips the input gradient (returned as None), e.g. for a network's first layer,
        whose input is the data: that saves one GEMM and the col2im.

    Returns
    -------
    dx : ndarray of shape (N, C, H, W), or None if ``need_dx`` is False
    dw : ndarray of shape (F, C, HH, WW)
    db : ndarray of shape (F,)
    """
    return _conv_backward("conv_backward_fast", dout, cache, need_dx)


def conv_forward_strides(x: np.ndarray, w: np.ndarray, b: np.ndarray,
                         conv_param: dict) -> tuple[np.ndarray, ConvCache]:
    """Convolution forward pass over an ``as_strided`` window view (pure NumPy).

    Same parameters, result and cache as :func:`conv_forward_fast`.
    """
    who = "conv_forward_strides"
    stride, pad, H_out, W_out = _checks.conv_geometry(who, x, w, b, conv_param)
    dtype = np.result_type(x.dtype, w.dtype, b.dtype)
    xc = np.ascontiguousarray(x, dtype=dtype)
    cols = _im2col_numpy.im2col(xc, w.shape[2], w.shape[3], pad, stride)
    out = _conv_gemm_forward(cols, w, b, x.shape[0], H_out, W_out)
    return out, ConvCache(x, w, b, conv_param, cols)


def conv_backward_strides(dout: np.ndarray, cache: ConvCache, need_dx: bool = True):
    """Backward pass of :func:`conv_forward_strides` (same as :func:`conv_backward_fast`)."""
    return _conv_backward("conv_backward_strides", dout, cache, need_dx)


# ----------------------------------------------------------------------------- max pooling

# Pooling kernels run on our threads, over chunks of images, from this many input elements on
# (the training step's pool, 1.6M elements, takes ~2 ms on one thread).
_POOL_PARALLEL_MIN = 1 << 18


def _run_by_images(work: Any, N: int, size: int) -> None:
    """``work`` over image ranges covering the batch, on our threads when the layer is big."""
    workers = min(_workers(), N) if size >= _POOL_PARALLEL_MIN else 1
    _run_parallel(work, _chunks(N, -(-N // (4 * workers)) if workers > 1 else N), workers)


def max_pool_forward_fast(x: np.ndarray, pool_param: dict) -> tuple[np.ndarray, PoolCache]:
    """Max-pool forward pass.

    Parameters
    ----------
    x : ndarray of shape (N, C, H, W)
    pool_param : dict
        ``{'pool_height': int, 'pool_width': int, 'stride': int}``.

    Returns
    -------
    out : ndarray of shape (N, C, H_out, W_out)
        ``H_out = 1 + (H - pool_height) // stride``, likewise ``W_out``.
    cache : PoolCache
        Records each window's first maximum (row-major order) for the backward pass.
    """
    who = "max_pool_forward_fast"
    ph, pw, stride, H_out, W_out = _checks.pool_geometry(who, x, pool_param)
    N, C, H, W = x.shape
    tiles = ph == pw == stride and H % ph == 0 and W % pw == 0
    path = "reshape" if tiles else "im2col"
    name, mod = _backend()
    if mod is not None and x.dtype in _KERNEL_DTYPES:
        xc = np.ascontiguousarray(x)
        out = np.empty((N, C, H_out, W_out), dtype=x.dtype)
        idx = np.empty((N, C, H_out, W_out), dtype=np.intc)

        def work(chunks):
            for n0, n1 in chunks:
                if tiles and ph == 2:
                    mod.maxpool_forward_2x2(xc[n0:n1], out[n0:n1], idx[n0:n1])
                else:
                    mod.maxpool_forward(xc[n0:n1], out[n0:n1], idx[n0:n1], ph, pw, stride)

        _run_by_images(work, N, x.size)
        backend = "cython"
    else:
        out, idx = _im2col_numpy.maxpool_forward(x, ph, pw, stride)
        backend = "numpy"
    return out, PoolCache(x.shape, x.dtype, pool_param, path, backend, idx)


def max_pool_backward_fast(dout: np.ndarray, cache: PoolCache) -> np.ndarray:
    """Backward pass of :func:`max_pool_forward_fast`.

    Each window's upstream gradient goes to its first maximum (row-major order); overlapping
    windows accumulate.

    Parameters
    ----------
    dout : ndarray of shape (N, C, H_out, W_out)
    cache : PoolCache

    Returns
    -------
    dx : ndarray of shape (N, C, H, W), dtype of the forward input.
    """
    who = "max_pool_backward_fast"
    _check_cache(who, cache, PoolCache)
    _check_dout(who, dout, cache.idx.shape)
    dtype = cache.x_dtype
    if cache.backend == "cython":
        _, mod = _backend()
        if mod is None:  # cache from a process state where the extension was loaded
            mod = _extension.cython_module()
        dx = np.zeros(cache.x_shape, dtype=dtype)
        doutc = np.ascontiguousarray(dout, dtype=dtype)

        def work(chunks):
            for n0, n1 in chunks:
                mod.maxpool_backward(doutc[n0:n1], cache.idx[n0:n1], dx[n0:n1])

        _run_by_images(work, dx.shape[0], dx.size)
        return dx
    return _im2col_numpy.maxpool_backward(dout.astype(dtype, copy=False), cache.idx,
                                          cache.x_shape)
