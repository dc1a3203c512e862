"""Worker side of the grader's sandbox: run ONE task's cases of a student submission.

Runs inside ``autograder.jail``, forked by the trusted relay (``autograder/_relay.py``), which
calls :func:`main` with the write end of a pipe that only the relay reads. It never imports the
``autograder`` package and never sees an expected value: it runs the student's functions on
the inputs in ``job.npz`` and sends what they returned as raw arrays. Once the student's files
are imported, everything in this process is the student's to change, including this module:
the relay checks every record, and the grader compares every array itself.

Order in :func:`main`: the seccomp filter (no System V IPC, ptrace, keyrings, bpf, io_uring;
no fork where no pids cgroup exists), the job (trusted inputs), ``sys.path`` = box first, then
the cases import the student files; for a naive task the rule of ``intro2ai.grading_rules`` is
imported before and installed on the student's module right after its import (the box also
holds refusing stand-ins for the fast layers and SciPy).

Records: ``b"R" + len4 + header JSON + len8 + payload``; a payload is
``np.save(..., allow_pickle=False)`` bytes (see ``autograder._relay`` for what is accepted).
"""

import json
import os
import signal
import sys

CFG = None
CHANNEL = None
WORKER_PID = None


def _write_all(data):
    view = memoryview(data)
    while view:
        n = os.write(CHANNEL, view)
        view = view[n:]


def send(header, payload=b""):
    if os.getpid() != WORKER_PID:
        os._exit(0)  # a forked copy of the worker never reports
    head = json.dumps(header).encode()
    _write_all(
        b"R" + len(head).to_bytes(4, "big") + head + len(payload).to_bytes(8, "big") + payload
    )


class CappedWriter:
    """sys.stdout/sys.stderr replacement: keeps the first ``limit`` bytes, drops the rest."""

    def __init__(self, fd, limit):
        self.fd, self.left, self.dropped = fd, limit, 0
        self.encoding, self.errors = "utf-8", "replace"

    def write(self, text):
        data = str(text).encode("utf-8", "replace")
        if self.left > 0:
            chunk = data[: self.left]
            try:
                os.write(self.fd, chunk)
            except OSError:
                pass
            self.left -= len(chunk)
            data = data[len(chunk) :]
        self.dropped += len(data)
        return len(text)

    def flush(self):
        pass

    def isatty(self):
        return False

    def writable(self):
        return True


SHARED_VIEWS = {}


def main(channel, cfg, stdlib_path, shared=None):
    """Run the job's cases, sending records to ``channel``; returns the exit code.

    ``shared``: (mmap, [(case, key, offset, dtype, shape)]) of the inputs the relay shares.
    """
    global CFG, CHANNEL, WORKER_PID
    CFG, CHANNEL, WORKER_PID = cfg, channel, os.getpid()
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    sys.path[:] = [cfg["programs"]] + list(stdlib_path)
    import _seccomp

    # No System V IPC objects (memory that outlives the process), no ptrace, keyrings, bpf,
    # io_uring...; where no pids cgroup exists, no new processes either.
    if cfg.get("no_fork") or _seccomp.supported():
        _seccomp.install(
            _seccomp.program(no_fork=bool(cfg.get("no_fork")), no_sysv_ipc=True, no_extras=True)
        )
    os.chdir(cfg["box"])
    sys.path[:] = [cfg["site"]] + list(stdlib_path)
    load_job()
    if shared is not None:
        import numpy as np

        mm, layout = shared
        for i, key, off, dtype, shape in layout:
            n = 1
            for d in shape:
                n *= d
            view = np.frombuffer(mm, dtype=np.dtype(dtype), count=n, offset=off)
            SHARED_VIEWS.setdefault(i, {})[key] = view.reshape(shape)
    sys.path[:] = [cfg["box"], cfg["site"]] + list(stdlib_path)
    cap = int(cfg["limits"]["output_kb"]) << 10
    sys.stdout = CappedWriter(1, cap)
    sys.stderr = CappedWriter(2, cap)
    run_cases()
    return 0


# -------------------------------------------------------------------------------------------
# The cases (worker only; every call into student code is wrapped)
# -------------------------------------------------------------------------------------------

H_NUMERIC = 1e-5
MAX_ARRAY_BYTES = 8 << 20
#: A backward task calls the student's forward only to get its cache: if that call hangs, the
#: backward is graded with the standard cache instead (a loop in forward costs forward only).
FORWARD_CALL_SECONDS = 1.0
FORWARD_HUNG = []  # set after one timeout: later cases use the standard cache at once


class ForwardTimeout(BaseException):
    """The student's forward, called by a backward task, took too long."""


class call_limit:
    """Raise ForwardTimeout in the worker after ``seconds`` of wall time."""

    def __init__(self, seconds):
        self.seconds = seconds

    def _fire(self, signum, frame):
        FORWARD_HUNG.append(1)
        raise ForwardTimeout(f"forward call took more than {self.seconds:g} s")

    def __enter__(self):
        self.old = signal.signal(signal.SIGALRM, self._fire)
        signal.setitimer(signal.ITIMER_REAL, self.seconds)

    def __exit__(self, *exc):
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, self.old)
        return False


JOB = None


def load_job():
    """Read the job (trusted inputs) before any privilege drop or student import."""
    global JOB
    import numpy as np

    with open("job.json", encoding="utf-8") as fh:
        job = json.load(fh)
    with np.load("job.npz", allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    JOB = (job, arrays)


def run_cases():
    import io
    import traceback

    import numpy as np

    job, arrays = JOB
    student_files = tuple(os.path.join(CFG["box"], p) for p in CFG["student_files"])

    def send_array(i, key, value, kind="array"):
        try:
            arr = np.asarray(value)
            if arr.dtype == object or arr.nbytes > MAX_ARRAY_BYTES:
                raise TypeError(f"cannot send {type(value).__name__} as a numeric array")
            buf = io.BytesIO()
            np.save(buf, arr, allow_pickle=False)
        except BaseException as exc:  # noqa: BLE001 (a student object may raise anything)
            send(
                {
                    "kind": "bad",
                    "case": i,
                    "key": key,
                    "type": type(value).__name__,
                    "why": str(exc)[:200],
                }
            )
            return
        send({"kind": kind, "case": i, "key": key}, buf.getvalue())

    def report(i, step, exc):
        where = ""
        for frame in traceback.extract_tb(exc.__traceback__):
            if frame.filename.startswith(student_files):
                rel = os.path.relpath(frame.filename, CFG["box"])
                where = f"{rel}:{frame.lineno} ({frame.name})"
        if isinstance(exc, NotImplementedError):
            status = "not_implemented"
        elif isinstance(exc, MemoryError):
            status = "memory"
        elif isinstance(exc, SystemExit):
            status = "exit"
        elif isinstance(exc, KeyboardInterrupt):
            status = "interrupt"
        elif isinstance(exc, ForwardTimeout):
            status = "timeout"
        else:
            status = "error"
        try:
            message = str(exc)[:400]
        except BaseException:  # noqa: BLE001
            message = "<str() failed>"
        send(
            {
                "kind": "error",
                "case": i,
                "step": step,
                "status": status,
                "exc_type": type(exc).__name__[:80],
                "message": message,
                "where": where,
            }
        )

    def pair(res, who, n=2):
        if not isinstance(res, tuple) or len(res) != n:
            got = f"{type(res).__name__}" + (
                f" of length {len(res)}" if isinstance(res, tuple) else ""
            )
            raise TypeError(f"{who} must return a tuple of {n} values, got {got}")
        return res

    deferred = []

    def numeric(i, f, base, names, idx_map, dout, prefix="num_d"):
        """Queue central differences of sum(f(...) * dout) at the given flat indices.

        They run after every case is done (diagnostics only: a slow student forward may
        run out of time here without costing a graded case).
        """
        deferred.append((i, f, base, names, idx_map, dout, prefix))

    def run_numeric(i, f, base, names, idx_map, dout, prefix):
        for name in names:
            idx = idx_map.get(name)
            if not idx:
                continue
            vals = []
            for k in idx:
                plus = {n: a.copy() for n, a in base.items()}
                minus = {n: a.copy() for n, a in base.items()}
                plus[name].reshape(-1)[k] += H_NUMERIC
                minus[name].reshape(-1)[k] -= H_NUMERIC
                fp, fm = f(plus), f(minus)
                if dout is not None:
                    fp, fm = np.sum(fp * dout), np.sum(fm * dout)
                vals.append((float(fp) - float(fm)) / (2 * H_NUMERIC))
            send_array(i, prefix + name, np.array(vals), kind="diag")

    # What to call comes from the job's spec: the trusted grader's task table.
    spec = job["spec"]
    run_case = CASE_FUNCS[spec["kind"]]
    try:
        import importlib

        if spec["naive"]:
            from intro2ai import grading_rules  # the naive-layer rule, as in make check

            guard, guarded = grading_rules.guard, grading_rules.is_guarded  # before student code
            naive = tuple(spec["naive_functions"])
            module = importlib.import_module(spec["module"])
            guard(module, extra_files=(os.path.abspath(__file__),), functions=naive)
            fns = [getattr(module, n, None) for n in naive]
            if not all(guarded(f) for f in fns if callable(f)):
                raise RuntimeError("the naive-layer rule could not be installed")
        else:
            module = importlib.import_module(spec["module"])
    except BaseException as exc:  # noqa: BLE001
        for i in range(len(job["cases"])):
            report(i, "import", exc)
            send({"kind": "done", "case": i})
        return

    for i, case in enumerate(job["cases"]):
        A = {k.split(".", 1)[1]: v for k, v in arrays.items() if k.startswith(f"{i}.")}
        # The inputs handed to the student's functions: views of memory the relay shares and
        # reads back after the case (it reports post_* itself); copies where none is shared.
        S = {k: v.copy() for k, v in A.items()}
        S.update(SHARED_VIEWS.get(i, {}))
        params = case["params"]
        try:
            run_case(
                spec,
                i,
                module,
                A,
                S,
                params,
                case.get("numeric", {}),
                np,
                send_array,
                report,
                pair,
                numeric,
            )
        except BaseException as exc:  # noqa: BLE001
            report(i, "call", exc)
        send({"kind": "done", "case": i})
    for item in deferred:
        try:
            run_numeric(*item)
        except BaseException:  # noqa: BLE001  (diagnostics only)
            pass


def _args(spec, arrays, params):
    """A layer's forward arguments: its inputs (from ``arrays``), then its dict parameter."""
    return [arrays[k] for k in spec["inputs"]] + (
        [dict(params[spec["param"]])] if spec["param"] else []
    )


def _layer_forward(spec, i, L, A, S, params, num, np, send_array, report, pair, numeric):
    fn = spec["function"]
    out, _ = pair(getattr(L, fn)(*_args(spec, S, params)), fn)
    send_array(i, spec["outputs"][0], out)


def _layer_backward(spec, i, L, A, S, params, num, np, send_array, report, pair, numeric):
    fn, fwd, outputs = spec["function"], spec["forward"], spec["outputs"]
    forward_ok = True
    try:
        if FORWARD_HUNG:
            raise ForwardTimeout("forward call timed out in an earlier case")
        with call_limit(FORWARD_CALL_SECONDS):
            _, cache = pair(getattr(L, fwd)(*_args(spec, S, params)), fwd)
    except BaseException as exc:  # noqa: BLE001
        report(i, "forward", exc)
        forward_ok = False
        cache_cls = getattr(L, spec["cache"], None) if spec["cache"] else None
        args = _args(spec, S, params)
        cache = cache_cls(*args) if cache_cls else tuple(args)
    res = getattr(L, fn)(S["dout"], cache)
    grads = pair(res, fn, len(outputs)) if len(outputs) > 1 else (res,)
    for key, value in zip(outputs, grads):
        send_array(i, key, value)
    if forward_ok:
        f = lambda a: getattr(L, fwd)(*_args(spec, a, params))[0]  # noqa: E731
        inputs = tuple(spec["inputs"])
        try:
            numeric(i, f, {k: A[k] for k in inputs}, inputs, num, A["dout"])
        except BaseException as exc:  # noqa: BLE001
            report(i, "numeric", exc)


def _net_kwargs(np, init):
    kw = dict(init)
    kw["input_dim"] = tuple(kw["input_dim"])
    kw["dtype"] = np.float64
    return kw


def _model(spec, i, M, A, S, params, num, np, send_array, report, pair, numeric):
    kwargs = _net_kwargs(np, params["init"])
    cls = getattr(M, spec["function"])
    if "X" not in A:  # an __init__ case
        np.random.seed(0)
        model = cls(**kwargs)
        p = getattr(model, "params", None)
        if not isinstance(p, dict):
            raise TypeError(f"model.params must be a dict, got {type(p).__name__}")
        names = [k for k in p if isinstance(k, str) and k.isidentifier() and len(k) <= 16]
        send({"kind": "names", "case": i, "names": names[:16]})
        for k in names[:16]:
            send_array(i, "p_" + k, p[k])
        return
    ref = {k[len("param_") :]: v for k, v in A.items() if k.startswith("param_")}
    try:
        np.random.seed(0)
        model = cls(**kwargs)
    except BaseException as exc:  # noqa: BLE001  (grade loss() with the reference's params)
        report(i, "init", exc)
        model = object.__new__(cls)
        model.dtype = np.float64
        model.input_dim = kwargs["input_dim"]
    model.params = {k: v.copy() for k, v in ref.items()}
    model.reg = params["reg"]
    X, y = A["X"], A["y"]
    try:
        loss, grads = pair(model.loss(X.copy(), y.copy()), spec["function"] + ".loss", 2)
        send_array(i, "loss", np.asarray(loss, dtype=np.float64))
        if not isinstance(grads, dict):
            raise TypeError(f"grads must be a dict, got {type(grads).__name__}")
        for k in ref:
            if k in grads:
                send_array(i, "g_" + k, grads[k])
    except BaseException as exc:  # noqa: BLE001
        report(i, "loss", exc)
    try:
        model.params = {k: v.copy() for k, v in ref.items()}
        send_array(i, "scores", model.loss(X.copy()))
    except BaseException as exc:  # noqa: BLE001
        report(i, "scores", exc)

    def f(a):
        model.params = a
        return model.loss(X.copy(), y.copy())[0]

    try:
        numeric(i, f, ref, sorted(ref), num, None, prefix="num_")
    except BaseException as exc:  # noqa: BLE001
        report(i, "numeric", exc)


#: How a case of each task kind is run (the kind and the names come from the job's spec).
CASE_FUNCS = {
    "forward": _layer_forward,
    "backward": _layer_backward,
    "model": _model,
}
