"""Numerical gradients (central differences) for checking backward passes.

Same functions and signatures as cs231n's ``gradient_check``. Each one perturbs the input
array IN PLACE, one element at a time, and restores it afterwards, so ``f`` must read the
array it is given (a ``lambda _: model.loss(X, y)[0]`` over ``model.params[name]`` works
because the parameter array itself is perturbed).

Central differences have an error of order ``h**2``; in float64 with ``h = 1e-5`` a correct
backward pass usually agrees to a relative error of 1e-7 or better (``rel_error``). Do the
checks in float64: in float32 the rounding error of ``f`` swamps the difference quotient.
"""

from __future__ import annotations

from collections.abc import Callable
from random import randrange

import numpy as np

__all__ = [
    "rel_error",
    "eval_numerical_gradient",
    "eval_numerical_gradient_array",
    "eval_numerical_gradient_blobs",
    "grad_check_sparse",
]


def rel_error(x: np.ndarray, y: np.ndarray) -> float:
    """Largest elementwise relative error ``|x - y| / max(1e-8, |x| + |y|)``.

    Parameters
    ----------
    x, y : ndarray of the same shape (or broadcastable)

    Returns
    -------
    float
        0 for identical arrays; about 1e-7 or less for a correct float64 gradient check.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError(
            f"rel_error: x and y must have the same shape, got {x.shape} and {y.shape}; "
            f"compare an analytic gradient with the numerical gradient of the same array"
        )
    if x.size == 0:
        return 0.0
    return float(np.max(np.abs(x - y) / np.maximum(1e-8, np.abs(x) + np.abs(y))))


def _check_float(who: str, x: object) -> None:
    if not isinstance(x, np.ndarray) or not np.issubdtype(x.dtype, np.floating):
        got = f"dtype {x.dtype}" if isinstance(x, np.ndarray) else type(x).__name__
        raise TypeError(
            f"{who}: x must be a floating-point ndarray (it is perturbed in place), got {got}; "
            f"convert it with x.astype(np.float64)"
        )


def eval_numerical_gradient(
    f: Callable[[np.ndarray], float], x: np.ndarray, verbose: bool = True, h: float = 1e-5
) -> np.ndarray:
    """Numerical gradient of a scalar function ``f`` at ``x`` (central differences).

    Parameters
    ----------
    f : callable
        ``f(x) -> float``; must depend on the array ``x`` it is given (perturbed in place).
    x : ndarray of floats, any shape
        Point at which to evaluate the gradient; restored before returning.
    verbose : bool, default True
        Print each index and its gradient (as cs231n does).
    h : float, default 1e-5
        Step size.

    Returns
    -------
    grad : ndarray of the shape of ``x``
    """
    _check_float("eval_numerical_gradient", x)
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"], op_flags=[["readwrite"]])
    while not it.finished:
        ix = it.multi_index
        old = x[ix]
        x[ix] = old + h
        fxph = float(f(x))
        x[ix] = old - h
        fxmh = float(f(x))
        x[ix] = old
        grad[ix] = (fxph - fxmh) / (2 * h)
        if verbose:
            print(ix, grad[ix])
        it.iternext()
    return grad


def eval_numerical_gradient_array(
    f: Callable[[np.ndarray], np.ndarray], x: np.ndarray, df: np.ndarray, h: float = 1e-5
) -> np.ndarray:
    """Numerical gradient of ``sum(f(x) * df)``: the gradient a backward pass returns for ``df``.

    Parameters
    ----------
    f : callable
        ``f(x) -> ndarray``, e.g. ``lambda x: conv_forward_naive(x, w, b, p)[0]``.
    x : ndarray of floats, any shape
        Input; perturbed in place and restored.
    df : ndarray of the shape of ``f(x)``
        Upstream gradient. Use a random one: an all-ones ``df`` hides flips and transposes.
    h : float, default 1e-5
        Step size.

    Returns
    -------
    grad : ndarray of the shape of ``x``
    """
    _check_float("eval_numerical_gradient_array", x)
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"], op_flags=[["readwrite"]])
    while not it.finished:
        ix = it.multi_index
        old = x[ix]
        x[ix] = old + h
        pos = np.array(f(x), dtype=np.float64, copy=True)
        x[ix] = old - h
        neg = np.array(f(x), dtype=np.float64, copy=True)
        x[ix] = old
        if pos.shape != np.shape(df):
            raise ValueError(
                f"eval_numerical_gradient_array: f(x) has shape {pos.shape} but df has shape "
                f"{np.shape(df)}; df must be the upstream gradient of f's output"
            )
        grad[ix] = np.sum((pos - neg) * df) / (2 * h)
        it.iternext()
    return grad


def eval_numerical_gradient_blobs(f, inputs, output, h: float = 1e-5):
    """cs231n's blob variant (kept for compatibility with old course material).

    ``f`` is called as ``f(*inputs)`` and writes into ``output.vals``; each input has ``.vals``
    and ``.diffs``. Returns the numerical gradients of every input.
    """
    numeric_diffs = []
    for input_blob in inputs:
        diff = np.zeros_like(input_blob.diffs)
        it = np.nditer(input_blob.vals, flags=["multi_index"], op_flags=[["readwrite"]])
        while not it.finished:
            idx = it.multi_index
            orig = input_blob.vals[idx]
            input_blob.vals[idx] = orig + h
            f(*(inputs + (output,)))
            pos = np.copy(output.vals)
            input_blob.vals[idx] = orig - h
            f(*(inputs + (output,)))
            neg = np.copy(output.vals)
            input_blob.vals[idx] = orig
            diff[idx] = np.sum((pos - neg) * output.diffs) / (2.0 * h)
            it.iternext()
        numeric_diffs.append(diff)
    return numeric_diffs


def grad_check_sparse(
    f: Callable[[np.ndarray], float],
    x: np.ndarray,
    analytic_grad: np.ndarray,
    num_checks: int = 10,
    h: float = 1e-5,
    verbose: bool = True,
) -> list[float]:
    """Compare ``analytic_grad`` with central differences at ``num_checks`` random elements.

    Parameters
    ----------
    f : callable
        ``f(x) -> float``.
    x : ndarray of floats
        Perturbed in place and restored.
    analytic_grad : ndarray of the shape of ``x``
    num_checks : int, default 10
    h : float, default 1e-5
    verbose : bool, default True
        Print each comparison (as cs231n does).

    Returns
    -------
    list of float
        The relative error at each checked element (so callers can assert on it).
    """
    _check_float("grad_check_sparse", x)
    if np.shape(analytic_grad) != x.shape:
        raise ValueError(
            f"grad_check_sparse: analytic_grad has shape {np.shape(analytic_grad)} but x has "
            f"shape {x.shape}; pass the gradient of f with respect to this x"
        )
    errors = []
    for _ in range(num_checks):
        ix = tuple(randrange(m) for m in x.shape)
        old = x[ix]
        x[ix] = old + h
        fxph = float(f(x))
        x[ix] = old - h
        fxmh = float(f(x))
        x[ix] = old
        grad_numerical = (fxph - fxmh) / (2 * h)
        grad_analytic = float(analytic_grad[ix])
        denom = max(abs(grad_numerical) + abs(grad_analytic), 1e-12)
        err = abs(grad_numerical - grad_analytic) / denom
        errors.append(err)
        if verbose:
            print(
                f"numerical: {grad_numerical:f} analytic: {grad_analytic:f}, relative error: {err:e}"
            )
    return errors
