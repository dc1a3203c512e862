"""Run one task of a student submission in a sandboxed child process; read back raw arrays.

What the sandbox guarantees (full isolation = the grader runs as root, as in CI):

* **Only the submission files** (``intro2ai/layers.py``, ``intro2ai/classifiers/cnn.py``) are
  copied, into a private temporary "box", over the *student edition* of the provided package
  (``autograder.release.student_edition`` of the kit's ``intro2ai``). Anything else in the
  submission (a ``numpy.py``, a ``sitecustomize.py``, symlinks) is never copied.
* **Isolated imports**: ``python -I -S`` with ``sys.path`` = box + the NumPy/SciPy
  site-packages + the standard library; the kit's editable install is invisible.
* **Namespaces**: new mount, PID, network and IPC namespaces. Empty tmpfs mounts hide the kit
  repository (its parent folder too, e.g. ``/work/shared`` data), ``/root``, ``/home`` and
  ``/tmp``; only the box, the Python installation and the site-packages are bound back.
  The network has no interfaces. Processes of other sandboxes are invisible.
* **Unprivileged user**: the student code runs under its own uid (no home, no groups).
* **Limits**: ``RLIMIT_CPU``, ``RLIMIT_AS``, ``RLIMIT_NPROC``, ``RLIMIT_FSIZE``, no core files,
  and a wall clock enforced by a root launcher outside the namespaces that kills the PID
  namespace's init (the kernel then kills every process in it, fork bombs included).
* **Output**: student stdout/stderr go to capped files the grader never parses.

Without root (a TA's laptop) the child still gets the box, ``-I -S``, the clean environment,
rlimits, its own session and the wall clock, and the task record says
``isolation: "partial"`` with the reason.

Why the result channel cannot be forged usefully: the child only streams raw arrays
(``np.save(..., allow_pickle=False)``) of what the student functions *returned*, plus error
descriptions. The student code runs in that same process and could write anything to the
pipe; it gains nothing, because (1) the grader never reads a verdict, points or a pass/fail
flag from the child: it compares every array itself with the reference computed in its own
process on inputs it generated; (2) arrays are loaded with ``allow_pickle=False`` (no code
execution) from a length-prefixed stream parsed strictly; a malformed stream ends the reading
and every case without a complete record earns 0; (3) the only record taken from outside the
student's reach is the first one (isolation level), written before any student code runs; a
child's claims about errors only ever lower its own score. Student stdout/stderr (where forged
"result" lines would usually be printed) is never parsed at all.
"""

from __future__ import annotations

import dataclasses
import io
import itertools
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

KIT_ROOT = Path(__file__).resolve().parent.parent
CHILD_SCRIPT = Path(__file__).resolve().parent / "_sandbox_child.py"
SUBMISSION_FILES = ("intro2ai/layers.py", "intro2ai/classifiers/cnn.py")
MAX_SUBMISSION_FILE_BYTES = 1 << 20
#: "0": behave as without root (partial sandbox); "nons": root without namespaces (what
#: happens where unshare is forbidden, e.g. a default Docker seccomp profile). For tests.
ISOLATION_ENV = "INTRO2AI_SANDBOX_ISOLATION"
#: Extra folders to hide from student code (os.pathsep-separated).
HIDE_ENV = "INTRO2AI_SANDBOX_HIDE"
SANDBOX_GID = 65534  # nogroup
_UID_BASE = 200000   # sandbox uids: _UID_BASE + grader pid * 100 + counter % 100 (unique)
_uid_counter = itertools.count()
_uid_lock = threading.Lock()
WALL_TIMEOUT_EXIT = 124

#: While a naive layer task is graded, the provided fast layers (which compute the same outputs)
#: are replaced by modules whose every function refuses to run, with the message of the rule
#: (intro2ai.grading_rules, whose guard also checks every call): a naive task must be
#: implemented, not forwarded to conv_forward_fast. The modules still import, so a student who
#: merely imports them (e.g. to compare in the notebook) loses nothing. ThreeLayerConvNet keeps
#: the real ones (it is meant to use them).
NAIVE_TASKS = ("hw5_conv_forward", "hw5_conv_backward", "hw5_max_pool_forward",
               "hw5_max_pool_backward")
_FAST_MODULES = ("intro2ai/fast_layers.py", "intro2ai/layer_utils.py", "intro2ai/_im2col_numpy.py")
_FAST_STUB = (
    '"""Not available while a naive layer task is graded (autograder.sandbox.NAIVE_TASKS)."""\n'
    'from intro2ai import grading_rules\n'
    '__getattr__ = grading_rules.refusing_module_getattr("{module}")\n'
)

_package_cache: dict[str, dict[str, bytes]] = {}
_package_lock = threading.Lock()


# -------------------------------------------------------------------------------------------
# The box: student edition of the provided package + the submission files only
# -------------------------------------------------------------------------------------------


def provided_package(kit_root: Path = KIT_ROOT) -> dict[str, bytes]:
    """Student edition of the kit's ``intro2ai`` as {relative path: bytes} (cached)."""
    key = str(kit_root)
    with _package_lock:
        if key in _package_cache:
            return _package_cache[key]
        from autograder import release

        files: dict[str, bytes] = {}
        pkg = kit_root / "intro2ai"
        for src in sorted(pkg.rglob("*")):
            rel = src.relative_to(kit_root).as_posix()
            if "__pycache__" in src.parts or not src.is_file():
                continue
            if src.suffix == ".py":
                text = src.read_text(encoding="utf-8")
                files[rel] = release.student_edition(text, rel).encode("utf-8")
            elif src.suffix == ".so":  # the kit's compiled im2col core (no solution inside)
                files[rel] = src.read_bytes()
        _package_cache[key] = files
        return files


def read_submission(submission_dir: str | os.PathLike) -> tuple[dict[str, bytes], list[str]]:
    """The submission files as bytes, plus notes (missing or refused files).

    Only regular files inside the submission folder are read (a symlink pointing out of it,
    e.g. to the kit's own ``layers.py``, is refused). The folder is never modified.
    """
    root = os.path.realpath(submission_dir)
    files: dict[str, bytes] = {}
    notes: list[str] = []
    for rel in SUBMISSION_FILES:
        path = os.path.join(root, rel)
        real = os.path.realpath(path)
        if not os.path.lexists(path):
            notes.append(f"missing:{rel}")
            continue
        if not real.startswith(root + os.sep) or os.path.islink(path) or not os.path.isfile(real):
            notes.append(f"refused:{rel}")
            continue
        if os.path.getsize(real) > MAX_SUBMISSION_FILE_BYTES:
            notes.append(f"too_large:{rel}")
            continue
        with open(real, "rb") as fh:
            files[rel] = fh.read()
    return files, notes


def own_uid_range() -> range:
    """The sandbox uids this grader process hands out (for "nothing left running" checks)."""
    start = _UID_BASE + os.getpid() * 100
    return range(start, start + 100)


def _sandbox_ids() -> tuple[int | None, int | None, str | None]:
    """(uid, gid, reason-if-partial) for the next child."""
    if os.environ.get(ISOLATION_ENV, "").strip() == "0":
        return None, None, f"{ISOLATION_ENV}=0"
    if os.geteuid() != 0:
        return None, None, "grader not running as root"
    with _uid_lock:
        n = next(_uid_counter)
    return _UID_BASE + os.getpid() * 100 + n % 100, SANDBOX_GID, None


def _hide_list(kit_root: Path) -> list[str]:
    hide = ["/tmp", "/var/tmp", "/dev/shm", "/root", "/home"]
    parent = kit_root.resolve().parent
    if str(parent) != "/":
        hide.append(str(parent))
    hide.append(str(kit_root.resolve()))
    for var in ("INTRO2AI_DATA_DIR", "INTRO2AI_REAL_DATA_DIR"):
        if os.environ.get(var):
            hide.append(os.path.realpath(os.environ[var]))
    hide += [os.path.realpath(p) for p in os.environ.get(HIDE_ENV, "").split(os.pathsep) if p]
    # A non-editable install (pip install .) puts the reference solutions in site-packages.
    for site in _site_dirs():
        hide += [os.path.join(site, n) for n in ("intro2ai", "autograder")
                 if os.path.isdir(os.path.join(site, n))]
    out: list[str] = []
    needed = _site_dirs()
    for path in hide:  # skip paths already below a hidden one (unless bound back: site-packages)
        inside = [h for h in out if path == h or path.startswith(h.rstrip("/") + "/")]
        rebound = any(path.startswith(n.rstrip("/") + "/") for n in needed)
        if not inside or (rebound and path not in out):
            out.append(path)
    return out


def _site_dirs() -> list[str]:
    import scipy

    dirs = []
    for mod in (np, scipy):
        d = os.path.realpath(os.path.dirname(os.path.dirname(mod.__file__)))
        if d not in dirs:
            dirs.append(d)
    return dirs


# -------------------------------------------------------------------------------------------
# Running a task
# -------------------------------------------------------------------------------------------


@dataclasses.dataclass
class CaseResult:
    """What the child reported for one case (untrusted data: arrays and error notes)."""

    arrays: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)
    errors: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    bad: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    names: list[str] | None = None
    done: bool = False


@dataclasses.dataclass
class TaskRun:
    cases: dict[int, CaseResult]
    exit_code: int | None
    timed_out: bool
    isolation: dict[str, Any]
    stream_problem: str | None
    output_bytes: int
    seconds: float
    notes: list[str] = dataclasses.field(default_factory=list)


def load_npy(payload: bytes) -> np.ndarray:
    """``np.load`` of one untrusted .npy payload, after checking that its header's size claim
    matches the bytes present (no pickles, no huge allocation from a forged header)."""
    from numpy.lib import format as npformat

    fp = io.BytesIO(payload)
    version = npformat.read_magic(fp)
    if version == (1, 0):
        shape, _fortran, dtype = npformat.read_array_header_1_0(fp)
    elif version == (2, 0):
        shape, _fortran, dtype = npformat.read_array_header_2_0(fp)
    else:
        raise ValueError(f"unsupported .npy version {version}")
    if dtype.hasobject:
        raise ValueError("object arrays are not accepted")
    count = 1
    for n in shape:
        count *= int(n)
    if count * dtype.itemsize != len(payload) - fp.tell():
        raise ValueError("array size does not match its header")
    return np.load(io.BytesIO(payload), allow_pickle=False)


def parse_stream(buf: bytes, n_cases: int) -> tuple[dict[str, Any], dict[int, CaseResult], str | None]:
    """Strictly parse the child's records. Returns (isolation, cases, problem)."""
    cases = {i: CaseResult() for i in range(n_cases)}
    isolation: dict[str, Any] = {"level": "unknown"}
    pos, first, problem = 0, True, None
    while pos < len(buf):
        if len(buf) - pos < 13 or buf[pos:pos + 1] != b"R":
            problem = "corrupt result stream"
            break
        hlen = int.from_bytes(buf[pos + 1:pos + 5], "big")
        if hlen > 8192 or pos + 5 + hlen + 8 > len(buf):
            problem = "corrupt result stream"
            break
        try:
            header = json.loads(buf[pos + 5:pos + 5 + hlen].decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            problem = "corrupt result stream"
            break
        plen = int.from_bytes(buf[pos + 5 + hlen:pos + 13 + hlen], "big")
        start = pos + 13 + hlen
        if plen > len(buf) - start or not isinstance(header, dict):
            problem = "corrupt result stream"
            break
        payload = buf[start:start + plen]
        pos = start + plen
        kind = header.get("kind")
        if first:
            first = False
            if kind == "isolation":
                isolation = {k: header.get(k) for k in ("level", "hidden", "problem")}
                continue
        case = header.get("case")
        if not isinstance(case, int) or case not in cases:
            continue
        res = cases[case]
        if kind == "diag":  # numerical gradients, sent after the cases (diagnostics only)
            key = header.get("key")
            if isinstance(key, str) and key.startswith("num_") and key not in res.arrays:
                try:
                    res.arrays[key] = load_npy(payload)
                except Exception:  # noqa: BLE001
                    pass
            continue
        if res.done:
            continue  # nothing may be added to a finished case
        if kind == "array":
            key = header.get("key")
            if not isinstance(key, str) or key in res.arrays:
                continue
            try:
                arr = load_npy(payload)
            except Exception:  # noqa: BLE001
                res.bad.append({"key": key, "why": "unreadable array"})
                continue
            res.arrays[key] = arr
        elif kind == "error":
            res.errors.append({k: str(header.get(k, ""))[:400] for k in
                               ("step", "status", "exc_type", "message", "where")})
        elif kind == "bad":
            res.bad.append({k: str(header.get(k, ""))[:200] for k in ("key", "type", "why")})
        elif kind == "names":
            names = header.get("names")
            if isinstance(names, list):
                res.names = [str(n)[:16] for n in names[:16]]
        elif kind == "done":
            res.done = True
    return isolation, cases, problem


def run_task(task: str, cases: list, files: dict[str, bytes], limits: dict[str, Any],
             kit_root: Path = KIT_ROOT) -> TaskRun:
    """Run ``cases`` of ``task`` on ``files`` (submission bytes) in a sandboxed child."""
    t0 = time.monotonic()
    uid, gid, why_partial = _sandbox_ids()
    parent = tempfile.mkdtemp(prefix="intro2ai-grade-")
    # Traversable, not listable: without namespaces the sandbox uid must reach box/ by path.
    os.chmod(parent, 0o711)
    try:
        box = os.path.join(parent, "box")
        os.mkdir(box)
        package = dict(provided_package(kit_root))
        if task in NAIVE_TASKS:
            for rel in list(package):
                if rel in _FAST_MODULES:
                    module = rel[:-3].replace("/", ".")
                    package[rel] = _FAST_STUB.format(module=module).encode()
                elif rel.endswith(".so") and "_im2col" in rel:
                    del package[rel]
        notes: list[str] = []
        files = dict(files)
        if task == "hw5_three_layer_convnet" and "intro2ai/layers.py" in files:
            # The network needs only the provided parts of layers.py: a syntax error in the
            # student's naive layers must not cost this task too (compiled here, never run).
            try:
                compile(files["intro2ai/layers.py"], "layers.py", "exec", dont_inherit=True)
            except (SyntaxError, ValueError) as exc:
                del files["intro2ai/layers.py"]
                notes.append(f"layers_syntax:{type(exc).__name__}: {exc}")
        package.update(files)
        for rel, data in package.items():
            dest = os.path.join(box, rel)
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            with open(dest, "wb") as fh:
                fh.write(data)
        job = {"task": task, "cases": []}
        npz: dict[str, np.ndarray] = {}
        for i, case in enumerate(cases):
            job["cases"].append({"name": case.name, "params": case.params,
                                 "numeric": case.numeric})
            for key, arr in case.arrays.items():
                npz[f"{i}.{key}"] = arr
        with open(os.path.join(box, "job.json"), "w", encoding="utf-8") as fh:
            json.dump(job, fh)
        np.savez(os.path.join(box, "job.npz"), **npz)
        # The box stays root-owned and read-only to the sandbox uid: student code cannot change
        # its inputs or fill the disk through it (with namespaces it may write to a 16 MB /tmp).
        os.chmod(box, 0o755)

        r, w = os.pipe()
        cfg = {
            "result_fd": w, "box": box, "uid": uid, "gid": gid, "why_partial": why_partial,
            "limits": limits, "site": _site_dirs(), "student_files": list(SUBMISSION_FILES),
            "needed": [box, os.path.realpath(sys.base_prefix), *_site_dirs()],
            "hide": _hide_list(kit_root),
            "no_namespaces": os.environ.get(ISOLATION_ENV, "").strip() == "nons",
        }
        out_path = os.path.join(parent, "output")
        with open(out_path, "wb") as out_fh:
            proc = subprocess.Popen(
                [sys.executable, "-I", "-S", str(CHILD_SCRIPT), json.dumps(cfg)],
                stdin=subprocess.DEVNULL, stdout=out_fh, stderr=out_fh, pass_fds=(w,),
                cwd=box, env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
                start_new_session=True,
            )
        os.close(w)
        buf, overflow = _read_stream(r, proc, float(limits["wall_seconds"]) + 5.0,
                                     int(limits["result_mb"]) << 20)
        os.close(r)
        try:
            code = proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            code = None
        _kill_group(proc.pid)
        if code is None:
            code = proc.wait()
        isolation, results, problem = parse_stream(bytes(buf), len(cases))
        if overflow:
            problem = "result stream larger than limits.result_mb"
        if why_partial and isolation.get("level") == "unknown":
            isolation = {"level": "partial", "problem": why_partial}
        return TaskRun(results, code, code == WALL_TIMEOUT_EXIT, isolation, problem,
                       os.path.getsize(out_path), time.monotonic() - t0, notes)
    finally:
        shutil.rmtree(parent, ignore_errors=True)


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _read_stream(fd: int, proc: subprocess.Popen, timeout: float, cap: int) -> tuple[bytearray, bool]:
    """Read the result pipe until EOF, ``timeout`` seconds, or ``cap`` bytes."""
    buf = bytearray()
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            _kill_group(proc.pid)
            return buf, False
        ready, _, _ = select.select([fd], [], [], min(left, 0.5))
        if not ready:
            continue
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            return buf, False
        buf += chunk
        if len(buf) > cap:
            _kill_group(proc.pid)
            return buf, True
