"""Unit tests of autograder.release: the student edition and the leak check (fast, no nbgrader)."""

from __future__ import annotations

import ast
import importlib.util
import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def _load_release():
    spec = importlib.util.spec_from_file_location(
        "autograder_release", REPO / "autograder" / "release.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


release = _load_release()

SOURCE = '''"""A module."""
import numpy as np


def helper(x):
    return x + 1


def double(x):
    """Double x.

    Task id: hw5_double
    """
    y = None
    ### BEGIN SOLUTION
    y = 2 * x  # the distinctive solution line
    ### END SOLUTION
    return y


class Model:
    """A model.

    Task id: hw5_model
    """

    def __init__(self, n):
        self.params = {}
        ### BEGIN SOLUTION
        self.params["W"] = np.arange(n, dtype=float) * 0.5
        ### END SOLUTION

    def loss(self, x):
        """Loss of x."""
        ### BEGIN SOLUTION
        return float(np.sum(self.params["W"] * x) ** 2)
        ### END SOLUTION
'''


def _exec(text: str) -> dict:
    namespace: dict = {}
    exec(compile(text, "<student>", "exec"), namespace)
    return namespace


def test_student_edition_replaces_every_region_with_a_named_stub():
    out = release.student_edition(SOURCE, "pkg/mod.py")
    assert "BEGIN SOLUTION" not in out and "END SOLUTION" not in out
    assert "2 * x" not in out and "np.arange(n" not in out and "** 2" not in out
    ns = _exec(out)
    assert ns["helper"](1) == 2  # provided code still works
    with pytest.raises(NotImplementedError, match=r"hw5_double: .*pkg/mod\.py.*double"):
        ns["double"](3)
    with pytest.raises(NotImplementedError, match=r"hw5_model: .*pkg/mod\.py.*Model\.__init__"):
        ns["Model"](3)
    model = object.__new__(ns["Model"])
    with pytest.raises(NotImplementedError, match=r"hw5_model: .*Model\.loss"):
        model.loss(1.0)
    # Korean message: "not implemented yet"
    assert "아직 구현하지 않았습니다" in out


def test_student_edition_keeps_everything_outside_the_regions_byte_identical():
    out = release.student_edition(SOURCE, "pkg/mod.py")
    src_lines = SOURCE.splitlines(keepends=True)
    out_lines = out.splitlines(keepends=True)
    regions = release.find_regions(SOURCE, "pkg/mod.py")
    kept = []
    pos = 0
    for r in regions:
        kept.append("".join(src_lines[pos : r.begin]))
        pos = r.end + 1
    kept.append("".join(src_lines[pos:]))
    rebuilt = out
    for piece in kept:
        assert piece in rebuilt
        rebuilt = rebuilt.replace(piece, "", 1)
    # what remains are only stub lines
    for line in rebuilt.splitlines():
        assert line.strip().startswith(("# TODO(", "raise NotImplementedError(", '"', ")")), line
    assert len(out_lines) == len(src_lines) - sum(r.end - r.begin + 1 for r in regions) + 5 * len(
        regions
    )


def test_student_edition_preserves_crlf_and_files_without_regions():
    crlf = SOURCE.replace("\n", "\r\n")
    out = release.student_edition(crlf, "pkg/mod.py")
    assert "\r\n" in out and "\n" not in out.replace("\r\n", "")
    plain = "def f():\n    return 1\n"
    assert release.student_edition(plain, "x.py") == plain


@pytest.mark.parametrize(
    "bad, why",
    [
        (
            "def f():\n    '''Task id: hw5_f'''\n    ### BEGIN SOLUTION\n    return 1\n",
            "never closed",
        ),
        ("def f():\n    '''Task id: hw5_f'''\n    ### END SOLUTION\n", "without"),
        (
            "def f():\n    '''no id'''\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION\n",
            "Task id",
        ),
        ("x = 1\n### BEGIN SOLUTION\nx = 2\n### END SOLUTION\n", "inside a function"),
        (
            "def f():\n    '''Task id: hw5_f'''\n    ### BEGIN SOLUTION\n    ### BEGIN SOLUTION\n"
            "    ### END SOLUTION\n",
            "nested",
        ),
    ],
)
def test_student_edition_refuses_malformed_regions(bad, why):
    with pytest.raises(release.ReleaseError, match=why):
        release.student_edition(bad, "x.py")


def _kit_files_with_tasks() -> dict[str, set[str]]:
    from autograder import tasks  # the task table: which file holds which task's region

    out: dict[str, set[str]] = {}
    for t in tasks.all_tasks():
        out.setdefault(t.file, set()).add(t.id)
    return out


KIT_FILES_WITH_TASKS = _kit_files_with_tasks()


@pytest.mark.parametrize("rel", sorted(KIT_FILES_WITH_TASKS))
def test_kit_files_have_every_task_region_and_a_valid_student_edition(rel):
    path = REPO / rel
    if not path.exists():
        pytest.skip(f"{rel} not written yet")
    text = path.read_text(encoding="utf-8")
    regions = release.find_regions(text, rel)
    assert {r.task_id for r in regions} == KIT_FILES_WITH_TASKS[rel]
    out = release.student_edition(text, rel)
    ast.parse(out)
    assert out.count("raise NotImplementedError(") - text.count(
        "raise NotImplementedError("
    ) == len(regions)
    for r in regions:
        assert f'"{r.task_id}: 아직 구현하지 않았습니다. "' in out
        assert f"{rel} 의 " in out


# --------------------------------------------------------------------------- leak check


def _fake_kit(root: Path) -> Path:
    (root / "intro2ai").mkdir(parents=True)
    (root / "intro2ai" / "mod.py").write_text(SOURCE, encoding="utf-8")
    nb_dir = root / "assignments" / "source" / "hw5"
    nb_dir.mkdir(parents=True)
    nb = {
        "cells": [
            {
                "cell_type": "code",
                "metadata": {},
                "outputs": [],
                "execution_count": None,
                "source": [
                    "assert double(2) == 4\n",
                    "### BEGIN HIDDEN TESTS\n",
                    "assert double(21) == 42, 'hidden case twenty-one'\n",
                    "### END HIDDEN TESTS\n",
                ],
            }
        ],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    (nb_dir / "hw5.ipynb").write_text(json.dumps(nb), encoding="utf-8")
    return root


def _clean_release(root: Path, kit: Path) -> Path:
    rel = root / "release" / "hw5"
    (rel / "intro2ai").mkdir(parents=True)
    (rel / "intro2ai" / "mod.py").write_text(
        release.student_edition(SOURCE, "intro2ai/mod.py"), encoding="utf-8"
    )
    nb = {
        "cells": [
            {
                "cell_type": "code",
                "metadata": {},
                "outputs": [],
                "execution_count": None,
                "source": ["assert double(2) == 4\n"],
            }
        ],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    (rel / "hw5.ipynb").write_text(json.dumps(nb), encoding="utf-8")
    (rel / "README.md").write_text("# 과제 5\n`make check` 로 확인하세요.\n", encoding="utf-8")
    return rel


def test_secret_lines_hold_distinctive_solution_and_hidden_lines_only(tmp_path):
    kit = _fake_kit(tmp_path / "kit")
    secrets = release.secret_lines(kit)
    assert "y = 2 * x # the distinctive solution line" in secrets
    assert "assert double(21) == 42, 'hidden case twenty-one'" in secrets
    assert "assert double(2) == 4" not in secrets  # visible test: public
    assert not any("BEGIN" in s for s in secrets)


def test_leak_check_passes_a_clean_release(tmp_path):
    kit = _fake_kit(tmp_path / "kit")
    rel = _clean_release(tmp_path, kit)
    assert release.leak_check(rel, kit) == []


@pytest.mark.parametrize(
    "plant, expect",
    [
        # a solution line pasted into a released file, re-indented
        (
            lambda r: (r / "intro2ai" / "extra.py").write_text(
                "def g(x):\n  y = 2 * x  # the distinctive solution line\n"
            ),
            "line of a solution",
        ),
        # the instructor edition itself
        (lambda r: (r / "intro2ai" / "mod.py").write_text(SOURCE), "marker"),
        # a hidden test copied into the notebook
        (
            lambda r: (r / "hw5.ipynb").write_text(
                json.dumps(
                    {
                        "cells": [
                            {
                                "cell_type": "code",
                                "metadata": {},
                                "outputs": [],
                                "execution_count": None,
                                "source": ["assert double(21) == 42, 'hidden case twenty-one'\n"],
                            }
                        ],
                        "metadata": {},
                        "nbformat": 4,
                        "nbformat_minor": 5,
                    }
                )
            ),
            "line of a solution or hidden test",
        ),
        # a marker mentioned in the README
        (lambda r: (r / "README.md").write_text("see ### BEGIN HIDDEN TESTS\n"), "marker"),
        # instructor-only folders and artefacts
        (
            lambda r: (
                (r / "autograder").mkdir(),
                (r / "autograder" / "x.py").write_text("a = 1\n"),
            ),
            "autograder",
        ),
        (
            lambda r: ((r / "tests").mkdir(), (r / "tests" / "test_x.py").write_text("a = 1\n")),
            "tests",
        ),
        (lambda r: (r / "expected_values.json").write_text("{}"), "instructor artefact"),
        (lambda r: (r / "ref.npz").write_bytes(b"PK\x03\x04"), "artefact"),
        (
            lambda r: (
                (r / "intro2ai" / "__pycache__").mkdir(),
                (r / "intro2ai" / "__pycache__" / "mod.cpython-311.pyc").write_bytes(b"\x00"),
            ),
            "__pycache__",
        ),
        (lambda r: (r / "gradebook.db").write_bytes(b"SQLite"), "gradebook.db"),
    ],
)
def test_leak_check_finds_planted_leaks(tmp_path, plant, expect):
    kit = _fake_kit(tmp_path / "kit")
    rel = _clean_release(tmp_path, kit)
    plant(rel)
    problems = release.leak_check(rel, kit)
    assert problems, "planted leak not found"
    assert any(expect in p for p in problems), problems


def test_leak_check_cli_exits_non_zero_on_a_leak(tmp_path, capsys, monkeypatch):
    kit = _fake_kit(tmp_path / "kit")
    rel = _clean_release(tmp_path, kit)
    monkeypatch.setattr(release, "KIT_ROOT", kit)
    monkeypatch.setattr(release.leak_check, "__defaults__", (kit,))
    assert release.main(["check", str(rel)]) == 0
    (rel / "intro2ai" / "mod.py").write_text(SOURCE)
    assert release.main(["check", str(rel)]) == 1
    assert "RELEASE REFUSED" in capsys.readouterr().err


# --------------------------------------------------------------------------- nbgrader course config


def _course_config():
    from traitlets.config.loader import PyFileConfigLoader

    return PyFileConfigLoader("nbgrader_config.py", path=str(REPO / "assignments")).load_config()


def test_nbgrader_config_keeps_student_files_and_cannot_hang_a_batch():
    cfg = _course_config()
    assert cfg.CourseDirectory.course_id == "intro2ai"
    assert cfg.CourseDirectory.source_directory == "source"
    assert Path(cfg.CourseDirectory.root) == REPO / "assignments"
    assert sorted(cfg.Autograde.exclude_overwriting["hw5"]) == sorted(
        ["intro2ai/layers.py", "intro2ai/classifiers/cnn.py"]
    )
    assert cfg.Execute.timeout >= 300  # naive loops on a slow laptop
    assert cfg.Execute.interrupt_on_timeout is False  # a timeout fails the submission...
    assert cfg.Execute.shutdown_kernel == "immediate"  # ...and the kernel is killed, not awaited
    # make collect is the one way in (autograder.collect); nbgrader's zip_collect stays unconfigured
    assert "named_regexp" not in cfg.get("FileNameCollectorPlugin", {})


def test_leak_check_finds_lines_of_instructor_only_files(tmp_path):
    kit = _fake_kit(tmp_path / "kit")
    (kit / "autograder").mkdir()
    (kit / "autograder" / "cases.py").write_text(
        "HIDDEN_SEED = 0x5EED  # the hidden cases' secret seed, never released\n"
        "import numpy as np\n"
    )
    rel = _clean_release(tmp_path, kit)
    assert release.leak_check(rel, kit) == []
    (rel / "intro2ai" / "seed.py").write_text(
        "import numpy as np\nHIDDEN_SEED = 0x5EED  # the hidden cases' secret seed, never released\n"
    )
    problems = release.leak_check(rel, kit)
    assert len(problems) == 1 and "instructor-only file autograder/cases.py" in problems[0], (
        problems
    )
