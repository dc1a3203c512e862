"""Typed grading results: what the trusted grader finds, and the pipeline record that keeps it.

The trusted grader builds a :class:`SubmissionResult` (tasks, their cases, each case's checks);
the batch wraps it in a :class:`PipelineRecord` with the notebook step's scores and the flags.
Feedback pages, the gradebook bridge and the grade export read only these types.

Every type has ``to_dict()`` (plain JSON values: what a record file holds and what
``grade_submission`` returns) and ``from_dict()``, which checks what it reads: an unknown key, a
missing required field, a value of the wrong type or an unknown status raises
:class:`RecordFormatError` naming where in the record it is. Record files are HMAC-verified
before they get here (:mod:`autograder.records`); the check is strict all the same.

A :class:`Status` carries its Korean label (what a student sees) in its definition, so no status
can reach a page without one.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import math
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Union

from intro2ai import grading_rules

#: Why a check failed (kind, expected, received, Korean text): shared with ``make check``.
Failure = grading_rules.Failure


class RecordFormatError(ValueError):
    """A result or record that is not of the expected shape (``from_dict`` refuses it)."""


class _WithKorean(enum.StrEnum):
    """A str enum whose members are written ``NAME = value, Korean text``: the record stores the
    value, and the text a student reads exists by construction."""

    _korean: str

    def __new__(cls, value: str, korean: str):
        obj = str.__new__(cls, value)
        obj._value_ = value
        obj._korean = korean
        return obj


class Status(_WithKorean):
    """Outcome of a case or a task, with the Korean label a student sees."""

    @property
    def label_ko(self) -> str:
        return self._korean

    PASS = "pass", "통과 (passed)"
    PARTIAL = "partial", "부분 점수 (partial)"
    FAIL = "fail", "실패 (failed)"
    NOT_ATTEMPTED = "not_attempted", "미제출 (not attempted)"
    ERROR = "error", "오류 (error)"
    TIMEOUT = "timeout", "시간 초과 (timeout)"
    CRASHED = "crashed", "비정상 종료 (crashed)"
    LOST = "lost", "결과를 읽지 못함 (lost)"
    MEMORY = "memory", "메모리 부족 (memory)"
    EXIT = "exit", "강제 종료 (exit)"
    INTERRUPT = "interrupt", "중단됨 (interrupt)"
    TAMPERED = "tampered", "조작 의심 (tampered)"
    NEEDS_MANUAL_GRADE = "needs_manual_grade", "조교 확인 필요 (manual review)"

    @property
    def ran(self) -> bool:
        """Did the student's code run through (the values were compared)?"""
        return self in (Status.PASS, Status.PARTIAL, Status.FAIL)


class FlagKind(enum.StrEnum):
    """Why a record needs a person's attention (or a note on its page)."""

    POSSIBLE_TAMPERING = "possible_tampering"
    NEEDS_MANUAL_GRADE = "needs_manual_grade"
    UNSANDBOXED = "unsandboxed"
    GRADER_ERROR = "grader_error"
    TRUSTED_GRADER_ERROR = "trusted_grader_error"
    NOTEBOOK_AUTOGRADE_FAILED = "notebook_autograde_failed"
    NOTEBOOK_TIMEOUT = "notebook_timeout"
    NOTEBOOK_DATA_MISSING = "notebook_data_missing"
    SUBMISSION_CHANGED_DURING_GRADING = "submission_changed_during_grading"


# ------------------------------------------------------------------------------------------
# to_dict / from_dict, driven by the dataclass fields' types
# ------------------------------------------------------------------------------------------


def _dump(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if dataclasses.is_dataclass(value):
        return value.to_dict()
    if isinstance(value, (tuple, list)):
        return [_dump(v) for v in value]
    if isinstance(value, dict):
        return {k: _dump(v) for k, v in value.items()}
    if isinstance(value, float):
        return float(value)  # numpy floats become plain ones
    return value


def _parse(tp: Any, value: Any, where: str) -> Any:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _parse(inner, value, where)
    if origin is tuple:  # tuple[X, ...] stored as a JSON list
        if not isinstance(value, list):
            raise RecordFormatError(f"{where}: expected a list, got {type(value).__name__}")
        return tuple(_parse(args[0], v, f"{where}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise RecordFormatError(f"{where}: expected an object, got {type(value).__name__}")
        for k in value:
            if not isinstance(k, str):
                raise RecordFormatError(f"{where}: key {k!r} is not a string")
        return {k: _parse(args[1], v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        try:
            return tp(value)
        except ValueError:
            raise RecordFormatError(
                f"{where}: {value!r:.60} is not a {tp.__name__} (one of "
                f"{', '.join(m.value for m in tp)})"
            ) from None
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise RecordFormatError(f"{where}: expected an object, got {type(value).__name__}")
        try:
            return tp.from_dict(value, where) if issubclass(tp, _Record) else tp.from_dict(value)
        except RecordFormatError:
            raise
        except (ValueError, TypeError) as exc:
            raise RecordFormatError(f"{where}: {exc}") from None
    if tp is bool:
        if not isinstance(value, bool):
            raise RecordFormatError(f"{where}: expected true/false, got {value!r:.40}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise RecordFormatError(f"{where}: expected an integer, got {value!r:.40}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise RecordFormatError(f"{where}: expected a number, got {value!r:.40}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise RecordFormatError(f"{where}: expected a string, got {type(value).__name__}")
        return value
    raise TypeError(f"results: no reader for the type {tp!r}")  # a bug in this module


class _Record:
    """``to_dict``/``from_dict`` for the frozen dataclasses below."""

    @classmethod
    @functools.cache
    def _hints(cls) -> dict[str, Any]:
        return typing.get_type_hints(cls)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values; optional fields that are None are left out."""
        out = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is None and f.default is None:
                continue
            out[f.name] = _dump(value)
        return out

    @classmethod
    def from_dict(cls, data: Any, where: str | None = None):
        """The object of ``data`` (as :meth:`to_dict` writes it); :class:`RecordFormatError`
        on unknown keys, missing required fields or values of the wrong type."""
        where = where or cls.__name__
        if not isinstance(data, dict):
            raise RecordFormatError(f"{where}: expected an object, got {type(data).__name__}")
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(str(k) for k in data if k not in fields)
        if unknown:
            raise RecordFormatError(f"{where}: unknown key(s) {', '.join(unknown)}")
        hints = cls._hints()
        kwargs = {}
        for name, f in fields.items():
            if name in data:
                kwargs[name] = _parse(hints[name], data[name], f"{where}.{name}")
            elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise RecordFormatError(f"{where}: missing {name}")
        obj = cls(**kwargs)
        obj._validate(where)
        return obj

    def _validate(self, where: str) -> None:
        """Checks beyond the types (overridden where a type has some)."""


def _finite(value: float | None, where: str) -> None:
    if value is not None and not math.isfinite(value):
        raise RecordFormatError(f"{where}: not a finite number: {value!r}")


def _points_within(points: float, max_points: float, where: str) -> None:
    _finite(points, f"{where}.points")
    _finite(max_points, f"{where}.max_points")
    if not 0 <= points <= max_points:
        raise RecordFormatError(f"{where}: {points} points of {max_points}")


# ------------------------------------------------------------------------------------------
# The trusted grader's results
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckResult(_Record):
    """One comparison of a case: an output against the reference, or a diagnostic.

    Attributes
    ----------
    name : str
        What was compared (``"out"``, ``"dx"``, ``"g_W1"``, ``"numerical_dx"``, ``"params"``).
    passed : bool
    weight : float
        Its share of the case's points (0: a diagnostic, never scored).
    error, tolerance : float or None
        Relative error and its bound, where values were compared.
    failure : Failure or None
        Why it failed (None when it passed).
    mistakes : tuple of str
        Ids of the known mistakes (``grading_rules.MISTAKE_KO``) whose output it matches.
    """

    name: str
    passed: bool
    weight: float
    error: float | None = None
    tolerance: float | None = None
    failure: Failure | None = None
    mistakes: tuple[str, ...] = ()

    def _validate(self, where: str) -> None:
        unknown = [m for m in self.mistakes if m not in grading_rules.MISTAKE_KO]
        if unknown:
            raise RecordFormatError(f"{where}.mistakes: unknown mistake id(s) {unknown}")

    @property
    def message_ko(self) -> str:
        """The failed check with its likely causes, in Korean ('' when it passed)."""
        if self.failure is None:
            return ""
        return grading_rules.failure_message(self.failure, self.mistakes)


@dataclass(frozen=True)
class CaseResult(_Record):
    """One case of a task: its points, status and Korean message, and its checks.

    ``input`` describes the case's inputs (shapes, stride, pad): never its arrays.
    """

    name: str
    hidden: bool
    points: float
    max_points: float
    status: Status
    message: str
    input: str = ""
    checks: tuple[CheckResult, ...] = ()

    def _validate(self, where: str) -> None:
        _points_within(self.points, self.max_points, where)


@dataclass(frozen=True)
class Flag(_Record):
    """Something a person should look at. ``source`` says who raised it when that is not the
    pipeline itself (``"trusted grader"``)."""

    kind: FlagKind
    task: str | None = None
    message: str | None = None
    source: str | None = None
    cases: tuple[str, ...] | None = None
    notebook: str | None = None
    cells: tuple[str, ...] | None = None
    trusted_points: float | None = None
    max_points: float | None = None
    returncode: int | None = None
    seconds: float | None = None

    def summary(self) -> str:
        """``kind`` or ``kind:task`` (the export's flags column)."""
        return self.kind.value + (f":{self.task}" if self.task is not None else "")


class FileProblem(_WithKorean):
    """Why a submission file was graded as the provided stub, with the Korean sentence."""

    @property
    def text_ko(self) -> str:
        """The sentence, with ``{path}`` to fill in."""
        return self._korean

    MISSING = "missing", "{path} 이(가) 제출물에 없어 제공된 stub 으로 채점했습니다."
    REFUSED = (
        "refused",
        (
            "{path} 이(가) 제출 폴더 밖을 가리키는 링크이거나 일반 파일이 아니어서 stub 으로 "
            "채점했습니다."
        ),
    )
    TOO_LARGE = "too_large", "{path} 이(가) 너무 커서 stub 으로 채점했습니다."


@dataclass(frozen=True)
class FileNote(_Record):
    """A submission file graded as the provided stub, and why."""

    problem: FileProblem
    path: str

    def text_ko(self) -> str:
        return self.problem.text_ko.format(path=self.path)


@dataclass(frozen=True)
class TaskResult(_Record):
    """One task: points, status and Korean message, and its cases.

    A task the grader could not grade, or that the batch had no grade for, has no cases.
    """

    points: float
    max_points: float
    status: Status
    message: str
    cases: tuple[CaseResult, ...] = ()
    isolation: str | None = None
    needs_manual_grade: bool = False
    flags: tuple[Flag, ...] = ()
    seconds: float = 0.0

    def _validate(self, where: str) -> None:
        _points_within(self.points, self.max_points, where)


@dataclass(frozen=True)
class SubmissionResult(_Record):
    """The trusted grade of one submission (what ``grade_submission`` returns, as a dict).

    Attributes
    ----------
    tasks : dict of str to TaskResult
        By task id, in grading order.
    total, max_total : float
    isolation : str or None
        ``"full"`` when every task ran in the sandbox, else ``"none"``.
    notes : tuple of FileNote
        Submission files graded as the provided stubs, and why.
    """

    tasks: dict[str, TaskResult]
    total: float
    max_total: float
    submission: str = ""
    isolation: str | None = None
    isolation_reason: str | None = None
    needs_manual_grade: bool = False
    flags: tuple[Flag, ...] = ()
    seconds: float = 0.0
    notes: tuple[FileNote, ...] = ()

    def _validate(self, where: str) -> None:
        _finite(self.total, f"{where}.total")
        _finite(self.max_total, f"{where}.max_total")


# ------------------------------------------------------------------------------------------
# The notebook step's scores and the pipeline record
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CellScore(_Record):
    """What nbgrader's autograde gave one graded cell (in the student's kernel)."""

    max_score: float
    auto_score: float | None = None
    needs_manual_grade: bool = False


@dataclass(frozen=True)
class NotebookScores(_Record):
    """nbgrader's autograde of one notebook: per graded cell, comments, late penalty."""

    grades: dict[str, CellScore]
    comments: dict[str, str | None] = field(default_factory=dict)
    late_penalty: float | None = None


@dataclass(frozen=True)
class AutogradeResult(_Record):
    """What the sandboxed nbgrader step reported (empty when it did not run or failed)."""

    notebooks: dict[str, NotebookScores] = field(default_factory=dict)
    timestamp: str | None = None


@dataclass(frozen=True)
class PipelineRecord(_Record):
    """One student's stored grading record (``<course>/.grading/<assignment>/<id>.json``).

    ``version`` is the record format (``autograder.records.RECORD_VERSION``); ``digest`` is the
    submission's at grading, ``digest_after`` after it; ``grading_key`` is None when grading
    failed (retried by the next run).
    """

    student: str
    assignment: str
    trusted: SubmissionResult
    version: int = 0
    digest: str | None = None
    digest_after: str | None = None
    grading_key: str | None = None
    graded_at: str | None = None
    autograde: AutogradeResult = field(default_factory=AutogradeResult)
    notebook_returncode: int | None = None
    notebook_isolation: tuple[str, ...] = ()
    notebook_log_tail: str = ""
    flags: tuple[Flag, ...] = ()
    timings: dict[str, float] = field(default_factory=dict)

    def flag_kinds(self) -> set[FlagKind]:
        return {f.kind for f in self.flags}


__all__ = [
    "AutogradeResult",
    "CaseResult",
    "CellScore",
    "CheckResult",
    "Failure",
    "Flag",
    "FlagKind",
    "NotebookScores",
    "PipelineRecord",
    "RecordFormatError",
    "Status",
    "SubmissionResult",
    "TaskResult",
]
