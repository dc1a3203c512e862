"""The nbgrader step of one submission: ``nbgrader autograde`` and its kernel in the sandbox.

The whole step runs in one :mod:`autograder.jail` sandbox, on a scratch copy of only what
autograde needs:

* ``/scratch/course/source/<a>/``: the released files of the assignment (no notebook): what
  nbgrader puts back over the submission, except ``Autograde.exclude_overwriting``;
* ``/scratch/course/submitted/<student>/<a>/``: the submission, regular files only;
* ``/scratch/gradebook.db``: a copy of the course gradebook (so several run at once);
* read-only: the programs of :mod:`autograder.jailed` (``/kit``), the course config, the
  kernelspec, the kit's compiled extension (``/ext``) and the instructor's data folder
  (``/data``, ``INTRO2AI_DATA_DIR`` inside).

Every write of nbgrader or the kernel lands in the scratch. Afterwards the parent reads only
(never following a link, size-capped) the child's JSON summary, which it schema-checks, and
the executed notebooks, which it reduces to plain-text outputs before putting them where
formgrader shows them (``<course>/autograded/<student>/<a>/``). The parent never opens the
scratch gradebook and never writes into the scratch.
"""

from __future__ import annotations

import dataclasses
import datetime
import errno
import json
import math
import os
import shutil
import stat
import subprocess
import time
from pathlib import Path
from typing import Any

from autograder import jail, records

#: Limits of the whole nbgrader step (nbgrader, its kernel and whatever the kernel starts).
KERNEL_MEMORY_BYTES = 4 * 1024**3  # address space of each process (RLIMIT_AS)
STEP_MEMORY_BYTES = 6 * 1024**3  # the whole step (memory cgroup, where one can be made)
KERNEL_MAX_TASKS = 128  # processes + threads of the step (pids cgroup); the kernel may not fork
KERNEL_FILE_BYTES = 256 * 1024**2  # largest file the step may write
STEP_TMP_BYTES = 512 * 1024**2  # the sandbox's private /tmp
KERNEL_NAME = "intro2ai-sandbox"
#: A kernel message larger than this is refused by the client's socket (the cell then fails).
MAX_MESSAGE_BYTES = 32 * 1024**2
#: Output kept per cell in the executed notebook.
CELL_OUTPUT_BYTES = 2 * 1024**2
#: Largest summary and executed notebook the parent reads back from the scratch.
SUMMARY_MAX_BYTES = 4 * 1024**2
NOTEBOOK_MAX_BYTES = 64 * 1024**2
#: Largest submission copied into the scratch (collect already bounds submissions).
SUBMISSION_MAX_BYTES = 512 * 1024**2
#: Text kept per output in the notebook formgrader shows.
FORMGRADER_TEXT_CHARS = 20_000
#: Wall-clock limit of one submission's whole nbgrader step (notebook run and bookkeeping). The
#: per-cell timeout alone does not bound it: a notebook of many slow cells, or student code that
#: wedges the kernel's connection, could hold a worker for hours.
NOTEBOOK_TIME_LIMIT_S = 1800
#: A source notebook that holds one of these reads CIFAR-10 when not in fast mode.
CIFAR10_MARKERS = ("get_CIFAR10_data(", "load_CIFAR10(")

JAILED_DIR = Path(__file__).resolve().parent / "jailed"
KIT_INSIDE, SCRATCH_INSIDE, JOB_INSIDE, EXT_INSIDE, DATA_INSIDE = (
    "/kit",
    "/scratch",
    "/job",
    "/ext",
    "/data",
)


@dataclasses.dataclass
class StepResult:
    """What the parent keeps of one nbgrader step."""

    returncode: int  # 0: nbgrader reported success
    log: str
    isolation: list[str]
    timed_out: bool
    autograde: dict[str, Any]  # schema-checked, see autograder.jailed.nbgrader_child.read_autograde
    notebook_bytes: dict[str, int]


# --------------------------------------------------------------------------- reading the scratch


class UnsafeFile(ValueError):
    """A file read back from a scratch is a link or not a regular file."""


class TooBig(UnsafeFile):
    """A file read back from a scratch is larger than its cap."""


def read_capped(root: Path, rel: str, limit: int) -> bytes:
    """Read ``root/rel`` without following any link on the way, at most ``limit`` bytes.

    Every component below ``root`` is opened relative to its parent with ``O_NOFOLLOW``; the
    file must be a regular file no larger than ``limit``. Raises :class:`UnsafeFile` (or
    ``FileNotFoundError``).
    """
    parts = [p for p in rel.split("/") if p]
    if not parts or any(p in (".", "..") for p in parts):
        raise UnsafeFile(f"bad path {rel!r}")
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        for part in parts[:-1]:
            try:
                nfd = os.open(
                    part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd
                )
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                    raise UnsafeFile(f"{rel}: {part} is not a folder") from exc
                raise
            os.close(fd)
            fd = nfd
        try:
            ffd = os.open(
                parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=fd
            )
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise UnsafeFile(f"{rel} is a symbolic link") from exc
            raise
    finally:
        os.close(fd)
    try:
        st = os.fstat(ffd)
        if not stat.S_ISREG(st.st_mode):
            raise UnsafeFile(f"{rel} is not a regular file")
        if st.st_size > limit:
            raise TooBig(f"{rel} has {st.st_size} bytes, more than {limit}")
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(ffd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:
            raise TooBig(f"{rel} grew past {limit} bytes")
        return b"".join(chunks)
    finally:
        os.close(ffd)


def copy_regular_files(
    src: Path, dst: Path, *, skip=(), max_bytes: int = SUBMISSION_MAX_BYTES
) -> int:
    """Copy the regular files of ``src`` into ``dst`` (new folders, mode 0644): no links, no
    devices, nothing followed; ``skip(rel)`` leaves a file out. Returns the bytes copied."""
    total = 0
    src = Path(src)
    for dirpath, dirnames, filenames in os.walk(src, followlinks=False):
        dirnames[:] = sorted(
            d
            for d in dirnames
            if d not in ("__pycache__", ".ipynb_checkpoints")
            and not os.path.islink(os.path.join(dirpath, d))
        )
        for name in sorted(filenames):
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, src).replace(os.sep, "/")
            if skip and skip(rel):
                continue
            try:
                data = read_capped(src, rel, max_bytes - total)
            except TooBig:
                raise
            except UnsafeFile:
                continue  # a link, a device, a fifo: not part of a submission
            total += len(data)
            target = Path(dst) / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            os.chmod(target, 0o644)
    return total


# --------------------------------------------------------------------------- the summary


def _finite(x, *, none=True) -> float | None:
    if x is None and none:
        return None
    if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(float(x)):
        raise ValueError(f"not a finite number: {x!r:.40}")
    return float(x)


def _name(x) -> str:
    if not isinstance(x, str) or not 0 < len(x) <= 200:
        raise ValueError("bad name")
    return x


def _text(x, limit: int = 2000) -> str | None:
    if x is None:
        return None
    if not isinstance(x, str):
        raise ValueError("not a string")
    return x[:limit]


def check_autograde(data) -> dict[str, Any]:
    """Schema-check the per-cell data of a summary; raises ValueError when anything is off."""
    if data in ({}, None):
        return {}
    if not isinstance(data, dict) or not isinstance(data.get("notebooks"), dict):
        raise ValueError("autograde: not an object with notebooks")
    ts = data.get("timestamp")
    if ts is not None:
        if not isinstance(ts, str) or len(ts) > 64:
            raise ValueError("autograde: bad timestamp")
        datetime.datetime.fromisoformat(ts)
    if len(data["notebooks"]) > 20:
        raise ValueError("autograde: too many notebooks")
    out: dict[str, Any] = {"timestamp": ts, "notebooks": {}}
    for nb_name, nb in data["notebooks"].items():
        if (
            not isinstance(nb, dict)
            or not isinstance(nb.get("grades"), dict)
            or not isinstance(nb.get("comments", {}), dict)
        ):
            raise ValueError("autograde: bad notebook entry")
        if len(nb["grades"]) > 1000 or len(nb.get("comments", {})) > 1000:
            raise ValueError("autograde: too many cells")
        grades = {}
        for gid, g in nb["grades"].items():
            if not isinstance(g, dict) or not isinstance(g.get("needs_manual_grade", False), bool):
                raise ValueError("autograde: bad grade")
            grades[_name(gid)] = {
                "auto_score": _finite(g.get("auto_score")),
                "max_score": _finite(g.get("max_score"), none=False),
                "needs_manual_grade": bool(g.get("needs_manual_grade", False)),
            }
        comments = {_name(k): _text(v) for k, v in nb.get("comments", {}).items()}
        out["notebooks"][_name(nb_name)] = {
            "grades": grades,
            "comments": comments,
            "late_penalty": _finite(nb.get("late_penalty")),
        }
    return out


def read_summary(scratch: Path) -> tuple[bool, str, dict, dict[str, int]]:
    """``(success, log, autograde, notebook_bytes)`` from the child's summary; raises
    ValueError (or OSError) when it is missing, too big or not of the expected shape."""
    raw = read_capped(scratch, "out/summary.json", SUMMARY_MAX_BYTES)
    data = json.loads(raw.decode("utf-8"))
    if not isinstance(data, dict) or not isinstance(data.get("success"), bool):
        raise ValueError("summary: not an object with a success flag")
    sizes = data.get("notebook_bytes", {})
    if not isinstance(sizes, dict) or len(sizes) > 20:
        raise ValueError("summary: bad notebook_bytes")
    sizes = {_name(k): int(_finite(v, none=False)) for k, v in sizes.items()}
    return (
        data["success"],
        _text(data.get("log"), 4000) or "",
        check_autograde(data.get("autograde")),
        sizes,
    )


# --------------------------------------------------------------------------- formgrader's copy


def _plain(text, limit: int = FORMGRADER_TEXT_CHARS) -> str:
    if isinstance(text, list):
        text = "".join(str(t) for t in text)
    text = str(text)
    return text if len(text) <= limit else text[:limit] + "\n... [truncated]"


def _escape_markup(text: str) -> str:
    # Markdown shows "&lt;" as "<": the text stays readable, no tag survives.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def sanitize_notebook(raw: bytes) -> str:
    """The executed notebook as formgrader may render it: outputs reduced to plain text
    (streams, errors, ``text/plain``), no HTML, JavaScript, SVG, images or widget state, no
    attachments, markdown and raw cells with their markup escaped."""
    import nbformat
    from nbformat.v4 import new_output

    nb = nbformat.reads(raw.decode("utf-8"), as_version=4)
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        cell.pop("attachments", None)
        if cell.cell_type != "code":
            cell.source = _escape_markup(_plain(cell.source, 200_000))
            if cell.cell_type == "raw":
                cell.metadata.pop("format", None)
                cell.metadata.pop("raw_mimetype", None)
            continue
        outputs = []
        for out in cell.get("outputs", []):
            kind = out.get("output_type")
            if kind == "stream":
                outputs.append(
                    new_output(
                        "stream",
                        name=out.get("name")
                        if out.get("name") in ("stdout", "stderr")
                        else "stdout",
                        text=_plain(out.get("text", "")),
                    )
                )
            elif kind == "error":
                outputs.append(
                    new_output(
                        "error",
                        ename=_plain(out.get("ename", ""), 200),
                        evalue=_plain(out.get("evalue", ""), 2000),
                        traceback=[_plain(line, 2000) for line in out.get("traceback", [])[:100]],
                    )
                )
            elif kind in ("execute_result", "display_data"):
                text = (out.get("data") or {}).get("text/plain")
                if text is None:
                    continue
                if kind == "execute_result":
                    outputs.append(
                        new_output(
                            "execute_result",
                            data={"text/plain": _plain(text)},
                            execution_count=out.get("execution_count"),
                        )
                    )
                else:
                    outputs.append(new_output("display_data", data={"text/plain": _plain(text)}))
        cell.outputs = outputs
    return nbformat.writes(nb)


# --------------------------------------------------------------------------- data, extension


def data_dir() -> Path:
    """The instructor's data folder, resolved as ``intro2ai.datasets`` does."""
    from intro2ai.datasets import _paths

    return _paths.default_data_dir()


def notebook_data_missing(course: Path, assignment: str, folder: Path | None = None) -> str | None:
    """Why the notebooks of ``assignment`` would find no data in ``folder``, or None."""
    sources = [
        p.read_text(encoding="utf-8", errors="replace")
        for p in (Path(course) / "source" / assignment).glob("*.ipynb")
    ]
    if not any(m in s for s in sources for m in CIFAR10_MARKERS):
        return None
    from intro2ai.datasets import cifar10

    folder = Path(folder) if folder is not None else data_dir()
    base = folder / cifar10.CIFAR10_FOLDER
    missing = [n for n in (*cifar10.TRAIN_BATCHES, cifar10.TEST_BATCH) if not (base / n).is_file()]
    if missing:
        return f"CIFAR-10 not found in {base} ({len(missing)} file(s) missing)"
    return None


def built_extensions(release: Path) -> list[tuple[str, str]]:
    """The kit's compiled im2col extension, when the release ships the same sources:
    ``[(host .so, path relative to the notebook folder)]``.

    Students build it with ``make compile-cython``; the autograded copy gets the kit's build
    instead of running the notebook's training cells on the slow NumPy fallback. The sources
    are the ``.pyx`` and the C headers it includes; any difference (or a missing file) and the
    release gets nothing of the kit's.
    """
    sources = sorted((records.REPO / "intro2ai").glob("_im2col_cython.pyx"))
    sources += sorted((records.REPO / "intro2ai").glob("_direct_conv*.h"))
    sources += sorted((records.REPO / "intro2ai").glob("_winograd*.h"))
    if not sources:
        return []
    for kit_src in sources:
        rel_src = release / "intro2ai" / kit_src.name
        if not rel_src.exists() or rel_src.read_bytes() != kit_src.read_bytes():
            return []
    return [
        (str(so), (Path("intro2ai") / so.name).as_posix())
        for so in sorted((records.REPO / "intro2ai").glob("_im2col_cython*.so"))
    ]


# --------------------------------------------------------------------------- the step


def _student_files(course: Path, assignment: str) -> list[str]:
    """``Autograde.exclude_overwriting`` of the course config for ``assignment``."""
    from traitlets.config.loader import PyFileConfigLoader

    cfg_file = course / "nbgrader_config.py"
    if not cfg_file.exists():
        return []
    cfg = PyFileConfigLoader(cfg_file.name, path=str(course)).load_config()
    excl = cfg.get("Autograde", {}).get("exclude_overwriting", {}) or {}
    return list(dict(excl).get(assignment, []))


def prepare_scratch(
    scratch: Path, course: Path, assignment: str, student: str, template_db: Path
) -> None:
    """Lay out the scratch of one step (see the module docstring)."""
    release = course / "release" / assignment
    provided = release if release.is_dir() else course / "source" / assignment
    copy_regular_files(
        provided,
        scratch / "course" / "source" / assignment,
        skip=lambda rel: rel.endswith(".ipynb"),
    )
    (scratch / "course" / "source" / assignment).mkdir(parents=True, exist_ok=True)
    copy_regular_files(
        records.submission_path(course, assignment, student),
        scratch / "course" / "submitted" / student / assignment,
    )
    shutil.copyfile(template_db, scratch / "gradebook.db")
    (scratch / "out").mkdir()


def policy_for(
    course: Path,
    assignment: str,
    student: str,
    scratch: Path,
    *,
    cell_timeout: int | None,
    fast_notebook: bool,
    data: Path | None,
) -> tuple[jail.Policy, list[str]]:
    """The sandbox of one step and the command to run in it."""
    release = course / "release" / assignment
    exts = built_extensions(release) if release.is_dir() else []
    ro = [(str(JAILED_DIR), KIT_INSIDE)]
    ro += [(host, f"{EXT_INSIDE}/{Path(host).name}") for host, _ in exts]
    if data is not None and data.is_dir():
        ro.append((str(data.resolve()), DATA_INSIDE))
    kernel_env = {
        "INTRO2AI_KERNEL_NO_FORK": "1",
        "INTRO2AI_KERNEL_EXTENSIONS": json.dumps(
            [[f"{EXT_INSIDE}/{Path(h).name}", rel] for h, rel in exts]
        ),
    }
    kernelspec = {
        "argv": [
            jail.PYTHON_INSIDE,
            "-I",
            f"{KIT_INSIDE}/kernel_launcher.py",
            "-f",
            "{connection_file}",
        ],
        "display_name": "Python 3 (intro2ai grading sandbox)",
        "language": "python",
        "metadata": {"debugger": False},
        "env": kernel_env,
    }
    course_in = f"{SCRATCH_INSIDE}/course"
    job = {
        "course": course_in,
        "assignment": assignment,
        "student": student,
        "gradebook": f"{SCRATCH_INSIDE}/gradebook.db",
        "config": f"{JOB_INSIDE}/nbgrader_config.py",
        "kernel_name": KERNEL_NAME,
        "cell_timeout": cell_timeout,
        "summary": f"{SCRATCH_INSIDE}/out/summary.json",
        "max_message_bytes": MAX_MESSAGE_BYTES,
        "cell_output_bytes": CELL_OUTPUT_BYTES,
    }
    files = [
        (json.dumps(job).encode(), f"{JOB_INSIDE}/job.json"),
        (
            json.dumps(kernelspec).encode(),
            f"{JOB_INSIDE}/jupyter/kernels/{KERNEL_NAME}/kernel.json",
        ),
    ]
    cfg_file = course / "nbgrader_config.py"
    if cfg_file.is_file():
        files.append((cfg_file.read_bytes(), f"{JOB_INSIDE}/nbgrader_config.py"))
    env = {
        "HOME": "/tmp",
        "JUPYTER_PATH": f"{JOB_INSIDE}/jupyter",
        "JUPYTER_RUNTIME_DIR": "/tmp/runtime",
        "JUPYTER_CONFIG_DIR": "/tmp/jupyter-config",
        "JUPYTER_DATA_DIR": "/tmp/jupyter-data",
        "IPYTHONDIR": "/tmp/ipython",
        "MPLCONFIGDIR": "/tmp/matplotlib",
        "MPLBACKEND": "Agg",
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "INTRO2AI_DATA_DIR": DATA_INSIDE,
    }
    if fast_notebook:
        env["INTRO2AI_FAST"] = "1"  # the notebook's documented fast mode (small synthetic data)
    limits = jail.Limits(
        memory_mb=KERNEL_MEMORY_BYTES >> 20,
        tree_memory_mb=STEP_MEMORY_BYTES >> 20,
        processes=KERNEL_MAX_TASKS,
        file_mb=KERNEL_FILE_BYTES >> 20,
        open_files=4096,
    )
    policy = jail.Policy(
        ro_binds=ro,
        scratch=(str(scratch), SCRATCH_INSIDE),
        env=env,
        cwd=SCRATCH_INSIDE,
        limits=limits,
        data=files,
        tmp_mb=STEP_TMP_BYTES >> 20,
    )
    argv = [jail.PYTHON_INSIDE, "-I", f"{KIT_INSIDE}/nbgrader_child.py", f"{JOB_INSIDE}/job.json"]
    return policy, argv


def notebook_names(course: Path, assignment: str) -> list[str]:
    """The assignment's notebooks (names without ``.ipynb``), from the instructor's source."""
    return sorted(p.stem for p in (course / "source" / assignment).glob("*.ipynb"))


def publish_for_formgrader(scratch: Path, course: Path, assignment: str, student: str) -> list[str]:
    """Copy the executed notebooks, sanitised, to ``<course>/autograded/<student>/<a>/``."""
    problems = []
    dest = course / "autograded" / student / assignment
    for name in notebook_names(course, assignment):
        rel = f"course/autograded/{student}/{assignment}/{name}.ipynb"
        try:
            text = sanitize_notebook(read_capped(scratch, rel, NOTEBOOK_MAX_BYTES))
        except FileNotFoundError:
            continue
        except Exception as exc:  # a hostile or broken notebook: formgrader gets none
            problems.append(
                f"[{name}.ipynb not published for formgrader: {type(exc).__name__}: {str(exc)[:200]}]"
            )
            continue
        records.atomic_write(dest / f"{name}.ipynb", text)
    return problems


def _log_tail(path: Path, limit: int = 2000) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(max(0, os.fstat(fh.fileno()).st_size - limit))
            return fh.read(limit).decode("utf-8", "replace")
    except OSError:
        return ""


def run_notebook_step(
    course: Path,
    assignment: str,
    student: str,
    template_db: Path,
    jobdir: Path,
    cell_timeout: int | None = None,
    fast_notebook: bool = False,
    time_limit: float = NOTEBOOK_TIME_LIMIT_S,
    data: Path | None = None,
) -> StepResult:
    """Run nbgrader autograde for one submission in the sandbox; never raises for a failing
    notebook (a sandbox that cannot start raises :class:`autograder.jail.Unavailable`)."""
    course = Path(course).resolve()
    scratch = Path(jobdir) / "scratch"
    scratch.mkdir()
    prepare_scratch(scratch, course, assignment, student, Path(template_db))
    policy, argv = policy_for(
        course,
        assignment,
        student,
        scratch,
        cell_timeout=cell_timeout,
        fast_notebook=fast_notebook,
        data=data,
    )
    log_file = Path(jobdir) / "step-output.txt"  # the step's stdout and stderr, outside the scratch
    timed_out = False
    with (
        open(log_file, "wb") as log,
        jail.start(argv, policy, stdout=log, stderr=subprocess.STDOUT) as jailed,
    ):
        isolation = f"bwrap:{jailed.isolation}+kernel-no-fork" + "".join(
            f"+cgroup:{d.name.rsplit('-', 1)[-1]}" for d in jailed.cgroups
        )
        deadline = time.monotonic() + time_limit
        while jailed.proc.poll() is None:
            if time.monotonic() > deadline:
                timed_out = True
                jailed.kill()
                break
            time.sleep(0.05)
    # Nothing runs in the sandbox any more: what the scratch holds now stays as it is.
    if timed_out:
        return StepResult(
            1,
            f"[notebook step stopped after its time limit of {time_limit:g} s]",
            [isolation],
            True,
            {},
            {},
        )
    try:
        success, log_text, autograde, sizes = read_summary(scratch)
    except Exception as exc:  # missing, forged, oversized: the notebook step failed
        tail = _log_tail(log_file)
        return StepResult(
            1,
            f"[no usable summary from the notebook step: {type(exc).__name__}: "
            f"{str(exc)[:300]}]\n{tail}",
            [isolation],
            False,
            {},
            {},
        )
    problems = publish_for_formgrader(scratch, course, assignment, student)
    log_text = "\n".join([log_text, *problems]) if problems else log_text
    return StepResult(0 if success else 1, log_text[-4000:], [isolation], False, autograde, sizes)
