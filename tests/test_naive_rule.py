"""The naive-layer rule (intro2ai/grading_rules.py): NumPy only, the same guard and Korean
message in the trusted grader's sandbox and in make check."""

from __future__ import annotations

import importlib.util
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from autograder import grader, samples
from intro2ai import grading_rules, layers

REPO = Path(__file__).resolve().parent.parent
RULE_START = grading_rules.RULE_KO[:40]


def _module(tmp_path: Path, body: str, name: str = "student_layers"):
    """A module with a conv_forward_naive(x) of the given body, guarded like layers.py."""
    path = tmp_path / f"{name}.py"
    path.write_text(
        "import numpy as np\n\n\ndef conv_forward_naive(x):\n"
        + textwrap.indent(textwrap.dedent(body).strip("\n"), "    ")
        + "\n"
    )
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    grading_rules.guard(module, extra_files=(str(path),))
    return module


X = np.arange(16.0).reshape(1, 1, 4, 4)


@pytest.mark.parametrize(
    "body",
    [
        "return np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1))).sum()",
        "v = np.lib.stride_tricks.sliding_window_view(x, (2, 2), axis=(2, 3))\n"
        "return np.einsum('nchwij->nchw', v)",
        "import math, itertools\nreturn math.fsum(x.ravel()) + len(list(itertools.repeat(0, 2)))",
    ],
)
def test_numpy_and_the_standard_library_are_allowed(tmp_path, body):
    module = _module(tmp_path, body)
    assert np.all(np.isfinite(module.conv_forward_naive(X)))
    assert sys.getprofile() is None  # the guard leaves no hook behind


@pytest.mark.parametrize(
    "body, used",
    [
        (
            "from scipy import signal\nreturn signal.correlate(x[0, 0], np.ones((2, 2)), mode='valid')",
            "scipy",
        ),
        ("import scipy.ndimage\nreturn scipy.ndimage.maximum_filter(x, size=2)", "scipy"),
        (
            "from intro2ai import fast_layers\n"
            "return fast_layers.max_pool_forward_fast(x, {'pool_height': 2, 'pool_width': 2, "
            "'stride': 2})[0]",
            "fast_layers",
        ),
        (
            "from intro2ai import layer_utils\n"
            "return layer_utils.affine_relu_forward(x.reshape(1, -1), np.ones((16, 2)), np.zeros(2))[0]",
            "layer_utils",
        ),
        ("import torch\nreturn torch.from_numpy(x)", "torch"),
        (
            "try:\n    from scipy import signal\n    signal.correlate(x, x)\nexcept Exception:\n"
            "    pass\nreturn x.sum()",
            "scipy",
        ),  # swallowing the refusal does not help
        ("import sys\nsys.setprofile(None)\nreturn x.sum()", "sys.setprofile"),
    ],
)
def test_other_libraries_and_the_fast_layers_are_refused(tmp_path, body, used):
    module = _module(tmp_path, body)
    with pytest.raises(grading_rules.NaiveRuleError) as info:
        module.conv_forward_naive(X)
    assert str(info.value).startswith(grading_rules.RULE_KO) and used in str(info.value)
    assert sys.getprofile() is None


def test_functions_bound_before_the_call_are_refused_too(tmp_path):
    import scipy.signal  # noqa: F401  (already imported: no import inside the call)

    path = tmp_path / "bound.py"
    path.write_text(
        "import numpy as np\nfrom scipy.signal import correlate\n"
        "from intro2ai.fast_layers import conv_forward_fast\n\n"
        "def conv_forward_naive(x):\n    return correlate(x, x)\n\n"
        "def max_pool_forward_naive(x):\n"
        "    return conv_forward_fast(x, np.ones((1, 1, 1, 1)), np.zeros(1),"
        " {'stride': 1, 'pad': 0})[0]\n"
    )
    spec = importlib.util.spec_from_file_location("bound", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # importing them at the top costs nothing
    grading_rules.guard(module, extra_files=(str(path),))
    for fn in (module.conv_forward_naive, module.max_pool_forward_naive):
        with pytest.raises(grading_rules.NaiveRuleError):
            fn(X)


def test_a_fake_torch_package_is_refused(tmp_path, monkeypatch):
    pkg = tmp_path / "site" / "torch"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("def conv2d(x, w):\n    return x\n")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    # The fake leaves sys.modules afterwards (monkeypatch.delitem would put it back at teardown,
    # and a later test in this process would import it as torch).
    real = sys.modules.pop("torch", None)
    try:
        import torch  # the fake one, imported outside the call

        assert torch.conv2d(1, 2) == 1
        module = _module(tmp_path, "import torch\nreturn torch.conv2d(x, x)")
        with pytest.raises(grading_rules.NaiveRuleError, match="torch"):
            module.conv_forward_naive(X)
    finally:
        sys.modules.pop("torch", None)
        if real is not None:
            sys.modules["torch"] = real


def test_errors_and_interrupts_of_the_student_code_pass_through(tmp_path):
    module = _module(tmp_path, "raise ValueError('mine')")
    with pytest.raises(ValueError, match="mine"):
        module.conv_forward_naive(X)
    module = _module(tmp_path, "raise KeyboardInterrupt", name="interrupting")
    with pytest.raises(KeyboardInterrupt):
        module.conv_forward_naive(X)


def test_the_reference_layers_obey_the_rule(tmp_path):
    path = tmp_path / "intro2ai_layers.py"
    path.write_text((REPO / "intro2ai" / "layers.py").read_text(encoding="utf-8"))
    spec = importlib.util.spec_from_file_location("ref_layers_guarded", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    grading_rules.guard(module, extra_files=(str(path),))
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal((2, 3, 5, 5)), rng.standard_normal((2, 3, 3, 3)), np.ones(2)
    out, cache = module.conv_forward_naive(x, w, b, {"stride": 1, "pad": 1})
    dx, dw, db = module.conv_backward_naive(np.ones_like(out), cache)
    ref, _ = layers.conv_forward_naive(x, w, b, {"stride": 1, "pad": 1})
    assert np.array_equal(out, ref) and dx.shape == x.shape
    pp = {"pool_height": 2, "pool_width": 3, "stride": 1}
    out, cache = module.max_pool_forward_naive(x, pp)
    assert module.max_pool_backward_naive(np.ones_like(out), cache).shape == x.shape


# --------------------------------------------------------------------------- in the grader


def _submission(root: Path, regions: dict) -> Path:
    for rel in samples.FILES:
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(samples.build_file(rel, {"regions": regions}), encoding="utf-8")
    return root


def test_the_grader_refuses_scipy_torch_and_fast_layers_with_the_rule(tmp_path):
    sub = _submission(
        tmp_path / "sub",
        {
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
            "max_pool_backward_naive": (
                "body",
                """
            from intro2ai import fast_layers
            dx = fast_layers.max_pool_backward_fast(dout, cache)
        """,
            ),
        },
    )
    rec = grader.grade_submission(
        sub,
        seed="rule",
        tasks=(
            "hw5_conv_forward",
            "hw5_conv_backward",
            "hw5_max_pool_forward",
            "hw5_max_pool_backward",
        ),
    )
    for task, used in (
        ("hw5_conv_forward", "scipy"),
        ("hw5_max_pool_forward", "torch"),
        ("hw5_max_pool_backward", "fast_layers"),
    ):
        t = rec["tasks"][task]
        assert t["points"] == 0 and t["status"] == "error", (task, t["message"])
        assert RULE_START in t["message"] and used in t["message"], t["message"]
        assert "NaiveRuleError" in t["message"]
    # The backward task calls the student's forward only for its cache: a refused forward is
    # graded with the standard cache, and the backward itself is the reference.
    assert rec["tasks"]["hw5_conv_backward"]["points"] == 25


def test_importing_the_refused_modules_at_the_top_costs_nothing_in_the_grader(tmp_path):
    """The rule refuses calls, not imports: the same in the grader (where scipy and the compiled
    fast layers are not in the sandbox at all, only their refusing stand-ins) as in make check."""
    ref = (REPO / "intro2ai" / "layers.py").read_text(encoding="utf-8")
    header = (
        "import scipy\nimport scipy.signal\nfrom scipy.ndimage import maximum_filter\n"
        "from intro2ai import _im2col_cython, fast_layers, layer_utils\n"
    )
    sub = tmp_path / "sub"
    (sub / "intro2ai" / "classifiers").mkdir(parents=True)
    (sub / "intro2ai" / "layers.py").write_text(ref + "\n" + header, encoding="utf-8")
    (sub / "intro2ai" / "classifiers" / "cnn.py").write_text(
        (REPO / "intro2ai" / "classifiers" / "cnn.py").read_text(encoding="utf-8")
    )
    tasks = (
        "hw5_conv_forward",
        "hw5_conv_backward",
        "hw5_max_pool_forward",
        "hw5_max_pool_backward",
    )
    rec = grader.grade_submission(sub, seed="imports", tasks=tasks)
    for task in tasks:
        t = rec["tasks"][task]
        assert t["points"] == t["max_points"], (task, t["message"])


def test_the_callers_garbage_collected_during_a_call_is_not_the_students(tmp_path, monkeypatch):
    """A suspended generator of another library, freed by the cyclic collector while the
    student's function runs, must not read as the student calling that library."""
    import gc

    (tmp_path / "foreign_lib.py").write_text(
        "class Scanner:\n    def __init__(self):\n        self.tokens = self.lex()\n"
        "        next(self.tokens)\n\n    def lex(self):\n        yield 1\n        yield 2\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    import foreign_lib

    module = _module(tmp_path, "junk = [[i] for i in range(100_000)]\nreturn x")
    enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(50):
            foreign_lib.Scanner()  # each a cycle: scanner -> generator -> frame -> scanner
    finally:
        if enabled:
            gc.enable()
    assert module.conv_forward_naive(X) is X
