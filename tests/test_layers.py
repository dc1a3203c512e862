"""Tests of intro2ai.layers: oracles, numerical gradients, the tie rule and input checks."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal

from conftest import conv_oracle, pool_oracle
from intro2ai import layers
from intro2ai.gradient_check import (
    eval_numerical_gradient,
    eval_numerical_gradient_array,
    rel_error,
)

# float64 central differences (h = 1e-5) on smooth functions agree to ~1e-9; 1e-7 leaves room
# for cancellation in sums over many terms while still catching any real mistake (~1e-1).
GRAD_TOL = 1e-7
# The seed notebook prints expected values with 8 decimals: rounding alone gives up to
# ~3e-8 relative error on its smallest entries.
SEED_TOL = 1e-7
# Forward vs an independent float64 oracle: only summation order differs.
ORACLE_TOL = 1e-10
# Keep ReLU / hinge inputs at least this far from their kinks (h = 1e-5 must not cross them).
KINK_MARGIN = 1e-3


def assert_grad(
    name: str, case: str, analytic: np.ndarray, numeric: np.ndarray, tol: float = GRAD_TOL
) -> None:
    """Assert that an analytic gradient matches a numerical one, with a useful message."""
    assert np.shape(analytic) == np.shape(numeric), (
        f"{name} [{case}]: analytic gradient has shape {np.shape(analytic)}, numerical "
        f"gradient has shape {np.shape(numeric)}"
    )
    err = rel_error(analytic, numeric)
    assert err < tol, (
        f"{name} [{case}]: shape {np.shape(analytic)}, relative error {err:.3e} "
        f"exceeds tolerance {tol:.0e}"
    )


def random_conv_geometry(rng: np.random.Generator) -> dict:
    """A random valid convolution geometry (non-square inputs and filters, stride 1-3, pad 0-3)."""
    while True:
        N = int(rng.integers(1, 3))
        C = int(rng.integers(1, 4))
        F = int(rng.integers(1, 4))
        HH = int(rng.integers(1, 6))
        WW = int(rng.integers(1, 6))
        stride = int(rng.integers(1, 4))
        pad = int(rng.integers(0, 4))
        H_out = int(rng.integers(1, 5))
        W_out = int(rng.integers(1, 5))
        H = (H_out - 1) * stride + HH - 2 * pad
        W = (W_out - 1) * stride + WW - 2 * pad
        if H >= 1 and W >= 1:
            return dict(
                N=N,
                C=C,
                F=F,
                H=H,
                W=W,
                HH=HH,
                WW=WW,
                stride=stride,
                pad=pad,
                H_out=H_out,
                W_out=W_out,
            )


def distinct_values(rng, shape, gap=1e-2):
    """Random-order values at least ``gap`` apart: no max-pool ties, even under +-h."""
    n = int(np.prod(shape))
    return (rng.permutation(n) * gap - n * gap / 2).reshape(shape).astype(np.float64)


# ----------------------------------------------------------------------------------------------
# conv_forward_naive
# ----------------------------------------------------------------------------------------------


@pytest.mark.hw5_conv_forward
def test_conv_forward_seed_case():
    x_shape, w_shape = (2, 3, 4, 4), (3, 3, 4, 4)
    x = np.linspace(-0.1, 0.5, num=np.prod(x_shape)).reshape(x_shape)
    w = np.linspace(-0.2, 0.3, num=np.prod(w_shape)).reshape(w_shape)
    b = np.linspace(-0.1, 0.2, num=3)
    out, _ = layers.conv_forward_naive(x, w, b, {"stride": 2, "pad": 1})
    # Printed in the HW5 seed notebook (cs231n's values).
    correct_out = np.array(
        [
            [
                [[-0.08759809, -0.10987781], [-0.18387192, -0.2109216]],
                [[0.21027089, 0.21661097], [0.22847626, 0.23004637]],
                [[0.50813986, 0.54309974], [0.64082444, 0.67101435]],
            ],
            [
                [[-0.98053589, -1.03143541], [-1.19128892, -1.24695841]],
                [[0.69108355, 0.66880383], [0.59480972, 0.56776003]],
                [[2.36270298, 2.36904306], [2.38090835, 2.38247847]],
            ],
        ]
    )
    assert out.shape == correct_out.shape, f"out shape {out.shape}, expected {correct_out.shape}"
    err = rel_error(out, correct_out)
    assert err < SEED_TOL, (
        f"conv_forward_naive seed case: relative error {err:.3e} > {SEED_TOL:.0e}"
    )


@pytest.mark.hw5_conv_forward
@pytest.mark.parametrize("seed", range(25))
def test_conv_forward_matches_scipy_correlate(seed):
    rng = np.random.default_rng(seed)
    g = random_conv_geometry(rng)
    x = rng.standard_normal((g["N"], g["C"], g["H"], g["W"]))
    w = rng.standard_normal((g["F"], g["C"], g["HH"], g["WW"]))
    b = rng.standard_normal(g["F"])
    out, cache = layers.conv_forward_naive(x, w, b, {"stride": g["stride"], "pad": g["pad"]})
    expected = conv_oracle(x, w, b, g["stride"], g["pad"])
    assert out.shape == (g["N"], g["F"], g["H_out"], g["W_out"]), f"geometry {g}: shape {out.shape}"
    err = np.max(np.abs(out - expected)) / max(1.0, np.max(np.abs(expected)))
    assert err < ORACLE_TOL, (
        f"geometry {g}: error {err:.3e} vs scipy.signal.correlate > {ORACLE_TOL}"
    )


@pytest.mark.hw5_conv_forward
def test_conv_forward_batch1_one_channel_is_plain_correlation():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((1, 1, 6, 5))
    w = rng.standard_normal((1, 1, 3, 2))
    out, _ = layers.conv_forward_naive(x, w, np.zeros(1), {"stride": 1, "pad": 0})
    expected = signal.correlate(x[0, 0], w[0, 0], mode="valid")
    np.testing.assert_allclose(out[0, 0], expected, rtol=1e-12, atol=1e-12)


@pytest.mark.hw5_conv_forward
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_conv_forward_keeps_dtype_and_returns_cache(dtype):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 5, 5)).astype(dtype)
    w = rng.standard_normal((4, 3, 3, 3)).astype(dtype)
    b = rng.standard_normal(4).astype(dtype)
    param = {"stride": 1, "pad": 1}
    out, cache = layers.conv_forward_naive(x, w, b, param)
    assert out.dtype == dtype, f"conv_forward_naive: {dtype.__name__} in, {out.dtype} out"
    cx, cw, cb, cparam = cache
    assert cx is x and cw is w and cb is b and cparam is param


# ----------------------------------------------------------------------------------------------
# conv_backward_naive
# ----------------------------------------------------------------------------------------------


def _conv_grad_case(x, w, b, param, dout, case):
    out, cache = layers.conv_forward_naive(x, w, b, param)
    dx, dw, db = layers.conv_backward_naive(dout, cache)
    dx_num = eval_numerical_gradient_array(
        lambda v: layers.conv_forward_naive(v, w, b, param)[0], x, dout
    )
    dw_num = eval_numerical_gradient_array(
        lambda v: layers.conv_forward_naive(x, v, b, param)[0], w, dout
    )
    db_num = eval_numerical_gradient_array(
        lambda v: layers.conv_forward_naive(x, w, v, param)[0], b, dout
    )
    assert_grad("dx", case, dx, dx_num)
    assert_grad("dw", case, dw, dw_num)
    assert_grad("db", case, db, db_num)


@pytest.mark.hw5_conv_backward
def test_conv_backward_seed_geometry():
    rng = np.random.default_rng(231)
    x = rng.standard_normal((4, 3, 5, 5))
    w = rng.standard_normal((2, 3, 3, 3))
    b = rng.standard_normal(2)
    dout = rng.standard_normal((4, 2, 5, 5))
    _conv_grad_case(
        x, w, b, {"stride": 1, "pad": 1}, dout, "x (4,3,5,5) w (2,3,3,3) stride 1 pad 1"
    )


@pytest.mark.hw5_conv_backward
@pytest.mark.parametrize("seed", range(8))
def test_conv_backward_random_geometry(seed):
    rng = np.random.default_rng(100 + seed)
    g = random_conv_geometry(rng)
    x = rng.standard_normal((g["N"], g["C"], g["H"], g["W"]))
    w = rng.standard_normal((g["F"], g["C"], g["HH"], g["WW"]))
    b = rng.standard_normal(g["F"])
    dout = rng.standard_normal((g["N"], g["F"], g["H_out"], g["W_out"]))
    _conv_grad_case(x, w, b, {"stride": g["stride"], "pad": g["pad"]}, dout, str(g))


@pytest.mark.hw5_conv_backward
def test_conv_backward_rejects_wrong_dout_shape():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 5, 5))
    w = rng.standard_normal((4, 3, 3, 3))
    _, cache = layers.conv_forward_naive(x, w, np.zeros(4), {"stride": 1, "pad": 1})
    with pytest.raises(ValueError, match=r"conv_backward_naive.*\(2, 4, 5, 5\).*\(2, 4, 3, 3\)"):
        layers.conv_backward_naive(np.zeros((2, 4, 3, 3)), cache)


# ----------------------------------------------------------------------------------------------
# max pooling
# ----------------------------------------------------------------------------------------------


@pytest.mark.hw5_max_pool_forward
def test_max_pool_forward_seed_case():
    x_shape = (2, 3, 4, 4)
    x = np.linspace(-0.3, 0.4, num=np.prod(x_shape)).reshape(x_shape)
    out, _ = layers.max_pool_forward_naive(x, {"pool_width": 2, "pool_height": 2, "stride": 2})
    # Printed in the HW5 seed notebook (cs231n's values).
    correct_out = np.array(
        [
            [
                [[-0.26315789, -0.24842105], [-0.20421053, -0.18947368]],
                [[-0.14526316, -0.13052632], [-0.08631579, -0.07157895]],
                [[-0.02736842, -0.01263158], [0.03157895, 0.04631579]],
            ],
            [
                [[0.09052632, 0.10526316], [0.14947368, 0.16421053]],
                [[0.20842105, 0.22315789], [0.26736842, 0.28210526]],
                [[0.32631579, 0.34105263], [0.38526316, 0.4]],
            ],
        ]
    )
    assert out.shape == correct_out.shape
    err = rel_error(out, correct_out)
    assert err < SEED_TOL, (
        f"max_pool_forward_naive seed case: relative error {err:.3e} > {SEED_TOL:.0e}"
    )


POOL_CASES = [  # (N, C, H, W, pool_height, pool_width, stride): tiling, overlapping, gaps, 1xk
    (2, 3, 8, 8, 2, 2, 2),
    (1, 1, 5, 7, 3, 3, 2),
    (2, 2, 6, 5, 3, 2, 1),
    (1, 3, 7, 9, 1, 5, 2),
    (2, 1, 8, 7, 2, 1, 3),
    (1, 2, 4, 6, 4, 6, 1),
]


@pytest.mark.hw5_max_pool_forward
@pytest.mark.parametrize("case", POOL_CASES, ids=str)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_max_pool_forward_matches_sliding_window(case, dtype):
    N, C, H, W, ph, pw, s = case
    x = np.random.default_rng(sum(case)).standard_normal((N, C, H, W)).astype(dtype)
    out, cache = layers.max_pool_forward_naive(
        x, {"pool_height": ph, "pool_width": pw, "stride": s}
    )
    expected = pool_oracle(x, ph, pw, s)
    assert out.dtype == dtype
    assert out.shape == expected.shape, f"case {case}: shape {out.shape}, expected {expected.shape}"
    np.testing.assert_array_equal(out, expected, err_msg=f"case {case}")


@pytest.mark.hw5_max_pool_backward
def test_max_pool_backward_seed_geometry():
    rng = np.random.default_rng(231)
    x = distinct_values(rng, (3, 2, 8, 8))
    dout = rng.standard_normal((3, 2, 4, 4))
    param = {"pool_height": 2, "pool_width": 2, "stride": 2}
    _, cache = layers.max_pool_forward_naive(x, param)
    dx = layers.max_pool_backward_naive(dout, cache)
    dx_num = eval_numerical_gradient_array(
        lambda v: layers.max_pool_forward_naive(v, param)[0], x, dout
    )
    assert_grad("dx", "x (3,2,8,8) pool 2x2 stride 2", dx, dx_num)


@pytest.mark.hw5_max_pool_backward
@pytest.mark.parametrize("case", POOL_CASES, ids=str)
def test_max_pool_backward_numerical(case):
    N, C, H, W, ph, pw, s = case
    rng = np.random.default_rng(1000 + sum(case))
    x = distinct_values(rng, (N, C, H, W))
    param = {"pool_height": ph, "pool_width": pw, "stride": s}
    out, cache = layers.max_pool_forward_naive(x, param)
    dout = rng.standard_normal(out.shape)
    dx = layers.max_pool_backward_naive(dout, cache)
    dx_num = eval_numerical_gradient_array(
        lambda v: layers.max_pool_forward_naive(v, param)[0], x, dout
    )
    assert_grad("dx", f"pool case {case}", dx, dx_num)


@pytest.mark.hw5_max_pool_backward
def test_max_pool_backward_tie_goes_to_first_maximum():
    # One 2x2 window whose maxima sit at (0, 1) and (1, 0): row-major order picks (0, 1).
    x = np.array([[[[0.0, 3.0], [3.0, 1.0]]]])
    _, cache = layers.max_pool_forward_naive(x, {"pool_height": 2, "pool_width": 2, "stride": 2})
    dx = layers.max_pool_backward_naive(np.array([[[[2.5]]]]), cache)
    expected = np.array([[[[0.0, 2.5], [0.0, 0.0]]]])
    np.testing.assert_array_equal(
        dx, expected, err_msg="tie: gradient must go to the first maximum only"
    )

    # An all-equal window: everything goes to its top-left element.
    x = np.zeros((1, 2, 2, 2))
    _, cache = layers.max_pool_forward_naive(x, {"pool_height": 2, "pool_width": 2, "stride": 2})
    dx = layers.max_pool_backward_naive(np.array([[[[1.0]], [[-4.0]]]]), cache)
    expected = np.zeros((1, 2, 2, 2))
    expected[0, 0, 0, 0], expected[0, 1, 0, 0] = 1.0, -4.0
    np.testing.assert_array_equal(
        dx, expected, err_msg="all-equal window: gradient to top-left only"
    )


@pytest.mark.hw5_max_pool_backward
def test_max_pool_backward_overlapping_windows_accumulate():
    # Windows [0, 5] and [5, 0] (pool 1x2, stride 1) both pick the middle element.
    x = np.array([[[[0.0, 5.0, 0.0]]]])
    _, cache = layers.max_pool_forward_naive(x, {"pool_height": 1, "pool_width": 2, "stride": 1})
    dx = layers.max_pool_backward_naive(np.array([[[[1.5, -0.25]]]]), cache)
    np.testing.assert_array_equal(dx, np.array([[[[0.0, 1.25, 0.0]]]]))


# ----------------------------------------------------------------------------------------------
# provided layers: numerical gradients with a random upstream gradient
# ----------------------------------------------------------------------------------------------


def test_affine_forward_and_gradients():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 2, 5))
    w = rng.standard_normal((10, 4))
    b = rng.standard_normal(4)
    out, cache = layers.affine_forward(x, w, b)
    np.testing.assert_allclose(out, x.reshape(3, 10) @ w + b, rtol=1e-12)
    dout = rng.standard_normal(out.shape)
    dx, dw, db = layers.affine_backward(dout, cache)
    assert_grad(
        "dx",
        "affine x (3,2,5) w (10,4)",
        dx,
        eval_numerical_gradient_array(lambda v: layers.affine_forward(v, w, b)[0], x, dout),
    )
    assert_grad(
        "dw",
        "affine x (3,2,5) w (10,4)",
        dw,
        eval_numerical_gradient_array(lambda v: layers.affine_forward(x, v, b)[0], w, dout),
    )
    assert_grad(
        "db",
        "affine x (3,2,5) w (10,4)",
        db,
        eval_numerical_gradient_array(lambda v: layers.affine_forward(x, w, v)[0], b, dout),
    )


def test_relu_gradient_off_kinks():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((4, 6))
    x[np.abs(x) < KINK_MARGIN] = 0.5  # keep away from the kink at 0
    out, cache = layers.relu_forward(x)
    np.testing.assert_array_equal(out, np.where(x > 0, x, 0))
    dout = rng.standard_normal(x.shape)
    dx = layers.relu_backward(dout, cache)
    assert_grad(
        "dx",
        "relu (4,6)",
        dx,
        eval_numerical_gradient_array(lambda v: layers.relu_forward(v)[0], x, dout),
    )


def test_tanh_gradient():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((5, 3))
    out, cache = layers.tanh_forward(x)
    np.testing.assert_allclose(out, np.tanh(x))
    dout = rng.standard_normal(x.shape)
    dx = layers.tanh_backward(dout, cache)
    assert_grad(
        "dx",
        "tanh (5,3)",
        dx,
        eval_numerical_gradient_array(lambda v: layers.tanh_forward(v)[0], x, dout),
    )


def test_dropout_train_gradient_with_fixed_seed():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((6, 7))
    param = {"p": 0.6, "mode": "train", "seed": 123}
    out, cache = layers.dropout_forward(x, param)
    kept = out != 0
    np.testing.assert_allclose(out[kept], x[kept] / 0.6)
    dout = rng.standard_normal(x.shape)
    dx = layers.dropout_backward(dout, cache)
    assert_grad(
        "dx",
        "dropout p=0.6 seed=123",
        dx,
        eval_numerical_gradient_array(lambda v: layers.dropout_forward(v, param)[0], x, dout),
    )


def test_dropout_modes_and_scale():
    x = np.ones((500, 500))
    out, _ = layers.dropout_forward(x, {"p": 0.3, "mode": "train", "seed": 0})
    kept_fraction = np.mean(out != 0)
    assert abs(kept_fraction - 0.3) < 0.01, f"kept fraction {kept_fraction}, expected p = 0.3"
    assert abs(out.mean() - 1.0) < 0.02, "inverted dropout must keep the mean (scale by 1/p)"
    out, cache = layers.dropout_forward(x, {"p": 0.3, "mode": "test"})
    np.testing.assert_array_equal(out, x)
    np.testing.assert_array_equal(layers.dropout_backward(x * 2, cache), x * 2)
    a, _ = layers.dropout_forward(x, {"p": 0.5, "mode": "train", "seed": 9})
    b, _ = layers.dropout_forward(x, {"p": 0.5, "mode": "train", "seed": 9})
    np.testing.assert_array_equal(a, b, err_msg="the same seed must give the same mask")


def test_softmax_loss_value_and_gradient():
    rng = np.random.default_rng(5)
    N, K = 8, 10
    x = 0.001 * rng.standard_normal((N, K))
    y = rng.integers(K, size=N)
    loss, dx = layers.softmax_loss(x, y)
    assert abs(loss - np.log(K)) < 0.01, f"small scores: loss {loss}, expected about log(10)"
    dx_num = eval_numerical_gradient(lambda v: layers.softmax_loss(v, y)[0], x, verbose=False)
    assert_grad("dx", "softmax_loss (8,10)", dx, dx_num)
    # Huge scores must not overflow.
    big_loss, big_dx = layers.softmax_loss(x * 1e6, y)
    assert np.isfinite(big_loss) and np.all(np.isfinite(big_dx))


def test_svm_loss_value_and_gradient_off_kinks():
    rng = np.random.default_rng(6)
    N, K = 8, 10
    x = rng.standard_normal((N, K))
    y = rng.integers(K, size=N)
    margins = x - x[np.arange(N), y][:, None] + 1
    margins[np.arange(N), y] = 1.0
    assert np.min(np.abs(margins)) > KINK_MARGIN, "test data sits on a hinge kink; change the seed"
    loss, dx = layers.svm_loss(x, y)
    expected = np.maximum(0, margins).sum() / N - 1.0  # the correct classes' entries add 1 each
    assert abs(loss - expected) < 1e-12
    dx_num = eval_numerical_gradient(lambda v: layers.svm_loss(v, y)[0], x, verbose=False)
    assert_grad("dx", "svm_loss (8,10)", dx, dx_num)


# ----------------------------------------------------------------------------------------------
# bad inputs
# ----------------------------------------------------------------------------------------------


def _conv_inputs():
    rng = np.random.default_rng(0)
    return (
        rng.standard_normal((2, 3, 6, 6)),
        rng.standard_normal((4, 3, 3, 3)),
        rng.standard_normal(4),
    )


def test_conv_forward_rejects_integer_input():
    x, w, b = _conv_inputs()
    with pytest.raises(TypeError, match=r"conv_forward_naive.*float.*int64.*\(2, 3, 6, 6\)"):
        layers.conv_forward_naive(x.astype(np.int64), w, b, {"stride": 1, "pad": 1})


def test_conv_forward_rejects_channel_mismatch():
    x, w, b = _conv_inputs()
    with pytest.raises(ValueError, match=r"conv_forward_naive.*C = 3.*\(4, 2, 3, 3\)"):
        layers.conv_forward_naive(x, w[:, :2], b, {"stride": 1, "pad": 1})


def test_conv_forward_rejects_indivisible_stride():
    x, w, b = _conv_inputs()
    with pytest.raises(ValueError, match=r"conv_forward_naive.*= 3 is not divisible by stride 2"):
        layers.conv_forward_naive(x, w, b, {"stride": 2, "pad": 0})


def test_conv_forward_rejects_wrong_ndim_and_missing_key():
    x, w, b = _conv_inputs()
    with pytest.raises(ValueError, match=r"conv_forward_naive.*4 dimensions.*\(3, 6, 6\)"):
        layers.conv_forward_naive(x[0], w, b, {"stride": 1, "pad": 1})
    with pytest.raises(ValueError, match=r"conv_forward_naive.*missing.*pad"):
        layers.conv_forward_naive(x, w, b, {"stride": 1})


def test_max_pool_rejects_window_larger_than_input():
    x = np.zeros((1, 1, 3, 3))
    with pytest.raises(ValueError, match=r"max_pool_forward_naive.*pool_height = 4"):
        layers.max_pool_forward_naive(x, {"pool_height": 4, "pool_width": 2, "stride": 1})


@pytest.mark.hw5_max_pool_backward
def test_max_pool_backward_rejects_wrong_dout_shape():
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 4))
    _, cache = layers.max_pool_forward_naive(x, {"pool_height": 2, "pool_width": 2, "stride": 2})
    with pytest.raises(
        ValueError, match=r"max_pool_backward_naive.*\(2, 3, 2, 2\).*\(2, 3, 4, 4\)"
    ):
        layers.max_pool_backward_naive(x, cache)


def test_affine_forward_rejects_mismatched_shapes():
    x = np.zeros((3, 2, 5))
    with pytest.raises(ValueError, match=r"affine_forward.*D = 10.*\(9, 4\)"):
        layers.affine_forward(x, np.zeros((9, 4)), np.zeros(4))
    with pytest.raises(ValueError, match=r"affine_forward.*\(4,\).*\(5,\)"):
        layers.affine_forward(x, np.zeros((10, 4)), np.zeros(5))
    with pytest.raises(TypeError, match=r"affine_forward.*x.*int"):
        layers.affine_forward(np.zeros((3, 10), dtype=int), np.zeros((10, 4)), np.zeros(4))


def test_losses_reject_bad_labels():
    x = np.zeros((4, 3))
    for loss in (layers.softmax_loss, layers.svm_loss):
        name = loss.__name__
        with pytest.raises(ValueError, match=rf"{name}.*\[0, 3\).*3"):
            loss(x, np.array([0, 1, 2, 3]))
        with pytest.raises(TypeError, match=rf"{name}.*integer"):
            loss(x, np.array([0.0, 1.0, 2.0, 1.0]))
        with pytest.raises(ValueError, match=rf"{name}.*\(4,\).*\(3,\)"):
            loss(x, np.array([0, 1, 2]))


def test_dropout_rejects_bad_params():
    x = np.zeros((2, 2))
    with pytest.raises(ValueError, match=r"dropout_forward.*\(0, 1\]"):
        layers.dropout_forward(x, {"p": 1.5, "mode": "train"})
    with pytest.raises(ValueError, match=r"dropout_forward.*'p'"):
        layers.dropout_forward(x, {"mode": "train"})
    with pytest.raises(ValueError, match=r"dropout_forward.*mode"):
        layers.dropout_forward(x, {"p": 0.5, "mode": "eval"})
