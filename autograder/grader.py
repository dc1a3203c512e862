"""The trusted grader: cases -> sandboxed student runs -> comparison with the reference.

``grade_submission(submission_dir, *, seed=None)`` is a pure function of the submission folder
(never modified) and the secret seed: it returns the trusted result, a
:class:`autograder.results.SubmissionResult` as a dict (``to_dict``; graders are plugins named
by ``"module:function"`` and their results cross process boundaries as JSON). Everything below
it builds the typed results (:class:`~autograder.results.TaskResult`,
:class:`~autograder.results.CaseResult`, :class:`~autograder.results.CheckResult`).
Student code never runs in this process; the reference (the kit's own ``intro2ai``) does.
"""

from __future__ import annotations

import builtins
import concurrent.futures
import contextlib
import dataclasses
import importlib
import os
import re
import time
import tomllib
from typing import Any

import numpy as np

from autograder import cases as cases_mod
from autograder import jail, mistakes, sandbox
from autograder import tasks as tasks_mod
from autograder.results import (
    CaseResult,
    CheckResult,
    Failure,
    FileNote,
    Flag,
    FlagKind,
    Status,
    SubmissionResult,
    TaskResult,
)
from intro2ai import grading_rules

RUBRIC_PATH = tasks_mod.RUBRIC_PATH
NET_NUMERIC_POINTS = 3
TAMPERED_KO = (
    "결과 채널에 같은 결과가 두 번 보고되었습니다 (조작 의심): 이 case 는 0점이며 조교가 "
    "직접 확인합니다"
)


def load_rubric(path: str | os.PathLike | None = None) -> dict[str, Any]:
    """The rubric (points, tolerances, weights, limits) from ``rubric.toml``."""
    with open(path or RUBRIC_PATH, "rb") as fh:
        return tomllib.load(fh)


def _task(task: str, rubric: dict | None = None) -> tasks_mod.Task:
    """The table's entry for ``task``, with the points and tolerances of ``rubric`` if given."""
    return tasks_mod.from_rubric(rubric)[task] if rubric is not None else tasks_mod.get(task)


def _reference(t: tasks_mod.Task, name: str | None = None):
    """The reference's (kit's) function or class ``name`` (default: the task's) of its module."""
    return getattr(importlib.import_module(t.module), name or t.function)


# -------------------------------------------------------------------------------------------
# Reference (kit's intro2ai, in this process)
# -------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _global_seed(seed: int):
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)


def _net_kwargs(init: dict) -> dict:
    kw = dict(init)
    kw["input_dim"] = tuple(kw["input_dim"])
    kw["dtype"] = np.float64
    return kw


def prepare_net_case(case: cases_mod.Case) -> None:
    """Give a model task's loss case the reference model's parameters (in place; any other
    case is left as it is)."""
    t = tasks_mod.get(case.task)
    if (
        t.kind != "model"
        or "X" not in case.arrays
        or any(k.startswith("param_") for k in case.arrays)
    ):
        return
    with _global_seed(case.params["params_seed"]):
        model = _reference(t)(**_net_kwargs(case.params["init"]))
    rng = np.random.default_rng(case.params["params_seed"])
    for k, v in model.params.items():
        v = np.array(v, dtype=np.float64)
        if k.startswith("b"):  # non-zero biases: tests them, and keeps ReLUs off their kink
            v = rng.normal(0.0, 0.1, size=v.shape)
        case.arrays["param_" + k] = v
        case.numeric[k] = sorted(
            int(i) for i in rng.choice(v.size, size=min(NET_NUMERIC_POINTS, v.size), replace=False)
        )


def _call_args(t: tasks_mod.Task, A: dict, p: dict) -> list:
    """The arguments of a layer task's forward call: its inputs, then its dict parameter."""
    return [A[k] for k in t.inputs] + ([dict(p[t.param])] if t.param else [])


def _reference_forward(t: tasks_mod.Task, A: dict, p: dict) -> dict[str, np.ndarray]:
    return {t.outputs[0]: _reference(t)(*_call_args(t, A, p))[0]}


def _reference_backward(t: tasks_mod.Task, A: dict, p: dict) -> dict[str, np.ndarray]:
    _, cache = _reference(t, t.forward)(*_call_args(t, A, p))
    grads = _reference(t)(A["dout"], cache)
    return dict(zip(t.outputs, (grads,) if len(t.outputs) == 1 else grads))


def _reference_model(t: tasks_mod.Task, A: dict, p: dict) -> dict[str, np.ndarray]:
    with _global_seed(0):
        model = _reference(t)(**_net_kwargs(p["init"]))
    if "X" not in A:
        return {"p_" + k: v for k, v in model.params.items()}
    model.params = {k[len("param_") :]: v for k, v in A.items() if k.startswith("param_")}
    model.reg = p["reg"]
    loss, grads = model.loss(A["X"], A["y"])
    out = {"loss": np.asarray(loss, dtype=np.float64), "scores": model.loss(A["X"])}
    out.update({"g_" + k: v for k, v in grads.items()})
    return out


#: How the reference computes a task's outputs, by the task's kind.
_REFERENCE_BY_KIND = {
    "forward": _reference_forward,
    "backward": _reference_backward,
    "model": _reference_model,
}


def reference_outputs(task: str, case: cases_mod.Case) -> dict[str, np.ndarray]:
    """The reference's outputs on the case's inputs (never leaves this process)."""
    t = tasks_mod.get(task)
    A = {k: v.copy() for k, v in case.arrays.items()}
    return _REFERENCE_BY_KIND[t.kind](t, A, case.params)


def mistaken_outputs(task: str, case: cases_mod.Case, ref: dict) -> dict:
    """What the known mistakes of ``task`` would have returned on the case (for hints)."""
    try:
        return mistakes.variants(task, case.arrays, case.params, ref)
    except Exception:  # noqa: BLE001  (a hint must never break grading)
        return {}


# -------------------------------------------------------------------------------------------
# Comparison
# -------------------------------------------------------------------------------------------


# One source with make check (intro2ai/grading_rules.py ships with the student edition).
rel_err = grading_rules.rel_err
compare = grading_rules.compare
_diagnose = grading_rules.diagnose


#: What a hidden case's feedback says in place of the student's exception message: the message
#: is the student's own text and could carry the hidden inputs out (a few values per case and
#: round of feedback, the same cases for the whole class); the type and the line stay.
HIDDEN_MESSAGE_KO = "(숨겨진 케이스: 오류 메시지는 표시하지 않습니다)"
#: A hidden case's exception type is shown only when it is one of these names: a class of the
#: student's is named by the student (``type("Leak_3ff5a853...", (Exception,), {})``, up to the
#: relay's 400 characters), so it would carry the inputs out like the message.
_HIDDEN_EXC_TYPES = frozenset(
    n for n, v in vars(builtins).items() if isinstance(v, type) and issubclass(v, BaseException)
) | {"NaiveRuleError", "ForwardTimeout"}
_HIDDEN_TYPE_NAMES = frozenset(n for n, v in vars(builtins).items() if isinstance(v, type)) | {
    "ndarray"
}
#: A hidden case's ``where``: the file and line only (the function name is the student's text).
_HIDDEN_WHERE = re.compile(r"intro2ai/[\w/]{1,60}\.py:\d{1,7}")
#: A hidden case's wrong shape is shown when it is one an honest mistake gives (at most 4 axes,
#: each at most 64 or 4 times the largest expected one); any other is a number the student chose.
_HIDDEN_SHAPE_MAX_DIMS, _HIDDEN_SHAPE_MAX = 4, 64


def _error_ko(err: dict, hidden: bool = False) -> str:
    message, exc_type, where = err.get("message", ""), err.get("exc_type"), err.get("where", "")
    if hidden:
        if message:  # the rule's own text stays (without what it names, which a student
            # could choose); anything else may be the student's
            rule = exc_type == "NaiveRuleError" and (
                message.startswith(grading_rules.RULE_KO)
                or grading_rules.RULE_KO.startswith(message)
            )
            message = grading_rules.RULE_KO if rule else HIDDEN_MESSAGE_KO
        exc_type = exc_type if exc_type in _HIDDEN_EXC_TYPES else "Exception"
        found = _HIDDEN_WHERE.match(where or "")
        where = found.group(0) if found else ""
    return grading_rules.error_ko(err.get("status"), exc_type, message, where)


def _hidden_failure(failure: Failure | None) -> Failure | None:
    """A hidden case's failure without a shape the student chose (see _HIDDEN_SHAPE_MAX)."""
    if failure is None or failure.kind != "shape" or failure.received is None:
        return failure

    def dims(text):
        try:
            return [int(d) for d in (text or "").strip("()").split(",") if d.strip()]
        except ValueError:
            return None

    got, want = dims(failure.received), dims(failure.expected) or [0]
    limit = max(_HIDDEN_SHAPE_MAX, 4 * max(want))  # e.g. a network's (192, 7) weight
    if got is not None and len(got) <= _HIDDEN_SHAPE_MAX_DIMS:
        if all(0 <= d <= limit for d in got):
            return failure
    key = failure.text.split(":", 1)[0]
    return Failure(
        "shape",
        f"{key}: shape 이 {failure.expected} 이어야 하는데 다른 shape 입니다",
        failure.expected,
        None,
    )


# -------------------------------------------------------------------------------------------
# Grading one task
# -------------------------------------------------------------------------------------------


def _checks_for(task: str, case: cases_mod.Case, ref: dict, rubric: dict) -> list[tuple]:
    """[(key, ref_array, tolerance, weight)] for the case."""
    t = _task(task, rubric)
    if t.kind != "model":
        return [(k, ref[k], t.tolerance, t.weights[k]) for k in t.outputs]
    if "X" not in case.arrays:
        return []  # init cases are checked by _init_checks
    wt = rubric["weights"]
    out = [("loss", ref["loss"], t.tolerance, wt["loss"])]
    out += [(k, ref[k], t.tolerance, wt["grads"]) for k in sorted(ref) if k.startswith("g_")]
    out.append(("scores", ref["scores"], t.tolerance, wt["scores"]))
    return out


def _init_checks(res: sandbox.CaseResult, ref: dict, case: cases_mod.Case, rubric: dict):
    wt = rubric["weights"]
    student = {k[2:]: v for k, v in res.arrays.items() if k.startswith("p_")}
    params = None if res.names is None else {n: student.get(n) for n in res.names}
    problems, vproblems = grading_rules.init_problems(
        params,
        {k[2:]: v for k, v in ref.items()},
        case.params["init"]["weight_scale"],
        rubric["tolerances"]["init_z"],
    )
    return [
        CheckResult(
            "params",
            passed=not problems,
            weight=float(wt["params"]),
            failure=Failure("init", "; ".join(problems)) if problems else None,
        ),
        CheckResult(
            "init_values",
            passed=not vproblems,
            weight=float(wt["init_values"]),
            failure=Failure("init", "; ".join(vproblems)) if vproblems else None,
        ),
    ]


def value_checks(
    task: str, case: cases_mod.Case, ref: dict, arrays: dict, rubric: dict, hints: bool = True
) -> list[CheckResult]:
    """The scored checks of a case's outputs ``arrays`` against ``ref``, with the known
    mistakes a failed output matches."""
    checks = []
    variants = None
    for key, r, tol, weight in _checks_for(task, case, ref, rubric):
        c = compare(key, arrays.get(key), np.asarray(r), tol)
        found: list[str] = []
        if hints and not c["passed"] and arrays.get(key) is not None:
            if variants is None:
                variants = mistaken_outputs(task, case, ref)
            found = _diagnose(key, arrays[key], variants)
        checks.append(
            CheckResult(
                key,
                passed=c["passed"],
                weight=float(weight),
                error=c["error"],
                tolerance=float(tol),
                failure=c["failure"],
                mistakes=tuple(found),
            )
        )
    return checks


def share_points(checks: list[CheckResult], max_pts: float) -> float:
    """``max_pts`` times the weighted share of the passing checks (rubric.toml), unrounded."""
    total_w = sum(c.weight for c in checks if c.weight)
    got_w = sum(c.weight for c in checks if c.weight and c.passed)
    return max_pts * got_w / total_w if total_w else 0.0


def _numeric_notes(
    task: str,
    case: cases_mod.Case,
    res: sandbox.CaseResult,
    ref: dict,
    checks: list[CheckResult],
    rubric: dict,
) -> list[str]:
    """Notes from the student's backward vs numerical gradients of the student's own forward.

    "Check your forward" is said only when it is true at the sampled positions: a failed
    gradient agrees there with the student's forward, and that forward's numerical gradient
    does not agree with the reference's gradient.
    """
    t = _task(task, rubric)
    net = t.kind == "model"
    fwd = "loss" if net else "forward"
    tol = t.numeric_tolerance
    numeric = {c.name[len("numerical_") :]: c for c in checks if c.name.startswith("numerical_")}
    failed = [c.name for c in checks if c.weight and not c.passed]
    forward_off, disagree = [], []
    for key in failed:
        grad = key[2:] if net else key  # g_W1 -> W1 (numerical_W1); dx -> dx (numerical_dx)
        check = numeric.get(grad)
        if check is None:
            continue
        if not check.passed:
            disagree.append(grad)
            continue
        name = grad if net else grad[1:]
        num = res.arrays.get(("num_" if net else "num_d") + name)
        idx = case.numeric.get(name)
        try:
            want = np.asarray(ref[key], dtype=np.float64).reshape(-1)[idx]
            if rel_err(num.astype(np.float64), want) > tol:
                forward_off.append(grad)
        except Exception:  # noqa: BLE001  (a note only)
            continue
    notes = []
    if forward_off:
        notes.append(
            f"참고: 표본으로 고른 위치에서 {', '.join(forward_off)} 는 여러분의 {fwd} "
            f"의 수치 gradient(numerical gradient) 와 일치하지만, 그 {fwd} 자체가 "
            f"정답과 다릅니다 ({fwd} 나 cache 를 확인하세요)"
        )
    if disagree:
        notes.append(
            f"참고: {', '.join(disagree)} 가 여러분의 {fwd} 의 수치 gradient"
            f"(numerical gradient) 와도 맞지 않습니다"
        )
    return notes


def _mutated(case: cases_mod.Case, res: sandbox.CaseResult) -> list[str]:
    out = []
    for key, arr in case.arrays.items():
        post = res.arrays.get("post_" + key)
        if post is not None and (post.shape != arr.shape or not np.array_equal(post, arr)):
            out.append(key)
    return out


def _numeric_check(
    task: str, case: cases_mod.Case, res: sandbox.CaseResult, rubric
) -> list[CheckResult]:
    """Student's backward vs numerical gradients of the student's own forward (weight 0)."""
    checks = []
    t = _task(task, rubric)
    tol = t.numeric_tolerance
    for name, idx in case.numeric.items():
        if t.kind == "model":
            num, grad = res.arrays.get("num_" + name), res.arrays.get("g_" + name)
            label = f"numerical_{name}"
        else:
            num, grad = res.arrays.get("num_d" + name), res.arrays.get("d" + name)
            label = f"numerical_d{name}"
        if num is None or grad is None or grad.size <= max(idx) or num.shape != (len(idx),):
            continue
        try:
            g = np.asarray(grad, dtype=np.float64).reshape(-1)[idx]
        except (TypeError, ValueError):
            continue
        num = num.astype(np.float64)
        if not (np.all(np.isfinite(num)) and np.all(np.isfinite(g))):
            continue
        err = rel_err(g, num)
        checks.append(
            CheckResult(
                label,
                passed=bool(err <= tol),
                weight=float(rubric["weights"]["numerical"]),
                error=err,
                tolerance=float(tol),
                failure=None if err <= tol else grading_rules.value_failure(label, err, tol),
            )
        )
    return checks


_PROCESS_KO = {
    "timeout": "시간 제한을 넘겨 강제 종료되었습니다 (무한 루프? wall {wall}s / CPU {cpu}s)",
    "cpu": "CPU 시간 제한({cpu}s)을 넘겨 강제 종료되었습니다 (무한 루프?)",
    "crashed": "프로세스가 비정상 종료되었습니다 ({detail}); os._exit, sys.exit, fork 등을 쓰지 "
    "마세요",
    "lost": "결과를 읽을 수 없었습니다 ({detail}); 결과 채널을 건드리거나 출력하지 마세요",
}


def _process_failure(run: sandbox.TaskRun, limits: dict) -> tuple[Status, str]:
    code = run.exit_code
    if run.timed_out:
        return Status.TIMEOUT, _PROCESS_KO["timeout"].format(
            wall=limits["wall_seconds"], cpu=limits["cpu_seconds"]
        )
    if code in (128 + 24, 128 + 9, -24, -9):  # SIGXCPU, or SIGKILL at the hard CPU limit
        return Status.TIMEOUT, _PROCESS_KO["cpu"].format(cpu=limits["cpu_seconds"])
    if run.stream_problem:
        return Status.LOST, _PROCESS_KO["lost"].format(detail=run.stream_problem)
    if code is not None and code > 128:
        detail = f"signal {code - 128}"
    else:
        detail = f"exit code {code}"
    return Status.CRASHED, _PROCESS_KO["crashed"].format(detail=detail)


def _blocking_status(error: dict) -> Status:
    """The case status of a student exception (the relay's error statuses)."""
    status = error["status"]
    return Status.NOT_ATTEMPTED if status == "not_implemented" else Status(status)


def grade_task(
    task: str, cases: list, run: sandbox.TaskRun, rubric: dict, file_notes: list[FileNote]
) -> TaskResult:
    t = _task(task, rubric)
    points_map = t.cases
    penalty = float(rubric["policy"]["mutation_penalty"])
    limits = rubric["limits"]
    case_records = []
    for i, case in enumerate(cases):
        max_pts = float(points_map[case.name])
        ref = reference_outputs(task, case)  # a failure here is a kit bug: let it raise
        try:
            res = run.cases.get(i) or sandbox.CaseResult()
            errors = res.errors
            blocking = [e for e in errors if e["step"] in ("call", "import", "loss")]
            notes: list[str] = []
            if t.kind == "model" and "X" not in case.arrays:
                checks = _init_checks(res, ref, case, rubric) if res.done and not blocking else []
            else:
                checks = value_checks(task, case, ref, res.arrays, rubric)
                checks += _numeric_check(task, case, res, rubric)
                if case.hidden:
                    checks = [
                        dataclasses.replace(c, failure=_hidden_failure(c.failure)) for c in checks
                    ]
            mutated = _mutated(case, res)
            # Points: weighted share of the passing checks (see rubric.toml).
            if res.tampered:  # two records for one result: none of them is believed
                pts = 0.0
            elif not res.done or blocking:
                pts = 0.0
            else:
                pts = share_points(checks, max_pts)
            if mutated and pts:
                pts *= 1 - penalty
            pts = round(pts, 2)

            # Status and Korean message of the case.
            if res.tampered:
                status = Status.TAMPERED
                notes.append(TAMPERED_KO)
            elif blocking:
                status = _blocking_status(blocking[0])
                notes.append(_error_ko(blocking[0], case.hidden))
                cause = mistakes.error_cause(
                    task, blocking[0].get("message", ""), case.arrays, case.params
                )
                if cause:
                    notes.append("가능한 원인: " + mistakes.MISTAKE_KO[cause])
            elif not res.done:
                status, text = _process_failure(run, limits)
                notes.append(text)
            elif pts == max_pts:
                status = Status.PASS
            elif pts > 0:
                status = Status.PARTIAL
            else:
                status = Status.FAIL
            for e in errors:
                if e["step"] == "forward":
                    notes.append(
                        "forward 가 실패하여 표준 cache 로 backward 를 채점했습니다 ("
                        + _error_ko(e, case.hidden)
                        + ")"
                    )
                elif e["step"] == "init" and t.kind == "model":
                    notes.append(
                        "__init__ 이 실패하여 reference 의 params 로 loss 를 채점했습니다 ("
                        + _error_ko(e, case.hidden)
                        + ")"
                    )
                elif e["step"] == "scores":
                    notes.append("loss(X) (y=None) 실패: " + _error_ko(e, case.hidden))
            for c in checks:
                if c.passed or not c.weight or c.failure is None:
                    continue
                if c.failure.kind == "missing" and (blocking or not res.done):
                    continue  # already explained by the error / the process failure
                notes.append(c.message_ko)
            notes += _numeric_notes(task, case, res, ref, checks, rubric)
            if mutated:
                notes.append(
                    f"{mistakes.MISTAKE_KO['cache_mutated']}: {', '.join(mutated)} "
                    f"(점수의 {int(penalty * 100)}% 감점)"
                )
            bad = res.bad
            if case.hidden:  # the key and type name are the student's text: known ones only
                bad = [
                    {
                        "key": b["key"] if b["key"] in ref else "?",
                        "type": b["type"] if b["type"] in _HIDDEN_TYPE_NAMES else "object",
                    }
                    for b in bad
                ]
            if bad:
                notes.append(
                    "반환값을 숫자 배열로 바꿀 수 없습니다: "
                    + ", ".join(f"{b['key']} ({b['type']})" for b in bad[:3])
                )
            case_records.append(
                CaseResult(
                    name=case.name,
                    hidden=case.hidden,
                    input=case.describe(),
                    points=pts,
                    max_points=max_pts,
                    status=status,
                    message=" / ".join(notes) if notes else "통과",
                    checks=tuple(checks),
                )
            )
        except Exception as exc:  # noqa: BLE001  (fail closed: 0 and a person looks at it)
            case_records.append(
                CaseResult(
                    name=case.name,
                    hidden=case.hidden,
                    input=case.describe(),
                    points=0.0,
                    max_points=max_pts,
                    status=Status.NEEDS_MANUAL_GRADE,
                    message=f"결과를 해석할 수 없습니다 ({type(exc).__name__}); 조교가 직접 확인합니다",
                )
            )
    return _task_record(task, case_records, run, file_notes)


def _task_record(
    task: str, case_records: list[CaseResult], run: sandbox.TaskRun, file_notes: list[FileNote]
) -> TaskResult:
    pts = round(sum(c.points for c in case_records), 2)
    max_pts = round(sum(c.max_points for c in case_records), 2)
    statuses = [c.status for c in case_records]
    file, func = tasks_mod.get(task).file, tasks_mod.get(task).function
    if pts == max_pts:
        status = Status.PASS
    elif all(s == Status.NOT_ATTEMPTED for s in statuses):
        status = Status.NOT_ATTEMPTED
    elif pts > 0:
        status = Status.PARTIAL
    else:
        bad = [s for s in statuses if not s.ran and s != Status.NOT_ATTEMPTED]
        status = bad[0] if bad else Status.FAIL
    head = f"{func} ({file}): {pts:g}/{max_pts:g}점."
    if status == Status.PASS:
        msg = head + " 모든 case 통과."
    elif status == Status.NOT_ATTEMPTED:
        msg = (
            head + f" 아직 구현하지 않았습니다 (NotImplementedError). {file} 의 {func} 을(를) "
            f"구현하세요."
        )
    else:
        groups: dict[str, list[str]] = {}  # the same message for several cases: said once
        for c in case_records:
            if c.status != Status.PASS:
                groups.setdefault(c.message, []).append(c.name + (" (hidden)" if c.hidden else ""))
        msg = (
            head
            + " "
            + " | ".join(f"[{', '.join(names)}] {text}" for text, names in groups.items())
        )
    if run.layers_syntax_error:
        msg += (
            " (intro2ai/layers.py 에 문법 오류가 있어 이 과제는 제공된 layers.py 로 "
            "채점했습니다: " + run.layers_syntax_error + ")"
        )
    msg += "".join(f" ({note.text_ko()})" for note in file_notes if note.path == file)
    flags = (
        [
            Flag(
                FlagKind.POSSIBLE_TAMPERING,
                task=task,
                cases=tuple(c.name for c in case_records if c.status == Status.TAMPERED),
            )
        ]
        if Status.TAMPERED in statuses
        else []
    )
    if run.stream_problem:  # the relay found a malformed record: only student code makes one
        flags.append(Flag(FlagKind.POSSIBLE_TAMPERING, task=task, message=run.stream_problem[:200]))
    if Status.NEEDS_MANUAL_GRADE in statuses:
        flags.append(Flag(FlagKind.NEEDS_MANUAL_GRADE, task=task))
    if run.isolation.get("level") != "full":
        flags.append(Flag(FlagKind.UNSANDBOXED, task=task))
    return TaskResult(
        points=pts,
        max_points=max_pts,
        status=status,
        message=msg,
        cases=tuple(case_records),
        isolation=run.isolation.get("level"),
        needs_manual_grade=bool(flags),
        flags=tuple(flags),
        seconds=round(run.seconds, 3),
    )


def _failed_task(task: str, rubric: dict, exc: BaseException, seconds: float) -> TaskResult:
    """Fail closed: the record of a task whose grading raised (0 points, manual review)."""
    t = _task(task, rubric)
    max_pts = round(t.points, 2)
    file, func = t.file, t.function
    what = f"{type(exc).__name__}: {str(exc)[:200]}"
    return TaskResult(
        points=0.0,
        max_points=max_pts,
        status=Status.NEEDS_MANUAL_GRADE,
        message=f"{func} ({file}): 0/{max_pts:g}점. 채점 중 오류가 발생하여 이 "
        f"과제는 조교가 직접 확인합니다 ({what}).",
        needs_manual_grade=True,
        flags=(Flag(FlagKind.GRADER_ERROR, task=task, message=what),),
        seconds=round(seconds, 3),
    )


# -------------------------------------------------------------------------------------------
# Entry point
# -------------------------------------------------------------------------------------------


def grade_submission(
    submission_dir: str | os.PathLike,
    *,
    seed: int | str | None = None,
    limits: dict[str, Any] | None = None,
    tasks: tuple[str, ...] | None = None,
    rubric_path: str | os.PathLike | None = None,
    allow_unsandboxed: bool | None = None,
) -> dict:
    """Grade one submission folder; return the result record (the folder is not modified).

    Parameters
    ----------
    submission_dir : path
        Folder holding ``intro2ai/layers.py`` and ``intro2ai/classifiers/cnn.py`` (others
        ignored).
    seed : int or str, optional
        Secret seed of the hidden cases (default: ``INTRO2AI_GRADER_SEED`` or the
        instructor-only ``autograder/.grader_seed``).
    limits : dict, optional
        Overrides of ``[limits]`` in the rubric (e.g. a shorter wall clock in tests).
    tasks : tuple of str, optional
        Grade only these task ids (default: all).
    allow_unsandboxed : bool, optional
        Grade even where ``autograder.jail`` gives no isolation (default: the
        ``INTRO2AI_ALLOW_UNSANDBOXED`` environment variable); every task then says
        ``isolation: "none"`` and carries an ``unsandboxed`` flag. Otherwise such a machine
        raises ``jail.Unavailable``.

    Returns
    -------
    dict
        A :class:`autograder.results.SubmissionResult` as ``to_dict()`` writes it:
        ``{"tasks": {task_id: {"points", "max_points", "status", "message", "cases", ...}},
        "total", "max_total", "isolation", "needs_manual_grade", "flags", "seconds",
        "notes"}`` (``SubmissionResult.from_dict`` reads it back). A task whose grading raised
        has 0 points, status ``needs_manual_grade`` and a ``grader_error`` flag.
    """
    t0 = time.monotonic()
    rubric = load_rubric(rubric_path)
    lim = dict(rubric["limits"])
    lim.update(limits or {})
    rubric["limits"] = lim
    secret = cases_mod.secret_seed(seed)
    if not os.path.isdir(submission_dir):
        raise NotADirectoryError(f"grade_submission: {submission_dir} is not a folder")
    files, notes = sandbox.read_submission(submission_dir)
    task_ids = tuple(tasks or rubric["tasks"])
    all_cases = {t: cases_mod.make_cases(t, secret) for t in task_ids}
    for task_cases in all_cases.values():
        for c in task_cases:
            prepare_net_case(c)  # a model's loss cases get the reference's parameters
    level, why = jail.level()
    if level != "full" and not jail.allowed_unsandboxed(allow_unsandboxed):
        raise jail.Unavailable(
            f"grade_submission: no sandbox for student code here ({why}); "
            f"pass allow_unsandboxed=True (CLI: --allow-unsandboxed) or set "
            f"{jail.ALLOW_UNSANDBOXED_ENV}=1 to grade without one"
        )
    sandbox.provided_package()  # build the cached student edition once, before the threads

    def one(task: str) -> TaskResult:
        t1 = time.monotonic()
        try:  # fail closed: whatever goes wrong, this task gets 0 and a flag, never a pass
            run = sandbox.run_task(
                task, all_cases[task], files, lim, allow_unsandboxed=allow_unsandboxed
            )
            return grade_task(task, all_cases[task], run, rubric, notes)
        except Exception as exc:  # noqa: BLE001  (RecursionError, MemoryError, anything)
            return _failed_task(task, rubric, exc, time.monotonic() - t1)

    with concurrent.futures.ThreadPoolExecutor(max_workers=len(task_ids)) as pool:
        futures = {t: pool.submit(one, t) for t in task_ids}
        record_tasks = {t: f.result() for t, f in futures.items()}
    levels = {r.isolation for r in record_tasks.values()}
    return SubmissionResult(
        submission=str(submission_dir),
        tasks=record_tasks,
        total=round(sum(r.points for r in record_tasks.values()), 2),
        max_total=round(sum(r.max_points for r in record_tasks.values()), 2),
        isolation="full" if levels == {"full"} else "none",
        isolation_reason=why,
        needs_manual_grade=any(r.needs_manual_grade for r in record_tasks.values()),
        flags=tuple(f for r in record_tasks.values() for f in r.flags),
        seconds=round(time.monotonic() - t0, 3),
        notes=tuple(notes),
    ).to_dict()
