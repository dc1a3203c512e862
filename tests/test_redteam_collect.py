"""Red team of ``make collect``: archive names, times and ids a hostile student or a careless
download can produce. Each test asserts outcomes: the run finishes, the others are collected
and their folders keep their bytes, the hostile archive gets a refused row with a reason."""

from __future__ import annotations

import hashlib
import io
import os
import struct
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from autograder import collect

REPO = Path(__file__).resolve().parents[1]
GRADED = collect.GRADED_FILES["hw5"]


def files_of(tag: str) -> dict[str, bytes]:
    return {
        "hw5.ipynb": b'{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}',
        "intro2ai/layers.py": f"# layers of {tag}\n".encode(),
        "intro2ai/classifiers/cnn.py": f"# cnn of {tag}\n".encode(),
    }


def student_zip(tag: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for rel, data in files_of(tag).items():
            zf.writestr(rel, data)
    return buf.getvalue()


def folder_hashes(root: Path) -> dict[str, str]:
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file():
            out[p.relative_to(root).as_posix()] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def write_archive(folder: Path, name: str | bytes, data: bytes, mtime: float) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = os.path.join(os.fsencode(folder), name if isinstance(name, bytes) else name.encode())
    with open(path, "wb") as f:
        f.write(data)
    os.utime(path, (mtime, mtime))
    return Path(os.fsdecode(path))


def run_cli(src: Path, course: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONIOENCODING="utf-8")  # strict: an unprintable name must not crash
    return subprocess.run(
        [sys.executable, "-m", "autograder.collect", str(src), "--course-dir", str(course)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=120,
    )


@pytest.mark.parametrize("mtime", [1e12, -1e12, -30e9])  # years 33658, -29719 and 1019
def test_a_file_time_out_of_range_refuses_that_archive_not_the_class(tmp_path, mtime):
    """A download unpacked from a tar keeps any mtime; the calendar cannot hold every one."""
    src = tmp_path / "lms"
    write_archive(src, "20260001_hw5.zip", student_zip("ok"), 1_765_000_000)
    write_archive(src, "20260002_hw5.zip", student_zip("odd time"), mtime)
    course = tmp_path / "course"
    proc = run_cli(src, course)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 1
    assert (
        course / "submitted/20260001/hw5/intro2ai/layers.py"
    ).read_bytes() == b"# layers of ok\n"
    assert not (course / "submitted/20260002").exists()
    row = next(line for line in proc.stdout.splitlines() if "20260002_hw5.zip" in line)
    assert row.startswith("refused") and "time" in row


@pytest.mark.parametrize(
    "name",
    [
        "20260001_late\nrefused   20260002  20260002_hw5.zip  forged row.zip",
        b"20260001_\xff\xfe late.zip",  # not UTF-8: the name reaches Python with surrogates
    ],
)
def test_an_unprintable_newest_name_neither_crashes_nor_forges_the_table(tmp_path, name):
    src = tmp_path / "lms"
    write_archive(src, "20260001_first.zip", student_zip("first"), 1_765_000_000)
    write_archive(src, name, student_zip("second"), 1_765_000_100)
    write_archive(src, "20260002_hw5.zip", student_zip("other"), 1_765_000_000)
    course = tmp_path / "course"
    proc = run_cli(src, course)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 0, proc.stdout
    lines = proc.stdout.splitlines()
    table = lines[
        2 : lines.index(next(line for line in lines if line[0].isdigit() and " collected" in line))
    ]
    assert len(table) == 3, lines  # superseded, collected 20260001, collected 20260002
    assert sorted(line.split()[0] for line in table) == ["collected", "collected", "superseded"]
    assert (
        course / "submitted/20260001/hw5/intro2ai/layers.py"
    ).read_bytes() == b"# layers of second\n"
    assert (
        course / "submitted/20260002/hw5/intro2ai/layers.py"
    ).read_bytes() == b"# layers of other\n"


def test_ids_that_differ_only_in_case_are_refused_not_merged(tmp_path):
    """A1 and a1 are one folder on a case-insensitive disk (macOS, Windows, an SMB share)."""
    src = tmp_path / "lms"
    write_archive(src, "A1_hw5.zip", student_zip("upper"), 1_765_000_000)
    write_archive(src, "a1_hw5.zip", student_zip("lower"), 1_765_000_100)
    write_archive(src, "20260002_hw5.zip", student_zip("other"), 1_765_000_000)
    course = tmp_path / "course"
    rows = collect.collect_archives(collect.find_archives(src)[0], course)
    status = {r.archive: (r.status, r.detail) for r in rows}
    assert status["20260002_hw5.zip"][0] == "collected"
    for name in ("A1_hw5.zip", "a1_hw5.zip"):
        assert status[name][0] == "refused" and "case" in status[name][1], status
    assert sorted(p.name for p in (course / "submitted").iterdir()) == ["20260002"]


def test_an_id_that_differs_only_in_case_from_a_collected_one_leaves_it_alone(tmp_path):
    course = tmp_path / "course"
    first = tmp_path / "first"
    write_archive(first, "Kim01_hw5.zip", student_zip("kim"), 1_765_000_000)
    assert [
        r.status for r in collect.collect_archives(collect.find_archives(first)[0], course)
    ] == ["collected"]
    before = folder_hashes(course / "submitted")
    second = tmp_path / "second"
    write_archive(second, "kim01_hw5.zip", student_zip("intruder"), 1_765_000_500)
    rows = collect.collect_archives(collect.find_archives(second)[0], course)
    assert [(r.status, "case" in r.detail) for r in rows] == [("refused", True)]
    assert folder_hashes(course / "submitted") == before
    assert sorted(p.name for p in (course / "submitted").iterdir()) == ["Kim01"]


def _patch_central_size(data: bytes, name: bytes, size: int) -> bytes:
    """Set the uncompressed size of ``name`` in the central directory (the local header keeps
    the true one): the ZIP size lie."""
    i = data.index(b"PK\x01\x02" + data[data.index(b"PK\x01\x02") + 4 :][:0])
    while True:
        i = data.index(b"PK\x01\x02", i)
        n = struct.unpack("<H", data[i + 28 : i + 30])[0]
        if data[i + 46 : i + 46 + n] == name:
            return data[: i + 24] + struct.pack("<I", size) + data[i + 28 :]
        i += 4


@pytest.mark.parametrize("size", [3, 2**32 - 1])
def test_a_size_lie_in_the_zip_directory_refuses_the_archive(tmp_path, size):
    src = tmp_path / "lms"
    write_archive(src, "20260001_hw5.zip", student_zip("ok"), 1_765_000_000)
    lie = _patch_central_size(student_zip("liar"), b"intro2ai/layers.py", size)
    write_archive(src, "20260002_hw5.zip", lie, 1_765_000_000)
    course = tmp_path / "course"
    rows = {r.archive: r for r in collect.collect_archives(collect.find_archives(src)[0], course)}
    assert rows["20260001_hw5.zip"].status == "collected"
    assert rows["20260002_hw5.zip"].status == "refused", rows
    assert not (course / "submitted/20260002").exists()


def test_pax_headers_cannot_rename_an_entry_out_or_twice(tmp_path):
    def tar_with(pax_path: str) -> bytes:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
            for rel, data in files_of("pax").items():
                info = tarfile.TarInfo(rel)
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
            info = tarfile.TarInfo("notes.txt")
            info.pax_headers = {"path": pax_path}
            info.size = 4
            tf.addfile(info, io.BytesIO(b"evil"))
        return buf.getvalue()

    src = tmp_path / "lms"
    write_archive(
        src, "20260001_hw5.tar", tar_with("../../../20260002/hw5/intro2ai/layers.py"), 1_765_000_000
    )
    write_archive(src, "20260003_hw5.tar", tar_with("intro2ai/layers.py"), 1_765_000_000)
    write_archive(src, "20260002_hw5.zip", student_zip("victim"), 1_765_000_000)
    course = tmp_path / "course"
    rows = {r.archive: r for r in collect.collect_archives(collect.find_archives(src)[0], course)}
    assert rows["20260001_hw5.tar"].status == "refused" and ".." in rows["20260001_hw5.tar"].detail
    assert (
        rows["20260003_hw5.tar"].status == "refused"
        and "two entries" in rows["20260003_hw5.tar"].detail
    )
    assert (
        course / "submitted/20260002/hw5/intro2ai/layers.py"
    ).read_bytes() == b"# layers of victim\n"
    assert sorted(p.name for p in (course / "submitted").iterdir()) == ["20260002"]
