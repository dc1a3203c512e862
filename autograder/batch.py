"""The batch: grade every submission (a pool of workers), the parent writes gradebook and records.

:func:`grade_one` is a pure function of its job (submission in, record out: a
:class:`~autograder.results.PipelineRecord`) run by the workers;
:func:`autograde` is the parent: it skips submissions graded already, applies each record to the
gradebook (one SQLite writer) and stores it (:mod:`autograder.records`).
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import importlib
import multiprocessing
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from autograder import jail, notebook_step, records
from autograder.results import (
    AutogradeResult,
    Flag,
    FlagKind,
    PipelineRecord,
    Status,
    SubmissionResult,
    TaskResult,
)

#: Who raised a flag that the trusted grader (not the pipeline) reported.
TRUSTED_SOURCE = "trusted grader"


def load_grader(spec: str) -> Callable[..., dict]:
    """``"module:function"`` -> the function."""
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name or "grade_submission")


#: Korean message of a task whose trusted grade is missing.
MISSING_GRADE_KO = (
    "채점 중 오류가 나서 이 과제의 점수를 확정하지 못했습니다. 0점으로 기록하고 조교가 "
    "직접 확인합니다."
)


def expected_tasks(grader: str) -> dict[str, float]:
    """Task ids and their points that the grader must report (the rubric's, for the kit's
    grader; nothing is known of a stand-in grader's tasks)."""
    if grader != records.DEFAULT_GRADER:
        return {}
    from autograder import tasks as tasks_mod

    return {t.id: t.points for t in tasks_mod.all_tasks()}


def check_trusted(trusted: Any) -> SubmissionResult:
    """The trusted grader's result (a dict, as ``grade_submission`` returns it), read with
    ``SubmissionResult.from_dict``: known keys and types only, tasks with finite points within
    their maximum; ``ValueError`` (``RecordFormatError``) otherwise."""
    return SubmissionResult.from_dict(trusted, "trusted result")


#: The trusted result of a submission the grader failed on.
NO_TRUSTED_RESULT = SubmissionResult(tasks={}, total=0.0, max_total=0.0)


def fail_closed(
    trusted: SubmissionResult, expected: dict[str, float], message: str | None
) -> tuple[SubmissionResult, list[Flag]]:
    """0 points and a manual-review flag for every expected task the trusted result lacks
    (every one when ``message``, an error, is given)."""
    tasks = {} if message else dict(trusted.tasks)
    flags = []
    for task, max_points in expected.items():
        if task not in tasks:
            tasks[task] = TaskResult(
                points=0.0,
                max_points=float(max_points),
                status=Status.ERROR,
                message=MISSING_GRADE_KO,
            )
            flags.append(Flag(FlagKind.NEEDS_MANUAL_GRADE, task=task))
    if not message and not flags:
        return trusted, []
    total = sum(t.points for t in tasks.values())
    max_total = sum(t.max_points for t in tasks.values())
    out = dataclasses.replace(
        trusted if not message else NO_TRUSTED_RESULT,
        tasks=tasks,
        total=round(total, 4),
        max_total=max_total,
    )
    if message:
        flags.insert(0, Flag(FlagKind.TRUSTED_GRADER_ERROR, message=message[:2000]))
    return out, flags


def grade_one(job: dict) -> PipelineRecord:
    """Grade one submission; a pure function of the job (no gradebook writes).

    ``job`` holds ``course``, ``assignment``, ``student``, ``digest``, ``template_db``,
    ``grader`` (``"module:function"``), ``seed``, ``expected_tasks`` and the notebook step's
    settings. Returns the result record (see :func:`autograde`). Never raises: any failure
    gives every task 0 with a manual-review flag (fail closed), never a grade the notebook made.
    """
    t0 = time.perf_counter()
    try:
        return _grade_one(job)
    except Exception as exc:
        return failed_record(
            job,
            f"grading failed: {type(exc).__name__}: {str(exc)[:500]}",
            round(time.perf_counter() - t0, 3),
        )


def failed_record(job: dict, message: str, seconds: float = 0.0) -> PipelineRecord:
    """The record of a submission whose grading failed: every task 0, flagged for review."""
    trusted, flags = fail_closed(NO_TRUSTED_RESULT, job.get("expected_tasks") or {}, message)
    if not job.get("expected_tasks"):
        flags.append(Flag(FlagKind.NEEDS_MANUAL_GRADE))
    rec = _record(
        job,
        trusted,
        AutogradeResult(),
        None,
        "",
        [],
        flags,
        None,
        {"nbgrader": 0.0, "trusted": 0.0, "total": seconds},
    )
    return dataclasses.replace(rec, grading_key=None)  # retried by the next run


def _record(
    job,
    trusted: SubmissionResult,
    autograde: AutogradeResult,
    notebook_rc,
    notebook_log,
    isolation,
    flags: list[Flag],
    after,
    timings,
) -> PipelineRecord:
    return PipelineRecord(
        version=records.RECORD_VERSION,
        student=job["student"],
        assignment=job["assignment"],
        digest=job["digest"],
        digest_after=after,
        grading_key=job.get("grading_key"),
        graded_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        trusted=trusted,
        autograde=autograde,
        notebook_returncode=notebook_rc,
        notebook_isolation=tuple(sorted(set(isolation))),
        notebook_log_tail=notebook_log if notebook_rc not in (0, None) else "",
        flags=tuple(flags),
        timings=timings,
    )


def _grade_one(job: dict) -> dict:
    from autograder import gradebook as gbmod

    course = Path(job["course"])
    assignment, student = job["assignment"], job["student"]
    sub = records.submission_path(course, assignment, student)
    t0 = time.perf_counter()
    step = None
    if not job.get("skip_notebook"):
        with tempfile.TemporaryDirectory(prefix="intro2ai-autograde-") as tmp:
            limit = job.get("notebook_time_limit") or notebook_step.NOTEBOOK_TIME_LIMIT_S
            data = Path(job["data_dir"]) if job.get("data_dir") else None
            step = notebook_step.run_notebook_step(
                course,
                assignment,
                student,
                Path(job["template_db"]),
                Path(tmp),
                job.get("cell_timeout"),
                bool(job.get("fast_notebook")),
                limit,
                data,
            )
    autograde_data = AutogradeResult.from_dict(step.autograde if step else {}, "autograde")
    t1 = time.perf_counter()
    error = None
    try:
        kwargs = {"seed": job["seed"]} if job.get("seed") is not None else {}
        trusted = check_trusted(load_grader(job["grader"])(str(sub), **kwargs))
    except Exception as exc:  # every failure is a grade, never a crash of the batch
        error = f"trusted grader failed: {type(exc).__name__}: {str(exc)[:500]}"
        trusted = NO_TRUSTED_RESULT
    t2 = time.perf_counter()
    trusted, flags = fail_closed(trusted, job.get("expected_tasks") or {}, error)
    if error and not job.get("expected_tasks"):
        flags.append(Flag(FlagKind.NEEDS_MANUAL_GRADE))
    flags += gbmod.tampering_flags(autograde_data, trusted) if not error else []
    # The trusted grader's own flags (a task graded unsandboxed, forged result records, a task
    # it could not grade) reach the record, the CSV and the gradebook like the pipeline's.
    seen = {(f.kind, f.task) for f in flags}
    for f in trusted.flags:
        if (f.kind, f.task) not in seen:
            seen.add((f.kind, f.task))
            flags.append(Flag(f.kind, task=f.task, message=f.message, source=TRUSTED_SOURCE))
    if step is not None and (step.returncode != 0 or not step.autograde):
        flags.append(Flag(FlagKind.NOTEBOOK_AUTOGRADE_FAILED, returncode=step.returncode))
    if step is not None and step.timed_out:
        flags.append(
            Flag(
                FlagKind.NOTEBOOK_TIMEOUT,
                seconds=float(
                    job.get("notebook_time_limit") or notebook_step.NOTEBOOK_TIME_LIMIT_S
                ),
            )
        )
    if step is not None and job.get("data_missing"):
        flags.append(Flag(FlagKind.NOTEBOOK_DATA_MISSING, message=job["data_missing"]))
    after = records.digest(sub)
    if after != job["digest"]:
        flags.append(Flag(FlagKind.SUBMISSION_CHANGED_DURING_GRADING))
    timings = {
        "nbgrader": round(t1 - t0, 3),
        "trusted": round(t2 - t1, 3),
        "total": round(t2 - t0, 3),
    }
    return _record(
        job,
        trusted,
        autograde_data,
        step.returncode if step else None,
        step.log if step else "",
        step.isolation if step else [],
        flags,
        after,
        timings,
    )


# --------------------------------------------------------------------------- batch (parent)


def _gradebook_file(course: Path) -> Path:
    return course / "gradebook.db"


def autograde(
    course: Path = records.DEFAULT_COURSE,
    assignment: str = records.DEFAULT_ASSIGNMENT,
    *,
    jobs: int = 1,
    force: bool = False,
    students: Iterable[str] | None = None,
    grader: str = records.DEFAULT_GRADER,
    seed: int | None = None,
    progress: bool = True,
    skip_notebook: bool = False,
    cell_timeout: int | None = None,
    fast_notebook: bool = False,
    notebook_time_limit: float = notebook_step.NOTEBOOK_TIME_LIMIT_S,
) -> dict[str, Any]:
    """Autograde every submission; returns a summary ``{"graded", "skipped", "records", "wall",
    "data_missing"}`` (``records``: the new :class:`~autograder.results.PipelineRecord` by
    student)."""
    from autograder import gradebook as gbmod

    course = Path(course).resolve()
    db_file = _gradebook_file(course)
    if not db_file.exists():
        raise SystemExit(f"{db_file} not found: release the assignment first (make release)")
    if not skip_notebook:
        level, why = jail.level()
        if level != "full" and not jail.allowed_unsandboxed():
            raise SystemExit(
                f"no sandbox for the notebook step here ({why}); refusing to run student "
                f"notebooks without one (set {jail.ALLOW_UNSANDBOXED_ENV}=1 to allow it: every "
                f"record then says so)"
            )
    data = notebook_step.data_dir()
    data_missing = (
        None
        if (skip_notebook or fast_notebook)
        else notebook_step.notebook_data_missing(course, assignment, data)
    )
    expected = expected_tasks(grader)
    url = gbmod.db_url(db_file)
    names = records.discover(course, assignment, students)
    key = records.grading_key(course, assignment, grader, seed)
    todo, skipped = [], []
    for student in names:
        dg = records.digest(records.submission_path(course, assignment, student))
        rec = None if force else records.load_current(course, assignment, student)
        if rec is not None and rec.digest == dg and rec.grading_key == key:
            if not gbmod.has_submission(url, assignment, student):
                gbmod.apply_record(url, assignment, rec)  # gradebook was reset: restore, no regrade
            skipped.append(student)
        else:
            todo.append((student, dg))
    t_start = time.perf_counter()
    graded: dict[str, PipelineRecord] = {}
    with tempfile.TemporaryDirectory(prefix="intro2ai-batch-") as tmp:
        tmp = Path(tmp)
        template = tmp / "template.db"
        gbmod.snapshot(db_file, template)
        jobs_list = [
            {
                "course": str(course),
                "assignment": assignment,
                "student": s,
                "digest": dg,
                "template_db": str(template),
                "grader": grader,
                "seed": seed,
                "skip_notebook": skip_notebook,
                "cell_timeout": cell_timeout,
                "fast_notebook": fast_notebook,
                "notebook_time_limit": notebook_time_limit,
                "grading_key": key,
                "expected_tasks": expected,
                "data_dir": str(data),
                "data_missing": data_missing,
            }
            for s, dg in todo
        ]
        jobs_by_student = {job["student"]: job for job in jobs_list}
        bar = _progress(len(jobs_list), f"autograde {assignment}", progress)

        def finish(rec: PipelineRecord) -> None:
            try:
                gbmod.apply_record(url, assignment, rec)  # parent only: one SQLite writer
            except Exception as exc:  # fail closed: 0 and a flag in the gradebook too
                rec = failed_record(
                    jobs_by_student[rec.student], f"gradebook update failed: {exc!r}"
                )
                gbmod.apply_record(url, assignment, rec)
            records.store_record(course, assignment, rec)
            graded[rec.student] = rec
            bar.update(1)
            bar.set_postfix_str(rec.student)

        try:
            if jobs <= 1 or len(jobs_list) <= 1:
                for job in jobs_list:
                    finish(grade_one(job))
            else:
                ctx = multiprocessing.get_context("spawn")
                with cf.ProcessPoolExecutor(max_workers=jobs, mp_context=ctx) as pool:
                    futures = {pool.submit(grade_one, job): job for job in jobs_list}
                    try:
                        for fut in cf.as_completed(futures):
                            try:
                                rec = fut.result()
                            except Exception as exc:  # a worker died (killed, out of memory)
                                rec = failed_record(futures[fut], f"grading worker failed: {exc!r}")
                            finish(rec)
                    except BaseException:
                        for f in futures:
                            f.cancel()
                        raise
        finally:
            bar.close()
    wall = time.perf_counter() - t_start
    summary = {
        "graded": sorted(graded),
        "skipped": skipped,
        "records": graded,
        "wall": wall,
        "data_missing": data_missing if graded else None,
    }
    _write_report(course, assignment, summary)
    if summary["data_missing"]:
        print(
            f"[autograde] {len(graded)} notebook(s) ran without their data ({data_missing}): each record is "
            f"flagged notebook_data_missing; get it with `make data` (or set INTRO2AI_DATA_DIR), then "
            f"regrade with FORCE=1",
            flush=True,
        )
    return summary


class _NoBar:
    def update(self, n=1):
        pass

    def set_postfix_str(self, s):
        pass

    def close(self):
        pass


def _progress(total: int, desc: str, enabled: bool):
    if not enabled or total == 0:
        return _NoBar()
    from tqdm import tqdm

    tqdm.monitor_interval = 0  # no monitor thread: the batch forks once per submission
    return tqdm(total=total, desc=desc, unit="sub", file=sys.stderr)


def _write_report(course: Path, assignment: str, summary: dict) -> None:
    """Batch report: flags and timings of every stored record (JSON, atomic)."""
    stored, stale = records.current_records(course, assignment)
    timed = [r.timings for r in summary["records"].values()]
    report = {
        "assignment": assignment,
        "graded_now": summary["graded"],
        "skipped": summary["skipped"],
        "wall_seconds": round(summary["wall"], 3),
        "seconds_per_submission": _timing_stats(timed),
        "flags": {s: [f.to_dict() for f in r.flags] for s, r in sorted(stored.items()) if r.flags},
        "not_a_grade": dict(sorted(stale.items())),  # records whose submission is gone or changed
        "skipped_folders": dict(records.scan_submitted(course, assignment)[1]),
        # Files in the record folder that did not verify: never graded from, listed for review.
        "untrusted_record_files": {
            s: p for s, _, p in records.scan_records(course, assignment) if p
        },
    }
    records.store_report(course, assignment, report)


def _timing_stats(timings: list[dict]) -> dict:
    if not timings:
        return {}
    out = {}
    for key in ("nbgrader", "trusted", "total"):
        vals = [t[key] for t in timings if key in t]
        if vals:
            out[key] = {"mean": round(sum(vals) / len(vals), 3), "max": round(max(vals), 3)}
    return out
