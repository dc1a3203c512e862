"""Grading pipeline: gradebook bridge, records, resume, feedback, export (tiny nbgrader course).

The fast tests check the small steps on plain dicts.  The slow test builds a
tiny nbgrader course (two graded task cells and a written answer), runs the
real pipeline on it with real nbgrader and a real gradebook, and a stand-in
trusted grader (``fake_grade`` below) so that it does not depend on HW5; the
HW5 sample run lives in ``tests/test_pipeline_hw5.py``.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
from pathlib import Path

import pytest

from autograder import batch, export, feedback, gradebook, notebook_step, records
from autograder.results import AutogradeResult, PipelineRecord, RecordFormatError, TaskResult

# --------------------------------------------------------------------------- stand-in grader

TINY_POINTS = {"hw5_conv_forward": 20.0, "hw5_max_pool_forward": 15.0}


def fake_grade(submission_dir, seed=None):
    """Grades mylib.py by reading it (never importing it): the stand-in trusted grader."""
    src = (Path(submission_dir) / "mylib.py").read_text()
    ok = {
        "hw5_conv_forward": "return 1" in src and "TAMPER" not in src,
        "hw5_max_pool_forward": "return 2" in src,
    }
    tasks = {}
    for task, max_pts in TINY_POINTS.items():
        good = ok[task]
        tasks[task] = {
            "points": max_pts if good else 0.0,
            "max_points": max_pts,
            "status": "pass" if good else "fail",
            "message": f"{task}: 메시지",
            "cases": [
                {
                    "name": "visible_basic",
                    "hidden": False,
                    "input": "x (2, 3, 4, 4)",
                    "points": max_pts if good else 0.0,
                    "max_points": max_pts,
                    "status": "pass" if good else "fail",
                    "message": "통과" if good else "오차가 큽니다",
                    "checks": [
                        {
                            "name": "out",
                            "passed": good,
                            "error": 0.0 if good else 0.5,
                            "tolerance": 1e-7,
                            "weight": 1,
                        }
                    ],
                }
            ],
        }
    return {
        "tasks": tasks,
        "total": sum(t["points"] for t in tasks.values()),
        "max_total": sum(TINY_POINTS.values()),
    }


# --------------------------------------------------------------------------- fast: small steps


def test_kit_extension_only_for_identical_sources(tmp_path):
    """The kit's compiled extension goes to a release only when its .pyx and every C header
    it includes are byte-identical there (else it is not the students' build)."""
    kit = records.REPO / "intro2ai"
    sources = [kit / "_im2col_cython.pyx", *sorted(kit.glob("_direct_conv*.h"))]
    sources += sorted(kit.glob("_winograd*.h"))
    assert len(sources) == 6
    pkg = tmp_path / "intro2ai"
    pkg.mkdir()
    for src in sources:
        shutil.copyfile(src, pkg / src.name)
    built = sorted(kit.glob("_im2col_cython*.so"))
    assert notebook_step.built_extensions(tmp_path) == [
        (str(so), f"intro2ai/{so.name}") for so in built
    ]
    header = pkg / "_direct_conv_kernels.h"
    header.write_bytes(header.read_bytes() + b"\n")
    assert notebook_step.built_extensions(tmp_path) == []
    header.unlink()
    assert notebook_step.built_extensions(tmp_path) == []
    shutil.copyfile(kit / "_direct_conv_kernels.h", header)
    (pkg / "_winograd.h").unlink()  # a header of the Winograd transforms counts too
    assert notebook_step.built_extensions(tmp_path) == []


def test_digest_changes_with_content_and_names(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.py").write_text("1")
    d0 = records.digest(tmp_path)
    assert records.digest(tmp_path) == d0
    (tmp_path / "a" / "x.py").write_text("2")
    d1 = records.digest(tmp_path)
    assert d1 != d0
    (tmp_path / "a" / "x.py").rename(tmp_path / "a" / "y.py")
    assert records.digest(tmp_path) not in (d0, d1)


def test_atomic_write_replaces_and_leaves_no_temp_files(tmp_path):
    target = tmp_path / "sub" / "r.json"
    records.atomic_write(target, "old")
    records.atomic_write(target, "new")
    assert target.read_text() == "new"
    assert [p.name for p in target.parent.iterdir()] == ["r.json"]


def test_grading_key_changes_with_seed_grader_and_source_notebook(tmp_path):
    (tmp_path / "source" / "hw5").mkdir(parents=True)
    nb = tmp_path / "source" / "hw5" / "hw5.ipynb"
    nb.write_text("{}")
    key = records.grading_key(tmp_path, "hw5", "autograder:grade_submission", "s1")
    assert records.grading_key(tmp_path, "hw5", "autograder:grade_submission", "s1") == key
    assert records.grading_key(tmp_path, "hw5", "autograder:grade_submission", "s2") != key
    assert records.grading_key(tmp_path, "hw5", "other:grade", "s1") != key
    nb.write_text('{"changed": 1}')
    assert records.grading_key(tmp_path, "hw5", "autograder:grade_submission", "s1") != key
    assert "s1" not in key  # the seed is hashed, never stored


def test_cell_tasks_maps_by_task_id_prefix():
    tasks = ["hw5_conv_forward", "hw5_conv_backward", "hw5_max_pool_forward"]
    got = gradebook.cell_tasks(
        ["hw5_conv_forward", "hw5_conv_backward_extra", "written", "x_hw5_max_pool_forward"], tasks
    )
    assert got == {
        "hw5_conv_forward": "hw5_conv_forward",
        "hw5_conv_backward_extra": "hw5_conv_backward",
        "x_hw5_max_pool_forward": "hw5_max_pool_forward",
    }


def _check(ok, error=None):
    return {
        "name": "out",
        "passed": ok,
        "error": (0.0 if ok else 0.5) if error is None else error,
        "tolerance": 1e-7,
        "weight": 1,
    }


def _task(visible_ok, hidden_ok, max_pts=10.0):
    """A task result as a dict (``TaskResult.from_dict`` reads it)."""
    cases = [
        {
            "name": "visible_basic",
            "hidden": False,
            "points": 4.0 if visible_ok else 0.0,
            "max_points": 4.0,
            "status": "pass" if visible_ok else "fail",
            "message": "",
            "checks": [_check(visible_ok)],
        },
        {
            "name": "hidden_x",
            "hidden": True,
            "points": 6.0 if hidden_ok else 0.0,
            "max_points": 6.0,
            "status": "pass" if hidden_ok else "fail",
            "message": "",
            "checks": [_check(hidden_ok)],
        },
    ]
    return {
        "points": sum(c["points"] for c in cases),
        "max_points": max_pts,
        "status": "partial",
        "message": "",
        "cases": cases,
    }


def _autograde(kernel_scores):
    return AutogradeResult.from_dict(
        {
            "notebooks": {
                "hw5": {
                    "grades": {
                        g: {"auto_score": s, "max_score": 10.0} for g, s in kernel_scores.items()
                    }
                }
            }
        }
    )


def test_tampering_flag_only_when_kernel_passed_and_visible_case_failed():
    trusted = batch.check_trusted(
        {
            "tasks": {
                "t_a": _task(False, False),
                "t_b": _task(True, False),
                "t_c": _task(False, False),
            },
            "total": 0.0,
            "max_total": 30.0,
        }
    )
    flags = gradebook.tampering_flags(_autograde({"t_a": 10.0, "t_b": 10.0, "t_c": 0.0}), trusted)
    # t_a: kernel passed, visible failed -> flagged; t_b: only a hidden case failed (a genuine
    # mistake the notebook cannot see) -> not flagged; t_c: failed in the kernel too -> not flagged.
    assert [f.task for f in flags] == ["t_a"]
    assert flags[0].kind == "possible_tampering"


def test_tampering_ignores_diagnostic_checks():
    task = _task(True, True)
    task["cases"][0]["checks"].append(
        {"name": "numerical_dx", "passed": False, "error": 1.0, "tolerance": 1e-5, "weight": 0}
    )
    assert not gradebook.trusted_failed(TaskResult.from_dict(task))


def test_tampering_needs_a_contradiction_not_a_stricter_check():
    # dtype or weight-scale failures (no value error) are checks the notebook does not make.
    task = _task(True, True)
    task["cases"][0].update(status="fail", points=0.0, checks=[_check(False, error=None)])
    task["cases"][0]["checks"][0]["error"] = None
    task["points"] = 6.0
    assert not gradebook.trusted_failed(TaskResult.from_dict(task))
    # Code that did not run through in the grader (a stub, an error) while the kernel passed: flagged.
    for status in ("not_attempted", "error", "timeout"):
        task["cases"][0]["status"] = status
        assert gradebook.trusted_failed(TaskResult.from_dict(task)), status


def test_feedback_page_shows_scalars_never_arrays_or_solution_lines():
    rec = {
        "student": "s1",
        "assignment": "hw5",
        "trusted": fake_grade_from_text("def conv():\n    return 1\n"),
        "flags": [{"kind": "possible_tampering", "task": "hw5_conv_forward"}],
    }
    snippet = next(
        s for s in feedback.forbidden_snippets() if not s.isupper() and "SOLUTION" not in s
    )
    rec["trusted"]["tasks"]["hw5_max_pool_forward"]["cases"][0]["message"] = (
        f"오류: {snippet} ### BEGIN SOLUTION"
    )
    # An array in a grader's result is refused where the batch reads it: it never gets into a
    # record, so never onto a page.
    with_array = json.loads(json.dumps(rec["trusted"]))
    with_array["tasks"]["hw5_conv_forward"]["cases"][0]["expected"] = [123456.789, 987654.321]
    with pytest.raises(RecordFormatError, match="expected"):
        batch.check_trusted(with_array)
    html = feedback.render(PipelineRecord.from_dict(rec))
    text = feedback.visible_text(html)
    assert "123456.789" not in text and "987654.321" not in text
    assert snippet not in text
    assert "BEGIN SOLUTION" not in text
    assert "hw5_conv_forward" in text and "visible_basic" in text
    assert "허용 오차" in text and "1.00e-07" in text  # error against the tolerance
    assert "조교" in text  # the tampering note


def fake_grade_from_text(src: str) -> dict:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "mylib.py").write_text(src)
        return fake_grade(tmp)


def test_grade_rows_and_export(tmp_path):
    course = tmp_path / "course"
    for student, src in (("a", "return 1\nreturn 2"), ("b", "")):
        sub = records.submission_path(course, "hw5", student)
        sub.mkdir(parents=True)
        (sub / "mylib.py").write_text(src)
        rec = {
            "version": records.RECORD_VERSION,
            "student": student,
            "assignment": "hw5",
            "digest": records.digest(sub),
            "trusted": fake_grade_from_text(src),
            "flags": [],
        }
        records.store_record(course, "hw5", PipelineRecord.from_dict(rec))
    out = export.export(course, "hw5")
    rows = list(csv.reader(out.open()))
    assert rows[0] == [
        "student",
        "hw5_conv_forward",
        "hw5_max_pool_forward",
        "total",
        "max_total",
        "flags",
    ]
    assert rows[1] == ["a", "20", "15", "35", "35", ""]
    assert rows[2] == ["b", "0", "0", "0", "35", ""]


# --------------------------------------------------------------------------- slow: tiny real course

#: Bounds a hung notebook run in these tests (each takes seconds).
TINY_TIME_LIMIT = 120
STUBS = "def conv():\n    raise NotImplementedError\n\ndef pool():\n    raise NotImplementedError\n"
VARIANTS = {
    "ref": "def conv():\n    return 1\n\ndef pool():\n    return 2\n",
    "stub": None,
    # Passes the notebook test in the kernel, fails the trusted grader: flagged.
    "tamper": "def conv():\n    return 1  # TAMPER\n\ndef pool():\n    raise NotImplementedError\n",
    # Contained by the kernel sandbox (pids cgroup / RLIMIT_NPROC, RLIMIT_AS).
    "forkbomb": "import os\ndef conv():\n    while True:\n        os.fork()\n\ndef pool():\n    return 2\n",
    "memhog": "def conv():\n    x = bytearray(64 * 1024**3)\n    return 1\n\ndef pool():\n    return 2\n",
    # Floods fd 1 and writes forged bytes to every other descriptor it might have inherited:
    # none reaches the batch (its terminal, result pipes); it breaks only its own kernel.
    "fdwriter": (
        "import os\ndef conv():\n    os.write(1, b'FLOOD' * 400000)\n"
        "    for fd in range(3, 1024):\n        try:\n"
        "            os.write(fd, b'R' + bytes(12) + b'FORGED' * 100)\n"
        "        except OSError:\n            pass\n    return 1\n\n"
        "def pool():\n    return 2\n"
    ),
}
EXPECTED = {  # trusted points per task, tampering flag
    "ref": ({"hw5_conv_forward": 20, "hw5_max_pool_forward": 15}, False),
    "stub": ({"hw5_conv_forward": 0, "hw5_max_pool_forward": 0}, False),
    "tamper": ({"hw5_conv_forward": 0, "hw5_max_pool_forward": 0}, True),
    "forkbomb": ({"hw5_conv_forward": 0, "hw5_max_pool_forward": 15}, False),
    "memhog": ({"hw5_conv_forward": 20, "hw5_max_pool_forward": 15}, False),
    "fdwriter": ({"hw5_conv_forward": 20, "hw5_max_pool_forward": 15}, False),
}


def _nbgrader_api(course: Path):
    """nbgrader's API on a course (to build the tiny course's release and gradebook)."""
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader

    cfg = Config()
    cfg.merge(PyFileConfigLoader("nbgrader_config.py", path=str(course)).load_config())
    cfg.CourseDirectory.root = str(course)
    return NbGraderAPI(coursedir=CourseDirectory(config=cfg), config=cfg)


def _tiny_course(root: Path) -> Path:
    import nbformat
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

    def cell(src, gid, points=None, md=False, **flags):
        c = (new_markdown_cell if md else new_code_cell)(src)
        meta = {
            "grade": False,
            "solution": False,
            "locked": False,
            "grade_id": gid,
            "schema_version": 3,
        }
        meta.update(flags)
        if points is not None:
            meta["points"] = points
        c.metadata["nbgrader"] = meta
        return c

    (root / "source" / "hw5").mkdir(parents=True)
    (root / "nbgrader_config.py").write_text(
        'c = get_config()\nc.CourseDirectory.course_id = "tiny"\n'
        'c.Autograde.exclude_overwriting = {"hw5": ["mylib.py"]}\n'
        'c.Execute.interrupt_on_timeout = False\nc.Execute.shutdown_kernel = "immediate"\n'
    )
    (root / "source" / "hw5" / "mylib.py").write_text(STUBS)
    nb = new_notebook(
        metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
        }
    )
    nb.cells = [
        cell("import mylib", "setup", locked=True),
        cell(
            "assert mylib.conv() == 1\n### BEGIN HIDDEN TESTS\nassert mylib.conv() + 0 == 1  # HIDDENMARK\n"
            "### END HIDDEN TESTS",
            "hw5_conv_forward",
            points=20,
            grade=True,
            locked=True,
        ),
        cell(
            "assert mylib.pool() == 2", "hw5_max_pool_forward", points=15, grade=True, locked=True
        ),
        cell(
            "설명하세요.\n### BEGIN SOLUTION\nSECRET ANSWER TEXT\n### END SOLUTION",
            "written",
            points=5,
            md=True,
            grade=True,
            solution=True,
        ),
    ]
    nbformat.write(nb, root / "source" / "hw5" / "hw5.ipynb")
    result = _nbgrader_api(root).generate_assignment("hw5", force=True, create=True)
    assert result["success"], result
    for name, src in VARIANTS.items():
        dest = root / "submitted" / name / "hw5"
        shutil.copytree(root / "release" / "hw5", dest)
        if src is not None:
            (dest / "mylib.py").write_text(src)
    return root


def _all_digests(course: Path) -> dict[str, str]:
    return {s: records.digest(records.submission_path(course, "hw5", s)) for s in VARIANTS}


def _gradebook_state(course: Path) -> dict:
    state = gradebook.scores(gradebook.db_url(course / "gradebook.db"), "hw5")
    return {
        s: {
            "flagged": v["flagged"],
            "cells": {g: (c["score"], c["needs_manual_grade"]) for g, c in v["cells"].items()},
        }
        for s, v in state.items()
    }


@pytest.mark.slow
def test_tiny_course_pipeline_scores_flags_resume_jobs(tmp_path, capfd):
    course = _tiny_course(tmp_path / "course")
    before = _all_digests(course)
    grader = "test_pipeline:fake_grade"

    first = batch.autograde(
        course,
        "hw5",
        jobs=1,
        grader=grader,
        progress=False,
        cell_timeout=5,
        notebook_time_limit=TINY_TIME_LIMIT,
    )
    out, err = capfd.readouterr()
    for stream in (out, err):  # nothing the kernels wrote reaches the instructor's terminal
        assert "FLOOD" not in stream and "FORGED" not in stream and len(stream) < 10_000
    assert sorted(first["graded"]) == sorted(VARIANTS) and first["skipped"] == []
    state = gradebook.scores(gradebook.db_url(course / "gradebook.db"), "hw5")
    for student, (points, flagged) in EXPECTED.items():
        cells = state[student]["cells"]
        for task, pts in points.items():
            assert cells[task]["score"] == pts, (student, task)  # the trusted score is the grade
            assert cells[task]["needs_manual_grade"] is (flagged and task == "hw5_conv_forward"), (
                student,
                task,
            )
        assert state[student]["flagged"] is flagged, student
        rec = records.load_record(course, "hw5", student)
        assert any(f["kind"] == "possible_tampering" for f in rec["flags"]) is flagged
    # The kernel's own verdict is kept as nbgrader's auto_score.
    assert state["tamper"]["cells"]["hw5_conv_forward"]["auto_score"] == 20.0
    # The sandboxed kernel survived the bombs: the other cell of the same notebook still ran.
    assert state["memhog"]["cells"]["hw5_max_pool_forward"]["auto_score"] == 15.0
    report = json.loads(records.report_path(course, "hw5").read_text())
    assert list(report["flags"]) and "tamper" in report["flags"]

    # Resume: nothing changed, nothing regraded.
    second = batch.autograde(
        course,
        "hw5",
        jobs=1,
        grader=grader,
        progress=False,
        cell_timeout=5,
        notebook_time_limit=TINY_TIME_LIMIT,
    )
    assert second["graded"] == [] and sorted(second["skipped"]) == sorted(VARIANTS)
    # A changed submission is regraded, and only that one.
    mylib = records.submission_path(course, "hw5", "stub") / "mylib.py"
    mylib.write_text(VARIANTS["ref"])
    third = batch.autograde(
        course,
        "hw5",
        jobs=1,
        grader=grader,
        progress=False,
        cell_timeout=5,
        notebook_time_limit=TINY_TIME_LIMIT,
    )
    assert third["graded"] == ["stub"]
    assert (
        gradebook.scores(gradebook.db_url(course / "gradebook.db"), "hw5")["stub"]["score"] == 35.0
    )
    mylib.write_text(STUBS)
    batch.autograde(
        course, "hw5", jobs=1, grader=grader, progress=False, cell_timeout=5, students=["stub"]
    )
    serial = _gradebook_state(course)

    # FORCE with two workers regrades into the same gradebook (the bombs, which only cost their
    # timeouts again, are left out).
    some = ["ref", "stub", "tamper", "fdwriter"]
    forced = batch.autograde(
        course,
        "hw5",
        jobs=2,
        force=True,
        students=some,
        grader=grader,
        progress=False,
        cell_timeout=5,
        notebook_time_limit=TINY_TIME_LIMIT,
    )
    assert sorted(forced["graded"]) == sorted(some)
    assert _gradebook_state(course) == serial

    # A reset gradebook is restored from the records without regrading.
    (course / "gradebook.db").unlink()
    assert _nbgrader_api(course).generate_assignment("hw5", force=True)["success"]
    restored = batch.autograde(course, "hw5", jobs=1, grader=grader, progress=False)
    assert restored["graded"] == [] and _gradebook_state(course) == serial

    # Submissions are never modified.
    assert _all_digests(course) == before

    # Feedback: one page per student, no hidden test or solution text, no expected arrays.
    pages = feedback.write_all(course, "hw5")
    assert len(pages) == len(VARIANTS)
    for page in pages:
        text = feedback.visible_text(page.read_text(encoding="utf-8"))
        for bad in ("HIDDENMARK", "HIDDEN TESTS", "SECRET ANSWER", "BEGIN SOLUTION", "123456.789"):
            assert bad not in text, (page, bad)
    tamper_page = feedback.page_path(course, "hw5", "tamper").read_text(encoding="utf-8")
    assert "조교" in tamper_page

    # Export: per-task points, total and flags.
    rows = {r["student"]: r for r in csv.DictReader(export.export(course, "hw5").open())}
    for student, (points, flagged) in EXPECTED.items():
        for task, pts in points.items():
            assert float(rows[student][task]) == pts
        assert ("possible_tampering" in rows[student]["flags"]) is flagged


@pytest.mark.slow
def test_notebook_step_time_limit_stops_a_hanging_submission(tmp_path):
    """A notebook that overruns the per-submission limit is stopped with its kernel, flagged, and
    still gets its trusted grade; the batch goes on."""
    course = _tiny_course(tmp_path / "course")
    slow = records.submission_path(course, "hw5", "ref") / "mylib.py"
    slow.write_text(
        "import time\ndef conv():\n    time.sleep(600)\n    return 1\n\ndef pool():\n    return 2\n"
    )
    summary = batch.autograde(
        course,
        "hw5",
        jobs=1,
        grader="test_pipeline:fake_grade",
        progress=False,
        students=["ref", "stub"],
        cell_timeout=600,
        notebook_time_limit=15,
    )
    assert summary["wall"] < 120
    rec = summary["records"]["ref"]
    kinds = {f.kind for f in rec.flags}
    assert {"notebook_timeout", "notebook_autograde_failed"} <= kinds
    assert rec.timings["nbgrader"] < 60
    assert rec.trusted.total == 35.0  # the grade comes from the trusted grader regardless
    assert "notebook_timeout" not in {f.kind for f in summary["records"]["stub"].flags}
    # Nothing of the stopped kernel is left running.
    autograded = str((course / "autograded").resolve())
    leftover = [
        p.name
        for p in Path("/proc").iterdir()
        if p.name.isdigit() and _cwd_or_empty(p).startswith(autograded)
    ]
    assert leftover == []
    page = feedback.write_all(course, "hw5", students=["ref"])[0]
    assert "제한 시간" in feedback.visible_text(page.read_text(encoding="utf-8"))


def _cwd_or_empty(proc: Path) -> str:
    try:
        return os.readlink(proc / "cwd")
    except OSError:
        return ""


def test_heartbeat_stop_returns_when_its_thread_is_stuck():
    """jupyter_client's heartbeat thread can block inside its event loop once its kernel is gone;
    nbclient's cleanup then waited in HBChannel.stop() -> join() forever (a hung grading
    worker, seen in CI). The pipeline bounds stop(): here the thread is stuck on purpose."""
    import threading
    import time

    import zmq
    from jupyter_client.channels import HBChannel

    from autograder.jailed import nbgrader_child

    nbgrader_child.bounded_heartbeat_stop()
    release = threading.Event()
    hb = HBChannel(context=zmq.Context.instance(), address=("127.0.0.1", 9))
    hb.run = lambda: release.wait(60)  # ignores the stop request, like the stuck send()
    hb.start()
    stopper = threading.Thread(target=hb.stop, daemon=True)
    t0 = time.monotonic()
    stopper.start()
    stopper.join(timeout=30)
    try:
        assert not stopper.is_alive(), "HBChannel.stop() did not return"
        assert time.monotonic() - t0 < 10
    finally:
        release.set()
