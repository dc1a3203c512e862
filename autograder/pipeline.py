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
#: True (or INTRO2AI_KERNEL_NO_FORK=1): the kernel may start threads but no processes, even
#: where a pids cgroup could cap them (the launcher does this by itself for root without one).
KERNEL_FORBID_PROCESSES = os.environ.get("INTRO2AI_KERNEL_NO_FORK", "").strip() == "1"
#: Cell timeout of the demo (the course config allows 10 minutes for slow laptops; the demo's
#: samples include infinite loops, and the reference's slowest cell takes about 5 s).
DEMO_CELL_TIMEOUT_S = 30
#: Wall-clock limit of one submission's whole nbgrader step (notebook run and bookkeeping). The
#: per-cell timeout alone does not bound it: a notebook of many slow cells, or student code that
#: wedges the kernel's connection, could hold a worker for hours.
NOTEBOOK_TIME_LIMIT_S = 1800
DEMO_NOTEBOOK_TIME_LIMIT_S = 150


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


#: Files whose change changes grades: a record made before such a change is regraded.
GRADING_FILES = ("autograder/rubric.toml", "intro2ai/layers.py", "intro2ai/classifiers/cnn.py")


def grading_key(course: Path, assignment: str, grader: str, seed: int | str | None) -> str:
    """Hash of what a grade depends on besides the submission: record layout, grader, seed
    (hashed, never stored), rubric, reference solutions and the source notebooks."""
    h = hashlib.sha256(json.dumps([RECORD_VERSION, grader]).encode())
    try:
        from autograder import cases

        resolved = cases.secret_seed(seed)
    except Exception:  # a stand-in grader or no seed helper: the given seed is all we know
        resolved = seed
    h.update(b"seed\0" + str(resolved).encode())
    paths = [REPO / rel for rel in GRADING_FILES]
    paths += sorted((Path(course) / "source" / assignment).glob("*.ipynb"))
    for path in paths:
        h.update(b"\0" + path.name.encode() + b"\0")
        if path.exists():
            h.update(path.read_bytes())
    return h.hexdigest()


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
import json, os, resource, struct, sys

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

def protect_filesystem(writable):
    """Private mount namespace: everything read-only except ``writable``; drop the capabilities
    that could undo it (root only; raises OSError where the system does not allow it)."""
    import ctypes
    CLONE_NEWNS = 0x00020000
    MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
    MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
    MS_NOATIME, MS_NODIRATIME, MS_RELATIME = 1024, 2048, 1 << 21
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_void_p]

    def mount(src, dst, flags):
        if libc.mount(src.encode() if src else None, dst.encode(), None, flags, None) != 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err), dst)

    if libc.unshare(CLONE_NEWNS) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), "unshare(CLONE_NEWNS)")
    mount(None, "/", MS_REC | MS_PRIVATE)
    keep = []
    for d in writable:
        d = os.path.realpath(d)
        mount(d, d, MS_BIND | MS_REC)
        keep.append(d)
    os.chdir(os.path.realpath(os.getcwd()))  # onto the writable bind mount
    with open("/proc/self/mountinfo") as f:
        entries = [line.split() for line in f]
    for e in entries:
        mp = e[4].replace("\\040", " ")
        if mp.startswith(("/proc", "/dev")) or any(mp == k or mp.startswith(k + "/") for k in keep):
            continue
        opts = e[5].split(",")
        flags = MS_REMOUNT | MS_BIND | MS_RDONLY
        for name, bit in (("nosuid", MS_NOSUID), ("nodev", MS_NODEV), ("noexec", MS_NOEXEC),
                          ("noatime", MS_NOATIME), ("nodiratime", MS_NODIRATIME), ("relatime", MS_RELATIME)):
            if name in opts:
                flags |= bit
        try:
            mount(None, mp, flags)
        except OSError:
            if mp == "/":
                raise
    # SYS_ADMIN (mount, unshare, setns), SYS_MODULE, SYS_RAWIO, SYS_PTRACE, SYS_RESOURCE (raise
    # limits), SETPCAP, SYS_TIME, SYS_BOOT, MKNOD, DAC_READ_SEARCH (open_by_handle), BPF.
    for cap in (21, 16, 17, 19, 24, 8, 25, 22, 27, 2, 39):
        libc.prctl(24, cap, 0, 0, 0)  # PR_CAPBSET_DROP: gone after exec


isolation = "rlimits"
if in_cgroup:
    isolation += "+cgroup:" + ",".join(sorted(in_cgroup))
ktmp = limits.get("tmp")
if ktmp:
    os.makedirs(ktmp, exist_ok=True)
    for var in ("TMPDIR", "HOME", "MPLCONFIGDIR", "IPYTHONDIR"):
        os.environ[var] = ktmp
listing = None
if jobdir:
    # The kernel's own stdout and stderr (startup warnings, crashes, raw writes to fd 1 or 2 that
    # ipykernel does not capture) go to a log file of the job, never to the batch's terminal.
    # Both files are opened before the file system turns read-only: the job folder (which holds
    # the worker's own files) stays out of the kernel's reach.
    fd = os.open(os.path.join(jobdir, "kernel-output.txt"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    fd = os.open(os.devnull, os.O_RDONLY)
    os.dup2(fd, 0)
    os.close(fd)
    listing = os.open(os.path.join(jobdir, "kernels.txt"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
if limits.get("protect") and os.geteuid() == 0 and ktmp:
    try:
        protect_filesystem([os.getcwd(), ktmp])
        isolation += "+readonly-fs"
    except OSError as exc:
        isolation += "(no readonly-fs: %s)" % exc

# Provided files: like nbgrader does for source files, every file of the released folder except
# notebooks and the files students edit is (re)placed with the release version, so the notebook
# runs on the provided package even when the hand-in holds only the student files.
provided = json.loads(os.environ.get("INTRO2AI_KERNEL_PROVIDED", "null") or "null")
if provided and os.path.realpath(os.getcwd()) == os.path.realpath(provided["dest"]):
    import shutil
    keep = set(provided.get("keep", []))
    for dirpath, dirnames, filenames in os.walk(provided["release"]):
        dirnames[:] = [d for d in dirnames if d not in ("__pycache__", ".ipynb_checkpoints")]
        for name in filenames:
            src = os.path.join(dirpath, name)
            rel = os.path.relpath(src, provided["release"]).replace(os.sep, "/")
            if rel.endswith(".ipynb") or rel in keep:
                continue
            dst = os.path.join(os.getcwd(), rel)
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            if os.path.lexists(dst):
                os.remove(dst) if not os.path.isdir(dst) or os.path.islink(dst) else shutil.rmtree(dst)
            shutil.copyfile(src, dst)
    for src, rel in provided.get("extra", []):
        dst = os.path.join(os.getcwd(), rel)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.copyfile(src, dst)

def forbid_new_processes():
    """seccomp filter: threads may be created, processes not (fork, vfork, clone without
    CLONE_THREAD fail with EAGAIN; clone3 with ENOSYS, so libc falls back to clone).

    The process-count limit for root, which RLIMIT_NPROC does not bind, where no pids cgroup
    can be made. Returns False on an architecture it does not know.
    """
    import ctypes, platform
    machine = platform.machine()
    if machine == "x86_64":
        arch, clone, forks = 0xC000003E, 56, (57, 58)
    elif machine == "aarch64":
        arch, clone, forks = 0xC00000B7, 220, ()
    else:
        return False
    LD, JEQ, JGE, JSET, RET = 0x20, 0x15, 0x35, 0x45, 0x06
    ALLOW, EAGAIN, ENOSYS = 0x7FFF0000, 0x00050000 | 11, 0x00050000 | 38
    prog = [(LD, None, None, 4), (JEQ, "next", "enosys", arch), (LD, None, None, 0)]
    if machine == "x86_64":
        prog.append((JGE, "enosys", "next", 0x40000000))  # x32 system calls
    prog += [(JEQ, "eagain", "next", nr) for nr in forks]
    prog += [(JEQ, "enosys", "next", 435),  # clone3: its flags are out of the filter's reach
             (JEQ, "next", "allow", clone),
             (LD, None, None, 16),  # low 32 bits of the flags
             (JSET, "allow", "eagain", 0x00010000)]  # CLONE_THREAD
    labels = {"allow": len(prog), "eagain": len(prog) + 1, "enosys": len(prog) + 2}
    prog += [(RET, None, None, ALLOW), (RET, None, None, EAGAIN), (RET, None, None, ENOSYS)]
    code = b""
    for pc, (op, jt, jf, k) in enumerate(prog):
        off = lambda lab: 0 if lab in (None, "next") else labels[lab] - pc - 1
        code += struct.pack("=HBBI", op, off(jt), off(jf), k)
    buf = ctypes.create_string_buffer(code, len(code))
    fprog = struct.pack("@HP", len(prog), ctypes.addressof(buf))  # struct sock_fprog
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p, ctypes.c_ulong, ctypes.c_ulong]
    if libc.prctl(38, 1, None, 0, 0) != 0:  # PR_SET_NO_NEW_PRIVS
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")
    fbuf = ctypes.create_string_buffer(fprog, len(fprog))
    if libc.prctl(22, 2, ctypes.addressof(fbuf), 0, 0) != 0:  # PR_SET_SECCOMP, SECCOMP_MODE_FILTER
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_SECCOMP)")
    return True


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
if limits.get("forbid_processes") or ("pids" not in in_cgroup and os.geteuid() == 0):
    # Root is exempt from RLIMIT_NPROC: without a pids cgroup the kernel may not start processes.
    try:
        if forbid_new_processes():
            isolation += "+no-fork"
    except (OSError, ValueError, struct.error) as exc:
        isolation += "(no process limit: %s)" % exc
if listing is not None:
    entry = {"pid": pid, "cgroups": list(in_cgroup.values()), "isolation": isolation}
    os.write(listing, (json.dumps(entry) + "\n").encode())
    os.close(listing)
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"
os.environ["MPLBACKEND"] = "Agg"
for var in ("INTRO2AI_KERNEL_LIMITS", "INTRO2AI_KERNEL_JOBDIR", "INTRO2AI_KERNEL_PROVIDED"):
    os.environ.pop(var, None)
# jupyter_client starts kernels with close_fds=False: without this the kernel would inherit the
# grading worker's descriptors (its result pipes among them) and student code could write to them.
os.closerange(3, 1 << 20)
os.execv(sys.executable, [sys.executable, "-m", "ipykernel_launcher"] + sys.argv[1:])
'''


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
    (spec / "launch.py").write_text(_LAUNCHER, encoding="utf-8")
    kernel = {
        "argv": [sys.executable, "-I", str(spec / "launch.py"), "-f", "{connection_file}"],
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
    sources = sorted((REPO / "intro2ai").glob("_im2col_cython.pyx"))
    sources += sorted((REPO / "intro2ai").glob("_direct_conv*.h"))
    if not sources:
        return []
    for kit_src in sources:
        rel_src = release / "intro2ai" / kit_src.name
        if not rel_src.exists() or rel_src.read_bytes() != kit_src.read_bytes():
            return []
    return [[str(so), (Path("intro2ai") / so.name).as_posix()]
            for so in sorted((REPO / "intro2ai").glob("_im2col_cython*.so"))]


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
            atomic_write(result_file, json.dumps({"returncode": rc, "log": log, "levels": levels}))
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
    notebook_rc, notebook_log, autograde_data, isolation, timed_out = None, "", {}, [], False
    if not job.get("skip_notebook"):
        with tempfile.TemporaryDirectory(prefix="intro2ai-autograde-") as tmp:
            tmp = Path(tmp)
            db_file = tmp / "gradebook.db"
            shutil.copyfile(job["template_db"], db_file)
            (tmp / "runtime").mkdir()
            kernel_root = Path(job["kernel_root"]) if job.get("kernel_root") else None
            limit = job.get("notebook_time_limit") or NOTEBOOK_TIME_LIMIT_S
            notebook_rc, notebook_log, isolation, timed_out = run_notebook_step(
                course, assignment, student, db_file, kernel_root, tmp, job.get("cell_timeout"),
                bool(job.get("fast_notebook")), limit)
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
    if timed_out:
        flags.append({"kind": "notebook_timeout", "seconds": job.get("notebook_time_limit") or NOTEBOOK_TIME_LIMIT_S})
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
        "grading_key": job.get("grading_key"),
        "graded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "trusted": trusted,
        "autograde": autograde_data,
        "notebook_returncode": notebook_rc,
        "notebook_isolation": sorted(set(isolation)),
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
              skip_notebook: bool = False, cell_timeout: int | None = None,
              fast_notebook: bool = False,
              notebook_time_limit: float = NOTEBOOK_TIME_LIMIT_S) -> dict[str, Any]:
    """Autograde every submission; returns a summary ``{"graded", "skipped", "records", "wall"}``."""
    from autograder import gradebook as gbmod

    course = Path(course).resolve()
    db_file = _gradebook_file(course)
    if not db_file.exists():
        raise SystemExit(f"{db_file} not found: release the assignment first (make release)")
    url = gbmod.db_url(db_file)
    names = discover(course, assignment, students)
    key = grading_key(course, assignment, grader, seed)
    todo, skipped = [], []
    for student in names:
        dg = digest(submission_path(course, assignment, student))
        rec = load_record(course, assignment, student)
        if (not force and rec and rec.get("digest") == dg and rec.get("grading_key") == key):
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
            "fast_notebook": fast_notebook, "notebook_time_limit": notebook_time_limit, "grading_key": key,
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

    tqdm.monitor_interval = 0  # no monitor thread: the batch forks once per submission
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


def collect(source: Path, course: Path = DEFAULT_COURSE, assignment: str = DEFAULT_ASSIGNMENT) -> int:
    """Bring LMS downloads into ``submitted/`` through ``nbgrader zip_collect``.

    ``source`` is one student's zip (``<student_id>_<anything>.zip``, as ``make submit``
    writes it), a bulk download holding such zips, or a folder of them.  They go to
    ``downloaded/<assignment>/archive/``; nbgrader extracts them and collects the notebook
    and the two ``.py`` files (the ZipCollect settings of ``nbgrader_config.py``).
    """
    import zipfile

    course = Path(course).resolve()
    source = Path(source)
    archive = course / "downloaded" / assignment / "archive"
    archive.mkdir(parents=True, exist_ok=True)
    zips = sorted(source.glob("*.zip")) if source.is_dir() else [source]
    if not zips:
        raise SystemExit(f"no .zip files in {source}")
    n = 0
    for z in zips:
        with zipfile.ZipFile(z) as zf:
            inner = [m for m in zf.namelist() if m.lower().endswith(".zip") and not m.endswith("/")]
            if inner:  # a bulk download: one zip per student inside
                for member in inner:
                    target = archive / Path(member).name
                    atomic_write(target, zf.read(member))
                    n += 1
                continue
        shutil.copy2(z, archive / z.name)
        n += 1
    print(f"{n} archive(s) in {archive}")
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    cmd = [sys.executable, "-m", "nbgrader", "zip_collect", assignment, "--force",
           f"--CourseDirectory.root={course}"]
    return subprocess.run(cmd, cwd=course, env=env).returncode


# --------------------------------------------------------------------------- demo


#: Notebook-level samples (the trusted grader's samples change only .py files). Each starts from
#: the untouched release and adds one student cell right after the notebook's setup cell.
NOTEBOOK_SAMPLES: dict[str, dict] = {
    "nb_exec_instructor": {
        "doc": "a notebook cell loads the instructor's layers.py by absolute path and rebinds the "
               "layer names, so the notebook's tests pass in the kernel (flagged: possible tampering)",
        "cell": (
            "import importlib.util as _u\n"
            "_s = _u.spec_from_file_location('kit_layers', '{KIT}/intro2ai/layers.py')\n"
            "_m = _u.module_from_spec(_s)\n"
            "_s.loader.exec_module(_m)\n"
            "conv_forward_naive, conv_backward_naive = _m.conv_forward_naive, _m.conv_backward_naive\n"
            "max_pool_forward_naive = _m.max_pool_forward_naive\n"
            "max_pool_backward_naive = _m.max_pool_backward_naive\n"),
        "tampered": ["hw5_conv_forward", "hw5_conv_backward", "hw5_max_pool_forward", "hw5_max_pool_backward"],
    },
    "nb_custom_exc": {
        "doc": "a notebook cell installs an IPython custom exception handler that hides every error "
               "(nbgrader still records the failing cells: no points, nothing to flag)",
        "cell": ("get_ipython().set_custom_exc((BaseException,),\n"
                 "                              lambda shell, etype, value, tb, tb_offset=None: None)\n"),
        "tampered": [],
    },
}


def _notebook_with_cell(release_nb: Path, code: str) -> str:
    import nbformat
    from nbformat.v4 import new_code_cell

    nb = nbformat.read(str(release_nb), as_version=4)
    at = next((i for i, c in enumerate(nb.cells) if c.cell_type == "code" and "import" in c.source), 0)
    nb.cells.insert(at + 1, new_code_cell(code))
    return nbformat.writes(nb)


def sample_names() -> list[str]:
    """The trusted grader's samples, then the notebook-level ones."""
    from autograder import samples as smod

    return list(smod.SAMPLES) + list(NOTEBOOK_SAMPLES)


def expected_points(name: str) -> dict[str, float] | None:
    """Expected trusted points per task of a sample (``expected_scores.toml``), if known."""
    from autograder import samples as smod

    exp = smod.expected_scores()["samples"]
    if name in exp:
        return {k: float(v) for k, v in exp[name].items() if k != "total"}
    if name in NOTEBOOK_SAMPLES and "release" in exp:
        return {k: float(v) for k, v in exp["release"].items() if k != "total"}
    return None


def place_samples(course: Path, assignment: str, names: Iterable[str] | None = None) -> list[str]:
    """Write sample submissions into ``submitted/<name>/<assignment>/``.

    A submission is the released folder with the sample's files on top (the
    trusted grader's recipes in ``autograder.samples`` for the ``.py`` files, or
    a notebook with an extra student cell).  An existing folder is replaced only
    when its content differs, so a re-run of the demo resumes.
    """
    from autograder import samples as smod

    course = Path(course).resolve()
    release = course / "release" / assignment
    placed = []
    for name in names or sample_names():
        dest = submission_path(course, assignment, name)
        subs = {"{KIT}": str(REPO), "{SUBMISSION}": str(dest), "{TMP_MARKER}": "/tmp/intro2ai_ESCAPED_FROM_SANDBOX"}
        files: dict[str, str] = {}
        if name in NOTEBOOK_SAMPLES:
            recipe = {"base": "release"}
            files[f"{assignment}.ipynb"] = _notebook_with_cell(release / f"{assignment}.ipynb",
                                                               NOTEBOOK_SAMPLES[name]["cell"])
        else:
            recipe = smod.SAMPLES[name]
        for rel in smod.FILES:
            files[rel] = smod.build_file(rel, recipe)
        for rel, text in recipe.get("extra", {}).items():
            import textwrap

            files[rel] = textwrap.dedent(text)
        with tempfile.TemporaryDirectory(prefix="intro2ai-sample-") as tmp:
            staged = Path(tmp) / assignment
            shutil.copytree(release, staged, ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"))
            for rel, text in files.items():
                for k, v in subs.items():
                    text = text.replace(k, v)
                target = staged / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(text, encoding="utf-8")
            if not (dest.exists() and digest(dest) == digest(staged)):
                if dest.exists():
                    shutil.rmtree(dest)
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copytree(staged, dest)
        placed.append(name)
    return placed


def demo(course: Path = DEFAULT_COURSE, assignment: str = DEFAULT_ASSIGNMENT, *, jobs: int = 2,
         force: bool = False, cell_timeout: int | None = DEMO_CELL_TIMEOUT_S, fast_notebook: bool = True,
         notebook_time_limit: float = DEMO_NOTEBOOK_TIME_LIMIT_S, names: Iterable[str] | None = None) -> dict:
    """Place the samples, autograde, write feedback, export, print the table, save the histogram.

    The trusted grader uses the samples' seed (``expected_scores.toml``), so the
    table can be checked against the expected scores: the last column says so.
    """
    from autograder import feedback
    from autograder import samples as smod

    course = Path(course).resolve()
    release = course / "release" / assignment
    if not release.is_dir():
        raise SystemExit(f"{release} not found: run `make release` first (make demo does)")
    names = list(names or sample_names())
    if not process_limit_available():
        # Root without a writable pids cgroup: nothing would stop a fork bomb in the notebook kernel.
        skipped = [n for n in names if "fork" in n]
        names = [n for n in names if n not in skipped]
        if skipped:
            print(f"[demo] skipping {', '.join(skipped)}: no pids cgroup to contain it in the notebook "
                  f"kernel (run as a normal user, or where /sys/fs/cgroup/pids is writable)")
    names = place_samples(course, assignment, names)
    print(f"[demo] {len(names)} sample submissions in {submitted_dir(course, assignment)}", flush=True)
    seed = smod.expected_scores().get("seed")
    summary = autograde(course, assignment, jobs=jobs, force=force, students=names, seed=seed,
                        cell_timeout=cell_timeout, fast_notebook=fast_notebook,
                        notebook_time_limit=notebook_time_limit)
    pages = feedback.write_all(course, assignment, students=names)
    csv_path = export(course, assignment)
    records = {s: r for s, r in load_records(course, assignment).items() if s in names}
    png = histogram(records, exports_dir(course) / f"{assignment}_histogram.png", assignment)
    mismatches = []
    for s, rec in records.items():
        want = expected_points(s)
        got = {t: float(v["points"]) for t, v in rec["trusted"].get("tasks", {}).items()}
        if want is not None and got != want:
            mismatches.append(s)
    print()
    print(format_table(records))
    print()
    stats = _timing_stats([r["timings"] for r in summary["records"].values()])
    if stats:
        print(f"[demo] graded {len(summary['graded'])} (skipped {len(summary['skipped'])} unchanged) "
              f"in {summary['wall']:.0f} s with {jobs} jobs; per submission: nbgrader "
              f"{stats['nbgrader']['mean']:.1f} s, trusted grader {stats['trusted']['mean']:.1f} s")
    else:
        print(f"[demo] nothing changed since the last run: {len(summary['skipped'])} submissions kept "
              f"(FORCE=1 regrades)")
    print(f"[demo] scores equal to autograder/samples/expected_scores.toml: "
          f"{len(records) - len(mismatches)}/{len(records)}" + (f" (differ: {', '.join(sorted(mismatches))})"
                                                                if mismatches else ""))
    for s, f in sorted((s, flag_summary(r)) for s, r in records.items() if r.get("flags")):
        print(f"[demo] flag {s}: {f}")
    print(f"[demo] feedback:  {len(pages)} pages under {course / 'feedback'}")
    print(f"[demo] grades:    {csv_path}")
    print(f"[demo] histogram: {png}")
    print(f"[demo] gradebook: {_gradebook_file(course)} (nbgrader formgrader shows the same scores)")
    summary["mismatches"] = mismatches
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
    p.add_argument("--seed", default=None, help="seed of the hidden cases (default: the grader's secret)")
    p.add_argument("--no-sandbox-kernel", action="store_true",
                   help="run the notebook in the plain python3 kernel (no resource limits)")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--cell-timeout", type=int, default=None,
                   help="seconds per notebook cell (default: Execute.timeout of nbgrader_config.py)")
    p.add_argument("--fast-notebook", action="store_true",
                   help="run the notebook in its fast mode (INTRO2AI_FAST=1: small synthetic data)")
    p.add_argument("--notebook-time-limit", type=float, default=NOTEBOOK_TIME_LIMIT_S,
                   help="seconds for one submission's whole nbgrader step (default: %(default)s)")

    p = sub.add_parser("feedback", help="one Korean HTML feedback page per student")
    p.add_argument("--student", action="append")

    p = sub.add_parser("export", help="grades CSV")
    p.add_argument("--out", type=Path, default=None)

    p = sub.add_parser("collect", help="LMS zip download -> submitted/ (nbgrader zip_collect)")
    p.add_argument("zip", type=Path, help="a student's zip, a bulk download of them, or a folder of zips")

    p = sub.add_parser("demo", help="samples -> autograde -> feedback -> export -> table + histogram")
    p.add_argument("--jobs", "-j", type=int, default=int(os.environ.get("JOBS", "2") or 2))
    p.add_argument("--force", action="store_true")
    p.add_argument("--cell-timeout", type=int, default=DEMO_CELL_TIMEOUT_S, help="seconds per notebook cell")
    p.add_argument("--notebook-time-limit", type=float, default=DEMO_NOTEBOOK_TIME_LIMIT_S,
                   help="seconds for one submission's whole nbgrader step (default: %(default)s)")
    p.add_argument("--full-notebook", action="store_true", help="run the notebook on real CIFAR-10, not fast mode")

    args = parser.parse_args(argv)
    course = args.course_dir.resolve()
    if args.command == "autograde":
        summary = autograde(course, args.assignment, jobs=args.jobs, force=args.force, students=args.student,
                            grader=args.grader, seed=args.seed, sandbox_kernel=not args.no_sandbox_kernel,
                            progress=not args.no_progress, cell_timeout=args.cell_timeout,
                            fast_notebook=args.fast_notebook, notebook_time_limit=args.notebook_time_limit)
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
    elif args.command == "collect":  # autograder.collect: safe extraction, ids from LMS names only
        from autograder import collect as collect_mod

        return collect_mod.collect(args.zip, course, args.assignment)
    elif args.command == "demo":
        demo(course, args.assignment, jobs=args.jobs, force=args.force, cell_timeout=args.cell_timeout,
             fast_notebook=not args.full_notebook, notebook_time_limit=args.notebook_time_limit)
    return 0


if __name__ == "__main__":
    sys.exit(main())
