"""Command line of the trusted grader.

``python -m autograder grade SUBMISSION_DIR [--json] [--seed S] [--allow-unsandboxed]``
``python -m autograder samples DEST [--notebooks]``
``python -m autograder doctor``: the isolation grading gets here, and what student code sees.
"""

from __future__ import annotations

import argparse
import json
import os
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m autograder", description="Trusted grader of the intro2ai HW5 kit."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    g = sub.add_parser("grade", help="grade one submission folder")
    g.add_argument("submission_dir")
    g.add_argument("--json", action="store_true", help="print one JSON object")
    g.add_argument("--full", action="store_true", help="with --json: include every case")
    g.add_argument("--seed", default=None, help="secret seed of the hidden cases")
    g.add_argument(
        "--allow-unsandboxed",
        action="store_true",
        help="grade even where no sandbox can be made (every task is flagged)",
    )
    sub.add_parser(
        "doctor",
        help="the isolation grading gets on this machine for this user, "
        "and what is visible from inside the sandbox",
    )
    s = sub.add_parser("samples", help="write the sample submissions into a folder")
    s.add_argument("dest")
    s.add_argument(
        "--notebooks", action="store_true", help="also the notebook-side samples (edited hw5.ipynb)"
    )
    args = parser.parse_args(argv)

    if args.command == "samples":
        from autograder import samples

        names = list(samples.SAMPLES) + (list(samples.NOTEBOOK_SAMPLES) if args.notebooks else [])
        for name in samples.build_samples(args.dest, names=names):
            print(name)
        return 0

    if args.command == "doctor":
        return doctor()

    from autograder import grade_submission, jail

    if not os.path.isdir(args.submission_dir):
        print(
            f"python -m autograder grade: {args.submission_dir} is not a folder; give the folder "
            f"that holds intro2ai/layers.py and intro2ai/classifiers/cnn.py",
            file=sys.stderr,
        )
        return 2
    try:
        record = grade_submission(
            args.submission_dir, seed=args.seed, allow_unsandboxed=args.allow_unsandboxed or None
        )
    except jail.Unavailable as exc:
        print(f"python -m autograder grade: {exc}", file=sys.stderr)
        return 3
    if args.json:
        if not args.full:
            record = {
                "submission": record["submission"],
                "tasks": {
                    t: {k: r[k] for k in ("points", "max_points", "status", "message")}
                    for t, r in record["tasks"].items()
                },
                "total": record["total"],
                "max_total": record["max_total"],
                "isolation": record["isolation"],
                "seconds": record["seconds"],
            }
        json.dump(record, sys.stdout, ensure_ascii=False, indent=1)
        print()
    else:
        for task, r in record["tasks"].items():
            print(f"{task:26s} {r['points']:6.2f}/{r['max_points']:<6g} {r['status']}")
            print(f"    {r['message']}")
        print(
            f"{'total':26s} {record['total']:6.2f}/{record['max_total']:g}  "
            f"(isolation: {record['isolation']}, {record['seconds']:.2f} s)"
        )
        for flag in record.get("flags", []):
            print(f"flag: {flag['kind']}" + (f" ({flag['task']})" if "task" in flag else ""))
    return 0


def doctor() -> int:
    """Print the isolation level grading gets here, why, and what student code can see."""
    from autograder import jail, sandbox

    level, why = jail.level()
    print(f"isolation: {level}")
    print(f"why: {why}")
    print(f"bwrap: {jail.bwrap_path() or 'none'}")
    if level != "full":
        print(
            f"grading refuses to run student code here unless --allow-unsandboxed or "
            f"{jail.ALLOW_UNSANDBOXED_ENV}=1 is given (every record is then flagged)"
        )
        return 1
    seen = sandbox.visible_tree()
    paths = seen["paths"]
    top = sorted({"/" + p.split("/")[1] for p in paths})
    print(f"student code runs as uid {seen['uid']} and sees (top level): {' '.join(top)}")
    roots = sorted(
        {h for h in ("/box", "/grader", "/py", "/venv", "/tmp")}
        | {i for _, i in jail._system_lib_binds()}
    )
    for root in roots:
        n = sum(1 for p in paths if p == root or p.startswith(root + "/"))
        print(f"  {root:32s} {n:6d} entries")
    print(f"visible entries in all: {len(paths)} (/proc, /sys and /dev not counted)")
    kit = str(sandbox.KIT_ROOT)
    print(f"kit folder {kit} visible: {'YES' if any(p.startswith(kit) for p in paths) else 'no'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
