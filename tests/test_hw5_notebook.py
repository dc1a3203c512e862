"""The HW5 source notebook: built from its one source (``notebooks/src/hw5.py``) by the one
notebook builder, clean, well-formed for nbgrader, and it runs top to bottom in a real Jupyter
kernel (FAST MODE) on the instructor edition."""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path

import nbformat
import pytest

from autograder import tasks

REPO = Path(__file__).resolve().parent.parent
NOTEBOOK = REPO / "assignments" / "source" / "hw5" / "hw5.ipynb"
SOURCE = REPO / "notebooks" / "src" / "hw5.py"  # the one source; notebooks/build.py builds it
NOTEBOOK_TIMEOUT = 600  # seconds per cell; the whole FAST MODE run takes ~1-2 min on 2 cores


def _nb():
    return nbformat.read(NOTEBOOK, as_version=4)


def test_committed_notebook_is_what_the_builder_writes():
    from notebooks import build

    assert dict(build.targets(["hw5"])) == {SOURCE: NOTEBOOK}
    assert NOTEBOOK.read_text(encoding="utf-8") == build.render(build.build_notebook(SOURCE)), (
        "hw5.ipynb is out of date with notebooks/src/hw5.py: run `make hw5-notebook` "
        "(never edit the .ipynb by hand)"
    )


def test_every_notebook_source_is_valid_python():
    """Magics are commented in the sources, so linters and editors read them as Python."""
    import ast

    from notebooks import build

    for src, _ in build.targets():
        ast.parse(src.read_text(encoding="utf-8"), filename=str(src))


def _build_source(tmp_path: Path, text: str) -> nbformat.NotebookNode:
    from notebooks import build

    src = tmp_path / "hw5_tiny.py"
    src.write_text(text, encoding="utf-8")
    return build.build_notebook(src)


def test_graded_cell_takes_grade_id_and_points_from_the_task_table(tmp_path):
    task = tasks.all_tasks()[1]
    nb = _build_source(
        tmp_path,
        f'''# %% [markdown] id="intro"
# 제목
#
# 본문

# %% id="setup"
# %matplotlib inline
x = 1  # %d is a comment, not a magic

# %% graded="{task.id}" needs="{tasks.ids()[0]}"
assert x == 1
''',
    )
    intro, setup, graded = nb.cells
    assert (intro.id, intro.cell_type, intro.source) == ("intro", "markdown", "제목\n\n본문")
    assert setup.source == "%matplotlib inline\nx = 1  # %d is a comment, not a magic"
    assert setup.metadata == {}
    assert graded.id == task.id.replace("_", "-")
    assert graded.metadata["nbgrader"] == {
        "grade": True,
        "grade_id": task.id,
        "locked": True,
        "points": task.points,
        "schema_version": 3,
        "solution": False,
        "task": False,
    }
    assert graded.metadata["intro2ai"] == {"needs": [task.id, tasks.ids()[0]]}


@pytest.mark.parametrize(
    "header, error",
    [
        ('# %% graded="hw5_no_such_task"', KeyError),  # grade ids come from the task table only
        ('# %% graded="hw5_conv_forward" points=3', ValueError),  # and so do their points
        ('# %% graded="hw5_conv_forward" check="x"', ValueError),
        ('# %% colour="red"', ValueError),
    ],
)
def test_builder_refuses_a_cell_the_task_table_does_not_back(tmp_path, header, error):
    with pytest.raises(error):
        _build_source(tmp_path, header + "\nassert True\n")


def test_notebook_has_no_outputs_and_no_personal_metadata():
    nb = _nb()
    nbformat.validate(nb)
    assert set(nb.metadata) <= {"kernelspec", "language_info"}, nb.metadata
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, cell.id
        assert set(cell.metadata) <= {"nbgrader", "intro2ai"}, (cell.id, cell.metadata)


def test_graded_cells_are_the_tasks_with_hidden_tests_and_rubric_points():
    nb = _nb()
    graded = {
        c.metadata["nbgrader"]["grade_id"]: c
        for c in nb.cells
        if c.metadata.get("nbgrader", {}).get("grade")
    }
    assert sorted(graded) == sorted(tasks.ids())  # one graded cell per task of the table
    rubric_path = REPO / "autograder" / "rubric.toml"
    rubric = tomllib.loads(rubric_path.read_text()) if rubric_path.exists() else {}
    for task, cell in graded.items():
        meta = cell.metadata["nbgrader"]
        assert meta["locked"] and not meta["solution"] and meta["points"] > 0
        assert task in cell.metadata["intro2ai"]["needs"]
        src = cell.source
        assert src.count("### BEGIN HIDDEN TESTS") == 1 and src.count("### END HIDDEN TESTS") == 1
        visible = src.split("### BEGIN HIDDEN TESTS")[0]
        assert "assert " in visible and "통과" in visible, (
            f"{task}: visible part must assert and print a verdict"
        )
        if task in rubric.get("tasks", {}):
            assert meta["points"] == sum(rubric["tasks"][task]["cases"].values()), task


def test_notebook_imports_the_installed_package_only():
    text = "\n".join(c.source for c in _nb().cells if c.cell_type == "code")
    assert "sys.path" not in text
    assert "import *" not in text
    assert (
        "python -m intro2ai.datasets download cifar10" in text
    )  # the Korean how-to-download message
    assert "INTRO2AI_FAST" in text


def _execute(path: Path, cwd: Path, env_extra: dict) -> nbformat.NotebookNode:
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    old = {k: os.environ.get(k) for k in env_extra}
    os.environ.update(env_extra)
    try:
        client = NotebookClient(
            nb,
            timeout=NOTEBOOK_TIMEOUT,
            kernel_name="python3",
            allow_errors=True,
            shutdown_kernel="immediate",
            resources={"metadata": {"path": str(cwd)}},
        )
        client.execute()
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return nb


def errors_of(nb) -> dict[str, nbformat.NotebookNode]:
    out = {}
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for o in cell.outputs:
            if o.output_type == "error":
                out[cell.id] = o
    return out


def printed(nb, stream: str) -> str:
    """What the notebook printed on one stream, cell by cell.

    A kernel may flush one print() in several stream messages (under load, `print("a:", x)` can
    arrive as "a:" and " 0.3\n"), so a cell's pieces are joined as they came, never with a
    separator of ours.
    """
    return "\n".join(
        "".join(
            o.get("text", "") for o in c.outputs if o.output_type == "stream" and o.name == stream
        )
        for c in nb.cells
        if c.cell_type == "code"
    )


FAST_ENV = {
    "INTRO2AI_FAST": "1",
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MPLBACKEND": "Agg",
}


@pytest.mark.slow
def test_source_notebook_runs_top_to_bottom_in_fast_mode(tmp_path):
    nb = _execute(NOTEBOOK, tmp_path, FAST_ENV)
    errors = errors_of(nb)
    assert not errors, {k: f"{e.ename}: {e.evalue[:300]}" for k, e in errors.items()}
    text = printed(nb, "stdout")
    for verdict in (
        "통과: conv_forward_naive",
        "통과: dx, dw, db",
        "통과: max_pool_forward_naive",
        "통과: max_pool_backward_naive",
        "통과: ThreeLayerConvNet",
        "통과: 적은 데이터에 overfitting",
        "FAST MODE",
    ):
        assert verdict in text, verdict
    assert re.search(r"Speedup: [0-9.]+x", text)
    # The overfitting section says validation stays low while training reaches ~1: so must the
    # FAST MODE numbers it plots (the synthetic classes are easy: 100 images generalise).
    train_acc = float(re.search(r"Small data training accuracy: ([0-9.]+)", text).group(1))
    val_acc = float(re.search(r"Small data validation accuracy: ([0-9.]+)", text).group(1))
    assert train_acc >= 0.9 and val_acc <= 0.7 and train_acc - val_acc >= 0.3, (train_acc, val_acc)
    # Korean titles and labels are drawn with a font that has Hangul: no missing-glyph warning.
    stderr = printed(nb, "stderr")
    assert "missing from font" not in stderr, stderr[:500]
    images = [
        c.id
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.outputs
        if o.output_type == "display_data" and "image/png" in o.data
    ]
    assert {"image-demo", "overfit-plot", "filters"} <= set(images), images


@pytest.mark.slow
def test_data_cell_without_cifar10_says_which_command_downloads_it(tmp_path):
    nb = _nb()
    nb.cells = [c for c in nb.cells if c.id in ("setup", "data")]
    path = tmp_path / "two_cells.ipynb"
    nbformat.write(nb, path)
    empty = tmp_path / "no_data"
    empty.mkdir()
    env = {"INTRO2AI_FAST": "0", "INTRO2AI_DATA_DIR": str(empty), "MPLBACKEND": "Agg"}
    ran = _execute(path, tmp_path, env)
    errors = errors_of(ran)
    assert list(errors) == ["data"] and errors["data"].ename == "FileNotFoundError"
    said = printed(ran, "stdout")
    assert "CIFAR-10 데이터가 없습니다" in said
    assert "python -m intro2ai.datasets download cifar10" in said
