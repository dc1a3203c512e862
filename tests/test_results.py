"""Typed results (autograder.results): round trips, strict reading, Korean statuses and failures
on the feedback page, and records of an older format that are regraded, not read."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from autograder import cases, export, feedback, grader, records, sandbox
from autograder.results import (
    AutogradeResult,
    CaseResult,
    CellScore,
    CheckResult,
    Failure,
    FileNote,
    FileProblem,
    Flag,
    FlagKind,
    NotebookScores,
    PipelineRecord,
    RecordFormatError,
    Status,
    SubmissionResult,
    TaskResult,
)
from intro2ai import grading_rules

HANGUL = re.compile("[\uac00-\ud7a3]")


def _check(passed=False) -> CheckResult:
    failure = (
        None
        if passed
        else Failure(
            "shape", "out: shape 이 (2, 3) 이어야 하는데 (3, 2) 입니다", "(2, 3)", "(3, 2)"
        )
    )
    return CheckResult(
        "out",
        passed=passed,
        weight=1.0,
        tolerance=1e-7,
        failure=failure,
        mistakes=() if passed else ("filter_transposed",),
    )


def _case(status=Status.FAIL) -> CaseResult:
    return CaseResult(
        name="visible_basic",
        hidden=False,
        points=0.0,
        max_points=4.0,
        status=status,
        message="out: shape 이 틀렸습니다",
        input="x (2, 3, 5, 5)",
        checks=(
            _check(),
            _check(True),
            CheckResult("numerical_dx", passed=True, weight=0.0, error=1e-9, tolerance=1e-5),
        ),
    )


def _task(status=Status.PARTIAL) -> TaskResult:
    return TaskResult(
        points=2.5,
        max_points=10.0,
        status=status,
        message="conv: 2.5/10점.",
        cases=(_case(),),
        isolation="full",
        needs_manual_grade=True,
        flags=(Flag(FlagKind.POSSIBLE_TAMPERING, task="t", cases=("visible_basic",)),),
        seconds=0.25,
    )


def _submission(status=Status.PARTIAL) -> SubmissionResult:
    return SubmissionResult(
        tasks={"hw5_conv_forward": _task(status)},
        total=2.5,
        max_total=10.0,
        submission="/tmp/s",
        isolation="full",
        isolation_reason="bwrap",
        needs_manual_grade=True,
        flags=_task().flags,
        seconds=1.5,
        notes=(FileNote(FileProblem.MISSING, "intro2ai/classifiers/cnn.py"),),
    )


def _pipeline(status=Status.PARTIAL) -> PipelineRecord:
    autograde = AutogradeResult(
        notebooks={
            "hw5": NotebookScores(
                grades={"hw5_conv_forward": CellScore(10.0, 10.0)},
                comments={"written": None},
                late_penalty=0.0,
            )
        },
        timestamp="2026-12-01T10:00:00",
    )
    return PipelineRecord(
        student="20260001",
        assignment="hw5",
        trusted=_submission(status),
        version=records.RECORD_VERSION,
        digest="d" * 64,
        digest_after="d" * 64,
        grading_key="k",
        graded_at="2026-12-01T10:00:00Z",
        autograde=autograde,
        notebook_returncode=0,
        notebook_isolation=("full",),
        flags=(
            Flag(FlagKind.UNSANDBOXED, task="t", source="trusted grader"),
            Flag(FlagKind.NOTEBOOK_TIMEOUT, seconds=600.0),
        ),
        timings={"nbgrader": 1.0, "trusted": 2.0, "total": 3.0},
    )


EVERY_TYPE = [
    _check(),
    _check(True),
    _case(),
    _task(),
    _submission(),
    _pipeline(),
    Flag(FlagKind.NEEDS_MANUAL_GRADE),
    CellScore(5.0),
    NotebookScores(grades={}),
    AutogradeResult(),
]


@pytest.mark.parametrize("obj", EVERY_TYPE, ids=lambda o: type(o).__name__)
def test_every_type_round_trips_through_json(obj):
    data = json.loads(json.dumps(obj.to_dict()))
    assert type(obj).from_dict(data) == obj
    assert type(obj).from_dict(data).to_dict() == data


def test_failure_round_trips_and_refuses_unknown_kinds_and_keys():
    failure = _check().failure
    assert Failure.from_dict(failure.to_dict()) == failure
    with pytest.raises(ValueError):
        Failure("sideways", "x")
    with pytest.raises(ValueError):
        Failure.from_dict({**failure.to_dict(), "extra": 1})


def test_every_status_has_a_korean_label():
    for status in Status:
        assert HANGUL.search(status.label_ko), status
    assert len({s.label_ko for s in Status}) == len(Status)
    # Every error status the sandbox's relay reports (autograder/_relay.py ERROR_STATUSES, read
    # from its source: importing the relay runs it) is a member, so has a label.
    import ast

    src = (records.REPO / "autograder" / "_relay.py").read_text(encoding="utf-8")
    [node] = [
        n
        for n in ast.walk(ast.parse(src))
        if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", None) == "ERROR_STATUSES"
    ]
    relay_statuses = ast.literal_eval(node.value)
    for status in relay_statuses - {"not_implemented"}:  # the grader says not_attempted
        assert Status(status).label_ko
    assert Status("lost").label_ko != "lost"


@pytest.mark.parametrize(
    "path, value, match",
    [
        (("extra",), 1, "unknown key"),
        (("trusted", "tasks", "hw5_conv_forward", "hints"), ["x"], "unknown key"),
        (("trusted", "tasks", "hw5_conv_forward", "cases", 0, "diagnosis"), "x", "unknown key"),
        (
            ("trusted", "tasks", "hw5_conv_forward", "cases", 0, "checks", 0, "tol"),
            1e-7,
            "unknown key",
        ),
        (("trusted", "tasks", "hw5_conv_forward", "status"), "ok", "not a Status"),
        (("trusted", "tasks", "hw5_conv_forward", "status"), "passed", "not a Status"),
        (("trusted", "tasks", "hw5_conv_forward", "points"), True, "number"),
        (("trusted", "tasks", "hw5_conv_forward", "points"), "2.5", "number"),
        (("trusted", "tasks", "hw5_conv_forward", "points"), 11.0, "points of"),
        (("trusted", "total"), float("nan"), "finite"),
        (
            ("trusted", "tasks", "hw5_conv_forward", "cases", 0, "checks", 0, "failure", "kind"),
            "odd",
            "kind",
        ),
        (
            ("trusted", "tasks", "hw5_conv_forward", "cases", 0, "checks", 0, "mistakes", 0),
            "nope",
            "mistake",
        ),
        (("flags", 0, "kind"), "made_up", "not a FlagKind"),
        (("notebook_returncode",), 1.5, "integer"),
        (
            ("autograde", "notebooks", "hw5", "grades", "hw5_conv_forward", "max_score"),
            None,
            "number",
        ),
    ],
)
def test_from_dict_refuses_unknown_keys_and_wrong_types(path, value, match):
    data = _pipeline().to_dict()
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(RecordFormatError, match=match):
        PipelineRecord.from_dict(data)


def test_from_dict_names_missing_required_fields():
    data = _pipeline().to_dict()
    del data["trusted"]["tasks"]["hw5_conv_forward"]["message"]
    with pytest.raises(RecordFormatError, match=r"hw5_conv_forward: missing message"):
        PipelineRecord.from_dict(data)


def test_optional_fields_that_are_none_are_left_out_of_the_dict():
    assert Flag(FlagKind.UNSANDBOXED, task="t", source="trusted grader").to_dict() == {
        "kind": "unsandboxed",
        "task": "t",
        "source": "trusted grader",
    }
    assert Flag(FlagKind.UNSANDBOXED, task="t").summary() == "unsandboxed:t"
    assert Flag(FlagKind.NEEDS_MANUAL_GRADE).summary() == "needs_manual_grade"


def test_a_lost_status_reads_in_korean_on_the_feedback_page():
    html = feedback.render(_pipeline(Status.LOST))
    text = feedback.visible_text(html)
    assert Status.LOST.label_ko in text
    assert not re.search(r"<td>\s*lost\s*</td>", html)


def test_a_structured_failure_renders_its_korean_text():
    ref = np.ones((2, 3))
    c = grading_rules.compare("out", np.ones((3, 2)), ref, 1e-7)
    check = CheckResult(
        "out", passed=False, weight=1.0, failure=c["failure"], mistakes=("filter_transposed",)
    )
    assert check.message_ko == (
        "out: shape 이 (2, 3) 이어야 하는데 (3, 2) 입니다 → 가능한 원인: "
        + grading_rules.MISTAKE_KO["filter_transposed"]
    )
    assert grading_rules.check_message(c, ["filter_transposed"]) == check.message_ko


def test_the_grader_records_structured_failures_and_the_page_shows_their_text():
    """A wrong output shape, graded in-process (no sandbox): the case's check says "shape" with
    what was expected and received, the message says it in Korean, and so does the page."""
    case = cases.make_cases("hw5_conv_forward", "results")[0]
    ref = grader.reference_outputs("hw5_conv_forward", case)["out"]
    wrong = np.zeros(ref.shape[::-1])
    res = sandbox.CaseResult(arrays={"out": wrong}, done=True)
    run = sandbox.TaskRun({0: res}, 0, False, {"level": "full"}, None, 0, 0.1)
    task = grader.grade_task("hw5_conv_forward", [case], run, grader.load_rubric(), [])
    [failure] = [c.failure for c in task.cases[0].checks if c.failure is not None]
    assert (failure.kind, failure.expected, failure.received) == (
        "shape",
        str(ref.shape),
        str(wrong.shape),
    )
    assert failure.text in task.cases[0].message
    assert task.cases[0].status == Status.FAIL and task.status == Status.FAIL
    rec = PipelineRecord(
        student="20260001",
        assignment="hw5",
        version=records.RECORD_VERSION,
        trusted=SubmissionResult(
            tasks={"hw5_conv_forward": task}, total=0.0, max_total=task.max_points
        ),
    )
    rec = PipelineRecord.from_dict(json.loads(json.dumps(rec.to_dict())))
    text = feedback.visible_text(feedback.render(rec))
    assert failure.text in text and Status.FAIL.label_ko in text


def test_a_record_of_an_older_format_is_not_a_grade_and_never_crashes_a_reader(
    tmp_path, monkeypatch
):
    monkeypatch.setenv(records.RECORD_KEY_ENV, "test-key")
    course = tmp_path / "course"
    for student in ("20260001", "20260002"):
        records.submission_path(course, "hw5", student).mkdir(parents=True)
    rec = _pipeline()
    ok = PipelineRecord.from_dict(
        {
            **rec.to_dict(),
            "digest": records.digest(records.submission_path(course, "hw5", "20260001")),
        }
    )
    records.store_record(course, "hw5", ok)
    # A version-2 record, written (and MAC'd) by the grader before this format: strings as
    # failure reasons, statuses such as "passed".
    old = {
        "version": 2,
        "student": "20260002",
        "assignment": "hw5",
        "digest": records.digest(records.submission_path(course, "hw5", "20260002")),
        "grading_key": "k",
        "flags": [],
        "trusted": {
            "tasks": {
                "hw5_conv_forward": {
                    "points": 1.0,
                    "max_points": 10.0,
                    "status": "passed",
                    "cases": [{"checks": [{"name": "out", "reason": "shape:(2, 3):(3, 2)"}]}],
                }
            },
            "total": 1.0,
            "max_total": 10.0,
        },
    }
    body = records._canonical(old)
    records.atomic_write(
        records.record_path(course, "hw5", "20260002"),
        json.dumps({"mac": records._mac(body), "record": old}),
    )
    assert records.load_record(course, "hw5", "20260002") == old  # verified: the grader's own
    assert records.load_current(course, "hw5", "20260002") is None  # so the batch regrades it
    present, stale = records.current_records(course, "hw5")
    assert set(present) == {"20260001"} and isinstance(present["20260001"], PipelineRecord)
    assert stale == {"20260002": records.RECORD_OUTDATED}
    rows = (export.export(course, "hw5")).read_text().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == ["20260001"]
    assert [p.parent.parent.name for p in feedback.write_all(course, "hw5")] == ["20260001"]


def test_a_file_note_is_structured_and_says_why_in_korean():
    note = FileNote(FileProblem.TOO_LARGE, "intro2ai/layers.py")
    assert FileNote.from_dict(note.to_dict()) == note
    assert note.to_dict() == {"problem": "too_large", "path": "intro2ai/layers.py"}
    assert note.text_ko().startswith("intro2ai/layers.py 이(가) 너무 커서")
    for problem in FileProblem:
        assert re.search("[가-힣]", problem.text_ko) and "{path}" in problem.text_ko
    with pytest.raises(RecordFormatError):
        SubmissionResult.from_dict({**_submission().to_dict(), "notes": ["missing:x.py"]})
