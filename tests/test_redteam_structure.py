"""Red team of the task-table structure: job spec, relay allowlist, typed results, feedback,
the naive rule through the table, the split fast layers and the checks' data file.

A hostile student's ``layers.py`` runs in the worker of the real sandbox (real bwrap, real
grader). Each test asserts outcomes: the attacker's points, an honest submission graded in the
same test keeps its points, and the kit's files are byte-for-byte unchanged.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from autograder import feedback, grade_submission, jail, samples
from autograder.results import PipelineRecord, RecordFormatError, Status, SubmissionResult

REPO = Path(__file__).resolve().parent.parent
EXPECTED = samples.expected_scores()
SEED = EXPECTED["seed"]
CONV_F = "hw5_conv_forward"
POOL_F = "hw5_max_pool_forward"

pytestmark = pytest.mark.skipif(jail.level()[0] != "full", reason="no sandbox on this machine")


def _kit_hashes() -> dict[str, str]:
    out = {}
    for sub in ("autograder", "intro2ai", "assignments/source/hw5/checks"):
        for p in sorted((REPO / sub).rglob("*")):
            if (
                p.is_file()
                and "__pycache__" not in p.parts
                and p.suffix in (".py", ".toml", ".npz", ".so")
            ):
                out[str(p.relative_to(REPO))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def _submission(folder: Path, append: str = "", recipe: dict | None = None) -> Path:
    recipe = dict(recipe or {})
    if append:
        recipe["append"] = {"intro2ai/layers.py": textwrap.dedent(append)}
    for rel in samples.FILES:
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(samples.build_file(rel, recipe), encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def honest_points(tmp_path_factory) -> dict[str, float]:
    sub = _submission(tmp_path_factory.mktemp("honest"))
    rec = grade_submission(sub, seed=SEED, tasks=(CONV_F, POOL_F))
    points = {t: rec["tasks"][t]["points"] for t in (CONV_F, POOL_F)}
    assert points == {t: rec["tasks"][t]["max_points"] for t in (CONV_F, POOL_F)}
    return points


# Code the worker runs at import of layers.py, only in the conv forward task (the pool task of
# the same submission stays honest): it writes records straight onto the worker's channel.
FORGE = """
import sys as _sys, io as _io
import numpy as _np
_child = _sys.modules.get('_sandbox_child')
if _child is not None and _child.JOB[0]['task'] == {task!r}:
    _buf = _io.BytesIO()
    _np.save(_buf, _np.zeros((2, 2)))
    _child.send({header}, _buf.getvalue())
"""

FORGED = {
    # the relay alone reports the inputs after the call (the "inputs mutated" check)
    "post_input": {"kind": "array", "case": 0, "key": "post_x"},
    # a numerical-gradient diagnostic in a forward task (it has none)
    "diag_in_forward": {"kind": "diag", "case": 0, "key": "num_dx"},
    # a diagnostic named like an output, to land in the grader's arrays
    "diag_named_output": {"kind": "diag", "case": 0, "key": "out"},
    # another task's output
    "other_task_key": {"kind": "array", "case": 0, "key": "dx"},
    # path characters in a key
    "path_key": {"kind": "array", "case": 0, "key": "../../job.json"},
    # a case that the job does not have
    "case_out_of_range": {"kind": "array", "case": 99, "key": "out"},
    "case_negative": {"kind": "array", "case": -1, "key": "out"},
    "case_bool": {"kind": "array", "case": True, "key": "out"},
    # the relay's own record kinds
    "relay_exit": {"kind": "exit", "case": 0, "code": 0},
    "relay_tampered": {"kind": "tampered", "case": 1, "why": "x"},
    "relay_hello": {"kind": "hello", "case": 0},
    # names belong to a model's __init__ case only
    "names_in_layer_task": {"kind": "names", "case": 0, "names": ["out"]},
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(FORGED))
def test_forged_records_cost_the_forger_its_task_only(name, tmp_path, honest_points):
    before = _kit_hashes()
    sub = _submission(tmp_path / "sub", FORGE.format(task=CONV_F, header=repr(FORGED[name])))
    rec = grade_submission(sub, seed=SEED, tasks=(CONV_F, POOL_F))
    conv = rec["tasks"][CONV_F]
    assert conv["points"] == 0, (name, conv["message"])
    statuses = {c["status"] for c in conv["cases"]}
    assert statuses == {Status.LOST}, (name, statuses)
    # fail closed: a person looks at it
    assert conv["needs_manual_grade"] and "possible_tampering" in {f["kind"] for f in conv["flags"]}
    # the same submission's other task (its own sandbox) keeps its points
    assert rec["tasks"][POOL_F]["points"] == honest_points[POOL_F]
    assert _kit_hashes() == before


def test_a_forged_output_for_another_task_id_marks_the_case_tampered(tmp_path, honest_points):
    """A header naming another task is just a record of this task: the honest one that follows
    is a second record for the same (case, key), so the case is worth nothing."""
    header = {"kind": "array", "case": 0, "key": "out", "task": POOL_F}
    sub = _submission(tmp_path / "sub", FORGE.format(task=CONV_F, header=repr(header)))
    rec = grade_submission(sub, seed=SEED, tasks=(CONV_F, POOL_F))
    cases = rec["tasks"][CONV_F]["cases"]
    assert cases[0]["status"] == Status.TAMPERED and cases[0]["points"] == 0
    assert rec["tasks"][CONV_F]["needs_manual_grade"]
    assert rec["tasks"][CONV_F]["points"] < honest_points[CONV_F]
    assert rec["tasks"][POOL_F]["points"] == honest_points[POOL_F]


# The network task: names only in its __init__ cases, identifiers only, p_<name> after them.
NET = "hw5_three_layer_convnet"
NET_FORGED = {
    "names_with_path": [{"kind": "names", "case": 0, "names": ["../../W1"]}],
    "param_before_names": [{"kind": "array", "case": 0, "key": "p_W1"}],
    "param_not_named": [
        {"kind": "names", "case": 0, "names": ["W1"]},
        {"kind": "array", "case": 0, "key": "p_W2"},
    ],
    "names_in_loss_case": [{"kind": "names", "case": 2, "names": ["W1"]}],
    "gradient_of_no_param": [{"kind": "array", "case": 2, "key": "g_X"}],
    "reference_param_key": [{"kind": "array", "case": 2, "key": "param_W1"}],
    "label_key": [{"kind": "array", "case": 2, "key": "y"}],
}
NET_FORGE = """
import sys as _sys, io as _io
import numpy as _np
_child = _sys.modules.get('_sandbox_child')
if _child is not None and _child.JOB[0]['task'] == {task!r}:
    _buf = _io.BytesIO()
    _np.save(_buf, _np.zeros((2, 2)))
    for _h in {headers!r}:
        _child.send(_h, _buf.getvalue() if _h['kind'] == 'array' else b'')
"""


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(NET_FORGED))
def test_forged_records_of_the_network_task_lose_it(name, tmp_path):
    sub = _submission(tmp_path / "sub", NET_FORGE.format(task=NET, headers=NET_FORGED[name]))
    rec = grade_submission(sub, seed=SEED, tasks=(NET,))
    net = rec["tasks"][NET]
    assert net["points"] == 0, (name, net["message"])
    assert net["needs_manual_grade"], name
    # the case indexes above: 0, 1 __init__ cases, 2 a loss case
    assert [c["name"] for c in net["cases"]][:3] == ["init_visible", "init_hidden", "loss_visible"]


# An error record with a status outside the enum and HTML in every text field, then a done:
# the case is blocked (0 points), the status is one of the enum, the page shows no markup.
XSS = "<script>alert('x')</script><img src=x onerror=alert(1)>"
ERROR_FORGE = """
import sys as _sys
_child = _sys.modules.get('_sandbox_child')
if _child is not None and _child.JOB[0]['task'] == {task!r}:
    _child.send({{'kind': 'error', 'case': 0, 'step': '<b>import</b>', 'status': '{status}',
                 'exc_type': {xss!r}, 'message': {xss!r}, 'where': {xss!r}}})
"""


@pytest.mark.parametrize("status", ["pass", "통과", "<i>pass</i>", "tampered"])
def test_a_forged_status_is_one_of_the_enum_and_its_text_is_escaped(
    status, tmp_path, honest_points
):
    sub = _submission(tmp_path / "sub", ERROR_FORGE.format(task=CONV_F, status=status, xss=XSS))
    rec = grade_submission(sub, seed=SEED, tasks=(CONV_F,))
    case0 = rec["tasks"][CONV_F]["cases"][0]
    assert case0["points"] == 0 and case0["status"] == Status.ERROR, case0
    assert rec["tasks"][CONV_F]["points"] < honest_points[CONV_F]
    typed = SubmissionResult.from_dict(rec)
    assert typed.tasks[CONV_F].cases[0].status is Status.ERROR
    html = feedback.render(PipelineRecord(student="20269999", assignment="hw5", trusted=typed))
    assert "<script>" not in html and "<img" not in html and "<i>pass" not in html
    assert "&lt;script&gt;" in html  # shown, as text


def test_a_record_with_a_status_outside_the_enum_is_refused(tmp_path):
    sub = _submission(tmp_path / "sub")
    rec = grade_submission(sub, seed=SEED, tasks=(POOL_F,))
    rec["tasks"][POOL_F]["cases"][0]["status"] = "<script>pass</script>"
    with pytest.raises(RecordFormatError):
        SubmissionResult.from_dict(rec)


# The job files: written by the trusted parent, read by the relay before the fork and by the
# child before any student import. In the box they must not be writable, replaceable or
# swappable for a symlink.
JOB_WRITES = """
import os as _os, sys as _sys
_child = _sys.modules.get('_sandbox_child')
_TRIES = []
if _child is not None:
    _box = _child.CFG['box']
    def _try(what, fn):
        try:
            fn()
            _TRIES.append(what + ':DONE')
        except BaseException as exc:
            _TRIES.append(what + ':' + type(exc).__name__)
    _job = _os.path.join(_box, 'job.json')
    _evil = '{"task": "x", "spec": {"kind": "forward", "inputs": ["x"], "outputs": ["out", "pwn"]}}'
    _try('write', lambda: open(_job, 'w').write(_evil))
    _try('append', lambda: open(_job, 'a').write(' '))
    _try('unlink', lambda: _os.unlink(_job))
    _try('rename', lambda: _os.rename(_job, _os.path.join(_box, 'old.json')))
    _try('symlink', lambda: _os.symlink('/tmp/job.json', _os.path.join(_box, 'job2.json')))
    _try('replace', lambda: (open('/tmp/job.json', 'w').write(_evil), _os.replace('/tmp/job.json', _job)))
    # chmod is a no-op under the jail's seccomp filter: the file must stay unwritable after it
    _try('chmod', lambda: (_os.chmod(_job, 0o666), open(_job, 'a')))
    _try('npz', lambda: open(_os.path.join(_box, 'job.npz'), 'r+b').write(b'PK'))
    _try('relay', lambda: open('/grader/_relay.py', 'a').write('#'))
    _try('mkdir', lambda: _os.mkdir(_os.path.join(_box, 'intro2ai', 'evil')))
"""


def test_the_job_files_cannot_be_changed_from_the_box(tmp_path, honest_points):
    before = _kit_hashes()
    recipe = {
        "regions": {
            samples.POOL_F: ("body", "raise RuntimeError('TRIES[' + ','.join(_TRIES) + ']')")
        }
    }
    sub = _submission(tmp_path / "sub", JOB_WRITES, recipe)
    rec = grade_submission(sub, seed=SEED, tasks=(CONV_F, POOL_F))
    msg = rec["tasks"][POOL_F]["message"] + json.dumps(
        rec["tasks"][POOL_F]["cases"], ensure_ascii=False
    )
    assert "TRIES[" in msg, msg
    tries = msg.split("TRIES[", 1)[1].split("]", 1)[0].split(",")
    assert len(tries) == 10 and not [t for t in tries if t.endswith(":DONE")], tries
    assert rec["tasks"][CONV_F]["points"] == honest_points[CONV_F]  # graded as usual
    assert rec["tasks"][POOL_F]["points"] == 0
    assert _kit_hashes() == before


# The naive rule: the in-process guard is defence in depth (student code can undo it); what
# holds is that a naive task's box has no fast code at all. The attack tries every way to a
# convolution other than NumPy and reports what it found.
FIND_FAST = """
import glob as _glob, importlib as _il, importlib.util as _ilu, os as _os, sys as _sys
_FOUND = []
_child = _sys.modules.get('_sandbox_child')
if _child is not None:
    _roots = [_child.CFG['box'], _child.CFG['site'], '/grader', '/tmp', '/usr', '/opt', '/home', '/work', '/root']
    for _r in _roots:
        for _p in _glob.glob(_os.path.join(_r, '**', '*'), recursive=True):
            _b = _os.path.basename(_p)
            if _b.endswith('.so') and ('intro2ai' in _p or 'im2col' in _b):
                _FOUND.append('so:' + _p)
            elif ('im2col' in _b or 'fast' in _b or 'winograd' in _b.lower() or 'direct_conv' in _b
                    or 'layer_utils' in _b) and _os.path.isfile(_p):
                try:
                    _text = open(_p, errors='replace').read()
                except OSError:
                    continue
                if 'refusing_module_getattr' not in _text:  # not one of the box's stand-ins
                    _FOUND.append('file:' + _p)
            if len(_FOUND) > 5:
                break
    # the stubs' sources, loaded as modules of another name
    for _m in ('_fast_layouts', '_fast_plan', 'fast_layers', 'layer_utils', '_im2col_numpy', '_im2col_cython'):
        _path = _os.path.join(_child.CFG['box'], 'intro2ai', _m + '.py')
        if _os.path.exists(_path):
            _src = open(_path).read()
            if 'def ' in _src.replace('def __getattr__', ''):
                _FOUND.append('source:' + _m)
            _spec = _ilu.spec_from_file_location('_x_' + _m, _path)
            _mod = _ilu.module_from_spec(_spec)
            try:
                _spec.loader.exec_module(_mod)
                _f = getattr(_mod, 'conv_forward_fast', None) or getattr(_mod, 'winograd_forward', None)
                _f(None)
                _FOUND.append('ran:' + _m)
            except BaseException as _exc:
                if type(_exc).__name__ != 'NaiveRuleError':
                    _FOUND.append('odd:' + _m + ':' + type(_exc).__name__)
    # the compiled core through ctypes / the extension loader
    import ctypes as _ct
    for _p in _glob.glob(_os.path.join(_child.CFG['box'], '**', '*.so'), recursive=True):
        try:
            _ct.CDLL(_p)
            _FOUND.append('cdll:' + _p)
        except OSError:
            pass
    try:
        from intro2ai import _extension as _e
        if _e.cython_module() is not None:
            _FOUND.append('extension')
    except BaseException as _exc:
        _FOUND.append('odd:extension:' + type(_exc).__name__)
    # modules of the kit already loaded (sys.modules) with real code
    for _k, _v in list(_sys.modules.items()):
        if _k.startswith('intro2ai.') and any(hasattr(_v, n) for n in (
                'conv_forward_fast', 'conv_forward_im2col', 'winograd_input', 'plan')):
            _g = getattr(_v, '__getattr__', None)
            if _g is None:
                _FOUND.append('module:' + _k)
"""


@pytest.mark.parametrize("task", [CONV_F, POOL_F])
def test_a_naive_task_box_holds_no_fast_code_however_reached(task, tmp_path):
    region = samples.CONV_F if task == CONV_F else samples.POOL_F
    recipe = {
        "regions": {region: ("body", "raise RuntimeError('FOUND[' + ';'.join(_FOUND) + ']')")}
    }
    sub = _submission(tmp_path / "sub", FIND_FAST, recipe)
    rec = grade_submission(sub, seed=SEED, tasks=(task,))
    msg = json.dumps(rec["tasks"][task], ensure_ascii=False)
    assert "FOUND[]" in msg, msg[:3000]


def test_the_search_finds_the_fast_code_where_it_is_allowed(tmp_path):
    """The same search in the network task's box (which keeps the real fast layers) finds
    them: an empty result above is the box, not a blind search."""
    task = "hw5_three_layer_convnet"
    body = (
        "from intro2ai.layers import _FOUND\nraise RuntimeError('FOUND[' + ';'.join(_FOUND) + ']')"
    )
    recipe = {"regions": {samples.NET_LOSS: ("body", body)}}
    sub = _submission(tmp_path / "sub", FIND_FAST, recipe)
    rec = grade_submission(sub, seed=SEED, tasks=(task,))
    msg = json.dumps(rec["tasks"][task], ensure_ascii=False)
    assert "FOUND[" in msg and "FOUND[]" not in msg, msg[:3000]
    found = msg.split("FOUND[", 1)[1].split("]", 1)[0]
    # (the message is cut at 400 characters: the first findings are enough)
    assert "so:" in found and "file:/box/intro2ai/_fast_layouts.py" in found, found
    assert "source:_fast_layouts" in found, found


# conv_forward_naive as something other than a function: the guard wraps any callable, and the
# grader checks the wrappers are its own (a class instance, a partial, a builtin, rebinding).
GUARD_DODGES = {
    "instance": """
        class _Conv:
            def __call__(self, x, w, b, conv_param):
                return _honest(x, w, b, conv_param)
        conv_forward_naive = _Conv()
    """,
    "partial": """
        import functools as _ft
        conv_forward_naive = _ft.partial(_honest)
    """,
    "module_getattr": """
        del conv_forward_naive
        def __getattr__(name):
            if name == 'conv_forward_naive':
                return _honest
            raise AttributeError(name)
    """,
}


@pytest.mark.parametrize("name", sorted(GUARD_DODGES))
def test_a_naive_function_of_another_type_is_still_guarded_and_graded(
    name, tmp_path, honest_points
):
    """Honest NumPy work behind an unusual callable keeps its points (nothing to gain, nothing
    lost); the rule's check in the child accepts only the guard's own wrappers."""
    append = "_honest = conv_forward_naive\n" + textwrap.dedent(GUARD_DODGES[name])
    sub = _submission(tmp_path / "sub", append)
    rec = grade_submission(sub, seed=SEED, tasks=(CONV_F,))
    assert rec["tasks"][CONV_F]["points"] == honest_points[CONV_F], rec["tasks"][CONV_F]["message"]


def test_a_fake_guard_wrapper_does_not_pass_the_rule_check(tmp_path):
    """A layers.py that replaces grading_rules.guard with a no-op is caught by is_guarded
    (taken before the student import): the task is not run at all."""
    append = """
        try:
            from intro2ai import grading_rules as _g
            _g.guard = lambda *a, **k: None
        except Exception:
            pass
    """
    sub = _submission(tmp_path / "sub", append)
    rec = grade_submission(sub, seed=SEED, tasks=(CONV_F,))
    conv = rec["tasks"][CONV_F]
    # guard was taken from the module before the import: the patched one is never called
    assert conv["points"] == conv["max_points"], conv["message"]


# The students' checks read the task table from checks/hw5_cases.npz. A student who edits it
# changes only their own local run: the grader has its own table.
CHECKS = REPO / "assignments" / "source" / "hw5" / "checks"


def _run_checks_with_table(tmp_path, table_json: str | None) -> subprocess.CompletedProcess:
    from autograder import checkdata

    dest = tmp_path / "checks"
    shutil.copytree(CHECKS, dest, ignore=shutil.ignore_patterns("__pycache__", "hw5_cases.npz"))
    path = checkdata.write(dest)
    if table_json is not None:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
        arrays[checkdata.TABLE_KEY] = np.array(table_json)
        np.savez(path, **arrays)
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            str(dest / "test_hw5.py"),
            "-x",
            "--no-header",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.slow
@pytest.mark.parametrize("table", ["{}", "not json", '{"tasks": 5}', '{"tasks": [{"id": "x"}]}'])
def test_an_edited_checks_table_fails_clearly(table, tmp_path):
    proc = _run_checks_with_table(tmp_path, table)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out[-2000:]
    assert "hw5_cases.npz" in out, out[-3000:]


def test_a_forged_guard_wrapper_escapes_the_guard_but_not_the_box(tmp_path):
    """Adding its own function to grading_rules._WRAPPERS at import makes guard() skip it (the
    in-process guard is defence in depth); what it then reaches is the box's refusing stand-in
    of the fast layers: 0 points."""
    append = """
        import sys as _sys
        from intro2ai import grading_rules as _g

        def conv_forward_naive(x, w, b, conv_param):
            if _sys.getprofile() is None:  # the guard did not wrap this call
                from intro2ai import fast_layers as _fl
                return _fl.conv_forward_fast(x, w, b, conv_param)
            raise RuntimeError('GUARDED')

        _g._WRAPPERS.add(conv_forward_naive)
    """
    sub = _submission(tmp_path / "sub", append)
    rec = grade_submission(sub, seed=SEED, tasks=(CONV_F,))
    conv = rec["tasks"][CONV_F]
    assert conv["points"] == 0, conv["message"]
    assert "GUARDED" not in conv["message"]  # the guard was escaped ...
    # ... and the stand-in refused (the line of the fast call; the message is cut at 400)
    line = (sub / "intro2ai" / "layers.py").read_text(encoding="utf-8").splitlines()
    where = conv["cases"][0]["message"].rsplit("layers.py:", 1)[1].split(" ", 1)[0]
    assert "NaiveRuleError" in conv["message"]
    assert "_fl.conv_forward_fast" in line[int(where) - 1], line[int(where) - 1]


# A hidden case's feedback must not carry the student's own text or numbers out: the hidden
# inputs are the same for the whole class (one secret seed), and once known they can be answered
# from a table computed elsewhere. Before the fix, an exception class named after the inputs
# (type('Leak_<hex of x[0]>', (Exception,), {})) and an empty array of shape (0, <bits>, 7)
# put the first input value of every hidden case on the page.
LEAKS = {
    "exception_type": """
        import struct as _st
        _code = ''.join('%02x' % c for c in _st.pack('>d', float(x.reshape(-1)[0])))
        raise type('Leak_' + _code, (Exception,), {})('x')
    """,
    "function_name": """
        import struct as _st
        _code = ''.join('%02x' % c for c in _st.pack('>d', float(x.reshape(-1)[0])))
        def _f():
            raise ValueError('x')
        _f.__code__ = _f.__code__.replace(co_name='Leak_' + _code)
        _f()
    """,
    "shape": """
        import struct as _st
        _n = int.from_bytes(_st.pack('>d', float(x.reshape(-1)[0]))[:4], 'big')
        out = np.zeros((0, _n, 7))
    """,
    "bad_type": """
        import struct as _st
        _code = ''.join('%02x' % c for c in _st.pack('>d', float(x.reshape(-1)[0])))
        out = type('Leak_' + _code, (), {})()
    """,
    "forged_record": """
        import struct as _st, sys as _sys
        _code = ''.join('%02x' % c for c in _st.pack('>d', float(x.reshape(-1)[0])))
        _child = _sys.modules['_sandbox_child']
        _i = [i for i, c in enumerate(_child.JOB[1:2] and _child.JOB[0]['cases'])
              if _np_equal(_child.JOB[1].get('%d.x' % i), x)][0]
        _child.send({'kind': 'error', 'case': _i, 'step': 'call', 'status': 'error',
                     'exc_type': 'Leak_' + _code, 'message': 'Leak_' + _code,
                     'where': 'intro2ai/layers.py:1 (Leak_' + _code + ')'})
        _child.send({'kind': 'bad', 'case': _i, 'key': 'Leak_' + _code, 'type': 'Leak_' + _code,
                     'why': 'Leak_' + _code})
        _child.send({'kind': 'array', 'case': _i, 'key': 'Leak_' + _code}, b'')
    """,
}


@pytest.mark.parametrize("name", sorted(LEAKS))
def test_hidden_inputs_do_not_reach_the_feedback(name, tmp_path):
    append = (
        "def _np_equal(a, b):\n    return a is not None and a.shape == b.shape and (a == b).all()\n"
    )
    sub = _submission(
        tmp_path / "sub", append, {"regions": {samples.CONV_F: ("body", LEAKS[name])}}
    )
    rec = grade_submission(sub, seed=SEED, tasks=(CONV_F,))
    conv = rec["tasks"][CONV_F]
    assert conv["points"] == 0
    hidden = [c for c in conv["cases"] if c["hidden"]]
    assert hidden
    # the visible case may say anything (its inputs are public); no hidden case may
    for c in hidden:
        blob = json.dumps(c, ensure_ascii=False)
        assert "Leak_" not in blob, blob[:1500]
        assert not any(len(d) > 6 for d in _shape_numbers(blob)), blob[:1500]
    for group in conv["message"].split(" | "):
        if "(hidden)" in group.split("]", 1)[0]:
            assert "Leak_" not in group and not any(len(d) > 6 for d in _shape_numbers(group)), (
                group
            )
    assert all("Leak_" not in f.get("message", "") for f in conv["flags"]), conv["flags"]
    # the page: only the visible case's text may hold the leak
    html = feedback.render(
        PipelineRecord(
            student="20269999", assignment="hw5", trusted=SubmissionResult.from_dict(rec)
        )
    )
    visible = [c for c in conv["cases"] if not c["hidden"]]
    assert html.count("Leak_") <= sum(
        json.dumps(c, ensure_ascii=False).count("Leak_") for c in visible
    ) + sum(
        g.count("Leak_")
        for g in conv["message"].split(" | ")
        if "(hidden)" not in g.split("]", 1)[0]
    )


def _shape_numbers(text: str) -> list[str]:
    import re

    return re.findall(r"\d+", " ".join(re.findall(r"\([\d, ]+\)", text)))


def test_an_honest_wrong_shape_of_a_hidden_case_is_still_shown():
    from autograder import grader
    from intro2ai.grading_rules import Failure

    honest = Failure(
        "shape",
        "out: shape 이 (2, 3, 3, 3) 이어야 하는데 (2, 3, 4, 4) 입니다",
        "(2, 3, 3, 3)",
        "(2, 3, 4, 4)",
    )
    assert grader._hidden_failure(honest) == honest
    weight = Failure(
        "shape", "g_W2: shape 이 (192, 7) 이어야 하는데 (7, 192) 입니다", "(192, 7)", "(7, 192)"
    )
    assert grader._hidden_failure(weight) == weight
    chosen = Failure(
        "shape",
        "out: shape 이 (2, 3, 3, 3) 이어야 하는데 (0, 1073848307, 7) 입니다",
        "(2, 3, 3, 3)",
        "(0, 1073848307, 7)",
    )
    assert "1073848307" not in grader._hidden_failure(chosen).text
    assert (
        grader._error_ko(
            {
                "status": "error",
                "exc_type": "ValueError",
                "message": "m",
                "where": "intro2ai/layers.py:12 (conv_forward_naive)",
            },
            hidden=True,
        )
        == "실행 중 오류: ValueError: " + grader.HIDDEN_MESSAGE_KO + " [intro2ai/layers.py:12]"
    )
