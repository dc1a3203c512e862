"""Sandwich layers: common chains of layers packaged as one forward/backward pair.

Each forward returns ``(out, cache)`` with a ``NamedTuple`` cache holding the caches of its
pieces; each backward takes ``(dout, cache)`` and returns the gradients of the sandwich's
inputs, in input order. The convolution sandwiches run on the fast layers
(``intro2ai.fast_layers``), so they work the same whether or not the Cython extension is
built (only slower without it). Shapes use the letters defined in ``intro2ai.layers``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from intro2ai import fast_layers, layers

__all__ = [
    "affine_relu_forward",
    "affine_relu_backward",
    "conv_relu_forward",
    "conv_relu_backward",
    "conv_relu_pool_forward",
    "conv_relu_pool_backward",
]


class AffineReluCache(NamedTuple):
    """Caches of the affine and ReLU pieces."""

    fc_cache: Any
    relu_cache: Any


class ConvReluCache(NamedTuple):
    """Caches of the convolution and ReLU pieces."""

    conv_cache: Any
    relu_cache: Any


class ConvReluPoolCache(NamedTuple):
    """Caches of the convolution, max-pool and ReLU pieces (the ReLU runs after the pool)."""

    conv_cache: Any
    relu_cache: Any
    pool_cache: Any


def _check_cache(who: str, cache: Any, cls: type) -> None:
    if not isinstance(cache, tuple) or len(cache) != len(cls._fields):
        raise TypeError(
            f"{who}: cache must be the {cls.__name__} returned by the matching forward "
            f"function, got {type(cache).__name__}"
        )


def affine_relu_forward(
    x: np.ndarray, w: np.ndarray, b: np.ndarray
) -> tuple[np.ndarray, AffineReluCache]:
    """Affine layer followed by a ReLU.

    Parameters
    ----------
    x : ndarray of shape (N, d_1, ..., d_k)
    w : ndarray of shape (D, M)
    b : ndarray of shape (M,)

    Returns
    -------
    out : ndarray of shape (N, M)
    cache : AffineReluCache
    """
    a, fc_cache = layers.affine_forward(x, w, b)
    out, relu_cache = layers.relu_forward(a)
    return out, AffineReluCache(fc_cache, relu_cache)


def affine_relu_backward(
    dout: np.ndarray, cache: AffineReluCache
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backward pass of ``affine_relu_forward``.

    Returns
    -------
    dx : ndarray of shape (N, d_1, ..., d_k)
    dw : ndarray of shape (D, M)
    db : ndarray of shape (M,)
    """
    _check_cache("affine_relu_backward", cache, AffineReluCache)
    fc_cache, relu_cache = cache
    da = layers.relu_backward(dout, relu_cache)
    return layers.affine_backward(da, fc_cache)


def conv_relu_forward(
    x: np.ndarray, w: np.ndarray, b: np.ndarray, conv_param: dict
) -> tuple[np.ndarray, ConvReluCache]:
    """Convolution (fast layer) followed by a ReLU.

    Parameters
    ----------
    x : ndarray of shape (N, C, H, W)
    w : ndarray of shape (F, C, HH, WW)
    b : ndarray of shape (F,)
    conv_param : dict
        ``{'stride': int, 'pad': int}``.

    Returns
    -------
    out : ndarray of shape (N, F, H_out, W_out)
    cache : ConvReluCache
    """
    a, conv_cache = fast_layers.conv_forward_fast(x, w, b, conv_param)
    out, relu_cache = layers.relu_forward(a)
    return out, ConvReluCache(conv_cache, relu_cache)


def conv_relu_backward(
    dout: np.ndarray, cache: ConvReluCache, need_dx: bool = True
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """Backward pass of ``conv_relu_forward``.

    ``need_dx=False`` skips the input gradient (dx is None): cheaper for a first layer.

    Returns
    -------
    dx : ndarray of shape (N, C, H, W), or None if ``need_dx`` is False
    dw : ndarray of shape (F, C, HH, WW)
    db : ndarray of shape (F,)
    """
    _check_cache("conv_relu_backward", cache, ConvReluCache)
    conv_cache, relu_cache = cache
    da = layers.relu_backward(dout, relu_cache)
    return fast_layers.conv_backward_fast(da, conv_cache, need_dx=need_dx)


def conv_relu_pool_forward(
    x: np.ndarray, w: np.ndarray, b: np.ndarray, conv_param: dict, pool_param: dict
) -> tuple[np.ndarray, ConvReluPoolCache]:
    """Convolution, ReLU, then max pooling (all on the fast layers).

    Parameters
    ----------
    x : ndarray of shape (N, C, H, W)
    w : ndarray of shape (F, C, HH, WW)
    b : ndarray of shape (F,)
    conv_param : dict
        ``{'stride': int, 'pad': int}``.
    pool_param : dict
        ``{'pool_height': int, 'pool_width': int, 'stride': int}``.

    Returns
    -------
    out : ndarray of shape (N, F, H_pool, W_pool)
        The pooled output of the ReLU'd convolution.
    cache : ConvReluPoolCache
    """
    # max(relu(a)) == relu(max(a)), so the ReLU runs on the pooled output (a quarter of the
    # elements for a 2x2 pool). The gradients are the same too: where a window's maximum is
    # positive both orders pick its first maximum, and where it is not, the ReLU zeroes the
    # window's gradient whichever element the pool chose.
    a, conv_cache = fast_layers.conv_forward_fast(x, w, b, conv_param)
    pooled, pool_cache = fast_layers.max_pool_forward_fast(a, pool_param)
    out, relu_cache = layers.relu_forward(pooled)
    return out, ConvReluPoolCache(conv_cache, relu_cache, pool_cache)


def conv_relu_pool_backward(
    dout: np.ndarray, cache: ConvReluPoolCache, need_dx: bool = True
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """Backward pass of ``conv_relu_pool_forward``.

    ``need_dx=False`` skips the input gradient (dx is None): cheaper for a first layer.

    Returns
    -------
    dx : ndarray of shape (N, C, H, W), or None if ``need_dx`` is False
    dw : ndarray of shape (F, C, HH, WW)
    db : ndarray of shape (F,)
    """
    _check_cache("conv_relu_pool_backward", cache, ConvReluPoolCache)
    conv_cache, relu_cache, pool_cache = cache
    dpooled = layers.relu_backward(dout, relu_cache)
    da = fast_layers.max_pool_backward_fast(dpooled, pool_cache)
    return fast_layers.conv_backward_fast(da, conv_cache, need_dx=need_dx)
