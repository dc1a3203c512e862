"""autograder.jail: the bubblewrap sandbox, run for real (no mocks)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from autograder import _seccomp, jail

REPO = Path(__file__).resolve().parent.parent
IS_ROOT = os.geteuid() == 0
PY = jail.PYTHON_INSIDE


def _py(code: str, policy: jail.Policy | None = None, timeout: float = 60, **kw) -> jail.Result:
    return jail.run([PY, "-I", "-S", "-c", code], policy or jail.Policy(), timeout=timeout, **kw)


def _json(res: jail.Result):
    assert res.returncode == 0, res.stderr.decode()
    return json.loads(res.stdout)


def test_level_is_full_here():
    name, why = jail.level()
    assert name == "full", why


WALK = r"""
import json, os
seen = []
for root, dirs, files in os.walk("/"):
    if root == "/":
        dirs[:] = [d for d in dirs if d not in ("proc", "sys", "dev")]
    for n in dirs + files:
        seen.append(os.path.join(root, n))
print(json.dumps(seen))
"""


def test_only_the_allowlist_is_visible(tmp_path):
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    (inputs / "a.txt").write_text("hello")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    pol = jail.Policy(ro_binds=[(str(inputs), "/job/in")], scratch=(str(scratch), "/job/out"))
    seen = _json(_py(WALK, pol))
    allowed = ["/usr/lib", "/usr/lib64", "/lib", "/lib64", "/py", "/venv", "/tmp", "/job"]
    outside = [
        p
        for p in seen
        if not any(p == a or p.startswith(a + "/") or a.startswith(p + "/") for a in allowed)
    ]
    assert outside == []
    assert "/job/in/a.txt" in seen
    site = jail.SITE_INSIDE
    names = {p[len(site) + 1 :].split("/")[0] for p in seen if p.startswith(site + "/")}
    assert "numpy" in names
    assert not {n for n in names if "intro2ai" in n.lower() or n == "autograder"}
    assert all(str(REPO) not in p for p in seen)
    # The kit's own package cannot be imported, numpy can.
    res = _py(
        f"import sys; sys.path.append({site!r})\nimport numpy\ntry:\n import intro2ai\n"
        "except ImportError:\n print('no kit')"
    )
    assert res.stdout.strip() == b"no kit", res.stderr


def test_editable_finder_and_pth_into_the_kit_are_not_bound():
    binds = jail.python_binds()
    hosts = [h for h, _ in binds]
    assert not any("__editable__" in h and "intro2ai" in h for h in hosts)
    for h in hosts:
        if h.endswith(".pth") and os.path.isfile(h):
            assert str(REPO / "intro2ai") not in Path(h).read_text(errors="replace")
    only = jail.python_binds(("numpy",))
    names = {os.path.basename(h) for h, i in only if i.startswith(jail.SITE_INSIDE)}
    assert "numpy" in names and "scipy" not in names


def test_identity_namespaces_and_writes(tmp_path):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    ro = tmp_path / "ro"
    ro.mkdir()
    marker = f"/tmp/jail-marker-{uuid.uuid4().hex}"
    code = f"""
import json, os, socket
def can_write(p):
    try:
        with open(p, "w") as fh:
            fh.write("x")
        return True
    except OSError:
        return False
def internet():
    try:
        socket.create_connection(("1.1.1.1", 53), timeout=1).close()
        return True
    except OSError:
        return False
print(json.dumps({{
    "uid": os.getuid(), "gid": os.getgid(), "groups": os.getgroups(),
    "pids": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
    "ifaces": [n for _, n in socket.if_nameindex()], "internet": internet(),
    "caps": [l.split()[1] for l in open("/proc/self/status") if l.startswith("CapEff")],
    "scratch": can_write("/out/f"), "ro": can_write("/ro/f"), "tmp": can_write({marker!r}),
    "root": can_write("/f"), "hostname": socket.gethostname(), "tty": can_write("/dev/tty"),
    "env": sorted(os.environ),
}}))
"""
    pol = jail.Policy(ro_binds=[(str(ro), "/ro")], scratch=(str(scratch), "/out"), env={"FOO": "1"})
    got = _json(_py(code, pol))
    assert (got["uid"], got["gid"]) == (jail.SANDBOX_UID, jail.SANDBOX_GID)
    assert len(got["pids"]) <= 3  # bwrap's init and this process: nothing of the host
    assert got["ifaces"] == ["lo"] and not got["internet"]
    assert got["caps"] == ["0000000000000000"]
    assert got["scratch"] and (scratch / "f").read_text() == "x"
    assert not got["ro"] and not (ro / "f").exists()
    assert got["tmp"] and not os.path.exists(marker)  # a private /tmp
    assert not got["root"]
    assert got["hostname"] == "sandbox" and not got["tty"]  # no controlling terminal
    assert set(got["env"]) <= {"FOO", "PATH", "LANG", "HOME", "LD_LIBRARY_PATH", "LC_CTYPE", "PWD"}
    assert "FOO" in got["env"]


def test_host_processes_and_descriptors_are_unreachable(tmp_path):
    victim = subprocess.Popen(["sleep", "60"])
    try:
        res = _py(
            f"import os\ntry:\n os.kill({victim.pid}, 9)\nexcept OSError as e:\n"
            f" print(type(e).__name__)"
        )
        assert victim.poll() is None
        assert res.stdout.strip() in (b"ProcessLookupError", b"PermissionError")
    finally:
        victim.kill()
        victim.wait()


def test_no_fork_allows_threads_refuses_processes():
    code = """
import os, threading
out = []
t = threading.Thread(target=lambda: out.append(1)); t.start(); t.join()
try:
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    print("forked", out)
except OSError as e:
    print("refused", out, e.errno)
"""
    res = _py(code, jail.Policy(no_fork=True))
    assert res.stdout.split()[0] == b"refused" and b"[1]" in res.stdout, res
    res = _py(code, jail.Policy())
    assert res.stdout.split()[0] == b"forked"


@pytest.mark.skipif(jail._cgroup_base("pids") is None, reason="no pids cgroup here")
def test_pids_cgroup_stops_a_fork_bomb():
    code = """
import os, time
n = 0
for _ in range(200):
    try:
        if os.fork() == 0:
            time.sleep(30)
            os._exit(0)
        n += 1
    except OSError:
        break
print(n)
"""
    res = _py(code, jail.Policy(limits=jail.Limits(processes=10)), timeout=60)
    assert 0 < int(res.stdout) < 10


@pytest.mark.skipif(jail._cgroup_base("memory") is None, reason="no memory cgroup here")
def test_memory_cgroup_limits_the_whole_tree():
    # Two processes of 150 MB each (touched) under a 200 MB tree limit, no RLIMIT_AS.
    code = """
import os, time
pid = os.fork()
buf = bytearray(150 << 20)
for i in range(0, len(buf), 4096):
    buf[i] = 1
if pid == 0:
    time.sleep(3)
    os._exit(0)
_, status = os.waitpid(pid, 0)
print("child", status)
"""
    res = _py(code, jail.Policy(limits=jail.Limits(tree_memory_mb=200)), timeout=60)
    assert res.returncode != 0 or b"child 9" in res.stdout, res


def test_rlimits_apply_inside():
    code = """
import resource
g = resource.getrlimit
print(g(resource.RLIMIT_AS)[0] >> 20, g(resource.RLIMIT_CPU)[0],
      g(resource.RLIMIT_FSIZE)[0] >> 20, g(resource.RLIMIT_CORE)[0])
try:
    b = bytearray(600 << 20)
    print("allocated")
except MemoryError:
    print("MemoryError")
"""
    res = _py(code, jail.Policy(limits=jail.Limits(memory_mb=400, cpu_seconds=5, file_mb=2)))
    lines = res.stdout.decode().split("\n")
    assert lines[0].split() == ["400", "5", "2", "0"]
    assert lines[1] == "MemoryError"
    res = _py("while True: pass", jail.Policy(limits=jail.Limits(cpu_seconds=1)), timeout=30)
    assert not res.timed_out and res.returncode in (128 + 24, 128 + 9)  # SIGXCPU / SIGKILL


def test_timeout_kills_the_whole_tree():
    tag = uuid.uuid4().hex
    code = f"""
import os, time
for _ in range(3):
    if os.fork() == 0:
        os.setsid()
        time.sleep(120)
time.sleep(120)  # {tag}
"""
    res = _py(code, jail.Policy(limits=jail.Limits(processes=20, memory_mb=512)), timeout=2)
    assert res.timed_out
    left = subprocess.run(["pgrep", "-f", tag], capture_output=True, text=True).stdout
    assert left.strip() == ""
    # The sandbox's cgroups (where there were any) are gone too.
    mine = [
        d
        for kind in ("memory", "pids")
        if jail._cgroup_base(kind) is not None
        for d in jail._cgroup_base(kind).glob(f"intro2ai-jail-{os.getpid()}-*")
    ]
    assert mine == []


@pytest.mark.skipif(not IS_ROOT, reason="root only")
def test_root_grader_never_lets_the_sandbox_change_root_files(tmp_path):
    before = os.stat("/dev/null").st_mode
    res = _py("import os\nos.chmod('/dev/null', 0o600)\nprint(oct(os.stat('/dev/null').st_mode))")
    assert res.returncode == 0, res.stderr
    assert os.stat("/dev/null").st_mode == before


@pytest.mark.skipif(not IS_ROOT, reason="root only")
def test_root_drops_to_uid_65534_when_everything_is_reachable():
    import shutil
    import tempfile

    top = Path(tempfile.mkdtemp(prefix="jail-drop-", dir="/tmp"))
    os.chmod(top, 0o755)
    scratch = top / "scratch"
    (scratch / "sub").mkdir(parents=True)  # something the caller put there first
    pol = jail.Policy(
        python=False, ro_binds=[("/usr/bin", "/usr/bin")], scratch=(str(scratch), "/out")
    )
    if jail._uses_root_mapping(pol):
        pytest.skip("the bwrap binary or /usr is not reachable by uid 65534 here")
    try:
        res = jail.run(["/usr/bin/touch", "/out/made", "/out/sub/made"], pol, timeout=30)
        assert res.returncode == 0, res.stderr
        assert (scratch / "made").stat().st_uid == jail.SANDBOX_UID
        assert (scratch / "sub" / "made").stat().st_uid == jail.SANDBOX_UID
    finally:
        shutil.rmtree(top)


def test_unsandboxed_needs_an_explicit_permission(monkeypatch, tmp_path):
    monkeypatch.setattr(jail, "level", lambda: ("none", "test"))
    monkeypatch.delenv(jail.ALLOW_UNSANDBOXED_ENV, raising=False)
    with pytest.raises(jail.Unavailable):
        _py("print(1)")
    res = _py("print(1)", allow_unsandboxed=True)
    assert res.isolation == "none" and res.stdout.strip() == b"1"
    monkeypatch.setenv(jail.ALLOW_UNSANDBOXED_ENV, "1")
    assert _py("print(1)").isolation == "none"
    # Limits still hold without a sandbox: no new processes with no_fork.
    res = _py(
        "import os\ntry:\n os.fork() or os._exit(0)\n print('forked')\n"
        "except OSError:\n print('refused')",
        jail.Policy(no_fork=True),
    )
    assert res.stdout.strip() == b"refused", res


def test_policy_translates_inside_paths():
    pol = jail.Policy(ro_binds=[("/srv/a", "/job/in")], scratch=("/srv/b", "/job/out"))
    assert pol.host_path("/job/in/x.py") == "/srv/a/x.py"
    assert pol.host_path("/job/out") == "/srv/b"
    assert os.path.realpath(pol.host_path(PY)) == os.path.realpath(sys.executable)
    with pytest.raises(ValueError):
        jail.Policy(ro_binds=[("/a", "relative")])


def test_seccomp_programs_are_whole_records():
    for kw in ({"no_fork": True}, {"pin_modes": True}, {"no_fork": True, "pin_modes": True}):
        code = _seccomp.program(**kw)
        assert len(code) % 8 == 0 and len(code) > 8 * 5


@pytest.mark.skipif(not IS_ROOT, reason="switching to an unprivileged uid needs root")
def test_rootless_grader_gets_the_same_isolation(tmp_path):
    """A non-root grader (here uid 65534 via setpriv) gets full isolation by user namespaces."""
    code = (
        "import json; from autograder import jail; "
        "r = jail.run([jail.PYTHON_INSIDE, '-I', '-S', '-c', "
        "'import os; print(os.getuid(), sorted(os.listdir(\"/\")))'], jail.Policy(), "
        "timeout=60); print(json.dumps([jail.level(), r.returncode, r.stdout.decode()]))"
    )
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "HOME": str(tmp_path)}
    os.chmod(tmp_path, 0o777)
    out = subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    (name, why), code_, stdout = json.loads(out.stdout)
    assert name == "full", why
    assert "user namespaces" in why
    assert code_ == 0 and stdout.split()[0] == str(jail.SANDBOX_UID)
    assert "'work'" not in stdout and "'root'" not in stdout
