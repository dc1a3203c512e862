"""Tests of intro2ai.gradient_check against functions with known gradients."""

from __future__ import annotations

import numpy as np
import pytest

from intro2ai.gradient_check import (
    eval_numerical_gradient,
    eval_numerical_gradient_array,
    grad_check_sparse,
    rel_error,
)

# Central differences are exact (up to rounding, ~1e-10 here) for quadratics and linear maps.
EXACT_TOL = 1e-8


def test_rel_error_basics():
    x = np.array([1.0, -2.0, 3.0])
    assert rel_error(x, x) == 0.0
    assert rel_error(x, 2 * x) == pytest.approx(1 / 3)
    assert rel_error(np.zeros(2), np.zeros(2)) == 0.0
    with pytest.raises(ValueError, match=r"rel_error: .*same shape.*\(3,\).*\(2,\)"):
        rel_error(x, x[:2])


def test_eval_numerical_gradient_of_quadratic_restores_x(capsys):
    rng = np.random.default_rng(0)
    A = rng.standard_normal((4, 4))
    x = rng.standard_normal((2, 2))
    x0 = x.copy()
    f = lambda v: float(v.ravel() @ A @ v.ravel())  # noqa: E731
    grad = eval_numerical_gradient(f, x, verbose=True)
    expected = ((A + A.T) @ x0.ravel()).reshape(2, 2)
    assert rel_error(grad, expected) < EXACT_TOL
    np.testing.assert_array_equal(x, x0, err_msg="x must be restored after the check")
    assert "(0, 0)" in capsys.readouterr().out, "verbose=True prints each index"


def test_eval_numerical_gradient_array_of_linear_map():
    rng = np.random.default_rng(1)
    A = rng.standard_normal((5, 3))
    x = rng.standard_normal(3)
    df = rng.standard_normal(5)
    grad = eval_numerical_gradient_array(lambda v: A @ v, x, df)
    assert rel_error(grad, A.T @ df) < EXACT_TOL
    with pytest.raises(ValueError, match=r"f\(x\) has shape \(5,\) but df has shape \(4,\)"):
        eval_numerical_gradient_array(lambda v: A @ v, x, df[:4])


def test_grad_check_sparse_separates_right_from_wrong(capsys):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((6, 4))
    f = lambda v: float(np.sum(v**3))  # noqa: E731
    good = grad_check_sparse(f, x, 3 * x**2, num_checks=5, verbose=True)
    assert len(good) == 5 and max(good) < 1e-7
    assert "relative error" in capsys.readouterr().out
    bad = grad_check_sparse(f, x, 2 * x**2, num_checks=5, verbose=False)
    assert min(bad) > 0.1


def test_integer_input_is_rejected():
    with pytest.raises(TypeError, match=r"eval_numerical_gradient: x must be a floating-point"):
        eval_numerical_gradient(lambda v: 0.0, np.arange(3), verbose=False)
    with pytest.raises(TypeError, match=r"eval_numerical_gradient_array: x must be a floating"):
        eval_numerical_gradient_array(lambda v: v, np.arange(3), np.ones(3))
