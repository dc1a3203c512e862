"""HW5 grading rules and Korean feedback, shared by the trusted grader and ``make check``.

One source for what the grader and the students' self-checks both say and enforce:

* **The naive-layer rule.** ``conv_forward_naive``, ``conv_backward_naive``,
  ``max_pool_forward_naive`` and ``max_pool_backward_naive`` may use NumPy (and the Python
  standard library) only: no library convolution or pooling (``scipy.signal``,
  ``scipy.ndimage``, ``torch``, ...) and not the kit's fast or sandwich layers
  (``fast_layers``, ``layer_utils``, the im2col helpers). ``np.pad``, ``np.einsum`` and stride
  tricks are NumPy, so they are allowed. :func:`guard` wraps those four functions of a module so
  that every call is checked against an allowlist (NumPy, the standard library, the student's
  own ``layers.py`` and the provided input checks); a call that reaches anything else fails with
  :class:`NaiveRuleError` and :data:`RULE_KO`. The grader's sandbox and ``make check`` install
  the same guard. Merely importing another module at the top of ``layers.py`` is allowed.
* **Comparison and messages**: :func:`compare` (a failed check says why with a :class:`Failure`),
  :func:`diagnose`, :func:`check_message` and the Korean names of known mistakes (:data:`MISTAKE_KO`).
* **Initial weights**: :func:`init_problems`, a check of ``ThreeLayerConvNet.__init__`` whose
  statistics hold for arrays of any size.
"""

from __future__ import annotations

import dataclasses
import functools
import gc
import math
import os
import re
import sys
import threading
import weakref
from collections.abc import Callable
from typing import Any

import numpy as np

NAIVE_FUNCTIONS = (
    "conv_forward_naive",
    "conv_backward_naive",
    "max_pool_forward_naive",
    "max_pool_backward_naive",
)

RULE_KO = (
    "naive layer 과제(conv_forward_naive, conv_backward_naive, max_pool_forward_naive, "
    "max_pool_backward_naive)는 NumPy 만으로 직접 구현해야 합니다. scipy.signal, "
    "scipy.ndimage, torch 같은 라이브러리의 convolution/pooling 과 제공된 fast layer, "
    "sandwich layer(fast_layers, layer_utils) 는 쓸 수 없습니다 (np.pad, np.einsum, "
    "stride tricks 는 NumPy 이므로 써도 됩니다)"
)


class NaiveRuleError(RuntimeError):
    """A naive layer function used something other than NumPy and the standard library."""


# ------------------------------------------------------------------------------------------
# The naive-layer rule
# ------------------------------------------------------------------------------------------

_PKG_DIR = os.path.dirname(os.path.abspath(__file__))
#: Files of this package a naive function may run: the student's layers.py, the provided
#: input checks, this module and the package's __init__.
_PKG_ALLOWED = {"__init__.py", "layers.py", "_checks.py", "grading_rules.py"}
#: Modules of this package whose compiled functions must not be called either.
_PKG_ALLOWED_MODULES = {"intro2ai", "intro2ai.layers", "intro2ai._checks", "intro2ai.grading_rules"}
_ALLOWED_TOP = frozenset({"numpy", "builtins"}) | frozenset(sys.stdlib_module_names)


def _stdlib_dir() -> str:
    return os.path.dirname(os.path.abspath(os.__file__)) + os.sep


def _numpy_dir() -> str:
    return os.path.dirname(os.path.abspath(np.__file__)) + os.sep


class _Scope:
    """One guarded call: what it found, and the hooks to restore afterwards."""

    def __init__(self, extra_files: tuple[str, ...]) -> None:
        self.found: str | None = None
        self.extra = {os.path.abspath(f) for f in extra_files}
        self.known: dict[str, bool] = {}
        self.stdlib, self.numpy = _stdlib_dir(), _numpy_dir()

    def file_allowed(self, filename: str) -> bool:
        ok = self.known.get(filename)
        if ok is None:
            ok = self.known[filename] = self._classify(filename)
        return ok

    def _classify(self, filename: str) -> bool:
        if filename.startswith("<"):  # frozen importlib, exec'd strings: their calls are checked
            return True
        path = os.path.abspath(filename)
        if path in self.extra or path.startswith(self.numpy):
            return True
        if path.startswith(self.stdlib):
            first = path[len(self.stdlib) :].split(os.sep, 1)[0]
            return first not in ("site-packages", "dist-packages")
        if os.path.dirname(path) == _PKG_DIR:
            return os.path.basename(path) in _PKG_ALLOWED
        return False

    def module_allowed(self, module: str) -> bool:
        if module.split(".", 1)[0] == "intro2ai":
            return module in _PKG_ALLOWED_MODULES
        return module.split(".", 1)[0] in _ALLOWED_TOP

    def note(self, what: str) -> None:
        if self.found is None:
            self.found = what

    def profile(self, frame, event, arg):
        if self.found is not None:
            return
        if event == "call":
            code = frame.f_code
            if not self.file_allowed(code.co_filename):
                name = frame.f_globals.get("__name__") or code.co_filename
                self.note(f"{name}.{code.co_name}")
        elif event == "c_call":
            module = getattr(arg, "__module__", None)
            if module is None:
                owner = getattr(arg, "__self__", None)
                module = type(owner).__module__ if owner is not None else None
            if isinstance(module, str) and not self.module_allowed(module):
                self.note(f"{module}.{getattr(arg, '__name__', '?')}")


class _ImportRefuser:
    """meta_path finder active during a guarded call: refuses imports outside the allowlist."""

    def __init__(self, scope: _Scope) -> None:
        self.scope = scope

    def find_spec(self, name, path=None, target=None):
        if not self.scope.module_allowed(name):
            self.scope.note(f"import {name}")
            raise NaiveRuleError(f"{RULE_KO} (사용: import {name})")
        return None


_local = threading.local()


def _run_guarded(fn: Callable, extra_files: tuple[str, ...], args, kwargs):
    if getattr(_local, "scope", None) is not None:  # nested (e.g. backward calling forward)
        return fn(*args, **kwargs)
    scope = _Scope(extra_files)
    finder = _ImportRefuser(scope)
    old_profile, old_thread_profile = sys.getprofile(), threading.getprofile()
    # No cyclic collection inside the call: it would run finalizers of the caller's garbage (a
    # suspended generator of pytest, say) there, and their code is not the student's.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    _local.scope = scope
    sys.meta_path.insert(0, finder)
    threading.setprofile(scope.profile)
    sys.setprofile(scope.profile)
    error: BaseException | None = None
    try:
        result = fn(*args, **kwargs)
    except BaseException as exc:  # noqa: BLE001  (re-raised below, or replaced by the rule)
        error = exc
    finally:
        intact = sys.getprofile() == scope.profile
        sys.setprofile(old_profile)
        threading.setprofile(old_thread_profile)
        if gc_was_enabled:
            gc.enable()
        try:
            sys.meta_path.remove(finder)
        except ValueError:
            scope.note("sys.meta_path")
        _local.scope = None
        if not intact:
            scope.note("sys.setprofile")
    if error is not None and not isinstance(error, Exception):
        raise error  # KeyboardInterrupt, SystemExit, a time limit: never hidden
    if scope.found is not None:
        raise NaiveRuleError(f"{RULE_KO} (사용: {scope.found})") from error
    if error is not None:
        raise error
    return result


def guard(
    module: Any, extra_files: tuple[str, ...] = (), functions: tuple[str, ...] | None = None
) -> None:
    """Wrap the naive layer functions of ``module`` (in place) so that each call obeys the rule.

    Parameters
    ----------
    module : module
        The student's ``intro2ai.layers``.
    extra_files : tuple of str
        Further source files whose code may run during a call (e.g. the grader's signal
        handlers).
    functions : tuple of str, optional
        The functions under the rule (default :data:`NAIVE_FUNCTIONS`; the grader and the
        checks pass the naive tasks of the task table).
    """
    for name in NAIVE_FUNCTIONS if functions is None else functions:
        fn = getattr(module, name, None)
        if not callable(fn) or is_guarded(fn):
            continue

        def wrapped(*args, __fn=fn, **kwargs):
            return _run_guarded(__fn, tuple(extra_files), args, kwargs)

        functools.update_wrapper(wrapped, fn)
        _WRAPPERS.add(wrapped)
        setattr(module, name, wrapped)


_WRAPPERS: weakref.WeakSet[Callable] = weakref.WeakSet()


def is_guarded(fn: Any) -> bool:
    """True when ``fn`` is a wrapper made by :func:`guard` (not merely something claiming it)."""
    try:
        return fn in _WRAPPERS
    except TypeError:
        return False


def refusing_module_getattr(module: str) -> Callable[[str], Callable]:
    """``__getattr__`` of a stand-in module whose every function refuses with :data:`RULE_KO`."""

    def __getattr__(name: str):
        if name.startswith("__"):
            raise AttributeError(name)

        def refused(*args, **kwargs):
            scope = getattr(_local, "scope", None)
            if scope is not None:
                scope.note(f"{module}.{name}")
            raise NaiveRuleError(f"{RULE_KO} (사용: {module}.{name})")

        return refused

    return __getattr__


# ------------------------------------------------------------------------------------------
# Comparison and Korean messages
# ------------------------------------------------------------------------------------------

#: A wrong output "is" a known mistake when it matches the mistaken reference this closely.
MATCH_TOL = 1e-6

MISTAKE_KO = {
    "pad_ignored": "padding 을 무시함 (pad=0 으로 계산한 결과와 일치)",
    "kernel_flipped": "kernel(filter) 을 상하좌우로 뒤집음 (flip). CNN 의 convolution 은 "
    "뒤집지 않는 cross-correlation 입니다",
    "bias_missing": "bias(b) 를 더하지 않음",
    "stride_ignored": "stride 를 무시함 (stride=1 로 계산한 결과와 일치)",
    "filter_transposed": "filter 의 HH, WW 축을 바꿔 씀 (transpose)",
    "dx_not_cropped": "dx 에서 padding 부분을 잘라내지 않음 (shape 이 padding 된 입력과 같음)",
    "dx_crop_empty": "dx 를 dx_pad[:, :, pad:-pad, pad:-pad] 처럼 잘라냄: pad=0 이면 "
    "0:-0 이 빈 구간이라 dx 가 비어 버립니다 (pad:pad + H, pad:pad + W 로 "
    "자르세요)",
    "overwrite": "겹치는 창(window) 의 gradient 를 더하지(+=) 않고 덮어씀(=)",
    "window_overwrite": "창(window) 전체에 gradient 를 대입(=)함: 겹치는 창이 앞 창의 "
    "gradient 를 덮어씁니다 (최댓값 위치에만 += 로 더하세요)",
    "db_batch_only": "db 를 batch 축(N) 으로만 합함 (N, H_out, W_out 모두 합해야 함)",
    "dw_no_batch_sum": "dw 를 batch 의 마지막 예제로만 계산함 (모든 n 에 대해 더해야 함)",
    "all_maxima": "max-pool gradient 를 창(window) 의 모든 최댓값에 보냄 (첫 번째 최댓값, "
    "np.argmax 순서, 에만 보내야 함)",
    "last_max": "같은 최댓값이 여럿일 때 마지막 최댓값에 gradient 를 보냄 (첫 번째여야 함)",
    "whole_window": "gradient 를 창(window) 의 모든 위치에 보냄 (최댓값 위치에만 보내야 함)",
    "avg_pool": "최댓값 대신 평균(average pooling) 을 구함",
    "pool_hw_swapped": "pool_height 와 pool_width 를 바꿔 씀",
    "channels_mixed": "채널(C) 축까지 포함해 최댓값을 구함 (채널별로 따로 구해야 함)",
    "reg_missing": "regularization 항 0.5 * reg * sum(W**2) 을 loss 와 gradient 에 넣지 않음",
    "reg_no_half": "regularization 에 0.5 를 곱하지 않음 (reg * sum(W**2), gradient 2 * reg * W)",
    "reg_grad_missing": "loss 에는 regularization 을 넣었지만 gradient 에 reg * W 를 더하지 않음",
    "bias_regularized": "bias 까지 regularization 에 넣음 (W1, W2, W3 만 넣어야 함)",
    "cache_mutated": "입력 또는 cache 의 배열을 in-place 로 수정함 (cache mutated)",
    "cache_padded": "forward 의 cache 에 padding 된 x 가 들어 있습니다 (x = x_pad 처럼 x 를 "
    "바꾼 뒤 cache 를 만듦). cache 에는 padding 하지 않은 원래 x 를 넣으세요 "
    "(dout 의 문제가 아닙니다)",
}


def rel_err(student: np.ndarray, ref: np.ndarray) -> float:
    """max|student - reference| / max(max|reference|, 1e-12)."""
    scale = max(float(np.max(np.abs(ref))) if ref.size else 0.0, 1e-12)
    return float(np.max(np.abs(student - ref))) / scale if ref.size else 0.0


#: What a failed check can be; :class:`Failure` says which, with what was expected and received.
FAILURE_KINDS = ("missing", "dtype", "shape", "nan_inf", "value", "init")


@dataclasses.dataclass(frozen=True)
class Failure:
    """Why a check failed.

    Attributes
    ----------
    kind : str
        One of :data:`FAILURE_KINDS`.
    text : str
        The Korean sentence a student reads, e.g. ``"out: shape 이 (2, 3) 이어야 하는데 (3, 2)
        입니다"``.
    expected, received : str or None
        What the check wanted and what it got, as shown (a shape, a dtype, a tolerance and an
        error), where that applies.
    """

    kind: str
    text: str
    expected: str | None = None
    received: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in FAILURE_KINDS:
            raise ValueError(f"Failure: unknown kind {self.kind!r} (one of {FAILURE_KINDS})")
        for name in ("text", "expected", "received"):
            value = getattr(self, name)
            if not (isinstance(value, str) or (value is None and name != "text")):
                raise TypeError(f"Failure.{name}: expected a string, got {type(value).__name__}")

    def to_dict(self) -> dict:
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}

    @classmethod
    def from_dict(cls, data: dict) -> Failure:
        unknown = sorted(str(k) for k in data if k not in ("kind", "text", "expected", "received"))
        if unknown:
            raise ValueError(f"Failure: unknown key(s) {', '.join(unknown)}")
        if "kind" not in data or "text" not in data:
            raise ValueError("Failure: needs kind and text")
        return cls(**data)


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.1e}"


def _real_numbers(a: np.ndarray) -> bool:
    """Floats or integers: what a check compares (complex values, objects, strings are not)."""
    return np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)


def compare(key: str, student: np.ndarray | None, ref: np.ndarray, tol: float) -> dict:
    """One check: ``{"name", "passed", "error", "tolerance", "failure"}``; ``failure`` is a
    :class:`Failure` when it failed, else None."""
    check = {"name": key, "passed": False, "error": None, "tolerance": tol, "failure": None}
    if student is None:
        check["failure"] = Failure("missing", f"{key}: 결과가 없습니다")
        return check
    if key == "loss" and student.size == 1:
        student = student.reshape(())
    numeric = _real_numbers(student)
    if numeric and student.shape != ref.shape:
        want, got = str(tuple(ref.shape)), str(tuple(student.shape))
        check["failure"] = Failure(
            "shape", f"{key}: shape 이 {want} 이어야 하는데 {got} 입니다", want, got
        )
        return check
    if not numeric or student.dtype != ref.dtype:
        want, got = str(ref.dtype), str(student.dtype)
        check["failure"] = Failure(
            "dtype", f"{key}: dtype 이 {want} 이어야 하는데 {got} 입니다", want, got
        )
        return check
    if not np.all(np.isfinite(student)):
        check["failure"] = Failure("nan_inf", f"{key}: NaN 또는 inf 가 있습니다")
        return check
    err = rel_err(student.astype(np.float64), ref.astype(np.float64))
    check["error"] = err
    check["passed"] = bool(err <= tol)
    if not check["passed"]:
        check["failure"] = value_failure(key, err, tol)
    return check


def value_failure(key: str, err: float, tol: float) -> Failure:
    """The failure of a value comparison: error above tolerance."""
    return Failure(
        "value", f"{key}: 오차 {_fmt(err)} > 허용 오차 {_fmt(tol)}", _fmt(tol), _fmt(err)
    )


def diagnose(key: str, student: np.ndarray | None, variants: dict) -> list[str]:
    """Ids of the known mistakes (``{id: {key: array}}``) whose output ``student`` matches."""
    if student is None:
        return []
    hits = []
    for name, outs in variants.items():
        v = outs.get(key)
        if v is None:
            continue
        v = np.asarray(v)
        s = student.reshape(()) if key == "loss" and student.size == 1 else student
        if (
            s.shape == v.shape
            and _real_numbers(s)
            and np.all(np.isfinite(s))
            and rel_err(s.astype(np.float64), v.astype(np.float64)) <= MATCH_TOL
        ):
            hits.append(name)
    return hits


def failure_message(failure: Failure, mistakes: list[str] | tuple[str, ...] = ()) -> str:
    """A failure with the known mistakes it matches, as the grader's feedback and make check
    say it."""
    text = failure.text
    if mistakes:
        text += " → 가능한 원인: " + "; ".join(MISTAKE_KO[m] for m in mistakes)
    return text


def check_message(check: dict, hints: list[str]) -> str:
    """A failed check of :func:`compare` with its likely causes (see :func:`failure_message`)."""
    return failure_message(check["failure"], hints)


STATUS_KO = {
    "not_implemented": "아직 구현하지 않음 (NotImplementedError)",
    "memory": "메모리 부족 (MemoryError)",
    "exit": "sys.exit() 로 종료하려 함 (SystemExit)",
    "interrupt": "KeyboardInterrupt",
    "timeout": "시간 초과",
    "error": "실행 중 오류",
}


def error_ko(status: str | None, exc_type: str | None, message: str, where: str = "") -> str:
    """A student exception as the grader's feedback and make check say it.

    ``where`` is ``"intro2ai/layers.py:123 (conv_forward_naive)"`` (the last line of the
    student's files in the traceback) or empty.
    """
    label = STATUS_KO.get(status or "error", STATUS_KO["error"])
    if status == "not_implemented":
        return label
    where = f" [{where}]" if where else ""
    return f"{label}: {exc_type}: {message}{where}".rstrip(": ")


_DOUT_SHAPE = re.compile(
    r"conv_backward_naive: dout must have the shape of the forward output "
    r"\((\d+), (\d+), (\d+), (\d+)\)"
)
_SPAN = re.compile(
    r"conv_backward_naive: \(([HW]) \+ 2\*pad - (?:HH|WW)\) = (\d+) is not "
    r"divisible"
)


def cache_padded(message: str, x_shape: tuple, w_shape: tuple, conv_param: dict) -> bool:
    """True when a conv backward input error comes from a padded ``cache.x``.

    The provided checks at the top of ``conv_backward_naive`` compute the geometry from the
    cached ``x``; when the student's forward cached the padded input (``x = x_pad``), they see
    an input padded twice (``H + 4 * pad``): a ``dout`` of the "wrong" shape, or a size that
    the stride does not divide.
    """
    pad, stride = int(conv_param.get("pad", 0)), int(conv_param.get("stride", 1))
    if pad <= 0 or not message:
        return False
    N, _, H, W = x_shape
    F, _, HH, WW = w_shape
    m = _DOUT_SHAPE.search(message)
    if m:
        twice = (N, F, 1 + (H + 4 * pad - HH) // stride, 1 + (W + 4 * pad - WW) // stride)
        return tuple(int(v) for v in m.groups()) == twice
    m = _SPAN.search(message)
    if m:
        size, window = (H, HH) if m.group(1) == "H" else (W, WW)
        return int(m.group(2)) == size + 4 * pad - window
    return False


#: Mistakes that show as an input error of the provided checks rather than as wrong outputs:
#: ``cause(message, arrays, params)`` tells whether the mistake explains the error ``message``
#: on a case's input arrays and parameters (which tasks have which: autograder/mistakes.py).
ERROR_CAUSES = {
    "cache_padded": lambda message, arrays, params: cache_padded(
        message, arrays["x"].shape, arrays["w"].shape, params["conv_param"]
    ),
}


# ------------------------------------------------------------------------------------------
# ThreeLayerConvNet.__init__: weight scale
# ------------------------------------------------------------------------------------------

#: How many standard deviations of the sampling spread a correct initialisation may be off.
INIT_Z = 6.0


def init_scale_band(n: int, z: float = INIT_Z) -> tuple[float, float]:
    """Band of mean(W**2) / weight_scale**2 for ``n`` draws of ``weight_scale * randn``.

    ``sum(W**2) / weight_scale**2`` is chi-square with ``n`` degrees of freedom; its
    ``z``-sigma quantiles (Wilson-Hilferty) divided by ``n``. At z = 6 a correct
    initialisation falls outside with probability about 1e-9, for 24 entries or 24,000.
    """
    a = 2.0 / (9.0 * n)
    lo = max(0.0, 1.0 - a - z * math.sqrt(a)) ** 3
    hi = (1.0 - a + z * math.sqrt(a)) ** 3
    return lo, hi


def weight_scale_problem(
    name: str, values: np.ndarray, weight_scale: float, z: float = INIT_Z
) -> str | None:
    """Korean reason when ``values`` do not look like ``weight_scale * np.random.randn``."""
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    if v.size == 0:
        return None
    ratio = float(np.mean(v**2)) / weight_scale**2
    lo, hi = init_scale_band(v.size, z)
    if lo <= ratio <= hi:
        return None
    rms = math.sqrt(float(np.mean(v**2)))
    return (
        f"{name}: 크기(RMS) {rms:.2e} 가 weight_scale {weight_scale:.2e} 와 맞지 않습니다 "
        f"(weight_scale * np.random.randn)"
    )


def init_problems(
    params: dict | None, want: dict, weight_scale: float, z: float = INIT_Z
) -> tuple[list[str], list[str]]:
    """Korean problems of ``ThreeLayerConvNet.__init__``'s ``params``: (names, shapes and
    dtypes; values), against the reference's ``want`` (name -> array).

    ``params`` is None when ``model.params`` could not be read.
    """
    problems: list[str] = []
    if params is None:
        return ["model.params 를 받지 못했습니다"], []
    have = {k for k, v in params.items() if v is not None}  # None: a name without a usable array
    missing = sorted(set(want) - have)
    extra = sorted(set(params) - set(want))
    if missing:
        problems.append(f"params 에 {', '.join(missing)} 가 없습니다")
    if extra:
        problems.append(f"params 에 예상하지 않은 이름 {', '.join(extra)} 가 있습니다")
    for k in sorted(set(want) & set(params)):
        s, r = params[k], want[k]
        if s is None:
            continue
        if s.shape != r.shape:
            problems.append(f"{k}: shape 이 {r.shape} 이어야 하는데 {s.shape} 입니다")
        elif s.dtype != r.dtype:
            problems.append(f"{k}: dtype 이 {r.dtype} 이어야 하는데 {s.dtype} 입니다")
    if problems:
        return problems, ["params 의 이름/shape 이 맞지 않아 값은 확인하지 않았습니다"]
    values: list[str] = []
    for k in sorted(want):
        v = np.asarray(params[k]).astype(np.float64)
        if not np.all(np.isfinite(v)):
            values.append(f"{k}: NaN/inf")
        elif k.startswith("b"):
            if np.any(v != 0):
                values.append(f"{k}: bias 는 0 으로 시작해야 합니다")
        else:
            problem = weight_scale_problem(k, v, weight_scale, z)
            if problem:
                values.append(problem)
    return problems, values
