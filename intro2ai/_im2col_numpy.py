"""Pure-NumPy im2col / col2im: the fallback when ``intro2ai._im2col_cython`` is not built.

Same layout and results as the Cython core (see ``_im2col_cython.pyx``):

- ``cols`` is C-contiguous of shape ``(N, C * HH * WW, H_out * W_out)`` (batch-major, so
  ``np.matmul(w.reshape(F, -1), cols)`` is the output in ``(N, F, H_out * W_out)`` order);
- ``cols[n, k, p]`` with ``k = (c * HH + i) * WW + j`` (the order of ``w.reshape(F, -1)``)
  and ``p = h * W_out + w`` holds ``x[n, c, h * stride + i - pad, w * stride + j - pad]``,
  zero outside ``x``.

``col2im`` is the adjoint of ``im2col``: it adds every column entry back into the input
position it was read from (overlapping windows accumulate; padding entries are dropped).
Works for any filter height and width, stride and pad, float32 and float64 (dtype preserved).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

__all__ = ["im2col", "col2im", "out_size"]


def out_size(size: int, window: int, pad: int, stride: int) -> int:
    """Output size along one axis: ``1 + (size + 2 * pad - window) // stride``."""
    return 1 + (size + 2 * pad - window) // stride


def _pad(x: np.ndarray, pad: int) -> np.ndarray:
    if pad == 0:
        return x
    return np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), mode="constant")


def patches_view(x: np.ndarray, HH: int, WW: int, pad: int, stride: int) -> np.ndarray:
    """Read-only strided view of shape (N, C, HH, WW, H_out, W_out) over the padded ``x``.

    ``view[n, c, i, j, h, w] = x_padded[n, c, h * stride + i, w * stride + j]``.
    """
    N, C, H, W = x.shape
    H_out = out_size(H, HH, pad, stride)
    W_out = out_size(W, WW, pad, stride)
    xp = np.ascontiguousarray(_pad(x, pad))
    sN, sC, sH, sW = xp.strides
    return as_strided(
        xp,
        shape=(N, C, HH, WW, H_out, W_out),
        strides=(sN, sC, sH, sW, stride * sH, stride * sW),
        writeable=False,
    )


def im2col(x: np.ndarray, HH: int, WW: int, pad: int, stride: int) -> np.ndarray:
    """Unfold the windows of ``x`` into columns.

    Parameters
    ----------
    x : ndarray of shape (N, C, H, W)
    HH, WW : int
        Window (filter) height and width.
    pad, stride : int

    Returns
    -------
    cols : ndarray of shape (N, C * HH * WW, H_out * W_out), C-contiguous, dtype of ``x``.
    """
    view = patches_view(x, HH, WW, pad, stride)
    N, C, _, _, H_out, W_out = view.shape
    cols = np.empty((N, C * HH * WW, H_out * W_out), dtype=x.dtype)
    cols.reshape(view.shape)[...] = view
    return cols


def col2im(
    cols: np.ndarray, x_shape: tuple[int, int, int, int], HH: int, WW: int, pad: int, stride: int
) -> np.ndarray:
    """Fold columns back into an image, accumulating overlaps (adjoint of :func:`im2col`).

    Parameters
    ----------
    cols : ndarray of shape (N, C * HH * WW, H_out * W_out)
    x_shape : tuple (N, C, H, W)
        Shape of the image the columns were taken from.
    HH, WW, pad, stride : int

    Returns
    -------
    dx : ndarray of shape (N, C, H, W), dtype of ``cols``.
    """
    N, C, H, W = x_shape
    H_out = out_size(H, HH, pad, stride)
    W_out = out_size(W, WW, pad, stride)
    Hp, Wp = H + 2 * pad, W + 2 * pad
    cols6 = cols.reshape(N, C, HH, WW, H_out, W_out)
    dxp = np.zeros((N, C, Hp, Wp), dtype=cols.dtype)
    h_stop = stride * (H_out - 1) + 1
    w_stop = stride * (W_out - 1) + 1
    for i in range(HH):
        for j in range(WW):
            dxp[:, :, i : i + h_stop : stride, j : j + w_stop : stride] += cols6[:, :, i, j]
    if pad == 0:
        return dxp
    return np.ascontiguousarray(dxp[:, :, pad : pad + H, pad : pad + W])


def maxpool_forward(x: np.ndarray, ph: int, pw: int, stride: int):
    """Max-pool forward with first-argmax indices (NumPy; im2col or reshape path).

    Returns
    -------
    out : ndarray of shape (N, C, H_out, W_out)
    idx : ndarray of int64, shape (N, C, H_out, W_out)
        Flat index into ``x`` of each window's FIRST maximum in row-major (argmax) order.
    """
    N, C, H, W = x.shape
    H_out = out_size(H, ph, 0, stride)
    W_out = out_size(W, pw, 0, stride)
    sN, sC, sH, sW = x.strides
    if ph == pw == stride and H % ph == 0 and W % pw == 0:
        # Reshape path: the windows tile the input.
        xr = np.ascontiguousarray(x).reshape(N, C, H_out, ph, W_out, pw)
        win = xr.transpose(0, 1, 2, 4, 3, 5).reshape(N, C, H_out, W_out, ph * pw)
    else:
        # im2col path: a strided view of every window, copied once.
        xc = np.ascontiguousarray(x)
        sN, sC, sH, sW = xc.strides
        win = as_strided(
            xc,
            shape=(N, C, H_out, W_out, ph, pw),
            strides=(sN, sC, stride * sH, stride * sW, sH, sW),
            writeable=False,
        ).reshape(N, C, H_out, W_out, ph * pw)
    arg = win.argmax(axis=-1)
    out = np.take_along_axis(win, arg[..., None], axis=-1)[..., 0]
    # Window offset -> flat index into x.
    di, dj = np.divmod(arg, pw)
    n = np.arange(N)[:, None, None, None]
    c = np.arange(C)[None, :, None, None]
    h = (np.arange(H_out) * stride)[None, None, :, None] + di
    w = (np.arange(W_out) * stride)[None, None, None, :] + dj
    idx = ((n * C + c) * H + h) * W + w
    return np.ascontiguousarray(out), idx.astype(np.int64)


def maxpool_backward(dout: np.ndarray, idx: np.ndarray, x_shape) -> np.ndarray:
    """Scatter ``dout`` to the argmax positions ``idx``, accumulating overlaps."""
    size = int(np.prod(x_shape))
    dx = np.bincount(idx.ravel(), weights=dout.ravel(), minlength=size)
    return dx.astype(dout.dtype, copy=False).reshape(x_shape)
