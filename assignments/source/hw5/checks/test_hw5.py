"""HW5 visible self-checks (공개 자가 점검).

Run them with ``make check`` (all tasks) or ``make check TASK=<task id>`` (one task).
Each test carries the pytest marker of its task id. The expected outputs (and the outputs of
the known mistakes on the same inputs) were computed from the reference when this release was
built and are stored in ``checks/hw5_cases.npz``, with the table of the tasks (ids, files and
how each is called): this folder holds no solution. The graded cases are different cases of
the same kinds (pad = 0 and pad > 0, non-square inputs and filters, stride > 1, non-square and
overlapping pool windows, ties).

The comparison, the Korean messages and the naive-layer rule (NumPy only) come from
``intro2ai.grading_rules``: the grader uses the same code.
"""

from __future__ import annotations

import importlib
import json

import numpy as np
import pytest

from checks.conftest import DATA_FILE, TABLE, TABLE_KEY, TASK_ROWS
from intro2ai import grading_rules

SEP = "::"

# The naive functions may use NumPy only, here as in grading.
for _module in {row["file"] for row in TASK_ROWS.values() if row["naive"]}:
    grading_rules.guard(
        importlib.import_module(_module.removesuffix(".py").replace("/", ".")),
        functions=tuple(TABLE["naive_functions"]),
    )


def _load() -> dict[str, dict[str, dict]]:
    """{task: {case: {"meta", "in", "ref", "mistakes"}}} from the data file."""
    cases: dict[str, dict[str, dict]] = {t: {} for t in TASK_ROWS}
    if not DATA_FILE.is_file():
        return cases
    with np.load(DATA_FILE, allow_pickle=False) as data:
        for key in data.files:
            if key == TABLE_KEY:
                continue
            task, name, part, *rest = key.split(SEP)
            case = cases.setdefault(task, {}).setdefault(
                name, {"meta": {}, "in": {}, "ref": {}, "mistakes": {}}
            )
            if part == "params":
                case["meta"] = json.loads(str(data[key]))
            elif part == "mistake":
                case["mistakes"].setdefault(rest[0], {})[rest[1]] = data[key]
            else:
                case[part][rest[0]] = data[key]
    return cases


CASES = _load()


def _params(*kinds: str):
    """(task, case) of every task of these kinds, each with its task's marker."""
    out = []
    for task, row in TASK_ROWS.items():
        if row["kind"] in kinds:
            out += [
                pytest.param(task, name, marks=getattr(pytest.mark, task), id=f"{task}-{name}")
                for name in CASES[task]
            ]
    return out


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


def test_data_file():
    if not TASK_ROWS:
        pytest.fail(
            f"검사 데이터 {DATA_FILE.name} 가 없거나 손상되었습니다. 배포된 과제 폴더를 그대로 "
            "쓰세요.",
            pytrace=False,
        )


# --------------------------------------------------------------------------- layers


def _module(row: dict):
    return importlib.import_module(row["file"].removesuffix(".py").replace("/", "."))


def _args(row: dict, A: dict, params: dict) -> list:
    """The forward call's arguments: the inputs, then the dict parameter."""
    return [A[k] for k in row["inputs"]] + ([dict(params[row["param"]])] if row["param"] else [])


@pytest.mark.parametrize(("task", "name"), _params("forward"))
def test_layer_forward(task, name):
    row, case = TASK_ROWS[task], CASES[task][name]
    A, orig = _fresh(case)
    out, _ = getattr(_module(row), row["function"])(*_args(row, A, case["meta"]["params"]))
    _verdict(name, case, {row["outputs"][0]: out}, A, orig)


@pytest.mark.parametrize(("task", "name"), _params("backward"))
def test_layer_backward(task, name):
    row, case = TASK_ROWS[task], CASES[task][name]
    module, params = _module(row), case["meta"]["params"]
    A, orig = _fresh(case)
    # As in grading: a failing forward costs the forward task only; the backward is then
    # checked with the standard cache.
    try:
        _, cache = getattr(module, row["forward"])(*_args(row, A, params))
    except Exception:  # noqa: BLE001
        cache = getattr(module, row["cache"])(*_args(row, A, params))
    try:
        grads = getattr(module, row["function"])(A["dout"], cache)
    except ValueError as exc:
        for cause in row["error_causes"]:
            if grading_rules.ERROR_CAUSES[cause](str(exc), A, params):
                pytest.fail(
                    f"[{name}] {exc} → 가능한 원인: {grading_rules.MISTAKE_KO[cause]}",
                    pytrace=False,
                )
        raise
    if len(row["outputs"]) == 1:
        grads = (grads,)
    _verdict(name, case, dict(zip(row["outputs"], grads)), A, orig)


# --------------------------------------------------------------------------- models


def _net(row: dict, init: dict):
    kw = dict(init, input_dim=tuple(init["input_dim"]), dtype=np.float64)
    np.random.seed(0)
    return getattr(_module(row), row["function"])(**kw)


@pytest.mark.parametrize(("task", "name"), _params("model"))
def test_model(task, name):
    row, case = TASK_ROWS[task], CASES[task][name]
    meta = case["meta"]
    init = meta["params"]["init"]
    if not case["in"]:  # __init__: names, shapes, dtypes, zero biases, weight scale
        params = {k: np.asarray(v) for k, v in _net(row, init).params.items()}
        want = {k[len("p_") :]: v for k, v in case["ref"].items()}
        problems, values = grading_rules.init_problems(
            params, want, init["weight_scale"], meta["init_z"]
        )
        if problems or values:
            pytest.fail(f"[{name}] " + " / ".join(problems + values), pytrace=False)
        return
    model = _net(row, init)
    ref_params = {k[len("param_") :]: v for k, v in case["in"].items() if k.startswith("param_")}
    model.params = {k: v.copy() for k, v in ref_params.items()}
    model.reg = meta["params"]["reg"]
    X, y = case["in"]["X"], case["in"]["y"]
    loss, grads = model.loss(X.copy(), y.copy())
    outputs = {"loss": np.asarray(loss, dtype=np.float64)}
    outputs.update({"g_" + k: v for k, v in grads.items()})
    model.params = {k: v.copy() for k, v in ref_params.items()}
    outputs["scores"] = model.loss(X.copy())
    _verdict(name, case, outputs, {}, {})
