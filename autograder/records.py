"""Where the pipeline keeps things, and the result records (one module reads and writes them).

Paths of a course (``submitted/``, ``.grading/``, ``exports/``), the submission digest, atomic
writes, the grading key (what a grade depends on besides the submission), and loading and
storing the per-submission records under ``<course>/.grading/<assignment>/``.

Records are the grading parent's alone: only it writes them, in a folder no sandbox can see, and
each is stored in an envelope ``{"mac", "record"}`` whose HMAC-SHA256 (key: :func:`record_key`)
is checked when it is read. A file that fails the check (dropped there by anyone else, edited,
copied from another student, a link) grades nothing: the submission is graded again.

A record is a :class:`autograder.results.PipelineRecord`; its file holds ``to_dict()``.
:func:`load_record`, :func:`load_records` and :func:`scan_records` give verified bodies (plain
dicts, of any format version); :func:`load_current` and :func:`current_records` give typed
records of the current :data:`RECORD_VERSION`: an older record is not a grade (it is regraded).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import stat
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path

from autograder import ids, results, tasks

REPO = Path(__file__).resolve().parents[1]
DEFAULT_COURSE = REPO / "assignments"
DEFAULT_ASSIGNMENT = "hw5"
DEFAULT_GRADER = "autograder:grade_submission"
#: Bump when the record layout or the grading steps change: old records are then regraded.
#: 3: typed results (autograder.results): statuses, structured check failures, typed flags.
RECORD_VERSION = 3
#: The batch report beside the records. Its leading "_" is outside the id alphabet
#: (autograder.ids), so no student's record can ever have this name.
REPORT_NAME = "_report.json"


def submitted_dir(course: Path) -> Path:
    """``<course>/submitted``: nbgrader's layout is ``submitted/<student>/<assignment>/``, so
    every assignment of a course shares this folder."""
    return Path(course) / "submitted"


def submission_path(course: Path, assignment: str, student: str) -> Path:
    return submitted_dir(course) / ids.validate(student) / assignment


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
    root = submitted_dir(course)
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
    root = submitted_dir(course)
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
def _grading_files() -> tuple[str, ...]:
    """The kit files a grade depends on: the rubric and every task's reference file."""
    return ("autograder/rubric.toml",) + tuple(dict.fromkeys(t.file for t in tasks.all_tasks()))


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
    paths = [REPO / rel for rel in _grading_files()]
    paths += sorted((Path(course) / "source" / assignment).glob("*.ipynb"))
    for path in paths:
        h.update(b"\0" + path.name.encode() + b"\0")
        if path.exists():
            h.update(path.read_bytes())
    return h.hexdigest()


def load_record(course: Path, assignment: str, student: str) -> dict | None:
    """The stored record of one student, or None when there is none or it fails verification."""
    return _read_verified(record_path(course, assignment, student), student)


def load_records(course: Path, assignment: str) -> dict[str, dict]:
    """Every stored, verified result record of the assignment, by student."""
    return {
        student: rec
        for student, rec, problem in scan_records(course, assignment)
        if rec is not None
    }


def scan_records(course: Path, assignment: str) -> list[tuple[str, dict | None, str | None]]:
    """Every ``<id>.json`` under the record folder as ``(id, record or None, problem or None)``.

    A file whose name is not a valid student id, that is not a regular file, that is too large,
    that is not one of our envelopes, whose MAC does not verify, or whose record names another
    student, is a problem: its record is None (so it grades nothing and the student is regraded).
    """
    out = []
    folder = record_dir(course, assignment)
    if not folder.is_dir():
        return out
    for path in sorted(folder.glob("*.json")):
        student = path.stem
        if path.name == REPORT_NAME:
            continue
        if not ids.is_valid(student):
            out.append((student, None, "file name is not a valid student id"))
            continue
        try:
            out.append((student, _read_verified(path, student, strict=True), None))
        except RecordError as exc:
            out.append((student, None, str(exc)))
    return out


class RecordError(ValueError):
    """A stored record that cannot be trusted (unreadable, forged, or not this student's)."""


def _read_verified(path: Path, student: str, strict: bool = False) -> dict | None:
    try:
        data = _read_regular_file(path, MAX_RECORD_BYTES)
        if data is None:
            return None
        envelope = json.loads(data.decode("utf-8"))
        if not (
            isinstance(envelope, dict)
            and set(envelope) == {"mac", "record"}
            and isinstance(envelope["mac"], str)
            and isinstance(envelope["record"], dict)
        ):
            raise RecordError("not a record envelope")
        body = _canonical(envelope["record"])
        if not hmac.compare_digest(envelope["mac"], _mac(body)):
            raise RecordError("MAC does not verify (written by someone other than the grader)")
        rec = envelope["record"]
        if rec.get("student") != student:
            raise RecordError(f"record names student {rec.get('student')!r}")
        return rec
    except RecordError:
        if strict:
            raise
        return None
    except (OSError, ValueError, RecursionError) as exc:
        if strict:
            raise RecordError(f"unreadable: {type(exc).__name__}") from None
        return None


def _read_regular_file(path: Path, cap: int) -> bytes | None:
    """The bytes of ``path`` if it is a regular file no larger than ``cap`` (never via a link)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return None
    except OSError as exc:  # ELOOP: a symlink
        raise RecordError(f"not a regular file ({exc.strerror})") from None
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fh.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise RecordError("not a regular file")
        if st.st_size > cap:
            raise RecordError(f"{st.st_size} bytes (at most {cap})")
        return fh.read(cap + 1)


#: A record holds scores, messages and flags: far below this.
MAX_RECORD_BYTES = 16 << 20
#: The key of the records' HMAC: this variable (hex or any text), else the instructor-only file
#: ``autograder/.record_key`` (git-ignored, created with mode 0600 on first use).
RECORD_KEY_ENV = "INTRO2AI_RECORD_KEY"
RECORD_KEY_FILE = REPO / "autograder" / ".record_key"
_key_cache: dict[str, bytes] = {}


def record_key() -> bytes:
    env = os.environ.get(RECORD_KEY_ENV, "").strip()
    if env:
        return env.encode()
    if "file" not in _key_cache:
        try:
            _key_cache["file"] = RECORD_KEY_FILE.read_bytes().strip()
        except FileNotFoundError:
            value = secrets.token_hex(32).encode()
            try:
                fd = os.open(RECORD_KEY_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as fh:
                    fh.write(value + b"\n")
                _key_cache["file"] = value
            except FileExistsError:
                _key_cache["file"] = RECORD_KEY_FILE.read_bytes().strip()
        if not _key_cache["file"]:
            raise RuntimeError(f"{RECORD_KEY_FILE} is empty: delete it (records are then regraded)")
    return _key_cache["file"]


def _canonical(rec: dict) -> bytes:
    return json.dumps(
        rec,
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
        default=_json_default,
        allow_nan=True,
    ).encode("utf-8")


def _mac(body: bytes) -> str:
    return hmac.new(record_key(), body, hashlib.sha256).hexdigest()


#: Why a stored record is not a grade (shown by ``make export`` and in the batch report).
SUBMISSION_MISSING = "submission missing"
SUBMISSION_CHANGED = "submission changed since grading (run make autograde)"
RECORD_OUTDATED = "record from an older grader version (run make autograde)"


def typed_record(rec: dict) -> results.PipelineRecord:
    """A verified record body as a :class:`~autograder.results.PipelineRecord`;
    ``RecordFormatError`` when it is of another format version or shape."""
    if rec.get("version") != RECORD_VERSION:
        raise results.RecordFormatError(
            f"record format version {rec.get('version')!r:.20}, not {RECORD_VERSION}"
        )
    return results.PipelineRecord.from_dict(rec, "record")


def load_current(course: Path, assignment: str, student: str) -> results.PipelineRecord | None:
    """The stored record of one student, typed, or None when there is none, it fails
    verification or it is of an older format (the student is then graded again)."""
    rec = load_record(course, assignment, student)
    try:
        return None if rec is None else typed_record(rec)
    except results.RecordFormatError:
        return None


def current_records(
    course: Path, assignment: str
) -> tuple[dict[str, results.PipelineRecord], dict[str, str]]:
    """Records that are the grade of the submission now in ``submitted/``, typed, and
    ``{student: why}`` for the others (:data:`SUBMISSION_MISSING`, :data:`SUBMISSION_CHANGED`,
    :data:`RECORD_OUTDATED`): a record outlives a deleted or replaced submission, and must then
    not be exported, fed back or shown as a grade; nor must one of an older format."""
    present, stale = {}, {}
    for student, rec in load_records(course, assignment).items():
        sub = submission_path(Path(course), assignment, student)
        if not sub.is_dir() or sub.is_symlink() or sub.parent.is_symlink():
            stale[student] = SUBMISSION_MISSING
        elif rec.get("digest") and rec["digest"] != digest(sub):
            stale[student] = SUBMISSION_CHANGED
        else:
            try:
                present[student] = typed_record(rec)
            except results.RecordFormatError:
                stale[student] = RECORD_OUTDATED
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


def store_record(course: Path, assignment: str, record: results.PipelineRecord) -> Path:
    """Write one result record atomically, with its MAC (the grading parent alone calls this)."""
    student = ids.validate(record.student)
    rec = json.loads(
        _canonical(record.to_dict())
    )  # plain JSON types, exactly what a reader verifies
    body = _canonical(rec)
    path = record_path(course, assignment, student)
    envelope = {"mac": _mac(body), "record": rec}
    atomic_write(path, json.dumps(envelope, ensure_ascii=False, indent=1))
    return path


def store_report(course: Path, assignment: str, report: dict) -> Path:
    """Write the batch report beside the records (atomically)."""
    path = report_path(course, assignment)
    atomic_write(path, json.dumps(report, ensure_ascii=False, indent=1))
    return path
