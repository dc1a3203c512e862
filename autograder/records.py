"""Where the pipeline keeps things, and the result records (one module reads and writes them).

Paths of a course (``submitted/``, ``.grading/``, ``exports/``), the submission digest, atomic
writes, the grading key (what a grade depends on besides the submission), and loading and
storing the per-submission records under ``<course>/.grading/<assignment>/``.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Iterable

from autograder import ids

REPO = Path(__file__).resolve().parents[1]
DEFAULT_COURSE = REPO / "assignments"
DEFAULT_ASSIGNMENT = "hw5"
DEFAULT_GRADER = "autograder:grade_submission"
#: Bump when the record layout or the grading steps change: old records are then regraded.
RECORD_VERSION = 1
#: The batch report beside the records. Its leading "_" is outside the id alphabet
#: (autograder.ids), so no student's record can ever have this name.
REPORT_NAME = "_report.json"


def submitted_dir(course: Path, assignment: str) -> Path:
    return course / "submitted"


def submission_path(course: Path, assignment: str, student: str) -> Path:
    return course / "submitted" / ids.validate(student) / assignment


def record_dir(course: Path, assignment: str) -> Path:
    return course / ".grading" / assignment


def record_path(course: Path, assignment: str, student: str) -> Path:
    return record_dir(course, assignment) / f"{ids.validate(student)}.json"


def report_path(course: Path, assignment: str) -> Path:
    return record_dir(course, assignment) / REPORT_NAME


def exports_dir(course: Path) -> Path:
    return course / "exports"


def scan_submitted(course: Path, assignment: str) -> tuple[list[str], list[tuple[str, str]]]:
    """Valid student ids with a folder ``submitted/<student>/<assignment>/``, sorted, and
    ``(name, why)`` for every other entry of ``submitted/`` (an invalid id, a symlink, no
    ``<assignment>`` folder). A skipped name is never joined into a path."""
    root = submitted_dir(course, assignment)
    found, skipped = [], []
    if not root.is_dir():
        return found, skipped
    for entry in sorted(os.scandir(root), key=lambda e: e.name):
        why = ids.problem(entry.name)
        if why is None:
            sub = Path(entry.path) / assignment
            if entry.is_symlink() or sub.is_symlink():
                why = "a symlink, not a folder"
            elif not entry.is_dir(follow_symlinks=False):
                why = "not a folder"
            elif not sub.is_dir():
                why = f"no {assignment}/ folder inside"
        if why is None:
            found.append(entry.name)
        else:
            skipped.append((entry.name, why))
    return found, skipped


def discover(course: Path, assignment: str, students: Iterable[str] | None = None) -> list[str]:
    """Student ids with a folder ``submitted/<student>/<assignment>/``, sorted.

    Entries of ``submitted/`` that are not such a folder under a valid id are reported on stderr
    and skipped; an invalid id in ``students`` stops with the validator's reason.
    """
    root = submitted_dir(course, assignment)
    found, skipped = scan_submitted(course, assignment)
    for name, why in skipped:
        print(f"skipped {root.name}/{name!r}: {why}", file=sys.stderr)
    if students:
        for s in students:
            if ids.problem(s):
                raise SystemExit(f"--student {s!r}: {ids.problem(s)}")
        wanted = set(students)
        missing = wanted - set(found)
        if missing:
            raise SystemExit(f"no submission folder for: {', '.join(sorted(missing))} under {root}")
        found = [s for s in found if s in wanted]
    return found


def digest(folder: Path) -> str:
    """SHA-256 over every file's relative path and bytes (symlinks by their target)."""
    h = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        if path.is_symlink():
            h.update(b"L" + rel.encode() + b"\0" + os.readlink(path).encode() + b"\0")
        elif path.is_file():
            h.update(b"F" + rel.encode() + b"\0")
            with open(path, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
            h.update(b"\0")
        elif path.is_dir():
            h.update(b"D" + rel.encode() + b"\0")
    return h.hexdigest()


def atomic_write(path: Path, data: str | bytes) -> None:
    """Write a file so that readers see the old or the new content, never half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode("utf-8") if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


#: Files whose change changes grades: a record made before such a change is regraded.
GRADING_FILES = ("autograder/rubric.toml", "intro2ai/layers.py", "intro2ai/classifiers/cnn.py")


def grading_key(course: Path, assignment: str, grader: str, seed: int | str | None) -> str:
    """Hash of what a grade depends on besides the submission: record layout, grader, seed
    (hashed, never stored), rubric, reference solutions and the source notebooks."""
    h = hashlib.sha256(json.dumps([RECORD_VERSION, grader]).encode())
    try:
        from autograder import cases

        resolved = cases.secret_seed(seed)
    except Exception:  # a stand-in grader or no seed helper: the given seed is all we know
        resolved = seed
    h.update(b"seed\0" + str(resolved).encode())
    paths = [REPO / rel for rel in GRADING_FILES]
    paths += sorted((Path(course) / "source" / assignment).glob("*.ipynb"))
    for path in paths:
        h.update(b"\0" + path.name.encode() + b"\0")
        if path.exists():
            h.update(path.read_bytes())
    return h.hexdigest()


def load_record(course: Path, assignment: str, student: str) -> dict | None:
    path = record_path(course, assignment, student)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def load_records(course: Path, assignment: str) -> dict[str, dict]:
    """Every stored result record of the assignment, by student.

    A record counts only when its file is ``<id>.json`` for a valid id and the record names that
    same student (the batch report and anything else in the folder are not records).
    """
    out = {}
    for path in sorted(record_dir(course, assignment).glob("*.json")):
        if not ids.is_valid(path.stem) or path.is_symlink():
            continue
        try:
            rec = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError):
            continue
        if isinstance(rec, dict) and rec.get("student") == path.stem:
            out[rec["student"]] = rec
    return out


#: Why a stored record is not a grade (shown by ``make export`` and in the batch report).
SUBMISSION_MISSING = "submission missing"
SUBMISSION_CHANGED = "submission changed since grading (run make autograde)"


def current_records(course: Path, assignment: str) -> tuple[dict[str, dict], dict[str, str]]:
    """Records that are the grade of the submission now in ``submitted/``, and ``{student: why}``
    for the others (:data:`SUBMISSION_MISSING`, :data:`SUBMISSION_CHANGED`): a record outlives a
    deleted or replaced submission, and must then not be exported, fed back or shown as a grade."""
    present, stale = {}, {}
    for student, rec in load_records(course, assignment).items():
        sub = submission_path(Path(course), assignment, student)
        if not sub.is_dir() or sub.is_symlink() or sub.parent.is_symlink():
            stale[student] = SUBMISSION_MISSING
        elif rec.get("digest") and rec["digest"] != digest(sub):
            stale[student] = SUBMISSION_CHANGED
        else:
            present[student] = rec
    return present, stale



def _json_default(obj):
    try:
        import numpy as np

        if isinstance(obj, np.generic):
            return obj.item()
        if isinstance(obj, np.ndarray):
            return obj.tolist()
    except ImportError:  # pragma: no cover
        pass
    return str(obj)


def store_record(course: Path, assignment: str, rec: dict) -> Path:
    """Write one result record atomically (the grading parent alone calls this)."""
    path = record_path(course, assignment, rec["student"])
    atomic_write(path, json.dumps(rec, ensure_ascii=False, indent=1, default=_json_default))
    return path


def store_report(course: Path, assignment: str, report: dict) -> Path:
    """Write the batch report beside the records (atomically)."""
    path = report_path(course, assignment)
    atomic_write(path, json.dumps(report, ensure_ascii=False, indent=1))
    return path
