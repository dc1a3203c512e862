"""``make collect``: LMS downloads into ``submitted/<id>/<assignment>/``, through one safe routine.

What the LMS gives, and what the kit reads from it
--------------------------------------------------
``source`` is an LMS bulk download (a zip holding one archive per student), a folder of such
archives, or one student's archive. Each per-student archive is named by the LMS
``<student_id>_<anything>.zip`` (``.tar``, ``.tar.gz`` and ``.tgz`` are read too): the LMS puts
the id of the account that uploaded it first, and the rest is the student's own file name.

- **The student id** comes only from that top-level name, matched from its first character to
  the first ``_`` (:data:`LMS_NAME`, anchored at both ends) and then validated by
  :mod:`autograder.ids`. Nothing inside an archive (folder names, file names, the manifest) is
  ever read as an id, and no name from an archive ever becomes a path: the kit writes only its own
  fixed file names (:data:`GRADED_FILES`). An id with ``_`` cannot come from an LMS name.
- **The LMS time** of an archive is the modification time the LMS stored for it: the entry's
  date and time in the bulk zip (the upload time; LMS local time, 2 s resolution), or the file's
  modification time for an archive given as a file (``unzip`` restores it from that same entry;
  copy downloads with ``cp -p``). It is written to ``timestamp.txt`` in the submission folder,
  the file nbgrader itself reads as the submission time. A file time outside the years a zip
  entry can hold (:data:`LMS_YEARS`) is no LMS time: that archive is refused.
- **Ids that differ only in case** (``A1`` and ``a1``, or ``a1`` when ``A1`` is collected) are
  one folder on a case-insensitive disk: their archives are refused, the folder is untouched.
- **Two archives for one id**: the newest is collected and each other one is reported as
  superseded. Two with the same newest time are all refused (no rule could pick one). An id
  already under ``submitted/`` is replaced only by a strictly newer archive (reported), never
  by an older one, and never when the folder there was not made by collect.

Extraction (:func:`extract`)
----------------------------
Per archive: at most :data:`Limits` entries, bytes and depth; the archive is refused when any
entry is not a regular file or a folder (symlink, hard link, device, FIFO), is encrypted, is
itself an archive, has an absolute name or a ``..`` component, or when two entries normalise to
the same name. Only the graded files are written, read with a byte cap (a zip bomb stops at the
cap, whatever its header says), as mode 0644 files in 0755 folders: the archive's mode bits are
never applied, so no setuid, setgid or executable file comes out of it. The student's folder is
built beside ``submitted/`` and moved into place with one rename, so a refused or interrupted
archive leaves nothing behind.

A bad archive is its student's error: every archive gets a row in the end-of-run table
(collected, unchanged, replaced, superseded, refused and why) and the others are collected.

Why not ``nbgrader zip_collect``
--------------------------------
zip_collect extracts with the archive's own names and modes and no size caps, reads the id with
a regular expression over the *extracted* paths (so a folder inside one student's zip can name
another student), flattens archive names (a second upload of the same name replaces the first)
and stops the whole class at the first duplicate id. After the safe extraction above there is
nothing left for it to do: the files are already in the ``submitted/<id>/<assignment>/`` layout
with nbgrader's ``timestamp.txt``, which is what ``nbgrader autograde`` reads. The rest of the
bookkeeping (autograde, gradebook, feedback, export) stays with real nbgrader.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import gzip
import io
import os
import re
import shutil
import stat
import sys
import tarfile
import tempfile
import unicodedata
import zipfile
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import BinaryIO

from autograder import ids, records

DEFAULT_COURSE = records.DEFAULT_COURSE
DEFAULT_ASSIGNMENT = records.DEFAULT_ASSIGNMENT

#: The files of a submission that are graded; nothing else is extracted. Paths are relative to
#: the folder that holds them inside the archive (the archive root, or one folder such as hw5/).
GRADED_FILES = {"hw5": ("hw5.ipynb", "intro2ai/layers.py", "intro2ai/classifiers/cnn.py")}
ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz")
#: LMS archive name: ``<student_id>_<anything>.<archive suffix>``, matched as a whole.
LMS_NAME = re.compile(
    r"(?P<student_id>[^_]*)_(?P<rest>.*?)(?P<suffix>\.zip|\.tar|\.tar\.gz|\.tgz)",
    re.IGNORECASE | re.DOTALL,
)
TIMESTAMP_FILE = "timestamp.txt"
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"


@dataclasses.dataclass(frozen=True)
class Limits:
    """Caps of one collect run; every one is checked before the bytes it counts are written."""

    archive_bytes: int = 64 * 1024**2  # one student's archive, as stored in the download
    entries: int = 2000  # entries (files and folders) in one student's archive
    file_bytes: int = 16 * 1024**2  # one graded file, uncompressed
    total_bytes: int = 32 * 1024**2  # all graded files of one archive, uncompressed
    scanned_bytes: int = 256 * 1024**2  # uncompressed stream of a .tar.gz read to list its entries
    depth: int = 12  # path components of one entry name
    bulk_entries: int = 50_000  # entries in a bulk download


class Refused(Exception):
    """An archive that is not collected; the message (English, for instructors) says why."""


@dataclasses.dataclass
class Archive:
    """One per-student archive found in the source, before extraction."""

    name: str  # as the LMS named it (entry name in the bulk zip, or file name)
    mtime: dt.datetime | None
    open: Callable[[], BinaryIO]  # a fresh binary stream of the archive's bytes
    size: int  # bytes as stored (declared by the bulk zip or the file system)


@dataclasses.dataclass
class Row:
    """One line of the end-of-run table."""

    archive: str
    student: str  # "" when no valid id could be read
    status: str  # collected | unchanged | replaced | superseded | refused | ignored
    detail: str = ""


# --------------------------------------------------------------------------- names


def student_id(archive_name: str) -> str:
    """The validated student id of an LMS archive name; raise :class:`Refused` otherwise."""
    m = LMS_NAME.fullmatch(archive_name)
    if not m:
        raise Refused(f"name is not <student_id>_<anything>{'|'.join(ARCHIVE_SUFFIXES)}")
    if "/" in m.group("rest"):  # e.g. "hw5_all/2026_x.zip": the id would be "hw5"
        raise Refused(
            "in a folder of the download, not at its top: unpack the download and "
            "collect the folder that holds the student archives"
        )
    why = ids.problem(m.group("student_id"))
    if why:
        raise Refused(why)
    return m.group("student_id")


def normalise(name: str, limits: Limits) -> str | None:
    """An archive entry name as a relative POSIX path ("" for the root); refuse hostile names."""
    name = unicodedata.normalize("NFC", name.replace("\\", "/"))
    if "\x00" in name or any(ord(ch) < 32 for ch in name):
        raise Refused(f"entry {name!r} has control characters in its name")
    if name.startswith("/") or re.match(r"[A-Za-z]:", name):
        raise Refused(f"entry {name!r} has an absolute path")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise Refused(f"entry {name!r} climbs out with '..'")
    if len(parts) > limits.depth:
        raise Refused(f"entry {name!r} is {len(parts)} folders deep (at most {limits.depth})")
    return "/".join(parts)


def _is_archive_name(name: str) -> bool:
    low = name.lower()
    return low.endswith(ARCHIVE_SUFFIXES + (".gz", ".bz2", ".xz", ".7z", ".rar", ".jar", ".whl"))


# --------------------------------------------------------------------------- reading archives


class _Capped(io.RawIOBase):
    """A read-only stream that raises :class:`Refused` once more than ``cap`` bytes came out."""

    def __init__(self, raw: BinaryIO, cap: int, what: str):
        self.raw, self.cap, self.what, self.seen = raw, cap, what, 0

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        data = self.raw.read(len(b))
        self.seen += len(data)
        if self.seen > self.cap:
            raise Refused(f"{self.what} is larger than {self.cap} bytes")
        b[: len(data)] = data
        return len(data)


def _read_capped(stream: BinaryIO, cap: int, what: str) -> bytes:
    data = stream.read(cap + 1)
    if len(data) > cap:
        raise Refused(f"{what} is larger than {cap} bytes")
    return data


@dataclasses.dataclass
class _Entry:
    name: str  # normalised
    kind: str  # file | dir
    size: int  # declared uncompressed size
    read: Callable[[int], bytes]  # read the whole file, at most ``cap`` bytes


def _zip_entries(path: Path, limits: Limits) -> list[_Entry]:
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise Refused(f"not a readable zip ({exc})") from None
    infos = zf.infolist()
    if len(infos) > limits.entries:
        raise Refused(f"{len(infos)} entries (at most {limits.entries})")
    out = []
    for info in infos:
        name = normalise(info.filename, limits)
        mode = info.external_attr >> 16
        kind = "dir" if info.is_dir() else "file"
        if info.create_system == 3 and stat.S_IFMT(mode) not in (0, stat.S_IFREG, stat.S_IFDIR):
            raise Refused(f"entry {info.filename!r} is not a regular file ({_kind(mode)})")
        if info.flag_bits & 0x1:
            raise Refused(f"entry {info.filename!r} is encrypted")

        def read(cap: int, info=info) -> bytes:
            try:
                with zf.open(info) as f:
                    return _read_capped(f, cap, f"entry {info.filename!r}")
            except (
                zipfile.BadZipFile,
                NotImplementedError,
                OSError,
                EOFError,
                RuntimeError,
                zlib.error,
            ) as exc:
                raise Refused(f"entry {info.filename!r} cannot be read ({exc})") from None

        out.append(_Entry(name, kind, info.file_size, read))
    return out


def _kind(mode: int) -> str:
    for test, label in (
        (stat.S_ISLNK, "symlink"),
        (stat.S_ISCHR, "character device"),
        (stat.S_ISBLK, "block device"),
        (stat.S_ISFIFO, "FIFO"),
        (stat.S_ISSOCK, "socket"),
    ):
        if test(mode):
            return label
    return f"file type {stat.S_IFMT(mode):o}"


def _tar_entries(path: Path, limits: Limits, wanted: Callable[[str], bool]) -> list[_Entry]:
    # Read as a stream through a byte cap: a .tar.gz bomb stops after limits.scanned_bytes.
    raw = open(path, "rb")
    try:
        head = raw.read(2)
        raw.seek(0)
        inner: BinaryIO = gzip.GzipFile(fileobj=raw) if head == b"\x1f\x8b" else raw
        capped = io.BufferedReader(
            _Capped(inner, limits.scanned_bytes, "the uncompressed tar stream")
        )
        out: list[_Entry] = []
        with tarfile.open(fileobj=capped, mode="r|") as tf:
            for n, member in enumerate(tf, 1):
                if n > limits.entries:
                    raise Refused(f"more than {limits.entries} entries")
                name = normalise(member.name, limits)
                if member.islnk():
                    raise Refused(f"entry {member.name!r} is a hard link")
                if member.issym():
                    raise Refused(f"entry {member.name!r} is a symlink")
                if not (member.isreg() or member.isdir()):
                    raise Refused(
                        f"entry {member.name!r} is not a regular file (tar type {member.type!r})"
                    )
                data = b""
                if member.isreg() and member.size <= limits.file_bytes and wanted(name):
                    f = tf.extractfile(member)
                    data = (
                        _read_capped(f, limits.file_bytes, f"entry {member.name!r}") if f else b""
                    )
                out.append(
                    _Entry(
                        name,
                        "dir" if member.isdir() else "file",
                        member.size,
                        lambda cap, data=data, m=member.name: _cap_bytes(data, cap, m),
                    )
                )
        return out
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise Refused(f"not a readable tar archive ({exc})") from None
    finally:
        raw.close()


def _cap_bytes(data: bytes, cap: int, name: str) -> bytes:
    if len(data) > cap:
        raise Refused(f"entry {name!r} is larger than {cap} bytes")
    return data


def extract(
    archive: Path, dest: Path, assignment: str = DEFAULT_ASSIGNMENT, limits: Limits = Limits()
) -> list[str]:
    """Write the graded files of one student's archive into the new folder ``dest``.

    Returns the relative paths written. Raises :class:`Refused` (nothing is left in ``dest``'s
    parent then) when the archive breaks a rule of the module docstring.
    """
    graded = GRADED_FILES[assignment]
    low = archive.name.lower()
    if low.endswith(".zip"):
        entries = _zip_entries(archive, limits)
    else:
        entries = _tar_entries(
            archive, limits, lambda n: any(n == r or n.endswith("/" + r) for r in graded)
        )
    seen: dict[str, str] = {}
    for e in entries:
        key = e.name.casefold()
        if e.kind == "file" and key in seen:
            raise Refused(f"two entries named {e.name!r}")
        seen[key] = e.kind
        if e.kind == "file" and _is_archive_name(e.name):
            raise Refused(f"entry {e.name!r} is an archive inside the archive")
    files = {e.name: e for e in entries if e.kind == "file"}
    roots = set()
    for name in files:
        for rel in graded:
            if name == rel or name.endswith("/" + rel):
                roots.add(name[: len(name) - len(rel)])
    if not roots:
        raise Refused(f"none of {', '.join(graded)} in the archive")
    if len(roots) > 1:
        raise Refused(
            "graded files in more than one folder: "
            + ", ".join(sorted(repr(r.rstrip("/") or ".") for r in roots))
        )
    root = roots.pop()
    chosen = [(rel, files[root + rel]) for rel in graded if root + rel in files]
    total = sum(e.size for _, e in chosen)
    if total > limits.total_bytes:
        raise Refused(f"graded files of {total} bytes (at most {limits.total_bytes})")
    for rel, e in chosen:
        if e.size > limits.file_bytes:
            raise Refused(f"{rel} of {e.size} bytes (at most {limits.file_bytes})")
    dest.mkdir(mode=0o755)
    os.chmod(dest, 0o755)
    written, total = [], 0
    for rel, e in chosen:
        data = e.read(limits.file_bytes)
        total += len(data)
        if total > limits.total_bytes:
            raise Refused(f"graded files larger than {limits.total_bytes} bytes")
        target = dest.joinpath(*rel.split("/"))
        for parent in reversed(target.relative_to(dest).parents[:-1]):
            d = dest / parent
            if not d.exists():
                d.mkdir(mode=0o755)
                os.chmod(d, 0o755)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(target, 0o644)
        written.append(rel)
    return written


# --------------------------------------------------------------------------- finding archives


def _bulk_archives(path: Path, limits: Limits) -> tuple[list[Archive], list[Row]]:
    zf = zipfile.ZipFile(path)
    infos = zf.infolist()
    if len(infos) > limits.bulk_entries:
        raise SystemExit(
            f"{path}: {len(infos)} entries, more than {limits.bulk_entries}: not an LMS download?"
        )
    found, rows = [], []
    for info in infos:
        if info.is_dir():
            continue
        if not _is_archive_name(info.filename):
            rows.append(Row(info.filename, "", "ignored", "not an archive"))
            continue

        def opener(info=info) -> BinaryIO:
            return zf.open(info)

        try:
            when: dt.datetime | None = dt.datetime(*info.date_time)
        except ValueError:  # a date the zip format allows but the calendar does not
            when = None
        found.append(Archive(info.filename, when, opener, info.file_size))
    return found, rows


#: LMS times outside the years a zip entry can hold are not LMS times (a download unpacked
#: from a tar keeps any mtime; year 33658 does not fit a datetime, year 3000 would block every
#: later upload of that student).
LMS_YEARS = (1980, 2107)


def _file_time(mtime: float) -> dt.datetime | None:
    try:
        when = dt.datetime.fromtimestamp(mtime).replace(microsecond=0)
    except (ValueError, OverflowError, OSError):
        return None
    return when if LMS_YEARS[0] <= when.year <= LMS_YEARS[1] else None


def _file_archive(path: Path) -> Archive:
    st = path.stat()
    return Archive(path.name, _file_time(st.st_mtime), lambda: open(path, "rb"), st.st_size)


def find_archives(source: Path, limits: Limits = Limits()) -> tuple[list[Archive], list[Row]]:
    """Per-student archives of ``source`` (bulk zip, folder or one archive), and rows for the rest."""
    source = Path(source)
    if source.is_dir():
        rows = [
            Row(p.name, "", "ignored", "not an archive")
            for p in sorted(source.iterdir())
            if p.is_file() and not _is_archive_name(p.name)
        ]
        return [
            _file_archive(p)
            for p in sorted(source.iterdir())
            if p.is_file() and not p.is_symlink() and _is_archive_name(p.name)
        ], rows
    if not source.is_file():
        raise SystemExit(f"{source}: no such file or folder")
    if source.name.lower().endswith(".zip"):
        try:
            with zipfile.ZipFile(source) as zf:
                bulk = any(_is_archive_name(n) and not n.endswith("/") for n in zf.namelist())
        except zipfile.BadZipFile:
            bulk = False
        if bulk:  # an LMS bulk download: the instructor chose this file, its entries are students'
            return _bulk_archives(source, limits)
    return [_file_archive(source)], []


# --------------------------------------------------------------------------- collect


def read_timestamp(folder: Path) -> dt.datetime | None:
    try:
        text = (folder / TIMESTAMP_FILE).read_text(encoding="ascii").strip()
        return dt.datetime.strptime(text, TIMESTAMP_FORMAT)
    except (OSError, ValueError, UnicodeDecodeError):
        return None


def _same_files(a: Path, b: Path) -> bool:
    def listing(root: Path) -> dict[str, bytes]:
        return {
            p.relative_to(root).as_posix(): p.read_bytes()
            for p in root.rglob("*")
            if p.is_file() and not p.is_symlink()
        }

    return listing(a) == listing(b)


def _stage(arch: Archive, staging: Path, assignment: str, limits: Limits) -> Path:
    """Copy the archive (capped) and extract it into a fresh folder under ``staging``."""
    if arch.size > limits.archive_bytes:
        raise Refused(f"archive of {arch.size} bytes (at most {limits.archive_bytes})")
    work = Path(tempfile.mkdtemp(prefix="arch-", dir=staging))
    suffix = LMS_NAME.fullmatch(arch.name).group("suffix").lower()
    copy = work / f"archive{suffix}"
    try:
        with arch.open() as src, open(copy, "wb") as dst:
            shutil.copyfileobj(
                io.BufferedReader(_Capped(src, limits.archive_bytes, "the archive")), dst
            )
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise Refused(f"cannot be read from the download ({exc})") from None
    out = work / assignment
    extract(copy, out, assignment, limits)
    copy.unlink()
    (out / TIMESTAMP_FILE).write_text(
        arch.mtime.strftime(TIMESTAMP_FORMAT) + "\n", encoding="ascii"
    )
    os.chmod(out / TIMESTAMP_FILE, 0o644)
    return out


def collect_archives(
    archives: Iterable[Archive],
    course: Path,
    assignment: str = DEFAULT_ASSIGNMENT,
    limits: Limits = Limits(),
) -> list[Row]:
    """Collect the archives into ``course/submitted``; one :class:`Row` per archive."""
    course = Path(course).resolve()
    rows: list[Row] = []
    by_id: dict[str, list[Archive]] = {}
    for arch in archives:
        try:
            by_id.setdefault(student_id(arch.name), []).append(arch)
        except Refused as exc:
            rows.append(Row(arch.name, "", "refused", str(exc)))
    submitted = records.submitted_dir(course)
    submitted.mkdir(parents=True, exist_ok=True)
    # Ids that differ only in case are one folder on a case-insensitive disk (macOS, Windows,
    # an SMB share): none of them is collected, and a collected folder is never matched.
    folded: dict[str, set[str]] = {}
    for name in [p.name for p in submitted.iterdir()] + list(by_id):
        folded.setdefault(name.casefold(), set()).add(name)
    for sid in sorted(by_id):
        twins = sorted(folded[sid.casefold()] - {sid})
        if twins:
            why = (
                f"id differs only in case from {', '.join(twins)} (one folder on a "
                f"case-insensitive disk): rename by hand and collect again"
            )
            rows += [Row(a.name, sid, "refused", why) for a in by_id.pop(sid)]
    staging = Path(tempfile.mkdtemp(prefix=".collect-", dir=course))
    try:
        for sid in sorted(by_id):
            group = sorted(
                by_id[sid], key=lambda a: (a.mtime or dt.datetime.min, a.name), reverse=True
            )
            newest = group[0]
            ties = [a for a in group if a.mtime == newest.mtime]
            if newest.mtime is None or len(ties) > 1:
                why = (
                    f"{len(ties)} archives with the same LMS time {newest.mtime}: keep the right one "
                    f"and collect again"
                    if newest.mtime
                    else f"no valid LMS time (an impossible date in the download, or a file time "
                    f"outside {LMS_YEARS[0]}-{LMS_YEARS[1]}): set it with touch and collect again"
                )
                rows += [Row(a.name, sid, "refused", why) for a in group]
                continue
            rows += [
                Row(
                    a.name,
                    sid,
                    "superseded",
                    f"older than {_printable(newest.name, 10**4)} ({newest.mtime})",
                )
                for a in group[1:]
            ]
            try:
                rows.append(_collect_one(newest, sid, submitted, staging, assignment, limits))
            except OSError as exc:  # this student's folder, not the class
                rows.append(Row(newest.name, sid, "refused", f"cannot be written ({exc})"))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return rows


def _collect_one(
    arch: Archive, sid: str, submitted: Path, staging: Path, assignment: str, limits: Limits
) -> Row:
    try:
        built = _stage(arch, staging, assignment, limits)
    except Refused as exc:
        return Row(arch.name, sid, "refused", str(exc))
    dest = records.submission_path(submitted.parent, assignment, sid)  # validates the id again
    if dest.is_symlink() or dest.parent.is_symlink():
        return Row(arch.name, sid, "refused", f"{dest} is a symlink; not touched")
    if dest.exists():
        old = read_timestamp(dest)
        if old is None:
            return Row(
                arch.name,
                sid,
                "refused",
                f"{dest} exists and was not made by collect "
                f"(no {TIMESTAMP_FILE}); move it away to collect",
            )
        if _same_files(built, dest):
            return Row(arch.name, sid, "unchanged", f"LMS time {arch.mtime}")
        if arch.mtime <= old:
            return Row(
                arch.name,
                sid,
                "refused",
                f"not newer than the collected submission of {old}; not replaced",
            )
        trash = Path(tempfile.mkdtemp(prefix="old-", dir=staging))
        os.rename(dest, trash / assignment)
        os.rename(built, dest)
        return Row(arch.name, sid, "replaced", f"LMS time {arch.mtime} replaces {old}")
    dest.parent.mkdir(mode=0o755, exist_ok=True)
    os.rename(built, dest)
    return Row(arch.name, sid, "collected", f"LMS time {arch.mtime}")


def format_rows(rows: list[Row]) -> str:
    order = {
        "refused": 0,
        "superseded": 1,
        "replaced": 2,
        "collected": 3,
        "unchanged": 4,
        "ignored": 5,
    }
    rows = sorted(rows, key=lambda r: (order.get(r.status, 9), r.student, r.archive))
    cells = [["status", "student", "archive", "detail"]]
    cells += [
        [r.status, r.student or "-", _printable(r.archive), _printable(r.detail, 10**4)]
        for r in rows
    ]
    widths = [max(len(c[i]) for c in cells) for i in range(3)]
    lines = [
        "  ".join(
            [c[0].ljust(widths[0]), c[1].ljust(widths[1]), c[2].ljust(widths[2]), c[3]]
        ).rstrip()
        for c in cells
    ]
    lines.insert(1, "-" * len(lines[0]))
    counts = {s: sum(r.status == s for r in rows) for s in order}
    lines.append(", ".join(f"{n} {s}" for s, n in counts.items() if n))
    return "\n".join(lines)


def _printable(name: str, width: int = 60) -> str:
    name = name.encode("unicode_escape").decode("ascii") if not name.isprintable() else name
    return name if len(name) <= width else name[: width - 3] + "..."


def collect(
    source: Path,
    course: Path = DEFAULT_COURSE,
    assignment: str = DEFAULT_ASSIGNMENT,
    limits: Limits = Limits(),
) -> int:
    """Collect ``source`` into ``course``, print the table; 0 when nothing was refused, else 1."""
    archives, rows = find_archives(Path(source), limits)
    if not archives and not rows:
        raise SystemExit(f"no student archives in {source}")
    rows += collect_archives(archives, course, assignment, limits)
    print(format_rows(rows))
    print(f"submissions in {Path(course).resolve() / 'submitted'}")
    return 1 if any(r.status == "refused" for r in rows) else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m autograder.collect", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "source", type=Path, help="LMS bulk download, a folder of archives, or one archive"
    )
    parser.add_argument("--course-dir", type=Path, default=DEFAULT_COURSE)
    parser.add_argument("--assignment", default=DEFAULT_ASSIGNMENT, choices=sorted(GRADED_FILES))
    args = parser.parse_args(argv)
    return collect(args.source, args.course_dir, args.assignment)


if __name__ == "__main__":
    sys.exit(main())
