"""Weight initialisers for the labs (Glorot / Xavier).

Shapes follow the kit's layer contract:

- affine weights are ``ndarray of shape (D, M)`` (``affine_forward`` computes ``x @ w``), so
  ``fan_in = D`` and ``fan_out = M``;
- convolution filters are ``ndarray of shape (F, C, HH, WW)``, so
  ``fan_in = C * HH * WW`` and ``fan_out = F * HH * WW`` (the receptive field counts on both
  sides, as in Glorot and Bengio 2010 and the usual Keras / mygrad convention).

``glorot_uniform(shape, gain)`` draws from ``U(-a, a)`` with
``a = gain * sqrt(6 / (fan_in + fan_out))``; the variance is then
``gain**2 * 2 / (fan_in + fan_out)``. With ``gain = sqrt(2)`` (the lab's choice for ReLU
networks) the variance doubles, as in He initialisation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = ["compute_fans", "glorot_uniform", "glorot_normal"]

RngLike = np.random.Generator | int | None


def compute_fans(shape: Sequence[int]) -> tuple[int, int]:
    """Return ``(fan_in, fan_out)`` for a weight of the given shape.

    Parameters
    ----------
    shape : sequence of int
        ``(D, M)`` for an affine weight or ``(F, C, HH, WW)`` (any number of trailing
        receptive-field axes) for a convolution filter bank.

    Returns
    -------
    fan_in, fan_out : int

    Raises
    ------
    TypeError
        If ``shape`` is not a sequence of integers.
    ValueError
        If ``shape`` has fewer than 2 axes or a non-positive size.
    """
    try:
        dims = tuple(shape)
    except TypeError:
        raise TypeError(
            f"compute_fans: expected a shape such as (784, 128) or (20, 1, 5, 5), "
            f"received {shape!r} of type {type(shape).__name__}"
        ) from None
    if not all(isinstance(d, (int, np.integer)) and not isinstance(d, bool) for d in dims):
        raise TypeError(f"compute_fans: every axis size must be an int, received shape {dims!r}")
    if len(dims) < 2:
        raise ValueError(
            f"compute_fans: expected at least 2 axes ((D, M) for affine, (F, C, HH, WW) for "
            f"conv), received shape {dims!r}; a bias vector is initialised with zeros instead"
        )
    if any(d <= 0 for d in dims):
        raise ValueError(f"compute_fans: every axis size must be positive, received {dims!r}")
    if len(dims) == 2:
        fan_in, fan_out = int(dims[0]), int(dims[1])
    else:
        receptive = int(np.prod(dims[2:]))
        fan_in, fan_out = int(dims[1]) * receptive, int(dims[0]) * receptive
    return fan_in, fan_out


def _check_gain(who: str, gain: float) -> float:
    if isinstance(gain, bool) or not isinstance(gain, (int, float, np.floating, np.integer)):
        raise TypeError(f"{who}: gain must be a positive number, received {gain!r}")
    gain = float(gain)
    if not (gain > 0 and math.isfinite(gain)):
        raise ValueError(f"{who}: gain must be positive and finite, received {gain!r}")
    return gain


def _rng(rng: RngLike) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or isinstance(rng, (int, np.integer)):
        return np.random.default_rng(rng)
    raise TypeError(
        f"expected rng to be a numpy.random.Generator, an int seed or None, received "
        f"{type(rng).__name__}"
    )


def glorot_uniform(
    shape: Sequence[int],
    gain: float = 1.0,
    rng: RngLike = None,
    dtype: np.dtype | type = np.float64,
) -> np.ndarray:
    """Glorot (Xavier) uniform initialisation with a gain.

    Parameters
    ----------
    shape : sequence of int
        ``(D, M)`` for an affine weight, ``(F, C, HH, WW)`` for convolution filters.
    gain : float, default 1.0
        Scale factor multiplied into the bound; ``np.sqrt(2)`` suits ReLU layers.
    rng : numpy.random.Generator, int or None
        Random source (a seed makes the draw reproducible).
    dtype : numpy dtype, default float64

    Returns
    -------
    ndarray of shape ``shape``
        Values drawn from ``U(-a, a)``, ``a = gain * sqrt(6 / (fan_in + fan_out))``.
    """
    gain = _check_gain("glorot_uniform", gain)
    fan_in, fan_out = compute_fans(shape)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    w = _rng(rng).uniform(-bound, bound, size=tuple(shape))
    return w.astype(dtype, copy=False)


def glorot_normal(
    shape: Sequence[int],
    gain: float = 1.0,
    rng: RngLike = None,
    dtype: np.dtype | type = np.float64,
) -> np.ndarray:
    """Glorot (Xavier) normal initialisation with a gain.

    Draws from ``N(0, std**2)`` with ``std = gain * sqrt(2 / (fan_in + fan_out))``, the same
    variance as :func:`glorot_uniform`. Parameters and return value as there.
    """
    gain = _check_gain("glorot_normal", gain)
    fan_in, fan_out = compute_fans(shape)
    std = gain * math.sqrt(2.0 / (fan_in + fan_out))
    w = _rng(rng).normal(0.0, std, size=tuple(shape))
    return w.astype(dtype, copy=False)
