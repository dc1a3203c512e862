"""Grading pipeline: nbgrader bookkeeping around the trusted grader.

``python -m autograder.pipeline autograde|feedback|export|collect|demo`` (the
make targets of the same names call these).

For every student folder ``assignments/submitted/<student>/<assignment>/``:

1. ``nbgrader autograde`` runs the notebook (real nbgrader, in a kernel with
   resource limits, against a private copy of the gradebook so that several
   students can be autograded at once);
2. the trusted grader (``autograder.grade_submission``) grades the submission
   folder in its own sandbox;
3. the parent process writes both into the real ``gradebook.db`` (one writer:
   SQLite), the trusted scores being the grade, and flags every task whose
   notebook tests passed in the kernel but failed in the trusted grader;
4. a per-submission result record is written atomically under
   ``assignments/.grading/<assignment>/``, keyed by a hash of the submission's
   files: a re-run skips submissions graded already (unless ``--force``) and
   re-grades any whose files changed.

Submissions are never modified: they are hashed before and after grading.
"""
from __future__ import annotations

import argparse
import concurrent.futures as cf
import csv
import hashlib
import importlib
import io
import json
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any, Callable, Iterable

REPO = Path(__file__).resolve().parents[1]
DEFAULT_COURSE = REPO / "assignments"
DEFAULT_ASSIGNMENT = "hw5"
DEFAULT_GRADER = "autograder:grade_submission"
#: Bump when the record layout or the grading steps change: old records are then regraded.
RECORD_VERSION = 1
#: Limits of the notebook kernel (the trusted grader has its own sandbox).
KERNEL_MEMORY_BYTES = 4 * 1024**3  # address space per process and memory cgroup limit
KERNEL_MAX_TASKS = 128  # processes + threads (pids cgroup); stops fork bombs
KERNEL_FILE_BYTES = 256 * 1024**2  # largest file the kernel may write
KERNEL_NAME = "intro2ai-sandbox"


# --------------------------------------------------------------------------- paths, hashes, records


def submitted_dir(course: Path, assignment: str) -> Path:
    return course / "submitted"


def submission_path(course: Path, assignment: str, student: str) -> Path:
    return course / "submitted" / student / assignment


def record_dir(course: Path, assignment: str) -> Path:
    return course / ".grading" / assignment


def record_path(course: Path, assignment: str, student: str) -> Path:
    return record_dir(course, assignment) / f"{student}.json"


def exports_dir(course: Path) -> Path:
    return course / "exports"


def discover(course: Path, assignment: str, students: Iterable[str] | None = None) -> list[str]:
    """Student ids with a folder ``submitted/<student>/<assignment>/``, sorted."""
    root = submitted_dir(course, assignment)
    found = sorted(p.parent.name for p in root.glob(f"*/{assignment}") if p.is_dir()) if root.is_dir() else []
    if students:
        wanted = set(students)
        missing = wanted - set(found)
        if missing:
            raise SystemExit(f"no submission folder for: {', '.join(sorted(missing))} under {root}")
        found = [s for s in found if s in wanted]
    return found


def digest(folder: Path) -> str:
    """SHA-256 over every file's relative path and bytes (symlinks by their target)."""
    h = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        if path.is_symlink():
            h.update(b"L" + rel.encode() + b"\0" + os.readlink(path).encode() + b"\0")
        elif path.is_file():
            h.update(b"F" + rel.encode() + b"\0")
            with open(path, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
            h.update(b"\0")
        elif path.is_dir():
            h.update(b"D" + rel.encode() + b"\0")
    return h.hexdigest()


def atomic_write(path: Path, data: str | bytes) -> None:
    """Write a file so that readers see the old or the new content, never half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode("utf-8") if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def load_record(course: Path, assignment: str, student: str) -> dict | None:
    path = record_path(course, assignment, student)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def load_records(course: Path, assignment: str) -> dict[str, dict]:
    """Every stored result record of the assignment, by student."""
    out = {}
    for path in sorted(record_dir(course, assignment).glob("*.json")):
        try:
            rec = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            continue
        if isinstance(rec, dict) and "student" in rec:
            out[rec["student"]] = rec
    return out


# --------------------------------------------------------------------------- notebook kernel sandbox

_LAUNCHER = r'''
"""Start an IPython kernel for nbgrader autograde with resource limits (stdlib only, run with -I)."""
import json, os, resource, sys

limits = json.loads(os.environ.get("INTRO2AI_KERNEL_LIMITS", "{}"))
jobdir = os.environ.get("INTRO2AI_KERNEL_JOBDIR")
pid = os.getpid()
in_cgroup = {}
for ctrl, files in (("pids", {"pids.max": limits.get("tasks")}),
                    ("memory", {"memory.limit_in_bytes": limits.get("memory"),
                                "memory.memsw.limit_in_bytes": limits.get("memory")})):
    base = os.path.join("/sys/fs/cgroup", ctrl)
    d = os.path.join(base, "intro2ai-kernel-%d" % pid)
    try:
        os.mkdir(d)
    except OSError:
        continue
    try:
        for name, value in files.items():
            if value:
                try:
                    with open(os.path.join(d, name), "w") as f:
                        f.write(str(value))
                except OSError:
                    if name == "memory.memsw.limit_in_bytes":
                        continue  # swap accounting off: fine
                    raise
        with open(os.path.join(d, "cgroup.procs"), "w") as f:
            f.write(str(pid))
        in_cgroup[ctrl] = d
    except OSError:
        try:
            os.rmdir(d)
        except OSError:
            pass
if jobdir:
    # The kernel's own stderr (startup warnings, crashes) goes to a file, not the batch's terminal.
    fd = os.open(os.path.join(jobdir, "kernel-stderr.txt"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(fd, 2)
    os.close(fd)
    with open(os.path.join(jobdir, "kernels.txt"), "a") as f:
        f.write(json.dumps({"pid": pid, "cgroups": list(in_cgroup.values())}) + "\n")

def cap(which, value):
    if not value:
        return
    soft, hard = resource.getrlimit(which)
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard)
    resource.setrlimit(which, (value, value))

cap(resource.RLIMIT_AS, limits.get("memory"))
cap(resource.RLIMIT_FSIZE, limits.get("file"))
resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
if "pids" not in in_cgroup and os.geteuid() != 0:
    # No pids cgroup: RLIMIT_NPROC counts every process of this user, so leave room for theirs.
    mine = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.stat("/proc/" + entry).st_uid == os.geteuid():
                    mine += 1
            except OSError:
                pass
    cap(resource.RLIMIT_NPROC, mine + int(limits.get("tasks") or 128))
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"
os.environ["MPLBACKEND"] = "Agg"
for var in ("INTRO2AI_KERNEL_LIMITS", "INTRO2AI_KERNEL_JOBDIR"):
    os.environ.pop(var, None)
os.execv(sys.executable, [sys.executable, "-m", "ipykernel_launcher"] + sys.argv[1:])
'''


def write_kernelspec(root: Path) -> Path:
    """Write the sandbox kernelspec under ``root/kernels/``; returns ``root`` (a JUPYTER_PATH entry)."""
    spec = root / "kernels" / KERNEL_NAME
    spec.mkdir(parents=True, exist_ok=True)
    (spec / "launch.py").write_text(_LAUNCHER, encoding="utf-8")
    kernel = {
        "argv": [sys.executable, "-I", str(spec / "launch.py"), "-f", "{connection_file}"],
        "display_name": "Python 3 (intro2ai grading sandbox)",
        "language": "python",
        "metadata": {"debugger": False},
    }
    (spec / "kernel.json").write_text(json.dumps(kernel, indent=1), encoding="utf-8")
    return root


def _kill_kernels(jobdir: Path) -> None:
    """Kill whatever the kernels of one autograde run left behind and remove their cgroups."""
    listing = jobdir / "kernels.txt"
    if not listing.exists():
        return
    for line in listing.read_text().splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        for _ in range(50):
            pids = set()
            for d in entry.get("cgroups", []):
                try:
                    pids |= {int(p) for p in Path(d, "cgroup.procs").read_text().split()}
                except OSError:
                    pass
            pids |= _session_members(entry["pid"])
            if not pids:
                break
            for p in pids:
                try:
                    os.kill(p, signal.SIGKILL)
                except OSError:
                    pass
            time.sleep(0.02)
        for d in entry.get("cgroups", []):
            try:
                os.rmdir(d)
            except OSError:
                pass


def _session_members(sid: int) -> set[int]:
    """Processes whose session id is ``sid`` (the kernel runs in its own session)."""
    out = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path("/proc", entry, "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[-1].split()
        # fields: state ppid pgrp session ...
        if len(fields) > 3 and int(fields[3]) == sid and int(entry) != os.getpid():
            out.add(int(entry))
    return out


# --------------------------------------------------------------------------- one submission (worker)


_APIS: dict[tuple, Any] = {}


def _nbgrader_api(course: Path, kernel_name: str | None, cell_timeout: int | None):
    """An in-process ``NbGraderAPI`` with the course's ``nbgrader_config.py`` (cached per process).

    Importing nbgrader costs seconds; a worker imports it once and autogrades many students.
    """
    key = (str(course), kernel_name, cell_timeout)
    if key not in _APIS:
        from nbgrader.apps import NbGraderAPI
        from nbgrader.coursedir import CourseDirectory
        from traitlets.config import Config
        from traitlets.config.loader import PyFileConfigLoader

        cfg = Config()
        if (course / "nbgrader_config.py").exists():
            cfg.merge(PyFileConfigLoader("nbgrader_config.py", path=str(course)).load_config())
        cfg.CourseDirectory.root = str(course)
        if kernel_name:
            cfg.Execute.kernel_name = kernel_name
        if cell_timeout:
            cfg.Execute.timeout = int(cell_timeout)
        cfg.NbGraderAPI.log_level = "WARN"
        coursedir = CourseDirectory(config=cfg)
        _APIS[key] = NbGraderAPI(coursedir=coursedir, config=cfg)
    return _APIS[key]


def run_nbgrader_autograde(course: Path, assignment: str, student: str, db_file: Path,
                           kernel_root: Path | None, jobdir: Path,
                           cell_timeout: int | None = None) -> tuple[int, str]:
    """Run nbgrader's autograde for one student against the gradebook ``db_file``.

    nbgrader runs in this process (its API, as the formgrader uses it); the
    notebook runs in a kernel subprocess, the sandbox kernel when ``kernel_root``
    is given.  Returns ``(0 or 1, log tail)``; never raises for a failing notebook.
    """
    from autograder import gradebook as gbmod

    api = _nbgrader_api(course, KERNEL_NAME if kernel_root is not None else None, cell_timeout)
    env = {"JUPYTER_RUNTIME_DIR": str(jobdir / "runtime"), "MPLBACKEND": "Agg"}
    if kernel_root is not None:
        env["JUPYTER_PATH"] = str(kernel_root) + os.pathsep + os.environ.get("JUPYTER_PATH", "")
        env["INTRO2AI_KERNEL_JOBDIR"] = str(jobdir)
        env["INTRO2AI_KERNEL_LIMITS"] = json.dumps(
            {"memory": KERNEL_MEMORY_BYTES, "tasks": KERNEL_MAX_TASKS, "file": KERNEL_FILE_BYTES})
    saved_env = {k: os.environ.get(k) for k in env}
    saved_db = api.coursedir.db_url
    os.environ.update(env)
    api.coursedir.db_url = gbmod.db_url(db_file)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # SQLAlchemy autoflush warnings from nbgrader's gradebook code
            result = api.autograde(assignment, student, force=True, create=True)
    except Exception as exc:  # nbgrader itself failed: a notebook failure, never a batch crash
        result = {"success": False, "error": repr(exc)}
    finally:
        api.coursedir.db_url = saved_db
        for k, v in saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        _kill_kernels(jobdir)
    text = (result.get("log") or "") + (result.get("error") or "")
    return (0 if result.get("success") else 1), text[-4000:]


def load_grader(spec: str) -> Callable[..., dict]:
    """``"module:function"`` -> the function."""
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name or "grade_submission")


def grade_one(job: dict) -> dict:
    """Grade one submission; a pure function of the job (no gradebook writes).

    ``job`` holds ``course``, ``assignment``, ``student``, ``digest``, ``template_db``,
    ``kernel_root`` (or None), ``grader`` (``"module:function"``), ``seed``.
    Returns the result record (see :func:`autograde`).
    """
    from autograder import gradebook as gbmod

    course = Path(job["course"])
    assignment, student = job["assignment"], job["student"]
    sub = submission_path(course, assignment, student)
    t0 = time.perf_counter()
    notebook_rc, notebook_log, autograde_data = None, "", {}
    if not job.get("skip_notebook"):
        with tempfile.TemporaryDirectory(prefix="intro2ai-autograde-") as tmp:
            tmp = Path(tmp)
            db_file = tmp / "gradebook.db"
            shutil.copyfile(job["template_db"], db_file)
            (tmp / "runtime").mkdir()
            kernel_root = Path(job["kernel_root"]) if job.get("kernel_root") else None
            notebook_rc, notebook_log = run_nbgrader_autograde(course, assignment, student, db_file,
                                                               kernel_root, tmp, job.get("cell_timeout"))
            try:
                autograde_data = gbmod.read_autograde(gbmod.db_url(db_file), assignment, student)
            except Exception as exc:  # a broken temp gradebook is a notebook failure, not a crash
                notebook_log += f"\n[reading the autograde gradebook failed: {exc!r}]"
    t1 = time.perf_counter()
    error = None
    try:
        kwargs = {"seed": job["seed"]} if job.get("seed") is not None else {}
        trusted = load_grader(job["grader"])(str(sub), **kwargs)
    except Exception as exc:  # every failure is a grade, never a crash of the batch
        error = f"trusted grader failed: {type(exc).__name__}: {exc}"
        trusted = {"tasks": {}, "total": 0.0, "max_total": 0.0}
    t2 = time.perf_counter()
    flags = gbmod.tampering_flags(autograde_data, trusted)
    if not job.get("skip_notebook") and (notebook_rc != 0 or not autograde_data):
        flags.append({"kind": "notebook_autograde_failed", "returncode": notebook_rc})
    if error:
        flags.append({"kind": "trusted_grader_error", "message": error})
    after = digest(sub)
    if after != job["digest"]:
        flags.append({"kind": "submission_changed_during_grading"})
    return {
        "version": RECORD_VERSION,
        "student": student,
        "assignment": assignment,
        "digest": job["digest"],
        "digest_after": after,
        "graded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "trusted": trusted,
        "autograde": autograde_data,
        "notebook_returncode": notebook_rc,
        "notebook_log_tail": notebook_log if notebook_rc not in (0, None) else "",
        "flags": flags,
        "timings": {"nbgrader": round(t1 - t0, 3), "trusted": round(t2 - t1, 3), "total": round(t2 - t0, 3)},
    }


# --------------------------------------------------------------------------- batch (parent)


def _gradebook_file(course: Path) -> Path:
    return course / "gradebook.db"


def autograde(course: Path = DEFAULT_COURSE, assignment: str = DEFAULT_ASSIGNMENT, *, jobs: int = 1,
              force: bool = False, students: Iterable[str] | None = None, grader: str = DEFAULT_GRADER,
              seed: int | None = None, sandbox_kernel: bool = True, progress: bool = True,
              skip_notebook: bool = False, cell_timeout: int | None = None) -> dict[str, Any]:
    """Autograde every submission; returns a summary ``{"graded", "skipped", "records", "wall"}``."""
    from autograder import gradebook as gbmod

    course = Path(course).resolve()
    db_file = _gradebook_file(course)
    if not db_file.exists():
        raise SystemExit(f"{db_file} not found: release the assignment first (make release)")
    url = gbmod.db_url(db_file)
    names = discover(course, assignment, students)
    todo, skipped = [], []
    for student in names:
        dg = digest(submission_path(course, assignment, student))
        rec = load_record(course, assignment, student)
        if (not force and rec and rec.get("digest") == dg and rec.get("version") == RECORD_VERSION):
            if not gbmod.has_submission(url, assignment, student):
                gbmod.apply_record(url, assignment, rec)  # gradebook was reset: restore, no regrade
            skipped.append(student)
        else:
            todo.append((student, dg))
    t_start = time.perf_counter()
    records: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="intro2ai-batch-") as tmp:
        tmp = Path(tmp)
        template = tmp / "template.db"
        gbmod.snapshot(db_file, template)
        kernel_root = write_kernelspec(tmp / "jupyter") if sandbox_kernel else None
        jobs_list = [{
            "course": str(course), "assignment": assignment, "student": s, "digest": dg,
            "template_db": str(template), "kernel_root": str(kernel_root) if kernel_root else None,
            "grader": grader, "seed": seed, "skip_notebook": skip_notebook, "cell_timeout": cell_timeout,
        } for s, dg in todo]
        bar = _progress(len(jobs_list), f"autograde {assignment}", progress)

        def finish(rec: dict) -> None:
            gbmod.apply_record(url, assignment, rec)  # parent only: one SQLite writer
            atomic_write(record_path(course, assignment, rec["student"]),
                         json.dumps(rec, ensure_ascii=False, indent=1, default=_json_default))
            records[rec["student"]] = rec
            bar.update(1)
            bar.set_postfix_str(rec["student"])

        try:
            if jobs <= 1 or len(jobs_list) <= 1:
                for job in jobs_list:
                    finish(grade_one(job))
            else:
                ctx = multiprocessing.get_context("spawn")
                with cf.ProcessPoolExecutor(max_workers=jobs, mp_context=ctx) as pool:
                    futures = [pool.submit(grade_one, job) for job in jobs_list]
                    try:
                        for fut in cf.as_completed(futures):
                            finish(fut.result())
                    except BaseException:
                        for f in futures:
                            f.cancel()
                        raise
        finally:
            bar.close()
    wall = time.perf_counter() - t_start
    summary = {"graded": sorted(records), "skipped": skipped, "records": records, "wall": wall}
    _write_report(course, assignment, summary)
    return summary


def _json_default(obj):
    try:
        import numpy as np

        if isinstance(obj, np.generic):
            return obj.item()
        if isinstance(obj, np.ndarray):
            return obj.tolist()
    except ImportError:  # pragma: no cover
        pass
    return str(obj)


class _NoBar:
    def update(self, n=1):
        pass

    def set_postfix_str(self, s):
        pass

    def close(self):
        pass


def _progress(total: int, desc: str, enabled: bool):
    if not enabled or total == 0:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="sub", file=sys.stderr)


def _write_report(course: Path, assignment: str, summary: dict) -> None:
    """Batch report: flags and timings of every stored record (JSON, atomic)."""
    records = load_records(course, assignment)
    timed = [r["timings"] for s, r in summary["records"].items()]
    report = {
        "assignment": assignment,
        "graded_now": summary["graded"],
        "skipped": summary["skipped"],
        "wall_seconds": round(summary["wall"], 3),
        "seconds_per_submission": _timing_stats(timed),
        "flags": {s: r.get("flags", []) for s, r in sorted(records.items()) if r.get("flags")},
    }
    atomic_write(record_dir(course, assignment) / "report.json",
                 json.dumps(report, ensure_ascii=False, indent=1))


def _timing_stats(timings: list[dict]) -> dict:
    if not timings:
        return {}
    out = {}
    for key in ("nbgrader", "trusted", "total"):
        vals = [t[key] for t in timings if key in t]
        if vals:
            out[key] = {"mean": round(sum(vals) / len(vals), 3), "max": round(max(vals), 3)}
    return out


# --------------------------------------------------------------------------- tables, export


def task_ids(records: dict[str, dict]) -> list[str]:
    """Task ids in grading order (first record's order, then any others sorted)."""
    seen: list[str] = []
    for rec in records.values():
        for t in rec["trusted"].get("tasks", {}):
            if t not in seen:
                seen.append(t)
    return seen


def flag_summary(rec: dict) -> str:
    parts = []
    for f in rec.get("flags", []):
        parts.append(f["kind"] + (f":{f['task']}" if "task" in f else ""))
    return ";".join(parts)


def grade_rows(records: dict[str, dict]) -> tuple[list[str], list[list]]:
    """Header and rows of the grade table (student x task, total, flags)."""
    tasks = task_ids(records)
    header = ["student", *tasks, "total", "max_total", "flags"]
    rows = []
    for student in sorted(records):
        rec = records[student]
        t = rec["trusted"].get("tasks", {})
        rows.append([student, *[_num(t[k]["points"]) if k in t else "" for k in tasks],
                     _num(rec["trusted"].get("total", 0.0)), _num(rec["trusted"].get("max_total", 0.0)),
                     flag_summary(rec)])
    return header, rows


def _num(x) -> float | int:
    x = float(x)
    return int(x) if x == int(x) else round(x, 4)


def export(course: Path = DEFAULT_COURSE, assignment: str = DEFAULT_ASSIGNMENT,
           out: Path | None = None) -> Path:
    """Write the grades CSV (student, per-task points, total, max_total, flags) atomically."""
    course = Path(course).resolve()
    records = load_records(course, assignment)
    if not records:
        raise SystemExit(f"no graded submissions for {assignment}: run `make autograde` first")
    header, rows = grade_rows(records)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    out = Path(out) if out else exports_dir(course) / f"{assignment}_grades.csv"
    atomic_write(out, buf.getvalue())
    return out


def format_table(records: dict[str, dict]) -> str:
    header, rows = grade_rows(records)
    cells = [[str(c) for c in header]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def histogram(records: dict[str, dict], out: Path, assignment: str = DEFAULT_ASSIGNMENT) -> Path:
    """Save a histogram of total scores (matplotlib, Agg) and return its path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    totals = [float(r["trusted"].get("total", 0.0)) for r in records.values()]
    max_total = max([float(r["trusted"].get("max_total", 0.0)) for r in records.values()] + [1.0])
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    bins = min(20, max(5, int(max_total) if max_total <= 20 else 20))
    ax.hist(totals, bins=bins, range=(0, max_total), color="#4477aa", edgecolor="white")
    ax.set_xlabel(f"total score (of {_num(max_total)})")
    ax.set_ylabel("submissions")
    ax.set_title(f"{assignment}: {len(totals)} submissions")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    atomic_write(Path(out), buf.getvalue())
    return Path(out)


# --------------------------------------------------------------------------- collect


def collect(zip_file: Path, course: Path = DEFAULT_COURSE, assignment: str = DEFAULT_ASSIGNMENT) -> int:
    """Bring an LMS zip download into ``submitted/`` through ``nbgrader zip_collect``."""
    course = Path(course).resolve()
    archive = course / "downloaded" / assignment / "archive"
    archive.mkdir(parents=True, exist_ok=True)
    shutil.copy2(zip_file, archive / Path(zip_file).name)
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    cmd = [sys.executable, "-m", "nbgrader", "zip_collect", assignment, "--force",
           f"--CourseDirectory.root={course}"]
    return subprocess.run(cmd, cwd=course, env=env).returncode


# --------------------------------------------------------------------------- demo


def place_samples(course: Path, assignment: str, samples: dict[str, Path], release: Path) -> list[str]:
    """Copy each sample into ``submitted/<name>/<assignment>/`` (release folder + sample files).

    A sample holds the files a student hands in (``intro2ai/...py``, maybe
    ``hw5.ipynb``); the rest comes from the released folder, as in a real hand-in.
    An existing folder is replaced only when its content differs, so a re-run resumes.
    """
    placed = []
    for name, src in sorted(samples.items()):
        with tempfile.TemporaryDirectory(prefix="intro2ai-sample-") as tmp:
            staged = Path(tmp) / assignment
            shutil.copytree(release, staged)
            for path in sorted(Path(src).rglob("*")):
                if path.is_file() and "__pycache__" not in path.parts:
                    dst = staged / path.relative_to(src)
                    dst.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(path, dst)
            dest = submission_path(course, assignment, name)
            if dest.exists() and digest(dest) == digest(staged):
                placed.append(name)
                continue
            if dest.exists():
                shutil.rmtree(dest)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copytree(staged, dest)
        placed.append(name)
    return placed


def sample_dirs() -> dict[str, Path]:
    """The grader's sample submissions (``autograder.samples.sample_dirs()`` when provided)."""
    try:
        mod = importlib.import_module("autograder.samples")
        if hasattr(mod, "sample_dirs"):
            return {k: Path(v) for k, v in mod.sample_dirs().items()}
    except ImportError:
        pass
    root = REPO / "autograder" / "samples"
    return {p.name: p for p in sorted(root.iterdir())
            if p.is_dir() and not p.name.startswith(("_", ".")) and (p / "intro2ai").is_dir()}


def demo(course: Path = DEFAULT_COURSE, assignment: str = DEFAULT_ASSIGNMENT, *, jobs: int = 2,
         force: bool = False) -> dict:
    """Place the samples, autograde, write feedback, export, print the table, save the histogram."""
    from autograder import feedback

    course = Path(course).resolve()
    release = course / "release" / assignment
    if not release.is_dir():
        raise SystemExit(f"{release} not found: run `make release` first (make demo does)")
    samples = sample_dirs()
    names = place_samples(course, assignment, samples, release)
    print(f"[demo] {len(names)} sample submissions in {submitted_dir(course, assignment)}")
    summary = autograde(course, assignment, jobs=jobs, force=force, students=names)
    pages = feedback.write_all(course, assignment, students=names)
    csv_path = export(course, assignment)
    records = {s: r for s, r in load_records(course, assignment).items() if s in names}
    png = histogram(records, exports_dir(course) / f"{assignment}_histogram.png", assignment)
    print()
    print(format_table(records))
    print()
    timed = [r["timings"] for r in summary["records"].values()]
    stats = _timing_stats(timed)
    if stats:
        print(f"[demo] graded {len(summary['graded'])} (skipped {len(summary['skipped'])} unchanged) "
              f"in {summary['wall']:.1f} s with {jobs} jobs; per submission: "
              f"nbgrader {stats['nbgrader']['mean']:.1f} s, trusted grader {stats['trusted']['mean']:.1f} s")
    flagged = {s: flag_summary(r) for s, r in records.items() if r.get("flags")}
    for s, f in sorted(flagged.items()):
        print(f"[demo] flag {s}: {f}")
    print(f"[demo] feedback: {len(pages)} pages under {course / 'feedback'}")
    print(f"[demo] grades:   {csv_path}")
    print(f"[demo] histogram: {png}")
    print(f"[demo] gradebook: {_gradebook_file(course)}")
    return summary


# --------------------------------------------------------------------------- CLI


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder.pipeline", description=__doc__.splitlines()[0])
    parser.add_argument("--course-dir", type=Path, default=DEFAULT_COURSE, help="nbgrader course root")
    parser.add_argument("--assignment", default=DEFAULT_ASSIGNMENT)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("autograde", help="nbgrader autograde + trusted grader into the gradebook")
    p.add_argument("--jobs", "-j", type=int, default=int(os.environ.get("JOBS", "1") or 1))
    p.add_argument("--force", action="store_true", help="regrade submissions graded already")
    p.add_argument("--student", action="append", help="only these students (repeatable)")
    p.add_argument("--grader", default=DEFAULT_GRADER, help="module:function of the trusted grader")
    p.add_argument("--seed", type=int, default=None, help="seed of the hidden cases (default: the grader's)")
    p.add_argument("--no-sandbox-kernel", action="store_true",
                   help="run the notebook in the plain python3 kernel (no resource limits)")
    p.add_argument("--no-progress", action="store_true")

    p = sub.add_parser("feedback", help="one Korean HTML feedback page per student")
    p.add_argument("--student", action="append")

    p = sub.add_parser("export", help="grades CSV")
    p.add_argument("--out", type=Path, default=None)

    p = sub.add_parser("collect", help="LMS zip download -> submitted/ (nbgrader zip_collect)")
    p.add_argument("zip", type=Path)

    p = sub.add_parser("demo", help="samples -> autograde -> feedback -> export -> table + histogram")
    p.add_argument("--jobs", "-j", type=int, default=int(os.environ.get("JOBS", "2") or 2))
    p.add_argument("--force", action="store_true")

    args = parser.parse_args(argv)
    course = args.course_dir.resolve()
    if args.command == "autograde":
        summary = autograde(course, args.assignment, jobs=args.jobs, force=args.force, students=args.student,
                            grader=args.grader, seed=args.seed, sandbox_kernel=not args.no_sandbox_kernel,
                            progress=not args.no_progress)
        records = load_records(course, args.assignment)
        print(format_table(records))
        stats = _timing_stats([r["timings"] for r in summary["records"].values()])
        print(f"graded {len(summary['graded'])}, skipped {len(summary['skipped'])} unchanged, "
              f"{summary['wall']:.1f} s wall" + (f", {stats['total']['mean']:.1f} s per submission" if stats else ""))
        flagged = [(s, flag_summary(r)) for s, r in sorted(records.items()) if r.get("flags")]
        for s, f in flagged:
            print(f"FLAG {s}: {f}")
        print(f"report: {record_dir(course, args.assignment) / 'report.json'}")
    elif args.command == "feedback":
        from autograder import feedback

        pages = feedback.write_all(course, args.assignment, students=args.student)
        print(f"{len(pages)} feedback pages under {course / 'feedback'}")
    elif args.command == "export":
        print(export(course, args.assignment, args.out))
    elif args.command == "collect":
        return collect(args.zip, course, args.assignment)
    elif args.command == "demo":
        demo(course, args.assignment, jobs=args.jobs, force=args.force)
    return 0


if __name__ == "__main__":
    sys.exit(main())
