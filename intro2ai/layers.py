"""Naive layers: forward and backward passes written with plain NumPy loops.

Every layer follows the cs231n contract::

    out, cache = <layer>_forward(inputs..., params)
    grads = <layer>_backward(dout, cache)      # gradients in the order of the inputs

Letters used for shapes throughout the kit
------------------------------------------
N
    batch size (number of examples).
C
    number of input channels.
H, W
    height and width of an input image (or feature map).
F
    number of convolution filters (output channels).
HH, WW
    height and width of one filter (``w`` has shape ``(F, C, HH, WW)``).
H_out, W_out
    height and width of the output of a convolution or pooling layer::

        H_out = 1 + (H + 2 * pad - HH) // stride          # convolution
        H_out = 1 + (H - pool_height) // stride           # max pooling

    (likewise ``W_out`` with ``W``, ``WW`` and ``pool_width``).
D
    number of input features of an affine layer (``x`` is reshaped to ``(N, D)``).
M
    number of output features of an affine layer.
K
    number of classes of a loss function (scores have shape ``(N, K)``).

Parameter dictionaries (as in cs231n)
-------------------------------------
``conv_param = {'stride': int >= 1, 'pad': int >= 0}`` (zero padding on all four sides);
``pool_param = {'pool_height': int, 'pool_width': int, 'stride': int}``;
``dropout_param = {'p': keep probability, 'mode': 'train' | 'test', 'seed': optional int}``.

Max-pooling ties
----------------
When a pooling window holds several equal maxima, its whole upstream gradient goes to the
FIRST maximum in row-major order inside the window (the element ``np.argmax`` picks on the
flattened window). Where windows overlap (stride < pool size), the gradients of all windows
that pick the same element are added. The fast layers follow the same rule.

Student tasks
-------------
``conv_forward_naive`` (``hw5_conv_forward``), ``conv_backward_naive`` (``hw5_conv_backward``),
``max_pool_forward_naive`` (``hw5_max_pool_forward``) and ``max_pool_backward_naive``
(``hw5_max_pool_backward``). Their input checks and caches are provided; the computation in
between is the student's (each task's ``Task id`` is named in its docstring).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from intro2ai import _checks

__all__ = [
    "AffineCache",
    "ConvCache",
    "PoolCache",
    "affine_forward",
    "affine_backward",
    "relu_forward",
    "relu_backward",
    "tanh_forward",
    "tanh_backward",
    "dropout_forward",
    "dropout_backward",
    "softmax_loss",
    "svm_loss",
    "conv_forward_naive",
    "conv_backward_naive",
    "max_pool_forward_naive",
    "max_pool_backward_naive",
]


# ----------------------------------------------------------------------------------------------
# Caches: they unpack like cs231n's tuples and print with field names.
# ----------------------------------------------------------------------------------------------


class AffineCache(NamedTuple):
    """Cache of ``affine_forward``: its inputs."""

    x: np.ndarray
    w: np.ndarray
    b: np.ndarray


class ConvCache(NamedTuple):
    """Cache of ``conv_forward_naive``: its inputs (``x`` unpadded)."""

    x: np.ndarray
    w: np.ndarray
    b: np.ndarray
    conv_param: dict


class PoolCache(NamedTuple):
    """Cache of ``max_pool_forward_naive``: its inputs."""

    x: np.ndarray
    pool_param: dict


class DropoutCache(NamedTuple):
    """Cache of ``dropout_forward``: the parameters and the (scaled) mask, None in test mode."""

    dropout_param: dict
    mask: np.ndarray | None


# ----------------------------------------------------------------------------------------------
# Input checks of the provided layers (the conv/pool checks live in intro2ai._checks).
# ----------------------------------------------------------------------------------------------


def _float_array(who: str, name: str, arr: Any, layout: str) -> None:
    """Raise TypeError unless ``arr`` is a floating-point ndarray."""
    if not isinstance(arr, np.ndarray):
        raise TypeError(
            f"{who}: {name} must be a numpy ndarray of shape {layout}, got "
            f"{type(arr).__name__}; convert it with np.asarray({name}, dtype=np.float64)"
        )
    if not np.issubdtype(arr.dtype, np.floating):
        raise TypeError(
            f"{who}: {name} must be a floating-point array (float32 or float64), got dtype "
            f"{arr.dtype} with shape {arr.shape}; convert it with {name}.astype(np.float64)"
        )


def _check_dout(who: str, dout: Any, expected: tuple[int, ...]) -> None:
    """Raise unless ``dout`` is a floating ndarray of the forward output's shape."""
    _float_array(who, "dout", dout, str(expected))
    if dout.shape != tuple(expected):
        raise ValueError(
            f"{who}: dout must have the shape of the forward output {tuple(expected)}, got "
            f"{dout.shape}; pass the upstream gradient of this layer's output together with "
            f"the cache from the same forward call"
        )


def _check_labels(who: str, x: Any, y: Any) -> None:
    """Check scores ``x`` of shape (N, K) and integer labels ``y`` of shape (N,) in [0, K)."""
    _float_array(who, "x", x, "(N, K)")
    if x.ndim != 2:
        raise ValueError(
            f"{who}: x must be class scores of shape (N, K), got {x.ndim} dimensions with "
            f"shape {x.shape}; reshape it to (N, K)"
        )
    if not isinstance(y, np.ndarray) or not np.issubdtype(y.dtype, np.integer):
        got = f"dtype {y.dtype}" if isinstance(y, np.ndarray) else type(y).__name__
        raise TypeError(
            f"{who}: y must be an integer ndarray of labels with shape ({x.shape[0]},), got "
            f"{got}; convert it with np.asarray(y, dtype=np.int64)"
        )
    if y.shape != (x.shape[0],):
        raise ValueError(
            f"{who}: y must have shape (N,) = ({x.shape[0]},) to match x of shape {x.shape}, "
            f"got {y.shape}; pass one label per row of x"
        )
    if y.size and (y.min() < 0 or y.max() >= x.shape[1]):
        raise ValueError(
            f"{who}: labels must lie in [0, K) = [0, {x.shape[1]}) for x of shape {x.shape}, "
            f"got values from {y.min()} to {y.max()}; check the number of classes"
        )


# ----------------------------------------------------------------------------------------------
# Provided layers
# ----------------------------------------------------------------------------------------------


def affine_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, AffineCache]:
    """Forward pass of an affine (fully connected) layer: ``out = x.reshape(N, D) @ w + b``.

    Parameters
    ----------
    x : ndarray of shape (N, d_1, ..., d_k)
        Input batch; each example is flattened to ``D = d_1 * ... * d_k`` features.
    w : ndarray of shape (D, M)
        Weights.
    b : ndarray of shape (M,)
        Biases.

    Returns
    -------
    out : ndarray of shape (N, M)
    cache : AffineCache
        ``(x, w, b)`` for ``affine_backward``.
    """
    who = "affine_forward"
    _float_array(who, "x", x, "(N, d_1, ..., d_k)")
    _float_array(who, "w", w, "(D, M)")
    _float_array(who, "b", b, "(M,)")
    if x.ndim < 1:
        raise ValueError(f"{who}: x must have a batch axis, got a 0-d array; use shape (N, D)")
    if w.ndim != 2:
        raise ValueError(
            f"{who}: w must have shape (D, M), got {w.ndim} dimensions with shape {w.shape}"
        )
    D = int(np.prod(x.shape[1:], dtype=np.int64))
    if w.shape[0] != D:
        raise ValueError(
            f"{who}: x of shape {x.shape} has D = {D} features per example but w has "
            f"{w.shape[0]} rows (shape {w.shape}); w must have shape ({D}, M)"
        )
    if b.shape != (w.shape[1],):
        raise ValueError(
            f"{who}: b must have shape (M,) = ({w.shape[1]},) to match w of shape {w.shape}, "
            f"got {b.shape}; use one bias per output"
        )
    out = x.reshape(x.shape[0], D) @ w + b
    return out, AffineCache(x, w, b)


def affine_backward(
    dout: np.ndarray, cache: AffineCache
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backward pass of an affine layer.

    Parameters
    ----------
    dout : ndarray of shape (N, M)
        Upstream gradient.
    cache : AffineCache
        ``(x, w, b)`` from ``affine_forward``.

    Returns
    -------
    dx : ndarray of shape (N, d_1, ..., d_k)
    dw : ndarray of shape (D, M)
    db : ndarray of shape (M,)
    """
    x, w, b = cache
    N = x.shape[0]
    _check_dout("affine_backward", dout, (N, w.shape[1]))
    dx = (dout @ w.T).reshape(x.shape)
    dw = x.reshape(N, -1).T @ dout
    db = dout.sum(axis=0)
    return dx, dw, db


def relu_forward(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Forward pass of a rectified linear unit: ``out = max(x, 0)``.

    Parameters
    ----------
    x : ndarray of any shape

    Returns
    -------
    out : ndarray of the shape of ``x``
    cache : ndarray
        ``x`` itself.
    """
    _float_array("relu_forward", "x", x, "(any shape)")
    return np.maximum(x, 0), x


def relu_backward(dout: np.ndarray, cache: np.ndarray) -> np.ndarray:
    """Backward pass of a ReLU: the gradient flows where ``x > 0`` (0 at ``x == 0``).

    Parameters
    ----------
    dout : ndarray of any shape
        Upstream gradient.
    cache : ndarray
        ``x`` from ``relu_forward``.

    Returns
    -------
    dx : ndarray of the shape of ``x``
    """
    x = cache
    _check_dout("relu_backward", dout, x.shape)
    return dout * (x > 0)


def tanh_forward(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Forward pass of a tanh non-linearity.

    Parameters
    ----------
    x : ndarray of any shape

    Returns
    -------
    out : ndarray of the shape of ``x``
    cache : ndarray
        ``out`` (the backward pass only needs ``tanh(x)``).
    """
    _float_array("tanh_forward", "x", x, "(any shape)")
    out = np.tanh(x)
    return out, out


def tanh_backward(dout: np.ndarray, cache: np.ndarray) -> np.ndarray:
    """Backward pass of tanh: ``dx = dout * (1 - tanh(x) ** 2)``.

    Parameters
    ----------
    dout : ndarray of any shape
        Upstream gradient.
    cache : ndarray
        ``tanh(x)`` from ``tanh_forward``.

    Returns
    -------
    dx : ndarray of the shape of ``x``
    """
    out = cache
    _check_dout("tanh_backward", dout, out.shape)
    return dout * (1 - out**2)


def dropout_forward(x: np.ndarray, dropout_param: dict) -> tuple[np.ndarray, DropoutCache]:
    """Forward pass of (inverted) dropout, cs231n semantics.

    Parameters
    ----------
    x : ndarray of any shape
    dropout_param : dict
        ``'p'``: probability of KEEPING each unit, in (0, 1];
        ``'mode'``: ``'train'`` (drop and rescale by ``1/p``) or ``'test'`` (identity);
        ``'seed'`` (optional): makes the mask reproducible (a private generator is used,
        the global NumPy random state is left alone). Without a seed the mask comes from
        ``np.random``, so ``np.random.seed`` makes it reproducible.

    Returns
    -------
    out : ndarray of the shape of ``x``
    cache : DropoutCache
        ``(dropout_param, mask)``; ``mask`` already holds the ``1/p`` scale (None in test mode).
    """
    who = "dropout_forward"
    _float_array(who, "x", x, "(any shape)")
    if not isinstance(dropout_param, dict):
        raise TypeError(
            f"{who}: dropout_param must be a dict like {{'p': 0.5, 'mode': 'train'}}, got "
            f"{type(dropout_param).__name__}"
        )
    if "p" not in dropout_param:
        raise ValueError(
            f"{who}: dropout_param is missing key 'p' (keep probability), got keys "
            f"{sorted(map(str, dropout_param))}; add e.g. 'p': 0.5"
        )
    p = dropout_param["p"]
    if not (isinstance(p, (int, float, np.floating)) and 0 < p <= 1):
        raise ValueError(
            f"{who}: dropout_param['p'] is the probability of keeping a unit and must lie in "
            f"(0, 1], got {p!r}; use e.g. 0.5"
        )
    mode = dropout_param.get("mode", "train")
    if mode not in ("train", "test"):
        raise ValueError(
            f"{who}: dropout_param['mode'] must be 'train' or 'test', got {mode!r}"
        )
    if mode == "test":
        return x.copy(), DropoutCache(dropout_param, None)
    seed = dropout_param.get("seed")
    rng = np.random.default_rng(seed) if seed is not None else np.random
    mask = ((rng.random(x.shape) < p) / p).astype(x.dtype)
    return x * mask, DropoutCache(dropout_param, mask)


def dropout_backward(dout: np.ndarray, cache: DropoutCache) -> np.ndarray:
    """Backward pass of (inverted) dropout.

    Parameters
    ----------
    dout : ndarray of any shape
        Upstream gradient.
    cache : DropoutCache
        ``(dropout_param, mask)`` from ``dropout_forward``.

    Returns
    -------
    dx : ndarray of the shape of ``dout``
    """
    dropout_param, mask = cache
    if mask is None:  # test mode: the layer was the identity
        _float_array("dropout_backward", "dout", dout, "(any shape)")
        return dout.copy()
    _check_dout("dropout_backward", dout, mask.shape)
    return dout * mask


def softmax_loss(x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Average cross-entropy loss of softmax classification, and its gradient.

    Parameters
    ----------
    x : ndarray of shape (N, K)
        Class scores; ``x[i, j]`` is the score of class ``j`` for example ``i``.
    y : ndarray of int of shape (N,)
        Labels, ``0 <= y[i] < K``.

    Returns
    -------
    loss : float
    dx : ndarray of shape (N, K)
        Gradient of the loss with respect to ``x``.
    """
    _check_labels("softmax_loss", x, y)
    N = x.shape[0]
    shifted = x - x.max(axis=1, keepdims=True)  # stable: exp never overflows
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = -log_probs[np.arange(N), y].mean()
    dx = np.exp(log_probs)
    dx[np.arange(N), y] -= 1
    dx /= N
    return float(loss), dx


def svm_loss(x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Average multiclass SVM (hinge) loss with margin 1, and its gradient.

    Parameters
    ----------
    x : ndarray of shape (N, K)
        Class scores.
    y : ndarray of int of shape (N,)
        Labels, ``0 <= y[i] < K``.

    Returns
    -------
    loss : float
    dx : ndarray of shape (N, K)
    """
    _check_labels("svm_loss", x, y)
    N = x.shape[0]
    correct = x[np.arange(N), y][:, None]
    margins = np.maximum(0, x - correct + 1.0)
    margins[np.arange(N), y] = 0
    loss = margins.sum() / N
    positive = (margins > 0).astype(x.dtype)
    dx = positive
    dx[np.arange(N), y] -= positive.sum(axis=1)
    dx /= N
    return float(loss), dx


# ----------------------------------------------------------------------------------------------
# Student tasks (HW5)
# ----------------------------------------------------------------------------------------------


def conv_forward_naive(
    x: np.ndarray, w: np.ndarray, b: np.ndarray, conv_param: dict
) -> tuple[np.ndarray, ConvCache]:
    """Naive forward pass of a convolutional layer.

    Task id: hw5_conv_forward

    Each of the ``F`` filters is slid over the zero-padded input; at every output position the
    filter and the input window under it are multiplied elementwise, summed over all ``C``
    channels and the ``HH x WW`` window, and the filter's bias is added. (As in every deep
    learning library, this is a cross-correlation: the filter is NOT flipped.)

    Parameters
    ----------
    x : ndarray of shape (N, C, H, W)
        Input data.
    w : ndarray of shape (F, C, HH, WW)
        Filter weights.
    b : ndarray of shape (F,)
        Biases, one per filter.
    conv_param : dict
        ``'stride'``: distance in pixels between neighbouring windows (both directions);
        ``'pad'``: number of zero rows/columns added on each of the four sides of ``x``.

    Returns
    -------
    out : ndarray of shape (N, F, H_out, W_out)
        ``H_out = 1 + (H + 2 * pad - HH) // stride``, ``W_out = 1 + (W + 2 * pad - WW) // stride``.
    cache : ConvCache
        ``(x, w, b, conv_param)`` for ``conv_backward_naive`` (built for you below).

    Notes
    -----
    ``stride, pad, H_out, W_out`` are already computed (and checked) for you.
    Hint (힌트): ``np.pad`` 로 x 의 H, W 축에만 zero padding 을 하세요. 출력 위치 (i, j) 마다
    입력에서 필터 크기(HH x WW)만큼의 창(window)을 모든 채널에 걸쳐 잘라내고, 필터와
    원소별로 곱해 합하면 됩니다. 창의 시작 위치는 stride 에 따라 정해집니다.
    """
    stride, pad, H_out, W_out = _checks.conv_geometry("conv_forward_naive", x, w, b, conv_param)
    ### BEGIN SOLUTION
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), mode="constant")
    out = np.zeros((N, F, H_out, W_out), dtype=np.result_type(x, w, b))
    for n in range(N):
        for i in range(H_out):
            top = i * stride
            for j in range(W_out):
                left = j * stride
                window = x_pad[n, :, top:top + HH, left:left + WW]  # (C, HH, WW)
                # window broadcasts against every filter: (F, C, HH, WW) -> (F,)
                out[n, :, i, j] = np.sum(window * w, axis=(1, 2, 3)) + b
    ### END SOLUTION
    cache = ConvCache(x, w, b, conv_param)
    return out, cache


def conv_backward_naive(
    dout: np.ndarray, cache: ConvCache
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Naive backward pass of a convolutional layer.

    Task id: hw5_conv_backward

    Parameters
    ----------
    dout : ndarray of shape (N, F, H_out, W_out)
        Upstream gradient (gradient of the loss with respect to ``out``).
    cache : ConvCache
        ``(x, w, b, conv_param)`` from ``conv_forward_naive``.

    Returns
    -------
    dx : ndarray of shape (N, C, H, W)
        Gradient with respect to ``x`` (the unpadded input).
    dw : ndarray of shape (F, C, HH, WW)
        Gradient with respect to ``w``.
    db : ndarray of shape (F,)
        Gradient with respect to ``b``.

    Notes
    -----
    Hint (힌트): forward 와 같은 순서로 출력 위치 (i, j) 를 돌면서, ``dout[n, :, i, j]`` 가
    그 위치를 만든 창(window)과 필터에 어떻게 되돌아가는지 생각하세요. 창끼리 겹치면
    gradient 를 더해야(+=) 합니다. padding 된 배열에서 gradient 를 모은 뒤 pad 부분을
    잘라내면 ``dx`` 가 됩니다.
    """
    x, w, b, conv_param = cache
    stride, pad, H_out, W_out = _checks.conv_geometry("conv_backward_naive", x, w, b, conv_param)
    _check_dout("conv_backward_naive", dout, (x.shape[0], w.shape[0], H_out, W_out))
    ### BEGIN SOLUTION
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), mode="constant")
    dx_pad = np.zeros_like(x_pad, dtype=np.result_type(x, w, dout))
    dw = np.zeros_like(w, dtype=np.result_type(x, w, dout))
    db = dout.sum(axis=(0, 2, 3))
    for n in range(N):
        for i in range(H_out):
            top = i * stride
            for j in range(W_out):
                left = j * stride
                window = x_pad[n, :, top:top + HH, left:left + WW]  # (C, HH, WW)
                g = dout[n, :, i, j][:, None, None, None]  # (F, 1, 1, 1)
                dw += g * window
                dx_pad[n, :, top:top + HH, left:left + WW] += np.sum(g * w, axis=0)
    dx = dx_pad[:, :, pad:pad + H, pad:pad + W]
    ### END SOLUTION
    return dx, dw, db


def max_pool_forward_naive(x: np.ndarray, pool_param: dict) -> tuple[np.ndarray, PoolCache]:
    """Naive forward pass of a max-pooling layer.

    Task id: hw5_max_pool_forward

    Parameters
    ----------
    x : ndarray of shape (N, C, H, W)
        Input data.
    pool_param : dict
        ``'pool_height'``, ``'pool_width'``: size of each pooling window;
        ``'stride'``: distance between neighbouring windows. No padding.

    Returns
    -------
    out : ndarray of shape (N, C, H_out, W_out)
        The maximum of every window, channel by channel.
        ``H_out = 1 + (H - pool_height) // stride``, ``W_out = 1 + (W - pool_width) // stride``.
    cache : PoolCache
        ``(x, pool_param)`` for ``max_pool_backward_naive`` (built for you below).

    Notes
    -----
    ``pool_height, pool_width, stride, H_out, W_out`` are already computed (and checked).
    Hint (힌트): 채널끼리는 섞지 않습니다. ``np.max`` 의 ``axis`` 인자로 창(window)의
    높이·너비 축에 대해서만 최댓값을 구하세요.
    """
    pool_height, pool_width, stride, H_out, W_out = _checks.pool_geometry(
        "max_pool_forward_naive", x, pool_param
    )
    ### BEGIN SOLUTION
    N, C, H, W = x.shape
    out = np.zeros((N, C, H_out, W_out), dtype=x.dtype)
    for n in range(N):
        for i in range(H_out):
            top = i * stride
            for j in range(W_out):
                left = j * stride
                window = x[n, :, top:top + pool_height, left:left + pool_width]  # (C, ph, pw)
                out[n, :, i, j] = np.max(window, axis=(1, 2))
    ### END SOLUTION
    cache = PoolCache(x, pool_param)
    return out, cache


def max_pool_backward_naive(dout: np.ndarray, cache: PoolCache) -> np.ndarray:
    """Naive backward pass of a max-pooling layer.

    Task id: hw5_max_pool_backward

    Parameters
    ----------
    dout : ndarray of shape (N, C, H_out, W_out)
        Upstream gradient.
    cache : PoolCache
        ``(x, pool_param)`` from ``max_pool_forward_naive``.

    Returns
    -------
    dx : ndarray of shape (N, C, H, W)
        Each window's upstream gradient goes to the position of its maximum; every other
        position of the window gets 0 from that window.

    Notes
    -----
    Ties: if a window holds several equal maxima, the whole gradient goes to the FIRST of them
    in row-major order (the one ``np.argmax`` of the flattened window returns). Overlapping
    windows (stride < pool size) add their gradients.
    Hint (힌트): ``np.argmax`` 는 평탄화된(flattened) 창에서 첫 번째 최댓값의 위치를
    돌려줍니다. ``np.unravel_index`` 로 (행, 열) 위치로 바꿀 수 있습니다.
    """
    x, pool_param = cache
    pool_height, pool_width, stride, H_out, W_out = _checks.pool_geometry(
        "max_pool_backward_naive", x, pool_param
    )
    _check_dout("max_pool_backward_naive", dout, (x.shape[0], x.shape[1], H_out, W_out))
    ### BEGIN SOLUTION
    N, C, H, W = x.shape
    dx = np.zeros(x.shape, dtype=np.result_type(x, dout))
    channels = np.arange(C)
    for n in range(N):
        for i in range(H_out):
            top = i * stride
            for j in range(W_out):
                left = j * stride
                window = x[n, :, top:top + pool_height, left:left + pool_width]
                first_max = np.argmax(window.reshape(C, -1), axis=1)  # (C,), row-major order
                r, s = np.unravel_index(first_max, (pool_height, pool_width))
                dx[n, channels, top + r, left + s] += dout[n, :, i, j]
    ### END SOLUTION
    return dx
