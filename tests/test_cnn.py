"""Tests of intro2ai.classifiers.cnn.ThreeLayerConvNet (task hw5_three_layer_convnet)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from intro2ai.classifiers.cnn import ThreeLayerConvNet
from intro2ai.gradient_check import eval_numerical_gradient, rel_error
from intro2ai.solver import Solver

pytestmark = pytest.mark.hw5_three_layer_convnet

# Tiny weights give near-uniform softmax scores: the loss is log(10) up to ~1e-4.
INITIAL_LOSS_TOL = 1e-2
# float64 central differences (h = 1e-6) through ReLU and max pool, weights large enough that
# no pre-activation sits within h of a kink: a correct model agrees to ~1e-6, a wrong one ~1e-1.
GRAD_TOL = 1e-5
# The overfitting target of the homework.
OVERFIT_ACC = 0.9


def test_parameter_shapes_dtypes_and_init():
    np.random.seed(0)
    model = ThreeLayerConvNet(
        input_dim=(3, 8, 6),
        num_filters=5,
        filter_size=3,
        hidden_dim=11,
        num_classes=4,
        weight_scale=0.05,
    )
    expected = {
        "W1": (5, 3, 3, 3),
        "b1": (5,),
        "W2": (5 * 4 * 3, 11),
        "b2": (11,),
        "W3": (11, 4),
        "b3": (4,),
    }
    assert {k: v.shape for k, v in model.params.items()} == expected
    for name, value in model.params.items():
        assert value.dtype == np.float32, (
            f"{name}: default dtype must be float32, got {value.dtype}"
        )
    for name in ("b1", "b2", "b3"):
        assert not model.params[name].any(), f"{name} must start at zero"
    std = model.params["W2"].std()
    assert 0.04 < std < 0.06, f"W2 std {std:.4f}, expected about weight_scale = 0.05"
    model64 = ThreeLayerConvNet(
        input_dim=(1, 4, 4), num_filters=2, filter_size=3, hidden_dim=3, dtype=np.float64
    )
    assert all(v.dtype == np.float64 for v in model64.params.values())


def test_initial_loss_is_log_num_classes_and_reg_adds_l2():
    np.random.seed(231)
    model = ThreeLayerConvNet()
    N = 20
    X = np.random.randn(N, 3, 32, 32)
    y = np.random.randint(10, size=N)
    loss, grads = model.loss(X, y)
    assert abs(loss - math.log(10)) < INITIAL_LOSS_TOL, (
        f"initial loss {loss}, expected about log(10)"
    )
    assert set(grads) == set(model.params)
    model.reg = 0.5
    loss_reg, _ = model.loss(X, y)
    l2 = sum(float(np.sum(model.params[k].astype(np.float64) ** 2)) for k in ("W1", "W2", "W3"))
    assert loss_reg > loss, "regularisation must increase the initial loss"
    assert abs((loss_reg - loss) - 0.5 * 0.5 * l2) < 1e-4, (
        f"reg term {loss_reg - loss:.6f}, expected 0.5 * reg * sum(W**2) = {0.25 * l2:.6f}"
    )


def test_scores_at_test_time():
    np.random.seed(1)
    model = ThreeLayerConvNet(
        input_dim=(3, 8, 8), num_filters=4, filter_size=3, hidden_dim=6, num_classes=5
    )
    scores = model.loss(np.random.randn(7, 3, 8, 8))
    assert isinstance(scores, np.ndarray) and scores.shape == (7, 5)


@pytest.mark.parametrize("reg", [0.0, 0.1])
def test_gradients_match_numerical(reg):
    rng = np.random.default_rng(0)
    np.random.seed(0)
    X = rng.standard_normal((2, 3, 8, 8))
    y = rng.integers(10, size=2)
    model = ThreeLayerConvNet(
        num_filters=3,
        filter_size=3,
        input_dim=(3, 8, 8),
        hidden_dim=7,
        weight_scale=0.1,
        reg=reg,
        dtype=np.float64,
    )
    loss, grads = model.loss(X, y)
    for name in sorted(model.params):
        num = eval_numerical_gradient(
            lambda _: model.loss(X, y)[0], model.params[name], verbose=False, h=1e-6
        )
        assert grads[name].shape == num.shape, f"{name}: shape {grads[name].shape} vs {num.shape}"
        err = rel_error(grads[name], num)
        assert err < GRAD_TOL, (
            f"grad {name} [reg={reg}, X (2,3,8,8), 3 filters 3x3, hidden 7]: shape {num.shape}, "
            f"relative error {err:.3e} exceeds {GRAD_TOL:.0e}"
        )


def test_overfits_100_samples():
    np.random.seed(231)
    rng = np.random.default_rng(231)
    X = rng.standard_normal((100, 3, 16, 16))
    y = rng.integers(10, size=100)
    # Validate on the training set itself, so the best parameters the Solver restores are the
    # ones that fit the training set best. Unstructured noise needs a larger step than CIFAR.
    small_data = {"X_train": X, "y_train": y, "X_val": X, "y_val": y}
    model = ThreeLayerConvNet(
        input_dim=(3, 16, 16), num_filters=16, filter_size=3, hidden_dim=100, weight_scale=5e-2
    )
    solver = Solver(
        model,
        small_data,
        num_epochs=15,
        batch_size=50,
        update_rule="adam",
        optim_config={"learning_rate": 5e-3},
        verbose=False,
    )
    solver.train()
    acc = solver.check_accuracy(X, y)
    assert acc >= OVERFIT_ACC, (
        f"training accuracy on 100 samples after 15 epochs is {acc:.2f}, expected >= {OVERFIT_ACC}"
    )


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match=r"ThreeLayerConvNet: filter_size must be odd.*got 4"):
        ThreeLayerConvNet(filter_size=4)
    with pytest.raises(
        ValueError, match=r"ThreeLayerConvNet: the 2x2 max pool needs even H and W.*\(3, 31, 32\)"
    ):
        ThreeLayerConvNet(input_dim=(3, 31, 32))
    with pytest.raises(ValueError, match=r"ThreeLayerConvNet: input_dim must be a tuple"):
        ThreeLayerConvNet(input_dim=(32, 32))
    with pytest.raises(TypeError, match=r"ThreeLayerConvNet: dtype must be a floating dtype"):
        ThreeLayerConvNet(dtype=np.int32)
    model = ThreeLayerConvNet(input_dim=(3, 8, 8), num_filters=2, filter_size=3, hidden_dim=4)
    with pytest.raises(
        ValueError, match=r"ThreeLayerConvNet.loss: X must be .*\(N, 3, 8, 8\).*\(2, 3, 16, 16\)"
    ):
        model.loss(np.zeros((2, 3, 16, 16)))
