"""The batch: grade every submission (a pool of workers), the parent writes gradebook and records.

:func:`grade_one` is a pure function of its job (submission in, record out) run by the workers;
:func:`autograde` is the parent: it skips submissions graded already, applies each record to the
gradebook (one SQLite writer) and stores it (:mod:`autograder.records`).
"""
from __future__ import annotations

import concurrent.futures as cf
import importlib
import multiprocessing
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Iterable

from autograder import notebook_step, records


def load_grader(spec: str) -> Callable[..., dict]:
    """``"module:function"`` -> the function."""
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name or "grade_submission")


def grade_one(job: dict) -> dict:
    """Grade one submission; a pure function of the job (no gradebook writes).

    ``job`` holds ``course``, ``assignment``, ``student``, ``digest``, ``template_db``,
    ``kernel_root`` (or None), ``grader`` (``"module:function"``), ``seed``.
    Returns the result record (see :func:`autograde`).
    """
    from autograder import gradebook as gbmod

    course = Path(job["course"])
    assignment, student = job["assignment"], job["student"]
    sub = records.submission_path(course, assignment, student)
    t0 = time.perf_counter()
    notebook_rc, notebook_log, autograde_data, isolation, timed_out = None, "", {}, [], False
    if not job.get("skip_notebook"):
        with tempfile.TemporaryDirectory(prefix="intro2ai-autograde-") as tmp:
            tmp = Path(tmp)
            db_file = tmp / "gradebook.db"
            shutil.copyfile(job["template_db"], db_file)
            (tmp / "runtime").mkdir()
            kernel_root = Path(job["kernel_root"]) if job.get("kernel_root") else None
            limit = job.get("notebook_time_limit") or notebook_step.NOTEBOOK_TIME_LIMIT_S
            notebook_rc, notebook_log, isolation, timed_out = notebook_step.run_notebook_step(
                course, assignment, student, db_file, kernel_root, tmp, job.get("cell_timeout"),
                bool(job.get("fast_notebook")), limit)
            try:
                autograde_data = gbmod.read_autograde(gbmod.db_url(db_file), assignment, student)
            except Exception as exc:  # a broken temp gradebook is a notebook failure, not a crash
                notebook_log += f"\n[reading the autograde gradebook failed: {exc!r}]"
    t1 = time.perf_counter()
    error = None
    try:
        kwargs = {"seed": job["seed"]} if job.get("seed") is not None else {}
        trusted = load_grader(job["grader"])(str(sub), **kwargs)
    except Exception as exc:  # every failure is a grade, never a crash of the batch
        error = f"trusted grader failed: {type(exc).__name__}: {exc}"
        trusted = {"tasks": {}, "total": 0.0, "max_total": 0.0}
    t2 = time.perf_counter()
    flags = gbmod.tampering_flags(autograde_data, trusted)
    if not job.get("skip_notebook") and (notebook_rc != 0 or not autograde_data):
        flags.append({"kind": "notebook_autograde_failed", "returncode": notebook_rc})
    if timed_out:
        flags.append({"kind": "notebook_timeout", "seconds": job.get("notebook_time_limit") or notebook_step.NOTEBOOK_TIME_LIMIT_S})
    if error:
        flags.append({"kind": "trusted_grader_error", "message": error})
    after = records.digest(sub)
    if after != job["digest"]:
        flags.append({"kind": "submission_changed_during_grading"})
    return {
        "version": records.RECORD_VERSION,
        "student": student,
        "assignment": assignment,
        "digest": job["digest"],
        "digest_after": after,
        "grading_key": job.get("grading_key"),
        "graded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "trusted": trusted,
        "autograde": autograde_data,
        "notebook_returncode": notebook_rc,
        "notebook_isolation": sorted(set(isolation)),
        "notebook_log_tail": notebook_log if notebook_rc not in (0, None) else "",
        "flags": flags,
        "timings": {"nbgrader": round(t1 - t0, 3), "trusted": round(t2 - t1, 3), "total": round(t2 - t0, 3)},
    }


# --------------------------------------------------------------------------- batch (parent)


def _gradebook_file(course: Path) -> Path:
    return course / "gradebook.db"


def autograde(course: Path = records.DEFAULT_COURSE, assignment: str = records.DEFAULT_ASSIGNMENT, *, jobs: int = 1,
              force: bool = False, students: Iterable[str] | None = None, grader: str = records.DEFAULT_GRADER,
              seed: int | None = None, sandbox_kernel: bool = True, progress: bool = True,
              skip_notebook: bool = False, cell_timeout: int | None = None,
              fast_notebook: bool = False,
              notebook_time_limit: float = notebook_step.NOTEBOOK_TIME_LIMIT_S) -> dict[str, Any]:
    """Autograde every submission; returns a summary ``{"graded", "skipped", "records", "wall"}``."""
    from autograder import gradebook as gbmod

    course = Path(course).resolve()
    db_file = _gradebook_file(course)
    if not db_file.exists():
        raise SystemExit(f"{db_file} not found: release the assignment first (make release)")
    url = gbmod.db_url(db_file)
    names = records.discover(course, assignment, students)
    key = records.grading_key(course, assignment, grader, seed)
    todo, skipped = [], []
    for student in names:
        dg = records.digest(records.submission_path(course, assignment, student))
        rec = records.load_record(course, assignment, student)
        if (not force and rec and rec.get("digest") == dg and rec.get("grading_key") == key):
            if not gbmod.has_submission(url, assignment, student):
                gbmod.apply_record(url, assignment, rec)  # gradebook was reset: restore, no regrade
            skipped.append(student)
        else:
            todo.append((student, dg))
    t_start = time.perf_counter()
    graded: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="intro2ai-batch-") as tmp:
        tmp = Path(tmp)
        template = tmp / "template.db"
        gbmod.snapshot(db_file, template)
        kernel_root = notebook_step.write_kernelspec(tmp / "jupyter") if sandbox_kernel else None
        jobs_list = [{
            "course": str(course), "assignment": assignment, "student": s, "digest": dg,
            "template_db": str(template), "kernel_root": str(kernel_root) if kernel_root else None,
            "grader": grader, "seed": seed, "skip_notebook": skip_notebook, "cell_timeout": cell_timeout,
            "fast_notebook": fast_notebook, "notebook_time_limit": notebook_time_limit, "grading_key": key,
        } for s, dg in todo]
        bar = _progress(len(jobs_list), f"autograde {assignment}", progress)

        def finish(rec: dict) -> None:
            gbmod.apply_record(url, assignment, rec)  # parent only: one SQLite writer
            records.store_record(course, assignment, rec)
            graded[rec["student"]] = rec
            bar.update(1)
            bar.set_postfix_str(rec["student"])

        try:
            if jobs <= 1 or len(jobs_list) <= 1:
                for job in jobs_list:
                    finish(grade_one(job))
            else:
                ctx = multiprocessing.get_context("spawn")
                with cf.ProcessPoolExecutor(max_workers=jobs, mp_context=ctx) as pool:
                    futures = [pool.submit(grade_one, job) for job in jobs_list]
                    try:
                        for fut in cf.as_completed(futures):
                            finish(fut.result())
                    except BaseException:
                        for f in futures:
                            f.cancel()
                        raise
        finally:
            bar.close()
    wall = time.perf_counter() - t_start
    summary = {"graded": sorted(graded), "skipped": skipped, "records": graded, "wall": wall}
    _write_report(course, assignment, summary)
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
    timed = [r["timings"] for s, r in summary["records"].items()]
    report = {
        "assignment": assignment,
        "graded_now": summary["graded"],
        "skipped": summary["skipped"],
        "wall_seconds": round(summary["wall"], 3),
        "seconds_per_submission": _timing_stats(timed),
        "flags": {s: r.get("flags", []) for s, r in sorted(stored.items()) if r.get("flags")},
        "not_a_grade": dict(sorted(stale.items())),  # records whose submission is gone or changed
        "skipped_folders": dict(records.scan_submitted(course, assignment)[1]),
        # Files in the record folder that did not verify: never graded from, listed for review.
        "untrusted_record_files": {s: p for s, _, p in records.scan_records(course, assignment) if p},
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

