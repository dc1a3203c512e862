"""Fast convolution and max-pool layers (cs231n-compatible API).

- ``conv_forward_fast`` / ``conv_backward_fast``: im2col into an ``(N, C*HH*WW, H_out*W_out)``
  array, GEMMs through NumPy/BLAS for the output, ``dw`` and the column gradient, and col2im
  for ``dx``. Small per-image GEMMs run batched over a batch-major array (``np.matmul``; the
  results land in ``(N, F, H_out, W_out)`` order with no transpose copies); per-image GEMMs
  big enough for BLAS to thread are merged into one GEMM per operation over a K-major buffer
  (fewer thread synchronisations, which matters on a busy machine).
- ``conv_forward_strides`` / ``conv_backward_strides``: the same GEMMs over windows taken with
  ``numpy.lib.stride_tricks.as_strided`` (no compiled code at all in the forward pass).
- ``max_pool_forward_fast`` / ``max_pool_backward_fast``: a reshape path when the window
  tiles the input (``pool_height == pool_width == stride`` dividing H and W), an im2col path
  otherwise (``PoolCache.path`` says which). With the compiled core each path is one
  single-pass kernel over the input (a specialised one for the common 2x2 stride-2 pool); the
  NumPy fallback does the reshape or strided-window copy literally. The forward pass records the index of each window's FIRST maximum in row-major
  order (``np.argmax`` order); the backward pass sends the window's gradient there, and
  overlapping windows accumulate. The naive layers in ``intro2ai.layers`` follow the same rule.

The loops live in the Cython core ``intro2ai._im2col_cython`` (float32 and float64). When it
is not built, ``intro2ai._extension`` warns once and the pure-NumPy twins in
``intro2ai._im2col_numpy`` are used (same results, slower). Results keep the input dtype;
mixed float32/float64 inputs compute in the promoted dtype and each gradient is returned in
the dtype of its input. Caches are ``NamedTuple`` s; ``conv_*_fast`` and ``conv_*_strides``
caches are interchangeable.
"""

from __future__ import annotations

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
    cols: np.ndarray  # (N, C*HH*WW, H_out*W_out) in the compute dtype (maybe a K-major view)


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


# Per-image GEMMs at least this big (F * K * P multiply-adds) are merged into one GEMM per
# operation over a K-major cols buffer. OpenBLAS threads a GEMM of this size (its threshold is
# m*n*k >= 65536*4), and every threaded call is a synchronisation point of its threads: a batch
# of them is slow on a busy machine. Smaller per-image GEMMs stay batched (no transposes).
_MERGE_GEMMS_MIN = 65536 * 4


def _im2col(x: np.ndarray, F: int, HH: int, WW: int, pad: int, stride: int) -> np.ndarray:
    """im2col into an (N, K, P) array (x is C-contiguous).

    The result is C-contiguous (batched GEMMs), or, for big per-image GEMMs, a transposed
    view of a C-contiguous (K, N, P) buffer, so that ``buffer.reshape(K, N * P)`` feeds one
    GEMM per operation.
    """
    _, mod = _backend()
    if mod is None or x.dtype not in _KERNEL_DTYPES:
        return _im2col_numpy.im2col(x, HH, WW, pad, stride)
    N, C, H, W = x.shape
    H_out = _im2col_numpy.out_size(H, HH, pad, stride)
    W_out = _im2col_numpy.out_size(W, WW, pad, stride)
    K, P = C * HH * WW, H_out * W_out
    if F * K * P >= _MERGE_GEMMS_MIN and N > 1:
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


def _conv_backward(who: str, dout: np.ndarray, cache: ConvCache, need_dx: bool = True):
    _check_cache(who, cache, ConvCache)
    x, w, b, conv_param, cols = cache
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    stride, pad = int(conv_param["stride"]), int(conv_param["pad"])
    H_out = _im2col_numpy.out_size(H, HH, pad, stride)
    W_out = _im2col_numpy.out_size(W, WW, pad, stride)
    _check_dout(who, dout, (N, F, H_out, W_out))
    dtype = cols.dtype
    P = H_out * W_out
    wmat = w.reshape(F, -1).astype(dtype, copy=False)
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
    dx = None
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
    cols = _im2col(xc, w.shape[0], w.shape[2], w.shape[3], pad, stride)
    out = _conv_gemm_forward(cols, w, b, x.shape[0], H_out, W_out)
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
        if tiles and ph == 2:
            mod.maxpool_forward_2x2(xc, out, idx)
        else:
            mod.maxpool_forward(xc, out, idx, ph, pw, stride)
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
        mod.maxpool_backward(np.ascontiguousarray(dout, dtype=dtype), cache.idx, dx)
        return dx
    return _im2col_numpy.maxpool_backward(dout.astype(dtype, copy=False), cache.idx,
                                          cache.x_shape)
