"""The four MNIST lab notebooks (notebooks/): built from their percent sources, clean, valid
nbgrader cells whose solutions nbgrader can strip, and each runs top to bottom in a real
Jupyter kernel in FAST MODE (synthetic IDX data; the real data too when INTRO2AI_REAL_DATA_DIR
points at a folder with mnist/)."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = REPO / "notebooks"
LABS = (
    "lab1_mnist_mlp_lenet",
    "lab2_im2col_simple_convnet",
    "lab3_mlp_augmentation",
    "lab4_cnn_mnist",
)
CELL_TIMEOUT = 600  # seconds per cell; a whole FAST MODE lab takes 5-40 s on 2 idle cores
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"_labs_{name}", NOTEBOOKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _nb(lab: str) -> nbformat.NotebookNode:
    return nbformat.read(NOTEBOOKS / f"{lab}.ipynb", as_version=4)


def test_every_lab_has_a_source_and_a_notebook():
    build = _load("build")
    assert build.targets(["lab"]) == [
        (NOTEBOOKS / "src" / f"{lab}.py", NOTEBOOKS / f"{lab}.ipynb") for lab in LABS
    ]
    # The one builder builds every notebook: the labs and HW5 (tests/test_hw5_notebook.py).
    assert {src.stem for src, _ in build.targets()} == {*LABS, "hw5"}
    for lab in LABS:
        assert (NOTEBOOKS / f"{lab}.ipynb").is_file(), (
            f"{lab}.ipynb missing: run python -m notebooks.build lab"
        )


@pytest.mark.parametrize("lab", LABS)
def test_committed_notebook_is_what_the_builder_writes(lab):
    build = _load("build")
    expected = build.render(build.build_notebook(NOTEBOOKS / "src" / f"{lab}.py"))
    assert (NOTEBOOKS / f"{lab}.ipynb").read_text(encoding="utf-8") == expected, (
        f"{lab}.ipynb is out of date with notebooks/src/{lab}.py: run python -m notebooks.build lab"
    )


@pytest.mark.parametrize("lab", LABS)
def test_notebook_has_no_outputs_and_no_personal_metadata(lab):
    nb = _nb(lab)
    nbformat.validate(nb)
    assert set(nb.metadata) <= {"kernelspec", "language_info"}, nb.metadata
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, (lab, cell.id)
        assert set(cell.metadata) <= {"nbgrader"}, (lab, cell.id, cell.metadata)
    text = json.dumps(nb)
    for leak in ("/work/", "/home/", "/tmp/", "Users/"):
        assert leak not in text, f"{lab}: a local path ({leak}) in the notebook"


@pytest.mark.parametrize("lab", LABS)
def test_notebook_documents_fast_mode_and_imports_the_package(lab):
    nb = _nb(lab)
    assert "INTRO2AI_FAST" in nb.cells[0].source, "FAST MODE must be documented at the top"
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "sys.path" not in code and "import *" not in code
    assert "from intro2ai import" in code
    for banned in ("torch", "tensorflow", "mxnet", "mygrad", "keras"):
        assert f"import {banned}" not in code, f"{lab} imports {banned}"
    assert "LAB_RESULT" in code


@pytest.mark.parametrize("lab", LABS)
def test_nbgrader_cells_are_well_formed(lab):
    nb = _nb(lab)
    ids, solutions, checks = [], 0, 0
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader")
        if meta is None:
            assert BEGIN not in cell.source, (lab, cell.id)
            continue
        assert cell.cell_type == "code"
        ids.append(meta["grade_id"])
        assert meta["grade_id"].startswith(lab[:4] + "_"), meta["grade_id"]
        if meta["solution"]:
            solutions += 1
            assert not meta["grade"] and not meta["locked"]
            assert cell.source.count(BEGIN) == cell.source.count(END) >= 1
        else:
            checks += 1
            assert meta["grade"] and meta["locked"] and meta["points"] >= 1
            assert "assert" in cell.source and "통과" in cell.source, (
                f"{lab}/{meta['grade_id']}: a check must assert and print a Korean verdict"
            )
    assert len(ids) == len(set(ids)), f"{lab}: duplicate grade ids {ids}"
    assert solutions >= 2 and checks >= 2, (lab, solutions, checks)


@pytest.mark.parametrize("lab", LABS)
def test_nbgrader_strips_every_solution(lab):
    from nbgrader.preprocessors import ClearSolutions

    nb = _nb(lab)
    solutions = {c.id: c.source for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution")}
    stripped, _ = ClearSolutions().preprocess(nb, {})
    for cell in stripped.cells:
        assert BEGIN not in cell.source and END not in cell.source, (lab, cell.id)
        if cell.id in solutions:
            assert "raise NotImplementedError" in cell.source, (lab, cell.id)
            body = solutions[cell.id].split(BEGIN)[1].split(END)[0].strip().splitlines()
            assert body[0].strip() not in cell.source, (lab, cell.id, "solution text left")


def test_kernel_is_this_interpreter():
    """nbclient's python3 kernel: argv 'python' is replaced by sys.executable (the venv)."""
    from jupyter_client.kernelspec import KernelSpecManager

    argv0 = KernelSpecManager().get_kernel_spec("python3").argv[0]
    assert argv0 in ("python", "python3", sys.executable), argv0


# One BLAS thread per kernel: CI runs several jobs on 2 cores, and oversubscribed OpenBLAS
# threads spin instead of working (a 10x slowdown measured on this machine under load).
SINGLE_THREAD = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _execute(lab: str, workdir: Path, env: dict[str, str]) -> dict:
    env = {**SINGLE_THREAD, **env}
    run_labs = _load("run_labs")
    nb, _ = run_labs.execute(NOTEBOOKS / f"{lab}.ipynb", workdir, env, timeout=CELL_TIMEOUT)
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            assert out.get("output_type") != "error", (lab, cell.id, out.get("ename"))
            # Korean titles and labels: the bundled font has the glyphs (no "Glyph ... missing").
            if out.get("output_type") == "stream" and out.get("name") == "stderr":
                assert "missing from font" not in out.get("text", ""), (
                    lab,
                    cell.id,
                    out["text"][:300],
                )
    result = run_labs.results_of(nb)
    assert result is not None, f"{lab}: no LAB_RESULT line"
    return result


@pytest.mark.slow
@pytest.mark.parametrize("lab", LABS)
def test_lab_runs_in_fast_mode_on_synthetic_data(lab, tmp_path):
    empty = tmp_path / "no-data"
    empty.mkdir()
    work = tmp_path / "work"
    work.mkdir()
    result = _execute(
        lab,
        work,
        {"INTRO2AI_FAST": "1", "INTRO2AI_DATA_DIR": str(empty), "INTRO2AI_LAB_DATASET": "mnist"},
    )
    assert result["fast"] is True and result["data"] == "synthetic", result
    assert not any(empty.iterdir()), "the synthetic set must go to a temporary folder"
    _assert_fast_plots_have_curves(lab, result)


def _assert_fast_plots_have_curves(lab: str, result: dict) -> None:
    """FAST MODE plots show what their text describes: curves, not single points."""
    if lab == "lab1":  # moving-average training curves and per-epoch test points
        assert result["mlp_epochs"] >= 3 and result["lenet_epochs"] >= 3, result
        assert result["curve_points"] >= 20, result
    elif lab == "lab3":  # training loss per epoch
        assert result["epochs"] >= 3, result
    elif lab == "lab4":  # test accuracy per epoch
        assert len(result["test_acc_per_epoch"]) == result["epochs"] >= 3, result


@pytest.mark.slow
@pytest.mark.parametrize("lab", LABS)
def test_lab_runs_in_fast_mode_on_real_mnist(lab, tmp_path):
    real = os.environ.get("INTRO2AI_REAL_DATA_DIR", "")
    if not real or not (Path(real) / "mnist").is_dir():
        pytest.skip("INTRO2AI_REAL_DATA_DIR with mnist/ not set (real data not available)")
    result = _execute(
        lab,
        tmp_path,
        {"INTRO2AI_FAST": "1", "INTRO2AI_DATA_DIR": real, "INTRO2AI_LAB_DATASET": "mnist"},
    )
    assert result["fast"] is True and result["data"] == "real", result
    _assert_fast_plots_have_curves(lab, result)
