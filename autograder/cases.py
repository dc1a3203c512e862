"""Test cases of the trusted grader: visible ones and hidden ones drawn from a secret seed.

Every task of the table (:mod:`autograder.tasks`) has a fixed list of case *slots* (their
points are in ``rubric.toml``), made by the case maker registered here for the task's function
(:func:`maker`; the make-check cases likewise with :func:`check_maker`). A slot
named ``visible_*`` / ``*_visible`` is a fixed case of the kind students run in the notebook
(its geometry, never data whose answer the notebook prints);
the other slots are **hidden**: their geometry (batch, channels, non-square inputs and
filters, stride, pad) and their data are drawn at grading time from the secret seed, so they
are never shipped to students. Whatever the seed, the hidden cases hold the geometries that
expose every known mistake of ``autograder.mistakes`` (conv pad > 0 and pad = 0, a non-square
filter, stride > 1; a non-square pool window, overlapping pool windows with a stride different
from the window, ties): tests/test_grading_coverage.py checks it over 2,000 seeds.

The secret seed is, in order: the ``seed`` argument of ``grade_submission``, the environment
variable ``INTRO2AI_GRADER_SEED``, or the instructor-only file ``autograder/.grader_seed``
(created with a random value on first use; it is git-ignored and never released).

Cases carry only inputs (arrays and JSON parameters). Expected values are never stored: the
grader computes them from the reference library when it grades.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from autograder import tasks as tasks_mod

SEED_ENV = "INTRO2AI_GRADER_SEED"
SEED_FILE = Path(__file__).resolve().parent / ".grader_seed"

#: Number of coordinates per array at which the child takes numerical gradients.
NUMERIC_POINTS = 4


@dataclasses.dataclass
class Case:
    """One graded case: the inputs of a call and how to describe it (never its answer)."""

    task: str
    name: str
    arrays: dict[str, np.ndarray]
    params: dict[str, Any]
    hidden: bool
    # Flat indices (per array name) where the child evaluates numerical gradients.
    numeric: dict[str, list[int]] = dataclasses.field(default_factory=dict)

    def describe(self) -> str:
        """Shapes and parameters for feedback (inputs only: never expected values)."""
        parts = [
            f"{k} {tuple(v.shape)}"
            for k, v in self.arrays.items()
            if not k.startswith("param_") and k not in ("y",)
        ]
        for key, value in self.params.items():
            if key != "params_seed":  # a seed of the grader's own, not an input
                if key == "init":
                    value = {k: v for k, v in value.items() if k != "dtype"}
                parts.append(f"{key}={value}")
        return ", ".join(parts)


def secret_seed(seed: int | str | None = None) -> str:
    """Return the hidden-case seed (see the module docstring for where it comes from)."""
    if seed is not None:
        return str(seed)
    env = os.environ.get(SEED_ENV, "").strip()
    if env:
        return env
    try:
        text = SEED_FILE.read_text().strip()
        if text:
            return text
    except FileNotFoundError:
        pass
    value = str(secrets.randbits(63))
    try:
        fd = os.open(SEED_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(value + "\n")
    except FileExistsError:
        return SEED_FILE.read_text().strip()
    except OSError:
        pass  # read-only checkout: a per-process seed still grades correctly
    return value


#: Case makers by task function: ``maker(task_id, seed) -> [Case]`` (see :func:`make_cases`).
_MAKERS: dict[str, Callable[[str, str], list[Case]]] = {}
#: Makers of the public make-check cases by task function: ``maker(task_id) -> [Case]``.
_CHECK_MAKERS: dict[str, Callable[[str], list[Case]]] = {}


def maker(*functions: str):
    """Register the decorated ``f(task_id, seed)`` as the case maker of these task functions."""

    def register(fn):
        for name in functions:
            _MAKERS[name] = fn
        return fn

    return register


def check_maker(*functions: str):
    """Register the decorated ``f(task_id)`` as the make-check case maker of these functions."""

    def register(fn):
        for name in functions:
            _CHECK_MAKERS[name] = fn
        return fn

    return register


def _backward(task: str) -> bool:
    return tasks_mod.get(task).kind == "backward"


def _rng(seed: str, task: str, name: str) -> np.random.Generator:
    digest = hashlib.sha256(f"{seed}|{task}|{name}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def _pick(rng: np.random.Generator, values) -> int:
    return int(rng.choice(list(values)))


def _numeric_idx(rng: np.random.Generator, arr: np.ndarray, k: int = NUMERIC_POINTS) -> list[int]:
    k = min(k, arr.size)
    return sorted(int(i) for i in rng.choice(arr.size, size=k, replace=False))


def _distinct(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Values with gaps >= 0.05 between any two (no max-pool ties, even after +-1e-5)."""
    n = int(np.prod(shape))
    vals = rng.permutation(n) * 0.05 - n * 0.025 + rng.uniform(0, 0.01, size=n)
    return vals.reshape(shape).astype(np.float64)


# ------------------------------------------------------------------------------------------
# Convolution
# ------------------------------------------------------------------------------------------


def _conv_geometry(rng, kind: str) -> tuple[tuple, tuple, dict]:
    """Draw (x shape, w shape, conv_param) for a hidden slot; always a valid geometry."""
    while True:
        if kind == "stride_pad":
            N, C, F = 2, _pick(rng, (2, 3)), _pick(rng, (2, 3))
            HH = WW = 3
            stride, pad = _pick(rng, (2, 3)), _pick(rng, (1, 2))
            H_out, W_out = _pick(rng, (2, 3)), _pick(rng, (2, 3))
        elif kind == "nonsquare":
            N, C, F = 2, _pick(rng, (1, 2, 3)), _pick(rng, (2, 3))
            HH, WW = [(2, 3), (3, 2), (3, 1), (1, 3)][_pick(rng, range(4))]
            stride, pad = _pick(rng, (1, 2)), _pick(rng, (0, 1))
            pad = 0  # every seed has pad=0 (the draw above keeps the seeds' other values)
            H_out = _pick(rng, (2, 3, 4))
            W_out = H_out + _pick(rng, (1, 2))
        else:  # single: batch 1, one channel
            N, C, F = 1, 1, _pick(rng, (1, 2))
            HH, WW = _pick(rng, (2, 3)), _pick(rng, (2, 3))
            stride, pad = _pick(rng, (1, 2)), _pick(rng, (0, 1, 2))
            H_out, W_out = _pick(rng, (2, 3, 4)), _pick(rng, (2, 3, 5))
        H = (H_out - 1) * stride + HH - 2 * pad
        W = (W_out - 1) * stride + WW - 2 * pad
        if H >= 2 and W >= 2 and (H != W or kind == "stride_pad"):
            return (N, C, H, W), (F, C, HH, WW), {"stride": stride, "pad": pad}


def _conv_case(task, name, hidden, x, w, b, conv_param, rng, backward) -> Case:
    arrays = {"x": x, "w": w, "b": b}
    numeric: dict[str, list[int]] = {}
    if backward:
        stride, pad = conv_param["stride"], conv_param["pad"]
        H_out = 1 + (x.shape[2] + 2 * pad - w.shape[2]) // stride
        W_out = 1 + (x.shape[3] + 2 * pad - w.shape[3]) // stride
        arrays["dout"] = rng.standard_normal((x.shape[0], w.shape[0], H_out, W_out))
        numeric = {k: _numeric_idx(rng, arrays[k]) for k in ("x", "w", "b")}
    return Case(task, name, arrays, {"conv_param": conv_param}, hidden, numeric)


@maker("conv_forward_naive", "conv_backward_naive")
def conv_cases(task: str, seed: str) -> list[Case]:
    backward = _backward(task)
    cases = []
    # Visible: fixed cases (fixed seeds) of the geometry of the notebook's checks. The forward
    # one is not the notebook's linspace data: the notebook prints its correct_out, and a
    # table of printed answers must earn nothing.
    if backward:
        rng = np.random.default_rng(231)
        x = rng.standard_normal((4, 3, 5, 5))
        w = rng.standard_normal((2, 3, 3, 3))
        b = rng.standard_normal(2)
        cases.append(
            _conv_case(task, "visible_basic", False, x, w, b, {"stride": 1, "pad": 1}, rng, True)
        )
    else:
        rng = np.random.default_rng(232)
        x = rng.standard_normal((2, 3, 4, 4))
        w = rng.standard_normal((3, 3, 4, 4))
        b = rng.standard_normal(3)
        cases.append(
            _conv_case(task, "visible_basic", False, x, w, b, {"stride": 2, "pad": 1}, None, False)
        )
    for kind in ("stride_pad", "nonsquare", "single"):  # each seed: pad > 0, pad = 0, batch 1
        name = f"hidden_{kind}"
        rng = _rng(seed, task, name)
        xs, ws, conv_param = _conv_geometry(rng, kind)
        x = rng.standard_normal(xs)
        w = rng.standard_normal(ws)
        b = rng.standard_normal(ws[0])
        cases.append(_conv_case(task, name, True, x, w, b, conv_param, rng, backward))
    return cases


# ------------------------------------------------------------------------------------------
# Max pooling
# ------------------------------------------------------------------------------------------


def _pool_geometry(rng, kind: str) -> tuple[tuple, dict]:
    if kind == "nonsquare":
        N, C = 2, _pick(rng, (2, 3))
        ph, pw = [(2, 3), (3, 2), (1, 2), (2, 1)][_pick(rng, range(4))]
        stride = _pick(rng, (1, 2))
        H_out, W_out = _pick(rng, (2, 3)), _pick(rng, (3, 4))
    elif kind in ("overlap", "ties"):
        N, C = 2, _pick(rng, (1, 2))
        ph = pw = 3
        stride = _pick(rng, (1, 2))
        if kind == "overlap":
            stride = 2  # overlapping windows whose stride differs from the window, every seed
        H_out, W_out = _pick(rng, (2, 3)), _pick(rng, (2, 4))
    else:  # single
        N, C = 1, 1
        ph, pw = _pick(rng, (2, 3)), _pick(rng, (2, 3))
        stride = _pick(rng, (1, 2, 3))
        H_out, W_out = _pick(rng, (2, 3)), _pick(rng, (3, 4))
    H = (H_out - 1) * stride + ph
    W = (W_out - 1) * stride + pw
    return (N, C, H, W), {"pool_height": ph, "pool_width": pw, "stride": stride}


def _pool_case(task, name, hidden, x, pool_param, rng, backward, numeric=True) -> Case:
    arrays = {"x": x}
    num: dict[str, list[int]] = {}
    if backward:
        ph, pw, s = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
        H_out = 1 + (x.shape[2] - ph) // s
        W_out = 1 + (x.shape[3] - pw) // s
        arrays["dout"] = rng.standard_normal((x.shape[0], x.shape[1], H_out, W_out))
        if numeric:
            num = {"x": _numeric_idx(rng, x)}
    return Case(task, name, arrays, {"pool_param": pool_param}, hidden, num)


@maker("max_pool_forward_naive", "max_pool_backward_naive")
def pool_cases(task: str, seed: str) -> list[Case]:
    backward = _backward(task)
    cases = []
    if backward:
        rng = np.random.default_rng(231)
        x = _distinct(rng, (3, 2, 8, 8))
        cases.append(
            _pool_case(
                task,
                "visible_basic",
                False,
                x,
                {"pool_height": 2, "pool_width": 2, "stride": 2},
                rng,
                True,
            )
        )
    else:
        x = _distinct(np.random.default_rng(232), (2, 3, 4, 4))  # not the notebook's linspace
        cases.append(
            _pool_case(
                task,
                "visible_basic",
                False,
                x,
                {"pool_width": 2, "pool_height": 2, "stride": 2},
                None,
                False,
            )
        )
    kinds = (
        ("nonsquare", "overlap", "ties", "single")
        if backward
        else ("nonsquare", "overlap", "single")
    )
    for kind in kinds:
        name = f"hidden_{kind}"
        rng = _rng(seed, task, name)
        xs, pool_param = _pool_geometry(rng, kind)
        if kind == "ties":
            # Small integers: many windows hold several equal maxima (first-max rule); the
            # first window of every seed has two (its top-left pair).
            x = rng.integers(0, 3, size=xs).astype(np.float64)
            x[0, 0, 0, :2] = 3.0
        else:
            x = _distinct(rng, xs)
        if kind == "overlap":
            # The largest value sits where four windows overlap: every seed tells "+=" from "=".
            x[:, :, 2, 2] = x.max() + 1.0
        cases.append(
            _pool_case(task, name, True, x, pool_param, rng, backward, numeric=kind != "ties")
        )
    return cases


# ------------------------------------------------------------------------------------------
# ThreeLayerConvNet
# ------------------------------------------------------------------------------------------


def _net_kwargs(rng, visible: bool) -> dict:
    if visible:
        return {
            "input_dim": [3, 16, 16],
            "num_filters": 3,
            "filter_size": 3,
            "hidden_dim": 7,
            "num_classes": 10,
            "weight_scale": 1e-2,
            "reg": 0.0,
            "dtype": "float64",
        }
    H = _pick(rng, (6, 8, 10))
    W = H + 2 * _pick(rng, (1, 2))
    return {
        "input_dim": [_pick(rng, (1, 2, 3)), H, W],
        "num_filters": _pick(rng, (4, 5, 6)),
        "filter_size": _pick(rng, (3, 5)),
        "hidden_dim": _pick(rng, (8, 9, 11)),
        "num_classes": _pick(rng, (3, 4, 6)),
        "weight_scale": float(np.round(10 ** rng.uniform(-2.5, -1.0), 6)),
        "reg": float(np.round(rng.uniform(0.1, 0.9), 3)),
        "dtype": "float64",
    }


@maker("ThreeLayerConvNet")
def net_cases(task: str, seed: str) -> list[Case]:
    cases = []
    for name in ("init_visible", "init_hidden", "loss_visible", "loss_hidden"):
        visible = name.endswith("visible")
        rng = np.random.default_rng(231) if visible else _rng(seed, task, name)
        init = _net_kwargs(rng, visible)
        if name.startswith("init"):
            cases.append(Case(task, name, {}, {"init": init}, not visible))
            continue
        C, H, W = init["input_dim"]
        N = 2 if visible else _pick(rng, (1, 3))
        X = rng.standard_normal((N, C, H, W))
        y = rng.integers(init["num_classes"], size=N).astype(np.int64)
        # The parameters are the reference model's own (drawn in grader.py with this seed),
        # so they are set there; only the data and the seed for them live here.
        params_seed = int(rng.integers(2**31))
        cases.append(
            Case(
                task,
                name,
                {"X": X, "y": y},
                {"init": init, "reg": init["reg"], "params_seed": params_seed},
                not visible,
            )
        )
    return cases


#: The task ids, in rubric order (the table's).
TASKS = tasks_mod.ids()


def _registered(registry: dict, task: str, what: str):
    function = tasks_mod.get(task).function  # KeyError naming the known ids
    try:
        return registry[function]
    except KeyError:
        raise KeyError(
            f"task {task!r}: no {what} is registered for {function!r} in autograder/cases.py"
        ) from None


def make_cases(task: str, seed: str) -> list[Case]:
    """All cases of ``task`` (visible first), hidden ones drawn from ``seed``."""
    return _registered(_MAKERS, task, "case maker")(task, seed)


# ------------------------------------------------------------------------------------------
# Local checks (make check): fixed public cases, never graded
# ------------------------------------------------------------------------------------------

#: Geometries of the students' local checks: the kinds the hidden cases have (pad > 0 and
#: pad = 0, non-square inputs and filters, stride > 1, a non-square pool window, overlapping
#: windows, ties), with their own fixed data. The grader's visible and hidden cases are other
#: cases, so answers copied from the checks' data earn nothing.
CHECK_CONV = {
    "check_pad1": ((2, 3, 5, 5), (4, 3, 3, 3), {"stride": 1, "pad": 1}),
    "check_pad0_nonsquare": ((1, 2, 7, 6), (3, 2, 3, 2), {"stride": 2, "pad": 0}),
    "check_stride_pad": ((3, 1, 6, 6), (2, 1, 4, 4), {"stride": 2, "pad": 1}),
}
CHECK_POOL = {
    "check_basic": ((2, 3, 4, 4), {"pool_height": 2, "pool_width": 2, "stride": 2}),
    "check_nonsquare": ((1, 2, 7, 5), {"pool_height": 3, "pool_width": 1, "stride": 2}),
    "check_overlap": ((2, 1, 5, 5), {"pool_height": 3, "pool_width": 3, "stride": 2}),
    "check_ties": ((2, 2, 5, 5), {"pool_height": 3, "pool_width": 3, "stride": 1}),
}
CHECK_NET = {
    "input_dim": [3, 8, 8],
    "num_filters": 3,
    "filter_size": 3,
    "hidden_dim": 5,
    "num_classes": 4,
    "weight_scale": 1e-2,
    "reg": 0.0,
    "dtype": "float64",
}


def check_cases(task: str) -> list[Case]:
    """The public cases of ``make check`` for ``task`` (fixed data; see :data:`CHECK_CONV`)."""
    out = _registered(_CHECK_MAKERS, task, "check case maker")(task)
    for case in out:
        case.numeric = {}
    return out


@check_maker("conv_forward_naive", "conv_backward_naive")
def _conv_check_cases(task: str) -> list[Case]:
    out = []
    for k, (name, (xs, ws, cp)) in enumerate(CHECK_CONV.items()):
        rng = np.random.default_rng(5100 + k)
        x, w, b = rng.standard_normal(xs), rng.standard_normal(ws), rng.standard_normal(ws[0])
        out.append(_conv_case(task, name, False, x, w, b, cp, rng, _backward(task)))
    return out


@check_maker("max_pool_forward_naive", "max_pool_backward_naive")
def _pool_check_cases(task: str) -> list[Case]:
    out = []
    for k, (name, (xs, pp)) in enumerate(CHECK_POOL.items()):
        rng = np.random.default_rng(5200 + k)
        if name == "check_ties":
            x = rng.integers(0, 3, size=xs).astype(np.float64)
            x[0, 0, 0, :2] = 3.0
        else:
            x = _distinct(rng, xs)
        if name == "check_overlap":
            x[:, :, 2, 2] = x.max() + 1.0
        out.append(_pool_case(task, name, False, x, pp, rng, _backward(task), numeric=False))
    return out


@check_maker("ThreeLayerConvNet")
def _net_check_cases(task: str) -> list[Case]:
    out = [Case(task, "check_init", {}, {"init": dict(CHECK_NET)}, False)]
    for k, reg in enumerate((0.0, 0.7)):
        rng = np.random.default_rng(5300 + k)
        init = dict(CHECK_NET, reg=reg)
        X = rng.standard_normal((2, *init["input_dim"]))
        y = rng.integers(init["num_classes"], size=2).astype(np.int64)
        out.append(
            Case(
                task,
                f"check_loss_reg{k}",
                {"X": X, "y": y},
                {"init": init, "reg": reg, "params_seed": 5400 + k},
                False,
            )
        )
    return out
