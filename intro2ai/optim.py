"""First-order update rules, cs231n style.

Every rule has the signature::

    next_w, config = rule(w, dw, config=None)

``w`` is the current parameter array, ``dw`` the gradient of the loss with respect to it,
``config`` a dict of hyperparameters plus the rule's running state (velocity, moments...).
A missing ``config`` or missing keys get the defaults below; the returned ``config`` holds the
updated state and must be passed back in on the next step (``Solver`` keeps one ``config``
per parameter). ``next_w`` has the dtype of ``w``.

Rules and their keys (defaults in brackets)
-------------------------------------------
sgd
    ``learning_rate`` [1e-2], ``weight_decay`` [0.0]
sgd_momentum
    ``learning_rate`` [1e-2], ``momentum`` [0.9], ``weight_decay`` [0.0]; state ``velocity``
rmsprop
    ``learning_rate`` [1e-2], ``decay_rate`` [0.99], ``epsilon`` [1e-8]; state ``cache``
adam
    ``learning_rate`` [1e-3], ``beta1`` [0.9], ``beta2`` [0.999], ``epsilon`` [1e-8];
    state ``m``, ``v``, ``t`` (bias-corrected, ``t`` counts the steps taken)

``weight_decay`` (sgd and sgd_momentum) adds ``weight_decay * w`` to the gradient: an L2
penalty ``0.5 * weight_decay * sum(w ** 2)`` applied by the optimizer instead of the model.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["sgd", "sgd_momentum", "rmsprop", "adam"]


def _prepare(
    who: str, w: Any, dw: Any, config: dict | None, defaults: dict, state: tuple[str, ...]
) -> dict:
    """Validate ``w``/``dw``/``config`` and return ``config`` with the defaults filled in."""
    if not isinstance(w, np.ndarray) or not np.issubdtype(w.dtype, np.floating):
        raise TypeError(
            f"{who}: w must be a floating-point ndarray, got {type(w).__name__}"
            + (f" of dtype {w.dtype}" if isinstance(w, np.ndarray) else "")
        )
    if np.shape(dw) != w.shape:
        raise ValueError(
            f"{who}: dw must have the shape of w {w.shape}, got {np.shape(dw)}; pass the "
            f"gradient of this parameter (grads[name] for params[name])"
        )
    if config is None:
        config = {}
    if not isinstance(config, dict):
        raise TypeError(f"{who}: config must be a dict or None, got {type(config).__name__}")
    unknown = sorted(set(config) - set(defaults) - set(state))
    if unknown:
        raise ValueError(
            f"{who}: unknown config key(s) {unknown}; {who} accepts {sorted(defaults)}"
        )
    for key, value in defaults.items():
        config.setdefault(key, value)
    return config


def sgd(w: np.ndarray, dw: np.ndarray, config: dict | None = None) -> tuple[np.ndarray, dict]:
    """Vanilla stochastic gradient descent: ``w -= learning_rate * (dw + weight_decay * w)``.

    Parameters
    ----------
    w, dw : ndarray of the same shape
        Parameter and its gradient.
    config : dict, optional
        ``learning_rate`` (1e-2), ``weight_decay`` (0.0).

    Returns
    -------
    next_w : ndarray
    config : dict
    """
    config = _prepare("sgd", w, dw, config, {"learning_rate": 1e-2, "weight_decay": 0.0}, ())
    grad = dw + config["weight_decay"] * w
    next_w = w - config["learning_rate"] * grad
    return next_w.astype(w.dtype, copy=False), config


def sgd_momentum(
    w: np.ndarray, dw: np.ndarray, config: dict | None = None
) -> tuple[np.ndarray, dict]:
    """SGD with momentum: ``v = momentum * v - learning_rate * g``; ``w += v``.

    ``g = dw + weight_decay * w``.

    Parameters
    ----------
    w, dw : ndarray of the same shape
    config : dict, optional
        ``learning_rate`` (1e-2), ``momentum`` (0.9), ``weight_decay`` (0.0), and the state
        ``velocity`` (zeros on the first step).

    Returns
    -------
    next_w : ndarray
    config : dict
    """
    config = _prepare(
        "sgd_momentum",
        w,
        dw,
        config,
        {"learning_rate": 1e-2, "momentum": 0.9, "weight_decay": 0.0},
        ("velocity",),
    )
    v = config.get("velocity")
    if v is None:
        v = np.zeros_like(w)
    grad = dw + config["weight_decay"] * w
    v = config["momentum"] * v - config["learning_rate"] * grad
    next_w = w + v
    config["velocity"] = v
    return next_w.astype(w.dtype, copy=False), config


def rmsprop(w: np.ndarray, dw: np.ndarray, config: dict | None = None) -> tuple[np.ndarray, dict]:
    """RMSProp: a running average of squared gradients scales each coordinate's step.

    ``cache = decay_rate * cache + (1 - decay_rate) * dw**2``;
    ``w -= learning_rate * dw / (sqrt(cache) + epsilon)``.

    Parameters
    ----------
    w, dw : ndarray of the same shape
    config : dict, optional
        ``learning_rate`` (1e-2), ``decay_rate`` (0.99), ``epsilon`` (1e-8), and the state
        ``cache`` (zeros on the first step).

    Returns
    -------
    next_w : ndarray
    config : dict
    """
    config = _prepare(
        "rmsprop",
        w,
        dw,
        config,
        {"learning_rate": 1e-2, "decay_rate": 0.99, "epsilon": 1e-8},
        ("cache",),
    )
    cache = config.get("cache")
    if cache is None:
        cache = np.zeros_like(w)
    cache = config["decay_rate"] * cache + (1 - config["decay_rate"]) * dw**2
    next_w = w - config["learning_rate"] * dw / (np.sqrt(cache) + config["epsilon"])
    config["cache"] = cache
    return next_w.astype(w.dtype, copy=False), config


def adam(w: np.ndarray, dw: np.ndarray, config: dict | None = None) -> tuple[np.ndarray, dict]:
    """Adam with bias correction (Kingma and Ba, 2015).

    ``t += 1``; ``m = beta1 * m + (1 - beta1) * dw``; ``v = beta2 * v + (1 - beta2) * dw**2``;
    ``w -= learning_rate * (m / (1 - beta1**t)) / (sqrt(v / (1 - beta2**t)) + epsilon)``.

    Parameters
    ----------
    w, dw : ndarray of the same shape
    config : dict, optional
        ``learning_rate`` (1e-3), ``beta1`` (0.9), ``beta2`` (0.999), ``epsilon`` (1e-8), and
        the state ``m``, ``v`` (zeros) and ``t`` (0) on the first step.

    Returns
    -------
    next_w : ndarray
    config : dict
    """
    config = _prepare(
        "adam",
        w,
        dw,
        config,
        {"learning_rate": 1e-3, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8},
        ("m", "v", "t"),
    )
    dw = np.asarray(dw)
    m_old = config.get("m")
    v_old = config.get("v")
    if m_old is None:
        m_old = np.zeros_like(w)
    if v_old is None:
        v_old = np.zeros_like(w)
    t = int(config.get("t", 0)) + 1
    beta1, beta2 = config["beta1"], config["beta2"]
    kernel = _fused_adam(w, dw, m_old, v_old)
    if kernel is not None:  # one pass over the arrays instead of about ten
        next_w, m, v = np.empty_like(w), np.empty_like(w), np.empty_like(w)
        kernel(
            w.reshape(-1),
            dw.reshape(-1),
            m_old.reshape(-1),
            v_old.reshape(-1),
            next_w.reshape(-1),
            m.reshape(-1),
            v.reshape(-1),
            beta1,
            beta2,
            config["learning_rate"] / (1 - beta1**t),
            1 / (1 - beta2**t),
            config["epsilon"],
        )
        config["m"], config["v"], config["t"] = m, v, t
        return next_w, config
    # The formulas above, with in-place operations on new arrays (fewer full-size
    # temporaries; the old m and v are not modified, a caller may still hold them).
    dtype = np.result_type(w.dtype, dw.dtype, np.asarray(m_old).dtype, np.asarray(v_old).dtype)
    buf = np.multiply(m_old, beta1, dtype=dtype)  # scratch, finally next_w
    m = np.multiply(dw, 1 - beta1, dtype=dtype)
    m += buf
    np.multiply(v_old, beta2, out=buf)
    v = np.square(dw, dtype=dtype)
    v *= 1 - beta2
    v += buf
    # sqrt(v_hat) + epsilon, with v_hat = v / (1 - beta2**t)
    np.divide(v, 1 - beta2**t, out=buf)
    np.sqrt(buf, out=buf)
    buf += config["epsilon"]
    # learning_rate * m_hat / (sqrt(v_hat) + epsilon), with m_hat = m / (1 - beta1**t)
    np.divide(m, buf, out=buf)
    buf *= config["learning_rate"] / (1 - beta1**t)
    next_w = np.subtract(w, buf, out=buf)
    config["m"], config["v"], config["t"] = m, v, t
    return next_w.astype(w.dtype, copy=False), config


def _fused_adam(w: np.ndarray, dw: np.ndarray, m: Any, v: Any):
    """The compiled one-pass Adam step when the arrays allow it (one float dtype, contiguous),
    else None (NumPy path)."""
    if not (
        w.dtype in (np.float32, np.float64)
        and isinstance(m, np.ndarray)
        and isinstance(v, np.ndarray)
    ):
        return None
    arrays = (w, dw, m, v)
    if any(a.dtype != w.dtype or a.shape != w.shape or not a.flags.c_contiguous for a in arrays):
        return None
    from intro2ai import _extension

    module = _extension.cython_module()
    return None if module is None else module.adam_step
