"""Unit tests of the trusted grader: rubric, cases, result-stream parsing, comparison, hints, CLI."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from autograder import cases, grader, mistakes, samples, sandbox
from autograder.results import FileNote, FileProblem
from intro2ai import layers

REPO = Path(__file__).resolve().parent.parent

RUBRIC = grader.load_rubric()


def test_rubric_points_and_slots_match_the_cases():
    assert sum(sum(t["cases"].values()) for t in RUBRIC["tasks"].values()) == 100
    assert tuple(RUBRIC["tasks"]) == cases.TASKS
    for task, spec in RUBRIC["tasks"].items():
        assert [c.name for c in cases.make_cases(task, "x")] == list(spec["cases"])
    for name in ("forward", "backward", "numerical", "model"):
        assert 0 < RUBRIC["tolerances"][name] < 1e-2


def _arrays(task, seed):
    return [
        {k: v.tolist() for k, v in c.arrays.items()} | {"p": c.params}
        for c in cases.make_cases(task, seed)
    ]


@pytest.mark.parametrize("task", cases.TASKS)
def test_hidden_cases_come_from_the_seed_visible_cases_do_not(task):
    a, b, a2 = (cases.make_cases(task, s) for s in ("seed-a", "seed-b", "seed-a"))
    assert _arrays(task, "seed-a") == _arrays(task, "seed-a")
    for ca, cb, ca2 in zip(a, b, a2):
        assert ca.describe() == ca2.describe()
        same = json.dumps({k: v.tolist() for k, v in ca.arrays.items()} | ca.params) == json.dumps(
            {k: v.tolist() for k, v in cb.arrays.items()} | cb.params
        )
        assert same == (not ca.hidden), ca.name


def test_hidden_cases_cover_the_hard_geometries():
    seen = set()
    for seed in range(12):
        for task in cases.TASKS[:4]:
            for c in cases.make_cases(task, str(seed)):
                if not c.hidden:
                    continue
                x = c.arrays["x"]
                assert all(a.dtype == np.float64 for k, a in c.arrays.items())
                seen.add(("batch1",) if x.shape[0] == 1 else ())
                seen.add(("one_channel",) if x.shape[1] == 1 else ())
                seen.add(("nonsquare_x",) if x.shape[2] != x.shape[3] else ())
                p = c.params.get("conv_param") or c.params["pool_param"]
                seen.add(("stride>1",) if p["stride"] > 1 else ())
                if "w" in c.arrays:
                    seen.add(("pad>0",) if p["pad"] > 0 else ())
                    w = c.arrays["w"]
                    seen.add(("nonsquare_w",) if w.shape[2] != w.shape[3] else ())
                else:
                    seen.add(("nonsquare_pool",) if p["pool_height"] != p["pool_width"] else ())
                    if "ties" in c.name:
                        flat = x.reshape(-1)
                        assert len(np.unique(flat)) < flat.size  # there are ties
    for want in (
        "batch1",
        "one_channel",
        "nonsquare_x",
        "stride>1",
        "pad>0",
        "nonsquare_w",
        "nonsquare_pool",
    ):
        assert (want,) in seen, want


def test_secret_seed_precedence(tmp_path, monkeypatch):
    monkeypatch.setattr(cases, "SEED_FILE", tmp_path / ".grader_seed")
    monkeypatch.delenv(cases.SEED_ENV, raising=False)
    created = cases.secret_seed()
    assert (tmp_path / ".grader_seed").read_text().strip() == created
    assert cases.secret_seed() == created  # stable
    monkeypatch.setenv(cases.SEED_ENV, "from-env")
    assert cases.secret_seed() == "from-env"
    assert cases.secret_seed(7) == "7"


def _record(header: dict, payload: bytes = b"") -> bytes:
    h = json.dumps(header).encode()
    return b"R" + len(h).to_bytes(4, "big") + h + len(payload).to_bytes(8, "big") + payload


def _npy(arr, allow_pickle=False) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=allow_pickle)
    return buf.getvalue()


def test_parse_stream_is_strict_and_marks_forgeries():
    good = np.arange(6.0).reshape(2, 3)
    stream = (
        _record({"kind": "array", "case": 0, "key": "out"}, _npy(good))
        + _record({"kind": "array", "case": 0, "key": "out"}, _npy(good * 0))  # duplicate
        + _record(
            {"kind": "array", "case": 1, "key": "out"},
            _npy(np.array([object()], dtype=object), allow_pickle=True),
        )  # pickle
        + _record({"kind": "done", "case": 0, "points": 100})
        + _record({"kind": "array", "case": 9, "key": "out"}, _npy(good))  # unknown case
        + b"garbage that is not a record"
        + _record({"kind": "done", "case": 1})
    )
    res, problem, code = sandbox.parse_stream(stream, 2)
    assert res[0].tampered and res[0].done  # a second record for a key: the case earns 0
    assert "out" not in res[1].arrays and res[1].bad and not res[1].done
    assert problem == "corrupt result stream" and code is None


def test_parse_stream_reads_the_relays_exit_record():
    res, problem, code = sandbox.parse_stream(
        _record({"kind": "done", "case": 0}) + _record({"kind": "exit", "code": 152}), 1
    )
    assert res[0].done and problem is None and code == 152


def test_compare_reasons():
    ref = np.ones((2, 3))
    assert grader.compare("out", ref + 1e-12, ref, 1e-7)["passed"]
    assert grader.compare("out", ref + 1e-12, ref, 1e-7)["failure"] is None
    assert grader.compare("out", None, ref, 1e-7)["failure"].kind == "missing"
    shape = grader.compare("out", np.ones((3, 2)), ref, 1e-7)["failure"]
    assert (shape.kind, shape.expected, shape.received) == ("shape", "(2, 3)", "(3, 2)")
    dtype = grader.compare("out", ref.astype(np.float32), ref, 1e-7)["failure"]
    assert (dtype.kind, dtype.expected, dtype.received) == ("dtype", "float64", "float32")
    bad = ref.copy()
    bad[0, 0] = np.nan
    assert grader.compare("out", bad, ref, 1e-7)["failure"].kind == "nan_inf"
    c = grader.compare("out", ref * 1.1, ref, 1e-7)
    assert not c["passed"] and c["error"] == pytest.approx(0.1) and c["failure"].kind == "value"
    assert grader.compare("loss", np.array([2.0]), np.array(2.0), 1e-7)["passed"]


def test_mistake_oracles_agree_with_the_reference():
    rng = np.random.default_rng(0)
    x, w, b = (
        rng.standard_normal((2, 3, 7, 6)),
        rng.standard_normal((4, 3, 3, 2)),
        rng.standard_normal(4),
    )
    cp = {"stride": 2, "pad": 1}
    ref, cache = layers.conv_forward_naive(x, w, b, cp)
    assert np.allclose(mistakes.conv_forward(x, w, b, 2, 1), ref)
    dout = rng.standard_normal(ref.shape)
    dx, dw, _ = mistakes.conv_backward(dout, x, w, 2, 1)
    rdx, rdw, _ = layers.conv_backward_naive(dout, cache)
    assert np.allclose(dx, rdx) and np.allclose(dw, rdw)
    xt = rng.integers(0, 3, size=(2, 2, 5, 7)).astype(np.float64)  # ties
    pp = {"pool_height": 3, "pool_width": 3, "stride": 2}
    out, pcache = layers.max_pool_forward_naive(xt, pp)
    assert np.allclose(mistakes.pool_forward(xt, 3, 3, 2), out)
    d = rng.standard_normal(out.shape)
    assert np.allclose(
        mistakes.pool_backward(xt, d, 3, 3, 2), layers.max_pool_backward_naive(d, pcache)
    )


def test_diagnosis_names_the_mistake():
    rng = np.random.default_rng(1)
    x, w, b = (
        rng.standard_normal((2, 3, 5, 5)),
        rng.standard_normal((2, 3, 3, 3)),
        rng.standard_normal(2),
    )
    cp = {"stride": 2, "pad": 1}
    variants = mistakes.conv_forward_mistakes(x, w, b, cp)
    wrong = layers.conv_forward_naive(x, w, np.zeros(2), cp)[0]
    assert grader._diagnose("out", wrong, variants) == ["bias_missing"]
    flipped = layers.conv_forward_naive(x, w[:, :, ::-1, ::-1].copy(), b, cp)[0]
    assert "kernel_flipped" in grader._diagnose("out", flipped, variants)
    assert all(k in mistakes.MISTAKE_KO for k in variants)
    # A complex array is no known mistake, whatever its real part (and no grade: a dtype failure).
    assert grader._diagnose("out", wrong + 1j, variants) == []


def _submission(root: Path, layers_text: str | None, cnn_text: str | None) -> Path:
    (root / "intro2ai" / "classifiers").mkdir(parents=True)
    if layers_text is not None:
        (root / "intro2ai" / "layers.py").write_text(layers_text)
    if cnn_text is not None:
        (root / "intro2ai" / "classifiers" / "cnn.py").write_text(cnn_text)
    return root


def test_missing_and_symlinked_files_are_graded_as_stubs(tmp_path):
    ref_layers = (REPO / "intro2ai" / "layers.py").read_text()
    sub = _submission(tmp_path / "s", ref_layers, None)
    (tmp_path / "t" / "intro2ai" / "classifiers").mkdir(parents=True)
    os.symlink(REPO / "intro2ai" / "layers.py", tmp_path / "t" / "intro2ai" / "layers.py")
    files, notes = sandbox.read_submission(sub)
    assert "intro2ai/layers.py" in files
    assert notes == [FileNote(FileProblem.MISSING, "intro2ai/classifiers/cnn.py")]
    files, notes = sandbox.read_submission(tmp_path / "t")
    assert files == {} and FileNote(FileProblem.REFUSED, "intro2ai/layers.py") in notes
    rec = grader.grade_submission(
        tmp_path / "t", seed=1, tasks=("hw5_conv_forward", "hw5_three_layer_convnet")
    )
    assert rec["tasks"]["hw5_conv_forward"]["status"] == "not_attempted"
    assert "링크" in rec["tasks"]["hw5_conv_forward"]["message"]
    assert "없어" in rec["tasks"]["hw5_three_layer_convnet"]["message"]
    assert {"problem": "refused", "path": "intro2ai/layers.py"} in rec["notes"]
    with pytest.raises(NotADirectoryError):
        grader.grade_submission(tmp_path / "nope")


def test_exceptions_become_grades_with_student_line(tmp_path):
    text = samples.build_file(
        "intro2ai/layers.py",
        {"regions": {"conv_forward_naive": ("body", "raise ValueError('boom from student')")}},
    )
    sub = _submission(tmp_path / "s", text, None)
    rec = grader.grade_submission(sub, seed=3, tasks=("hw5_conv_forward",))
    task = rec["tasks"]["hw5_conv_forward"]
    assert task["points"] == 0 and task["status"] == "error"
    assert "ValueError: boom from student" in task["message"]
    assert "intro2ai/layers.py:" in task["message"]
    assert "_sandbox_child" not in task["message"] and "Traceback" not in task["message"]


def test_cli_prints_one_json_object(tmp_path):
    samples.build_samples(tmp_path, names=["reference"])
    proc = subprocess.run(
        [sys.executable, "-m", "autograder", "grade", str(tmp_path / "reference"), "--json"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    rec = json.loads(proc.stdout)
    assert rec["total"] == 100 and rec["max_total"] == 100
    assert set(rec["tasks"]) == set(cases.TASKS)
    for t in rec["tasks"].values():
        assert set(t) == {"points", "max_points", "status", "message"}
        assert t["status"] == "pass" and "통과" in t["message"]


def test_malformed_results_are_a_grade_not_a_crash():
    case = cases.make_cases("hw5_conv_forward", "m")[0]
    weird = np.zeros(3, dtype=[("a", "f8"), ("b", "i4")])
    res = sandbox.CaseResult(
        arrays={"out": weird, "post_x": weird, "post_w": np.zeros(2)}, done=True
    )
    run = sandbox.TaskRun({0: res}, 0, False, {"level": "full"}, None, 0, 0.1)
    rec = grader.grade_task("hw5_conv_forward", [case], run, RUBRIC, [])
    assert rec.points == 0 and rec.cases[0].status in ("fail", "error")
    assert rec.message


def test_diagnostic_records_may_follow_done():
    stream = (
        _record({"kind": "done", "case": 0})
        + _record({"kind": "diag", "case": 0, "key": "num_dx"}, _npy(np.ones(3)))
        + _record({"kind": "diag", "case": 0, "key": "dx"}, _npy(np.ones(3)))
    )
    res, problem, _ = sandbox.parse_stream(stream, 1)
    assert problem is None and set(res[0].arrays) == {"num_dx"}


def test_rubric_file_drives_points_and_tolerances(tmp_path):
    text = grader.RUBRIC_PATH.read_text(encoding="utf-8")
    text = text.replace("visible_basic = 4,", "visible_basic = 10,", 1)
    text = text.replace("forward = 1e-7", "forward = 1e-30", 1)  # nothing can pass now
    rubric = tmp_path / "rubric.toml"
    rubric.write_text(text, encoding="utf-8")
    samples.build_samples(tmp_path, names=["reference"])
    rec = grader.grade_submission(
        tmp_path / "reference", seed=2, rubric_path=rubric, tasks=("hw5_conv_forward",)
    )
    task = rec["tasks"]["hw5_conv_forward"]
    assert task["max_points"] == 26
    assert task["cases"][0]["max_points"] == 10
    # Exact-equal outputs still pass (error 0); the others fail at this absurd tolerance.
    assert all(c["points"] in (0, c["max_points"]) for c in task["cases"])


def test_forged_npy_headers_are_rejected_before_allocation():
    good = _npy(np.arange(4.0))
    assert np.array_equal(sandbox.load_npy(good), np.arange(4.0))
    claim = b"(9999999999999,), }"  # same header length, a 80 TB size claim
    huge = good.replace(b"(4,), }" + b" " * (len(claim) - 7), claim)
    assert huge != good and len(huge) == len(good)
    with pytest.raises(ValueError):
        sandbox.load_npy(good.replace(b"(4,)", b"(5,)"))
    with pytest.raises(ValueError):
        sandbox.load_npy(huge)
    with pytest.raises(ValueError):
        sandbox.load_npy(_npy(np.array([object()], dtype=object), allow_pickle=True))


def test_importing_fast_layers_costs_nothing_calling_them_in_a_naive_task_does(tmp_path):
    ref = (REPO / "intro2ai" / "layers.py").read_text()
    top_import = "from intro2ai import fast_layers  # compared in the notebook\n"
    imported = ref.replace("import numpy as np\n", "import numpy as np\n" + top_import, 1)
    assert imported != ref
    rec = grader.grade_submission(
        _submission(tmp_path / "imp", imported, None),
        seed=5,
        tasks=("hw5_conv_forward", "hw5_max_pool_forward"),
    )
    for task in ("hw5_conv_forward", "hw5_max_pool_forward"):
        assert rec["tasks"][task]["status"] == "pass", rec["tasks"][task]
    forwarded = samples.build_file(
        "intro2ai/layers.py",
        {
            "regions": {
                "conv_forward_naive": (
                    "body",
                    "out = fast_layers.conv_forward_fast(x, w, b, conv_param)[0]",
                )
            }
        },
    )
    forwarded = forwarded.replace("import numpy as np\n", "import numpy as np\n" + top_import, 1)
    rec = grader.grade_submission(
        _submission(tmp_path / "fwd", forwarded, None), seed=5, tasks=("hw5_conv_forward",)
    )
    task = rec["tasks"]["hw5_conv_forward"]
    assert task["points"] == 0 and task["status"] == "error"
    assert "fast layer" in task["message"]
