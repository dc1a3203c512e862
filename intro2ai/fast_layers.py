"""Fast convolution and max-pool layers (cs231n-compatible API).

- ``conv_forward_fast`` / ``conv_backward_fast``: the compiled core's kernels in the layout the
  planner chooses for the layer's size (``intro2ai._fast_plan``): a direct convolution
  without im2col columns at stride 1 (Winograd's F(2x2, 3x3) for 3x3 filters between many
  channels) and for small layers at other strides, else im2col and GEMMs through NumPy/BLAS, a
  few images at a time or the whole batch at once (the layouts are in
  ``intro2ai._fast_layouts``). Small
  layers' work is shared among threads of the kit's own (``INTRO2AI_NUM_THREADS=1`` turns them
  off); bigger GEMMs are threaded by OpenBLAS.
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
- ``use_layout``: a context manager forcing a layout, thread count or the NumPy fallback
  (for tests and benchmarks; results are the same up to summation order).

The loops live in the Cython core ``intro2ai._im2col_cython`` (float32 and float64). When it
is not built, ``intro2ai._extension`` warns once and the pure-NumPy twins in
``intro2ai._im2col_numpy`` are used (same results, slower). Results keep the input dtype;
mixed float32/float64 inputs compute in the promoted dtype and each gradient is returned in
the dtype of its input. Caches are ``NamedTuple`` s; ``conv_*_fast`` and ``conv_*_strides``
caches are interchangeable.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, NamedTuple

import numpy as np

from intro2ai import _checks, _extension, _fast_layouts, _fast_plan, _im2col_numpy

__all__ = [
    "conv_forward_fast",
    "conv_backward_fast",
    "conv_forward_strides",
    "conv_backward_strides",
    "max_pool_forward_fast",
    "max_pool_backward_fast",
    "ConvCache",
    "PoolCache",
    "use_layout",
]


class ConvCache(NamedTuple):
    """What the convolution forward passes keep for the backward pass."""

    x: np.ndarray
    w: np.ndarray
    b: np.ndarray
    conv_param: dict
    # (N, C*HH*WW, H_out*W_out) in the compute dtype (maybe a K-major view), or None when the
    # forward pass took the direct or chunked layout (the backward pass recomputes it).
    cols: np.ndarray | None


class PoolCache(NamedTuple):
    """What the max-pool forward pass keeps for the backward pass."""

    x_shape: tuple
    x_dtype: np.dtype
    pool_param: dict
    path: str  # "reshape" (window tiles the input) or "im2col"
    backend: str  # "cython": idx holds int32 in-plane offsets; "numpy": int64 flat indices
    idx: np.ndarray  # (N, C, H_out, W_out): where each window's first maximum is


@contextlib.contextmanager
def use_layout(
    layout: str | None = None,
    *,
    threads: int | None = None,
    chunk_bytes: int | None = None,
    block: int | None = None,
    direct_dx_min_channels: int | None = None,
    pool_parallel_min: int | None = None,
    backend: str | None = None,
) -> Iterator[None]:
    """Force how the fast layers work inside a ``with`` block (this thread only).

    Parameters
    ----------
    layout : {"winograd", "direct", "chunked", "merged", "batched"}, optional
        The convolution layout; by default it is chosen by size. "winograd" for filters other
        than 3x3 or strides other than 1 is "direct"; "direct" without compiled direct
        kernels is "chunked".
    threads : int, optional
        Threads of the kit's own for the direct and chunked layouts and for pooling (used even
        for small layers when given).
    chunk_bytes : int, optional
        Bytes of im2col columns per chunk in the chunked layout (1: one image per chunk).
    block : int, optional
        Columns of ``H_out * W_out`` per GEMM in the chunked layout.
    direct_dx_min_channels : int, optional
        Input channels from which the direct layout computes dx by its own kernels.
    pool_parallel_min : int, optional
        Input elements from which pooling runs on the kit's threads.
    backend : {"numpy", "cython"}, optional
        "numpy" uses the pure-NumPy fallback even when the compiled core is built.

    Examples
    --------
    >>> with use_layout("chunked", threads=2):
    ...     out, cache = conv_forward_fast(x, w, b, conv_param)  # doctest: +SKIP
    """
    with _fast_plan.overriding(
        layout=layout,
        threads=threads,
        chunk_bytes=chunk_bytes,
        block=block,
        direct_dx_min_channels=direct_dx_min_channels,
        pool_parallel_min=pool_parallel_min,
        backend=backend,
    ):
        yield


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


# ----------------------------------------------------------------------------- convolution


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
    dx, dw, db = _fast_layouts.conv_backward(x, w, dout, stride, pad, cols, dtype, need_dx)
    return (
        dx.astype(x.dtype, copy=False) if need_dx else None,
        dw.reshape(w.shape).astype(w.dtype, copy=False),
        db.astype(b.dtype, copy=False),
    )


def conv_forward_fast(
    x: np.ndarray, w: np.ndarray, b: np.ndarray, conv_param: dict
) -> tuple[np.ndarray, ConvCache]:
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
    out, cols = _fast_layouts.conv_forward(xc, w, b, stride, pad, H_out, W_out)
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


def conv_forward_strides(
    x: np.ndarray, w: np.ndarray, b: np.ndarray, conv_param: dict
) -> tuple[np.ndarray, ConvCache]:
    """Convolution forward pass over an ``as_strided`` window view (pure NumPy).

    Same parameters, result and cache as :func:`conv_forward_fast`.
    """
    who = "conv_forward_strides"
    stride, pad, H_out, W_out = _checks.conv_geometry(who, x, w, b, conv_param)
    dtype = np.result_type(x.dtype, w.dtype, b.dtype)
    xc = np.ascontiguousarray(x, dtype=dtype)
    cols = _im2col_numpy.im2col(xc, w.shape[2], w.shape[3], pad, stride)
    out = _fast_layouts.gemm_forward(cols, w, b, x.shape[0], H_out, W_out)
    return out, ConvCache(x, w, b, conv_param, cols)


def conv_backward_strides(dout: np.ndarray, cache: ConvCache, need_dx: bool = True):
    """Backward pass of :func:`conv_forward_strides` (same as :func:`conv_backward_fast`)."""
    return _conv_backward("conv_backward_strides", dout, cache, need_dx)


# ----------------------------------------------------------------------------- max pooling


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
    _, mod = _fast_plan.backend()
    if mod is not None and x.dtype in _fast_layouts.KERNEL_DTYPES:
        xc = np.ascontiguousarray(x)
        out = np.empty((N, C, H_out, W_out), dtype=x.dtype)
        idx = np.empty((N, C, H_out, W_out), dtype=np.intc)

        def work(chunks):
            for n0, n1 in chunks:
                if tiles and ph == 2:
                    mod.maxpool_forward_2x2(xc[n0:n1], out[n0:n1], idx[n0:n1])
                else:
                    mod.maxpool_forward(xc[n0:n1], out[n0:n1], idx[n0:n1], ph, pw, stride)

        _fast_plan.run_by_images(work, N, x.size)
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
        _, mod = _fast_plan.backend()
        if mod is None:  # cache from a process state where the extension was loaded
            mod = _extension.cython_module()
        dx = np.zeros(cache.x_shape, dtype=dtype)
        doutc = np.ascontiguousarray(dout, dtype=dtype)

        def work(chunks):
            for n0, n1 in chunks:
                mod.maxpool_backward(doutc[n0:n1], cache.idx[n0:n1], dx[n0:n1])

        _fast_plan.run_by_images(work, dx.shape[0], dx.size)
        return dx
    return _im2col_numpy.maxpool_backward(dout.astype(dtype, copy=False), cache.idx, cache.x_shape)
