"""Red team of the naive-layer rule in the trusted grader: library or fast-layer code in a naive
task earns nothing, however it is reached.

The in-process guard (intro2ai.grading_rules.guard) is defence in depth only: student code runs
in the same interpreter and can switch it off (rebind the wrapped function in its first call,
patch grading_rules._Scope, work in a thread started at import, call compiled Cython functions,
which raise no profile event). What holds in the grader is the box of a naive task: the fast
modules are stubs, the compiled module is deleted, the kit's own folder is not visible. Each
attack below is first shown to work where that code exists (this process), then graded.

Before the sandbox merge (3bb5e96) scipy, a kit dependency, was importable in the box, and a
layers.py that switched the guard off at import time got 20/20 conv forward and 15/15 max-pool
forward with scipy.signal / scipy.ndimage. The box of a naive task now sees NumPy only (the
fix is that allowlist, not a better guard); the tests below keep it so.
"""

from __future__ import annotations

import importlib.util
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from autograder import grade_submission, samples
from intro2ai import fast_layers

# Switch the in-process guard off, whatever grading_rules is (a student can do this in layers.py).
GUARD_OFF = """
try:
    from intro2ai import grading_rules as _g
    _g._Scope.file_allowed = lambda self, f: True
    _g._Scope.module_allowed = lambda self, m: True
    _g._ImportRefuser.find_spec = lambda self, *a, **k: None
except Exception:
    pass
"""

ATTACKS = {
    # The compiled pool kernel of the fast layers, called directly (a Cython function: no
    # profile event, so the guard never sees it).
    samples.POOL_F: (
        "body",
        """
        from intro2ai import _im2col_cython as _C
        ph, pw, stride = pool_param['pool_height'], pool_param['pool_width'], pool_param['stride']
        N, C, H, W = x.shape
        out = np.empty((N, C, (H - ph) // stride + 1, (W - pw) // stride + 1))
        idx = np.empty(out.shape, dtype=np.int32)
        _C.maxpool_forward(np.ascontiguousarray(x), out, idx, ph, pw, stride)
    """,
    ),
    # The real fast_layers.py, loaded from the kit's folder found through the editable install
    # (the box's intro2ai/fast_layers.py is a stub), with the guard switched off first.
    samples.CONV_F: (
        "body",
        """
        import glob, importlib.util, os, re
        _site = os.path.dirname(os.path.dirname(np.__file__))
        _kit = None
        for _f in glob.glob(os.path.join(_site, '__editable__*intro2ai*finder.py')):
            _m = re.search(r"'intro2ai': '([^']+)'", open(_f).read())
            _kit = _m and _m.group(1)
        _spec = importlib.util.spec_from_file_location('_real_fast', os.path.join(_kit, 'fast_layers.py'),
                                                       submodule_search_locations=None)
        _fl = importlib.util.module_from_spec(_spec)
        _fl.__package__ = 'intro2ai'
        _spec.loader.exec_module(_fl)
        out = _fl.conv_forward_fast(x, w, b, conv_param)[0]
    """,
    ),
    # A worker thread started at import time (never profiled) runs the fast layers.
    samples.POOL_B: (
        "body",
        """
        _JOBS.put((dout, cache))
        dx = _DONE.get(timeout=5)
    """,
    ),
}
APPEND = GUARD_OFF + textwrap.dedent("""
    import queue as _queue, threading as _threading
    _JOBS, _DONE = _queue.Queue(), _queue.Queue()

    def _worker():
        from intro2ai import fast_layers as _fl
        while True:
            _dout, _cache = _JOBS.get()
            try:
                _x, _pp = _cache
                _out, _c = _fl.max_pool_forward_fast(_x, _pp)
                _DONE.put(_fl.max_pool_backward_fast(_dout, _c))
            except Exception as _exc:
                _DONE.put(_exc)

    _threading.Thread(target=_worker, daemon=True).start()
""")
NAIVE = ("hw5_conv_forward", "hw5_max_pool_forward", "hw5_max_pool_backward")


@pytest.fixture(scope="module")
def attack(tmp_path_factory) -> Path:
    sub = tmp_path_factory.mktemp("attack")
    recipe = {"regions": ATTACKS, "append": {"intro2ai/layers.py": APPEND}}
    for rel in samples.FILES:
        (sub / rel).parent.mkdir(parents=True, exist_ok=True)
        (sub / rel).write_text(samples.build_file(rel, recipe), encoding="utf-8")
    return sub


def test_the_attacks_compute_the_right_answers_where_the_fast_code_exists(attack, tmp_path):
    # Without the switch-off: this process's guard must stay intact for the other tests.
    text = (attack / "intro2ai" / "layers.py").read_text(encoding="utf-8")
    assert GUARD_OFF.strip("\n") in text
    plain = tmp_path / "layers_plain.py"
    plain.write_text(text.replace(GUARD_OFF.strip("\n"), ""), encoding="utf-8")
    spec = importlib.util.spec_from_file_location("_redteam_layers", plain)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    try:
        spec.loader.exec_module(mod)
        rng = np.random.default_rng(0)
        x, w, b = (
            rng.standard_normal((2, 3, 6, 6)),
            rng.standard_normal((4, 3, 3, 3)),
            rng.standard_normal(4),
        )
        cp, pp = {"stride": 1, "pad": 1}, {"pool_height": 2, "pool_width": 2, "stride": 2}
        assert np.allclose(
            mod.conv_forward_naive(x, w, b, cp)[0], fast_layers.conv_forward_fast(x, w, b, cp)[0]
        )
        out, cache = mod.max_pool_forward_naive(x, pp)
        assert np.array_equal(out, fast_layers.max_pool_forward_fast(x, pp)[0])
        dout = rng.standard_normal(out.shape)
        ref = fast_layers.max_pool_backward_fast(dout, fast_layers.max_pool_forward_fast(x, pp)[1])
        assert np.allclose(mod.max_pool_backward_naive(dout, cache), ref)
    finally:
        sys.modules.pop(spec.name, None)


def test_library_code_in_a_naive_task_earns_nothing_from_the_grader(attack):
    rec = grade_submission(attack, seed="redteam-rule", tasks=NAIVE)
    points = {t: rec["tasks"][t]["points"] for t in NAIVE}
    assert points == dict.fromkeys(NAIVE, 0), {t: rec["tasks"][t]["message"] for t in NAIVE}


# Libraries with a convolution or pooling. The guard cannot stop compiled calls (see the module
# docstring), so the rule holds in the grader only while none of them can be imported in a naive
# task's box: this fails when one is installed in the grading environment.
CONV_LIBRARIES = (
    "scipy",
    "torch",
    "tensorflow",
    "jax",
    "cupy",
    "numba",
    "cv2",
    "skimage",
    "numexpr",
    "keras",
    "mxnet",
    "theano",
    "chainer",
    "paddle",
    "onnxruntime",
)


def test_no_library_with_a_convolution_is_importable_in_a_naive_task(tmp_path):
    # Looked up at import time (the guard refuses imports inside a naive function); the box's
    # own refusing stand-ins (scipy/ in the box) do not count.
    top = f"""
        import importlib.util as _u, os as _os
        _BOX = _os.path.dirname(_os.path.dirname(_os.path.abspath(__file__))) + _os.sep
        _FOUND = [m for m in {CONV_LIBRARIES!r}
                  if (_s := _u.find_spec(m)) is not None and not (_s.origin or '').startswith(_BOX)]
    """
    recipe = {
        "regions": {
            samples.POOL_F: ("body", "raise RuntimeError('FOUND[' + ','.join(_FOUND) + ']')")
        },
        "append": {"intro2ai/layers.py": top},
    }
    sub = tmp_path / "sub"
    for rel in samples.FILES:
        (sub / rel).parent.mkdir(parents=True, exist_ok=True)
        (sub / rel).write_text(samples.build_file(rel, recipe), encoding="utf-8")
    rec = grade_submission(sub, seed="redteam-rule", tasks=("hw5_max_pool_forward",))
    assert "FOUND[]" in rec["tasks"]["hw5_max_pool_forward"]["message"], rec["tasks"][
        "hw5_max_pool_forward"
    ]["message"]


SCIPY_ATTACK = {
    samples.CONV_F: (
        "body",
        """
        import scipy.signal as _sig
        stride, pad = conv_param['stride'], conv_param['pad']
        xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
        out = np.stack([np.stack([_sig.correlate(xp[n], w[f], mode='valid', method='direct')
                                  [0, ::stride, ::stride] + b[f] for f in range(w.shape[0])])
                        for n in range(x.shape[0])])
    """,
    ),
    samples.POOL_F: (
        "body",
        """
        import scipy.ndimage as _nd
        ph, pw, s = pool_param['pool_height'], pool_param['pool_width'], pool_param['stride']
        m = _nd.maximum_filter(x, size=(1, 1, ph, pw), origin=(0, 0, -(ph // 2), -(pw // 2)),
                               mode='nearest')
        out = m[:, :, :x.shape[2] - ph + 1:s, :x.shape[3] - pw + 1:s].copy()
    """,
    ),
}


def test_scipy_behind_a_switched_off_guard_earns_nothing(tmp_path):
    recipe = {"regions": SCIPY_ATTACK, "append": {"intro2ai/layers.py": GUARD_OFF}}
    sub = tmp_path / "sub"
    for rel in samples.FILES:
        (sub / rel).parent.mkdir(parents=True, exist_ok=True)
        (sub / rel).write_text(samples.build_file(rel, recipe), encoding="utf-8")
    tasks = ("hw5_conv_forward", "hw5_max_pool_forward")
    rec = grade_submission(sub, seed="redteam-rule", tasks=tasks)
    points = {t: rec["tasks"][t]["points"] for t in tasks}
    assert points == dict.fromkeys(tasks, 0), {t: rec["tasks"][t]["message"] for t in tasks}


def test_the_same_scipy_code_is_refused_while_the_guard_is_intact(tmp_path):
    """Without GUARD_OFF the guard sees scipy's Python frames: the hole is the switch-off."""
    sub = tmp_path / "sub"
    for rel in samples.FILES:
        (sub / rel).parent.mkdir(parents=True, exist_ok=True)
        (sub / rel).write_text(samples.build_file(rel, {"regions": SCIPY_ATTACK}), encoding="utf-8")
    tasks = ("hw5_conv_forward", "hw5_max_pool_forward")
    rec = grade_submission(sub, seed="redteam-rule", tasks=tasks)
    assert {t: rec["tasks"][t]["points"] for t in tasks} == dict.fromkeys(tasks, 0)
    assert all("NaiveRuleError" in rec["tasks"][t]["message"] for t in tasks)
