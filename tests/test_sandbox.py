"""The trusted grader's sandbox seen from inside, and attacks on its result channel.

Every attack is a submission built here; the tests assert outcomes (points, flags, files left
untouched, nothing left running), not mechanisms.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
from autograder import __main__ as cli  # noqa: E402
from autograder import cases, grader, jail, samples, sandbox  # noqa: E402

IS_ROOT = os.geteuid() == 0
EXPECTED = samples.expected_scores()
LIMITS = dict(EXPECTED["limits"])
SEED = EXPECTED["seed"]

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
def _pipe_writable(pid, n):
    p = "/proc/%d/fd/%d" % (pid, n)
    try:
        if not os.readlink(p).startswith("pipe:"):
            return 0.0
    except OSError:
        pass  # unreadable link: try to open it all the same
    return _can_write(p)
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
    resource.getrlimit(resource.RLIMIT_CPU)[0],
    float(sys.path[0] == os.getcwd()), float("numpy.py" in os.listdir(".")),
    float(len(os.environ)),
    float(os.path.dirname(np.__file__).startswith("{KIT}")),
    _can_write("job.npz"), _can_write("{WRITE_TMP}"),
    float(sum(_pipe_writable(pid, n) for n in range(64) for pid in {1, os.getppid()})),
    float(sum(_can_read("/proc/%d/mem" % os.getppid()) for _ in range(1))),
], dtype=np.float64)
"""
FIELDS = (
    "uid",
    "gid",
    "nproc_visible",
    "read_layers",
    "read_rubric",
    "read_git",
    "write_kit",
    "interfaces",
    "internet",
    "as_mb",
    "cpu_limit",
    "box_first",
    "numpy_py",
    "env",
    "numpy_from_kit",
    "write_box",
    "write_tmp",
    "relay_fds",
    "relay_mem",
)


def _layers(regions: dict, append: str | None = None) -> str:
    spec = {"regions": {k: ("body", v) for k, v in regions.items()}}
    if append:
        spec["append"] = {"intro2ai/layers.py": append}
    return samples.build_file("intro2ai/layers.py", spec)


def _submission(root: Path, name: str, layers_text: str) -> Path:
    """A submission folder: the reference cnn.py and the given layers.py."""
    samples.build_samples(root / "_ref", names=["reference"])
    sub = root / name
    shutil.copytree(root / "_ref" / "reference", sub)
    (sub / "intro2ai" / "layers.py").write_text(layers_text)
    return sub


def _probe(tmp_path, write_target: Path, tmp_target: Path | None = None) -> dict:
    tmp_target = tmp_target or tmp_path / "probe_tmp"
    body = (
        PROBE.replace("{KIT}", str(REPO))
        .replace("{WRITE}", str(write_target))
        .replace("{WRITE_TMP}", str(tmp_target))
    )
    text = _layers({"conv_forward_naive": body})
    case = cases.Case(
        "hw5_conv_forward",
        "visible_basic",
        {"x": np.zeros((1, 1, 3, 3)), "w": np.zeros((1, 1, 3, 3)), "b": np.zeros(1)},
        {"conv_param": {"stride": 1, "pad": 0}},
        False,
    )
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


def test_student_code_sees_nothing_of_the_kit(tmp_path):
    tmp_target = Path(f"/tmp/intro2ai_probe_{os.getpid()}")
    p = _probe(tmp_path, REPO / "probe_write", tmp_target)
    lim = p["_limits"]
    assert p["_isolation"]["level"] == "full", p["_isolation"]
    assert (p["uid"], p["gid"]) == (jail.SANDBOX_UID, jail.SANDBOX_GID)
    assert p["nproc_visible"] <= 3  # own PID namespace: bwrap's init, the relay, the worker
    assert p["read_layers"] == p["read_rubric"] == p["read_git"] == 0
    assert p["write_kit"] == 0 and not (REPO / "probe_write").exists()
    assert p["interfaces"] == 1 and p["internet"] == 0  # loopback only
    assert p["as_mb"] == lim["memory_mb"] and p["cpu_limit"] == lim["cpu_seconds"]
    assert p["box_first"] == 1 and p["numpy_py"] == 0 and p["numpy_from_kit"] == 0
    assert p["env"] <= 8
    assert p["write_box"] == 0  # inputs are read-only
    assert p["write_tmp"] == 1 and not tmp_target.exists()  # a private /tmp
    # No pipe of the relay (the result channel) or of bwrap's init can be opened.
    assert p["relay_fds"] == 0 and p["relay_mem"] == 0


WALKER = """
import json, os
seen = []
for root, dirs, files in os.walk("/"):
    if root == "/":
        dirs[:] = [d for d in dirs if d not in ("proc", "sys", "dev")]
    for n in dirs + files:
        seen.append(os.path.join(root, n))
def _read(p):
    try:
        with open(p, "rb") as fh:
            return len(fh.read(64))
    except OSError:
        return -1
report = {"seen": seen, "read": [_read(p) for p in {TARGETS}]}
out = np.frombuffer(json.dumps(report).encode(), dtype=np.uint8).copy()
"""


def _decoy_dir() -> Path:
    """A folder outside the kit (and outside /tmp): /opt or /srv, else skip."""
    for base in ("/opt", "/srv"):
        try:
            return Path(tempfile.mkdtemp(prefix="intro2ai-decoy-", dir=base))
        except OSError:
            continue
    pytest.skip("cannot create a decoy folder under /opt or /srv")


def test_whole_visible_tree_is_the_allowlist(tmp_path, monkeypatch):
    """Walk everything student code can see; a decoy instructor edition outside the kit, the
    kit itself, the seed and another submission are all out of sight and unreadable."""
    decoy = _decoy_dir()
    seed_file = REPO / "autograder" / ".grader_seed"
    made_seed = not seed_file.exists()
    try:
        shutil.copytree(
            REPO / "intro2ai",
            decoy / "intro2ai",
            ignore=shutil.ignore_patterns("__pycache__", "*.so"),
        )
        os.chmod(decoy, 0o755)
        if made_seed:
            seed_file.write_text("12345\n")
        other = tmp_path / "other_student"
        samples.build_samples(other, names=["reference"])
        targets = [
            str(decoy / "intro2ai" / "layers.py"),
            str(REPO / "intro2ai" / "layers.py"),
            str(seed_file),
            str(other / "reference" / "intro2ai" / "layers.py"),
            str(REPO / "autograder" / "grader.py"),
        ]
        text = _layers({"conv_forward_naive": WALKER.replace("{TARGETS}", repr(targets))})
        case = cases.make_cases("hw5_conv_forward", "s")[0]
        run = sandbox.run_task(
            "hw5_conv_forward",
            [case],
            {"intro2ai/layers.py": text.encode()},
            grader.load_rubric()["limits"],
        )
        assert run.isolation["level"] == "full"
        report = json.loads(run.cases[0].arrays["out"].tobytes())
    finally:
        shutil.rmtree(decoy)
        if made_seed:
            seed_file.unlink()
    assert report["read"] == [-1] * len(targets)
    seen = report["seen"]
    allowed = ["/box", "/grader", "/py", "/venv", "/tmp"] + [i for _, i in jail._system_lib_binds()]
    allowed += [link for _, link in jail._symlinks()]
    outside = [
        p
        for p in seen
        if not any(p == a or p.startswith(a + "/") or a.startswith(p + "/") for a in allowed)
    ]
    assert outside == []
    assert not any(
        p.startswith(
            (str(decoy), str(REPO), str(tmp_path), "/root", "/home", "/work", "/srv", "/opt")
        )
        for p in seen
    )
    # The box: the student edition, this submission's file, the job; nothing else.
    box = {p[len("/box/") :] for p in seen if p.startswith("/box/")}
    files = {p for p in box if "." in os.path.basename(p)}
    assert files == set(sandbox.provided_package()) - {
        r for r in sandbox.provided_package() if r in sandbox._FAST_MODULES or r.endswith(".so")
    } | {r for r in sandbox._FAST_MODULES} | {"job.json", "job.npz"} | {"intro2ai/layers.py"} | {
        # the rule's refusing stand-ins
        "scipy/__init__.py",
        "scipy/signal.py",
        "scipy/ndimage.py",
        "intro2ai/_im2col_cython.py",
    }
    assert {p for p in seen if p.startswith("/grader/")} == {
        f"/grader/{f}" for f in sandbox.PROGRAMS
    }
    site = {
        p[len(jail.SITE_INSIDE) + 1 :].split("/")[0]
        for p in seen
        if p.startswith(jail.SITE_INSIDE + "/")
    }
    # A naive task sees NumPy only among the site-packages: no real SciPy (the rule's stand-ins
    # in the box refuse its calls).
    assert "numpy" in site
    assert not {s for s in site if not s.startswith("numpy")}, site


def test_every_module_behind_the_fast_layers_has_a_refusing_stand_in():
    """A naive task must not reach the fast layers through one of their private modules: every
    intro2ai module that fast_layers and layer_utils import (directly or not) is replaced by a
    refusing stand-in, apart from the input checks, the naive layers themselves and the
    modules that compute nothing (the extension loader, OpenBLAS's thread setting)."""
    import ast

    pkg = REPO / "intro2ai"
    seen, todo = set(), ["fast_layers", "layer_utils"]
    while todo:
        name = todo.pop()
        if name in seen or not (pkg / f"{name}.py").is_file():
            continue
        seen.add(name)
        for node in ast.walk(ast.parse((pkg / f"{name}.py").read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module == "intro2ai":
                todo += [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("intro2ai."):
                todo.append(node.module.split(".")[1])
    assert {"fast_layers", "_fast_plan", "_fast_layouts", "_im2col_numpy"} <= seen, seen
    computing = seen - {"_checks", "layers", "_extension", "_threads", "grading_rules"}
    assert {f"intro2ai/{m}.py" for m in computing} <= set(sandbox._FAST_MODULES), computing


def test_student_output_is_capped_and_never_parsed(tmp_path):
    text = samples.build_file(
        "intro2ai/layers.py",
        {
            "regions": {
                "conv_forward_naive": (
                    "body",
                    """
        print('{"total": 100}' * 100000)
        out = np.zeros((x.shape[0], w.shape[0], H_out, W_out))
    """,
                )
            }
        },
    )
    case = cases.make_cases("hw5_conv_forward", "s")[0]
    limits = dict(grader.load_rubric()["limits"])
    run = sandbox.run_task(
        "hw5_conv_forward", [case], {"intro2ai/layers.py": text.encode()}, limits
    )
    assert run.cases[0].done and run.output_bytes <= limits["output_kb"] * 1024


# --------------------------------------------------------------------------- result channel

MUTATING = """
    import numpy as _np
    out = _REF_CONV(x.copy(), w, b, conv_param)[0]
    x += 1.0  # changes the caller's input in place
"""

FORGE_POST = """
    import io, sys
    import numpy as _np
    _child = sys.modules["_sandbox_child"]
    _buf = io.BytesIO()
    _np.save(_buf, x.copy())
    _CALLS.append(1)
    _child.send({"kind": "array", "case": len(_CALLS) - 1, "key": "post_x"}, _buf.getvalue())
    out = _REF_CONV(x.copy(), w, b, conv_param)[0]
    x += 1.0
"""

HIDE_POST = """
    import sys
    _child = sys.modules["_sandbox_child"]
    if not getattr(_child, "_patched", False):
        _real = _child.send
        def _send(header, payload=b"", _real=_real):
            if str(header.get("key", "")).startswith("post_"):
                return
            return _real(header, payload)
        _child.send = _send
        _child._patched = True
    out = _REF_CONV(x.copy(), w, b, conv_param)[0]
    x += 1.0
"""

DUPLICATE_OUT = """
    import io, sys
    import numpy as _np
    _child = sys.modules["_sandbox_child"]
    out = _REF_CONV(x, w, b, conv_param)[0]
    _CALLS.append(1)
    _buf = io.BytesIO()
    _np.save(_buf, out)
    _child.send({"kind": "array", "case": len(_CALLS) - 1, "key": "out"}, _buf.getvalue())
"""

DEEP_HEADER = """
    import os, sys
    _child = sys.modules["_sandbox_child"]
    _head = b"[" * 3000 + b"]" * 3000
    os.write(_child.CHANNEL, b"R" + len(_head).to_bytes(4, "big") + _head + (0).to_bytes(8, "big"))
    out = _REF_CONV(x, w, b, conv_param)[0]
"""

ERROR_FLOOD = """
    import sys
    _child = sys.modules["_sandbox_child"]
    _CALLS.append(1)
    for _k in range({N}):
        _child.send({"kind": "error", "case": len(_CALLS) - 1, "step": "numeric",
                     "status": "error", "exc_type": "X" * 1000, "message": "y" * 2000,
                     "where": "z" * 500})
    out = _REF_CONV(x, w, b, conv_param)[0]
"""

APPEND = """
_CALLS = []
def _REF_CONV(x, w, b, conv_param):
{REF}
"""


def _ref_conv_body() -> str:
    """The reference conv_forward_naive as a helper of the attack file (indented)."""
    import inspect
    import textwrap

    from intro2ai import layers

    src = textwrap.dedent(inspect.getsource(layers.conv_forward_naive))
    body = src.split(":\n", 1)[1] if '"""' not in src else src.split('"""', 2)[2]
    return textwrap.indent(textwrap.dedent(body), "    ")


def _grade_conv(tmp_path, name: str, body: str) -> dict:
    text = _layers({"conv_forward_naive": body}, append=APPEND.replace("{REF}", _ref_conv_body()))
    sub = _submission(tmp_path, name, text)
    before = _tree_hash(sub)
    rec = grader.grade_submission(
        sub, seed=SEED, limits=LIMITS, tasks=("hw5_conv_forward", "hw5_max_pool_forward")
    )
    assert _tree_hash(sub) == before
    assert sandbox.leftover_processes() == []
    return rec


def _tree_hash(folder: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        h.update(str(p.relative_to(folder)).encode())
        if p.is_file():
            h.update(p.read_bytes())
    return h.hexdigest()


def _flags(rec: dict, task: str) -> set[str]:
    return {f["kind"] for f in rec["tasks"][task].get("flags", [])}


def test_forged_or_hidden_post_arrays_cannot_dodge_the_mutation_penalty(tmp_path):
    honest = _grade_conv(tmp_path, "honest_mutating", MUTATING)["tasks"]["hw5_conv_forward"]
    max_pts = honest["max_points"]
    penalty = float(grader.load_rubric()["policy"]["mutation_penalty"])
    assert honest["points"] == round(max_pts * (1 - penalty), 2)
    forged = _grade_conv(tmp_path, "forged_post", FORGE_POST)
    assert forged["tasks"]["hw5_conv_forward"]["points"] == 0.0
    assert "possible_tampering" in _flags(forged, "hw5_conv_forward")
    assert forged["tasks"]["hw5_max_pool_forward"]["points"] == 15.0  # other tasks unharmed
    hidden = _grade_conv(tmp_path, "hidden_post", HIDE_POST)
    assert hidden["tasks"]["hw5_conv_forward"]["points"] == honest["points"]


def test_a_second_record_for_a_result_earns_nothing(tmp_path):
    rec = _grade_conv(tmp_path, "duplicate_out", DUPLICATE_OUT)
    task = rec["tasks"]["hw5_conv_forward"]
    assert task["points"] == 0.0 and task["status"] == "tampered"
    assert "possible_tampering" in _flags(rec, "hw5_conv_forward")
    assert rec["needs_manual_grade"]


def test_deeply_nested_header_fails_closed(tmp_path):
    rec = _grade_conv(tmp_path, "deep_header", DEEP_HEADER)
    task = rec["tasks"]["hw5_conv_forward"]
    assert task["points"] == 0.0 and task["status"] == "lost", task["message"]
    assert "possible_tampering" in _flags(rec, "hw5_conv_forward")
    assert rec["tasks"]["hw5_max_pool_forward"]["points"] == 15.0
    assert rec["total"] == 15.0


def test_error_records_are_capped(tmp_path):
    text = _layers(
        {"conv_forward_naive": ERROR_FLOOD.replace("{N}", "2000")},
        append=APPEND.replace("{REF}", _ref_conv_body()),
    )
    case = cases.make_cases("hw5_conv_forward", "s")[0]
    run = sandbox.run_task(
        "hw5_conv_forward",
        [case],
        {"intro2ai/layers.py": text.encode()},
        dict(grader.load_rubric()["limits"]) | LIMITS,
    )
    res = run.cases[0]
    assert res.done and "out" in res.arrays
    assert len(res.errors) <= 8
    assert all(len(v) <= 400 for e in res.errors for v in e.values())
    rec = _grade_conv(tmp_path, "error_flood", ERROR_FLOOD.replace("{N}", "500"))
    assert rec["tasks"]["hw5_conv_forward"]["points"] == 20.0  # errors in diagnostics only
    assert len(json.dumps(rec, ensure_ascii=False)) < 200_000
    # Past the relay's record cap the stream is cut: the task fails closed and is flagged.
    rec = _grade_conv(tmp_path, "record_flood", ERROR_FLOOD.replace("{N}", "30000"))
    assert rec["tasks"]["hw5_conv_forward"]["points"] < 20.0
    assert "possible_tampering" in _flags(rec, "hw5_conv_forward")


def _record(header: dict | bytes, payload: bytes = b"") -> bytes:
    head = header if isinstance(header, bytes) else json.dumps(header).encode()
    return b"R" + len(head).to_bytes(4, "big") + head + len(payload).to_bytes(8, "big") + payload


def _npy(a) -> bytes:
    import io

    buf = io.BytesIO()
    np.save(buf, np.asarray(a))
    return buf.getvalue()


@pytest.mark.parametrize(
    "stream",
    [
        _record(b"[" * 5000 + b"]" * 5000),  # RecursionError in json
        _record(b'{"kind": "done", "case": 0}')[:-3],  # truncated
        b"R" + (1 << 30).to_bytes(4, "big") + b"{}",  # absurd header length
        _record(b"\xff\xfe"),  # not UTF-8
        _record([1, 2, 3]),  # not an object
        _record({"kind": "done", "case": 99}),  # no such case
        _record({"kind": "done", "case": True}),  # bool is not a case
        _record({"kind": "surprise", "case": 0}),  # unknown kind
        b"X" * 40,  # garbage
    ],
)
def test_malformed_streams_fail_closed(stream):
    good = _record({"kind": "array", "case": 0, "key": "out"}, _npy([1.0])) + _record(
        {"kind": "done", "case": 0}
    )
    hello = _record({"kind": "hello"})
    assert sandbox.started(hello + good) and not sandbox.started(good)
    res, problem, code = sandbox.parse_stream(hello + good + stream, 2)
    assert problem is not None
    assert res[0].done and not res[1].done and code is None


def test_parse_stream_marks_duplicates_and_late_arrays():
    s = (
        _record({"kind": "array", "case": 0, "key": "out"}, _npy([1.0]))
        + _record({"kind": "array", "case": 0, "key": "out"}, _npy([2.0]))
        + _record({"kind": "done", "case": 0})
        + _record({"kind": "done", "case": 1})
        + _record({"kind": "array", "case": 1, "key": "out"}, _npy([1.0]))
        + _record({"kind": "array", "case": 2, "key": "out"}, _npy([np.nan]))
        + _record({"kind": "done", "case": 2})
        + _record({"kind": "done", "case": 2})
        + _record({"kind": "exit", "code": 0})
    )
    res, problem, code = sandbox.parse_stream(s, 3)
    assert problem is None and code == 0
    assert res[0].tampered and res[1].tampered and res[2].tampered


def test_any_grader_exception_gives_zero_and_a_flag(tmp_path, monkeypatch):
    samples.build_samples(tmp_path, names=["reference"])
    real = grader.reference_outputs

    def broken(task, case):
        if task == "hw5_conv_forward":
            raise RecursionError("maximum recursion depth exceeded")
        return real(task, case)

    monkeypatch.setattr(grader, "reference_outputs", broken)
    rec = grader.grade_submission(
        tmp_path / "reference",
        seed=SEED,
        limits=LIMITS,
        tasks=("hw5_conv_forward", "hw5_max_pool_forward"),
    )
    bad = rec["tasks"]["hw5_conv_forward"]
    assert bad["points"] == 0.0 and bad["max_points"] == 20.0
    assert bad["status"] == "needs_manual_grade" and bad["needs_manual_grade"]
    assert {"grader_error"} <= _flags(rec, "hw5_conv_forward")
    assert rec["tasks"]["hw5_max_pool_forward"]["points"] == 15.0
    assert rec["total"] == 15.0 and rec["max_total"] == 35.0 and rec["needs_manual_grade"]

    def boom(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(sandbox, "run_task", boom)
    rec = grader.grade_submission(
        tmp_path / "reference", seed=SEED, limits=LIMITS, tasks=("hw5_conv_forward",)
    )
    assert (
        rec["total"] == 0.0 and rec["tasks"]["hw5_conv_forward"]["status"] == "needs_manual_grade"
    )


def test_no_sandbox_refuses_unless_allowed_and_then_flags_every_task(tmp_path, monkeypatch):
    samples.build_samples(tmp_path, names=["reference"])
    monkeypatch.setattr(jail, "level", lambda: ("none", "test: no user namespaces"))
    monkeypatch.delenv(jail.ALLOW_UNSANDBOXED_ENV, raising=False)
    tasks = ("hw5_conv_forward", "hw5_max_pool_backward")
    with pytest.raises(jail.Unavailable):
        grader.grade_submission(tmp_path / "reference", seed=SEED, tasks=tasks)
    assert cli.main(["grade", str(tmp_path / "reference"), "--seed", "5"]) == 3
    rec = grader.grade_submission(
        tmp_path / "reference", seed=SEED, tasks=tasks, allow_unsandboxed=True
    )
    assert rec["isolation"] == "none"
    assert rec["total"] == rec["max_total"] == 35
    for task in tasks:
        assert rec["tasks"][task]["isolation"] == "none"
        assert "unsandboxed" in _flags(rec, task)


def test_doctor_prints_level_and_what_is_visible(capsys):
    assert cli.main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert "isolation: full" in out
    assert "/box" in out and "/venv" in out and "/grader" in out
    assert f"kit folder {sandbox.KIT_ROOT} visible: no" in out
    count = int(out.split("visible entries in all: ")[1].split()[0])
    assert count > 100


@pytest.mark.slow
@pytest.mark.skipif(not IS_ROOT, reason="switching to an unprivileged uid needs root")
def test_rootless_grader_same_isolation_and_scores_for_the_sandbox_samples():
    """The grader itself as uid 65534 (setpriv): full isolation by user namespaces, and every
    sample whose grade the sandbox's walls decide (the attacks, the baselines, a syntax error, a
    cache mutation) graded exactly as expected_scores.toml says. The numeric mistakes run the
    same sandbox as the reference; test_grader_samples pins every sample's score."""
    top = Path(tempfile.mkdtemp(prefix="intro2ai-rootless-", dir="/tmp"))
    try:
        # The loops and the ignored interrupts end by the same rlimits and timeouts as a root
        # grader's; the rest meet the sandbox's walls, which rootless are user namespaces.
        same_limits = ("adv_infinite_loop", "adv_forward_loop", "adv_keyboard_interrupt")
        names = [
            s
            for s in samples.SAMPLES
            if (s.startswith("adv_") and s not in same_limits)
            or s in ("reference", "release", "syntax_error", "poolb_mutates_cache")
        ]
        samples.build_samples(top / "samples", names=names)
        for dirpath, _dirnames, filenames in os.walk(top):
            os.chmod(dirpath, 0o755)
            for n in filenames:
                os.chmod(os.path.join(dirpath, n), 0o644)
        script = (
            "import json, sys\n"
            "from autograder import grade_submission, jail\n"
            "out = {'level': jail.level(), 'samples': {}}\n"
            "for name in sys.argv[1:]:\n"
            f"    rec = grade_submission({str(top / 'samples')!r} + '/' + name, "
            f"limits={LIMITS!r})\n"
            "    out['samples'][name] = {'isolation': rec['isolation'], 'total': rec['total'],\n"
            "        'tasks': {t: r['points'] for t, r in rec['tasks'].items()}}\n"
            "print(json.dumps(out))\n"
        )
        env = {
            "PATH": "/usr/bin:/bin",
            "PYTHONPATH": str(REPO),
            "HOME": str(top),
            "INTRO2AI_GRADER_SEED": str(SEED),
            "LANG": "C.UTF-8",
        }
        proc = subprocess.run(
            [
                "setpriv",
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                sys.executable,
                "-c",
                script,
                *names,
            ],
            capture_output=True,
            text=True,
            env=env,
            cwd=top,
            timeout=1500,
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        out = json.loads(proc.stdout)
    finally:
        shutil.rmtree(top, ignore_errors=True)
    name, why = out["level"]
    assert name == "full" and "user namespaces" in why, why
    for sample, got in out["samples"].items():
        want = EXPECTED["samples"][sample]
        assert got["isolation"] == "full", sample
        assert got["tasks"] == {t: v for t, v in want.items() if t != "total"}, sample
        assert got["total"] == want["total"], sample


@pytest.mark.skipif(not jail.can_limit_processes(), reason="no cgroups to find sandboxes by")
def test_leftover_processes_finds_a_running_sandbox():
    pol = jail.Policy(limits=jail.Limits(processes=8, memory_mb=256))
    with jail.start(
        [jail.PYTHON_INSIDE, "-I", "-S", "-c", "import time; time.sleep(60)"], pol
    ) as running:
        import time

        deadline = time.monotonic() + 20
        while not sandbox.leftover_processes() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert running.pid in sandbox.leftover_processes()
    assert sandbox.leftover_processes() == []


def test_a_sandbox_that_does_not_start_needs_a_person(tmp_path, monkeypatch):
    """A grader-side failure (here: bwrap cannot find a program to bind) is never a student's
    0: the task is flagged for manual grading with the reason."""
    samples.build_samples(tmp_path, names=["reference"])
    monkeypatch.setattr(sandbox, "PROGRAMS", sandbox.PROGRAMS + ("_missing_program.py",))
    rec = grader.grade_submission(
        tmp_path / "reference", seed=SEED, limits=LIMITS, tasks=("hw5_conv_forward",)
    )
    task = rec["tasks"]["hw5_conv_forward"]
    assert task["points"] == 0.0 and task["status"] == "needs_manual_grade"
    assert "grader_error" in _flags(rec, "hw5_conv_forward")
    assert "did not start" in task["message"]
