"""Tests for intro2ai.initializers (Glorot uniform / normal with a gain)."""

import math

import numpy as np
import pytest

from intro2ai import initializers

# Sampling tolerance for the empirical variance of ~250k draws: the relative standard error of a
# sample variance of a uniform is about sqrt(0.8 / n) ~ 0.2 %, so 2 % is > 10 sigma.
VAR_RTOL = 0.02


@pytest.mark.parametrize(
    "shape, fans",
    [
        ((784, 128), (784, 128)),  # affine (D, M): x @ w
        ((20, 1, 5, 5), (25, 500)),  # conv (F, C, HH, WW), counted by hand
        ((50, 20, 5, 5), (500, 1250)),
        ((4, 3, 2), (6, 8)),  # 1-D convolution filters
    ],
)
def test_compute_fans_hand_computed(shape, fans):
    assert initializers.compute_fans(shape) == fans


@pytest.mark.parametrize("gain", [1.0, math.sqrt(2)])
@pytest.mark.parametrize("shape", [(500, 500), (64, 16, 5, 5)])
def test_glorot_uniform_bound_and_variance(shape, gain):
    fan_in, fan_out = initializers.compute_fans(shape)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    w = initializers.glorot_uniform(shape, gain=gain, rng=0)
    assert w.shape == shape and w.dtype == np.float64
    assert np.all(np.abs(w) <= bound)
    # the draw actually fills the interval (not a narrower one)
    assert np.abs(w).max() > 0.99 * bound
    expected_var = gain**2 * 2.0 / (fan_in + fan_out)
    assert w.var() == pytest.approx(expected_var, rel=VAR_RTOL)
    assert abs(w.mean()) < 0.01 * bound


def test_glorot_normal_variance():
    shape = (400, 600)
    w = initializers.glorot_normal(shape, gain=math.sqrt(2), rng=1)
    assert w.var() == pytest.approx(2 * 2.0 / 1000, rel=VAR_RTOL)


def test_gain_sqrt2_doubles_variance_of_gain1():
    shape = (300, 700)
    w1 = initializers.glorot_uniform(shape, gain=1.0, rng=3)
    w2 = initializers.glorot_uniform(shape, gain=math.sqrt(2), rng=3)
    # same generator state, so the draws differ only by the scale factor
    np.testing.assert_allclose(w2, math.sqrt(2) * w1, rtol=1e-10, atol=1e-15)


def test_seed_reproducible_and_generator_accepted():
    a = initializers.glorot_uniform((10, 7), rng=42)
    b = initializers.glorot_uniform((10, 7), rng=np.random.default_rng(42))
    np.testing.assert_array_equal(a, b)
    c = initializers.glorot_uniform((10, 7), rng=43)
    assert not np.array_equal(a, c)


def test_dtype_float32():
    w = initializers.glorot_uniform((20, 1, 5, 5), gain=math.sqrt(2), rng=0, dtype=np.float32)
    assert w.dtype == np.float32


@pytest.mark.parametrize(
    "shape, exc",
    [((10,), ValueError), ((0, 5), ValueError), ((3.0, 4), TypeError), (5, TypeError)],
)
def test_bad_shapes_raise(shape, exc):
    with pytest.raises(exc, match="compute_fans"):
        initializers.glorot_uniform(shape)


@pytest.mark.parametrize(
    "gain, exc",
    [(0.0, ValueError), (-1.0, ValueError), (float("nan"), ValueError), ("2", TypeError)],
)
def test_bad_gain_raises(gain, exc):
    with pytest.raises(exc, match="gain"):
        initializers.glorot_uniform((3, 4), gain=gain)


def test_bad_rng_raises():
    with pytest.raises(TypeError, match="rng"):
        initializers.glorot_uniform((3, 4), rng="seed")
