"""Command line: ``python -m autograder grade SUBMISSION_DIR [--json] [--seed S]``."""

from __future__ import annotations

import argparse
import json
import os
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder",
                                     description="Trusted grader of the intro2ai HW5 kit.")
    sub = parser.add_subparsers(dest="command", required=True)
    g = sub.add_parser("grade", help="grade one submission folder")
    g.add_argument("submission_dir")
    g.add_argument("--json", action="store_true", help="print one JSON object")
    g.add_argument("--full", action="store_true", help="with --json: include every case")
    g.add_argument("--seed", default=None, help="secret seed of the hidden cases")
    s = sub.add_parser("samples", help="write the sample submissions into a folder")
    s.add_argument("dest")
    s.add_argument("--notebooks", action="store_true",
                   help="also the notebook-side samples (edited hw5.ipynb)")
    args = parser.parse_args(argv)

    if args.command == "samples":
        from autograder import samples

        names = list(samples.SAMPLES) + (list(samples.NOTEBOOK_SAMPLES) if args.notebooks else [])
        for name in samples.build_samples(args.dest, names=names):
            print(name)
        return 0

    from autograder import grade_submission

    if not os.path.isdir(args.submission_dir):
        print(f"python -m autograder grade: {args.submission_dir} is not a folder; give the folder "
              f"that holds intro2ai/layers.py and intro2ai/classifiers/cnn.py", file=sys.stderr)
        return 2
    record = grade_submission(args.submission_dir, seed=args.seed)
    if args.json:
        if not args.full:
            record = {
                "submission": record["submission"],
                "tasks": {t: {k: r[k] for k in ("points", "max_points", "status", "message")}
                          for t, r in record["tasks"].items()},
                "total": record["total"], "max_total": record["max_total"],
                "isolation": record["isolation"], "seconds": record["seconds"],
            }
        json.dump(record, sys.stdout, ensure_ascii=False, indent=1)
        print()
    else:
        for task, r in record["tasks"].items():
            print(f"{task:26s} {r['points']:6.2f}/{r['max_points']:<6g} {r['status']}")
            print(f"    {r['message']}")
        print(f"{'total':26s} {record['total']:6.2f}/{record['max_total']:g}  "
              f"(isolation: {record['isolation']}, {record['seconds']:.2f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
