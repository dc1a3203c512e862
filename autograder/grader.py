"""The trusted grader: cases -> sandboxed student runs -> comparison with the reference.

``grade_submission(submission_dir, *, seed=None)`` is a pure function of the submission folder
(never modified) and the secret seed: it returns the result record described in TEAM.md.
Student code never runs in this process; the reference (the kit's own ``intro2ai``) does.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
import time
import tomllib
from pathlib import Path
from typing import Any

import numpy as np

from autograder import cases as cases_mod
from autograder import jail, mistakes, sandbox

RUBRIC_PATH = Path(__file__).resolve().parent / "rubric.toml"
_SUBMISSION_FILE = {
    "hw5_conv_forward": ("intro2ai/layers.py", "conv_forward_naive"),
    "hw5_conv_backward": ("intro2ai/layers.py", "conv_backward_naive"),
    "hw5_max_pool_forward": ("intro2ai/layers.py", "max_pool_forward_naive"),
    "hw5_max_pool_backward": ("intro2ai/layers.py", "max_pool_backward_naive"),
    "hw5_three_layer_convnet": ("intro2ai/classifiers/cnn.py", "ThreeLayerConvNet"),
}
NET_NUMERIC_POINTS = 3
TAMPERED_KO = ("결과 채널에 같은 결과가 두 번 보고되었습니다 (조작 의심): 이 case 는 0점이며 조교가 "
               "직접 확인합니다")


def load_rubric(path: str | os.PathLike | None = None) -> dict[str, Any]:
    """The rubric (points, tolerances, weights, limits) from ``rubric.toml``."""
    with open(path or RUBRIC_PATH, "rb") as fh:
        return tomllib.load(fh)


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
    """Give a ThreeLayerConvNet loss case the reference model's parameters (in place)."""
    from intro2ai.classifiers import cnn

    if "X" not in case.arrays or any(k.startswith("param_") for k in case.arrays):
        return
    with _global_seed(case.params["params_seed"]):
        model = cnn.ThreeLayerConvNet(**_net_kwargs(case.params["init"]))
    rng = np.random.default_rng(case.params["params_seed"])
    for k, v in model.params.items():
        v = np.array(v, dtype=np.float64)
        if k.startswith("b"):  # non-zero biases: tests them, and keeps ReLUs off their kink
            v = rng.normal(0.0, 0.1, size=v.shape)
        case.arrays["param_" + k] = v
        case.numeric[k] = sorted(int(i) for i in rng.choice(
            v.size, size=min(NET_NUMERIC_POINTS, v.size), replace=False))


def reference_outputs(task: str, case: cases_mod.Case) -> dict[str, np.ndarray]:
    """The reference's outputs on the case's inputs (never leaves this process)."""
    from intro2ai import layers

    A = {k: v.copy() for k, v in case.arrays.items()}
    p = case.params
    if task == "hw5_conv_forward":
        return {"out": layers.conv_forward_naive(A["x"], A["w"], A["b"], dict(p["conv_param"]))[0]}
    if task == "hw5_conv_backward":
        _, cache = layers.conv_forward_naive(A["x"], A["w"], A["b"], dict(p["conv_param"]))
        dx, dw, db = layers.conv_backward_naive(A["dout"], cache)
        return {"dx": dx, "dw": dw, "db": db}
    if task == "hw5_max_pool_forward":
        return {"out": layers.max_pool_forward_naive(A["x"], dict(p["pool_param"]))[0]}
    if task == "hw5_max_pool_backward":
        _, cache = layers.max_pool_forward_naive(A["x"], dict(p["pool_param"]))
        return {"dx": layers.max_pool_backward_naive(A["dout"], cache)}
    from intro2ai.classifiers import cnn

    with _global_seed(0):
        model = cnn.ThreeLayerConvNet(**_net_kwargs(p["init"]))
    if "X" not in A:
        return {"p_" + k: v for k, v in model.params.items()}
    model.params = {k[len("param_"):]: v for k, v in A.items() if k.startswith("param_")}
    model.reg = p["reg"]
    loss, grads = model.loss(A["X"], A["y"])
    out = {"loss": np.asarray(loss, dtype=np.float64), "scores": model.loss(A["X"])}
    out.update({"g_" + k: v for k, v in grads.items()})
    return out


def mistaken_outputs(task: str, case: cases_mod.Case, ref: dict) -> dict:
    A, p = case.arrays, case.params
    try:
        if task == "hw5_conv_forward":
            return mistakes.conv_forward_mistakes(A["x"], A["w"], A["b"], p["conv_param"])
        if task == "hw5_conv_backward":
            return mistakes.conv_backward_mistakes(A["x"], A["w"], A["b"], A["dout"],
                                                   p["conv_param"])
        if task == "hw5_max_pool_forward":
            return mistakes.pool_forward_mistakes(A["x"], p["pool_param"])
        if task == "hw5_max_pool_backward":
            return mistakes.pool_backward_mistakes(A["x"], A["dout"], p["pool_param"])
        if "X" in A:
            params = {k[len("param_"):]: v for k, v in A.items() if k.startswith("param_")}
            grads = {k[2:]: v for k, v in ref.items() if k.startswith("g_")}
            return mistakes.net_mistakes(params, p["reg"], float(ref["loss"]), grads)
    except Exception:  # noqa: BLE001  (a hint must never break grading)
        return {}
    return {}


# -------------------------------------------------------------------------------------------
# Comparison
# -------------------------------------------------------------------------------------------


def rel_err(student: np.ndarray, ref: np.ndarray) -> float:
    """max|student - reference| / max(max|reference|, 1e-12)."""
    scale = max(float(np.max(np.abs(ref))) if ref.size else 0.0, 1e-12)
    return float(np.max(np.abs(student - ref))) / scale if ref.size else 0.0


def compare(key: str, student: np.ndarray | None, ref: np.ndarray, tol: float) -> dict:
    """One check: passed?, error, and a Korean reason when it failed."""
    check = {"name": key, "passed": False, "error": None, "tolerance": tol, "reason": None}
    if student is None:
        check["reason"] = "missing"
        return check
    if key == "loss" and student.size == 1:
        student = student.reshape(())
    if not (np.issubdtype(student.dtype, np.floating) or np.issubdtype(student.dtype, np.integer)):
        check["reason"] = f"dtype:{student.dtype}"
        return check
    if student.shape != ref.shape:
        check["reason"] = f"shape:{tuple(student.shape)}:{tuple(ref.shape)}"
        return check
    if student.dtype != ref.dtype:
        check["reason"] = f"dtype:{student.dtype}:{ref.dtype}"
        return check
    if not np.all(np.isfinite(student)):
        check["reason"] = "nan_inf"
        return check
    err = rel_err(student.astype(np.float64), ref.astype(np.float64))
    check["error"] = err
    check["passed"] = bool(err <= tol)
    if not check["passed"]:
        check["reason"] = "value"
    return check


def _diagnose(key: str, student: np.ndarray | None, variants: dict) -> list[str]:
    if student is None:
        return []
    hits = []
    for name, outs in variants.items():
        v = outs.get(key)
        if v is None:
            continue
        v = np.asarray(v)
        s = student.reshape(()) if key == "loss" and student.size == 1 else student
        if s.shape == v.shape and np.all(np.isfinite(s)) and \
                np.issubdtype(s.dtype, np.number) and \
                rel_err(s.astype(np.float64), v.astype(np.float64)) <= mistakes.MATCH_TOL:
            hits.append(name)
    return hits


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.1e}"


def _reason_ko(check: dict) -> str:
    r = check["reason"] or ""
    k = check["name"]
    if r == "missing":
        return f"{k}: 결과가 없습니다"
    if r.startswith("shape:"):
        _, got, want = r.split(":")
        return f"{k}: shape 이 {want} 이어야 하는데 {got} 입니다"
    if r.startswith("dtype:"):
        parts = r.split(":")
        want = parts[2] if len(parts) > 2 else "float64"
        return f"{k}: dtype 이 {want} 이어야 하는데 {parts[1]} 입니다"
    if r == "nan_inf":
        return f"{k}: NaN 또는 inf 가 있습니다"
    return f"{k}: 오차 {_fmt(check['error'])} > 허용 오차 {_fmt(check['tolerance'])}"


_STATUS_KO = {
    "not_implemented": "아직 구현하지 않음 (NotImplementedError)",
    "memory": "메모리 부족 (MemoryError)",
    "exit": "sys.exit() 로 종료하려 함 (SystemExit)",
    "interrupt": "KeyboardInterrupt",
    "timeout": "시간 초과",
    "error": "실행 중 오류",
}


def _error_ko(err: dict) -> str:
    label = _STATUS_KO.get(err.get("status"), "실행 중 오류")
    where = f" [{err['where']}]" if err.get("where") else ""
    msg = err.get("message", "")
    if err.get("status") == "not_implemented":
        return label
    return f"{label}: {err.get('exc_type')}: {msg}{where}".rstrip(": ")


# -------------------------------------------------------------------------------------------
# Grading one task
# -------------------------------------------------------------------------------------------


def _checks_for(task: str, case: cases_mod.Case, ref: dict, rubric: dict) -> list[tuple]:
    """[(key, ref_array, tolerance name, weight)] for the case."""
    tol, wt = rubric["tolerances"], rubric["weights"]
    if task in ("hw5_conv_forward", "hw5_max_pool_forward"):
        return [("out", ref["out"], tol["forward"], wt["out"])]
    if task == "hw5_conv_backward":
        return [(k, ref[k], tol["backward"], wt[k]) for k in ("dx", "dw", "db")]
    if task == "hw5_max_pool_backward":
        return [("dx", ref["dx"], tol["backward"], wt["dx"])]
    if "X" not in case.arrays:
        return []  # init cases are checked by _init_checks
    out = [("loss", ref["loss"], tol["model"], wt["loss"])]
    out += [(k, ref[k], tol["model"], wt["grads"]) for k in sorted(ref) if k.startswith("g_")]
    out.append(("scores", ref["scores"], tol["model"], wt["scores"]))
    return out


def _init_checks(res: sandbox.CaseResult, ref: dict, case: cases_mod.Case, rubric: dict):
    wt = rubric["weights"]
    ws = case.params["init"]["weight_scale"]
    names = res.names
    student = {k[2:]: v for k, v in res.arrays.items() if k.startswith("p_")}
    want = {k[2:]: v for k, v in ref.items()}
    problems = []
    if names is None:
        problems.append("model.params 를 받지 못했습니다")
    else:
        missing = sorted(set(want) - set(student))
        extra = sorted(set(names) - set(want))
        if missing:
            problems.append(f"params 에 {', '.join(missing)} 가 없습니다")
        if extra:
            problems.append(f"params 에 예상하지 않은 이름 {', '.join(extra)} 가 있습니다")
        for k in sorted(set(want) & set(student)):
            s, r = student[k], want[k]
            if s.shape != r.shape:
                problems.append(f"{k}: shape 이 {r.shape} 이어야 하는데 {s.shape} 입니다")
            elif s.dtype != r.dtype:
                problems.append(f"{k}: dtype 이 {r.dtype} 이어야 하는데 {s.dtype} 입니다")
    shape_ok = not problems
    checks = [{"name": "params", "passed": shape_ok, "error": None, "tolerance": None,
               "reason": None if shape_ok else "; ".join(problems), "weight": wt["params"]}]
    vproblems = []
    if shape_ok:
        band = rubric["tolerances"]["init_std"]
        for k in sorted(want):
            v = student[k].astype(np.float64)
            if not np.all(np.isfinite(v)):
                vproblems.append(f"{k}: NaN/inf")
            elif k.startswith("b"):
                if np.any(v != 0):
                    vproblems.append(f"{k}: bias 는 0 으로 시작해야 합니다")
            else:
                ratio = float(v.std()) / ws
                if not (1 - band <= ratio <= 1 + band):
                    vproblems.append(f"{k}: 표준편차 {v.std():.2e} 가 weight_scale {ws:.2e} 와 "
                                     f"맞지 않습니다 (weight_scale * np.random.randn)")
    else:
        vproblems.append("params 의 이름/shape 이 맞지 않아 값은 확인하지 않았습니다")
    checks.append({"name": "init_values", "passed": not vproblems, "error": None,
                   "tolerance": None, "reason": "; ".join(vproblems) or None,
                   "weight": wt["init_values"]})
    return checks


def _mutated(case: cases_mod.Case, res: sandbox.CaseResult) -> list[str]:
    out = []
    for key, arr in case.arrays.items():
        post = res.arrays.get("post_" + key)
        if post is not None and (post.shape != arr.shape or not np.array_equal(post, arr)):
            out.append(key)
    return out


def _numeric_check(task: str, case: cases_mod.Case, res: sandbox.CaseResult, rubric) -> list:
    """Student's backward vs numerical gradients of the student's own forward (weight 0)."""
    checks = []
    tol = rubric["tolerances"]["numerical_model" if task == "hw5_three_layer_convnet"
                              else "numerical"]
    for name, idx in case.numeric.items():
        if task == "hw5_three_layer_convnet":
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
        checks.append({"name": label, "passed": err <= tol, "error": err, "tolerance": tol,
                       "reason": None if err <= tol else "value",
                       "weight": rubric["weights"]["numerical"]})
    return checks


_PROCESS_KO = {
    "timeout": "시간 제한을 넘겨 강제 종료되었습니다 (무한 루프? wall {wall}s / CPU {cpu}s)",
    "cpu": "CPU 시간 제한({cpu}s)을 넘겨 강제 종료되었습니다 (무한 루프?)",
    "crashed": "프로세스가 비정상 종료되었습니다 ({detail}); os._exit, sys.exit, fork 등을 쓰지 "
               "마세요",
    "lost": "결과를 읽을 수 없었습니다 ({detail}); 결과 채널을 건드리거나 출력하지 마세요",
}


def _process_failure(run: sandbox.TaskRun, limits: dict) -> tuple[str, str]:
    code = run.exit_code
    if run.timed_out:
        return "timeout", _PROCESS_KO["timeout"].format(wall=limits["wall_seconds"],
                                                        cpu=limits["cpu_seconds"])
    if code in (128 + 24, 128 + 9, -24, -9):  # SIGXCPU, or SIGKILL at the hard CPU limit
        return "timeout", _PROCESS_KO["cpu"].format(cpu=limits["cpu_seconds"])
    if run.stream_problem:
        return "lost", _PROCESS_KO["lost"].format(detail=run.stream_problem)
    if code is not None and code > 128:
        detail = f"signal {code - 128}"
    else:
        detail = f"exit code {code}"
    return "crashed", _PROCESS_KO["crashed"].format(detail=detail)


def grade_task(task: str, cases: list, run: sandbox.TaskRun, rubric: dict,
               file_notes: list[str]) -> dict:
    points_map = rubric["tasks"][task]["cases"]
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
            if task == "hw5_three_layer_convnet" and "X" not in case.arrays:
                checks = _init_checks(res, ref, case, rubric) if res.done and not blocking else []
            else:
                checks = []
                variants = None
                for key, r, tol, weight in _checks_for(task, case, ref, rubric):
                    c = compare(key, res.arrays.get(key), np.asarray(r), tol)
                    c["weight"] = weight
                    if not c["passed"] and res.arrays.get(key) is not None:
                        if variants is None:
                            variants = mistaken_outputs(task, case, ref)
                        c["hints"] = _diagnose(key, res.arrays[key], variants)
                    checks.append(c)
                checks += _numeric_check(task, case, res, rubric)
            mutated = _mutated(case, res)
            # Points: weighted share of the passing checks (see rubric.toml).
            total_w = sum(c["weight"] for c in checks if c["weight"])
            got_w = sum(c["weight"] for c in checks if c["weight"] and c["passed"])
            if res.tampered:  # two records for one result: none of them is believed
                pts = 0.0
            elif not res.done or blocking or not total_w:
                pts = 0.0
            else:
                pts = max_pts * got_w / total_w
            if mutated and pts:
                pts *= 1 - penalty
            pts = round(pts, 2)

            # Status and Korean message of the case.
            if res.tampered:
                status = "tampered"
                notes.append(TAMPERED_KO)
            elif blocking:
                status = blocking[0]["status"]
                status = "not_attempted" if status == "not_implemented" else status
                notes.append(_error_ko(blocking[0]))
            elif not res.done:
                status, text = _process_failure(run, limits)
                notes.append(text)
            elif pts == max_pts:
                status = "pass"
            elif pts > 0:
                status = "partial"
            else:
                status = "fail"
            for e in errors:
                if e["step"] == "forward":
                    notes.append("forward 가 실패하여 표준 cache 로 backward 를 채점했습니다 ("
                                 + _error_ko(e) + ")")
                elif e["step"] == "init" and task == "hw5_three_layer_convnet":
                    notes.append("__init__ 이 실패하여 reference 의 params 로 loss 를 채점했습니다 ("
                                 + _error_ko(e) + ")")
                elif e["step"] == "scores":
                    notes.append("loss(X) (y=None) 실패: " + _error_ko(e))
            for c in checks:
                if c["passed"] or not c["weight"]:
                    continue
                if c["reason"] == "missing" and (blocking or not res.done):
                    continue  # already explained by the error / the process failure
                text = c["reason"] if c["name"] in ("params", "init_values") else _reason_ko(c)
                hints = c.get("hints") or []
                if hints:
                    text += " → 가능한 원인: " + "; ".join(mistakes.MISTAKE_KO[h] for h in hints)
                notes.append(text)
            numeric = [c for c in checks if c["name"].startswith("numerical_")]
            graded_bad = [c for c in checks if c["weight"] and not c["passed"]]
            fwd = "loss" if task == "hw5_three_layer_convnet" else "forward"
            if graded_bad and numeric and all(c["passed"] for c in numeric):
                notes.append(f"참고: 표본으로 고른 위치에서는 gradient 가 여러분의 {fwd} 의 수치 "
                             f"gradient(numerical gradient) 와 일치합니다 ({fwd} 나 cache 도 "
                             f"확인하세요)")
            elif graded_bad and any(not c["passed"] for c in numeric):
                bad = ", ".join(c["name"].replace("numerical_", "") for c in numeric
                                if not c["passed"])
                notes.append(f"참고: {bad} 가 여러분의 {fwd} 의 수치 gradient(numerical gradient)"
                             f" 와도 맞지 않습니다")
            if mutated:
                notes.append(f"{mistakes.MISTAKE_KO['cache_mutated']}: {', '.join(mutated)} "
                             f"(점수의 {int(penalty * 100)}% 감점)")
            if res.bad:
                notes.append("반환값을 숫자 배열로 바꿀 수 없습니다: "
                             + ", ".join(f"{b['key']} ({b['type']})" for b in res.bad[:3]))
            case_records.append({
                "name": case.name, "hidden": case.hidden, "input": case.describe(),
                "points": pts, "max_points": max_pts, "status": status,
                "message": " / ".join(notes) if notes else "통과",
                "checks": [{k: c.get(k) for k in ("name", "passed", "error", "tolerance", "weight")}
                           for c in checks],
            })
        except Exception as exc:  # noqa: BLE001  (fail closed: 0 and a person looks at it)
            case_records.append({
                "name": case.name, "hidden": case.hidden, "input": case.describe(),
                "points": 0.0, "max_points": max_pts, "status": "needs_manual_grade",
                "message": f"결과를 해석할 수 없습니다 ({type(exc).__name__}); 조교가 직접 "
                           f"확인합니다", "checks": [],
            })
    return _task_record(task, case_records, run, file_notes)


def _task_record(task, case_records, run, file_notes) -> dict:
    pts = round(sum(c["points"] for c in case_records), 2)
    max_pts = round(sum(c["max_points"] for c in case_records), 2)
    statuses = [c["status"] for c in case_records]
    file, func = _SUBMISSION_FILE[task]
    if pts == max_pts:
        status = "pass"
    elif all(s == "not_attempted" for s in statuses):
        status = "not_attempted"
    elif pts > 0:
        status = "partial"
    else:
        bad = [s for s in statuses if s not in ("fail", "pass", "partial", "not_attempted")]
        status = bad[0] if bad else "fail"
    head = f"{func} ({file}): {pts:g}/{max_pts:g}점."
    if status == "pass":
        msg = head + " 모든 case 통과."
    elif status == "not_attempted":
        msg = head + f" 아직 구현하지 않았습니다 (NotImplementedError). {file} 의 {func} 을(를) " \
                     f"구현하세요."
    else:
        groups: dict[str, list[str]] = {}  # the same message for several cases: said once
        for c in case_records:
            if c["status"] != "pass":
                groups.setdefault(c["message"], []).append(
                    c["name"] + (" (hidden)" if c["hidden"] else ""))
        msg = head + " " + " | ".join(f"[{', '.join(names)}] {text}"
                                      for text, names in groups.items())
    for note in run.notes:
        if note.startswith("layers_syntax:"):
            msg += (" (intro2ai/layers.py 에 문법 오류가 있어 이 과제는 제공된 layers.py 로 "
                    "채점했습니다: " + note.split(":", 1)[1] + ")")
    for note in file_notes:
        kind, rel = note.split(":", 1)
        if rel == file:
            msg += {"missing": f" ({rel} 이(가) 제출물에 없어 제공된 stub 으로 채점했습니다.)",
                    "refused": f" ({rel} 이(가) 제출 폴더 밖을 가리키는 링크이거나 일반 파일이 "
                               f"아니어서 stub 으로 채점했습니다.)",
                    "too_large": f" ({rel} 이(가) 너무 커서 stub 으로 채점했습니다.)"}[kind]
    flags = [{"kind": "possible_tampering", "task": task, "cases": [
        c["name"] for c in case_records if c["status"] == "tampered"]}] \
        if "tampered" in statuses else []
    if run.stream_problem:  # the relay found a malformed record: only student code makes one
        flags.append({"kind": "possible_tampering", "task": task,
                      "why": run.stream_problem[:200]})
    if "needs_manual_grade" in statuses:
        flags.append({"kind": "needs_manual_grade", "task": task})
    if run.isolation.get("level") != "full":
        flags.append({"kind": "unsandboxed", "task": task})
    return {"points": pts, "max_points": max_pts, "status": status, "message": msg,
            "cases": case_records, "isolation": run.isolation.get("level"),
            "needs_manual_grade": bool(flags), "flags": flags,
            "seconds": round(run.seconds, 3)}


def _failed_task(task: str, rubric: dict, exc: BaseException, seconds: float) -> dict:
    """Fail closed: the record of a task whose grading raised (0 points, manual review)."""
    max_pts = round(sum(float(v) for v in rubric["tasks"][task]["cases"].values()), 2)
    file, func = _SUBMISSION_FILE[task]
    what = f"{type(exc).__name__}: {str(exc)[:200]}"
    return {"points": 0.0, "max_points": max_pts, "status": "needs_manual_grade",
            "message": f"{func} ({file}): 0/{max_pts:g}점. 채점 중 오류가 발생하여 이 과제는 "
                       f"조교가 직접 확인합니다 ({what}).",
            "cases": [], "isolation": None, "needs_manual_grade": True,
            "flags": [{"kind": "grader_error", "task": task, "message": what}],
            "seconds": round(seconds, 3)}


# -------------------------------------------------------------------------------------------
# Entry point
# -------------------------------------------------------------------------------------------


def grade_submission(submission_dir: str | os.PathLike, *, seed: int | str | None = None,
                     limits: dict[str, Any] | None = None,
                     tasks: tuple[str, ...] | None = None,
                     rubric_path: str | os.PathLike | None = None,
                     allow_unsandboxed: bool | None = None) -> dict:
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
        ``{"tasks": {task_id: {"points", "max_points", "status", "message", "cases", ...}},
        "total", "max_total", "isolation", "needs_manual_grade", "flags", "seconds",
        "notes"}``. A task whose grading raised has 0 points, status
        ``needs_manual_grade`` and a ``grader_error`` flag.
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
    for c in all_cases.get("hw5_three_layer_convnet", []):
        prepare_net_case(c)
    level, why = jail.level()
    if level != "full" and not jail.allowed_unsandboxed(allow_unsandboxed):
        raise jail.Unavailable(f"grade_submission: no sandbox for student code here ({why}); "
                               f"pass allow_unsandboxed=True (CLI: --allow-unsandboxed) or set "
                               f"{jail.ALLOW_UNSANDBOXED_ENV}=1 to grade without one")
    sandbox.provided_package()  # build the cached student edition once, before the threads

    def one(task: str) -> dict:
        t1 = time.monotonic()
        try:  # fail closed: whatever goes wrong, this task gets 0 and a flag, never a pass
            run = sandbox.run_task(task, all_cases[task], files, lim,
                                   allow_unsandboxed=allow_unsandboxed)
            return grade_task(task, all_cases[task], run, rubric, notes)
        except Exception as exc:  # noqa: BLE001  (RecursionError, MemoryError, anything)
            return _failed_task(task, rubric, exc, time.monotonic() - t1)

    with concurrent.futures.ThreadPoolExecutor(max_workers=len(task_ids)) as pool:
        futures = {t: pool.submit(one, t) for t in task_ids}
        record_tasks = {t: f.result() for t, f in futures.items()}
    levels = {r["isolation"] for r in record_tasks.values()}
    flags = [f for r in record_tasks.values() for f in r.get("flags", [])]
    return {
        "submission": str(submission_dir),
        "tasks": record_tasks,
        "total": round(sum(r["points"] for r in record_tasks.values()), 2),
        "max_total": round(sum(r["max_points"] for r in record_tasks.values()), 2),
        "isolation": "full" if levels == {"full"} else "none",
        "isolation_reason": why,
        "needs_manual_grade": any(r.get("needs_manual_grade") for r in record_tasks.values()),
        "flags": flags,
        "seconds": round(time.monotonic() - t0, 3),
        "notes": notes,
    }
