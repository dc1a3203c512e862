"""``make collect`` against hostile LMS downloads, built here byte by byte.

Every hostile case is collected beside a class of honest students collected before it, and
asserts outcomes: the honest students' folders are byte-identical (SHA-256) afterwards, the
rest of the class is collected, no file or folder under the course has a mode beyond 0755, the
course stays small on disk, and the hostile archive has a row saying why it was refused.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import stat
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from autograder import collect

REPO = Path(__file__).resolve().parents[1]
GRADED = collect.GRADED_FILES["hw5"]
CLASS = ["20260001", "20260002", "s-kim", "20260004"]
T0 = (2026, 12, 1, 10, 0, 0)
T1 = (2026, 12, 2, 10, 0, 0)
#: Bytes the course may hold after any case: 4 honest students of ~100 bytes each and a few
#: hostile ones at most (a zip bomb that got through would be 1 GiB).
COURSE_BOUND = 64 * 1024


def files_of(tag: str) -> dict[str, bytes]:
    nb = {
        "cells": [
            {
                "cell_type": "code",
                "source": f"# {tag}",
                "metadata": {},
                "outputs": [],
                "execution_count": None,
            }
        ],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    return {
        "hw5.ipynb": json.dumps(nb).encode(),
        "intro2ai/layers.py": f"# layers of {tag}\n".encode(),
        "intro2ai/classifiers/cnn.py": f"# cnn of {tag}\n".encode(),
    }


def zip_bytes(
    entries: list[tuple[str, bytes] | zipfile.ZipInfo | tuple[zipfile.ZipInfo, bytes]],
) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for e in entries:
            info, data = e if isinstance(e, tuple) else (e, b"")
            zf.writestr(info, data)
    return buf.getvalue()


def student_zip(tag: str, prefix: str = "", extra: list | None = None) -> bytes:
    return zip_bytes([(prefix + rel, data) for rel, data in files_of(tag).items()] + (extra or []))


def tar_bytes(members: list[tuple[tarfile.TarInfo, bytes | None]], gz: bool = False) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz" if gz else "w") as tf:
        for info, data in members:
            tf.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def tar_file(name: str, data: bytes, mode: int = 0o644) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), mode
    return info, data


def honest() -> list[tuple[str, bytes, tuple]]:
    return [(f"{sid}_hw5_submission.zip", student_zip(sid), T0) for sid in CLASS]


def bulk(path: Path, entries: list[tuple[str, bytes, tuple]]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        for name, data, when in entries:
            zf.writestr(zipfile.ZipInfo(name, date_time=when), data)
    return path


def tree_hashes(root: Path) -> dict[str, str]:
    """SHA-256 of every student folder under ``root`` (paths, kinds and bytes)."""
    out = {}
    for student in sorted(p for p in root.iterdir()):
        h = hashlib.sha256()
        for p in sorted(student.rglob("*")):
            h.update(p.relative_to(student).as_posix().encode() + b"\0")
            if p.is_file() and not p.is_symlink():
                h.update(p.read_bytes())
        out[student.name] = h.hexdigest()
    return out


def course_bytes(course: Path) -> int:
    return sum(p.lstat().st_size for p in course.rglob("*") if not p.is_dir())


def assert_safe_course(course: Path) -> None:
    for p in [course, *course.rglob("*")]:
        st = p.lstat()
        assert stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode), (
            f"{p} is neither a file nor a folder"
        )
        assert stat.S_IMODE(st.st_mode) & ~0o755 == 0, f"{p} has mode {stat.S_IMODE(st.st_mode):o}"
        if stat.S_ISREG(st.st_mode):
            assert st.st_nlink == 1, f"{p} is hard-linked"
    assert course_bytes(course) < COURSE_BOUND
    assert not [p for p in course.iterdir() if p.name.startswith(".collect-")], (
        "staging left behind"
    )


def run_hostile(
    tmp_path: Path, hostile: list[tuple[str, bytes, tuple]]
) -> tuple[Path, list[collect.Row]]:
    """Collect the class, then the class again with ``hostile`` archives; check the class."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    course = tmp_path / "course"
    first = collect.collect_archives(
        collect.find_archives(bulk(tmp_path / "first.zip", honest()))[0], course
    )
    assert [r.status for r in first] == ["collected"] * len(CLASS)
    before = tree_hashes(course / "submitted")
    archives, rows = collect.find_archives(bulk(tmp_path / "second.zip", honest() + hostile))
    rows += collect.collect_archives(archives, course)
    after = tree_hashes(course / "submitted")
    for sid in CLASS:
        assert after[sid] == before[sid], f"{sid}'s folder changed"
        for rel, data in files_of(sid).items():
            assert (course / "submitted" / sid / "hw5" / rel).read_bytes() == data
    assert {r.student: r.status for r in rows if r.student in CLASS} == dict.fromkeys(
        CLASS, "unchanged"
    )
    assert_safe_course(course)
    return course, [r for r in rows if r.student not in CLASS]


def only_row(rows: list[collect.Row]) -> collect.Row:
    assert len(rows) == 1, rows
    return rows[0]


# --------------------------------------------------------------------------- ids from names


@pytest.mark.parametrize(
    "name, why",
    [
        ("1" * 65 + "_hw5.zip", "65 characters"),
        ("CON_hw5.zip", "reserved"),
        ("nul_hw5.zip", "reserved"),
        (".._hw5.zip", "characters outside"),
        ("a/b_hw5.zip", "characters outside"),
        ("../20260001_hw5.zip", "characters outside"),
        ("/20260001_hw5.zip", "characters outside"),
        ("김민지_hw5.zip", "characters outside"),
        ("é_hw5.zip", "characters outside"),
        ("２０２６０００１_hw5.zip", "characters outside"),  # full-width digits
        ("_hw5.zip", "characters outside"),
        ("20260001.zip", "not <student_id>_"),
        ("hw5_all/20260001_hw5.zip", "in a folder"),  # would read "hw5" as the id
    ],
)
def test_bad_ids_are_refused_and_the_class_is_collected(tmp_path, name, why):
    course, rows = run_hostile(tmp_path, [(name, student_zip("intruder"), T1)])
    row = only_row(rows)
    assert row.status == "refused" and why in row.detail, row
    assert sorted(p.name for p in (course / "submitted").iterdir()) == sorted(CLASS)


def test_a_student_named_report_is_a_student(tmp_path):
    # The kit's own files are named so that no id can collide with them (autograder.ids).
    course, rows = run_hostile(tmp_path, [("report_hw5.zip", student_zip("report"), T1)])
    assert only_row(rows).status == "collected"
    assert (
        course / "submitted/report/hw5/intro2ai/layers.py"
    ).read_bytes() == b"# layers of report\n"


def test_a_folder_named_for_another_student_inside_a_zip_is_not_that_student(tmp_path):
    # Graded files at the root and under <victim>_x/: ambiguous, refused.
    both = student_zip(
        "attacker",
        extra=[(f"{CLASS[0]}_x/{rel}", data) for rel, data in files_of("forged").items()],
    )
    _, rows = run_hostile(tmp_path / "a", [("20269999_hw5.zip", both, T1)])
    assert only_row(rows).status == "refused" and "more than one folder" in rows[0].detail
    # Only the nested folder: it is the attacker's own submission, never the victim's.
    course, rows = run_hostile(
        tmp_path / "b", [("20269999_hw5.zip", student_zip("forged", f"{CLASS[0]}_x/"), T1)]
    )
    assert only_row(rows).status == "collected"
    assert (
        course / "submitted/20269999/hw5/intro2ai/layers.py"
    ).read_bytes() == b"# layers of forged\n"


def test_same_archive_name_in_a_subfolder_cannot_replace_the_victim(tmp_path):
    _, rows = run_hostile(
        tmp_path, [(f"attacker/{CLASS[0]}_hw5_submission.zip", student_zip("forged"), T1)]
    )
    assert only_row(rows).status == "refused"


@pytest.mark.filterwarnings("ignore:Duplicate name")
def test_duplicate_entries_inside_one_archive_are_refused(tmp_path):
    dup = student_zip("x", extra=[("intro2ai/layers.py", b"# second copy\n")])
    _, rows = run_hostile(tmp_path, [("20269999_hw5.zip", dup, T1)])
    assert only_row(rows).status == "refused" and "two entries" in rows[0].detail


def test_two_archives_for_one_id_keep_the_newest_by_lms_time(tmp_path):
    course, rows = run_hostile(
        tmp_path,
        [
            ("20269999_first.zip", student_zip("old"), T0),
            ("20269999_second.zip", student_zip("new"), T1),
        ],
    )
    status = {r.archive: r.status for r in rows}
    assert status == {"20269999_first.zip": "superseded", "20269999_second.zip": "collected"}
    sub = course / "submitted/20269999/hw5"
    assert (sub / "intro2ai/layers.py").read_bytes() == b"# layers of new\n"
    assert (sub / "timestamp.txt").read_text().strip() == "2026-12-02 10:00:00"
    from nbgrader.utils import parse_utc  # what nbgrader autograde reads it with

    assert parse_utc((sub / "timestamp.txt").read_text().strip()).replace(
        tzinfo=None
    ) == collect.dt.datetime(*T1)


@pytest.mark.filterwarnings("ignore:Duplicate name")
def test_two_archives_for_one_id_with_the_same_time_are_both_refused(tmp_path):
    # Also the same entry name twice in the bulk zip: the zip format allows it.
    course, rows = run_hostile(
        tmp_path,
        [("20269999_hw5.zip", student_zip("a"), T1), ("20269999_hw5.zip", student_zip("b"), T1)],
    )
    assert [r.status for r in rows] == ["refused", "refused"] and "same LMS time" in rows[0].detail
    assert not (course / "submitted/20269999").exists()


def test_a_later_collect_replaces_only_with_a_newer_archive(tmp_path):
    course = tmp_path / "course"
    sid = "20269999"

    def run(tag, when):
        src = bulk(tmp_path / f"{tag}.zip", [(f"{sid}_hw5.zip", student_zip(tag), when)])
        return only_row(collect.collect_archives(collect.find_archives(src)[0], course))

    assert run("new", T1).status == "collected"
    older = run("old", T0)
    assert older.status == "refused" and "not newer" in older.detail
    assert (course / f"submitted/{sid}/hw5/intro2ai/layers.py").read_bytes() == b"# layers of new\n"
    assert run("new", T1).status == "unchanged"
    assert run("newer", (2026, 12, 3, 0, 0, 0)).status == "replaced"
    assert (
        course / f"submitted/{sid}/hw5/intro2ai/layers.py"
    ).read_bytes() == b"# layers of newer\n"


def test_a_folder_not_made_by_collect_is_never_overwritten(tmp_path):
    course = tmp_path / "course"
    hand = course / "submitted/20269999/hw5"
    hand.mkdir(parents=True)
    (hand / "hw5.ipynb").write_text("placed by hand")
    src = bulk(tmp_path / "b.zip", [("20269999_hw5.zip", student_zip("x"), T1)])
    row = only_row(collect.collect_archives(collect.find_archives(src)[0], course))
    assert row.status == "refused" and "not made by collect" in row.detail
    assert (hand / "hw5.ipynb").read_text() == "placed by hand"


# --------------------------------------------------------------------------- entries


def _zinfo(name: str, mode: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=T0)
    info.create_system = 3
    info.external_attr = mode << 16
    return info


def test_setuid_and_setgid_bits_are_never_applied(tmp_path):
    files = files_of("suid")
    z = zip_bytes(
        [
            (_zinfo("hw5.ipynb", stat.S_IFREG | 0o6777), files["hw5.ipynb"]),
            (_zinfo("intro2ai/", stat.S_IFDIR | 0o7777), b""),
            (_zinfo("intro2ai/layers.py", stat.S_IFREG | 0o4755), files["intro2ai/layers.py"]),
        ]
    )
    t = tar_bytes(
        [
            tar_file("hw5.ipynb", files["hw5.ipynb"], 0o6755),
            tar_file("intro2ai/classifiers/cnn.py", files["intro2ai/classifiers/cnn.py"], 0o4777),
        ]
    )
    course, rows = run_hostile(tmp_path, [("20269998_hw5.zip", z, T1), ("20269999_hw5.tar", t, T1)])
    assert [r.status for r in rows] == ["collected", "collected"]
    for sid in ("20269998", "20269999"):
        for p in (course / "submitted" / sid).rglob("*"):
            assert stat.S_IMODE(p.stat().st_mode) in (0o644, 0o755)


@pytest.mark.parametrize(
    "kind", ["zip symlink", "tar symlink", "tar hard link", "zip fifo", "tar device"]
)
def test_links_and_special_files_refuse_the_archive(tmp_path, kind):
    files = files_of("links")
    if kind.startswith("zip"):
        mode = stat.S_IFLNK | 0o777 if "symlink" in kind else stat.S_IFIFO | 0o644
        z = zip_bytes(
            [
                ("hw5.ipynb", files["hw5.ipynb"]),
                (_zinfo("intro2ai/layers.py", mode), f"{REPO}/intro2ai/layers.py".encode()),
            ]
        )
        name = "20269999_hw5.zip"
    else:
        link = tarfile.TarInfo("intro2ai/layers.py")
        link.type = {
            "tar symlink": tarfile.SYMTYPE,
            "tar hard link": tarfile.LNKTYPE,
            "tar device": tarfile.CHRTYPE,
        }[kind]
        link.linkname = "hw5.ipynb" if "hard" in kind else "/etc/passwd"
        z = tar_bytes([tar_file("hw5.ipynb", files["hw5.ipynb"]), (link, None)], gz=True)
        name = "20269999_hw5.tar.gz"
    course, rows = run_hostile(tmp_path, [(name, z, T1)])
    row = only_row(rows)
    assert row.status == "refused" and "20269999" == row.student, row
    word = {
        "zip symlink": "symlink",
        "tar symlink": "symlink",
        "tar hard link": "hard link",
        "zip fifo": "FIFO",
        "tar device": "not a regular file",
    }[kind]
    assert word in row.detail
    assert not (course / "submitted/20269999").exists()


@pytest.mark.parametrize(
    "name",
    [
        "../../evil.py",
        "/tmp/evil.py",
        "intro2ai/../../evil.py",
        "C:/evil.py",
        "a/" * 20 + "hw5.ipynb",
    ],
)
def test_hostile_entry_names_refuse_the_archive(tmp_path, name):
    _, rows = run_hostile(
        tmp_path, [("20269999_hw5.zip", student_zip("x", extra=[(name, b"x")]), T1)]
    )
    assert only_row(rows).status == "refused"
    assert not (tmp_path / "evil.py").exists() and not Path("/tmp/evil.py").exists()


def test_nested_archive_refuses_the_archive(tmp_path):
    inner = student_zip(CLASS[0])
    _, rows = run_hostile(
        tmp_path,
        [("20269999_hw5.zip", student_zip("x", extra=[(f"{CLASS[0]}_hw5.zip", inner)]), T1)],
    )
    assert only_row(rows).status == "refused" and "archive inside" in rows[0].detail


def _zip_bomb(
    path: Path, zip64: bool = True, name: str = "hw5.ipynb", graded: bool = False
) -> Path:
    """128 MiB of zeros (four times the cap on graded bytes) as ``name``, about 128 KB
    compressed, written in chunks."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        if graded:
            for rel, data in files_of("bomber").items():
                zf.writestr(rel, data)
        info = zipfile.ZipInfo(name, date_time=T0)
        info.compress_type = zipfile.ZIP_DEFLATED
        with zf.open(info, "w", force_zip64=zip64) as f:
            chunk = bytes(1 << 20)
            for _ in range(128):
                f.write(chunk)
    return path


def _lie_about_size(data: bytes, size: int) -> bytes:
    """Write ``size`` as the uncompressed size in the local header and the central directory."""
    data = bytearray(data)
    local, central = data.index(b"PK\x03\x04"), data.index(b"PK\x01\x02")
    data[local + 22 : local + 26] = size.to_bytes(4, "little")
    data[central + 24 : central + 28] = size.to_bytes(4, "little")
    return bytes(data)


@pytest.mark.slow
@pytest.mark.parametrize("header", ["true size", "lying size"])
def test_zip_bomb_is_refused_without_filling_the_disk(tmp_path, header):
    if header == "true size":
        bomb = _zip_bomb(tmp_path / "bomb.zip").read_bytes()
    else:  # the header says 1000 bytes: reading stops there and the CRC gives it away
        bomb = _lie_about_size(_zip_bomb(tmp_path / "bomb.zip", zip64=False).read_bytes(), 1000)
        assert zipfile.ZipFile(io.BytesIO(bomb)).getinfo("hw5.ipynb").file_size == 1000
    assert len(bomb) < 2 * 1024**2
    course, rows = run_hostile(tmp_path, [("20269999_hw5.zip", bomb, T1)])
    row = only_row(rows)
    assert row.status == "refused", row
    assert ("at most" if header == "true size" else "Bad CRC") in row.detail


@pytest.mark.slow
def test_a_bomb_beside_the_graded_files_is_never_extracted(tmp_path):
    # Only graded files are read: the 128 MiB entry is neither extracted nor decompressed.
    arch = _zip_bomb(tmp_path / "b.zip", name="padding.bin", graded=True).read_bytes()
    assert len(arch) < 2 * 1024**2
    course, rows = run_hostile(tmp_path, [("20269999_hw5.zip", arch, T1)])
    assert only_row(rows).status == "collected"
    assert not list(course.rglob("padding.bin"))


@pytest.mark.slow
def test_tar_gz_bomb_stops_at_the_scan_cap(tmp_path):
    import gzip

    raw = io.BytesIO()
    with gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=9) as gzf:
        info = tarfile.TarInfo("padding.bin")
        info.size = 128 * 1024**2  # sixteen times the scan cap below
        gzf.write(info.tobuf(format=tarfile.GNU_FORMAT))
        chunk = bytes(1 << 20)
        for _ in range(128):
            gzf.write(chunk)
    assert len(raw.getvalue()) < 1024**2
    limits = collect.Limits(scanned_bytes=8 * 1024**2)
    course = tmp_path / "course"
    src = bulk(tmp_path / "b.zip", honest() + [("20269999_hw5.tgz", raw.getvalue(), T1)])
    rows = collect.collect_archives(collect.find_archives(src)[0], course, limits=limits)
    bad = [r for r in rows if r.student == "20269999"]
    assert only_row(bad).status == "refused" and "larger than" in bad[0].detail
    assert sorted(p.name for p in (course / "submitted").iterdir()) == sorted(CLASS)
    assert_safe_course(course)


def test_garbage_archive_is_that_students_error(tmp_path):
    _, rows = run_hostile(
        tmp_path,
        [
            ("20269999_hw5.zip", b"PK\x03\x04 not really a zip", T1),
            ("20269998_hw5.tar.gz", b"\x1f\x8b\x08 nor a tar", T1),
        ],
    )
    assert [r.status for r in rows] == ["refused", "refused"]


def test_a_whole_release_folder_zipped_is_collected_and_only_graded_files_kept(tmp_path):
    z = student_zip(
        "folder",
        "hw5/",
        extra=[("hw5/checks/run_checks.py", b"x"), ("hw5/intro2ai/fast_layers.py", b"x")],
    )
    course, rows = run_hostile(tmp_path, [("20269999_x.zip", z, T1)])
    assert only_row(rows).status == "collected"
    got = sorted(
        p.relative_to(course / "submitted/20269999/hw5").as_posix()
        for p in (course / "submitted/20269999/hw5").rglob("*")
        if p.is_file()
    )
    assert got == sorted([*GRADED, "timestamp.txt"])


# --------------------------------------------------------------------------- the command


def test_cli_prints_the_table_and_fails_when_an_archive_is_refused(tmp_path):
    course = tmp_path / "course"
    src = bulk(
        tmp_path / "lms.zip",
        honest() + [("a.b_hw5.zip", student_zip("r"), T1), ("receipt.txt", b"uploaded", T1)],
    )
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "autograder.pipeline",
            "--course-dir",
            str(course),
            "collect",
            str(src),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert proc.returncode == 1, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["status", "student", "archive", "detail"]
    assert any(
        line.startswith("refused") and "a.b_hw5.zip" in line and "outside" in line for line in lines
    )
    assert sum(line.startswith("collected") for line in lines) == len(CLASS)
    assert any(line.startswith("ignored") and "receipt.txt" in line for line in lines)
    assert sorted(p.name for p in (course / "submitted").iterdir()) == sorted(CLASS)


def test_one_student_archive_given_directly_uses_its_file_time(tmp_path):
    course = tmp_path / "course"
    arch = tmp_path / "20261234_hw5_submission.zip"
    arch.write_bytes(student_zip("direct"))
    os.utime(arch, (0, 1_700_000_000))
    assert collect.collect(arch, course) == 0
    sub = course / "submitted/20261234/hw5"
    assert (sub / "intro2ai/layers.py").read_bytes() == b"# layers of direct\n"
    assert (sub / "timestamp.txt").read_text().strip().startswith("2023-11-1")
