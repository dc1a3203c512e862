"""Korean HTML feedback pages from the pipeline's result records.

nbgrader's own ``generate_feedback`` renders the autograded notebook, hidden
test cells included, so the kit writes its own page instead: per task, per
case, what was compared, the error against the tolerance and the Korean
diagnostic hint of the trusted grader.

A page is made from a typed record (:class:`autograder.results.PipelineRecord`), whose
fields are all scalars: names, points, statuses (shown by their Korean label), errors,
tolerances, messages, the case's input description. A record holds no arrays or code, and
every string is scrubbed of solution markers, hidden-test markers and the reference's
solution lines before rendering (:func:`forbidden_snippets`).

Pages go to ``feedback/<student>/<assignment>/<notebook>.html``, where
``nbgrader release_feedback`` looks for them.
"""

from __future__ import annotations

import math
import re
import shutil
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2

from autograder import ids
from autograder import records as store
from autograder import tasks as tasks_mod
from autograder.results import CaseResult, CheckResult, FlagKind, PipelineRecord

TEMPLATES = Path(__file__).resolve().parent / "templates"

#: Markers that must never appear on a page.
MARKERS = (
    "### BEGIN SOLUTION",
    "### END SOLUTION",
    "BEGIN HIDDEN TESTS",
    "END HIDDEN TESTS",
    "BEGIN SOLUTION",
    "END SOLUTION",
)
#: Reference lines shorter than this are too generic to be a leak (e.g. ``return out``).
MIN_SNIPPET = 16
#: Longest string shown for one field.
MAX_TEXT = 600
#: Reference files whose solution regions must never leak.
REFERENCE_FILES = ("intro2ai/layers.py", "intro2ai/classifiers/cnn.py")

#: Shown beside a check that carries no points.
DIAGNOSTIC_KO = "진단용, 점수 없음 (diagnostic only)"


@lru_cache(maxsize=4)
def forbidden_snippets(repo: str = str(store.REPO)) -> tuple[str, ...]:
    """Solution lines of the reference (stripped, long enough to be specific) and markers."""
    lines: set[str] = set()
    for rel in REFERENCE_FILES:
        path = Path(repo) / rel
        if not path.exists():
            continue
        inside = False
        for raw in path.read_text(encoding="utf-8").splitlines():
            s = raw.strip()
            if s.startswith("### BEGIN SOLUTION"):
                inside = True
                continue
            if s.startswith("### END SOLUTION"):
                inside = False
                continue
            if inside and len(s) >= MIN_SNIPPET:
                lines.add(s)
    return tuple(sorted(lines, key=len, reverse=True)) + MARKERS


def scrub(text: str, snippets: Iterable[str] | None = None) -> str:
    """Remove forbidden snippets from a string shown to a student and cap its length."""
    text = str(text)
    for snip in forbidden_snippets() if snippets is None else snippets:
        if snip in text:
            text = text.replace(snip, "[…]")
    if len(text) > MAX_TEXT:
        text = text[:MAX_TEXT] + "…"
    return text


def _scalar(value: Any) -> str | None:
    """A printable scalar, or None for anything else (arrays, dicts, lists)."""
    if isinstance(value, bool):
        return "예" if value else "아니오"
    if isinstance(value, (int,)):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "inf"
        if value == 0 or 1e-3 <= abs(value) < 1e4:
            return f"{value:.4g}"
        return f"{value:.2e}"
    if isinstance(value, str):
        return scrub(value)
    return None


def _points(value: Any) -> str:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return "-"
    return str(int(v)) if v == int(v) else f"{v:.2f}".rstrip("0").rstrip(".")


def _css(points: Any, max_points: Any) -> str:
    try:
        p, m = float(points), float(max_points)
    except (TypeError, ValueError):
        return ""
    if m > 0 and p >= m:
        return "ok"
    return "bad" if p <= 0 else "part"


def _check_context(chk: CheckResult) -> dict:
    error = _scalar(chk.error)
    return {
        "name": _scalar(chk.name) or "",
        "error": error if error is not None else "-",
        "tolerance": _scalar(chk.tolerance),
        "note": DIAGNOSTIC_KO if chk.weight == 0 else None,
        "css": "ok" if chk.passed else "bad",
    }


def case_context(case: CaseResult) -> dict:
    """What the page shows of one case."""
    return {
        "name": _scalar(case.name) or "",
        "kind": "비공개 (hidden)" if case.hidden else "공개 (visible)",
        "description": _scalar(case.input) or None,
        "checks": [_check_context(c) for c in case.checks],
        "points": _points(case.points),
        "max_points": _points(case.max_points),
        "css": _css(case.points, case.max_points),
        "message": _scalar(case.message),
    }


def _title(task_id: str) -> str:
    """The heading of a task from the task table (function and what it is, in Korean); nothing
    for an id the table does not know."""
    task = {x.id: x for x in tasks_mod.all_tasks()}.get(task_id)
    if task is None:
        return ""
    return f"{task.title} ({task.title_ko})" if task.title_ko else task.title


def page_context(record: PipelineRecord) -> dict:
    """Everything the template shows for one student's record."""
    trusted = record.trusted
    tasks = []
    for task_id, t in trusted.tasks.items():
        tasks.append(
            {
                "id": scrub(task_id),
                "title": _scalar(_title(task_id)),
                "points": _points(t.points),
                "max_points": _points(t.max_points),
                "css": _css(t.points, t.max_points),
                "status": t.status.label_ko,
                # With cases listed below, the task message's head is enough (its tail repeats them).
                "message": _scalar(t.message.split(" [", 1)[0] if t.cases else t.message),
                "cases": [case_context(c) for c in t.cases],
            }
        )
    notes = []
    kinds = record.flag_kinds()
    if FlagKind.POSSIBLE_TAMPERING in kinds:
        notes.append(
            "노트북(notebook)에서 통과한 테스트가 신뢰 채점기에서는 통과하지 못했습니다. "
            "조교가 제출물을 직접 확인한 뒤 점수를 확정합니다."
        )
    if FlagKind.NOTEBOOK_AUTOGRADE_FAILED in kinds:
        notes.append(
            "노트북을 처음부터 끝까지 실행하지 못했습니다 (오류 또는 시간 초과). "
            "점수는 .py 파일의 채점 결과로 매겨졌습니다. 제출 전에 노트북을 재시작 후 전체 실행해 보세요."
        )
    if FlagKind.NOTEBOOK_TIMEOUT in kinds:
        seconds = next(f.seconds for f in record.flags if f.kind == FlagKind.NOTEBOOK_TIMEOUT)
        notes.append(
            f"노트북 전체 실행이 제한 시간({_scalar(seconds)}초)을 넘어 중단되었습니다. "
            "무한 루프나 너무 오래 걸리는 셀이 없는지 확인하세요."
        )
    if FlagKind.TRUSTED_GRADER_ERROR in kinds:
        notes.append("채점기 오류로 점수가 확정되지 않았습니다. 조교가 확인합니다.")
    return {
        "student": scrub(record.student),
        "assignment": scrub(record.assignment),
        "total": _points(trusted.total),
        "max_total": _points(trusted.max_total),
        "graded_at": _scalar(record.graded_at),
        "tasks": tasks,
        "notes": notes,
    }


@lru_cache(maxsize=1)
def _template() -> jinja2.Template:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env.get_template("feedback.html.j2")


def render(record: PipelineRecord) -> str:
    """The HTML page of one record."""
    return _template().render(**page_context(record))


def page_path(course: Path, assignment: str, student: str, notebook: str | None = None) -> Path:
    return (
        Path(course)
        / "feedback"
        / ids.validate(student)
        / assignment
        / f"{notebook or assignment}.html"
    )


def write_all(course: Path, assignment: str, students: Iterable[str] | None = None) -> list[Path]:
    """Write a page per graded student (atomically); returns the paths. A record whose
    submission is gone or changed since grading gets no page (``records.current_records``)."""
    records, stale = store.current_records(Path(course), assignment)
    if students:
        wanted = set(students)
        records = {s: r for s, r in records.items() if s in wanted}
        stale = {s: why for s, why in stale.items() if s in wanted}
    for student in stale:  # an earlier page must not outlive the submission it described
        folder = Path(course) / "feedback" / ids.validate(student) / assignment
        if folder.is_dir() and not folder.is_symlink():
            shutil.rmtree(folder)
            try:
                folder.parent.rmdir()
            except OSError:  # other assignments' pages are still there
                pass
    out = []
    for student, rec in sorted(records.items()):
        # Notebook names come from what the notebook step reported: only plain names become
        # file names (the same alphabet as student ids).
        notebooks = sorted(nb for nb in rec.autograde.notebooks if ids.is_valid(nb)) or [assignment]
        html = render(rec)
        for nb in notebooks:
            path = page_path(course, assignment, student, nb)
            store.atomic_write(path, html)
            out.append(path)
    return out


_TAG = re.compile(r"<[^>]+>")


def visible_text(html: str) -> str:
    """The page's text without tags, entities decoded (for leak checks)."""
    import html as html_mod

    return html_mod.unescape(_TAG.sub(" ", html))
