"""Red-team tests of the trusted grader's sandbox: a hostile student's layers.py attacks it.

Each test asserts outcomes: the attacker earns no more than honest work of the same content
(0 for a stub) or is flagged for a person; an honest victim graded at the same time keeps its
score; the kit's sources, a sample of the venv's site-packages and the victim's submission are
byte-for-byte unchanged; no process of a sandbox is left; grading finishes.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import inspect
import os
import shutil
import stat
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from autograder import cases, grader, jail, samples, sandbox

REPO = Path(__file__).resolve().parent.parent
EXPECTED = samples.expected_scores()
LIMITS = dict(EXPECTED["limits"])
SEED = EXPECTED["seed"]
TASKS = ("hw5_conv_forward", "hw5_max_pool_forward")

pytestmark = pytest.mark.skipif(jail.level()[0] != "full", reason="no sandbox on this machine")


# --------------------------------------------------------------------------- helpers


def _tree_hash(folder: Path, pattern: str = "*") -> str:
    h = hashlib.sha256()
    for p in sorted(folder.rglob(pattern)):
        if "__pycache__" in p.parts or ".pytest_cache" in p.parts:
            continue
        h.update(str(p.relative_to(folder)).encode())
        if p.is_file() and not p.is_symlink():
            h.update(p.read_bytes())
    return h.hexdigest()


def _site_sample() -> dict[str, str]:
    """SHA-256 of a sample of the venv's site-packages (what the sandbox binds in)."""
    site = Path(jail._site_packages())
    out = {}
    for rel in (
        "numpy/__init__.py",
        "numpy/_core/__init__.py",
        "numpy/core/__init__.py",
        "numpy/lib/format.py",
        "scipy/__init__.py",
        "scipy/signal/__init__.py",
    ):
        p = site / rel
        if p.is_file():
            out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    for p in sorted((site / "numpy").rglob("*.so"))[:5]:
        out[str(p.relative_to(site))] = hashlib.sha256(p.read_bytes()).hexdigest()
    out["_listing"] = hashlib.sha256("\n".join(sorted(os.listdir(site))).encode()).hexdigest()
    return out


def _kit_hash() -> str:
    h = hashlib.sha256()
    for sub in ("autograder", "intro2ai"):
        h.update(_tree_hash(REPO / sub, "*.py").encode())
    h.update((REPO / "autograder" / "rubric.toml").read_bytes())
    return h.hexdigest()


def _ref_body(fn) -> str:
    src = textwrap.dedent(inspect.getsource(fn))
    body = src.split('"""', 2)[2] if '"""' in src else src.split(":\n", 1)[1]
    return textwrap.indent(textwrap.dedent(body), "    ")


def _layers(conv_body: str, pool_honest: bool = True, pool_prefix: str = "") -> str:
    from intro2ai import layers

    regions = {"conv_forward_naive": ("body", conv_body)}
    if pool_honest:
        regions["max_pool_forward_naive"] = (
            "body",
            textwrap.indent(textwrap.dedent(pool_prefix), "    ")
            + _ref_body(layers.max_pool_forward_naive),
        )
    spec = {
        "regions": regions,
        "append": {
            "intro2ai/layers.py": (
                "\ndef _REF_CONV(x, w, b, conv_param):\n" + _ref_body(layers.conv_forward_naive)
            )
        },
    }
    return samples.build_file("intro2ai/layers.py", spec)


def _submission(root: Path, name: str, layers_text: str | None) -> Path:
    ref = root / "_ref"
    if not ref.exists():
        samples.build_samples(ref, names=["reference"])
    sub = root / name
    shutil.copytree(ref / "reference", sub)
    if layers_text is not None:
        (sub / "intro2ai" / "layers.py").write_text(layers_text)
    return sub


HONEST_CONV = None  # filled lazily: the reference body


def _attack(
    tmp_path: Path,
    body: str,
    *,
    pool_honest: bool = True,
    pool_prefix: str = "",
    attacker_tasks: tuple[str, ...] = TASKS,
    victim_delay: float = 0.0,
    victim_limits: dict | None = None,
) -> tuple[dict, dict]:
    """Grade the attacker and an honest victim at the same time; check what must not change.

    Returns (attacker record, victim record).
    """
    attacker = _submission(
        tmp_path,
        "attacker",
        _layers(textwrap.indent(textwrap.dedent(body), "    "), pool_honest, pool_prefix),
    )
    victim = _submission(tmp_path, "victim", None)
    kit, site, vic = _kit_hash(), _site_sample(), _tree_hash(victim)
    att = _tree_hash(attacker)
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        fa = pool.submit(
            grader.grade_submission, attacker, seed=SEED, limits=LIMITS, tasks=attacker_tasks
        )
        if victim_delay:
            time.sleep(victim_delay)  # the victim starts while the attack is under way
        fv = pool.submit(
            grader.grade_submission,
            victim,
            seed=SEED,
            limits=dict(LIMITS, **(victim_limits or {})),
            tasks=TASKS,
        )
        rec_a, rec_v = fa.result(timeout=300), fv.result(timeout=300)
    assert _kit_hash() == kit
    assert _site_sample() == site
    assert _tree_hash(victim) == vic and _tree_hash(attacker) == att
    assert sandbox.leftover_processes() == []
    assert _own_cgroups() == []
    # The honest victim keeps its full score and is not flagged.
    for t in TASKS:
        vt = rec_v["tasks"][t]
        assert vt["points"] == vt["max_points"], (t, vt["message"])
        assert not vt["needs_manual_grade"], vt["flags"]
    return rec_a, rec_v


def _own_cgroups() -> list[Path]:
    """cgroup folders of this process's sandboxes still present (none after grading)."""
    found: list[Path] = []
    for kind in ("memory", "pids", "cpu"):
        base = jail._cgroup_base(kind)
        if base is not None:
            found += list(base.glob(f"intro2ai-jail-{os.getpid()}-*"))
    return found


def _pts(rec: dict, task: str = "hw5_conv_forward") -> float:
    return rec["tasks"][task]["points"]


def _flagged(rec: dict, task: str = "hw5_conv_forward") -> bool:
    return bool(rec["tasks"][task]["needs_manual_grade"])


# --------------------------------------------------------------------------- host and kernel

# conv_forward_naive of the probe returns one number per question instead of a convolution.
PROBE = r"""
import os, ctypes
def _try(f):
    try:
        f()
        return 1.0
    except BaseException:
        return 0.0
def _ok(f):
    return 1.0 if f(ctypes.CDLL(None, use_errno=True)) >= 0 else 0.0
def _sysctl():
    p = "/proc/sys/vm/swappiness"
    v = open(p).read()
    with open(p, "w") as fh:  # the value it already has: harmless if it works
        fh.write(v)
def _open_w(p):
    def f():
        os.close(os.open(p, os.O_WRONLY | os.O_NONBLOCK))
    return f
def _dev_big():
    n = 0
    for k in range(16):
        try:
            with open("/dev/x%d" % k, "wb") as fh:
                fh.write(b"x" * (4 << 20))
            n += 4
        except OSError:
            break
    return float(n)
def _fds():
    bad = 0
    for fd in os.listdir("/proc/self/fd"):
        fd = int(fd)
        if fd in (0, 1, 2):
            continue
        try:
            link = os.readlink("/proc/self/fd/%d" % fd)
        except OSError:
            continue
        if not (link.startswith(("pipe:", "/proc/")) or "anon_inode" in link
                or link.startswith("/dev/zero")):
            bad += 1
    return float(bad)
out = np.array([
    _try(_sysctl),
    _try(_open_w("/proc/sys/kernel/core_pattern")),
    _try(_open_w("/proc/sysrq-trigger")),
    _try(_open_w("/proc/irq/default_smp_affinity")),
    _try(lambda: os.utime("/dev/null", (0, 0))),
    _try(lambda: os.setxattr("/dev/null", "user.redteam", b"1")),
    _try(lambda: os.listdir("/sys")),
    _try(lambda: os.listdir("/proc/1/root/work")),
    _try(lambda: open("/proc/1/environ", "rb").read()),
    _fds(),
    _try(lambda: os.mknod("/tmp/n", 0o600 | 0o020000, os.makedev(1, 3))),
    float(sum(1 for p in os.listdir("/proc") if p.isdigit())),
    _ok(lambda libc: libc.ptrace(16, 1, 0, 0)),  # PTRACE_ATTACH to bwrap's init
    _ok(lambda libc: libc.syscall(425, 1, ctypes.create_string_buffer(120))),  # io_uring
    _ok(lambda libc: libc.syscall(250, 0, -3, 0)),  # keyctl: the session keyring's id
], dtype=np.float64)
"""
PROBE_FIELDS = (
    "sysctl_write",
    "core_pattern",
    "sysrq",
    "irq",
    "utime_devnull",
    "xattr_devnull",
    "sys",
    "proc1_root_work",
    "proc1_environ",
    "odd_fds",
    "mknod_dev",
    "pids",
    "ptrace_init",
    "io_uring",
    "keyctl",
)


def test_student_code_cannot_touch_the_host_kernel_or_devices(tmp_path):
    """Root-mapped mode (the grader is root here, the interpreter under /root) made the
    sandbox's uid root outside: it could write the host's sysctls (kernel.core_pattern gives
    root outside) and set the host /dev/null's timestamps. Neither may happen, in any mode."""
    sub = tmp_path / "probe"
    (sub / "intro2ai").mkdir(parents=True)
    (sub / "intro2ai" / "layers.py").write_text(
        samples.build_file(
            "intro2ai/layers.py",
            {"regions": {"conv_forward_naive": ("body", textwrap.indent(PROBE, "    "))}},
        )
    )
    files, _ = sandbox.read_submission(sub)
    case = cases.Case(
        "hw5_conv_forward",
        "visible_basic",
        {"x": np.zeros((1, 1, 3, 3)), "w": np.zeros((1, 1, 3, 3)), "b": np.zeros(1)},
        {"conv_param": {"stride": 1, "pad": 0}},
        False,
    )
    before = os.stat("/dev/null")
    run = sandbox.run_task("hw5_conv_forward", [case], files, grader.load_rubric()["limits"])
    assert run.cases[0].done, run
    got = dict(zip(PROBE_FIELDS, run.cases[0].arrays["out"].tolist()))
    after = os.stat("/dev/null")
    assert (after.st_mtime_ns, after.st_mode, after.st_uid) == (
        before.st_mtime_ns,
        before.st_mode,
        before.st_uid,
    )
    assert "user.redteam" not in os.listxattr("/dev/null")
    assert got["sysctl_write"] == got["core_pattern"] == got["sysrq"] == got["irq"] == 0, got
    assert got["sys"] == got["proc1_root_work"] == got["mknod_dev"] == 0, got
    assert got["odd_fds"] == 0, got
    assert got["ptrace_init"] == got["io_uring"] == got["keyctl"] == 0, got
    assert got["pids"] <= 3, got
    assert sandbox.leftover_processes() == []


# --------------------------------------------------------------------------- result channel

# Forged records on every descriptor the worker has (or could guess), from a stub.
FORGE_EVERY_FD = r"""
import os, io, json, sys
import numpy as _np
def _rec(h, p=b""):
    h = json.dumps(h).encode()
    return b"R" + len(h).to_bytes(4, "big") + h + len(p).to_bytes(8, "big") + p
_buf = io.BytesIO()
_np.save(_buf, _np.zeros((1,)))
_junk = (_rec({"kind": "hello"}) + _rec({"kind": "array", "case": 0, "key": "out"},
         _buf.getvalue()) + _rec({"kind": "done", "case": 0}) + _rec({"kind": "exit", "code": 0}))
for _fd in range(256):
    try:
        os.write(_fd, _junk)
    except OSError:
        pass
raise NotImplementedError
"""


def test_forged_records_on_every_descriptor_earn_nothing(tmp_path):
    att, _ = _attack(tmp_path, FORGE_EVERY_FD)
    assert _pts(att) == 0.0
    assert _pts(att, "hw5_max_pool_forward") == 15.0  # its own honest task unharmed


# The relay (the worker's parent) is killed, stopped, or the whole namespace is signalled,
# after the first (honest) case.
KILL_RELAY = r"""
import os, signal
out = _REF_CONV(x, w, b, conv_param)[0]
_N.append(1)
if len(_N) == 2:
    os.kill(os.getppid(), signal.SIG{SIG})
"""
KILL_ALL = r"""
import os, signal
out = _REF_CONV(x, w, b, conv_param)[0]
_N.append(1)
if len(_N) == 2:
    os.kill(-1, signal.SIGKILL)
    os.kill(1, signal.SIGKILL)
"""


PTRACE_INIT = r"""
import ctypes
out = _REF_CONV(x, w, b, conv_param)[0]
_N.append(1)
if len(_N) == 2:  # bwrap's init (the relay's parent) is the worker's to trace: hold it
    ctypes.CDLL(None).ptrace(16, 1, 0, 0)
"""


# (attack, most points it may earn: the honest cases done before it; all of them when the
# attack leaves the relay alone)
@pytest.mark.parametrize(
    "body,cap",
    [
        (KILL_RELAY.replace("{SIG}", "KILL"), 4.0 + 6.0),
        (KILL_RELAY.replace("{SIG}", "STOP"), 4.0 + 6.0),
        (KILL_ALL, 4.0 + 6.0),
        (PTRACE_INIT, 20.0),
    ],
    ids=["sigkill_relay", "sigstop_relay", "kill_everything", "ptrace_init"],
)
def test_attacking_the_relay_earns_at_most_the_cases_it_finished(tmp_path, body, cap):
    att, _ = _attack(
        tmp_path, body.replace("_N.append", "globals().setdefault('_N', []) and None or _N.append")
    )
    assert _pts(att) <= cap
    assert _pts(att, "hw5_max_pool_forward") == 15.0


EXIT_EARLY = r"""
import os
os._exit(0)
"""


def test_a_worker_that_exits_zero_early_earns_nothing(tmp_path):
    att, _ = _attack(tmp_path, EXIT_EARLY)
    assert _pts(att) == 0.0


# A stub returning hostile values: one kind per case (complex with garbage imaginary part,
# NaN, bool, float16, big-endian, structured, object, ragged, too large, subclass that lies).
HOSTILE_VALUES = r"""
import numpy as _np
_N.append(1)
_k = len(_N) - 1
_shape = (x.shape[0], w.shape[0], 2, 2)
class _Lie(_np.ndarray):
    def __array__(self, *a, **k):
        return _np.zeros(self.shape)
    def __eq__(self, other):
        return True
_values = [
    lambda: _np.ones(_shape) + 1e9j,
    lambda: _np.full(_shape, _np.nan),
    lambda: _np.ones(_shape, dtype=bool),
    lambda: _np.ones(_shape, dtype=_np.float16),
    lambda: _np.ones(_shape, dtype=">f8"),
    lambda: _np.zeros(_shape, dtype=[("a", "f8")]),
    lambda: _np.array([object()] * 4, dtype=object),
    lambda: [[1.0], [1.0, 2.0]],
    lambda: _np.zeros((1200, 1000)),
    lambda: _np.zeros(_shape).view(_Lie),
    lambda: _np.array(2**63 - 1),
    lambda: _np.full(_shape, 5e-324),
]
out = _values[_k % len(_values)]()
"""


def test_hostile_return_values_earn_nothing(tmp_path):
    att, _ = _attack(
        tmp_path,
        HOSTILE_VALUES.replace("_N.append", "globals().setdefault('_N', []) and None or _N.append"),
    )
    assert _pts(att) == 0.0


# --------------------------------------------------------------------------- resources


DAEMON = r"""
import os, time
if not globals().get("_FORKED"):
    globals()["_FORKED"] = True
    try:
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                os.closerange(3, 256)
                time.sleep(120)
            os._exit(0)
    except OSError:
        pass
out = _REF_CONV(x, w, b, conv_param)[0]
"""


def test_daemonized_processes_do_not_outlive_the_task(tmp_path):
    att, _ = _attack(tmp_path, DAEMON)
    # What _attack checks matters here: no process of any sandbox is left.
    assert _pts(att) <= att["tasks"]["hw5_conv_forward"]["max_points"]


FILL = r"""
import os, threading
_chunk = b"x" * (1 << 20)
for _fd in (1, 2):
    for _ in range(64):
        try:
            os.write(_fd, _chunk)
        except OSError:
            break
for _d in ("/tmp", "/dev", "/dev/shm", "/box", "/"):
    for _k in range(64):
        try:
            with open(os.path.join(_d, "fill%d" % _k), "wb") as fh:
                fh.write(_chunk * 4)
        except OSError:
            break
_hog = []
try:
    while True:
        _hog.append(bytearray(64 << 20))
except MemoryError:
    _hog.clear()
out = _REF_CONV(x, w, b, conv_param)[0]
"""


@pytest.mark.slow
def test_filling_disk_memory_and_output_hurts_nobody(tmp_path):
    before = shutil.disk_usage("/tmp").used
    att, _ = _attack(tmp_path, FILL)
    assert _pts(att) <= att["tasks"]["hw5_conv_forward"]["max_points"]
    assert shutil.disk_usage("/tmp").used - before < (64 << 20)
    assert not [
        p
        for p in Path("/tmp").glob("intro2ai-grade-*")
        if p.stat().st_uid == 0 and (p / "box").exists() and any(p.rglob("fill*"))
    ]


# Memory outside every per-process limit: tmpfs files (/dev, /dev/shm, /tmp) and System V
# shared memory segments stay after the process lets go of them. Where a memory cgroup holds
# the sandbox they are charged to it; where none can be made (a rootless grader) only the
# sandbox's own limits stand between them and the machine's RAM.
HOARD = r"""
import ctypes, os
_MB = 1 << 20
def _files(d, limit_mb):
    n = 0
    for k in range(limit_mb // 4):
        try:
            with open(os.path.join(d, "hoard%d" % k), "wb") as fh:
                fh.write(b"x" * (4 * _MB))
            n += 4
        except OSError:
            break
    return n
def _sysv(limit_mb):
    libc = ctypes.CDLL(None, use_errno=True)
    libc.shmat.restype = ctypes.c_void_p
    n = 0
    for _ in range(limit_mb // 128):
        sid = libc.shmget(0, 128 * _MB, 0o1000 | 0o600)
        if sid < 0:
            break
        addr = libc.shmat(sid, None, 0)
        if addr in (None, ctypes.c_void_p(-1).value):
            break
        ctypes.memset(addr, 1, 128 * _MB)
        libc.shmdt(ctypes.c_void_p(addr))
        n += 128
    return n
out = np.array([_files("/dev", 192), _files("/dev/shm", 192), _files("/tmp", 192),
                _sysv(1536)], dtype=np.float64)
"""


def test_memory_outside_the_process_limits_is_bounded_without_cgroups(tmp_path, monkeypatch):
    jail._cgroup_base.cache_clear()
    monkeypatch.setattr(jail, "_cgroup_base", lambda kind: None)
    sub = tmp_path / "hoard"
    (sub / "intro2ai").mkdir(parents=True)
    (sub / "intro2ai" / "layers.py").write_text(
        samples.build_file(
            "intro2ai/layers.py",
            {"regions": {"conv_forward_naive": ("body", textwrap.indent(HOARD, "    "))}},
        )
    )
    files, _ = sandbox.read_submission(sub)
    case = cases.Case(
        "hw5_conv_forward",
        "visible_basic",
        {"x": np.zeros((1, 1, 3, 3)), "w": np.zeros((1, 1, 3, 3)), "b": np.zeros(1)},
        {"conv_param": {"stride": 1, "pad": 0}},
        False,
    )
    limits = dict(grader.load_rubric()["limits"], wall_seconds=30, cpu_seconds=20)
    run = sandbox.run_task("hw5_conv_forward", [case], files, limits)
    assert run.cases[0].done, run
    dev, shm, tmp, sysv = run.cases[0].arrays["out"].tolist()
    # At most the sandbox's small tmpfs sizes (16 MB each), and no System V segments.
    assert dev + shm + tmp <= 3 * 16, (dev, shm, tmp)
    assert sysv == 0
    assert sandbox.leftover_processes() == []


# CPU starvation: RLIMIT_CPU is per process, so a sandbox that may start processes (a pids
# cgroup allows `processes`) spins one per slot until its wall clock ends, and an honest task
# graded beside it would run out of wall time ("infinite loop?") on a machine of few cores.
SPIN = r"""
import os
if not globals().get("_SPUN"):
    globals()["_SPUN"] = True
    for _ in range(40):
        try:
            if os.fork() == 0:
                os.setsid()  # a scheduling group (autogroup) of its own
                while True:
                    pass
        except OSError:
            break
out = _REF_CONV(x, w, b, conv_param)[0]
"""


@pytest.mark.slow
def test_cpu_starvation_by_many_processes_does_not_cost_a_victim(tmp_path):
    naive = (
        "hw5_conv_forward",
        "hw5_conv_backward",
        "hw5_max_pool_forward",
        "hw5_max_pool_backward",
    )  # each calls a spinning forward
    att, _ = _attack(
        tmp_path, SPIN, pool_prefix=SPIN.split("out =")[0], attacker_tasks=naive, victim_delay=1.5
    )
    assert _pts(att) <= att["tasks"]["hw5_conv_forward"]["max_points"]


@pytest.mark.skipif(
    jail._cgroup_base("cpu") is None or (jail.CGROUP_ROOT / "cgroup.controllers").exists(),
    reason="no cgroup v1 cpu controller to make a group in",
)
def test_each_sandbox_is_one_cpu_group(tmp_path):
    """The fix of the starvation above (measured: an honest task beside 4 spinning sandboxes
    took 9.0 s without it, 1.2 s with it): every process of a sandbox, forked or in a new
    session, is in the sandbox's own cpu cgroup."""
    pol = jail.Policy(packages=(), limits=jail.Limits(memory_mb=256, processes=8))
    code = "import os, time\nif os.fork() == 0:\n    os.setsid()\ntime.sleep(30)  # both processes"
    rec = []
    with jail.start([jail.PYTHON_INSIDE, "-I", "-S", "-c", code], pol) as j:
        for _ in range(100):
            pids = [d for d in os.listdir("/proc") if d.isdigit()]
            rec = [
                open(f"/proc/{p}/cgroup").read()
                for p in pids
                if os.path.exists(f"/proc/{p}/cmdline")
                and b"time.sleep(30)" in open(f"/proc/{p}/cmdline", "rb").read()
            ]
            if len(rec) >= 4:  # bwrap, its init, python and the forked child
                break
            time.sleep(0.05)
        j.kill()
    assert len(rec) >= 4
    for r in rec:
        cpu = [line for line in r.splitlines() if "cpu" in line.split(":")[1].split(",")]
        assert cpu and f"intro2ai-jail-{os.getpid()}-" in cpu[0] and cpu[0].endswith("-cpu")


def test_no_setuid_or_device_file_lands_in_a_scratch(tmp_path):
    """A writable scratch (the nbgrader step's) is a host folder: with root-mapped bwrap what
    the sandbox creates there is root's outside. No setuid/setgid file, device or mode change
    may come out of it."""
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    os.chmod(tmp_path, 0o755)
    os.chmod(scratch, 0o755)
    (scratch / "given").write_text("x")
    pol = jail.Policy(
        packages=(), scratch=(str(scratch), "/scratch"), limits=jail.Limits(memory_mb=256)
    )
    code = "\n".join(
        [
            "import os",
            "os.umask(0)",
            "fd = os.open('/scratch/s', os.O_CREAT | os.O_WRONLY, 0o6755)",
            "os.write(fd, b'#!/bin/sh\\nid\\n')",
            "os.close(fd)",
            "for f in (lambda: os.chmod('/scratch/s', 0o6755),",
            "          lambda: os.chmod('/scratch/given', 0o4777),",
            "          lambda: os.mknod('/scratch/null', 0o666 | 0o020000, os.makedev(1, 3)),",
            "          lambda: os.mkdir('/scratch/d', 0o7777)):",
            "    try:",
            "        f()",
            "    except OSError:",
            "        pass",
        ]
    )
    res = jail.run([jail.PYTHON_INSIDE, "-I", "-S", "-c", code], pol, timeout=60)
    assert res.returncode == 0, res.stderr
    for p in scratch.rglob("*"):
        st = os.lstat(p)
        assert not st.st_mode & (stat.S_ISUID | stat.S_ISGID), (p, oct(st.st_mode))
        assert stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode), p
    assert oct(os.stat(scratch / "given").st_mode & 0o7777) in (oct(0o644), oct(0o664))
