"""Build every notebook of the kit from its percent-format source in ``notebooks/src/``.

The sources are jupytext "percent" scripts, easy to diff and review: the labs
(``src/labN_*.py`` -> ``notebooks/labN_*.ipynb``) and HW5 (``src/hw5.py`` ->
``assignments/source/hw5/hw5.ipynb``). The HW5 source lives here, not beside its notebook,
because ``nbgrader generate_assignment`` copies every file of ``assignments/source/hw5/`` into
the release, hidden tests included.

A cell starts at a line ``# %%`` (code) or ``# %% [markdown]``, followed by options written
``key="text"`` or ``key=123``:

- ``id="setup"``: the cell id (default: the grade id of a graded cell with ``-`` for ``_``,
  else ``<source name>-<position>``), so rebuilding is byte-for-byte reproducible.
- ``graded="hw5_conv_forward"``: a locked, autograded test cell of a task in the task table
  (:mod:`autograder.tasks`); its grade id is the task id and its points the task's points.
- ``solution="lab1_mlp"``: an exercise; the code holds ``### BEGIN SOLUTION`` /
  ``### END SOLUTION`` and nbgrader replaces the region with a stub at release.
- ``check="lab1_mlp_check" points=1``: a locked, autograded check of a lab (asserts); labs
  are not in the task table, so the points are written here.
- ``needs="hw5_conv_forward,hw5_conv_backward"``: the task ids whose student code the cell
  calls, kept in ``metadata["intro2ai"]["needs"]`` (a graded cell's own task first, then
  the others as written), so the tests can check that the released notebook fails only there.

Markdown lines start with ``# `` (an empty line is ``#``); in code cells an IPython magic is
commented out (``# %matplotlib inline``) so the source stays valid Python. The built notebooks
carry no outputs, no execution counts and no personal metadata.

Usage (from the kit's root)::

    python -m notebooks.build              # rebuild every notebook
    python -m notebooks.build hw5          # only the sources whose name starts with hw5
    python -m notebooks.build --check lab  # exit 1 if a committed lab notebook is out of date
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import nbformat

try:
    from autograder import tasks
except ModuleNotFoundError as exc:  # run by path: the kit's root is not on sys.path
    raise SystemExit("run the builder from the kit's root: python -m notebooks.build") from exc

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SRC = HERE / "src"
#: Where a source's notebook goes when not to ``notebooks/<name>.ipynb``.
OUTPUTS = {"hw5": REPO / "assignments" / "source" / "hw5" / "hw5.ipynb"}

KERNELSPEC = {"display_name": "Python 3", "language": "python", "name": "python3"}
LANGUAGE_INFO = {"name": "python"}
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"

_HEADER = re.compile(r"# %%(?:\s|$)")
_OPTION = re.compile(r'(\w+)=("[^"]*"|\d+)')
_MAGIC = re.compile(r"# (%%?[A-Za-z_]\w+(?:\s.*)?)$")  # e.g. "# %matplotlib inline"
_KNOWN = {"id", "graded", "solution", "check", "points", "needs"}


def parse_percent(text: str, name: str = "<source>") -> list[tuple[str, dict, str]]:
    """Split a percent script into ``(cell_type, options, source)`` triples.

    Markdown lines lose their leading ``# ``, commented magics in code cells are restored and
    blank lines around a cell are dropped (the subset of jupytext's percent format the sources
    use).
    """
    cells: list[tuple[str, dict, list[str]]] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if _HEADER.match(line):
            header = line[4:].strip()
            kind = "code"
            if header.startswith("[markdown]"):
                kind, header = "markdown", header[len("[markdown]") :].strip()
            options = {}
            for key, value in _OPTION.findall(header):
                if key not in _KNOWN or key in options:
                    raise ValueError(f"{name}:{lineno}: unknown or repeated cell option {key!r}")
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
            elif magic := _MAGIC.match(line):
                line = magic.group(1)
            cells[-1][2].append(line)
    return [(kind, opts, "\n".join(lines).strip("\n")) for kind, opts, lines in cells]


def _nbgrader(grade_id: str, *, solution: bool, points: float | None = None) -> dict:
    meta = {
        "grade": points is not None,
        "grade_id": grade_id,
        "locked": not solution,
        "schema_version": 3,
        "solution": solution,
        "task": False,
    }
    if points is not None:
        meta["points"] = int(points) if float(points).is_integer() else points
    return meta


def _code_cell(where: str, options: dict, source: str, cid: str) -> nbformat.NotebookNode:
    """One code cell with the nbgrader and ``intro2ai`` metadata its options ask for."""
    roles = [key for key in ("graded", "solution", "check") if key in options]
    if len(roles) > 1:
        raise ValueError(f"{where}: a cell is one of graded, solution and check, not {roles}")
    role = roles[0] if roles else None
    if "points" in options and role != "check":
        raise ValueError(f"{where}: points= belongs to check cells (graded cells: the task table)")
    has_markers = BEGIN in source and END in source
    if (role == "solution") != has_markers or (BEGIN in source) != (END in source):
        raise ValueError(
            f"{where}: solution cells need {BEGIN!r}/{END!r}, other cells must not have them"
        )
    cell = nbformat.v4.new_code_cell(source, id=cid)
    needs = [t for t in re.split(r"[\s,]+", options.get("needs", "")) if t]
    if role == "graded":
        task = tasks.get(options["graded"])  # KeyError naming the known tasks
        cell.metadata["nbgrader"] = _nbgrader(task.id, solution=False, points=task.points)
        needs.insert(0, task.id)
    elif role == "solution":
        cell.metadata["nbgrader"] = _nbgrader(options["solution"], solution=True)
    elif role == "check":
        cell.metadata["nbgrader"] = _nbgrader(
            options["check"], solution=False, points=options.get("points", 1)
        )
    if needs:
        cell.metadata["intro2ai"] = {"needs": list(dict.fromkeys(needs))}
    return cell


def build_notebook(src: Path) -> nbformat.NotebookNode:
    """Return the notebook built from one percent-format source file."""
    out = nbformat.v4.new_notebook()
    out.metadata = {"kernelspec": dict(KERNELSPEC), "language_info": dict(LANGUAGE_INFO)}
    ids: set[str] = set()
    grade_ids: set[str] = set()
    for i, (cell_type, options, source) in enumerate(
        parse_percent(src.read_text(encoding="utf-8"), src.name)
    ):
        where = f"{src.name} cell {i}"
        grade_id = options.get("graded") or options.get("solution") or options.get("check")
        default_id = grade_id.replace("_", "-") if "graded" in options else f"{src.stem}-{i:03d}"
        cid = options.get("id", default_id)
        if cid in ids or (grade_id and grade_id in grade_ids):
            raise ValueError(f"{where}: duplicate cell id {cid!r} or grade id {grade_id!r}")
        ids.add(cid)
        if cell_type == "markdown":
            if set(options) - {"id"}:
                raise ValueError(f"{where}: a markdown cell takes only id=, not {sorted(options)}")
            out.cells.append(nbformat.v4.new_markdown_cell(source, id=cid))
        else:
            if grade_id:
                grade_ids.add(grade_id)
            out.cells.append(_code_cell(where, options, source, cid))
    nbformat.validate(out)
    return out


def render(nb: nbformat.NotebookNode) -> str:
    return nbformat.writes(nb) + "\n"


def targets(names: list[str] | None = None) -> list[tuple[Path, Path]]:
    """``(source, notebook)`` pairs, sorted; ``names`` keeps the sources whose name starts with one."""
    pairs = [
        (src, OUTPUTS.get(src.stem, HERE / f"{src.stem}.ipynb")) for src in sorted(SRC.glob("*.py"))
    ]
    if names:
        pairs = [(src, dst) for src, dst in pairs if src.stem.startswith(tuple(names))]
        if not pairs:
            raise SystemExit(f"no source in {SRC} starts with {names}")
    return pairs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "names",
        nargs="*",
        help="build only the sources whose name starts with one (lab, lab1, hw5)",
    )
    parser.add_argument("--check", action="store_true", help="only report stale notebooks")
    args = parser.parse_args(argv)
    stale = []
    for src, dst in targets(args.names):
        text = render(build_notebook(src))
        if args.check:
            if not dst.is_file() or dst.read_text(encoding="utf-8") != text:
                stale.append(str(dst.relative_to(REPO)))
        else:
            dst.write_text(text, encoding="utf-8")
            print(f"wrote {dst.relative_to(REPO)}")
    if stale:
        print("out of date (run python -m notebooks.build): " + ", ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
