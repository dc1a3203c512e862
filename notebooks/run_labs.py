"""Execute the lab notebooks top to bottom in a real Jupyter kernel and report their results.

Each lab prints one line ``LAB_RESULT {json}`` at the end (accuracies, seconds); this script
collects those lines and the wall time of each run.

Usage::

    python notebooks/run_labs.py --fast                       # every lab in FAST MODE
    INTRO2AI_DATA_DIR=/path/to/datasets python notebooks/run_labs.py lab1 lab4
    python notebooks/run_labs.py lab1 --dataset fashion-mnist --out /tmp/labs

The executed notebooks (with outputs) are written to ``--out`` (default: a temporary folder),
never next to the committed, output-free notebooks.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent
RESULT_PREFIX = "LAB_RESULT "


def lab_paths(names: list[str] | None = None) -> list[Path]:
    """The committed lab notebooks, optionally only those whose name starts with one of names."""
    paths = sorted(HERE.glob("lab*.ipynb"))
    if names:
        paths = [p for p in paths if any(p.name.startswith(n) for n in names)]
    return paths


def results_of(nb: nbformat.NotebookNode) -> dict | None:
    """The dict printed on the ``LAB_RESULT`` line of an executed notebook, if any."""
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                for line in out.get("text", "").splitlines():
                    if line.startswith(RESULT_PREFIX):
                        return json.loads(line[len(RESULT_PREFIX) :])
    return None


def execute(
    path: Path,
    workdir: Path,
    env: dict[str, str] | None = None,
    timeout: int = 7200,
    kernel_name: str = "python3",
) -> tuple[nbformat.NotebookNode, float]:
    """Run one notebook in ``workdir`` with extra environment variables; return (nb, seconds).

    The kernel inherits this process's environment plus ``env``. Raises
    ``nbclient.exceptions.CellExecutionError`` when a cell fails.
    """
    nb = nbformat.read(path, as_version=4)
    saved = {k: os.environ.get(k) for k in (env or {})}
    os.environ.update(env or {})
    os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    try:
        client = NotebookClient(
            nb,
            timeout=timeout,
            kernel_name=kernel_name,
            resources={"metadata": {"path": str(workdir)}},
        )
        start = time.perf_counter()
        try:
            client.execute()
        except Exception:
            nbformat.write(nb, workdir / f"FAILED-{path.name}")  # outputs up to the error
            raise
        seconds = time.perf_counter() - start
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return nb, seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("labs", nargs="*", help="lab name prefixes (default: all), e.g. lab1")
    parser.add_argument("--fast", action="store_true", help="set INTRO2AI_FAST=1")
    parser.add_argument(
        "--dataset", choices=["mnist", "fashion-mnist"], help="set INTRO2AI_LAB_DATASET"
    )
    parser.add_argument("--out", type=Path, help="folder for executed notebooks")
    parser.add_argument("--timeout", type=int, default=7200, help="seconds per cell")
    args = parser.parse_args(argv)
    env = {"INTRO2AI_FAST": "1" if args.fast else "0"}
    if args.dataset:
        env["INTRO2AI_LAB_DATASET"] = args.dataset
    out = args.out or Path(tempfile.mkdtemp(prefix="intro2ai-labs-"))
    out.mkdir(parents=True, exist_ok=True)
    failed = 0
    for path in lab_paths(args.labs):
        work = out / path.stem
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir()
        try:
            nb, seconds = execute(path, work, env, timeout=args.timeout)
        except Exception as exc:  # report and go on with the next lab
            failed += 1
            print(f"{path.name}: FAILED: {type(exc).__name__}: {str(exc)[-2000:]}", flush=True)
            continue
        suffix = f"-{args.dataset}" if args.dataset else ""
        nbformat.write(nb, work / f"{path.stem}{suffix}.ipynb")
        res = results_of(nb) or {}
        res["wall_seconds"] = round(seconds, 1)
        print(f"{path.name}: {json.dumps(res)}", flush=True)
    print(f"executed notebooks in {out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
