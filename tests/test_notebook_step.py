"""The trusted parent's side of the nbgrader step: what it reads back from a sandbox's scratch,
how, and what formgrader gets; the batch's fail-closed records (fast, no sandbox needed)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from autograder import batch, notebook_step

JAILED = Path(notebook_step.__file__).parent / "jailed"


def test_read_capped_reads_a_regular_file(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "s.json").write_bytes(b"12345")
    assert notebook_step.read_capped(tmp_path, "out/s.json", 5) == b"12345"
    with pytest.raises(notebook_step.TooBig):
        notebook_step.read_capped(tmp_path, "out/s.json", 4)


def test_read_capped_never_follows_a_link_or_opens_a_special_file(tmp_path):
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "s.json").write_text('{"success": true}')
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    (scratch / "out").symlink_to(secret)  # a folder on the way is a link
    with pytest.raises(notebook_step.UnsafeFile):
        notebook_step.read_capped(scratch, "out/s.json", 1 << 20)
    (scratch / "out").unlink()
    (scratch / "out").mkdir()
    (scratch / "out" / "s.json").symlink_to(secret / "s.json")  # the file is a link
    with pytest.raises(notebook_step.UnsafeFile):
        notebook_step.read_capped(scratch, "out/s.json", 1 << 20)
    (scratch / "out" / "s.json").unlink()
    os.mkfifo(scratch / "out" / "s.json")  # a fifo would block a reader forever
    with pytest.raises(notebook_step.UnsafeFile):
        notebook_step.read_capped(scratch, "out/s.json", 1 << 20)
    for bad in ("../secret/s.json", "", "out/../x"):
        with pytest.raises(notebook_step.UnsafeFile):
            notebook_step.read_capped(scratch, bad, 10)


def test_copy_regular_files_skips_links_and_special_files(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    (src / "pkg").mkdir(parents=True)
    (src / "pkg" / "a.py").write_text("a")
    (src / "link.py").symlink_to(tmp_path / "elsewhere.py")
    (tmp_path / "elsewhere.py").write_text("secret")
    (src / "dirlink").symlink_to(tmp_path)
    os.mkfifo(src / "fifo")
    (src / "pkg" / "x.ipynb").write_text("{}")
    n = notebook_step.copy_regular_files(src, dst, skip=lambda rel: rel.endswith(".ipynb"))
    assert n == 1
    assert sorted(p.relative_to(dst).as_posix() for p in dst.rglob("*")) == ["pkg", "pkg/a.py"]
    assert (dst / "pkg" / "a.py").stat().st_mode & 0o7777 == 0o644
    with pytest.raises(notebook_step.TooBig):
        notebook_step.copy_regular_files(src, tmp_path / "dst2", max_bytes=0)


GOOD = {
    "timestamp": "2026-12-06T10:00:00",
    "notebooks": {
        "hw5": {
            "grades": {
                "hw5_conv_forward": {
                    "auto_score": 20.0,
                    "max_score": 20.0,
                    "needs_manual_grade": False,
                }
            },
            "comments": {"hw5_conv_forward": None},
            "late_penalty": None,
        }
    },
}


def test_check_autograde_keeps_a_good_summary_and_rejects_bad_ones():
    assert notebook_step.check_autograde(GOOD) == GOOD
    assert notebook_step.check_autograde({}) == {}
    bad = [
        {"notebooks": []},
        {"timestamp": "not a date", "notebooks": {}},
        {"notebooks": {"hw5": {"grades": {"g": {"auto_score": float("nan"), "max_score": 1.0}}}}},
        {"notebooks": {"hw5": {"grades": {"g": {"auto_score": "20", "max_score": 1.0}}}}},
        {"notebooks": {"hw5": {"grades": {"g": {"auto_score": 1.0, "max_score": None}}}}},
        {"notebooks": {"x" * 300: {"grades": {}}}},
        {"notebooks": {f"n{i}": {"grades": {}} for i in range(21)}},
        {
            "notebooks": {
                "hw5": {"grades": {f"g{i}": {"auto_score": 1, "max_score": 1} for i in range(1001)}}
            }
        },
    ]
    for data in bad:
        with pytest.raises(ValueError):
            notebook_step.check_autograde(data)


def test_read_summary_refuses_a_deep_or_oversized_summary(tmp_path):
    (tmp_path / "out").mkdir()
    summary = tmp_path / "out" / "summary.json"
    summary.write_text(
        json.dumps(
            {
                "success": True,
                "log": "x" * 10_000,
                "autograde": GOOD,
                "notebook_bytes": {"hw5": 123},
            }
        )
    )
    ok, log, data, sizes = notebook_step.read_summary(tmp_path)
    assert ok and len(log) == 4000 and data == GOOD and sizes == {"hw5": 123}
    summary.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises((ValueError, RecursionError)):
        notebook_step.read_summary(tmp_path)
    summary.write_bytes(b" " * (notebook_step.SUMMARY_MAX_BYTES + 1))
    with pytest.raises(notebook_step.TooBig):
        notebook_step.read_summary(tmp_path)


def test_sanitize_notebook_keeps_plain_text_only():
    cell = new_code_cell("x")
    cell.outputs = [
        new_output(
            "display_data",
            data={
                "text/html": "<script>alert(1)</script>",
                "text/plain": "<HTML obj>",
                "application/javascript": "alert(2)",
                "image/svg+xml": "<svg/>",
            },
        ),
        new_output(
            "display_data", data={"application/vnd.jupyter.widget-view+json": {"model_id": "m"}}
        ),
        new_output("stream", name="stdout", text="<script>alert(3)</script>" + "y" * 50_000),
        new_output("error", ename="E", evalue="<b>v</b>", traceback=["t"] * 500),
    ]
    md = new_markdown_cell("<script>alert(4)</script> & text")
    nb = new_notebook(cells=[cell, md], metadata={"widgets": {"state": {}}})
    out = nbformat.reads(
        notebook_step.sanitize_notebook(nbformat.writes(nb).encode()), as_version=4
    )
    kinds = [o.output_type for o in out.cells[0].outputs]
    assert kinds == ["display_data", "stream", "error"]
    assert out.cells[0].outputs[0].data == {"text/plain": "<HTML obj>"}
    assert len(out.cells[0].outputs[1].text) < notebook_step.FORMGRADER_TEXT_CHARS + 100
    assert len(out.cells[0].outputs[2].traceback) == 100
    assert out.cells[1].source == "&lt;script&gt;alert(4)&lt;/script&gt; &amp; text"
    assert "widgets" not in out.metadata


def test_the_jailed_folder_holds_only_the_two_programs_and_imports_no_kit_code():
    names = sorted(p.name for p in JAILED.iterdir() if p.name != "__pycache__")
    assert names == ["__init__.py", "kernel_launcher.py", "nbgrader_child.py"]
    for name in names:
        text = (JAILED / name).read_text(encoding="utf-8")
        assert "import autograder" not in text and "from autograder" not in text, name
        assert "intro2ai" not in text.replace("intro2ai grading sandbox", "").replace(
            "_intro2ai_", ""
        ), name


def test_failed_record_gives_every_expected_task_zero_and_a_review_flag():
    job = {
        "student": "s",
        "assignment": "hw5",
        "digest": "d",
        "grading_key": "k",
        "expected_tasks": {"t1": 20.0, "t2": 15.0},
    }
    rec = batch.failed_record(job, "grading failed: RecursionError: deep")
    assert rec.trusted.tasks["t1"].points == 0.0 and rec.trusted.tasks["t2"].max_points == 15.0
    assert rec.trusted.total == 0.0 and rec.trusted.max_total == 35.0
    kinds = [(f.kind.value, f.task) for f in rec.flags]
    assert kinds == [
        ("trusted_grader_error", None),
        ("needs_manual_grade", "t1"),
        ("needs_manual_grade", "t2"),
    ]
    assert rec.grading_key is None  # retried by the next run
    # A result that lacks a task, or has points above the maximum, is not a grade either.
    one = {"points": 20.0, "max_points": 20.0, "status": "pass", "message": "ok"}
    trusted, flags = batch.fail_closed(
        batch.check_trusted({"tasks": {"t1": one}, "total": 20.0, "max_total": 20.0}),
        job["expected_tasks"],
        None,
    )
    assert trusted.tasks["t2"].points == 0.0
    assert [f.to_dict() for f in flags] == [{"kind": "needs_manual_grade", "task": "t2"}]
    for bad in (21.0, float("inf")):
        with pytest.raises(ValueError):
            batch.check_trusted(
                {"tasks": {"t1": {**one, "points": bad}}, "total": 0.0, "max_total": 20.0}
            )


def test_grade_one_fails_closed_when_anything_raises(tmp_path):
    job = {
        "course": str(tmp_path / "missing-course"),
        "assignment": "hw5",
        "student": "s",
        "digest": "d",
        "grader": "no_such_module:grade",
        "skip_notebook": True,
        "expected_tasks": {"t1": 20.0},
    }
    rec = batch.grade_one(job)
    assert rec.trusted.total == 0.0
    assert {"trusted_grader_error", "needs_manual_grade"} <= {f.kind for f in rec.flags}
    assert [f.task for f in rec.flags if f.kind == "needs_manual_grade"] == ["t1"]
