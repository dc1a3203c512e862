"""Run one task of a student submission in the sandbox; read back raw arrays.

Each task runs in its own ``autograder.jail`` sandbox (bubblewrap; see that module for what it
isolates and how):

* **The box**: only the submission files (``intro2ai/layers.py``,
  ``intro2ai/classifiers/cnn.py``) over the *student edition* of the provided package
  (``autograder.release.student_edition`` of the kit's ``intro2ai``), plus the job (case
  inputs): bound read-only at ``/box``. Anything else in the submission (a ``numpy.py``, a
  ``sitecustomize.py``, symlinks) is never copied.
* **What else is visible**: the interpreter, NumPy and SciPy (``jail.python_binds``), the
  three programs of the sandbox side (``_relay.py``, ``_sandbox_child.py``, ``_seccomp.py``)
  at ``/grader``, the system's shared libraries, a 16 MB private ``/tmp``. Never the kit, its
  instructor edition, ``autograder/``, the seed, the gradebook or another submission.
* ``python -I -S`` with ``sys.path`` = box + site-packages + standard library; a clean
  environment; uid 65534; no network; own PID namespace; rlimits (``[limits]`` of the rubric);
  memory and pids cgroups where they can be made, else the no-fork seccomp filter for the
  student's process; a wall clock after which the whole sandbox is killed.
* **The result channel**: a trusted relay (``autograder/_relay.py``) holds the pipe to this
  process and runs the student code in a child; it forwards only validated records (known keys,
  numeric ``.npy`` arrays under a size cap, capped errors, no second record for a key: that
  marks the case tampered). The stream is parsed again here, as strictly.
* **Output**: student stdout/stderr go to capped files that are never parsed.

Where ``jail.level()`` is "none" (no user namespaces, no bwrap) grading refuses
(``jail.Unavailable``) unless the instructor allowed it (``allow_unsandboxed`` /
``INTRO2AI_ALLOW_UNSANDBOXED=1``); the task record then says ``isolation: "none"``.

Why the channel cannot be forged usefully: the grader never reads a verdict, points or a
pass/fail flag from the sandbox; it compares every array itself with the reference computed in
its own process on inputs it generated. Arrays are loaded with ``allow_pickle=False`` after a
size check. What student code can still do is report other arrays than its functions returned
(its own work, in effect) or lower its own score.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import select
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from autograder import jail, results
from autograder import tasks as tasks_mod

KIT_ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
#: The files students hand in: the task table's files, in rubric order.
SUBMISSION_FILES = tuple(dict.fromkeys(t.file for t in tasks_mod.all_tasks()))
MAX_SUBMISSION_FILE_BYTES = 1 << 20
#: The sandbox-side programs, bound read-only at GRADER_DIR (stdlib + NumPy only).
PROGRAMS = ("_relay.py", "_sandbox_child.py", "_seccomp.py")
GRADER_DIR = "/grader"
BOX = "/box"
PACKAGES = ("numpy", "scipy")  # site-packages the student code may import
#: A naive task sees NumPy only: SciPy is not bound at all, and stand-ins of the two SciPy
#: modules the rule names (scipy.signal, scipy.ndimage) import as in `make check` but refuse
#: every call with the rule's message, so the rule holds even against code that defeats the
#: in-process guard of intro2ai.grading_rules.
NAIVE_PACKAGES = ("numpy",)
_SCIPY_STUBS = {
    "scipy/__init__.py": (
        '"""Not available while a naive layer task is graded (autograder.sandbox.NAIVE_TASKS)."""\n'
        "import importlib\n"
        "from intro2ai import grading_rules\n"
        '_refuse = grading_rules.refusing_module_getattr("scipy")\n'
        "def __getattr__(name):\n"
        '    if name in ("signal", "ndimage"):\n'
        '        return importlib.import_module("scipy." + name)\n'
        "    return _refuse(name)\n"
    ),
}
TREE_MEMORY_EXTRA_MB = 256  # memory cgroup: the relay beside the student's process

#: While a naive layer task is graded, the provided fast layers (which compute the same outputs)
#: are replaced by modules whose every function refuses to run, with the message of the rule
#: (intro2ai.grading_rules, whose guard also checks every call): a naive task must be
#: implemented, not forwarded to conv_forward_fast. The modules still import, so a student who
#: merely imports them (e.g. to compare in the notebook) loses nothing. ThreeLayerConvNet keeps
#: the real ones (it is meant to use them).
NAIVE_TASKS = tuple(t.id for t in tasks_mod.all_tasks() if t.naive)
_FAST_MODULES = (
    "intro2ai/fast_layers.py",
    "intro2ai/layer_utils.py",
    "intro2ai/_im2col_numpy.py",
    "intro2ai/_fast_plan.py",
    "intro2ai/_fast_layouts.py",
)
_FAST_STUB = (
    '"""Not available while a naive layer task is graded (autograder.sandbox.NAIVE_TASKS)."""\n'
    "from intro2ai import grading_rules\n"
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


def read_submission(
    submission_dir: str | os.PathLike,
) -> tuple[dict[str, bytes], list[results.FileNote]]:
    """The submission files as bytes, plus a note for each file that is missing or refused.

    Only regular files inside the submission folder are read (a symlink pointing out of it,
    e.g. to the kit's own ``layers.py``, is refused). The folder is never modified.
    """
    root = os.path.realpath(submission_dir)
    files: dict[str, bytes] = {}
    notes: list[results.FileNote] = []
    for rel in SUBMISSION_FILES:
        path = os.path.join(root, rel)
        real = os.path.realpath(path)
        if not os.path.lexists(path):
            notes.append(results.FileNote(results.FileProblem.MISSING, rel))
            continue
        if not real.startswith(root + os.sep) or os.path.islink(path) or not os.path.isfile(real):
            notes.append(results.FileNote(results.FileProblem.REFUSED, rel))
            continue
        if os.path.getsize(real) > MAX_SUBMISSION_FILE_BYTES:
            notes.append(results.FileNote(results.FileProblem.TOO_LARGE, rel))
            continue
        with open(real, "rb") as fh:
            files[rel] = fh.read()
    return files, notes


def own_uid_range() -> range:
    """Deprecated: sandboxes no longer get uids of their own (see ``leftover_processes``)."""
    return range(0)


def leftover_processes() -> list[int]:
    """Pids of processes still in a sandbox of this grader process (should be none).

    Found by the sandboxes' cgroups where there are some, else by the relay's command line.
    """
    tag = f"intro2ai-jail-{os.getpid()}-"
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cgroup") as fh:
                cg = fh.read()
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                cmd = fh.read()
            with open(f"/proc/{entry}/stat") as fh:
                state = fh.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z" and (
            tag in cg
            or (
                f"{GRADER_DIR}/_relay.py".encode() in cmd
                and f'"grader_pid": {os.getpid()},'.encode() in cmd
            )
        ):
            out.append(int(entry))
    return out


# -------------------------------------------------------------------------------------------
# Running a task
# -------------------------------------------------------------------------------------------


@dataclasses.dataclass
class CaseResult:
    """What the sandbox reported for one case (untrusted data: arrays and error notes)."""

    arrays: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)
    errors: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    bad: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    names: list[str] | None = None
    done: bool = False
    #: Why the case's results cannot be trusted (a second record for a key, ...), or None.
    tampered: str | None = None


@dataclasses.dataclass
class TaskRun:
    cases: dict[int, CaseResult]
    exit_code: int | None
    timed_out: bool
    isolation: dict[str, Any]
    stream_problem: str | None
    output_bytes: int
    seconds: float
    #: The student's layers.py did not compile and the network task ran without it (the error).
    layers_syntax_error: str | None = None


MAX_ERRORS_PER_CASE = 8
MAX_RECORD_HEADER = 4096


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
    if dtype.hasobject or dtype.fields is not None:
        raise ValueError("object or structured arrays are not accepted")
    count = 1
    for n in shape:
        count *= int(n)
    if count * dtype.itemsize != len(payload) - fp.tell():
        raise ValueError("array size does not match its header")
    return np.load(io.BytesIO(payload), allow_pickle=False)


class _Corrupt(Exception):
    pass


class SandboxFailed(RuntimeError):
    """The sandbox did not start (a grader-side failure: the task needs a person)."""


_HELLO = b'{"kind": "hello"}'


def started(buf: bytes) -> bool:
    """Does the stream open with the relay's ``hello`` (sent before any student code)?"""
    head = b"R" + len(_HELLO).to_bytes(4, "big") + _HELLO + (0).to_bytes(8, "big")
    return bytes(buf[: len(head)]) == head


def parse_stream(buf: bytes, n_cases: int) -> tuple[dict[int, CaseResult], str | None, int | None]:
    """Strictly parse the relay's records. Returns (cases, problem, worker exit code).

    (``started(buf)`` tells whether the relay's ``hello`` record opens the stream.)

    Parsing stops at the first malformed record (problem set; cases without ``done`` earn 0).
    A second record for a (case, key), an array after ``done`` or a second ``done`` marks the
    case tampered. Never raises.
    """
    cases = {i: CaseResult() for i in range(n_cases)}
    problem, exit_code, pos = None, None, 0
    try:
        while pos < len(buf):
            if len(buf) - pos < 13 or buf[pos : pos + 1] != b"R":
                raise _Corrupt
            hlen = int.from_bytes(buf[pos + 1 : pos + 5], "big")
            if hlen > MAX_RECORD_HEADER or pos + 13 + hlen > len(buf):
                raise _Corrupt
            header = json.loads(buf[pos + 5 : pos + 5 + hlen].decode("utf-8"))
            plen = int.from_bytes(buf[pos + 5 + hlen : pos + 13 + hlen], "big")
            start = pos + 13 + hlen
            if plen > len(buf) - start or not isinstance(header, dict):
                raise _Corrupt
            payload = buf[start : start + plen]
            pos = start + plen
            kind = header.get("kind")
            if kind == "hello":
                continue
            if kind == "exit":
                code = header.get("code")
                exit_code = code if isinstance(code, int) and not isinstance(code, bool) else None
                continue
            if kind == "stream":
                problem = str(header.get("problem", "corrupt result stream"))[:200]
                continue
            case = header.get("case")
            if not isinstance(case, int) or isinstance(case, bool) or case not in cases:
                raise _Corrupt
            res = cases[case]
            if kind == "tampered":
                res.tampered = res.tampered or str(header.get("why", ""))[:200] or "tampered"
            elif kind in ("array", "diag"):
                key = header.get("key")
                if not isinstance(key, str) or len(key) > 64:
                    raise _Corrupt
                if kind == "diag" and not key.startswith("num_"):
                    continue  # diagnostics are numerical gradients only
                if key in res.arrays:
                    res.tampered = res.tampered or f"second record for {key}"
                elif res.done and kind == "array":
                    res.tampered = res.tampered or f"{key} after the case ended"
                else:
                    try:
                        res.arrays[key] = load_npy(payload)
                    except Exception:  # noqa: BLE001  (the relay checked it; a bad one is odd)
                        res.bad.append({"key": key, "type": "?", "why": "unreadable array"})
            elif kind == "error":
                if len(res.errors) < MAX_ERRORS_PER_CASE:
                    res.errors.append(
                        {
                            k: str(header.get(k, ""))[:400]
                            for k in ("step", "status", "exc_type", "message", "where")
                        }
                    )
            elif kind == "bad":
                if len(res.bad) < MAX_ERRORS_PER_CASE:
                    res.bad.append(
                        {k: str(header.get(k, ""))[:200] for k in ("key", "type", "why")}
                    )
            elif kind == "names":
                names = header.get("names")
                if res.names is not None:
                    res.tampered = res.tampered or "second names record"
                elif isinstance(names, list):
                    res.names = [str(n)[:16] for n in names[:16]]
            elif kind == "done":
                if res.done:
                    res.tampered = res.tampered or "second done"
                res.done = True
            else:
                raise _Corrupt
    except Exception:  # noqa: BLE001  (RecursionError, UnicodeDecodeError, ...: fail closed)
        problem = problem or "corrupt result stream"
    return cases, problem, exit_code


def _policy(box: str, limits: dict[str, Any], packages: tuple[str, ...] = PACKAGES) -> jail.Policy:
    mem = int(limits["memory_mb"])
    return jail.Policy(
        ro_binds=[(box, BOX)] + [(str(HERE / f), f"{GRADER_DIR}/{f}") for f in PROGRAMS],
        env={
            "HOME": "/tmp",
            "OPENBLAS_NUM_THREADS": "1",
            "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
        },
        cwd=BOX,
        limits=jail.Limits(
            cpu_seconds=int(limits["cpu_seconds"]),
            memory_mb=mem,
            tree_memory_mb=mem + TREE_MEMORY_EXTRA_MB,
            processes=int(limits["processes"]) + 4,  # + bwrap, relay, worker
            file_mb=int(limits["file_mb"]),
            open_files=64,
        ),
        packages=packages,
        tmp_mb=16,
    )


def run_task(
    task: str,
    cases: list,
    files: dict[str, bytes],
    limits: dict[str, Any],
    kit_root: Path = KIT_ROOT,
    *,
    allow_unsandboxed: bool | None = None,
) -> TaskRun:
    """Run ``cases`` of ``task`` on ``files`` (submission bytes) in a sandbox.

    Raises ``jail.Unavailable`` where no sandbox can be had and running without one was not
    allowed.
    """
    t0 = time.monotonic()
    spec = tasks_mod.get(task)
    level, why = jail.level()
    if level != "full" and not jail.allowed_unsandboxed(allow_unsandboxed):
        raise jail.Unavailable(
            f"no sandbox for student code here ({why}); pass "
            f"--allow-unsandboxed or set {jail.ALLOW_UNSANDBOXED_ENV}=1 to "
            f"grade without one"
        )
    parent = tempfile.mkdtemp(prefix="intro2ai-grade-")
    os.chmod(parent, 0o755)  # a root grader's bwrap may run as uid 65534
    try:
        box = os.path.join(parent, "box")
        os.mkdir(box)
        package = dict(provided_package(kit_root))
        if spec.naive:
            for rel in list(package):
                if rel in _FAST_MODULES:
                    module = rel[:-3].replace("/", ".")
                    package[rel] = _FAST_STUB.format(module=module).encode()
                elif rel.endswith(".so") and "_im2col" in rel:
                    del package[rel]
            package.update({rel: text.encode() for rel, text in _SCIPY_STUBS.items()})
            for module in ("scipy.signal", "scipy.ndimage", "intro2ai._im2col_cython"):
                package[module.replace(".", "/") + ".py"] = _FAST_STUB.format(
                    module=module
                ).encode()
        layers_syntax_error = None
        files = dict(files)
        if spec.kind == "model" and "intro2ai/layers.py" in files:
            # The network needs only the provided parts of layers.py: a syntax error in the
            # student's naive layers must not cost this task too (compiled here, never run).
            try:
                compile(files["intro2ai/layers.py"], "layers.py", "exec", dont_inherit=True)
            except (SyntaxError, ValueError) as exc:
                del files["intro2ai/layers.py"]
                layers_syntax_error = f"{type(exc).__name__}: {exc}"
        package.update(files)
        for rel, data in package.items():
            dest = os.path.join(box, rel)
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            with open(dest, "wb") as fh:
                fh.write(data)
        # What the sandbox side runs and accepts comes from here (the table), never from the box.
        job = {"task": task, "spec": spec.spec(), "cases": []}
        npz: dict[str, np.ndarray] = {}
        for i, case in enumerate(cases):
            job["cases"].append({"name": case.name, "params": case.params, "numeric": case.numeric})
            for key, arr in case.arrays.items():
                npz[f"{i}.{key}"] = arr
        with open(os.path.join(box, "job.json"), "w", encoding="utf-8") as fh:
            json.dump(job, fh)
        np.savez(os.path.join(box, "job.npz"), **npz)
        for dirpath, _dirnames, filenames in os.walk(box):
            os.chmod(dirpath, 0o755)
            for name in filenames:
                os.chmod(os.path.join(dirpath, name), 0o644)

        policy = _policy(box, limits, NAIVE_PACKAGES if spec.naive else PACKAGES)
        jailed = level == "full"
        at = (lambda p: p) if jailed else policy.host_path  # noqa: E731
        r, w = os.pipe()
        cfg = {
            "grader_pid": os.getpid(),
            "result_fd": w,
            "box": at(BOX),
            "site": at(jail.SITE_INSIDE),
            "programs": os.path.dirname(at(f"{GRADER_DIR}/_relay.py")),
            "limits": {k: limits[k] for k in ("output_kb", "result_mb")},
            "student_files": list(SUBMISSION_FILES),
            "no_fork": not jail.can_limit_processes(),
        }
        out_path = os.path.join(parent, "output")
        try:
            with open(out_path, "wb") as out_fh:
                proc = jail.start(
                    [jail.PYTHON_INSIDE, "-I", "-S", f"{GRADER_DIR}/_relay.py", json.dumps(cfg)],
                    policy,
                    stdout=out_fh,
                    stderr=out_fh,
                    pass_fds=(w,),
                    allow_unsandboxed=allow_unsandboxed,
                )
        finally:
            os.close(w)
        code = None
        try:
            buf, overflow, timed_out = _read_stream(
                r, float(limits["wall_seconds"]), int(limits["result_mb"]) << 20
            )
            if overflow or timed_out:
                proc.kill()
            try:
                code = proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
        finally:
            os.close(r)
            proc.close()
        if not started(buf):
            with open(out_path, "rb") as fh:
                tail = fh.read()[-600:].decode("utf-8", "replace").strip()
            raise SandboxFailed(
                f"the sandbox of {task} did not start"
                + (" in time" if timed_out else f" (exit code {code})")
                + (f": {tail}" if tail else "")
            )
        results, problem, worker_code = parse_stream(bytes(buf), len(cases))
        if overflow:
            problem = "result stream larger than limits.result_mb"
        if worker_code is not None:
            code = worker_code
        if problem:
            code = None  # the relay killed the worker for a bad record: not a CPU limit
        isolation = {"level": proc.isolation, "reason": why}
        return TaskRun(
            results,
            None if timed_out else code,
            timed_out,
            isolation,
            problem,
            os.path.getsize(out_path),
            time.monotonic() - t0,
            layers_syntax_error,
        )
    finally:
        shutil.rmtree(parent, ignore_errors=True)


def _read_stream(fd: int, timeout: float, cap: int) -> tuple[bytearray, bool, bool]:
    """Read the result pipe until EOF, ``timeout`` seconds, or ``cap`` bytes.

    Returns (bytes, over the cap, timed out).
    """
    buf = bytearray()
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return buf, False, True
        ready, _, _ = select.select([fd], [], [], min(left, 0.5))
        if not ready:
            continue
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            return buf, False, False
        buf += chunk
        if len(buf) > cap:
            return buf, True, False


# -------------------------------------------------------------------------------------------
# What a task child sees (for `python -m autograder doctor` and the tests)
# -------------------------------------------------------------------------------------------

_WALK = r"""
import json, os, sys
seen = []
for root, dirs, files in os.walk("/"):
    if root == "/":
        dirs[:] = [d for d in dirs if d not in ("proc", "sys", "dev")]
    for n in dirs + files:
        seen.append(os.path.join(root, n))
sys.stdout.write(json.dumps({"uid": os.getuid(), "paths": seen}))
"""


def visible_tree(limits: dict[str, Any] | None = None, kit_root: Path = KIT_ROOT) -> dict[str, Any]:
    """Walk the whole file tree from inside a task child's sandbox (``/proc``, ``/sys``,
    ``/dev`` skipped); returns ``{"level", "reason", "uid", "paths"}``."""
    from autograder import grader

    lim = dict(grader.load_rubric()["limits"])
    lim.update(limits or {})
    level, why = jail.level()
    if level != "full":
        return {"level": level, "reason": why, "uid": None, "paths": []}
    parent = tempfile.mkdtemp(prefix="intro2ai-doctor-")
    os.chmod(parent, 0o755)
    try:
        box = os.path.join(parent, "box")
        for rel, data in provided_package(kit_root).items():
            dest = os.path.join(box, rel)
            os.makedirs(os.path.dirname(dest), mode=0o755, exist_ok=True)
            with open(dest, "wb") as fh:
                fh.write(data)
            os.chmod(dest, 0o644)
        os.chmod(box, 0o755)
        res = jail.run(
            [jail.PYTHON_INSIDE, "-I", "-S", "-c", _WALK], _policy(box, lim), timeout=120
        )
        if res.returncode != 0:
            raise RuntimeError(
                "the walk inside the sandbox failed: "
                + res.stderr.decode("utf-8", "replace")[-500:]
            )
        out = json.loads(res.stdout)
        return {"level": level, "reason": why, "uid": out["uid"], "paths": out["paths"]}
    finally:
        shutil.rmtree(parent, ignore_errors=True)
