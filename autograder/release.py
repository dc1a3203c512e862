"""Student edition of the course library and the release leak check.

The kit's ``intro2ai/*.py`` files are the instructor edition: each student task body sits
between a ``### BEGIN SOLUTION`` line and a ``### END SOLUTION`` line, inside a function (or
class) whose docstring states ``Task id: hw5_...``. nbgrader strips solutions from notebooks
only, so this module builds the student edition of the ``.py`` files itself:

* :func:`student_edition` turns every solution region into a stub that raises
  ``NotImplementedError`` naming the task id and the file to edit (Korean message, English
  terms). Every byte outside the regions is kept as it is.
* :func:`leak_check` scans a release folder for anything that must not reach students:
  solution-region lines, hidden-test lines, solution/hidden-test markers, instructor-only
  folders (``autograder/``, ``tests/``, samples, gradebooks) and reference artefacts
  (compiled instructor code, saved arrays, archives). The one saved-array file allowed is the
  local checks' data (``checks/hw5_cases.npz``), and only when it holds exactly the arrays
  :mod:`autograder.checkdata` builds from the checks' public cases.
* ``python -m autograder.release build`` (behind ``make release``) runs
  ``nbgrader generate_assignment``, writes the student edition of the package and the local
  checks' data into ``assignments/release/<hw>/`` and exits non-zero when the leak check finds
  anything.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

SOLUTION_BEGIN = "### BEGIN SOLUTION"
SOLUTION_END = "### END SOLUTION"
HIDDEN_BEGIN = "### BEGIN HIDDEN TESTS"
HIDDEN_END = "### END HIDDEN TESTS"

#: The repository this module belongs to (the instructor's kit).
KIT_ROOT = Path(__file__).resolve().parent.parent

#: Solution or hidden-test lines shorter than this (whitespace removed) are too generic to
#: identify a leak (``return dx``, ``pass``, ``)``); longer ones are compared verbatim.
MIN_LEAK_LINE_CHARS = 12

# A marker used as a marker: a comment line starting with ### BEGIN/END SOLUTION|HIDDEN TESTS.
_MARKER_LINE = re.compile(r"^\s*#+\s*(BEGIN|END)\s+(SOLUTION|HIDDEN\s+TESTS)\b", re.IGNORECASE)
# Any mention of a marker (used for notebooks and non-Python text, which never need one).
_MARKER_ANY = re.compile(r"(BEGIN|END)\s+(SOLUTION|HIDDEN\s+TESTS)\b", re.IGNORECASE)
_TASK_ID = re.compile(r"Task id:\s*(hw\d+_[A-Za-z0-9_]+)")
_SCOPE = re.compile(r"^(\s*)(?:async\s+)?(def|class)\s+([A-Za-z_][A-Za-z0-9_]*)")

# Path parts that are instructor-only wherever they appear under release/.
FORBIDDEN_DIRS = {
    "autograder",
    "tests",
    "samples",
    "submitted",
    "autograded",
    "feedback",
    "source",
    "__pycache__",
    ".ipynb_checkpoints",
    ".grading",
    "build",
    ".git",
}
FORBIDDEN_NAMES = {
    "gradebook.db",
    ".nbgrader.log",
    "nbgrader_config.py",
    ".grader_seed",
    ".record_key",
}  # the hidden cases' seed, the records' MAC key
# Compiled instructor code, saved arrays and archives: reference artefacts, never released.
FORBIDDEN_SUFFIXES = {
    ".pyc",
    ".pyo",
    ".so",
    ".pyd",
    ".c",
    ".o",
    ".html",
    ".npy",
    ".npz",
    ".pkl",
    ".pickle",
    ".db",
    ".sqlite",
    ".zip",
    ".tar",
    ".gz",
    ".tgz",
    ".bz2",
    ".xz",
    ".7z",
    ".h5",
    ".pt",
}
#: The data file of the students' local checks (autograder/checkdata.py): the only saved arrays
#: a release may hold, and only when they are exactly what checkdata builds.
CHECKS_DATA = "hw5_cases.npz"
_FORBIDDEN_NAME_WORDS = re.compile(r"(expected|solution|reference|answer|hidden)", re.IGNORECASE)

# What a release folder holds besides the nbgrader output (copied from the kit).
PACKAGE_DIR = "intro2ai"
KIT_FILES = ("setup.py", "pyproject.toml")
_PACKAGE_SKIP_DIRS = {"__pycache__", ".ipynb_checkpoints", "build"}
_PACKAGE_SKIP_SUFFIXES = {".pyc", ".pyo", ".so", ".pyd", ".c", ".o", ".html"}


class ReleaseError(ValueError):
    """A kit file whose solution regions cannot be turned into a student edition."""


@dataclass(frozen=True)
class Region:
    """One solution region of a source file (0-based line numbers of its marker lines)."""

    task_id: str
    qualname: str
    begin: int
    end: int
    indent: str


def _scopes_enclosing(source_text: str, index: int, path: str) -> list[tuple[int, str]]:
    """``(0-based header line, name)`` of the defs/classes enclosing line ``index``, innermost first."""
    try:
        tree = ast.parse(source_text)
    except SyntaxError as exc:
        raise ReleaseError(f"{path}: cannot parse ({exc})") from exc
    scopes = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            first = min([node.lineno] + [d.lineno for d in node.decorator_list]) - 1
            if first < index < node.end_lineno:
                scopes.append((node.lineno - 1, node.name))
    scopes.sort(reverse=True)  # innermost = latest header
    return scopes


def find_regions(source_text: str, path: str) -> list[Region]:
    """Every solution region of ``source_text``, with the task id of its enclosing function.

    Raises
    ------
    ReleaseError
        On an unbalanced or nested marker, a region outside any function, or a region whose
        enclosing function/class states no ``Task id:``.
    """
    lines = source_text.splitlines()
    regions: list[Region] = []
    begin = None
    for i, line in enumerate(lines):
        stripped = line.strip()
        if stripped == SOLUTION_BEGIN:
            if begin is not None:
                raise ReleaseError(
                    f"{path}:{i + 1}: nested '{SOLUTION_BEGIN}' (line {begin + 1} is still open)"
                )
            begin = i
        elif stripped == SOLUTION_END:
            if begin is None:
                raise ReleaseError(f"{path}:{i + 1}: '{SOLUTION_END}' without '{SOLUTION_BEGIN}'")
            regions.append(_make_region(lines, begin, i, path))
            begin = None
        elif _MARKER_LINE.match(line) and "SOLUTION" in stripped.upper():
            raise ReleaseError(
                f"{path}:{i + 1}: malformed solution marker {stripped!r}; "
                f"use exactly '{SOLUTION_BEGIN}' / '{SOLUTION_END}'"
            )
    if begin is not None:
        raise ReleaseError(f"{path}:{begin + 1}: '{SOLUTION_BEGIN}' is never closed")
    return regions


def _make_region(lines: list[str], begin: int, end: int, path: str) -> Region:
    scopes = _scopes_enclosing("\n".join(lines), begin, path)
    if not scopes:
        raise ReleaseError(f"{path}:{begin + 1}: a solution region must sit inside a function")
    task_id = None
    for start, _name in scopes:  # innermost first: the method's docstring, then its class's
        match = _TASK_ID.search("\n".join(lines[start:begin]))
        if match:
            task_id = match.group(1)
            break
    if task_id is None:
        raise ReleaseError(
            f"{path}:{begin + 1}: no 'Task id: hw..._...' in the docstring of "
            f"{'.'.join(n for _, n in reversed(scopes))}"
        )
    marker = lines[begin]
    indent = marker[: len(marker) - len(marker.lstrip())]
    qualname = ".".join(name for _, name in reversed(scopes))
    return Region(task_id, qualname, begin, end, indent)


def stub_lines(region: Region, path: str) -> list[str]:
    """The lines (without line ends) that replace ``region`` in the student edition."""
    ind = region.indent
    return [
        f"{ind}# TODO({region.task_id}): 아래 raise 문을 지우고 이 자리에 코드를 작성하세요.",
        f"{ind}raise NotImplementedError(",
        f'{ind}    "{region.task_id}: 아직 구현하지 않았습니다. "',
        f'{ind}    "{path} 의 {region.qualname} 에서 이 raise 문을 지우고 구현하세요."',
        f"{ind})",
    ]


def student_edition(source_text: str, path: str) -> str:
    """The student edition of one kit source file.

    Parameters
    ----------
    source_text : str
        The instructor edition (may contain no solution region: it is then returned as is).
    path : str
        The file's path relative to the release root, e.g. ``"intro2ai/layers.py"``; the stub
        message tells the student to edit this file.

    Returns
    -------
    str
        ``source_text`` with every solution region (marker lines included) replaced by a stub
        that raises ``NotImplementedError`` naming the task id and ``path``. Every byte outside
        the regions is unchanged.
    """
    regions = find_regions(source_text, path)
    if not regions:
        return source_text
    raw = source_text.splitlines(keepends=True)
    out: list[str] = []
    pos = 0
    for region in regions:
        out.extend(raw[pos : region.begin])
        marker = raw[region.begin]
        eol = marker[len(marker.rstrip("\r\n")) :] or "\n"
        out.extend(line + eol for line in stub_lines(region, path))
        pos = region.end + 1
    out.extend(raw[pos:])
    text = "".join(out)
    if not source_text.endswith(("\n", "\r")) and text.endswith("\n") and pos > len(raw) - 1:
        text = text.rstrip("\r\n")  # a region on the very last line: keep "no final newline"
    return text


# --------------------------------------------------------------------------- leak check


def _norm(line: str) -> str:
    return " ".join(line.split())


def _notebook_sources(path: Path) -> list[str]:
    with open(path, encoding="utf-8") as f:
        nb = json.load(f)
    sources = []
    for cell in nb.get("cells", []):
        src = cell.get("source", "")
        sources.append("".join(src) if isinstance(src, list) else src)
    return sources


def _split_regions(text: str, begin: str, end: str) -> tuple[list[str], list[str]]:
    """(lines inside begin/end regions, lines outside), marker lines belonging to neither."""
    inside, outside = [], []
    depth = 0
    for line in text.splitlines():
        stripped = line.strip()
        if stripped == begin:
            depth += 1
        elif stripped == end:
            depth = max(0, depth - 1)
        elif depth:
            inside.append(line)
        else:
            outside.append(line)
    return inside, outside


def secret_lines(kit_root: Path | str = KIT_ROOT) -> set[str]:
    """Normalised lines that identify a solution or a hidden test of the kit.

    Every line of every solution region in ``intro2ai/**/*.py`` and of every solution or
    hidden-test region in ``assignments/source/**/*.ipynb``, except lines that are short
    (fewer than ``MIN_LEAK_LINE_CHARS`` non-space characters) or that also occur outside the
    regions (provided code students legitimately receive).
    """
    kit_root = Path(kit_root)
    secret: set[str] = set()
    public: set[str] = set()
    texts: list[str] = []
    for py in sorted((kit_root / PACKAGE_DIR).rglob("*.py")):
        if "__pycache__" in py.parts:
            continue
        texts.append(py.read_text(encoding="utf-8"))
    for nb in sorted((kit_root / "assignments" / "source").rglob("*.ipynb")):
        if ".ipynb_checkpoints" in nb.parts:
            continue
        texts.extend(_notebook_sources(nb))
    for text in texts:
        for begin, end in ((SOLUTION_BEGIN, SOLUTION_END), (HIDDEN_BEGIN, HIDDEN_END)):
            inside, _ = _split_regions(text, begin, end)
            secret.update(_norm(line) for line in inside)
        # Lines outside both kinds of region are public.
        _, out1 = _split_regions(text, SOLUTION_BEGIN, SOLUTION_END)
        _, out2 = _split_regions("\n".join(out1), HIDDEN_BEGIN, HIDDEN_END)
        public.update(_norm(line) for line in out2)
    return {s for s in secret - public if len(s.replace(" ", "")) >= MIN_LEAK_LINE_CHARS}


#: Lines of instructor-only files must be at least this long (whitespace removed) to count:
#: shorter code lines (``for name in sorted(grads):``) are too generic to prove a copy.
MIN_INSTRUCTOR_LINE_CHARS = 30
#: Instructor-only source trees (relative to the kit) whose lines must never be released.
INSTRUCTOR_TREES = ("autograder", "tests")
_TEXT_SUFFIXES = {".py", ".toml", ".md", ".txt", ".json", ".cfg", ".ini", ".yaml", ".yml"}


def _public_lines(kit_root: Path) -> set[str]:
    """Every line students may legitimately receive (outside solution and hidden regions)."""
    public: set[str] = set()
    texts = []
    for path in sorted((kit_root / PACKAGE_DIR).rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        text = path.read_text(encoding="utf-8")
        texts.append(text)
        try:  # the stubs students receive are public too
            texts.append(student_edition(text, path.relative_to(kit_root).as_posix()))
        except ReleaseError:
            pass
    texts += [
        (kit_root / name).read_text(encoding="utf-8")
        for name in KIT_FILES
        if (kit_root / name).is_file()
    ]
    source = kit_root / "assignments" / "source"
    for path in sorted(source.rglob("*")) if source.is_dir() else []:
        if not path.is_file() or "__pycache__" in path.parts or ".ipynb_checkpoints" in path.parts:
            continue
        if path.suffix == ".ipynb":
            texts.extend(_notebook_sources(path))
        elif path.suffix in _TEXT_SUFFIXES or path.name == "Makefile":
            texts.append(path.read_text(encoding="utf-8", errors="replace"))
    for text in texts:
        _, out1 = _split_regions(text, SOLUTION_BEGIN, SOLUTION_END)
        _, out2 = _split_regions("\n".join(out1), HIDDEN_BEGIN, HIDDEN_END)
        public.update(_norm(line) for line in out2)
    return public


def instructor_lines(kit_root: Path | str = KIT_ROOT) -> dict[str, str]:
    """Normalised lines of the instructor-only trees (the grader, its samples, the kit's tests)
    mapped to the file they come from, minus public lines and lines shorter than
    ``MIN_INSTRUCTOR_LINE_CHARS``."""
    kit_root = Path(kit_root)
    public = _public_lines(kit_root)
    found: dict[str, str] = {}
    for tree in INSTRUCTOR_TREES:
        root = kit_root / tree
        for path in sorted(root.rglob("*")) if root.is_dir() else []:
            if (
                not path.is_file()
                or path.suffix not in _TEXT_SUFFIXES
                or "__pycache__" in path.parts
            ):
                continue
            for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
                norm = _norm(line)
                if len(norm.replace(" ", "")) >= MIN_INSTRUCTOR_LINE_CHARS and norm not in public:
                    found.setdefault(norm, path.relative_to(kit_root).as_posix())
    return found


#: Shorter secret values are not searched for (they would match by chance).
MIN_SECRET_LENGTH = 8


def secret_values(kit_root: str | os.PathLike = KIT_ROOT) -> dict[str, bytes]:
    """The instructor's secrets as bytes, by what they are: the hidden cases' seed and the
    records' MAC key, from the environment and from the kit's git-ignored files."""
    from autograder import cases, records

    kit = Path(kit_root)
    sources = {
        "hidden-case seed": (
            os.environ.get(cases.SEED_ENV, ""),
            kit / "autograder" / cases.SEED_FILE.name,
        ),
        "record MAC key": (
            os.environ.get(records.RECORD_KEY_ENV, ""),
            kit / "autograder" / records.RECORD_KEY_FILE.name,
        ),
    }
    out = {}
    for what, (env, path) in sources.items():
        for n, value in enumerate((env, _read_text(path))):
            value = value.strip()
            if len(value) >= MIN_SECRET_LENGTH:
                out[f"{what} ({'environment' if n == 0 else path.name})"] = value.encode()
    return out


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def _path_problem(rel: Path) -> str | None:
    for part in rel.parts[:-1]:
        if part in FORBIDDEN_DIRS:
            return f"{rel}: instructor-only folder '{part}/' must not be released"
    name = rel.name
    if name in FORBIDDEN_DIRS:
        return f"{rel}: instructor-only name '{name}' must not be released"
    if name in FORBIDDEN_NAMES:
        return f"{rel}: instructor file '{name}' must not be released"
    suffix = "".join(rel.suffixes[-1:]).lower()
    if suffix in FORBIDDEN_SUFFIXES:
        return f"{rel}: reference/build artefact ('{suffix}') must not be released"
    if _FORBIDDEN_NAME_WORDS.search(name):
        return f"{rel}: file name looks like an instructor artefact (expected/solution/reference)"
    return None


def leak_check(release_dir: str | os.PathLike, kit_root: str | os.PathLike = KIT_ROOT) -> list[str]:
    """Problems that forbid publishing ``release_dir`` (an empty list means it is clean).

    Checks every file under ``release_dir``: its path (instructor-only folders and names,
    reference and build artefacts), marker lines (solution and hidden-test markers; in
    notebooks and non-Python files any mention of them), every line against the kit's
    solution-region and hidden-test lines (:func:`secret_lines`) and against the lines of the
    instructor-only trees ``autograder/`` and ``tests/`` (:func:`instructor_lines`). Notebooks are checked cell
    by cell on their decoded source and outputs.
    """
    release_dir = Path(release_dir)
    if not release_dir.is_dir():
        return [f"{release_dir}: release folder does not exist"]
    secrets = secret_lines(kit_root)
    instructor = instructor_lines(kit_root)
    values = secret_values(kit_root)
    problems: list[str] = []
    for path in sorted(p for p in release_dir.rglob("*")):
        rel = path.relative_to(release_dir)
        if path.is_dir():
            if path.name in FORBIDDEN_DIRS:
                problems.append(f"{rel}/: instructor-only folder must not be released")
            continue
        if rel.name == CHECKS_DATA and rel.parent.name == "checks":
            # The one saved-array file allowed: exactly the arrays of the checks' own public
            # cases (no hidden case, no pickles), rebuilt here from the reference and compared.
            from autograder import checkdata

            problems.extend(checkdata.problems(path, str(rel)))
            continue
        problem = _path_problem(rel)
        if problem:
            problems.append(problem)
            continue
        data = path.read_bytes()
        problems.extend(
            f"{rel}: holds the {what} (instructor-only secret)"
            for what, value in values.items()
            if value in data
        )
        try:
            raw = data.decode("utf-8")
        except UnicodeDecodeError:
            continue  # images and other binary data (names checked above)
        problems.extend(_text_problems(rel, raw, secrets, instructor))
    return problems


def _text_problems(rel: Path, raw: str, secrets: set[str], instructor: dict[str, str]) -> list[str]:
    problems = []
    chunks = [raw]
    strict = rel.suffix not in (".py", ".pyx")
    if rel.suffix == ".ipynb":
        try:
            nb = json.loads(raw)
            chunks = []
            for cell in nb.get("cells", []):
                src = cell.get("source", "")
                chunks.append("".join(src) if isinstance(src, list) else src)
                for output in cell.get("outputs", []):
                    chunks.append(json.dumps(output, ensure_ascii=False))
        except (json.JSONDecodeError, AttributeError):
            problems.append(f"{rel}: notebook is not valid JSON")
    for chunk in chunks:
        for n, line in enumerate(chunk.splitlines(), start=1):
            where = f"{rel}" if rel.suffix == ".ipynb" else f"{rel}:{n}"
            if _MARKER_LINE.match(line) or (strict and _MARKER_ANY.search(line)):
                problems.append(f"{where}: solution/hidden-test marker: {line.strip()[:80]!r}")
            elif _norm(line) in secrets:
                problems.append(
                    f"{where}: line of a solution or hidden test: {line.strip()[:80]!r}"
                )
            elif _norm(line) in instructor:
                problems.append(
                    f"{where}: line of the instructor-only file {instructor[_norm(line)]}: "
                    f"{line.strip()[:80]!r}"
                )
    return problems


# --------------------------------------------------------------------------- release build


def write_student_package(kit_root: Path, dest_root: Path) -> list[Path]:
    """Copy ``intro2ai/`` and the build files into ``dest_root`` as the student edition."""
    written = []
    src_pkg = kit_root / PACKAGE_DIR
    for src in sorted(src_pkg.rglob("*")):
        rel = src.relative_to(kit_root)
        if any(part in _PACKAGE_SKIP_DIRS or part.endswith(".egg-info") for part in rel.parts):
            continue
        if src.is_dir() or src.suffix in _PACKAGE_SKIP_SUFFIXES:
            continue
        dest = dest_root / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        if src.suffix == ".py":
            text = src.read_text(encoding="utf-8")
            with open(dest, "w", encoding="utf-8", newline="") as f:
                f.write(student_edition(text, rel.as_posix()))
        else:
            shutil.copyfile(src, dest)
        written.append(dest)
    for name in KIT_FILES:
        text = (kit_root / name).read_text(encoding="utf-8")
        if name == "pyproject.toml":
            # The release has the students' checks/, not the kit's tests/: plain `pytest` in
            # the release folder then runs the self-checks instead of failing to find tests/.
            text = text.replace('testpaths = ["tests"]', 'testpaths = ["checks"]')
        with open(dest_root / name, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        written.append(dest_root / name)
    return written


#: ``nbgrader`` in this interpreter, set up as in the kit's own processes (no IRI grammar, see
#: ``autograder/__init__.py``; the schema revision read in-process, see
#: ``gradebook.alembic_head``). The kit is not installed: its folder goes first on ``sys.path``.
NBGRADER_MAIN = (
    f"import sys; sys.path.insert(0, {str(KIT_ROOT)!r}); import autograder.gradebook; "
    "sys.argv[0] = 'nbgrader'; from nbgrader.apps.nbgraderapp import main; sys.exit(main())"
)


def build_release(
    assignment: str = "hw5",
    kit_root: Path = KIT_ROOT,
    *,
    course_dir: Path | None = None,
    run_nbgrader: bool = True,
) -> tuple[Path, list[str]]:
    """Generate ``<course>/release/<assignment>`` and leak-check the whole ``release/`` folder.

    ``course_dir`` defaults to the kit's ``assignments/`` (the nbgrader course). Returns the
    release folder and the list of problems (empty when the release is clean).
    """
    kit_root = Path(kit_root)
    course = Path(course_dir) if course_dir is not None else kit_root / "assignments"
    release = course / "release" / assignment
    if run_nbgrader:
        env = dict(os.environ)
        bindir = str(Path(sys.executable).parent)
        env["PATH"] = bindir + os.pathsep + env.get("PATH", "")  # nbgrader calls `alembic`
        cmd = [
            sys.executable,
            "-c",
            NBGRADER_MAIN,
            "generate_assignment",
            assignment,
            "--force",
            "--log-level=ERROR",
        ]
        subprocess.run(cmd, cwd=course, env=env, check=True)
    if not release.is_dir():
        raise FileNotFoundError(f"{release}: nbgrader did not create the release folder")
    write_student_package(kit_root, release)
    if assignment == "hw5":
        from autograder import checkdata

        checkdata.write(release / "checks")
    problems = leak_check(course / "release", kit_root)
    return release, problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m autograder.release", description="Build or leak-check a student release."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="nbgrader generate_assignment + student edition + leak check")
    b.add_argument("assignment", nargs="?", default="hw5")
    b.add_argument(
        "--course-dir", default=None, help="nbgrader course folder (default: assignments/)"
    )
    b.add_argument(
        "--no-nbgrader",
        action="store_true",
        help="keep the nbgrader output already in release/<hw>; only rewrite the package and re-check",
    )
    c = sub.add_parser("check", help="leak-check an existing release folder")
    c.add_argument("release_dir")
    s = sub.add_parser("student-edition", help="print the student edition of one file")
    s.add_argument("file")
    args = parser.parse_args(argv)

    if args.command == "student-edition":
        path = Path(args.file)
        try:
            rel = path.resolve().relative_to(KIT_ROOT).as_posix()
        except ValueError:
            rel = path.as_posix()
        sys.stdout.write(student_edition(path.read_text(encoding="utf-8"), rel))
        return 0
    if args.command == "build":
        release, problems = build_release(
            args.assignment, course_dir=args.course_dir, run_nbgrader=not args.no_nbgrader
        )
    else:
        release, problems = Path(args.release_dir), leak_check(args.release_dir)
    if problems:
        print(f"RELEASE REFUSED: {len(problems)} leak(s) under {release}:", file=sys.stderr)
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
        print(
            "Do not publish this folder. Fix the source and run `make release` again.",
            file=sys.stderr,
        )
        return 1
    print(f"release OK: {release} (leak check clean)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
