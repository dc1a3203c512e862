"""HW5 visible self-checks (공개 자가 점검).

Run them with ``make check`` (all tasks) or ``make check TASK=hw5_conv_forward`` (one task).
Each test carries the pytest marker of its task id. Expected values come from independent
oracles (``scipy.signal.correlate`` for convolution, NumPy windows for max-pooling, numerical
gradients, the provided layers for the network), never from the reference solution. The graded
cases are different cases of the same kind.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import signal

from intro2ai import layers
from intro2ai.gradient_check import eval_numerical_gradient, eval_numerical_gradient_array, rel_error

# Tolerances (float64 everywhere).
FORWARD_TOL = 1e-7       # exact arithmetic up to summation order
GRAD_TOL = 1e-6          # central differences with h=1e-5 on smooth (linear) layers
NET_GRAD_TOL = 2e-2      # through ReLU and max-pool kinks, as in cs231n's notebook
LOSS_LOG10_TOL = 0.3     # small random weights: softmax loss within 0.3 of log(10)


def _rng(seed):
    return np.random.default_rng(seed)


# --------------------------------------------------------------------------- oracles

def conv_oracle(x, w, b, stride, pad):
    """Cross-correlation of every (image, filter) pair via scipy.signal.correlate."""
    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    N, F = x.shape[0], w.shape[0]
    full = np.empty((N, F) + signal.correlate(x_pad[0], w[0], mode="valid").shape[1:])
    for n in range(N):
        for f in range(F):
            full[n, f] = signal.correlate(x_pad[n], w[f], mode="valid")[0] + b[f]
    return full[:, :, ::stride, ::stride]


def pool_oracle(x, ph, pw, stride):
    windows = np.lib.stride_tricks.sliding_window_view(x, (ph, pw), axis=(2, 3))
    return windows[:, :, ::stride, ::stride].max(axis=(-2, -1))


def _distinct(shape, seed):
    """Random values whose pairwise gaps are large compared with the finite-difference step."""
    size = int(np.prod(shape))
    return (_rng(seed).permutation(size) / size).reshape(shape) - 0.5


# --------------------------------------------------------------------------- conv forward

CONV_CASES = [
    # (x shape, w shape, stride, pad)
    ((2, 3, 5, 5), (4, 3, 3, 3), 1, 1),
    ((1, 2, 7, 6), (3, 2, 3, 2), 2, 0),
    ((3, 1, 6, 6), (2, 1, 4, 4), 2, 1),
]


@pytest.mark.hw5_conv_forward
@pytest.mark.parametrize("xs, ws, stride, pad", CONV_CASES)
def test_conv_forward_matches_scipy_correlate(xs, ws, stride, pad):
    rng = _rng(11)
    x, w, b = rng.standard_normal(xs), rng.standard_normal(ws), rng.standard_normal(ws[0])
    out, _ = layers.conv_forward_naive(x, w, b, {"stride": stride, "pad": pad})
    expected = conv_oracle(x, w, b, stride, pad)
    assert out.shape == expected.shape, f"출력 shape {out.shape}, 기대값 {expected.shape}"
    err = rel_error(out, expected)
    assert err < FORWARD_TOL, f"conv_forward_naive: x{xs} w{ws} stride={stride} pad={pad}: rel_error {err:.2e} > {FORWARD_TOL}"


@pytest.mark.hw5_conv_forward
def test_conv_forward_single_pixel_by_hand():
    # One 1x1 image, one 1x1 filter: out = x * w + b.
    out, _ = layers.conv_forward_naive(np.array([[[[2.0]]]]), np.array([[[[3.0]]]]),
                                       np.array([0.5]), {"stride": 1, "pad": 0})
    assert out.shape == (1, 1, 1, 1) and abs(out[0, 0, 0, 0] - 6.5) < 1e-12, f"2*3+0.5 = 6.5 이어야 함, 결과 {out.ravel()}"


# --------------------------------------------------------------------------- conv backward

@pytest.mark.hw5_conv_backward
@pytest.mark.parametrize("xs, ws, stride, pad", CONV_CASES[:2])
def test_conv_backward_matches_numerical_gradient(xs, ws, stride, pad):
    rng = _rng(5)
    x, w, b = rng.standard_normal(xs), rng.standard_normal(ws), rng.standard_normal(ws[0])
    conv_param = {"stride": stride, "pad": pad}
    out, cache = layers.conv_forward_naive(x, w, b, conv_param)
    dout = rng.standard_normal(out.shape)
    dx, dw, db = layers.conv_backward_naive(dout, cache)
    # Numerical gradients of an independent forward (scipy), so a wrong forward cannot hide.
    numeric = {
        "dx": eval_numerical_gradient_array(lambda v: conv_oracle(v, w, b, stride, pad), x.copy(), dout),
        "dw": eval_numerical_gradient_array(lambda v: conv_oracle(x, v, b, stride, pad), w.copy(), dout),
        "db": eval_numerical_gradient_array(lambda v: conv_oracle(x, w, v, stride, pad), b.copy(), dout),
    }
    for name, got in (("dx", dx), ("dw", dw), ("db", db)):
        assert got.shape == numeric[name].shape, f"{name} shape {got.shape}, 기대값 {numeric[name].shape}"
        err = rel_error(got, numeric[name])
        assert err < GRAD_TOL, f"conv_backward_naive {name}: x{xs} stride={stride} pad={pad}: rel_error {err:.2e} > {GRAD_TOL}"


# --------------------------------------------------------------------------- max-pool

POOL_CASES = [
    # (x shape, pool_height, pool_width, stride)
    ((2, 3, 4, 4), 2, 2, 2),
    ((1, 2, 7, 5), 3, 1, 2),
    ((2, 1, 5, 5), 3, 3, 1),  # overlapping windows
]


@pytest.mark.hw5_max_pool_forward
@pytest.mark.parametrize("xs, ph, pw, stride", POOL_CASES)
def test_max_pool_forward_matches_window_max(xs, ph, pw, stride):
    x = _rng(3).standard_normal(xs)
    out, _ = layers.max_pool_forward_naive(x, {"pool_height": ph, "pool_width": pw, "stride": stride})
    expected = pool_oracle(x, ph, pw, stride)
    assert out.shape == expected.shape, f"출력 shape {out.shape}, 기대값 {expected.shape}"
    err = rel_error(out, expected)
    assert err < FORWARD_TOL, f"max_pool_forward_naive: x{xs} pool {ph}x{pw} stride={stride}: rel_error {err:.2e}"


@pytest.mark.hw5_max_pool_backward
@pytest.mark.parametrize("xs, ph, pw, stride", POOL_CASES)
def test_max_pool_backward_matches_numerical_gradient(xs, ph, pw, stride):
    x = _distinct(xs, seed=7)
    pool_param = {"pool_height": ph, "pool_width": pw, "stride": stride}
    out, cache = layers.max_pool_forward_naive(x, pool_param)
    dout = _rng(8).standard_normal(out.shape)
    dx = layers.max_pool_backward_naive(dout, cache)
    dx_num = eval_numerical_gradient_array(lambda v: pool_oracle(v, ph, pw, stride), x.copy(), dout)
    assert dx.shape == x.shape, f"dx shape {dx.shape}, 기대값 {x.shape}"
    err = rel_error(dx, dx_num)
    assert err < GRAD_TOL, f"max_pool_backward_naive: x{xs} pool {ph}x{pw} stride={stride}: rel_error {err:.2e}"


@pytest.mark.hw5_max_pool_backward
def test_max_pool_backward_tie_goes_to_first_max():
    # A 2x2 window of equal values: the whole gradient goes to the first one (row-major).
    x = np.ones((1, 1, 2, 2))
    out, cache = layers.max_pool_forward_naive(x, {"pool_height": 2, "pool_width": 2, "stride": 2})
    dx = layers.max_pool_backward_naive(np.array([[[[5.0]]]]), cache)
    expected = np.array([[[[5.0, 0.0], [0.0, 0.0]]]])
    assert np.array_equal(dx, expected), f"동점(tie)일 때 첫 번째 최댓값에만 gradient: 기대 {expected.ravel()}, 결과 {dx.ravel()}"


# --------------------------------------------------------------------------- ThreeLayerConvNet

def _small_net(**kw):
    from intro2ai.classifiers.cnn import ThreeLayerConvNet
    args = dict(input_dim=(3, 8, 8), num_filters=3, filter_size=3, hidden_dim=5,
                num_classes=4, weight_scale=1e-2, reg=0.0, dtype=np.float64)
    args.update(kw)
    return ThreeLayerConvNet(**args)


@pytest.mark.hw5_three_layer_convnet
def test_three_layer_convnet_parameter_shapes():
    np.random.seed(0)
    model = _small_net()
    expected = {"W1": (3, 3, 3, 3), "b1": (3,), "W2": (3 * 4 * 4, 5), "b2": (5,),
                "W3": (5, 4), "b3": (4,)}
    got = {k: tuple(v.shape) for k, v in model.params.items()}
    assert got == expected, f"params shape: 기대 {expected}, 결과 {got}"
    for k in ("b1", "b2", "b3"):
        assert np.all(model.params[k] == 0), f"{k} 는 0 으로 초기화해야 함"
    for k in ("W1", "W2", "W3"):
        assert 0.002 < model.params[k].std() < 0.05, f"{k} 의 std 는 weight_scale(0.01) 근처여야 함"


@pytest.mark.hw5_three_layer_convnet
def test_three_layer_convnet_scores_match_provided_layers():
    from intro2ai.layer_utils import affine_relu_forward, conv_relu_pool_forward
    np.random.seed(1)
    model = _small_net(weight_scale=0.3)
    p = model.params
    X = _rng(2).standard_normal((3, 3, 8, 8))
    scores = model.loss(X)
    h1, _ = conv_relu_pool_forward(X, p["W1"], p["b1"], {"stride": 1, "pad": 1},
                                   {"pool_height": 2, "pool_width": 2, "stride": 2})
    h2, _ = affine_relu_forward(h1.reshape(3, -1), p["W2"], p["b2"])
    expected, _ = layers.affine_forward(h2, p["W3"], p["b3"])
    assert scores.shape == (3, 4), f"loss(X) 는 y 없이 scores (N, num_classes) 를 돌려줘야 함: {scores.shape}"
    err = rel_error(scores, expected)
    assert err < FORWARD_TOL, f"scores 가 conv-relu-pool / affine-relu / affine 과 다름: rel_error {err:.2e}"


@pytest.mark.hw5_three_layer_convnet
def test_three_layer_convnet_initial_loss_and_regularisation():
    np.random.seed(2)
    model = _small_net(num_classes=10, weight_scale=1e-3)
    X = _rng(3).standard_normal((20, 3, 8, 8))
    y = _rng(4).integers(10, size=20)
    loss, grads = model.loss(X, y)
    assert abs(loss - math.log(10)) < LOSS_LOG10_TOL, f"초기 loss {loss:.4f} 는 log(10)={math.log(10):.4f} 근처여야 함"
    model.reg = 1.0
    loss_reg, _ = model.loss(X, y)
    assert loss_reg > loss, f"reg 를 켜면 loss 가 커져야 함: {loss_reg:.6f} <= {loss:.6f}"


@pytest.mark.hw5_three_layer_convnet
@pytest.mark.parametrize("reg", [0.0, 0.7])
def test_three_layer_convnet_gradients_match_numerical(reg):
    np.random.seed(3)
    model = _small_net(weight_scale=0.2, reg=reg)
    X = _rng(5).standard_normal((2, 3, 8, 8))
    y = np.array([1, 3])
    loss, grads = model.loss(X, y)
    assert set(grads) == set(model.params), f"grads 키 {sorted(grads)} 는 params 키와 같아야 함"
    for name in sorted(grads):
        num = eval_numerical_gradient(lambda _: model.loss(X, y)[0], model.params[name], verbose=False, h=1e-6)
        err = rel_error(num, grads[name])
        assert err < NET_GRAD_TOL, f"ThreeLayerConvNet d{name} (reg={reg}): rel_error {err:.2e} > {NET_GRAD_TOL}"
