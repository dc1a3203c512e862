"""Result records are the grading parent's alone: written with a MAC, verified when read.

Each attack writes a file into the record folder the way a process other than the grading
parent could, and checks the outcome: the forged grade is never loaded, exported or kept.
"""

import json
import os

import pytest

from autograder import export, records
from autograder.results import PipelineRecord


def _record(student, total=35.0):
    """A record as a dict (what a record file holds); ``PipelineRecord.from_dict`` reads it."""
    return {
        "version": records.RECORD_VERSION,
        "student": student,
        "assignment": "hw5",
        "digest": "d" * 64,
        "grading_key": "k",
        "trusted": {
            "tasks": {
                "hw5_conv_forward": {
                    "points": total,
                    "max_points": 35.0,
                    "status": "pass",
                    "message": "ok",
                }
            },
            "total": total,
            "max_total": 35.0,
        },
        "flags": [],
    }


def _store(course, rec):
    return records.store_record(course, "hw5", PipelineRecord.from_dict(rec))


@pytest.fixture
def course(tmp_path, monkeypatch):
    monkeypatch.setenv(records.RECORD_KEY_ENV, "test-key")
    return tmp_path / "course"


def test_round_trip(course):
    _store(course, _record("kim"))
    assert records.load_record(course, "hw5", "kim")["trusted"]["total"] == 35.0
    assert set(records.load_records(course, "hw5")) == {"kim"}


def test_forged_plain_json_is_not_loaded(course):
    """The old loader took any JSON with a ``student`` key."""
    _store(course, _record("honest", 10.0))
    path = records.record_path(course, "hw5", "forger")
    path.write_text(json.dumps(_record("forger")))
    assert records.load_record(course, "hw5", "forger") is None
    assert set(records.load_records(course, "hw5")) == {"honest"}
    problems = {s: p for s, r, p in records.scan_records(course, "hw5") if p}
    assert "envelope" in problems["forger"]


def test_edited_score_fails_the_mac(course):
    path = _store(course, _record("kim", 0.0))
    env = json.loads(path.read_text())
    env["record"]["trusted"]["total"] = 35.0
    path.write_text(json.dumps(env))
    assert records.load_record(course, "hw5", "kim") is None


def test_envelope_with_another_key_fails(course, monkeypatch):
    path = _store(course, _record("kim"))
    monkeypatch.setenv(records.RECORD_KEY_ENV, "another-key")
    assert records.load_record(course, "hw5", "kim") is None
    assert path.exists()


def test_record_copied_to_another_student_is_refused(course):
    """A valid record of a strong student, copied under a weak student's name."""
    src = _store(course, _record("strong"))
    _store(course, _record("weak", 0.0))
    records.record_path(course, "hw5", "weak").write_bytes(src.read_bytes())
    assert records.load_record(course, "hw5", "weak") is None
    assert set(records.load_records(course, "hw5")) == {"strong"}


def test_symlinked_record_is_not_followed(course, tmp_path):
    good = _store(course, _record("kim"))
    target = tmp_path / "elsewhere.json"
    target.write_bytes(good.read_bytes())
    good.unlink()
    os.symlink(target, good)
    assert records.load_record(course, "hw5", "kim") is None


@pytest.mark.parametrize(
    "content", [b"[" * 100_000 + b"]" * 100_000, b"\xff\xfe", b"{}", b'{"mac": 1, "record": {}}']
)
def test_malformed_files_are_problems_not_crashes(course, content):
    _store(course, _record("kim"))
    records.record_path(course, "hw5", "bad").write_bytes(content)
    rows = {s: (r, p) for s, r, p in records.scan_records(course, "hw5")}
    assert rows["bad"][0] is None and rows["bad"][1]
    assert rows["kim"][0] is not None


def test_oversized_file_is_not_read(course, monkeypatch):
    monkeypatch.setattr(records, "MAX_RECORD_BYTES", 1000)
    records.record_path(course, "hw5", "big").parent.mkdir(parents=True)
    records.record_path(course, "hw5", "big").write_bytes(b" " * 5000)
    assert records.load_record(course, "hw5", "big") is None


def test_invalid_ids_are_never_written_or_loaded(course):
    with pytest.raises(ValueError):
        _store(course, _record("../escape"))
    folder = records.record_dir(course, "hw5")
    folder.mkdir(parents=True)
    (folder / "a.b.json").write_text("{}")
    assert records.load_records(course, "hw5") == {}


def test_export_ignores_forged_records(course):
    for student in ("honest", "forger"):
        records.submission_path(course, "hw5", student).mkdir(parents=True)
    rec = _record("honest", 10.0)
    rec["digest"] = records.digest(records.submission_path(course, "hw5", "honest"))
    _store(course, rec)
    records.record_path(course, "hw5", "forger").write_text(json.dumps(_record("forger")))
    out = export.export(course, "hw5")
    assert "forger" not in out.read_text()


def test_key_file_is_created_private(tmp_path, monkeypatch):
    monkeypatch.delenv(records.RECORD_KEY_ENV, raising=False)
    monkeypatch.setattr(records, "RECORD_KEY_FILE", tmp_path / ".record_key")
    monkeypatch.setattr(records, "_key_cache", {})
    key = records.record_key()
    assert len(key) == 64
    assert (tmp_path / ".record_key").stat().st_mode & 0o777 == 0o600
    assert records.record_key() == key


@pytest.fixture
def one_submission(course, monkeypatch):
    """A course with a real nbgrader gradebook and one submission, ``kim``'s."""
    import sys

    from nbgrader.api import Gradebook

    from autograder import gradebook

    monkeypatch.setenv("PATH", os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
    sub = course / "submitted" / "kim" / "hw5"
    sub.mkdir(parents=True)
    (sub / "x.txt").write_text("work")
    with Gradebook(gradebook.db_url(course / "gradebook.db")) as gb:
        gb.add_assignment("hw5")
    return sub


@pytest.mark.slow
def test_batch_regrades_over_a_forged_record_and_reports_it(course, one_submission):
    """A forged record for a student does not stop the grader from grading that student."""
    from autograder import batch

    forged = _record("kim")
    forged["digest"] = records.digest(one_submission)
    forged["grading_key"] = records.grading_key(
        course, "hw5", "tests.test_records:_zero_grade", None
    )
    records.record_path(course, "hw5", "kim").parent.mkdir(parents=True, exist_ok=True)
    records.record_path(course, "hw5", "kim").write_text(json.dumps(forged))
    summary = batch.autograde(
        course, "hw5", grader="tests.test_records:_zero_grade", skip_notebook=True, progress=False
    )
    assert summary["graded"] == ["kim"]
    assert records.load_record(course, "hw5", "kim")["trusted"]["total"] == 0.0
    report = json.loads(records.report_path(course, "hw5").read_text())
    assert report["untrusted_record_files"] == {}


def _zero_grade(submission_dir, **kwargs):
    return {
        "tasks": {
            "hw5_conv_forward": {
                "points": 0.0,
                "max_points": 35.0,
                "status": "fail",
                "message": "0",
            }
        },
        "total": 0.0,
        "max_total": 35.0,
    }


@pytest.mark.slow
def test_the_trusted_graders_flags_reach_the_record_and_the_csv(course, one_submission):
    """An unsandboxed task (or any flag of the trusted grader) is visible in the export."""
    from autograder import batch

    batch.autograde(
        course,
        "hw5",
        grader="tests.test_records:_flagged_grade",
        skip_notebook=True,
        progress=False,
    )
    rec = records.load_record(course, "hw5", "kim")
    assert {"kind": "unsandboxed", "task": "hw5_conv_forward", "source": "trusted grader"} in rec[
        "flags"
    ]
    assert "unsandboxed:hw5_conv_forward" in export.export(course, "hw5").read_text()


def _flagged_grade(submission_dir, **kwargs):
    rec = _zero_grade(submission_dir)
    rec["flags"] = [{"kind": "unsandboxed", "task": "hw5_conv_forward"}]
    return rec


def test_batch_regrades_a_record_of_an_older_format(course, one_submission):
    """A verified record written before the current RECORD_VERSION (same submission, same key
    otherwise) is not a grade: the batch grades the student again and replaces it."""
    from autograder import batch

    old = _record("kim")
    old.update(
        version=records.RECORD_VERSION - 1,
        digest=records.digest(one_submission),
        grading_key=records.grading_key(course, "hw5", "tests.test_records:_zero_grade", None),
    )
    old["trusted"]["tasks"]["hw5_conv_forward"]["status"] = "passed"  # an old spelling
    body = records._canonical(old)
    records.atomic_write(
        records.record_path(course, "hw5", "kim"),
        json.dumps({"mac": records._mac(body), "record": old}),
    )
    assert records.current_records(course, "hw5") == ({}, {"kim": records.RECORD_OUTDATED})
    summary = batch.autograde(
        course, "hw5", grader="tests.test_records:_zero_grade", skip_notebook=True, progress=False
    )
    assert summary["graded"] == ["kim"]
    rec = records.load_record(course, "hw5", "kim")
    assert rec["version"] == records.RECORD_VERSION and rec["trusted"]["total"] == 0.0
    assert set(records.current_records(course, "hw5")[0]) == {"kim"}
