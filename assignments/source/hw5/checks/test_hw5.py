"""HW5 visible self-checks (공개 자가 점검).

Run them with ``make check`` (all tasks) or ``make check TASK=hw5_conv_forward`` (one task).
Each test carries the pytest marker of its task id. The expected outputs (and the outputs of
the known mistakes on the same inputs) were computed from the reference when this release was
built and are stored in ``checks/hw5_cases.npz``: this folder holds no solution. The graded
cases are different cases of the same kinds (pad = 0 and pad > 0, non-square inputs and
filters, stride > 1, non-square and overlapping pool windows, ties).

The comparison, the Korean messages and the naive-layer rule (NumPy only) come from
``intro2ai.grading_rules``: the grader uses the same code.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from intro2ai import grading_rules, layers

DATA_FILE = Path(__file__).resolve().parent / "hw5_cases.npz"
SEP = "::"
TASK_IDS = ("hw5_conv_forward", "hw5_conv_backward", "hw5_max_pool_forward",
            "hw5_max_pool_backward", "hw5_three_layer_convnet")

# The naive functions may use NumPy only, here as in grading.
grading_rules.guard(layers)


def _load() -> dict[str, dict[str, dict]]:
    """{task: {case: {"meta", "in", "ref", "mistakes"}}} from the data file."""
    cases: dict[str, dict[str, dict]] = {t: {} for t in TASK_IDS}
    if not DATA_FILE.is_file():
        return cases
    with np.load(DATA_FILE, allow_pickle=False) as data:
        for key in data.files:
            task, name, part, *rest = key.split(SEP)
            case = cases.setdefault(task, {}).setdefault(
                name, {"meta": {}, "in": {}, "ref": {}, "mistakes": {}})
            if part == "params":
                case["meta"] = json.loads(str(data[key]))
            elif part == "mistake":
                case["mistakes"].setdefault(rest[0], {})[rest[1]] = data[key]
            else:
                case[part][rest[0]] = data[key]
    return cases


CASES = _load()


def _params(task: str):
    if not CASES[task]:
        return [pytest.param(None, marks=getattr(pytest.mark, task), id="no-data")]
    return [pytest.param(name, marks=getattr(pytest.mark, task), id=name)
            for name in CASES[task]]


def _verdict(name: str, case: dict, outputs: dict, inputs: dict, originals: dict) -> None:
    """Compare like the grader; fail with its Korean message (and the likely mistake)."""
    problems = []
    for key, tol in sorted(case["meta"]["tolerances"].items()):
        got = outputs.get(key)
        got = None if got is None else np.asarray(got)
        check = grading_rules.compare(key, got, case["ref"][key], tol)
        if not check["passed"]:
            hints = grading_rules.diagnose(key, got, case["mistakes"])
            problems.append(grading_rules.check_message(check, hints))
    mutated = [k for k, v in inputs.items() if not np.array_equal(v, originals[k])]
    if mutated:
        problems.append(f"{grading_rules.MISTAKE_KO['cache_mutated']}: {', '.join(mutated)}")
    if problems:
        pytest.fail(f"[{name}] " + " / ".join(problems), pytrace=False)


def _fresh(case: dict) -> tuple[dict, dict]:
    inputs = {k: v.copy() for k, v in case["in"].items()}
    return inputs, {k: v.copy() for k, v in case["in"].items()}


def _no_data() -> None:
    pytest.fail(f"검사 데이터 {DATA_FILE.name} 가 없습니다. 배포된 과제 폴더를 그대로 쓰세요.",
                pytrace=False)


# --------------------------------------------------------------------------- convolution

@pytest.mark.parametrize("name", _params("hw5_conv_forward"))
def test_conv_forward(name):
    if name is None:
        _no_data()
    case = CASES["hw5_conv_forward"][name]
    A, orig = _fresh(case)
    cp = dict(case["meta"]["params"]["conv_param"])
    out, _ = layers.conv_forward_naive(A["x"], A["w"], A["b"], cp)
    _verdict(name, case, {"out": out}, A, orig)


@pytest.mark.parametrize("name", _params("hw5_conv_backward"))
def test_conv_backward(name):
    if name is None:
        _no_data()
    case = CASES["hw5_conv_backward"][name]
    A, orig = _fresh(case)
    cp = dict(case["meta"]["params"]["conv_param"])
    # As in grading: a failing forward costs the forward task only; the backward is then
    # checked with the standard cache.
    try:
        _, cache = layers.conv_forward_naive(A["x"], A["w"], A["b"], cp)
    except Exception:  # noqa: BLE001
        cache = layers.ConvCache(A["x"], A["w"], A["b"], cp)
    try:
        dx, dw, db = layers.conv_backward_naive(A["dout"], cache)
    except ValueError as exc:
        if grading_rules.cache_padded(str(exc), A["x"].shape, A["w"].shape, cp):
            pytest.fail(f"[{name}] {exc} → 가능한 원인: "
                        f"{grading_rules.MISTAKE_KO['cache_padded']}", pytrace=False)
        raise
    _verdict(name, case, {"dx": dx, "dw": dw, "db": db}, A, orig)


# --------------------------------------------------------------------------- max pooling

@pytest.mark.parametrize("name", _params("hw5_max_pool_forward"))
def test_max_pool_forward(name):
    if name is None:
        _no_data()
    case = CASES["hw5_max_pool_forward"][name]
    A, orig = _fresh(case)
    out, _ = layers.max_pool_forward_naive(A["x"], dict(case["meta"]["params"]["pool_param"]))
    _verdict(name, case, {"out": out}, A, orig)


@pytest.mark.parametrize("name", _params("hw5_max_pool_backward"))
def test_max_pool_backward(name):
    if name is None:
        _no_data()
    case = CASES["hw5_max_pool_backward"][name]
    A, orig = _fresh(case)
    pp = dict(case["meta"]["params"]["pool_param"])
    try:
        _, cache = layers.max_pool_forward_naive(A["x"], pp)
    except Exception:  # noqa: BLE001  (as in grading: see test_conv_backward)
        cache = layers.PoolCache(A["x"], pp)
    dx = layers.max_pool_backward_naive(A["dout"], cache)
    _verdict(name, case, {"dx": dx}, A, orig)


# --------------------------------------------------------------------------- ThreeLayerConvNet

def _net(init: dict):
    from intro2ai.classifiers.cnn import ThreeLayerConvNet

    kw = dict(init, input_dim=tuple(init["input_dim"]), dtype=np.float64)
    np.random.seed(0)
    return ThreeLayerConvNet(**kw)


@pytest.mark.parametrize("name", _params("hw5_three_layer_convnet"))
def test_three_layer_convnet(name):
    if name is None:
        _no_data()
    case = CASES["hw5_three_layer_convnet"][name]
    meta = case["meta"]
    init = meta["params"]["init"]
    if not case["in"]:  # __init__: names, shapes, dtypes, zero biases, weight scale
        params = {k: np.asarray(v) for k, v in _net(init).params.items()}
        want = {k[len("p_"):]: v for k, v in case["ref"].items()}
        problems, values = grading_rules.init_problems(params, want, init["weight_scale"],
                                                       meta["init_z"])
        if problems or values:
            pytest.fail(f"[{name}] " + " / ".join(problems + values), pytrace=False)
        return
    model = _net(init)
    ref_params = {k[len("param_"):]: v for k, v in case["in"].items() if k.startswith("param_")}
    model.params = {k: v.copy() for k, v in ref_params.items()}
    model.reg = meta["params"]["reg"]
    X, y = case["in"]["X"], case["in"]["y"]
    loss, grads = model.loss(X.copy(), y.copy())
    outputs = {"loss": np.asarray(loss, dtype=np.float64)}
    outputs.update({"g_" + k: v for k, v in grads.items()})
    model.params = {k: v.copy() for k, v in ref_params.items()}
    outputs["scores"] = model.loss(X.copy())
    _verdict(name, case, outputs, {}, {})
