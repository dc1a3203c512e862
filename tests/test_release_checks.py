"""The students' local checks (make check) in a release: data instead of oracles, the grader's
Korean hints, the naive-layer rule, and nothing in checks/ worth pasting."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
import unicodedata
from pathlib import Path

import numpy as np
import pytest

from autograder import cases, checkdata, grader, release, samples
from intro2ai import grading_rules

REPO = Path(__file__).resolve().parent.parent
PY = sys.executable
KO = grading_rules.MISTAKE_KO
TASKS = cases.TASKS


def _env() -> dict:
    env = dict(os.environ)
    env["PATH"] = str(Path(PY).parent) + os.pathsep + env.get("PATH", "")
    env.update({"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MPLBACKEND": "Agg"})
    env.pop("PYTHONPATH", None)
    return env


@pytest.fixture(scope="module")
def release_dir(tmp_path_factory) -> Path:
    """The student side of a release as `make release` writes it (without the notebook)."""
    home = tmp_path_factory.mktemp("release") / "hw5"
    shutil.copytree(
        REPO / "assignments" / "source" / "hw5",
        home,
        ignore=shutil.ignore_patterns("__pycache__", "*.ipynb"),
    )
    release.write_student_package(REPO, home)
    checkdata.write(home / "checks")
    return home


def _student(release_dir: Path, tmp_path: Path, regions: dict) -> Path:
    home = tmp_path / "hw5"
    shutil.copytree(release_dir, home)
    for rel in samples.FILES:
        (home / rel).write_text(samples.build_file(rel, {"regions": regions}), encoding="utf-8")
    return home


def _check(home: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["make", "check", *args, f"PYTHON={PY}"],
        cwd=home,
        env=_env(),
        capture_output=True,
        text=True,
    )


def _width(line: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in line)


def _row(out: str, task: str) -> str:
    """The task's row and its message lines, joined."""
    lines = out.splitlines()
    i = next(i for i, ln in enumerate(lines) if ln.startswith(task))
    block = [lines[i]]
    for line in lines[i + 1 :]:
        if not line.startswith("    "):
            break
        block.append(line.strip())
    return " ".join(block)


# Known mistakes (autograder/samples recipes and real-code variants): the hint make check names.
MISTAKES = {
    "conv_no_bias": (
        "hw5_conv_forward",
        samples.SAMPLES["conv_no_bias"]["regions"],
        "bias_missing",
    ),
    "conv_flipped": (
        "hw5_conv_forward",
        samples.SAMPLES["conv_flipped"]["regions"],
        "kernel_flipped",
    ),
    "convb_no_crop": (
        "hw5_conv_backward",
        samples.SAMPLES["convb_no_crop"]["regions"],
        "dx_not_cropped",
    ),
    "convb_crop_negative": (
        "hw5_conv_backward",
        {
            "conv_backward_naive": (
                "sub",
                "dx = dx_pad[:, :, pad:pad + H, pad:pad + W]",
                "dx = dx_pad[:, :, pad:-pad, pad:-pad]",
            )
        },
        "dx_crop_empty",
    ),
    "convb_db_batch_only": (
        "hw5_conv_backward",
        samples.SAMPLES["convb_db_batch_only"]["regions"],
        "db_batch_only",
    ),
    "pool_avg": ("hw5_max_pool_forward", samples.SAMPLES["pool_avg"]["regions"], "avg_pool"),
    "pool_hw_swapped": (
        "hw5_max_pool_forward",
        samples.SAMPLES["pool_hw_swapped"]["regions"],
        "pool_hw_swapped",
    ),
    "poolb_all_max": (
        "hw5_max_pool_backward",
        samples.SAMPLES["poolb_all_max"]["regions"],
        "all_maxima",
    ),
    "poolb_overwrite": (
        "hw5_max_pool_backward",
        samples.SAMPLES["poolb_overwrite"]["regions"],
        "overwrite",
    ),
    "net_no_reg": (
        "hw5_three_layer_convnet",
        samples.SAMPLES["net_no_reg"]["regions"],
        "reg_missing",
    ),
    "cache_padded": (
        "hw5_conv_backward",
        {
            "conv_forward_naive": (
                "sub",
                "out[n, :, i, j] = np.sum(window * w, axis=(1, 2, 3)) + b",
                "out[n, :, i, j] = np.sum(window * w, axis=(1, 2, 3)) + b\nx = x_pad",
            )
        },
        "cache_padded",
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(MISTAKES))
def test_make_check_names_the_known_mistake_in_korean(release_dir, tmp_path, name):
    task, regions, mistake = MISTAKES[name]
    home = _student(release_dir, tmp_path, regions)
    proc = _check(home)
    out = proc.stdout
    assert proc.returncode != 0, out + proc.stderr
    row = _row(out, task)
    assert "실패" in row and KO[mistake] in row, out
    for other in TASKS:
        if other != task and not (name == "cache_padded" and other == "hw5_conv_forward"):
            assert "통과" in _row(out, other), out
    assert all(_width(line) <= 100 for line in out.splitlines()), out
    assert "Traceback" not in out + proc.stderr and "rel_error" not in out


@pytest.mark.slow
def test_verbose_lists_every_failing_case(release_dir, tmp_path):
    home = _student(release_dir, tmp_path, samples.SAMPLES["conv_no_bias"]["regions"])
    short = _check(home, "TASK=hw5_conv_forward").stdout
    full = _check(home, "TASK=hw5_conv_forward", "VERBOSE=1").stdout
    names = [n for n in cases.CHECK_CONV]
    assert sum(f"[{n}]" in short for n in names) == 1
    assert all(f"[{n}]" in full for n in names), full
    assert "hw5_conv_backward" not in full


@pytest.mark.slow
def test_make_check_and_the_grader_refuse_scipy_torch_and_fast_layers_alike(release_dir, tmp_path):
    regions = {
        "conv_forward_naive": (
            "body",
            """
            from scipy import signal
            x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
            out = np.stack([np.stack([signal.correlate(x_pad[n], w[f], mode="valid")[0, ::stride, ::stride] + b[f]
                                      for f in range(w.shape[0])]) for n in range(x.shape[0])])
        """,
        ),
        "max_pool_forward_naive": (
            "body",
            """
            import torch
            out = torch.nn.functional.max_pool2d(torch.from_numpy(x), (pool_height, pool_width), stride).numpy()
        """,
        ),
        "conv_backward_naive": (
            "body",
            """
            from intro2ai import fast_layers
            dx, dw, db = fast_layers.conv_backward_fast(dout, cache)
        """,
        ),
    }
    home = _student(release_dir, tmp_path, regions)
    out = _check(home).stdout
    rec = grader.grade_submission(home, seed="rule-both", tasks=TASKS[:3])["tasks"]
    for task, used in (
        ("hw5_conv_forward", "scipy"),
        ("hw5_max_pool_forward", "torch"),
        ("hw5_conv_backward", "fast_layers"),
    ):
        row = _row(out, task)
        assert "실패" in row and grading_rules.RULE_KO[:60] in row and used in row, out
        assert rec[task]["points"] == 0 and grading_rules.RULE_KO in rec[task]["message"]
        assert used in rec[task]["message"], rec[task]["message"]


# --------------------------------------------------------------------------- no solution inside

_ORACLE = re.compile(
    r"correlate|convolve|sliding_window_view|as_strided|stride_tricks|einsum|"
    r"tensordot|scipy|torch|fast_layers|layer_utils|im2col|conv_forward_fast|"
    r"\.max\(|np\.max|amax|argmax|maximum|eval_numerical_gradient|np\.pad"
)


def test_the_checks_folder_holds_no_convolution_or_pooling_code(release_dir):
    files = sorted((release_dir / "checks").iterdir())
    assert {p.name for p in files if p.is_file()} == {
        "__init__.py",
        "conftest.py",
        "run_checks.py",
        "run_notebook.py",
        "submit.py",
        "test_hw5.py",
        checkdata.FILE_NAME,
    }
    for path in files:
        if path.suffix == ".py":
            hits = [
                (n, ln)
                for n, ln in enumerate(path.read_text().splitlines(), 1)
                if _ORACLE.search(ln)
            ]
            assert not hits, (path.name, hits)
    with np.load(release_dir / "checks" / checkdata.FILE_NAME, allow_pickle=False) as data:
        assert all(data[k].dtype.kind in "fiU" for k in data.files)


def test_the_checks_data_holds_no_graded_case(release_dir):
    with np.load(release_dir / "checks" / checkdata.FILE_NAME, allow_pickle=False) as data:
        shipped = [data[k] for k in data.files if "::in::" in k]
    graded = [
        a
        for seed in ("s1", "s2", "intro2ai-samples")
        for t in TASKS
        for c in cases.make_cases(t, seed)
        for a in c.arrays.values()
    ]
    for arr in shipped:
        assert not any(a.shape == arr.shape and np.array_equal(a, arr) for a in graded)


@pytest.mark.slow
def test_pasting_the_checks_and_their_data_into_a_release_earns_nothing(release_dir, tmp_path):
    """A lookup table of every answer in the checks' data, pasted into layers.py and cnn.py."""
    with np.load(release_dir / "checks" / checkdata.FILE_NAME, allow_pickle=False) as data:
        table = {k: data[k].tolist() for k in data.files if data[k].dtype.kind == "f"}
    lookup = textwrap.dedent(f"""
        import numpy as _np
        _TABLE = {{k: _np.array(v) for k, v in {table!r}.items()}}

        def _answer(task, key, *inputs):
            for name in {{k.split("::")[1] for k in _TABLE if k.startswith(task)}}:
                ins = [v for k, v in sorted(_TABLE.items())
                       if k.startswith(f"{{task}}::{{name}}::in::")]
                if len(ins) >= len(inputs) and all(
                        a.shape == b.shape and _np.array_equal(a, b) for a, b in zip(ins, inputs)):
                    return _TABLE[f"{{task}}::{{name}}::ref::{{key}}"]
            return _np.zeros(1)
    """)
    regions = {
        "conv_forward_naive": ("body", "out = _answer('hw5_conv_forward', 'out', b, w, x)"),
        "conv_backward_naive": (
            "body",
            "dx, dw, db = (_answer('hw5_conv_backward', k, b, dout, w, x) for k in ('dx', 'dw', 'db'))",
        ),
        "max_pool_forward_naive": ("body", "out = _answer('hw5_max_pool_forward', 'out', x)"),
        "max_pool_backward_naive": ("body", "dx = _answer('hw5_max_pool_backward', 'dx', dout, x)"),
    }
    home = _student(release_dir, tmp_path, regions)
    layers_py = home / "intro2ai" / "layers.py"
    layers_py.write_text(layers_py.read_text() + lookup)
    # the lookup works on the checks' own cases...
    assert "통과" in _row(_check(home, "TASK=hw5_max_pool_forward").stdout, "hw5_max_pool_forward")
    # ...and earns nothing from the grader, whose cases are others
    sub = tmp_path / "sub"
    for rel in samples.FILES:
        (sub / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(home / rel, sub / rel)
    shutil.copy(
        release_dir / "intro2ai" / "classifiers" / "cnn.py",
        sub / "intro2ai" / "classifiers" / "cnn.py",
    )  # the stub
    rec = grader.grade_submission(sub, seed="paste")
    assert rec["total"] == 0, {t: r["message"] for t, r in rec["tasks"].items()}


def test_the_leak_check_allows_exactly_the_checks_data(release_dir, tmp_path):
    clean = tmp_path / "rel"
    shutil.copytree(release_dir, clean / "hw5")
    assert not [p for p in release.leak_check(clean) if "checks" in p]
    data = clean / "hw5" / "checks" / checkdata.FILE_NAME
    arrays = dict(np.load(data, allow_pickle=False))
    # a hidden case smuggled into the data file
    hidden = cases.make_cases("hw5_conv_forward", "the-course-seed")[1]
    np.savez(data, **arrays, **{"hw5_conv_forward::hidden::in::x": hidden.arrays["x"]})
    assert any(checkdata.FILE_NAME in p and "differ" in p for p in release.leak_check(clean))
    # a changed answer
    arrays[next(k for k in arrays if "::ref::" in k)] += 1.0
    np.savez(data, **arrays)
    assert any(checkdata.FILE_NAME in p for p in release.leak_check(clean))
    # a pickle, and the same arrays under another name
    np.save(
        clean / "hw5" / "checks" / "more.npy", np.array([object()], dtype=object), allow_pickle=True
    )
    shutil.copy(data, clean / "hw5" / "checks" / "cases.npz")
    problems = release.leak_check(clean)
    assert any("more.npy" in p for p in problems) and any("cases.npz" in p for p in problems)
    data.write_bytes(b"PK\x03\x04 not a zip")
    assert any(checkdata.FILE_NAME in p for p in release.leak_check(clean))


@pytest.mark.slow
def test_an_exception_reads_the_same_in_make_check_and_in_the_grader(release_dir, tmp_path):
    home = _student(
        release_dir,
        tmp_path,
        {"conv_forward_naive": ("body", "out = np.zeros((2, 3)) + np.zeros((4,))")},
    )
    row = _row(_check(home, "TASK=hw5_conv_forward").stdout, "hw5_conv_forward")
    rec = grader.grade_submission(home, seed="same-text", tasks=("hw5_conv_forward",))
    message = rec["tasks"]["hw5_conv_forward"]["message"]
    message = " ".join(message.split())  # make check wraps at spaces
    text = re.search(
        r"실행 중 오류: ValueError: operands could not be broadcast together with "
        r"shapes \(2,3\) \(4,\) \[intro2ai/layers\.py:\d+ \(conv_forward_naive\)\]",
        message,
    )
    assert text, message
    assert text.group(0) in row, row


def test_a_missing_weight_scale_reads_the_same_in_make_check_and_in_the_grader(
    release_dir, tmp_path
):
    home = _student(release_dir, tmp_path, samples.SAMPLES["net_no_weight_scale"]["regions"])
    row = _row(_check(home, "TASK=hw5_three_layer_convnet").stdout, "hw5_three_layer_convnet")
    rec = grader.grade_submission(home, seed="same-text", tasks=("hw5_three_layer_convnet",))
    message = rec["tasks"]["hw5_three_layer_convnet"]["message"]
    phrase = re.compile(
        r"W1: 크기\(RMS\) \S+ 가 weight_scale \S+ 와 맞지 않습니다 "
        r"\(weight_scale \* np\.random\.randn\)"
    )
    assert phrase.search(message) and phrase.search(row), (message, row)
    assert "[check_init]" in row and "실패" in row
