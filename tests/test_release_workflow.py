"""The generated HW5 release, end to end: nbgrader + student edition + leak check, then the
student's workflow in a copy of it (make compile-cython / check / notebook / submit) and the
released notebook executed unchanged."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

from autograder import sandbox, tasks

REPO = Path(__file__).resolve().parent.parent
PY = sys.executable
TASKS = tasks.ids()  # the task table
STUDENT_FILES = sandbox.SUBMISSION_FILES  # the files students hand in (the table's)

pytestmark = pytest.mark.slow


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


release = _load("autograder_release_wf", REPO / "autograder" / "release.py")
nbtests = _load("hw5_notebook_tests_wf", REPO / "tests" / "test_hw5_notebook.py")


def _env() -> dict:
    env = dict(os.environ)
    env["PATH"] = str(Path(PY).parent) + os.pathsep + env.get("PATH", "")
    env.update({"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MPLBACKEND": "Agg"})
    env.pop("PYTHONPATH", None)
    return env


def _course_copy(dest: Path) -> Path:
    course = dest / "course"
    course.mkdir(parents=True)
    shutil.copy(REPO / "assignments" / "nbgrader_config.py", course)
    shutil.copytree(
        REPO / "assignments" / "source",
        course / "source",
        ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"),
    )
    return course


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A release built exactly as `make release` does, in a copy of the course folder."""
    course = _course_copy(tmp_path_factory.mktemp("release"))
    proc = subprocess.run(
        [PY, "-m", "autograder.release", "build", "hw5", "--course-dir", str(course)],
        cwd=REPO,
        env=_env(),
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return course / "release" / "hw5"


@pytest.fixture(scope="module")
def student(built, tmp_path_factory):
    """A student's copy of the release with the Cython extension built by `make compile-cython`."""
    home = tmp_path_factory.mktemp("student") / "hw5"
    shutil.copytree(built, home)
    proc = subprocess.run(
        ["make", "compile-cython", f"PYTHON={PY}"],
        cwd=home,
        env=_env(),
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert list((home / "intro2ai").glob("_im2col_cython*.so")), (
        "make compile-cython built no extension"
    )
    return home


def _make(home: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["make", *args, f"PYTHON={PY}"], cwd=home, env=_env(), capture_output=True, text=True
    )


# --------------------------------------------------------------------------- the release


def test_release_is_self_contained_and_clean(built):
    for rel in (
        "hw5.ipynb",
        "README.md",
        "Makefile",
        "setup.py",
        "pyproject.toml",
        "intro2ai/__init__.py",
        "intro2ai/layers.py",
        "intro2ai/classifiers/cnn.py",
        "intro2ai/_im2col_cython.pyx",
        "intro2ai/_direct_conv.h",
        "intro2ai/_direct_conv_driver.h",
        "intro2ai/_direct_conv_kernels.h",
        "intro2ai/_winograd.h",
        "intro2ai/_winograd_kernels.h",
        "intro2ai/_adam.h",
        "intro2ai/_malloc.py",
        "intro2ai/notebook_images/chelsea.jpg",
        "intro2ai/notebook_images/coffee.jpg",
        "intro2ai/fonts/NanumGothic.ttf",
        "intro2ai/fonts/OFL.txt",
        "checks/test_hw5.py",
        "checks/run_checks.py",
        "checks/submit.py",
        "checks/run_notebook.py",
    ):
        assert (built / rel).is_file(), rel
    for rel in ("intro2ai/fonts/NanumGothic.ttf", "intro2ai/fonts/OFL.txt"):
        assert (built / rel).read_bytes() == (REPO / rel).read_bytes(), rel
    for forbidden in ("autograder", "tests", "nbgrader_config.py", "gradebook.db"):
        assert not (built / forbidden).exists(), forbidden
    assert release.leak_check(built.parent) == []
    text = "\n".join(
        p.read_text(encoding="utf-8", errors="ignore") for p in built.rglob("*") if p.is_file()
    )
    assert "BEGIN HIDDEN TESTS" not in text and "_hw5_rng" not in text
    assert not [ln for ln in text.splitlines() if release._MARKER_LINE.match(ln)]
    # plain `pytest` in the release runs the students' checks, not the kit's missing tests/
    assert 'testpaths = ["checks"]' in (built / "pyproject.toml").read_text(encoding="utf-8")


def test_student_edition_is_byte_identical_outside_regions(built):
    for rel in STUDENT_FILES:
        src = (REPO / rel).read_text(encoding="utf-8")
        assert (built / rel).read_text(encoding="utf-8") == release.student_edition(src, rel)
    for py in (REPO / "intro2ai").rglob("*.py"):
        rel = py.relative_to(REPO).as_posix()
        if rel not in STUDENT_FILES and "__pycache__" not in rel:
            assert (built / rel).read_bytes() == py.read_bytes(), rel


def test_release_refuses_a_planted_leak(built, tmp_path):
    # 1. A solution line smuggled into a student-side file of the release: `build` refuses.
    #    (--no-nbgrader reuses the notebook nbgrader already generated; the leak sits where a
    #    file copied from source/hw5 would.)
    course = tmp_path / "course"
    shutil.copytree(built, course / "release" / "hw5")
    layers_src = (REPO / "intro2ai" / "layers.py").read_text(encoding="utf-8")
    region = release.find_regions(layers_src, "intro2ai/layers.py")[0]
    secret = release.secret_lines(REPO)
    line = next(
        ln
        for ln in layers_src.splitlines()[region.begin + 1 : region.end]
        if " ".join(ln.split()) in secret
    )
    (course / "release" / "hw5" / "checks" / "helpers.py").write_text(f"def helper():\n{line}\n")
    cmd = [
        PY,
        "-m",
        "autograder.release",
        "build",
        "hw5",
        "--course-dir",
        str(course),
        "--no-nbgrader",
    ]
    proc = subprocess.run(cmd, cwd=REPO, env=_env(), capture_output=True, text=True)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "RELEASE REFUSED" in proc.stderr and "helpers.py" in proc.stderr
    (course / "release" / "hw5" / "checks" / "helpers.py").unlink()
    proc = subprocess.run(cmd, cwd=REPO, env=_env(), capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # 2. A hidden test pasted back into the released notebook: refused.
    nb = nbformat.read(course / "release" / "hw5" / "hw5.ipynb", as_version=4)
    src_nb = nbformat.read(REPO / "assignments" / "source" / "hw5" / "hw5.ipynb", as_version=4)
    hidden = next(c.source for c in src_nb.cells if "### BEGIN HIDDEN TESTS" in c.source)
    body = hidden.split("### BEGIN HIDDEN TESTS")[1].split("### END HIDDEN TESTS")[0]
    nb.cells[-1].source += "\n" + body
    nbformat.write(nb, course / "release" / "hw5" / "hw5.ipynb")
    problems = release.leak_check(course / "release")
    assert any("hw5.ipynb" in p and "hidden test" in p for p in problems), problems
    # 3. An instructor-only module copied into a finished release: the check refuses.
    leaky = tmp_path / "leaky"
    shutil.copytree(built, leaky / "hw5")
    shutil.copytree(
        REPO / "autograder",
        leaky / "hw5" / "autograder",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    proc = subprocess.run(
        [PY, "-m", "autograder.release", "check", str(leaky)],
        cwd=REPO,
        env=_env(),
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1 and "autograder" in proc.stderr


# --------------------------------------------------------------------------- student workflow


def test_make_check_with_stubs_says_not_implemented_for_every_task(student):
    proc = _make(student, "check")
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    for task in TASKS:
        line = next(ln for ln in out.splitlines() if ln.startswith(task))
        assert "아직 구현하지 않음" in line or "선행 과제 필요" in line, line
    assert sum("아직 구현하지 않음" in ln for ln in out.splitlines()) == len(TASKS), out
    assert "Traceback" not in out and "주의: 이 폴더가 아닌" not in out, out


def test_make_check_one_task(student):
    proc = _make(student, "check", "TASK=hw5_max_pool_forward")
    out = proc.stdout
    assert proc.returncode != 0
    assert "hw5_max_pool_forward" in out and "hw5_conv_forward" not in out


def test_make_check_passes_with_the_reference_bodies_put_back(student, tmp_path):
    home = tmp_path / "hw5"
    shutil.copytree(student, home)
    for rel in STUDENT_FILES:
        shutil.copy(REPO / rel, home / rel)
    proc = _make(home, "check")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    for task in TASKS:
        line = next(ln for ln in out.splitlines() if ln.startswith(task))
        assert "통과" in line, line


def test_make_submit_writes_exactly_the_hand_in_files_and_their_hashes(student, tmp_path):
    home = tmp_path / "hw5"
    shutil.copytree(student, home)
    proc = _make(home, "submit", "STUDENT_ID=20261234")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    archive = home / "20261234_hw5_submission.zip"
    with zipfile.ZipFile(archive) as zf:
        names = sorted(zf.namelist())
        assert names == sorted(["hw5.ipynb", *STUDENT_FILES, "MANIFEST.sha256"])
        manifest = zf.read("MANIFEST.sha256").decode()
        for rel in ("hw5.ipynb", *STUDENT_FILES):
            digest = hashlib.sha256(zf.read(rel)).hexdigest()
            assert f"{digest}  {rel}" in manifest.splitlines()
            assert zf.read(rel) == (home / rel).read_bytes()
        assert "# notebook_mode: not-run" in manifest.splitlines()
    assert "아직 구현하지 않은 과제" in proc.stdout  # stubs untouched: warned, not refused


def test_make_submit_refuses_a_missing_or_broken_notebook(student, tmp_path):
    home = tmp_path / "hw5"
    shutil.copytree(student, home)
    (home / "hw5.ipynb").write_text('{"cells": [', encoding="utf-8")
    proc = _make(home, "submit", "STUDENT_ID=20261234")
    assert proc.returncode != 0 and "올바른 노트북(JSON)" in proc.stderr, proc.stderr
    (home / "hw5.ipynb").unlink()
    proc = _make(home, "submit", "STUDENT_ID=20261234")
    assert proc.returncode != 0 and "hw5.ipynb" in proc.stderr and "없습니다" in proc.stderr
    assert not list(home.glob("*.zip"))


def test_make_submit_requires_a_student_id_that_collect_can_place(student, tmp_path):
    home = tmp_path / "hw5"
    shutil.copytree(student, home)
    before = {p.relative_to(home): p.read_bytes() for p in home.rglob("*") if p.is_file()}
    proc = _make(home, "submit")
    assert (
        proc.returncode != 0 and "학번이 없습니다" in proc.stderr and "STUDENT_ID=" in proc.stderr
    )
    for bad in ("../20261234", "김철수", "a b", "CON", "x" * 65, 'a"; touch pwned; echo "'):
        proc = _make(home, "submit", f"STUDENT_ID={bad}")
        assert proc.returncode != 0 and "학번" in proc.stderr, (bad, proc.stdout, proc.stderr)
        assert "Traceback" not in proc.stderr
    after = {p.relative_to(home): p.read_bytes() for p in home.rglob("*") if p.is_file()}
    assert after == before, "a refused submit writes nothing"
    assert not (tmp_path / "20261234_hw5_submission.zip").exists()


def test_make_notebook_runs_the_released_notebook_which_fails_only_at_the_students_tasks(
    student, tmp_path
):
    """`INTRO2AI_FAST=1 make notebook` in the student's copy: a real kernel runs every cell, the
    notebook is saved with its outputs, the failing cells are listed, and `make submit` then
    records the FAST MODE run in the manifest."""
    home = tmp_path / "hw5"
    shutil.copytree(student, home)
    src = nbformat.read(REPO / "assignments" / "source" / "hw5" / "hw5.ipynb", as_version=4)
    needs = {c.id: c.metadata.get("intro2ai", {}).get("needs", []) for c in src.cells}
    graded = {
        c.id: c.metadata["nbgrader"]["grade_id"]
        for c in src.cells
        if c.metadata.get("nbgrader", {}).get("grade")
    }
    env = {**_env(), **nbtests.FAST_ENV}
    proc = subprocess.run(
        ["make", "notebook", f"PYTHON={PY}"], cwd=home, env=env, capture_output=True, text=True
    )
    assert proc.returncode != 0, proc.stdout + proc.stderr  # the stubs fail
    assert "저장했습니다: hw5.ipynb" in proc.stdout and "NotImplementedError" in proc.stdout, (
        proc.stdout
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    nb = nbformat.read(home / "hw5.ipynb", as_version=4)
    assert all(c.execution_count for c in nb.cells if c.cell_type == "code"), "every cell ran"
    errors = nbtests.errors_of(nb)
    assert sum("  - 셀 " in ln for ln in proc.stdout.splitlines()) == len(errors)
    failing_provided = sorted(cid for cid in errors if not needs.get(cid))
    assert not failing_provided, {cid: errors[cid].evalue[:200] for cid in failing_provided}
    for cid, task in graded.items():
        assert cid in errors, f"graded cell {task} did not fail on the stubs"
        err = errors[cid]
        assert err.ename == "NotImplementedError", (task, err.ename, err.evalue)
        assert any(t in err.evalue for t in needs[cid]) and "아직 구현하지 않았습니다" in err.evalue
    for cid, err in errors.items():
        assert err.ename in ("NotImplementedError", "NameError"), (cid, err.ename, err.evalue[:200])
    # The provided cells really ran: data loading and the sandwich checks print their verdicts.
    ran = {c.id for c in nb.cells if c.cell_type == "code" and c.outputs and c.id not in errors}
    assert {"setup", "data", "extension-status", "conv-relu-pool", "conv-relu"} <= ran

    proc = _make(home, "submit", "STUDENT_ID=20261234")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "FAST MODE" in proc.stdout  # the student is told the run was FAST MODE
    with zipfile.ZipFile(home / "20261234_hw5_submission.zip") as zf:
        assert "# notebook_mode: fast" in zf.read("MANIFEST.sha256").decode().splitlines()
        assert zf.read("hw5.ipynb") == (home / "hw5.ipynb").read_bytes()
