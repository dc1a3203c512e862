"""Helpers shared by the test modules: independent oracles and hypothesis strategies.

The oracles never call the kit's own layers: convolution is built from
``scipy.signal.correlate``, max pooling from ``sliding_window_view`` or from plain loops. Test
modules import them by name (pytest puts ``tests/`` on ``sys.path``)::

    from conftest import conv_oracle, pool_oracle
"""

from __future__ import annotations

import os

import numpy as np
from hypothesis import strategies as st
from numpy.lib.stride_tricks import sliding_window_view
from scipy import signal

# `make test` runs pytest inside make: the `make` a test starts (as a student or a TA would, from
# a shell) must not inherit the outer make's level and flags, or it prints "Entering directory"
# lines into the output the test reads.
for _var in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS", "MAKEOVERRIDES"):
    os.environ.pop(_var, None)

# ----------------------------------------------------------------------------- order

#: Modules that grade whole courses or run notebooks (nbgrader, kernels, sandboxes), slowest
#: first: each takes from half a minute to a few minutes. They are collected first and `make test`
#: keeps that order (`--no-loadscope-reorder`), so the pytest-xdist workers start them at once;
#: xdist's own order (most tests first) started them last and left one worker idle at the end.
LONG_MODULES = (
    "test_pipeline_hw5.py",
    "test_notebook_step_attacks.py",
    "test_pipeline.py",
    "test_course_data.py",
    "test_sandbox.py",
    "test_labs.py",
    "test_grading_coverage.py",
    "test_release_workflow.py",
    "test_release_nbgrader.py",
)


def pytest_collection_modifyitems(items):
    rank = {name: i for i, name in enumerate(LONG_MODULES)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: the rest as found


# ----------------------------------------------------------------------------- oracles


def _pads(pad) -> tuple[int, int]:
    return (pad, pad) if np.isscalar(pad) else (int(pad[0]), int(pad[1]))


def conv_oracle(x, w, b, stride=1, pad=0):
    """Convolution layer from ``scipy.signal.correlate`` (independent of the kit's layers).

    ``out[n, f] = sum_c correlate(x_pad[n, c], w[f, c], 'valid')[::stride, ::stride] + b[f]``.

    Parameters
    ----------
    x, w, b : ndarray
        Input ``(N, C, H, W)``, filters ``(F, C, HH, WW)``, bias ``(F,)``; the result has
        their common dtype (cast to float64 first for a float64 oracle of float32 data).
    stride : int
    pad : int or (int, int)
        Zero padding on each side; a pair pads height and width differently.
    """
    ph, pw = _pads(pad)
    x_pad = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    N, C = x.shape[:2]
    F = w.shape[0]
    return np.array(
        [
            [
                sum(signal.correlate(x_pad[n, c], w[f, c], mode="valid") for c in range(C))[
                    ::stride, ::stride
                ]
                + b[f]
                for f in range(F)
            ]
            for n in range(N)
        ]
    )


def conv_dw_oracle(x, dout, pad=0, stride=1, filt=None):
    """Filter gradient of a convolution in float64:
    ``dw[f, c] = sum_n correlate(x_pad[n, c], dilated dout[n, f], 'valid')[:HH, :WW]``, with
    ``dout`` dilated by ``stride`` (zeros between its entries) and ``filt = (HH, WW)`` (needed
    when ``stride > 1``; at stride 1 the valid part is the filter's size)."""
    ph, pw = _pads(pad)
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    N, C = x.shape[:2]
    F, Ho, Wo = dout.shape[1:]
    d = np.zeros((N, F, (Ho - 1) * stride + 1, (Wo - 1) * stride + 1))
    d[:, :, ::stride, ::stride] = dout
    HH, WW = filt if filt is not None else (xp.shape[2] - Ho + 1, xp.shape[3] - Wo + 1)
    return np.stack(
        [
            np.stack(
                [
                    sum(signal.correlate(xp[n, c], d[n, f], mode="valid") for n in range(N))[
                        :HH, :WW
                    ]
                    for c in range(C)
                ]
            )
            for f in range(F)
        ]
    )


def pool_oracle(x, pool_height, pool_width, stride):
    """Max pooling from ``sliding_window_view`` (forward only)."""
    windows = sliding_window_view(x, (pool_height, pool_width), axis=(2, 3))
    return windows[:, :, ::stride, ::stride].max(axis=(-2, -1))


def pool_loop_oracle(x, ph, pw, stride, dout):
    """Max pooling forward and backward in plain loops: the first maximum in row-major order
    gets the gradient; overlapping windows accumulate. Returns ``(out, dx)``."""
    N, C, H, W = x.shape
    H_out, W_out = (H - ph) // stride + 1, (W - pw) // stride + 1
    out = np.zeros((N, C, H_out, W_out), dtype=x.dtype)
    dx = np.zeros_like(x)
    for n in range(N):
        for c in range(C):
            for h in range(H_out):
                for w in range(W_out):
                    best, at = None, None
                    for a in range(ph):
                        for bb in range(pw):
                            v = x[n, c, h * stride + a, w * stride + bb]
                            if best is None or v > best:
                                best, at = v, (h * stride + a, w * stride + bb)
                    out[n, c, h, w] = best
                    dx[n, c, at[0], at[1]] += dout[n, c, h, w]
    return out, dx


# ----------------------------------------------------------------------------- strategies


@st.composite
def conv_cases(draw):
    """A valid convolution geometry (non-square, stride 1-3, pad 0-3), a dtype and a seed."""
    N = draw(st.integers(1, 3))
    C = draw(st.integers(1, 3))
    F = draw(st.integers(1, 3))
    HH = draw(st.integers(1, 4))
    WW = draw(st.integers(1, 5))
    stride = draw(st.integers(1, 3))
    pad = draw(st.integers(0, 3))
    # Smallest output size that leaves H >= 1: (H_out - 1) * stride >= 1 + 2*pad - HH.
    h_min = 1 + max(0, -(-(1 + 2 * pad - HH) // stride))
    w_min = 1 + max(0, -(-(1 + 2 * pad - WW) // stride))
    H_out = draw(st.integers(h_min, h_min + 3))
    W_out = draw(st.integers(w_min, w_min + 3))
    H = (H_out - 1) * stride + HH - 2 * pad
    W = (W_out - 1) * stride + WW - 2 * pad
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    seed = draw(st.integers(0, 2**32 - 1))
    return dict(
        N=N, C=C, F=F, H=H, W=W, HH=HH, WW=WW, stride=stride, pad=pad, dtype=dtype, seed=seed
    )


@st.composite
def pool_cases(draw):
    """A valid max-pool geometry (tiling or overlapping windows), a dtype, ties or not, a seed."""
    N = draw(st.integers(1, 2))
    C = draw(st.integers(1, 3))
    tiles = draw(st.booleans())
    if tiles:
        ph = pw = stride = draw(st.integers(1, 4))
    else:
        ph = draw(st.integers(1, 4))
        pw = draw(st.integers(1, 4))
        stride = draw(st.integers(1, 3))
    H = (draw(st.integers(1, 4)) - 1) * stride + ph
    W = (draw(st.integers(1, 4)) - 1) * stride + pw
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    ties = draw(st.booleans())
    seed = draw(st.integers(0, 2**32 - 1))
    return dict(N=N, C=C, H=H, W=W, ph=ph, pw=pw, stride=stride, dtype=dtype, ties=ties, seed=seed)


def conv_arrays(case):
    """``(rng, x, w, b, conv_param)`` of a :func:`conv_cases` case."""
    rng = np.random.default_rng(case["seed"])
    dt = case["dtype"]
    x = rng.standard_normal((case["N"], case["C"], case["H"], case["W"])).astype(dt)
    w = rng.standard_normal((case["F"], case["C"], case["HH"], case["WW"])).astype(dt)
    b = rng.standard_normal(case["F"]).astype(dt)
    return rng, x, w, b, {"stride": case["stride"], "pad": case["pad"]}


def pool_arrays(case):
    """``(rng, x, pool_param)`` of a :func:`pool_cases` case (small integers when ``ties``)."""
    rng = np.random.default_rng(case["seed"])
    shape = (case["N"], case["C"], case["H"], case["W"])
    if case["ties"]:
        x = rng.integers(0, 3, size=shape).astype(case["dtype"])  # many equal maxima
    else:
        x = rng.standard_normal(shape).astype(case["dtype"])
    pp = {"pool_height": case["ph"], "pool_width": case["pw"], "stride": case["stride"]}
    return rng, x, pp
