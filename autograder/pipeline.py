"""Grading pipeline: nbgrader bookkeeping around the trusted grader.

``python -m autograder.pipeline autograde|feedback|export|collect|demo`` (the
make targets of the same names call these).

For every student folder ``assignments/submitted/<student>/<assignment>/``:

1. ``nbgrader autograde`` and its kernel run the notebook in one sandbox, on a
   scratch copy with a private gradebook (:mod:`autograder.notebook_step`);
2. the trusted grader (``autograder.grade_submission``) grades the submission
   folder in its own sandboxes;
3. the parent process writes both into the real ``gradebook.db`` (one writer:
   SQLite), the trusted scores being the grade (0 and a review flag when that
   grade is missing), and flags every task whose notebook tests passed in the
   kernel but failed in the trusted grader (:mod:`autograder.batch`);
4. a per-submission result record is written atomically under
   ``assignments/.grading/<assignment>/`` (:mod:`autograder.records`), keyed by a
   hash of the submission's files: a re-run skips submissions graded already
   (unless ``--force``) and re-grades any whose files changed.

Submissions are never modified: they are hashed before and after grading.
Modules: records (paths, digests, records), notebook_step (the sandboxed
nbgrader step; its programs in ``autograder/jailed/``), batch (grade_one,
autograde), export (CSV, table, histogram), collect, demo, and this CLI.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from autograder import batch, collect, demo, export, notebook_step, records


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m autograder.pipeline", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--course-dir", type=Path, default=records.DEFAULT_COURSE, help="nbgrader course root"
    )
    parser.add_argument("--assignment", default=records.DEFAULT_ASSIGNMENT)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser(
        "autograde", help="nbgrader batch.autograde + trusted grader into the gradebook"
    )
    p.add_argument("--jobs", "-j", type=int, default=int(os.environ.get("JOBS", "1") or 1))
    p.add_argument("--force", action="store_true", help="regrade submissions graded already")
    p.add_argument("--student", action="append", help="only these students (repeatable)")
    p.add_argument(
        "--grader", default=records.DEFAULT_GRADER, help="module:function of the trusted grader"
    )
    p.add_argument(
        "--seed", default=None, help="seed of the hidden cases (default: the grader's secret)"
    )
    p.add_argument("--no-progress", action="store_true")
    p.add_argument(
        "--cell-timeout",
        type=int,
        default=None,
        help="seconds per notebook cell (default: Execute.timeout of nbgrader_config.py)",
    )
    p.add_argument(
        "--fast-notebook",
        action="store_true",
        help="run the notebook in its fast mode (INTRO2AI_FAST=1: small synthetic data)",
    )
    p.add_argument(
        "--notebook-time-limit",
        type=float,
        default=notebook_step.NOTEBOOK_TIME_LIMIT_S,
        help="seconds for one submission's whole nbgrader step (default: %(default)s)",
    )

    p = sub.add_parser("feedback", help="one Korean HTML feedback page per student")
    p.add_argument("--student", action="append")

    p = sub.add_parser("export", help="grades CSV")
    p.add_argument("--out", type=Path, default=None)

    p = sub.add_parser(
        "collect", help="LMS download -> submitted/ (safe extraction; ids from LMS archive names)"
    )
    p.add_argument(
        "zip", type=Path, help="a student's zip, a bulk download of them, or a folder of zips"
    )

    p = sub.add_parser(
        "demo", help="samples -> batch.autograde -> feedback -> export.export -> table + histogram"
    )
    p.add_argument("--jobs", "-j", type=int, default=int(os.environ.get("JOBS", "2") or 2))
    p.add_argument("--force", action="store_true")
    p.add_argument(
        "--cell-timeout",
        type=int,
        default=demo.DEMO_CELL_TIMEOUT_S,
        help="seconds per notebook cell",
    )
    p.add_argument(
        "--notebook-time-limit",
        type=float,
        default=demo.DEMO_NOTEBOOK_TIME_LIMIT_S,
        help="seconds for one submission's whole nbgrader step (default: %(default)s)",
    )
    p.add_argument(
        "--full-notebook",
        action="store_true",
        help="run the notebook on real CIFAR-10, not fast mode",
    )
    p.add_argument(
        "--demo-dir",
        type=Path,
        default=demo.DEMO_COURSE,
        help="the demo's own course folder, outside --course-dir (default: %(default)s)",
    )

    p = sub.add_parser("demo-clean", help="remove the demo course")
    p.add_argument("--demo-dir", type=Path, default=demo.DEMO_COURSE)

    args = parser.parse_args(argv)
    course = args.course_dir.resolve()
    if args.command == "autograde":
        summary = batch.autograde(
            course,
            args.assignment,
            jobs=args.jobs,
            force=args.force,
            students=args.student,
            grader=args.grader,
            seed=args.seed,
            progress=not args.no_progress,
            cell_timeout=args.cell_timeout,
            fast_notebook=args.fast_notebook,
            notebook_time_limit=args.notebook_time_limit,
        )
        graded, stale = records.current_records(course, args.assignment)
        print(export.format_table(graded))
        stats = batch._timing_stats([r.timings for r in summary["records"].values()])
        print(
            f"graded {len(summary['graded'])}, skipped {len(summary['skipped'])} unchanged, "
            f"{summary['wall']:.1f} s wall"
            + (f", {stats['total']['mean']:.1f} s per submission" if stats else "")
        )
        flagged = [(s, export.flag_summary(r)) for s, r in sorted(graded.items()) if r.flags]
        for s, f in flagged:
            print(f"FLAG {s}: {f}")
        for s, why in sorted(stale.items()):
            print(f"NOT A GRADE {s}: {why}")
        print(f"report: {records.report_path(course, args.assignment)}")
    elif args.command == "feedback":
        from autograder import feedback

        pages = feedback.write_all(course, args.assignment, students=args.student)
        print(f"{len(pages)} feedback pages under {course / 'feedback'}")
    elif args.command == "export":
        out = export.export(course, args.assignment, args.out)
        print(f"grades:    {out}\nhistogram: {export.histogram_path(out)}")
    elif args.command == "collect":
        return collect.collect(args.zip, course, args.assignment)
    elif args.command == "demo":
        demo.demo(
            course,
            args.assignment,
            jobs=args.jobs,
            force=args.force,
            cell_timeout=args.cell_timeout,
            fast_notebook=not args.full_notebook,
            notebook_time_limit=args.notebook_time_limit,
            demo_course=args.demo_dir,
        )
    elif args.command == "demo-clean":
        print(
            f"removed {args.demo_dir}"
            if demo.clean(args.demo_dir)
            else f"no demo course at {args.demo_dir}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
