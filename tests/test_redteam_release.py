"""Red team of the release leak check: a careless instructor copies a secret into the release.

The hidden cases of the whole course come from one seed, and records are trusted through one
MAC key; either file copied into the release folder, or its value pasted into any file there,
must stop the release."""

from __future__ import annotations

from pathlib import Path

from autograder import cases, records, release

SEED = "course-seed-3141592653"
KEY = "record-key-2718281828"


def _release(tmp_path: Path) -> Path:
    hw5 = tmp_path / "release" / "hw5"
    (hw5 / "intro2ai").mkdir(parents=True)
    (hw5 / "README.md").write_text("# HW5\n")
    return hw5


def test_the_secret_files_are_refused_by_name(tmp_path):
    hw5 = _release(tmp_path)
    (hw5 / ".grader_seed").write_text("1\n")
    (hw5 / "intro2ai" / ".record_key").write_text("2\n")
    problems = release.leak_check(hw5.parent)
    assert any(".grader_seed" in p for p in problems), problems
    assert any(".record_key" in p for p in problems), problems


def test_a_secret_value_anywhere_in_the_release_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv(cases.SEED_ENV, SEED)
    monkeypatch.setenv(records.RECORD_KEY_ENV, KEY)
    hw5 = _release(tmp_path)
    assert release.leak_check(hw5.parent) == []
    (hw5 / "notes.txt").write_text(f"grading: INTRO2AI_GRADER_SEED={SEED}\n")
    (hw5 / "intro2ai" / "chelsea.jpg").write_bytes(b"\xff\xd8\xff" + KEY.encode() + b"\x00\x01")
    problems = release.leak_check(hw5.parent)
    assert any("notes.txt" in p and "seed" in p for p in problems), problems
    assert any("chelsea.jpg" in p and "MAC key" in p for p in problems), problems
