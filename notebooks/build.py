"""Build the lab notebooks (``notebooks/*.ipynb``) from their sources in ``notebooks/src/``.

The sources are jupytext "percent" scripts, easy to diff and review. Two cell options turn a
code cell into an nbgrader cell, so an instructor can release a lab like HW5:

- ``# %% solution="lab1_mlp"``: an exercise; the code holds ``### BEGIN SOLUTION`` /
  ``### END SOLUTION`` and nbgrader replaces the region with a stub at release.
- ``# %% check="lab1_mlp_check" points=1``: a locked, autograded check (asserts).

The built notebooks carry no outputs, no execution counts and no personal metadata; cell ids
are derived from the file name and position so rebuilding is byte-for-byte reproducible.

Usage::

    python notebooks/build.py          # rebuild every notebook
    python notebooks/build.py --check  # exit 1 if a committed notebook is out of date
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
SRC = HERE / "src"

KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
LANGUAGE_INFO = {"name": "python", "pygments_lexer": "ipython3"}
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"


def _nbgrader(grade_id: str, *, solution: bool, points: int | None = None) -> dict:
    meta = {
        "grade": points is not None,
        "grade_id": grade_id,
        "locked": not solution,
        "schema_version": 3,
        "solution": solution,
        "task": False,
    }
    if points is not None:
        meta["points"] = points
    return meta


_OPTION = re.compile(r'(\w+)=("[^"]*"|\d+)')


def parse_percent(text: str, name: str = "<source>") -> list[tuple[str, dict, str]]:
    """Split a percent script into ``(cell_type, options, source)`` triples.

    A cell starts at a line ``# %%`` (code) or ``# %% [markdown]``; options follow as
    ``key="text"`` or ``key=123``. Markdown lines lose their leading ``# ``. Blank lines around
    a cell are dropped. (The subset of jupytext's percent format the lab sources use.)
    """
    cells: list[tuple[str, dict, list[str]]] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if line.startswith("# %%"):
            header = line[4:].strip()
            kind = "code"
            if header.startswith("[markdown]"):
                kind, header = "markdown", header[len("[markdown]"):].strip()
            options = {}
            for key, value in _OPTION.findall(header):
                options[key] = value[1:-1] if value.startswith('"') else int(value)
            leftover = _OPTION.sub("", header).strip()
            if leftover:
                raise ValueError(f"{name}:{lineno}: cannot parse cell options {leftover!r}")
            cells.append((kind, options, []))
        elif not cells:
            if line.strip():
                raise ValueError(f"{name}:{lineno}: text before the first '# %%' line")
        else:
            kind = cells[-1][0]
            if kind == "markdown":
                if line == "#":
                    line = ""
                elif line.startswith("# "):
                    line = line[2:]
                elif line.strip():
                    raise ValueError(f"{name}:{lineno}: markdown lines must start with '# '")
            cells[-1][2].append(line)
    return [(kind, opts, "\n".join(lines).strip("\n")) for kind, opts, lines in cells]


def build_notebook(src: Path) -> nbformat.NotebookNode:
    """Return the notebook built from one percent-format source file."""
    out = nbformat.v4.new_notebook()
    out.metadata = {"kernelspec": dict(KERNELSPEC), "language_info": dict(LANGUAGE_INFO)}
    seen: set[str] = set()
    parsed = parse_percent(src.read_text(encoding="utf-8"), src.name)
    for i, (cell_type, meta, source) in enumerate(parsed):
        cid = f"{src.stem}-{i:03d}"
        cell = nbformat.NotebookNode(source=source)
        if cell_type == "markdown":
            new = nbformat.v4.new_markdown_cell(cell.source, id=cid)
        else:
            new = nbformat.v4.new_code_cell(cell.source, id=cid)
            sol, chk = meta.get("solution"), meta.get("check")
            if sol and chk:
                raise ValueError(f"{src.name} cell {i}: both solution and check")
            grade_id = sol or chk
            if grade_id:
                if grade_id in seen:
                    raise ValueError(f"{src.name} cell {i}: duplicate grade id {grade_id!r}")
                seen.add(grade_id)
                has_markers = BEGIN in cell.source and END in cell.source
                if bool(sol) != has_markers:
                    raise ValueError(
                        f"{src.name} cell {i} ({grade_id}): solution cells need "
                        f"{BEGIN!r}/{END!r}, other cells must not have them"
                    )
                if sol:
                    new.metadata["nbgrader"] = _nbgrader(sol, solution=True)
                else:
                    new.metadata["nbgrader"] = _nbgrader(
                        chk, solution=False, points=int(meta.get("points", 1))
                    )
            elif BEGIN in cell.source:
                raise ValueError(f"{src.name} cell {i}: markers in a cell without solution=")
        out.cells.append(new)
    return out


def render(nb: nbformat.NotebookNode) -> str:
    return nbformat.writes(nb) + "\n"


def targets() -> list[tuple[Path, Path]]:
    return [(src, HERE / f"{src.stem}.ipynb") for src in sorted(SRC.glob("lab*.py"))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report stale notebooks")
    args = parser.parse_args(argv)
    stale = []
    for src, dst in targets():
        text = render(build_notebook(src))
        if args.check:
            if not dst.is_file() or dst.read_text(encoding="utf-8") != text:
                stale.append(dst.name)
        else:
            dst.write_text(text, encoding="utf-8")
            print(f"wrote {dst.relative_to(HERE.parent)}")
    if stale:
        print("out of date (run python notebooks/build.py): " + ", ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
