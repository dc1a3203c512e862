"""checks/submit.py of the HW5 release (`make submit`), without building a release: the student
id rule is the instructors' one, the zip is named by the id, and the manifest says how the
notebook was last run."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from autograder import ids

REPO = Path(__file__).resolve().parent.parent
HW5 = REPO / "assignments" / "source" / "hw5"


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


submit = _load("hw5_checks_submit", HW5 / "checks" / "submit.py")


def test_student_id_rule_is_a_copy_of_the_instructors_rule():
    assert submit.ID_PATTERN.pattern == ids.ID_PATTERN.pattern
    assert submit.ID_PATTERN.flags == ids.ID_PATTERN.flags
    assert submit.MAX_ID_LENGTH == ids.MAX_LENGTH
    assert submit.RESERVED_IDS == ids.RESERVED


@pytest.mark.parametrize(
    "student_id",
    [
        "",
        "a" * 65,
        "../x",
        "a/b",
        "a.b",
        ".hidden",
        "-x",
        "_x",
        "홍길동",
        "20261234 ",
        "a b",
        "A\n",
        "con",
        "NUL",
        "Com1",
        "lpt9",
        "x;rm",
        "a\x00b",
    ],
)
def test_ids_the_collector_would_refuse_are_refused_in_korean(student_id):
    assert not ids.is_valid(student_id)
    assert submit.student_id_problem(student_id) is not None
    why = submit.student_id_problem(student_id)
    assert why and ("학번" in why or "이름" in why), why


@pytest.mark.parametrize(
    "student_id", ["20261234", "a" * 64, "kim-cs-01", "S1", "report", "console", "com10"]
)
def test_ids_the_collector_accepts_are_accepted(student_id):
    assert ids.is_valid(student_id)
    assert submit.student_id_problem(student_id) is None


def test_every_accepted_id_is_read_back_from_the_zip_name_by_collect(tmp_path):
    """`make collect` takes the id from an archive's name up to its first '_': an id with '_'
    would be read as another (shorter) id, so `make submit` refuses it (ids.py allows '_')."""
    from autograder import collect

    home = _home(tmp_path, None)
    for student_id in ("20261234", "kim-cs-01", "A", "x" * 64, "kim_cs"):
        why = submit.student_id_problem(student_id)
        if why:
            assert "_" in student_id and "'_'" in why, why
            continue
        name = submit.build(home, student_id).name
        m = collect.LMS_NAME.fullmatch(name)
        assert m and m.group("student_id") == student_id, (student_id, name)
        assert ids.is_valid(m.group("student_id"))


def _home(tmp_path: Path, setup_text: str | None) -> Path:
    home = tmp_path / "hw5"
    (home / "intro2ai" / "classifiers").mkdir(parents=True)
    (home / "intro2ai" / "layers.py").write_text("x = 1\n", encoding="utf-8")
    (home / "intro2ai" / "classifiers" / "cnn.py").write_text("y = 2\n", encoding="utf-8")
    outputs = (
        []
        if setup_text is None
        else [{"output_type": "stream", "name": "stdout", "text": [setup_text, "\n"]}]
    )
    nb = {
        "cells": [
            {
                "cell_type": "code",
                "id": "setup",
                "source": "",
                "metadata": {},
                "execution_count": 1 if outputs else None,
                "outputs": outputs,
            }
        ],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    (home / "hw5.ipynb").write_text(json.dumps(nb, ensure_ascii=False), encoding="utf-8")
    return home


@pytest.mark.parametrize(
    "setup_text, mode",
    [
        ("FAST MODE (작은 가짜 데이터로 빠르게 실행)", "fast"),
        ("일반 모드 (실제 CIFAR-10)", "full"),
        (None, "not-run"),
        ("something else", "unknown"),
    ],
)
def test_manifest_records_the_notebook_mode_and_sha256sum_accepts_it(tmp_path, setup_text, mode):
    home = _home(tmp_path, setup_text)
    out = submit.build(home, "20261234")
    assert out.name == "20261234_hw5_submission.zip"
    with zipfile.ZipFile(out) as zf:
        manifest = zf.read("MANIFEST.sha256").decode()
        zf.extractall(tmp_path / "unzipped")
    assert f"# notebook_mode: {mode}" in manifest.splitlines()
    assert "# student_id: 20261234" in manifest.splitlines()
    for rel in submit.FILES:
        digest = hashlib.sha256((home / rel).read_bytes()).hexdigest()
        assert f"{digest}  {rel}" in manifest.splitlines()
    if shutil.which("sha256sum"):
        proc = subprocess.run(
            ["sha256sum", "--strict", "-c", "MANIFEST.sha256"],
            cwd=tmp_path / "unzipped",
            capture_output=True,
            text=True,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr


def test_refused_id_writes_nothing(tmp_path):
    home = _home(tmp_path, "일반 모드 (실제 CIFAR-10)")
    before = sorted(p.relative_to(home) for p in home.rglob("*"))
    for bad in ("", "../../etc", "CON"):
        with pytest.raises(ValueError, match="학번"):
            submit.build(home, bad)
    assert sorted(p.relative_to(home) for p in home.rglob("*")) == before


def test_notebook_banners_are_what_the_setup_cell_prints():
    import nbformat

    nb = nbformat.read(REPO / "assignments" / "source" / "hw5" / "hw5.ipynb", as_version=4)
    setup = next(c.source for c in nb.cells if c.id == "setup")
    assert f"print('{submit.FAST_BANNER}" in setup and f"'{submit.FULL_BANNER}" in setup


# --------------------------------------------------------------------------- make notebook / jupyter


def _tiny_notebook(path: Path, sources: list[str]) -> None:
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    nb = new_notebook(cells=[new_code_cell(s, id=f"c{i}") for i, s in enumerate(sources)])
    nb.metadata = {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}
    }
    nbformat.write(nb, path)


def _run_notebook(path: Path, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    import os
    import sys

    env = {**os.environ, "MPLBACKEND": "Agg", **(env_extra or {})}
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    return subprocess.run(
        [sys.executable, "-m", "checks.run_notebook", str(path)],
        cwd=HW5,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.slow
def test_run_notebook_executes_every_cell_in_a_real_kernel_and_saves(tmp_path):
    import nbformat

    path = tmp_path / "nb.ipynb"
    _tiny_notebook(
        path,
        [
            "import os\nprint('fast=' + os.environ.get('INTRO2AI_FAST', ''))",
            "raise NotImplementedError('hw5_conv_forward: 아직 구현하지 않았습니다')",
            "print(6 * 7)",
        ],
    )
    proc = _run_notebook(path, {"INTRO2AI_FAST": "1"})
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "FAST MODE" in proc.stdout and "저장했습니다" in proc.stdout
    assert "셀 2: NotImplementedError: hw5_conv_forward" in proc.stdout, proc.stdout
    nb = nbformat.read(path, as_version=4)
    texts = ["".join(o.get("text", "") for o in c.outputs) for c in nb.cells]
    assert texts[0] == "fast=1\n", "the environment reaches the kernel"
    assert nb.cells[1].outputs[0].output_type == "error"
    assert texts[2] == "42\n", "cells after a failing one still run"
    assert [c.execution_count for c in nb.cells] == [1, 2, 3]
    assert not list(tmp_path.glob(".*.part")), "no temporary file left behind"

    _tiny_notebook(path, ["print('ok')"])
    proc = _run_notebook(path)
    assert proc.returncode == 0 and "오류 없이" in proc.stdout, proc.stdout + proc.stderr
    assert "일반 모드" in proc.stdout


@pytest.mark.slow
def test_run_notebook_refuses_a_broken_notebook_and_leaves_it_alone(tmp_path):
    path = tmp_path / "hw5.ipynb"
    path.write_text('{"cells": [', encoding="utf-8")
    proc = _run_notebook(path)
    assert proc.returncode == 2 and "올바른 노트북 파일이 아닙니다" in proc.stderr, proc.stderr
    assert path.read_text(encoding="utf-8") == '{"cells": ['
    proc = _run_notebook(tmp_path / "missing.ipynb")
    assert proc.returncode == 2 and "노트북 파일이 없습니다" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_make_targets_run_what_the_readme_says():
    def dry(*args: str) -> str:
        proc = subprocess.run(
            ["make", "-n", *args, "PYTHON=py"], cwd=HW5, capture_output=True, text=True
        )
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    assert "py -m checks.run_notebook hw5.ipynb" in dry("notebook")
    assert "py -m jupyter notebook hw5.ipynb" in dry("jupyter")
    assert 'py -m checks.submit "$STUDENT_ID"' in dry("submit", "STUDENT_ID=x")
    readme = (HW5 / "README.md").read_text(encoding="utf-8")
    for line in ("make notebook ", "make jupyter ", "make submit STUDENT_ID="):
        assert line in readme, line
    assert "nbclient" in (HW5 / "Makefile").read_text(encoding="utf-8")  # `make install` brings it


def test_odd_notebook_json_gives_a_mode_not_a_crash(tmp_path):
    odd = [
        {"cells": ["x", 3, {"id": "setup", "outputs": "text"}]},
        {"cells": [{"id": "setup", "outputs": [5, {"text": [1, "FAST MODE"]}]}]},
        {"cells": [{"id": "setup", "outputs": [{"text": None}]}]},
    ]
    assert [submit.notebook_mode(nb) for nb in odd] == ["unknown", "fast", "unknown"]
    home = _home(tmp_path, None)
    (home / "hw5.ipynb").write_text(
        json.dumps({"cells": ["x", {"cell_type": "code", "outputs": 7}]}), encoding="utf-8"
    )
    import os
    import sys

    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from checks import submit; "
            f"submit.ROOT = __import__('pathlib').Path({str(home)!r}); "
            "sys.exit(submit.main(['20261234']))",
        ],
        cwd=HW5,
        capture_output=True,
        text=True,
        env={**os.environ},
    )
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    with zipfile.ZipFile(home / "20261234_hw5_submission.zip") as zf:
        assert "# notebook_mode: unknown" in zf.read("MANIFEST.sha256").decode().splitlines()


@pytest.mark.slow
def test_make_jupyter_serves_the_notebook(tmp_path):
    """`make jupyter` starts a real Jupyter server on the homework folder with hw5.ipynb open."""
    import os
    import re
    import signal
    import socket
    import sys
    import time
    import urllib.request

    home = tmp_path / "hw5"
    shutil.copytree(HW5, home, ignore=shutil.ignore_patterns("__pycache__"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # A "browser" that records what Jupyter asks it to open.
    opener = tmp_path / "browser.py"
    opener.write_text(
        f"import sys, pathlib\npathlib.Path({str(tmp_path / 'opened')!r}).write_text(sys.argv[1])\n"
    )
    env = {
        **os.environ,
        "JUPYTER_PORT": str(port),
        "JUPYTER_PORT_RETRIES": "0",
        "BROWSER": f"{sys.executable} {opener} %s",
        "JUPYTER_TOKEN": "kit-test-token",
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
        "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
    }
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    # Test-machine settings only (the student's `make jupyter` uses Jupyter's defaults): this
    # container runs as root, which Jupyter refuses unless told; listen on loopback only.
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "jupyter_server_config.py").write_text(
        "c.ServerApp.allow_root = True\nc.ServerApp.ip = '127.0.0.1'\n", encoding="utf-8"
    )
    log = open(tmp_path / "jupyter.log", "w+")
    proc = subprocess.Popen(
        ["make", "jupyter", f"PYTHON={sys.executable}"],
        cwd=home,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        url = f"http://127.0.0.1:{port}/api/contents/hw5.ipynb?content=0&token=kit-test-token"
        info, deadline = None, time.monotonic() + 120
        while info is None and time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(url, timeout=5) as resp:
                    info = json.loads(resp.read())
            except OSError:
                time.sleep(0.5)
        log.seek(0)
        text = log.read()
        assert info is not None, text[-2000:]
        assert info["name"] == "hw5.ipynb" and info["type"] == "notebook"
        assert re.search(rf"127\.0\.0\.1:{port}/|localhost:{port}/", text), text[-2000:]
        while not (tmp_path / "opened").exists() and time.monotonic() < deadline:
            time.sleep(0.5)
        opened = (tmp_path / "opened").read_text()
        if opened.startswith("file://"):  # Jupyter's redirect page, which holds the real URL
            opened = Path(urllib.request.url2pathname(opened[len("file://") :])).read_text()
        assert re.search(rf":{port}/(tree|notebooks)/hw5\.ipynb\b", opened), opened[:500]
    finally:
        if proc.poll() is None:  # the server's process group: make, jupyter and its children
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        log.close()


def test_readme_and_notebook_state_the_rule_and_how_grading_works():
    import nbformat

    nb = nbformat.read(HW5 / "hw5.ipynb", as_version=4)
    intro = nb.cells[0].source
    readme = (HW5 / "README.md").read_text(encoding="utf-8")
    for where, text in (("hw5.ipynb", intro), ("README.md", readme)):
        for phrase in (
            "NumPy 만으로",  # the rule
            "scipy.signal",
            "scipy.ndimage",
            "torch",  # forbidden libraries
            "fast_layers.py",
            "layer_utils.py",  # forbidden kit layers
            "0 점",  # the consequence
            "np.pad",
            "np.einsum",
            "stride tricks",  # allowed NumPy tools
            "공개(visible) 케이스",
            "비공개(hidden) 케이스",  # the case kinds
            "pad=0",
            "부분 점수",  # coverage, partial credit
            "점수를 정하지",
        ):  # local checks do not grade
            assert phrase in text, (where, phrase)
