"""Tests of intro2ai.layer_utils: numerical gradients of every sandwich (float64, random dout).

The sandwiches are provided code on the fast layers, so these tests use independent oracles
(scipy, sliding windows), never the student's naive layers: they pass on the student edition.
"""

from __future__ import annotations

import numpy as np
import pytest

from conftest import conv_oracle, pool_oracle
from intro2ai import layer_utils, layers
from intro2ai.gradient_check import eval_numerical_gradient_array, rel_error

# float64 central differences (h = 1e-5) on piecewise-smooth functions kept off their kinks
# agree to ~1e-9; 1e-7 leaves room for summation noise and still catches real mistakes.
GRAD_TOL = 1e-7
# Pre-activations closer than this to the ReLU kink at 0 could be crossed by h = 1e-5.
KINK_MARGIN = 1e-3


def assert_grads(case, analytic, f, inputs, dout):
    """Compare each analytic gradient with the numerical gradient of ``f`` in that input."""
    for name, grad, i in zip(("dx", "dw", "db"), analytic, range(len(inputs))):

        def fi(v, i=i):
            args = list(inputs)
            args[i] = v
            return f(*args)

        num = eval_numerical_gradient_array(fi, inputs[i], dout)
        assert grad.shape == num.shape, f"{name} [{case}]: shape {grad.shape} vs {num.shape}"
        err = rel_error(grad, num)
        assert err < GRAD_TOL, (
            f"{name} [{case}]: shape {grad.shape}, relative error {err:.3e} exceeds {GRAD_TOL:.0e}"
        )


def off_kink(pre_activation, case):
    gap = np.min(np.abs(pre_activation))
    assert gap > KINK_MARGIN, f"[{case}] test data within {gap:.1e} of the ReLU kink; change seed"


def test_affine_relu_gradients():
    rng = np.random.default_rng(231)
    x = rng.standard_normal((2, 3, 4))
    w = rng.standard_normal((12, 10))
    b = rng.standard_normal(10)
    dout = rng.standard_normal((2, 10))
    off_kink(layers.affine_forward(x, w, b)[0], "affine_relu")
    out, cache = layer_utils.affine_relu_forward(x, w, b)
    np.testing.assert_allclose(out, np.maximum(x.reshape(2, 12) @ w + b, 0), rtol=1e-12)
    grads = layer_utils.affine_relu_backward(dout, cache)
    assert_grads(
        "affine_relu x (2,3,4) w (12,10)",
        grads,
        lambda x, w, b: layer_utils.affine_relu_forward(x, w, b)[0],
        (x, w, b),
        dout,
    )


def test_conv_relu_gradients_seed_case():
    rng = np.random.default_rng(231)
    x = rng.standard_normal((2, 3, 8, 8))
    w = rng.standard_normal((3, 3, 3, 3))
    b = rng.standard_normal(3)
    dout = rng.standard_normal((2, 3, 8, 8))
    param = {"stride": 1, "pad": 1}
    pre = conv_oracle(x, w, b, **param)
    off_kink(pre, "conv_relu")
    out, cache = layer_utils.conv_relu_forward(x, w, b, param)
    expected = np.maximum(pre, 0)
    np.testing.assert_allclose(out, expected, rtol=1e-10, atol=1e-12)
    grads = layer_utils.conv_relu_backward(dout, cache)
    assert_grads(
        "conv_relu x (2,3,8,8) w (3,3,3,3) stride 1 pad 1",
        grads,
        lambda x, w, b: layer_utils.conv_relu_forward(x, w, b, param)[0],
        (x, w, b),
        dout,
    )


@pytest.mark.parametrize(
    "x_shape, w_shape, conv_param, pool_param",
    [
        # the seed notebook's case: 16x16 input, 3x3 filters, 2x2 pool
        (
            (2, 3, 16, 16),
            (3, 3, 3, 3),
            {"stride": 1, "pad": 1},
            {"pool_height": 2, "pool_width": 2, "stride": 2},
        ),
        # non-square filter, stride 2, overlapping 3x3 pool with stride 1
        (
            (1, 2, 7, 9),
            (2, 2, 3, 1),
            {"stride": 2, "pad": 1},
            {"pool_height": 3, "pool_width": 2, "stride": 1},
        ),
    ],
    ids=["seed", "nonsquare"],
)
def test_conv_relu_pool_gradients(x_shape, w_shape, conv_param, pool_param):
    rng = np.random.default_rng(231)
    x = rng.standard_normal(x_shape)
    w = rng.standard_normal(w_shape)
    b = rng.standard_normal(w_shape[0])
    pre = conv_oracle(x, w, b, **conv_param)
    off_kink(pre, "conv_relu_pool")
    expected = pool_oracle(np.maximum(pre, 0), **pool_param)
    out, cache = layer_utils.conv_relu_pool_forward(x, w, b, conv_param, pool_param)
    np.testing.assert_allclose(out, expected, rtol=1e-10, atol=1e-12)
    dout = rng.standard_normal(out.shape)
    grads = layer_utils.conv_relu_pool_backward(dout, cache)
    f = lambda x, w, b: layer_utils.conv_relu_pool_forward(x, w, b, conv_param, pool_param)[0]  # noqa: E731
    assert_grads(f"conv_relu_pool x {x_shape} w {w_shape}", grads, f, (x, w, b), dout)


def test_sandwich_backward_rejects_foreign_cache():
    with pytest.raises(
        TypeError, match=r"conv_relu_pool_backward: cache must be the ConvReluPoolCache"
    ):
        layer_utils.conv_relu_pool_backward(np.zeros((1, 1, 1, 1)), (None, None))


@pytest.mark.parametrize("bias_shift", [-2.0, 0.0, 2.0])
@pytest.mark.parametrize(
    "pool_param",
    [
        {"pool_height": 2, "pool_width": 2, "stride": 2},
        {"pool_height": 3, "pool_width": 2, "stride": 1},
    ],
    ids=["2x2", "3x2s1"],
)
def test_conv_relu_pool_equals_relu_before_pool(bias_shift, pool_param):
    """The sandwich pools before its ReLU; forward and gradients equal conv -> relu -> pool's,
    with ties (integer data, many exact zeros after the ReLU) and all-negative windows."""
    from intro2ai import fast_layers

    rng = np.random.default_rng(7)
    x = rng.integers(-2, 3, (3, 2, 8, 8)).astype(np.float64)
    w = rng.integers(-1, 2, (4, 2, 3, 3)).astype(np.float64)
    b = np.full(4, bias_shift)
    conv_param = {"stride": 1, "pad": 1}
    out, cache = layer_utils.conv_relu_pool_forward(x, w, b, conv_param, pool_param)
    a, conv_cache = fast_layers.conv_forward_fast(x, w, b, conv_param)
    s, relu_cache = layers.relu_forward(a)
    ref, pool_cache = fast_layers.max_pool_forward_fast(s, pool_param)
    np.testing.assert_array_equal(out, ref)
    assert (a == 0).any() and (out == 0).any() and (out > 0).any()
    dout = rng.standard_normal(out.shape)
    dx, dw, db = layer_utils.conv_relu_pool_backward(dout, cache)
    da = layers.relu_backward(fast_layers.max_pool_backward_fast(dout, pool_cache), relu_cache)
    rdx, rdw, rdb = fast_layers.conv_backward_fast(da, conv_cache)
    np.testing.assert_allclose(dx, rdx, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dw, rdw, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(db, rdb, rtol=1e-12, atol=1e-12)
