"""The data file of the students' local checks (``checks/hw5_cases.npz`` in the release).

``make check`` holds no convolution or pooling code: its expected outputs, and the outputs of
every known mistake on the same inputs, are computed here from the reference when the release
is built and shipped as plain arrays (``np.savez``, loaded with ``allow_pickle=False``). The
cases are :func:`autograder.cases.check_cases`: fixed public data, never the grader's visible
or hidden cases.

Key ``table``: a 0-d string array holding the JSON of the task table as the checks need it
(:func:`autograder.tasks.public_table`, plus each task's error causes and the functions under the
NumPy-only rule): the checks, which ship without ``autograder/``, read their task ids, titles
and how to call each task from it. The other keys are ``"<task>::<case>::<part>"``:

* ``params``: a 0-d string array holding the case's JSON (parameters, tolerances per output);
* ``in::<name>``: an input array; ``ref::<key>``: the reference's output;
* ``mistake::<id>::<key>``: the output of known mistake ``<id>`` (see ``MISTAKE_KO``).

:func:`problems` is the release leak check's test of a shipped file: it must hold exactly the
arrays :func:`build_arrays` makes, so no hidden case and no code can ride along.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from autograder import cases as cases_mod
from autograder import grader, mistakes
from autograder import tasks as tasks_mod
from autograder.release import CHECKS_DATA as FILE_NAME  # noqa: E402

SEP = "::"
TABLE_KEY = "table"


def table() -> dict:
    """The task table as the students' checks read it (JSON)."""
    rows = tasks_mod.public_table()
    for row in rows:
        row["error_causes"] = list(mistakes.ERROR_CAUSES.get(row["function"], ()))
    return {"tasks": rows, "naive_functions": list(tasks_mod.naive_functions())}


def _tolerances(task: str, case: cases_mod.Case, ref: dict, rubric: dict) -> dict[str, float]:
    return {key: float(tol) for key, _r, tol, _w in grader._checks_for(task, case, ref, rubric)}


def build_arrays() -> dict[str, np.ndarray]:
    """Every array of the checks' data file, from the reference (deterministic)."""
    rubric = grader.load_rubric()
    out: dict[str, np.ndarray] = {TABLE_KEY: np.array(json.dumps(table(), sort_keys=True))}
    for task in cases_mod.TASKS:
        for case in cases_mod.check_cases(task):
            grader.prepare_net_case(case)
            case.numeric = {}
            ref = {k: np.asarray(v) for k, v in grader.reference_outputs(task, case).items()}
            head = f"{task}{SEP}{case.name}{SEP}"
            meta = {"params": case.params, "tolerances": _tolerances(task, case, ref, rubric)}
            if tasks_mod.get(task).kind == "model" and "X" not in case.arrays:
                meta["init_z"] = float(rubric["tolerances"]["init_z"])
            out[head + "params"] = np.array(json.dumps(meta, sort_keys=True))
            for name, arr in case.arrays.items():
                out[f"{head}in{SEP}{name}"] = np.asarray(arr)
            for key, arr in ref.items():
                out[f"{head}ref{SEP}{key}"] = arr
            for mistake, outs in grader.mistaken_outputs(task, case, ref).items():
                for key, arr in outs.items():
                    out[f"{head}mistake{SEP}{mistake}{SEP}{key}"] = np.asarray(arr)
    return out


def write(dest_dir: str | os.PathLike) -> Path:
    """Write ``dest_dir/hw5_cases.npz`` atomically; return its path."""
    dest = Path(dest_dir) / FILE_NAME
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".hw5_cases-", suffix=".npz", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **build_arrays())
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return dest


def problems(path: str | os.PathLike, rel: str) -> list[str]:
    """Why ``path`` is not exactly the checks' data file (empty list: it is)."""
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
        if any(not n.endswith(".npy") for n in names):
            return [f"{rel}: unexpected member in the checks' data file"]
        with np.load(path, allow_pickle=False) as data:
            got = {k: data[k] for k in data.files}
    except Exception as exc:  # noqa: BLE001  (any unreadable file is refused)
        return [f"{rel}: not a plain-array checks data file ({type(exc).__name__}: {exc})"]
    want = build_arrays()
    extra = sorted(set(got) - set(want))
    missing = sorted(set(want) - set(got))
    if extra or missing:
        return [
            f"{rel}: arrays differ from the checks' own cases (extra: {extra[:3]}, "
            f"missing: {missing[:3]})"
        ]
    changed = [
        k
        for k in want
        if got[k].dtype != want[k].dtype
        or got[k].shape != want[k].shape
        or not np.array_equal(got[k], want[k])
    ]
    if changed:
        return [f"{rel}: arrays differ from the checks' own cases: {changed[:3]}"]
    return []
