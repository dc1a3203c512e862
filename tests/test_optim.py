"""Tests of intro2ai.optim: one-step and two-step updates against hand computations."""

from __future__ import annotations

import numpy as np
import pytest

from intro2ai import optim

# The expected values below are computed by hand with a handful of float64 operations.
TOL = 1e-12

W = np.array([1.0, -2.0, 0.5])
DW = np.array([0.5, 0.25, -1.0])


def test_sgd_one_step():
    next_w, config = optim.sgd(W.copy(), DW, {"learning_rate": 0.1})
    np.testing.assert_allclose(next_w, [0.95, -2.025, 0.6], atol=TOL)
    assert config["learning_rate"] == 0.1 and config["weight_decay"] == 0.0


def test_sgd_defaults_and_weight_decay():
    next_w, config = optim.sgd(W.copy(), DW)
    np.testing.assert_allclose(next_w, W - 1e-2 * DW, atol=TOL)
    # g = dw + 0.5 * w = [1.0, -0.75, -0.75]; w - 0.1 * g
    next_w, _ = optim.sgd(W.copy(), DW, {"learning_rate": 0.1, "weight_decay": 0.5})
    np.testing.assert_allclose(next_w, [0.9, -1.925, 0.575], atol=TOL)


def test_sgd_momentum_two_steps():
    config = {"learning_rate": 0.1, "momentum": 0.9}
    w1, config = optim.sgd_momentum(W.copy(), DW, config)
    # v1 = -0.1 * dw = [-0.05, -0.025, 0.1]
    np.testing.assert_allclose(config["velocity"], [-0.05, -0.025, 0.1], atol=TOL)
    np.testing.assert_allclose(w1, [0.95, -2.025, 0.6], atol=TOL)
    w2, config = optim.sgd_momentum(w1, DW, config)
    # v2 = 0.9 * v1 - 0.1 * dw = [-0.095, -0.0475, 0.19]
    np.testing.assert_allclose(config["velocity"], [-0.095, -0.0475, 0.19], atol=TOL)
    np.testing.assert_allclose(w2, [0.855, -2.0725, 0.79], atol=TOL)


def test_sgd_momentum_weight_decay():
    # g = dw + 0.5 * w = [1.0, -0.75, -0.75]; v = -0.1 * g; w + v
    w1, config = optim.sgd_momentum(W.copy(), DW, {"learning_rate": 0.1, "weight_decay": 0.5})
    np.testing.assert_allclose(w1, [0.9, -1.925, 0.575], atol=TOL)


def test_rmsprop_one_step():
    config = {"learning_rate": 0.01, "decay_rate": 0.9, "epsilon": 0.0}
    w1, config = optim.rmsprop(W.copy(), DW, config)
    # cache = 0.1 * dw**2; step = 0.01 * dw / sqrt(0.1 * dw**2) = 0.01 * sign(dw) / sqrt(0.1)
    np.testing.assert_allclose(config["cache"], 0.1 * DW**2, atol=TOL)
    np.testing.assert_allclose(w1, W - 0.01 * np.sign(DW) / np.sqrt(0.1), atol=TOL)


def test_adam_first_step_is_learning_rate_times_sign():
    # After bias correction m_hat = dw and v_hat = dw**2, so the first step is lr * sign(dw).
    w1, config = optim.adam(W.copy(), DW, {"learning_rate": 0.01, "epsilon": 0.0})
    np.testing.assert_allclose(w1, W - 0.01 * np.sign(DW), atol=TOL)
    assert config["t"] == 1
    np.testing.assert_allclose(config["m"], 0.1 * DW, atol=TOL)
    np.testing.assert_allclose(config["v"], 0.001 * DW**2, atol=TOL)


def test_adam_second_step():
    config = {"learning_rate": 0.01, "beta1": 0.5, "beta2": 0.75, "epsilon": 0.0}
    w1, config = optim.adam(W.copy(), DW, config)
    dw2 = np.array([1.0, 1.0, 1.0])
    w2, config = optim.adam(w1, dw2, config)
    # m2 = 0.5*(0.5*dw) + 0.5*dw2; v2 = 0.75*(0.25*dw**2) + 0.25*dw2**2; t = 2
    m2 = 0.25 * DW + 0.5 * dw2
    v2 = 0.1875 * DW**2 + 0.25 * dw2**2
    expected = w1 - 0.01 * (m2 / 0.75) / np.sqrt(v2 / (1 - 0.75**2))
    np.testing.assert_allclose(w2, expected, atol=TOL)
    assert config["t"] == 2


@pytest.mark.parametrize("rule", [optim.sgd, optim.sgd_momentum, optim.rmsprop, optim.adam])
def test_rules_keep_float32(rule):
    w = W.astype(np.float32)
    next_w, _ = rule(w, DW.astype(np.float32), None)
    assert next_w.dtype == np.float32, f"{rule.__name__}: float32 in, {next_w.dtype} out"


def test_rules_reject_bad_input():
    with pytest.raises(ValueError, match=r"sgd: dw must have the shape of w \(3,\), got \(2,\)"):
        optim.sgd(W.copy(), DW[:2])
    with pytest.raises(ValueError, match=r"adam: unknown config key\(s\) \['learning rate'\]"):
        optim.adam(W.copy(), DW, {"learning rate": 0.1})
    with pytest.raises(ValueError, match=r"adam: unknown config key\(s\) \['weight_decay'\]"):
        optim.adam(W.copy(), DW, {"weight_decay": 0.1})


def _adam_formula(w, dw, m, v, t, lr=1e-2, beta1=0.9, beta2=0.999, eps=1e-8):
    """Adam written out in float64 (the oracle)."""
    m = beta1 * m + (1 - beta1) * dw
    v = beta2 * v + (1 - beta2) * dw * dw
    return w - lr * (m / (1 - beta1**t)) / (np.sqrt(v / (1 - beta2**t)) + eps), m, v


@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-12), (np.float32, 2e-6)])
@pytest.mark.parametrize("layout", ["contiguous", "fortran"])
def test_adam_compiled_and_numpy_paths_follow_the_formula(dtype, tol, layout):
    """Contiguous arrays of one dtype take the compiled one-pass step (when built), others the
    NumPy path; both follow the formula over several steps and leave the old m, v untouched."""
    from intro2ai import _extension

    rng = np.random.default_rng(5)
    w = rng.standard_normal((40, 30)).astype(dtype)
    if layout == "fortran":
        w = np.asfortranarray(w)
    m_ref, v_ref, w_ref = np.zeros(w.shape), np.zeros(w.shape), w.astype(np.float64)
    config = {"learning_rate": 1e-2}
    expect_kernel = layout == "contiguous" and _extension.is_built()
    assert (
        optim._fused_adam(w, w, np.zeros_like(w), np.zeros_like(w)) is not None
    ) == expect_kernel
    for t in range(1, 6):
        dw = rng.standard_normal(w.shape).astype(dtype)
        old_m = config.get("m")
        old_m_copy = None if old_m is None else old_m.copy()
        w, config = optim.adam(w, dw, config)
        w_ref, m_ref, v_ref = _adam_formula(w_ref, dw.astype(np.float64), m_ref, v_ref, t)
        assert w.dtype == dtype and config["m"].dtype == dtype and config["t"] == t
        np.testing.assert_allclose(w, w_ref, rtol=tol, atol=tol)
        np.testing.assert_allclose(config["m"], m_ref, rtol=tol, atol=tol)
        np.testing.assert_allclose(config["v"], v_ref, rtol=tol, atol=tol)
        if old_m is not None:
            np.testing.assert_array_equal(old_m, old_m_copy)


@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-12), (np.float32, 2e-6)])
def test_adam_kernel_at_every_simd_level_and_length(dtype, tol):
    """The compiled step at each SIMD level this CPU runs (portable, AVX2, AVX-512), over
    lengths that leave every remainder of the vector width."""
    from intro2ai import _extension

    mod = _extension.cython_module()
    if mod is None:
        pytest.skip("Cython extension not built")
    rng = np.random.default_rng(8)
    for level in range(-1, mod.DIRECT_SIMD_LEVEL + 1):
        for n in (1, 7, 15, 16, 17, 33, 1073):
            w, dw, m_old = (rng.standard_normal(n).astype(dtype) for _ in range(3))
            v_old = np.abs(rng.standard_normal(n)).astype(dtype)
            outs = [np.empty(n, dtype) for _ in range(3)]
            t = 3
            mod.adam_step(
                w,
                dw,
                m_old,
                v_old,
                *outs,
                0.9,
                0.999,
                1e-2 / (1 - 0.9**t),
                1 / (1 - 0.999**t),
                1e-8,
                level,
            )
            w_ref, m_ref, v_ref = _adam_formula(
                w.astype(np.float64), dw.astype(np.float64), m_old, v_old, t
            )
            for got, ref in zip(outs, (w_ref, m_ref, v_ref)):
                np.testing.assert_allclose(got, ref, rtol=tol, atol=tol, err_msg=f"{level} {n}")
    with pytest.raises(ValueError, match="adam_step: SIMD level"):
        mod.adam_step(*(np.zeros(4, dtype) for _ in range(7)), 0.9, 0.999, 1, 1, 1, 3)
    a = [np.zeros(8, dtype) for _ in range(7)]
    for out, other in ((4, 0), (5, 2), (6, 5)):  # next_w on w, m on m_old, v on m
        args = list(a)
        args[out] = args[other]
        with pytest.raises(ValueError, match="adam_step: an output array shares memory"):
            mod.adam_step(*args, 0.9, 0.999, 1, 1, 1)
    half = np.zeros(12, dtype)  # overlapping halves, not the same start
    with pytest.raises(ValueError, match="shares memory"):
        mod.adam_step(*a[:4], half[:8], half[4:], a[6], 0.9, 0.999, 1, 1, 1)
    with pytest.raises(ValueError, match="adam_step: the arrays differ in length"):
        mod.adam_step(
            *(np.zeros(4, dtype) for _ in range(6)), np.zeros(3, dtype), 0.9, 0.999, 1, 1, 1
        )


def test_adam_mixed_dtypes_take_the_numpy_path():
    w = np.ones((3, 4), dtype=np.float32)
    dw = np.full((3, 4), 0.5)  # float64 gradient for a float32 weight
    assert optim._fused_adam(w, dw, np.zeros_like(w), np.zeros_like(w)) is None
    next_w, config = optim.adam(w, dw, {"learning_rate": 0.1})
    assert next_w.dtype == np.float32
    np.testing.assert_allclose(next_w, 0.9, rtol=1e-6)
