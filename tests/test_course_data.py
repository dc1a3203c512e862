"""Course data integrity: ids wherever they become paths, records that outlive their submission,
the export's histogram, and a demo that never touches the real course."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest

from autograder import demo, export, feedback, ids, records
from autograder.results import PipelineRecord

POINTS = {"hw5_conv_forward": 20.0, "hw5_max_pool_forward": 15.0}


def trusted(points: dict[str, float]) -> dict:
    tasks = {
        t: {
            "points": p,
            "max_points": POINTS[t],
            "status": "pass" if p == POINTS[t] else "fail",
            "message": f"{t}: 메시지",
            "cases": [
                {
                    "name": "visible_basic",
                    "hidden": False,
                    "input": "x (2, 3, 4, 4)",
                    "points": p,
                    "max_points": POINTS[t],
                    "status": "pass",
                    "message": "통과",
                    "checks": [
                        {
                            "name": "out",
                            "passed": True,
                            "error": 0.0,
                            "tolerance": 1e-7,
                            "weight": 1,
                        }
                    ],
                }
            ],
        }
        for t, p in points.items()
    }
    return {"tasks": tasks, "total": sum(points.values()), "max_total": sum(POINTS.values())}


def graded_student(course: Path, student: str, points: dict[str, float]) -> Path:
    """A submission folder and its record, as the batch leaves them."""
    sub = records.submission_path(course, "hw5", student)
    sub.mkdir(parents=True)
    (sub / "hw5.ipynb").write_text(json.dumps({"student": student}))
    rec = {
        "version": records.RECORD_VERSION,
        "student": student,
        "assignment": "hw5",
        "digest": records.digest(sub),
        "trusted": trusted(points),
        "flags": [],
    }
    records.store_record(course, "hw5", PipelineRecord.from_dict(rec))
    return sub


def csv_rows(path: Path) -> dict[str, dict]:
    return {r["student"]: r for r in csv.DictReader(path.open())}


# --------------------------------------------------------------------------- ids everywhere


@pytest.mark.parametrize(
    "bad", ["../x", "..", "a/b", "x" * 65, "김민지", ".hidden", "_report", "CON"]
)
def test_every_path_from_an_id_refuses_an_invalid_id(tmp_path, bad):
    for make in (
        lambda: records.submission_path(tmp_path, "hw5", bad),
        lambda: records.record_path(tmp_path, "hw5", bad),
        lambda: feedback.page_path(tmp_path, "hw5", bad),
    ):
        with pytest.raises(ids.InvalidStudentId):
            make()


def test_invalid_folders_under_submitted_are_reported_and_skipped(tmp_path, capsys):
    course = tmp_path / "course"
    graded_student(course, "20260001", {"hw5_conv_forward": 20.0})
    sub = course / "submitted"
    outside = tmp_path / "outside"
    (outside / "hw5").mkdir(parents=True)
    for name in ("김민지", "a b", ".hidden", "x" * 65, "CON"):
        (sub / name / "hw5").mkdir(parents=True)
    (sub / "linked").symlink_to(outside, target_is_directory=True)
    (sub / "no_assignment").mkdir()
    (sub / "stray.txt").write_text("x")
    assert records.discover(course, "hw5") == ["20260001"]
    err = capsys.readouterr().err
    for name in ("김민지", "a b", ".hidden", "CON", "linked", "no_assignment", "stray.txt"):
        assert repr(name) in err, (name, err)
    with pytest.raises(SystemExit, match="characters outside"):
        records.discover(course, "hw5", ["../20260001"])
    with pytest.raises(SystemExit, match="no submission folder"):
        records.discover(course, "hw5", ["linked"])


def test_a_student_named_report_keeps_record_and_csv_row(tmp_path):
    course = tmp_path / "course"
    graded_student(course, "report", {"hw5_conv_forward": 20.0, "hw5_max_pool_forward": 15.0})
    graded_student(course, "20260001", {"hw5_conv_forward": 0.0, "hw5_max_pool_forward": 15.0})
    records.store_report(course, "hw5", {"assignment": "hw5", "flags": {}})
    assert records.report_path(course, "hw5").name == "_report.json"
    assert records.load_record(course, "hw5", "report")["student"] == "report"
    rows = csv_rows(export.export(course, "hw5"))
    assert rows["report"]["total"] == "35" and rows["20260001"]["total"] == "15"
    assert feedback.page_path(course, "hw5", "report") in feedback.write_all(course, "hw5")


def test_a_record_file_naming_another_student_is_not_loaded(tmp_path):
    course = tmp_path / "course"
    graded_student(course, "20260001", {"hw5_conv_forward": 0.0})
    forged = json.loads(records.record_path(course, "hw5", "20260001").read_text())
    forged["trusted"] = trusted({"hw5_conv_forward": 20.0})
    records.atomic_write(records.record_dir(course, "hw5") / "x.json", json.dumps(forged))
    records.atomic_write(records.record_dir(course, "hw5") / "_x.json", json.dumps(forged))
    assert records.load_records(course, "hw5")["20260001"]["trusted"]["total"] == 0.0
    assert sorted(records.load_records(course, "hw5")) == ["20260001"]


# --------------------------------------------------------------------------- records without submissions


def test_export_after_a_submission_is_deleted(tmp_path, capsys):
    course = tmp_path / "course"
    keep = graded_student(
        course, "20260001", {"hw5_conv_forward": 20.0, "hw5_max_pool_forward": 15.0}
    )
    gone = graded_student(
        course, "20260002", {"hw5_conv_forward": 20.0, "hw5_max_pool_forward": 0.0}
    )
    changed = graded_student(
        course, "20260003", {"hw5_conv_forward": 0.0, "hw5_max_pool_forward": 0.0}
    )
    assert sorted(csv_rows(export.export(course, "hw5"))) == ["20260001", "20260002", "20260003"]
    capsys.readouterr()
    assert feedback.page_path(course, "hw5", "20260002") in feedback.write_all(course, "hw5")

    shutil.rmtree(gone.parent)
    (changed / "hw5.ipynb").write_text("a new upload, not graded yet")
    out = export.export(course, "hw5")
    assert sorted(csv_rows(out)) == ["20260001"]
    said = capsys.readouterr().out
    assert "not exported: 20260002: submission missing" in said
    assert "not exported: 20260003: submission changed since grading" in said
    # The record itself is kept (nothing is deleted), but it is not a grade anywhere.
    assert records.load_record(course, "hw5", "20260002") is not None
    present, stale = records.current_records(course, "hw5")
    assert list(present) == ["20260001"] and stale["20260002"] == records.SUBMISSION_MISSING
    pages = feedback.write_all(course, "hw5")
    assert pages == [feedback.page_path(course, "hw5", "20260001")]
    assert not (course / "feedback" / "20260002").exists()
    assert keep.is_dir()


def test_export_with_every_submission_gone_says_so(tmp_path, capsys):
    course = tmp_path / "course"
    shutil.rmtree(graded_student(course, "20260001", {"hw5_conv_forward": 20.0}).parent)
    with pytest.raises(SystemExit):
        export.export(course, "hw5")
    assert "20260001: submission missing" in capsys.readouterr().out


# --------------------------------------------------------------------------- histogram


def test_export_draws_a_histogram_per_task_and_total_with_integer_count_ticks(tmp_path):
    import matplotlib.pyplot as plt

    course = tmp_path / "course"
    for i, pts in enumerate([(20.0, 15.0), (20.0, 7.5), (0.0, 15.0), (12.25, 0.0), (20.0, 15.0)]):
        graded_student(course, f"2026000{i}", dict(zip(POINTS, pts)))
    out = export.export(course, "hw5")
    png = export.histogram_path(out)
    assert png.parent == out.parent and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    graded, _ = records.current_records(course, "hw5")
    fig = export.histogram_figure(graded, "hw5")
    try:
        fig.canvas.draw()
        axes = [ax for ax in fig.axes if ax.axison]
        assert [ax.get_title() for ax in axes] == [*POINTS, "total (of 35)"]
        for ax in axes:
            ticks = [t for t in ax.get_yticks() if ax.get_ylim()[0] <= t <= ax.get_ylim()[1]]
            assert ticks and all(float(t).is_integer() for t in ticks), (ax.get_title(), ticks)
            heights = [p.get_height() for p in ax.patches]
            assert sum(heights) == 5  # every submission counted once per panel
    finally:
        plt.close(fig)


# --------------------------------------------------------------------------- the demo's own course


def tree_digest(root: Path) -> dict[str, str]:
    """SHA-256 of every file under ``root`` (and the list of folders and links)."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            rel = p.relative_to(root).as_posix()
            if p.is_symlink():
                out[rel] = "link:" + os.readlink(p)
            elif p.is_dir():
                out[rel] = "dir"
            else:
                out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def test_demo_course_must_be_outside_the_real_course(tmp_path):
    real = tmp_path / "assignments"
    real.mkdir()
    with pytest.raises(SystemExit, match="outside"):
        demo.prepare_course(real, "hw5", real / "demo")
    with pytest.raises(SystemExit, match="outside"):
        demo.prepare_course(real, "hw5", real)
    other = tmp_path / "notes"
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    with pytest.raises(SystemExit, match="not a demo course"):
        demo.prepare_course(real, "hw5", other)
    with pytest.raises(SystemExit, match="not a demo course"):
        demo.clean(other)
    assert (other / "keep.txt").read_text() == "mine"


@pytest.mark.slow
def test_demo_beside_a_real_course_leaves_it_byte_identical(tmp_path, capsys):
    from autograder import batch, release

    # A real course: released, one student collected and graded, feedback and CSV written.
    real = tmp_path / "assignments"
    real.mkdir()
    shutil.copy2(records.DEFAULT_COURSE / "nbgrader_config.py", real / "nbgrader_config.py")
    shutil.copytree(
        records.DEFAULT_COURSE / "source",
        real / "source",
        ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"),
    )
    _, problems = release.build_release("hw5", records.REPO, course_dir=real)
    assert problems == []
    demo.place_samples(real, "hw5", ["release"])  # the untouched stubs: the cheapest to grade
    os.rename(real / "submitted" / "release", real / "submitted" / "20260001")
    # Its notebook step is skipped: what the demo must not touch is the course's files (gradebook,
    # records, feedback, CSV), which the trusted grade alone writes.
    batch.autograde(real, "hw5", jobs=1, seed=1, progress=False, skip_notebook=True)
    feedback.write_all(real, "hw5")
    export.export(real, "hw5")
    before = tree_digest(real)
    assert "gradebook.db" in before and ".grading/hw5/20260001.json" in before

    names = ["reference"]
    demo_dir = tmp_path / "build" / "demo-course"
    summary = demo.demo(real, "hw5", jobs=1, names=names, demo_course=demo_dir, cell_timeout=60)

    assert tree_digest(real) == before
    assert summary["mismatches"] == []
    printed = capsys.readouterr().out
    assert "scores equal to autograder/samples/expected_scores.toml: 1/1" in printed
    assert sorted(csv_rows(demo_dir / "exports" / "hw5_grades.csv")) == sorted(names)
    assert (demo_dir / "exports" / "hw5_grades_histogram.png").is_file()
    assert sorted(records.load_records(demo_dir, "hw5")) == sorted(names)
    assert demo.clean(demo_dir) and not demo_dir.exists()
    assert tree_digest(real) == before
