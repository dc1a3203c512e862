"""The sandbox seen from inside: a probe submission reports what student code can see and do."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
from autograder import cases, grader, sandbox, samples

IS_ROOT = os.geteuid() == 0

# conv_forward_naive of the probe returns, instead of a convolution, one number per question.
PROBE = """
import os, resource, socket, sys
def _can_read(p):
    try:
        with open(p, "rb") as fh:
            fh.read(1)
        return 1.0
    except OSError:
        return 0.0
def _can_write(p):
    try:
        with open(p, "w") as fh:
            fh.write("x")
        return 1.0
    except OSError:
        return 0.0
def _net():
    try:
        socket.create_connection(("1.1.1.1", 53), timeout=1).close()
        return 1.0
    except OSError:
        return 0.0
out = np.array([
    os.getuid(), os.getgid(),
    len([p for p in os.listdir("/proc") if p.isdigit()]),
    _can_read("{KIT}/intro2ai/layers.py"), _can_read("{KIT}/autograder/rubric.toml"),
    _can_read("{KIT}/.git/HEAD"), _can_write("{WRITE}"),
    float(len(socket.if_nameindex())), _net(),
    resource.getrlimit(resource.RLIMIT_AS)[0] / 2**20,
    resource.getrlimit(resource.RLIMIT_NPROC)[0],
    resource.getrlimit(resource.RLIMIT_CPU)[0],
    float(sys.path[0] == os.getcwd()), float("numpy.py" in os.listdir(".")),
    float(len(os.environ)),
    float(os.path.dirname(np.__file__).startswith("{KIT}/intro2ai")),
    _can_write("job.npz"), _can_write("{WRITE_TMP}"),
], dtype=np.float64)
"""
FIELDS = ("uid", "gid", "nproc_visible", "read_layers", "read_rubric", "read_git", "write_kit",
          "interfaces", "internet", "as_mb", "nproc_limit", "cpu_limit", "box_first",
          "numpy_py", "env", "numpy_from_kit", "write_box", "write_tmp")


def _probe(tmp_path, write_target: Path, tmp_target: Path | None = None) -> dict:
    tmp_target = tmp_target or tmp_path / "probe_tmp"
    body = (PROBE.replace("{KIT}", str(REPO)).replace("{WRITE}", str(write_target))
            .replace("{WRITE_TMP}", str(tmp_target)))
    text = samples.build_file("intro2ai/layers.py", {"regions": {
        "conv_forward_naive": ("body", body)}})
    case = cases.Case("hw5_conv_forward", "visible_basic",
                      {"x": np.zeros((1, 1, 3, 3)), "w": np.zeros((1, 1, 3, 3)), "b": np.zeros(1)},
                      {"conv_param": {"stride": 1, "pad": 0}}, False)
    limits = grader.load_rubric()["limits"]
    sub = tmp_path / "probe"
    (sub / "intro2ai").mkdir(parents=True)
    (sub / "intro2ai" / "layers.py").write_text(text)
    (sub / "numpy.py").write_text("raise ImportError('the submission numpy.py was imported')\n")
    files, _ = sandbox.read_submission(sub)
    assert set(files) == {"intro2ai/layers.py"}
    run = sandbox.run_task("hw5_conv_forward", [case], files, limits)
    assert run.cases[0].done, run
    values = run.cases[0].arrays["out"]
    return dict(zip(FIELDS, values.tolist())) | {"_isolation": run.isolation, "_limits": limits}


@pytest.mark.skipif(not IS_ROOT, reason="full isolation needs root (as in CI)")
def test_student_code_sees_nothing_of_the_kit(tmp_path):
    tmp_target = Path(f"/tmp/intro2ai_probe_{os.getpid()}")
    p = _probe(tmp_path, REPO / "probe_write", tmp_target)
    lim = p["_limits"]
    assert p["_isolation"]["level"] == "full", p["_isolation"]
    assert p["uid"] >= sandbox._UID_BASE and p["gid"] == sandbox.SANDBOX_GID
    assert p["nproc_visible"] <= 3  # own PID namespace: init + worker
    assert p["read_layers"] == p["read_rubric"] == p["read_git"] == 0
    assert p["write_kit"] == 0 and not (REPO / "probe_write").exists()
    assert p["interfaces"] == 1 and p["internet"] == 0  # loopback only
    assert p["as_mb"] == lim["memory_mb"] and p["nproc_limit"] == lim["processes"]
    assert p["cpu_limit"] == lim["cpu_seconds"]
    assert p["box_first"] == 1 and p["numpy_py"] == 0 and p["numpy_from_kit"] == 0
    assert p["env"] <= 8
    assert p["write_box"] == 0  # inputs are read-only
    assert p["write_tmp"] == 1 and not tmp_target.exists()  # a private /tmp


def test_partial_isolation_still_grades_and_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv(sandbox.ISOLATION_ENV, "0")
    p = _probe(tmp_path, tmp_path / "probe_write")  # never aim a write at the kit here
    assert p["_isolation"]["level"] == "partial"
    assert p["box_first"] == 1 and p["numpy_py"] == 0 and p["env"] <= 8
    samples.build_samples(tmp_path, names=["reference"])
    rec = grader.grade_submission(tmp_path / "reference", seed=5,
                                  tasks=("hw5_conv_forward", "hw5_max_pool_backward"))
    assert rec["isolation"] == "partial"
    assert rec["total"] == rec["max_total"] == 35


def test_student_output_is_capped_and_never_parsed(tmp_path):
    text = samples.build_file("intro2ai/layers.py", {"regions": {"conv_forward_naive": ("body", """
        print('{"total": 100}' * 100000)
        out = np.zeros((x.shape[0], w.shape[0], H_out, W_out))
    """)}})
    case = cases.make_cases("hw5_conv_forward", "s")[0]
    limits = dict(grader.load_rubric()["limits"])
    run = sandbox.run_task("hw5_conv_forward", [case], {"intro2ai/layers.py": text.encode()},
                           limits)
    assert run.cases[0].done and run.output_bytes <= limits["output_kb"] * 1024


@pytest.mark.skipif(not IS_ROOT, reason="needs root")
def test_without_namespaces_root_still_drops_privileges_and_kills_stragglers(tmp_path, monkeypatch):
    """Where unshare is forbidden (e.g. Docker's default seccomp) student code never runs as root."""
    monkeypatch.setenv(sandbox.ISOLATION_ENV, "nons")
    p = _probe(tmp_path, tmp_path / "probe_write")
    assert p["_isolation"]["level"] == "partial" and "uid" in p["_isolation"]["problem"]
    assert p["uid"] >= sandbox._UID_BASE and p["gid"] == sandbox.SANDBOX_GID
    assert p["nproc_limit"] == p["_limits"]["processes"]
    samples.build_samples(tmp_path, names=["adv_fork_bomb"])
    rec = grader.grade_submission(tmp_path / "adv_fork_bomb", seed=5,
                                  limits={"wall_seconds": 3, "cpu_seconds": 2},
                                  tasks=("hw5_conv_forward", "hw5_conv_backward"))
    assert rec["tasks"]["hw5_conv_forward"]["points"] == 20
    assert rec["tasks"]["hw5_conv_backward"]["status"] == "timeout"
    import subprocess
    mine = sandbox.own_uid_range()
    ps = subprocess.run(["ps", "-eo", "uid=,stat="], capture_output=True, text=True).stdout
    alive = [ln for ln in ps.splitlines() if int(ln.split()[0]) in mine and "Z" not in ln.split()[1]]
    assert alive == []


@pytest.mark.skipif(not IS_ROOT, reason="full isolation needs root (as in CI)")
def test_folders_inside_site_packages_can_be_hidden(tmp_path, monkeypatch):
    """How a non-editable install's site-packages/intro2ai is hidden (here: another package)."""
    site = sandbox._site_dirs()[0]
    monkeypatch.setenv(sandbox.HIDE_ENV, os.path.join(site, "nbgrader"))
    body = (f"import os\nout = np.array([float(len(os.listdir({site + '/nbgrader'!r}))), "
            f"float(os.path.isdir({site + '/numpy'!r}))])")
    text = samples.build_file("intro2ai/layers.py", {"regions": {
        "conv_forward_naive": ("body", body)}})
    case = cases.make_cases("hw5_conv_forward", "s")[0]
    run = sandbox.run_task("hw5_conv_forward", [case], {"intro2ai/layers.py": text.encode()},
                           grader.load_rubric()["limits"])
    assert run.cases[0].arrays["out"].tolist() == [0.0, 1.0]
