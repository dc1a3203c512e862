"""`make notebook`: run hw5.ipynb top to bottom in a real Jupyter kernel and save it in place.

Usage (from the homework folder)::

    python -m checks.run_notebook [NOTEBOOK]        # default hw5.ipynb

Every cell runs, even after one fails (the cells of tasks not done yet fail with
NotImplementedError; the rest of the notebook still runs), and the notebook is saved with
all outputs, written to a temporary file first and then moved over the original, so an
interrupted run never leaves a half-written notebook. Prints, in Korean, which cells failed.
Exit status: 0 when every cell ran without error, 1 when some cell failed, 2 when the notebook
could not be read or the kernel could not start. ``INTRO2AI_FAST=1`` in the environment reaches
the kernel (FAST MODE).
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CELL_TIMEOUT = None  # full CIFAR-10 training cells take minutes; Ctrl-C stops the run


def _errors(nb) -> list[tuple[int, str, str]]:
    found = []
    for index, cell in enumerate(nb.cells, start=1):
        for out in cell.get("outputs", []) if cell.cell_type == "code" else []:
            if out.get("output_type") == "error":
                first = (out.get("evalue") or "").strip().splitlines()
                found.append((index, out.get("ename", "?"), first[0][:120] if first else ""))
    return found


def run(path: Path) -> int:
    import nbformat
    from nbclient import NotebookClient

    try:
        nb = nbformat.read(path, as_version=4)
    except FileNotFoundError:
        print(
            f"노트북 파일이 없습니다: {path.name} (과제 폴더에서 실행했는지 확인하세요)",
            file=sys.stderr,
        )
        return 2
    except Exception as exc:  # nbformat raises several types for a damaged file
        print(
            f"{path.name} 가 올바른 노트북 파일이 아닙니다 ({type(exc).__name__}: {exc}).",
            file=sys.stderr,
        )
        return 2
    fast = os.environ.get("INTRO2AI_FAST", "").strip() not in ("", "0")
    mode = "FAST MODE (INTRO2AI_FAST=1, 작은 가짜 데이터)" if fast else "일반 모드 (실제 CIFAR-10)"
    print(f"{path.name} 을 처음부터 끝까지 실행합니다: {mode}. 몇 분 걸릴 수 있습니다.", flush=True)
    client = NotebookClient(
        nb,
        timeout=CELL_TIMEOUT,
        kernel_name="python3",
        allow_errors=True,
        resources={"metadata": {"path": str(path.parent)}},
    )
    try:
        client.execute()
    except KeyboardInterrupt:
        print("중단했습니다. 노트북 파일은 바뀌지 않았습니다.", file=sys.stderr)
        return 130
    except Exception as exc:  # kernel failed to start or died
        print(
            f"노트북을 실행하지 못했습니다 ({type(exc).__name__}: {exc}). "
            "make install 로 ipykernel 과 nbclient 가 설치되었는지 확인하세요. "
            "노트북 파일은 바뀌지 않았습니다.",
            file=sys.stderr,
        )
        return 2
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            nbformat.write(nb, f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    errors = _errors(nb)
    print(f"실행 결과를 저장했습니다: {path.name}")
    if not errors:
        print("모든 셀이 오류 없이 실행되었습니다.")
        return 0
    print(f"오류가 난 셀 {len(errors)} 개 (Jupyter 에서 열어 확인하세요: make jupyter):")
    for index, ename, evalue in errors:
        print(f"  - 셀 {index}: {ename}: {evalue}")
    return 1


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    return run(ROOT / (args[0] if args else "hw5.ipynb"))


if __name__ == "__main__":
    sys.exit(main())
