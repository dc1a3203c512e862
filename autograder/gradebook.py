"""Bridge between the trusted grader's result records and nbgrader's gradebook.

nbgrader keeps the bookkeeping (students, submissions, per-cell scores); the
trusted grader's scores are the grade.  This module does the small, separately
tested steps of that hand-over:

* :func:`read_autograde` reads what ``nbgrader autograde`` wrote for one student
  (kernel scores of every graded cell, auto comments, timestamp, late penalty);
* :func:`cell_tasks` maps notebook ``grade_id``\\ s to task ids (one task id
  names a task everywhere, so a cell belongs to task ``t`` when its grade_id is
  ``t`` or starts with ``t_``);
* :func:`tampering_flags` compares kernel results with trusted results;
* :func:`apply_record` writes one result record into the gradebook: the kernel
  scores as ``auto_score``, the trusted scores as ``manual_score`` (scaled to
  the cell's ``max_score``), a Korean comment and, for a suspected tampering,
  ``needs_manual_grade`` and the notebook's ``flagged`` bit. It fails closed: when the
  trusted grade is missing (``trusted_grader_error``), every graded cell without one gets
  ``manual_score`` 0 and ``needs_manual_grade``; nbgrader's ``auto_score``, which the
  student's kernel produced, is never the grade.

Only the pipeline's parent process calls :func:`apply_record`, so gradebook
writes are serialized (SQLite allows one writer). Records and results are read as the types of
:mod:`autograder.results`.
"""

from __future__ import annotations

import sqlite3
import warnings
from pathlib import Path
from typing import Any

import nbgrader.api
from nbgrader.api import Gradebook, MissingEntry
from sqlalchemy import exc as sa_exc

from autograder.results import (
    AutogradeResult,
    CaseResult,
    CellScore,
    Flag,
    FlagKind,
    PipelineRecord,
    SubmissionResult,
    TaskResult,
)

#: Prefix of every comment this module writes; a re-grade replaces it.
COMMENT_TAG = "[trusted autograder]"

#: Flags of a record whose trusted grade is missing: its cells get 0 and a review flag.
FAIL_CLOSED_KINDS = (FlagKind.TRUSTED_GRADER_ERROR,)

#: Kernel score at or above this fraction of max_score counts as "passed in the kernel".
KERNEL_PASS_FRACTION = 1.0


def alembic_head() -> str:
    """The newest revision of nbgrader's gradebook schema, read in this process.

    nbgrader stamps every gradebook it creates with this revision, and learns it by running
    ``alembic heads`` as a program. That program imports nbgrader anew, IRI grammar included
    (see ``autograder/__init__.py``): about 5 s of CPU for each new gradebook. Every process
    that imports this module (the kit's commands, ``release.NBGRADER_MAIN``) reads the revision
    from nbgrader's own migration scripts instead, as ``alembic heads`` does.
    """
    from alembic.script import ScriptDirectory
    from nbgrader.dbutil import ALEMBIC_DIR

    return ScriptDirectory(ALEMBIC_DIR).get_current_head()


nbgrader.api.get_alembic_version = alembic_head


def db_url(path: str | Path) -> str:
    """SQLAlchemy URL of a gradebook file."""
    return "sqlite:///" + str(Path(path).resolve())


def snapshot(src: str | Path, dst: str | Path) -> None:
    """Copy a gradebook consistently (SQLite backup API, safe while others read)."""
    a = sqlite3.connect(str(src))
    b = sqlite3.connect(str(dst))
    try:
        a.backup(b)
    finally:
        b.close()
        a.close()


def read_autograde(url: str, assignment: str, student: str) -> dict[str, Any]:
    """What ``nbgrader autograde`` recorded for one student (the nbgrader step's child reads it
    inside the sandbox; see :func:`autograder.jailed.nbgrader_child.read_autograde`)."""
    from autograder.jailed import nbgrader_child

    return nbgrader_child.read_autograde(url, assignment, student)


def cell_tasks(grade_ids, task_ids) -> dict[str, str]:
    """Map each grade_id to the task id it belongs to (longest matching task id).

    A cell belongs to task ``t`` when its grade_id equals ``t``, starts with
    ``t + "_"``, or, failing both, contains ``t``.  Cells that match no task
    (written answers, ungraded checks) are left out: they keep nbgrader's score.
    """
    tasks = sorted(task_ids, key=len, reverse=True)
    out = {}
    for gid in grade_ids:
        hit = next((t for t in tasks if gid == t or gid.startswith(t + "_")), None)
        if hit is None:
            hit = next((t for t in tasks if t in gid), None)
        if hit is not None:
            out[gid] = hit
    return out


def _kernel_passed(cells: list[CellScore]) -> bool:
    return bool(cells) and all(
        c.auto_score is not None
        and c.max_score > 0
        and c.auto_score >= KERNEL_PASS_FRACTION * c.max_score
        for c in cells
    )


def _case_failed(case: CaseResult) -> bool:
    """Does the trusted grader contradict a kernel that passed this visible case?

    Yes when the student code did not run through there (not attempted, an error, a
    timeout: the kernel ran something else), or when a scored check compared values and
    found them off (error above tolerance).  Checks the notebook does not make (dtype,
    initial weight scale) fail the case but do not contradict the kernel: not flagged.
    """
    if not case.status.ran:
        return True
    for c in case.checks:
        if c.weight == 0 or c.passed:
            continue
        if c.error is not None and c.tolerance is not None and c.error > c.tolerance:
            return True
    return False


def trusted_failed(task: TaskResult) -> bool:
    """Did the trusted grader contradict what the notebook tests saw?

    The notebook runs the *visible* cases; when the result lists them, the task
    counts as failed if one of them is contradicted (see :func:`_case_failed`; a
    mistake that only hidden cases catch is not a tampering).  Without visible
    cases: the task failed when it lost points.
    """
    visible = [c for c in task.cases if not c.hidden]
    if visible:
        return any(_case_failed(c) for c in visible)
    return task.points < task.max_points


def tampering_flags(autograde: AutogradeResult, trusted: SubmissionResult) -> list[Flag]:
    """Tasks whose notebook tests all passed in the kernel but failed in the trusted grader.

    Kernel code can be made to pass any check made in that kernel, so such a
    disagreement is reported as a possible tampering for a person to look at.
    """
    flags = []
    tasks = trusted.tasks
    for nb_name, nb in sorted(autograde.notebooks.items()):
        mapping = cell_tasks(nb.grades, tasks)
        for task_id in sorted(set(mapping.values())):
            cells = [nb.grades[g] for g, t in mapping.items() if t == task_id]
            if _kernel_passed(cells) and trusted_failed(tasks[task_id]):
                flags.append(
                    Flag(
                        FlagKind.POSSIBLE_TAMPERING,
                        task=task_id,
                        notebook=nb_name,
                        cells=tuple(sorted(g for g, t in mapping.items() if t == task_id)),
                        trusted_points=tasks[task_id].points,
                        max_points=tasks[task_id].max_points,
                    )
                )
    return flags


def comment_text(trusted: SubmissionResult, flags: tuple[Flag, ...] | list[Flag]) -> str:
    """The Korean comment stored with the trusted scores."""
    lines = [f"{COMMENT_TAG} 신뢰 채점기(trusted grader) 점수가 최종 점수입니다."]
    for task_id, t in sorted(trusted.tasks.items()):
        lines.append(f"- {task_id}: {_fmt(t.points)} / {_fmt(t.max_points)} ({t.status.label_ko})")
    for f in flags:
        if f.kind != FlagKind.POSSIBLE_TAMPERING:
            lines.append(f"! {f.kind}")
            continue
        lines.append(
            f"! {f.task}: 노트북(kernel)의 테스트는 통과했지만 신뢰 채점기에서는 실패했습니다 "
            f"(possible tampering). 조교가 직접 확인해야 합니다."
        )
    return "\n".join(lines)


def _fmt(x) -> str:
    if x is None:
        return "-"
    x = float(x)
    return str(int(x)) if x == int(x) else f"{x:g}"


def apply_record(url: str, assignment: str, record: PipelineRecord) -> None:
    """Write one result record into the gradebook (idempotent).

    Parameters
    ----------
    url : str
        Gradebook URL (see :func:`db_url`).
    assignment : str
        Assignment name, e.g. ``"hw5"``.
    record : PipelineRecord
        Its ``autograde`` (from :func:`read_autograde`, empty when nbgrader failed),
        ``trusted`` (from ``autograder.grade_submission``) and ``flags``.
    """
    student = record.student
    autograde = record.autograde
    trusted = record.trusted
    flags = record.flags
    tasks = trusted.tasks
    flagged_tasks = {f.task for f in flags if f.task is not None}
    trusted_missing = any(f.kind in FAIL_CLOSED_KINDS for f in flags)
    with Gradebook(url) as gb, warnings.catch_warnings():
        # nbgrader's add_submission triggers SQLAlchemy autoflush warnings; harmless.
        warnings.simplefilter("ignore", category=sa_exc.SAWarning)
        gb.update_or_create_student(student)
        kwargs = {}
        if autograde.timestamp:
            kwargs["timestamp"] = autograde.timestamp
        sub = gb.update_or_create_submission(assignment, student, **kwargs)
        comment = comment_text(trusted, flags)
        for nb in sub.notebooks:
            seen = autograde.notebooks.get(nb.name)
            grades = seen.grades if seen else {}
            for g in nb.grades:
                if g.name in grades:
                    auto = grades[g.name].auto_score
                    g.auto_score = (
                        None
                        if auto is None
                        else min(max(float(auto), 0.0), float(g.max_score or 0.0))
                    )
                    g.needs_manual_grade = grades[g.name].needs_manual_grade
            for c in nb.comments:
                if seen and c.name in seen.comments:
                    c.auto_comment = seen.comments[c.name]
            if seen and seen.late_penalty is not None:
                nb.late_submission_penalty = seen.late_penalty
            mapping = cell_tasks([g.name for g in nb.grades], tasks)
            nb_flagged = False
            for g in nb.grades:
                task_id = mapping.get(g.name)
                if task_id is None:
                    if trusted_missing and (g.max_score or 0) > 0:
                        g.manual_score = 0.0  # fail closed: never the kernel's auto_score
                        g.needs_manual_grade = True
                        nb_flagged = True
                    continue  # not a task cell: nbgrader's own score and review state stand
                t = tasks[task_id]
                frac = t.points / t.max_points if t.max_points > 0 else 0.0
                g.manual_score = frac * float(g.max_score)
                g.needs_manual_grade = task_id in flagged_tasks
                nb_flagged |= task_id in flagged_tasks
            nb.flagged = nb_flagged
            # One comment per notebook: the first solution/task cell carries it.
            own = [c for c in nb.comments if (c.manual_comment or "").startswith(COMMENT_TAG)]
            target = own[0] if own else (nb.comments[0] if nb.comments else None)
            if target is not None and (target.manual_comment is None or target in own):
                target.manual_comment = comment
        gb.db.commit()


def has_submission(url: str, assignment: str, student: str) -> bool:
    """Is there a submission of ``student`` for ``assignment`` in the gradebook?"""
    with Gradebook(url) as gb:
        try:
            gb.find_submission(assignment, student)
        except MissingEntry:
            return False
        return True


def scores(url: str, assignment: str) -> dict[str, dict[str, Any]]:
    """Per student: every graded cell's final score and flags, as stored in the gradebook.

    Returns
    -------
    dict
        ``{student: {"cells": {grade_id: {"score", "auto_score", "manual_score",
        "max_score", "needs_manual_grade"}}, "flagged": bool, "score": float}}``.
    """
    out = {}
    with Gradebook(url) as gb:
        for sub in gb.assignment_submissions(assignment):
            cells = {}
            flagged = False
            for nb in sub.notebooks:
                flagged |= bool(nb.flagged)
                for g in nb.grades:
                    cells[g.name] = {
                        "score": g.score,
                        "auto_score": g.auto_score,
                        "manual_score": g.manual_score,
                        "max_score": g.max_score,
                        "needs_manual_grade": g.needs_manual_grade,
                    }
            out[sub.student.id] = {"cells": cells, "flagged": flagged, "score": sub.score}
    return out
