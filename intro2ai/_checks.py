"""Input checks shared by the naive layers (``layers``) and the fast layers.

Both functions validate the public inputs of a convolution or a max-pool layer and return its
geometry, so every layer computes output sizes the same way::

    H_out = 1 + (H + 2 * pad - HH) // stride

They raise ``TypeError`` for values of the wrong kind (non-ndarray, integer arrays, a param
that is not a dict, a non-integer stride/pad) and ``ValueError`` for values of the right kind
that do not fit together (wrong ndim, channel mismatch, bias shape, missing keys, a stride
that does not divide, a window larger than the input). Each message names the caller
(``who``), what was expected, what was received and how to fix it.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

__all__ = ["conv_geometry", "pool_geometry"]


def _check_float_array(who: str, name: str, arr: Any, ndim: int, layout: str) -> None:
    """Check that ``arr`` is a floating ndarray with ``ndim`` dimensions."""
    if not isinstance(arr, np.ndarray):
        raise TypeError(
            f"{who}: {name} must be a numpy ndarray of shape {layout}, "
            f"got {type(arr).__name__}; convert it with np.asarray({name}, dtype=np.float64)"
        )
    if not np.issubdtype(arr.dtype, np.floating):
        raise TypeError(
            f"{who}: {name} must be a floating-point array (float32 or float64), got dtype "
            f"{arr.dtype} with shape {arr.shape}; convert it with {name}.astype(np.float64)"
        )
    if arr.ndim != ndim:
        raise ValueError(
            f"{who}: {name} must have {ndim} dimensions {layout}, got {arr.ndim} dimensions "
            f"with shape {arr.shape}; reshape it to {layout}"
        )


def _check_param_dict(who: str, name: str, param: Any, keys: tuple[str, ...]) -> None:
    if not isinstance(param, dict):
        example = ", ".join(f"'{k}': ..." for k in keys)
        raise TypeError(
            f"{who}: {name} must be a dict like {{{example}}}, got {type(param).__name__}"
        )
    missing = [k for k in keys if k not in param]
    if missing:
        raise ValueError(
            f"{who}: {name} is missing key(s) {missing}; expected keys {list(keys)}, "
            f"got {sorted(map(str, param))}"
        )


def _int_param(who: str, name: str, param: dict, key: str, minimum: int) -> int:
    """Return ``param[key]`` as a Python int, checking kind and lower bound."""
    value = param[key]
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        if isinstance(value, numbers.Real) and float(value).is_integer():
            hint = f"use {name}['{key}'] = {int(value)}"
        else:
            hint = f"set {name}['{key}'] to an integer"
        raise TypeError(
            f"{who}: {name}['{key}'] must be an integer, got {value!r} "
            f"({type(value).__name__}); {hint}"
        )
    value = int(value)
    if value < minimum:
        raise ValueError(
            f"{who}: {name}['{key}'] must be >= {minimum}, got {value}; "
            f"set {name}['{key}'] to an integer >= {minimum}"
        )
    return value


def _out_size(
    who: str, axis: str, size: int, pad: int, window: int, wname: str, stride: int, pad_hint: bool
) -> int:
    """Output size along one axis, checking fit and divisibility."""
    padded = size + 2 * pad
    if window > padded:
        where = (
            f"the padded input ({axis} + 2*pad = {padded})"
            if pad
            else f"the input ({axis} = {size})"
        )
        fix = "use a smaller window or a larger pad" if pad_hint else "use a smaller pool window"
        raise ValueError(f"{who}: {wname} = {window} is larger than {where}; {fix}")
    span = padded - window
    if span % stride != 0:
        expr = f"({axis} + 2*pad - {wname})" if pad_hint else f"({axis} - {wname})"
        fix = "change pad or stride" if pad_hint else "change the pool size or stride"
        raise ValueError(f"{who}: {expr} = {span} is not divisible by stride {stride}; {fix}")
    return 1 + span // stride


def conv_geometry(who: str, x: Any, w: Any, b: Any, conv_param: Any) -> tuple[int, int, int, int]:
    """Validate the inputs of a convolution layer and return its geometry.

    Parameters
    ----------
    who : str
        Name of the calling function, used in error messages.
    x : ndarray of shape (N, C, H, W)
        Input data, float32 or float64.
    w : ndarray of shape (F, C, HH, WW)
        Filter weights, floating point.
    b : ndarray of shape (F,)
        Biases, floating point.
    conv_param : dict
        ``{'stride': int >= 1, 'pad': int >= 0}``.

    Returns
    -------
    stride, pad, H_out, W_out : int
        ``H_out = 1 + (H + 2 * pad - HH) // stride``, likewise ``W_out``.

    Raises
    ------
    TypeError
        Non-ndarray or non-floating arrays, ``conv_param`` not a dict, non-integer stride/pad.
    ValueError
        Wrong ndim, channel mismatch, bias shape not ``(F,)``, missing keys, stride < 1,
        pad < 0, filter larger than the padded input, ``(H + 2*pad - HH)`` or
        ``(W + 2*pad - WW)`` not divisible by the stride.
    """
    _check_float_array(who, "x", x, 4, "(N, C, H, W)")
    _check_float_array(who, "w", w, 4, "(F, C, HH, WW)")
    _check_float_array(who, "b", b, 1, "(F,)")
    N, C, H, W = x.shape
    F, Cw, HH, WW = w.shape
    if Cw != C:
        raise ValueError(
            f"{who}: x has C = {C} channels (shape {x.shape}) but w has {Cw} "
            f"(shape {w.shape}); w must have shape (F, {C}, HH, WW)"
        )
    if b.shape != (F,):
        raise ValueError(
            f"{who}: b must have shape (F,) = ({F},) to match w of shape {w.shape}, "
            f"got {b.shape}; use one bias per filter"
        )
    if HH < 1 or WW < 1:
        raise ValueError(f"{who}: filter size must be at least 1x1, got w of shape {w.shape}")
    _check_param_dict(who, "conv_param", conv_param, ("stride", "pad"))
    stride = _int_param(who, "conv_param", conv_param, "stride", 1)
    pad = _int_param(who, "conv_param", conv_param, "pad", 0)
    H_out = _out_size(who, "H", H, pad, HH, "HH", stride, True)
    W_out = _out_size(who, "W", W, pad, WW, "WW", stride, True)
    return stride, pad, H_out, W_out


def pool_geometry(who: str, x: Any, pool_param: Any) -> tuple[int, int, int, int, int]:
    """Validate the inputs of a max-pool layer and return its geometry.

    Parameters
    ----------
    who : str
        Name of the calling function, used in error messages.
    x : ndarray of shape (N, C, H, W)
        Input data, float32 or float64.
    pool_param : dict
        ``{'pool_height': int >= 1, 'pool_width': int >= 1, 'stride': int >= 1}``.

    Returns
    -------
    pool_height, pool_width, stride, H_out, W_out : int
        ``H_out = 1 + (H - pool_height) // stride``, likewise ``W_out``.

    Raises
    ------
    TypeError
        Non-ndarray or non-floating ``x``, ``pool_param`` not a dict, non-integer entries.
    ValueError
        Wrong ndim, missing keys, sizes < 1, a window larger than the input, or
        ``(H - pool_height)`` / ``(W - pool_width)`` not divisible by the stride.
    """
    _check_float_array(who, "x", x, 4, "(N, C, H, W)")
    _check_param_dict(who, "pool_param", pool_param, ("pool_height", "pool_width", "stride"))
    ph = _int_param(who, "pool_param", pool_param, "pool_height", 1)
    pw = _int_param(who, "pool_param", pool_param, "pool_width", 1)
    stride = _int_param(who, "pool_param", pool_param, "stride", 1)
    _, _, H, W = x.shape
    H_out = _out_size(who, "H", H, 0, ph, "pool_height", stride, False)
    W_out = _out_size(who, "W", W, 0, pw, "pool_width", stride, False)
    return ph, pw, stride, H_out, W_out
