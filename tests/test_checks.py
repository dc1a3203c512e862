"""Tests of intro2ai._checks: geometry of valid inputs and the messages of invalid ones."""

import numpy as np
import pytest

from intro2ai import _checks

WHO = "conv_forward_fast"


def _conv_args(N=2, C=3, H=8, W=8, F=4, HH=3, WW=3, dtype=np.float64):
    x = np.zeros((N, C, H, W), dtype=dtype)
    w = np.zeros((F, C, HH, WW), dtype=dtype)
    b = np.zeros((F,), dtype=dtype)
    return x, w, b


@pytest.mark.parametrize(
    "H, W, HH, WW, stride, pad, expected",
    [
        (8, 8, 3, 3, 1, 1, (1, 1, 8, 8)),
        (31, 31, 3, 3, 2, 1, (2, 1, 16, 16)),
        (32, 32, 7, 7, 1, 3, (1, 3, 32, 32)),
        (28, 28, 5, 5, 1, 0, (1, 0, 24, 24)),
        (5, 7, 3, 2, 1, 0, (1, 0, 3, 6)),
        (4, 4, 1, 5, 1, 2, (1, 2, 8, 4)),
        (1, 1, 3, 3, 1, 1, (1, 1, 1, 1)),
    ],
)
def test_conv_geometry_valid(H, W, HH, WW, stride, pad, expected):
    x, w, b = _conv_args(H=H, W=W, HH=HH, WW=WW)
    got = _checks.conv_geometry(WHO, x, w, b, {"stride": stride, "pad": pad})
    assert got == expected
    assert all(type(v) is int for v in got)


def test_conv_geometry_accepts_float32_and_numpy_ints():
    x, w, b = _conv_args(dtype=np.float32)
    got = _checks.conv_geometry(WHO, x, w, b, {"stride": np.int64(1), "pad": np.int32(1)})
    assert got == (1, 1, 8, 8)


def test_conv_not_divisible_message_names_everything():
    x, w, b = _conv_args(H=30, W=30)
    with pytest.raises(ValueError) as exc:
        _checks.conv_geometry(WHO, x, w, b, {"stride": 2, "pad": 1})
    msg = str(exc.value)
    assert (
        msg
        == "conv_forward_fast: (H + 2*pad - HH) = 29 is not divisible by stride 2; change pad or stride"
    )


def test_conv_width_not_divisible():
    x, w, b = _conv_args(H=7, W=8)
    with pytest.raises(ValueError, match=r"\(W \+ 2\*pad - WW\) = 5 is not divisible by stride 2"):
        _checks.conv_geometry(WHO, x, w, b, {"stride": 2, "pad": 0})


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.uint8, np.bool_, np.complex128])
@pytest.mark.parametrize("which", [0, 1, 2])
def test_conv_non_float_arrays_are_type_errors(dtype, which):
    args = list(_conv_args())
    args[which] = args[which].astype(dtype)
    with pytest.raises(TypeError) as exc:
        _checks.conv_geometry(WHO, *args, {"stride": 1, "pad": 1})
    msg = str(exc.value)
    assert msg.startswith(WHO + ":")
    assert str(np.dtype(dtype)) in msg
    assert "astype" in msg


def test_conv_non_ndarray_is_type_error():
    x, w, b = _conv_args()
    with pytest.raises(TypeError, match=r"conv_forward_fast: x must be a numpy ndarray.*got list"):
        _checks.conv_geometry(WHO, x.tolist(), w, b, {"stride": 1, "pad": 1})


@pytest.mark.parametrize("param", [None, [1, 1], (1, 1), "stride=1"])
def test_conv_param_not_dict(param):
    x, w, b = _conv_args()
    with pytest.raises(
        TypeError, match=r"conv_param must be a dict like \{'stride': \.\.\., 'pad': \.\.\.\}"
    ):
        _checks.conv_geometry(WHO, x, w, b, param)


@pytest.mark.parametrize(
    "param, missing", [({"stride": 1}, "pad"), ({"pad": 1}, "stride"), ({}, "stride")]
)
def test_conv_param_missing_key(param, missing):
    x, w, b = _conv_args()
    with pytest.raises(ValueError, match=f"missing key.*'{missing}'"):
        _checks.conv_geometry(WHO, x, w, b, param)


@pytest.mark.parametrize(
    "param, exc_type, pattern",
    [
        (
            {"stride": 1.0, "pad": 1},
            TypeError,
            r"conv_param\['stride'\] must be an integer, got 1\.0.*use conv_param\['stride'\] = 1",
        ),
        ({"stride": 1, "pad": 0.5}, TypeError, r"conv_param\['pad'\] must be an integer, got 0\.5"),
        ({"stride": "1", "pad": 1}, TypeError, r"conv_param\['stride'\] must be an integer"),
        ({"stride": True, "pad": 1}, TypeError, r"conv_param\['stride'\] must be an integer"),
        ({"stride": 0, "pad": 1}, ValueError, r"conv_param\['stride'\] must be >= 1, got 0"),
        ({"stride": 1, "pad": -1}, ValueError, r"conv_param\['pad'\] must be >= 0, got -1"),
    ],
)
def test_conv_bad_stride_pad(param, exc_type, pattern):
    x, w, b = _conv_args()
    with pytest.raises(exc_type, match=pattern):
        _checks.conv_geometry(WHO, x, w, b, param)


def test_conv_wrong_ndim():
    x, w, b = _conv_args()
    with pytest.raises(
        ValueError,
        match=r"x must have 4 dimensions \(N, C, H, W\), got 3 dimensions with shape \(3, 8, 8\)",
    ):
        _checks.conv_geometry(WHO, x[0], w, b, {"stride": 1, "pad": 1})
    with pytest.raises(ValueError, match=r"w must have 4 dimensions \(F, C, HH, WW\)"):
        _checks.conv_geometry(WHO, x, w[0], b, {"stride": 1, "pad": 1})
    with pytest.raises(ValueError, match=r"b must have 1 dimensions \(F,\), got 2"):
        _checks.conv_geometry(WHO, x, w, b[:, None], {"stride": 1, "pad": 1})


def test_conv_channel_mismatch():
    x, _, b = _conv_args(C=3)
    w = np.zeros((4, 1, 3, 3))
    with pytest.raises(ValueError) as exc:
        _checks.conv_geometry(WHO, x, w, b, {"stride": 1, "pad": 1})
    msg = str(exc.value)
    assert "C = 3" in msg and "(2, 3, 8, 8)" in msg and "(4, 1, 3, 3)" in msg
    assert "(F, 3, HH, WW)" in msg


def test_conv_bias_shape():
    x, w, _ = _conv_args(F=4)
    with pytest.raises(ValueError, match=r"b must have shape \(F,\) = \(4,\).*got \(5,\)"):
        _checks.conv_geometry(WHO, x, w, np.zeros(5), {"stride": 1, "pad": 1})


def test_conv_filter_larger_than_input():
    x, w, b = _conv_args(H=4, W=4, HH=7, WW=7)
    with pytest.raises(
        ValueError, match=r"HH = 7 is larger than the padded input \(H \+ 2\*pad = 6\)"
    ):
        _checks.conv_geometry(WHO, x, w, b, {"stride": 1, "pad": 1})
    with pytest.raises(ValueError, match=r"HH = 7 is larger than the input \(H = 4\)"):
        _checks.conv_geometry(WHO, x, w, b, {"stride": 1, "pad": 0})


# ------------------------------------------------------------------ pooling

PWHO = "max_pool_forward_fast"


def _pp(ph=2, pw=2, s=2):
    return {"pool_height": ph, "pool_width": pw, "stride": s}


@pytest.mark.parametrize(
    "H, W, ph, pw, s, expected",
    [
        (32, 32, 2, 2, 2, (2, 2, 2, 16, 16)),
        (5, 7, 3, 1, 2, (3, 1, 2, 2, 4)),
        (4, 4, 4, 4, 1, (4, 4, 1, 1, 1)),
        (6, 5, 2, 3, 1, (2, 3, 1, 5, 3)),
    ],
)
def test_pool_geometry_valid(H, W, ph, pw, s, expected):
    x = np.zeros((1, 1, H, W), dtype=np.float32)
    assert _checks.pool_geometry(PWHO, x, _pp(ph, pw, s)) == expected


def test_pool_not_divisible():
    x = np.zeros((1, 1, 5, 4))
    with pytest.raises(ValueError) as exc:
        _checks.pool_geometry(PWHO, x, _pp(2, 2, 2))
    assert str(exc.value) == (
        "max_pool_forward_fast: (H - pool_height) = 3 is not divisible by stride 2; "
        "change the pool size or stride"
    )


def test_pool_window_too_large():
    x = np.zeros((1, 1, 4, 2))
    with pytest.raises(ValueError, match=r"pool_width = 3 is larger than the input \(W = 2\)"):
        _checks.pool_geometry(PWHO, x, _pp(2, 3, 1))


def test_pool_type_errors():
    with pytest.raises(TypeError, match="dtype int64"):
        _checks.pool_geometry(PWHO, np.zeros((1, 1, 4, 4), dtype=np.int64), _pp())
    with pytest.raises(TypeError, match="pool_param must be a dict"):
        _checks.pool_geometry(PWHO, np.zeros((1, 1, 4, 4)), (2, 2, 2))
    with pytest.raises(TypeError, match=r"pool_param\['stride'\] must be an integer"):
        _checks.pool_geometry(PWHO, np.zeros((1, 1, 4, 4)), _pp(s=2.5))


def test_pool_value_errors():
    with pytest.raises(ValueError, match=r"missing key.*'pool_width'"):
        _checks.pool_geometry(PWHO, np.zeros((1, 1, 4, 4)), {"pool_height": 2, "stride": 2})
    with pytest.raises(ValueError, match=r"x must have 4 dimensions"):
        _checks.pool_geometry(PWHO, np.zeros((4, 4)), _pp())
    with pytest.raises(ValueError, match=r"pool_param\['pool_height'\] must be >= 1, got 0"):
        _checks.pool_geometry(PWHO, np.zeros((1, 1, 4, 4)), _pp(ph=0))
