"""The course's nbgrader settings at work: `nbgrader autograde` with assignments/nbgrader_config.py
keeps the student's .py files, and a kernel that ignores interrupts fails its submission
without hanging the batch."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
CELL_TIMEOUT = 5  # seconds, instead of the course's 600, to keep the test short

pytestmark = pytest.mark.slow


def _notebook(*sources: str, graded_last: bool = True):
    cells = [new_code_cell(s) for s in sources]
    if graded_last:
        cells[-1].metadata["nbgrader"] = {
            "grade": True,
            "grade_id": "check_files",
            "locked": True,
            "points": 1,
            "schema_version": 3,
            "solution": False,
            "task": False,
        }
    nb = new_notebook(cells=cells)
    nb.metadata = {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}
    }
    return nb


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def test_autograde_keeps_student_files_and_survives_a_kernel_that_ignores_interrupts(tmp_path):
    course = tmp_path / "course"
    course.mkdir()
    shutil.copy(REPO / "assignments" / "nbgrader_config.py", course)
    check = (
        "assert open('intro2ai/layers.py').read() == 'X = \"student\"\\n'\n"
        "assert open('intro2ai/classifiers/cnn.py').read() == 'Y = \"student\"\\n'\n"
    )
    src = course / "source" / "hw5"
    nbformat.write(_notebook("x = 1", check), str(_mkdir(src) / "hw5.ipynb"))
    _write(src / "intro2ai" / "layers.py", 'X = "instructor"\n')
    _write(src / "intro2ai" / "classifiers" / "cnn.py", 'Y = "instructor"\n')

    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    nbg = [str(BIN / "nbgrader")]
    run = subprocess.run(
        nbg + ["generate_assignment", "hw5", "--force"],
        cwd=course,
        env=env,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    # nbgrader's own `alembic heads` program stamped this new gradebook; the kit's processes
    # read the same revision in-process.
    from autograder import gradebook

    with closing(sqlite3.connect(course / "gradebook.db")) as db:
        stamped = db.execute("SELECT version_num FROM alembic_version").fetchall()
    assert stamped == [(gradebook.alembic_head(),)]

    # Student "good": their own .py files must be graded (not the instructor's copies).
    good = course / "submitted" / "good" / "hw5"
    shutil.copytree(course / "release" / "hw5", good)
    _write(good / "intro2ai" / "layers.py", 'X = "student"\n')
    _write(good / "intro2ai" / "classifiers" / "cnn.py", 'Y = "student"\n')
    # Student "stuck": a cell that ignores SIGINT and never finishes.
    stuck = course / "submitted" / "stuck" / "hw5"
    shutil.copytree(good, stuck)
    nb = nbformat.read(str(stuck / "hw5.ipynb"), as_version=4)
    nb.cells[
        0
    ].source = "import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\ntime.sleep(300)"
    nbformat.write(nb, str(stuck / "hw5.ipynb"))

    start = time.monotonic()
    run = subprocess.run(
        nbg + ["autograde", "hw5", f"--Execute.timeout={CELL_TIMEOUT}"],
        cwd=course,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    elapsed = time.monotonic() - start
    log = run.stdout + run.stderr
    assert run.returncode != 0, log[-3000:]  # the batch reports the failed submission...
    assert "There was an error processing assignment 'hw5' for student 'stuck'" in log, log[-3000:]
    assert elapsed < 180, f"autograde took {elapsed:.0f} s: the stuck kernel held up the batch"
    # ...while the good one is graded with the student's files kept.
    graded = course / "autograded" / "good" / "hw5"
    assert (graded / "intro2ai" / "layers.py").read_text() == 'X = "student"\n'
    assert (graded / "intro2ai" / "classifiers" / "cnn.py").read_text() == 'Y = "student"\n'
    out = nbformat.read(str(graded / "hw5.ipynb"), as_version=4)
    assert not [o for c in out.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert not (course / "autograded" / "stuck" / "hw5" / "hw5.ipynb").exists()


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path
