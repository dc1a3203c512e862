"""The nbgrader step of one submission: ``nbgrader autograde`` in a kernel with limits.

nbgrader runs in a forked child of the grading worker (its API, as formgrader uses it), against a
private copy of the gradebook; the notebook runs in the sandbox kernel started by
:mod:`autograder.kernel_launcher`.
"""
from __future__ import annotations

import json
import os
import signal
import sys
import time
import warnings
from pathlib import Path
from typing import Any

from autograder import kernel_launcher, records

#: Limits of the notebook kernel (the trusted grader has its own sandbox).
KERNEL_MEMORY_BYTES = 4 * 1024**3  # address space per process and memory cgroup limit
KERNEL_MAX_TASKS = 128  # processes + threads (pids cgroup); stops fork bombs
KERNEL_FILE_BYTES = 256 * 1024**2  # largest file the kernel may write
KERNEL_NAME = "intro2ai-sandbox"
#: True (or INTRO2AI_KERNEL_NO_FORK=1): the kernel may start threads but no processes, even
#: where a pids cgroup could cap them (the launcher does this by itself for root without one).
KERNEL_FORBID_PROCESSES = os.environ.get("INTRO2AI_KERNEL_NO_FORK", "").strip() == "1"

#: Wall-clock limit of one submission's whole nbgrader step (notebook run and bookkeeping). The
#: per-cell timeout alone does not bound it: a notebook of many slow cells, or student code that
#: wedges the kernel's connection, could hold a worker for hours.
NOTEBOOK_TIME_LIMIT_S = 1800




def process_limit_available() -> bool:
    """Can a notebook kernel's process count be capped here?

    A pids cgroup works for everyone (when /sys/fs/cgroup/pids is writable); RLIMIT_NPROC
    works for every user but root; for root without the cgroup the launcher installs a seccomp
    filter that lets the kernel start threads but no processes (x86_64 and aarch64 Linux).
    """
    if os.geteuid() != 0:
        return True
    probe = Path("/sys/fs/cgroup/pids") / f"intro2ai-probe-{os.getpid()}"
    try:
        probe.mkdir()
    except OSError:
        import platform

        try:
            seccomp = "Seccomp:" in Path("/proc/self/status").read_text()
        except OSError:
            seccomp = False
        return seccomp and platform.machine() in ("x86_64", "aarch64")
    probe.rmdir()
    return True


def write_kernelspec(root: Path) -> Path:
    """Write the sandbox kernelspec under ``root/kernels/``; returns ``root`` (a JUPYTER_PATH entry)."""
    spec = root / "kernels" / KERNEL_NAME
    spec.mkdir(parents=True, exist_ok=True)
    kernel = {
        "argv": [sys.executable, "-I", str(Path(kernel_launcher.__file__).resolve()), "-f", "{connection_file}"],
        "display_name": "Python 3 (intro2ai grading sandbox)",
        "language": "python",
        "metadata": {"debugger": False},
    }
    (spec / "kernel.json").write_text(json.dumps(kernel, indent=1), encoding="utf-8")
    return root


def _kill_kernels(jobdir: Path) -> list[str]:
    """Kill whatever the kernels of one autograde run left behind and remove their cgroups.

    Returns the isolation level each kernel reported.
    """
    listing = jobdir / "kernels.txt"
    if not listing.exists():
        return []
    levels = []
    for line in listing.read_text().splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        levels.append(entry.get("isolation", "?"))
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
    return levels


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
        api = NbGraderAPI(coursedir=coursedir, config=cfg)
        # nbgrader's log of each run is kept in the record (capture_log); the terminal shows
        # the batch's progress bar only, not tracebacks of failing student notebooks.
        import logging

        for handler in list(api.log.handlers):
            if isinstance(handler, logging.StreamHandler):
                api.log.removeHandler(handler)
        api.log.propagate = False
        logging.getLogger("asyncio").setLevel(logging.CRITICAL)
        _APIS[key] = api
    return _APIS[key]


def _built_extensions(release: Path) -> list[list[str]]:
    """The kit's compiled im2col extension, when the release ships the same sources.

    Students build it with ``make compile-cython``; the autograded copy gets the kit's
    build instead of running the notebook's training cells on the slow NumPy fallback.
    The sources are the ``.pyx`` and the C headers it includes; any difference (or a missing
    file) and the release builds nothing of the kit's.
    """
    sources = sorted((records.REPO / "intro2ai").glob("_im2col_cython.pyx"))
    sources += sorted((records.REPO / "intro2ai").glob("_direct_conv*.h"))
    if not sources:
        return []
    for kit_src in sources:
        rel_src = release / "intro2ai" / kit_src.name
        if not rel_src.exists() or rel_src.read_bytes() != kit_src.read_bytes():
            return []
    return [[str(so), (Path("intro2ai") / so.name).as_posix()]
            for so in sorted((records.REPO / "intro2ai").glob("_im2col_cython*.so"))]


def _bounded_heartbeat_stop() -> None:
    """Make jupyter_client's ``HBChannel.stop`` wait at most 5 s for its thread.

    When a kernel dies (killed for a limit, ``os._exit``) the heartbeat thread reconnects and
    blocks in ``send`` on a REQ socket that has no peer, so ``stop()`` -> ``join()`` never
    returns and nbclient's cleanup hangs (seen with jupyter_client 8.10). The thread is a
    daemon thread of a child process that exits right after, so it is left behind, with its
    socket (a zmq socket must not be closed from another thread while in use).
    """
    from jupyter_client.channels import HBChannel

    if getattr(HBChannel.stop, "_intro2ai_bounded", False):
        return

    def stop(self) -> None:
        self._running = False
        self._exit.set()
        self.join(timeout=5)
        if not self.is_alive():
            self.close()

    stop._intro2ai_bounded = True
    HBChannel.stop = stop


def run_nbgrader_autograde(course: Path, assignment: str, student: str, db_file: Path,
                           kernel_root: Path | None, jobdir: Path,
                           cell_timeout: int | None = None,
                           fast_notebook: bool = False) -> tuple[int, str, list[str]]:
    """Run nbgrader's autograde for one student against the gradebook ``db_file``.

    nbgrader runs in this process (its API, as the formgrader uses it); the
    notebook runs in a kernel subprocess, the sandbox kernel when ``kernel_root``
    is given.  Returns ``(0 or 1, log tail, kernel isolation levels)``; never raises for a
    failing notebook.
    """
    from autograder import gradebook as gbmod

    _bounded_heartbeat_stop()
    api = _nbgrader_api(course, KERNEL_NAME if kernel_root is not None else None, cell_timeout)
    env = {"JUPYTER_RUNTIME_DIR": str(jobdir / "runtime"), "MPLBACKEND": "Agg"}
    if fast_notebook:
        env["INTRO2AI_FAST"] = "1"  # the notebook's documented fast mode (small synthetic data)
    if kernel_root is not None:
        env["JUPYTER_PATH"] = str(kernel_root) + os.pathsep + os.environ.get("JUPYTER_PATH", "")
        env["INTRO2AI_KERNEL_JOBDIR"] = str(jobdir)
        env["INTRO2AI_KERNEL_LIMITS"] = json.dumps(
            {"memory": KERNEL_MEMORY_BYTES, "tasks": KERNEL_MAX_TASKS, "file": KERNEL_FILE_BYTES,
             "forbid_processes": KERNEL_FORBID_PROCESSES,
             "tmp": str(jobdir / "kernel-tmp"), "protect": True})
        release = course / "release" / assignment
        if release.is_dir():
            keep = dict(api.config.get("Autograde", {}).get("exclude_overwriting", {}) or {}).get(assignment, [])
            env["INTRO2AI_KERNEL_PROVIDED"] = json.dumps({
                "release": str(release), "keep": list(keep), "extra": _built_extensions(release),
                "dest": str(course / "autograded" / student / assignment)})
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
        levels = _kill_kernels(jobdir)
    text = (result.get("log") or "") + (result.get("error") or "")
    return (0 if result.get("success") else 1), text[-4000:], levels


def run_notebook_step(course: Path, assignment: str, student: str, db_file: Path,
                      kernel_root: Path | None, jobdir: Path, cell_timeout: int | None = None,
                      fast_notebook: bool = False,
                      time_limit: float = NOTEBOOK_TIME_LIMIT_S) -> tuple[int, str, list[str], bool]:
    """:func:`run_nbgrader_autograde` in a forked child with a wall-clock limit.

    The child reports through a JSON file in ``jobdir`` (nothing is unpickled); when it
    overruns it is killed, and so is every kernel it started.  Returns ``(returncode, log tail,
    kernel isolation levels, timed_out)``.
    """
    # Import nbgrader and read the course config here, once per worker, not once per child.
    _nbgrader_api(course, KERNEL_NAME if kernel_root is not None else None, cell_timeout)
    result_file = jobdir / "notebook-step.json"
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # child: never returns
        code = 1
        try:
            rc, log, levels = run_nbgrader_autograde(course, assignment, student, db_file, kernel_root,
                                                     jobdir, cell_timeout, fast_notebook)
            records.atomic_write(result_file, json.dumps({"returncode": rc, "log": log, "levels": levels}))
            code = 0
        finally:
            os._exit(code)
    deadline = time.monotonic() + time_limit
    status = None
    while status is None:
        done, st = os.waitpid(pid, os.WNOHANG)
        if done:
            status = st
        elif time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            break
        else:
            time.sleep(0.05)
    levels = _kill_kernels(jobdir)  # whatever an overrun left behind
    if status is None:
        return 1, f"[notebook step stopped after its time limit of {time_limit:g} s]", levels, True
    try:
        data = json.loads(result_file.read_text())
    except (OSError, ValueError):
        return 1, f"[notebook step died: wait status {status}]", levels, False
    return int(data["returncode"]), str(data["log"]), list(data["levels"]) or levels, False

