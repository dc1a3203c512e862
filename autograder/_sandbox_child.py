"""Child side of the sandbox: run ONE task's cases of a student submission, send raw arrays.

Started by ``autograder.sandbox`` as ``python -I -S _sandbox_child.py CONFIG_JSON`` (isolated
mode: no site, no user site, no PYTHON* variables, script directory not on ``sys.path``). It
never imports the ``autograder`` package and it never sees an expected value: it only runs the
student's functions on the inputs in ``job.npz`` and streams what they returned.

Process tree when the grader runs as root (full isolation)::

    launcher (root; outside the namespaces)  -- enforces the wall clock, reports exit status
      └─ init (pid 1 of new PID/mount/net/IPC namespaces; root) -- hides the kit, then waits
           └─ worker (unprivileged uid, rlimits) -- imports the student files, runs the cases

Killing ``init`` makes the kernel kill everything in its PID namespace (fork bombs included).
Without root the launcher itself becomes the worker in its own session (partial isolation;
the first record says so).

Result stream (to the inherited pipe fd): records ``b"R" + len4 + header JSON + len8 + payload``
where a payload is ``np.save(..., allow_pickle=False)`` bytes. The grader parses it strictly,
never trusts a verdict in it, and computes every comparison itself (see ``autograder.sandbox``).
"""

import ctypes
import json
import os
import resource
import signal
import sys
import time

CLONE_NEWNS = 0x00020000
CLONE_NEWIPC = 0x08000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
MS_NOSUID, MS_NODEV, MS_NOEXEC = 2, 4, 8
MS_BIND, MS_REC, MS_PRIVATE = 4096, 16384, 1 << 18
PR_SET_PDEATHSIG = 1
WALL_TIMEOUT_EXIT = 124

INITIAL_PATH = list(sys.path)  # the standard library only (-I -S)
CFG = json.loads(sys.argv[1])
RESULT_FD = int(CFG["result_fd"])
_libc = None


def libc():
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    return _libc


def _check(ret, what):
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def mount(source, target, fstype, flags, data=None):
    enc = lambda s: None if s is None else s.encode()  # noqa: E731
    _check(libc().mount(enc(source), enc(target), enc(fstype), flags, enc(data)),
           f"mount {target}")


# -------------------------------------------------------------------------------------------
# Records (trusted writer; the student code could write to the fd too, see autograder.sandbox)
# -------------------------------------------------------------------------------------------

WORKER_PID = None


def _write_all(data):
    view = memoryview(data)
    while view:
        n = os.write(RESULT_FD, view)
        view = view[n:]


def send(header, payload=b""):
    if WORKER_PID is not None and os.getpid() != WORKER_PID:
        os._exit(0)  # a forked copy of the worker never reports
    head = json.dumps(header).encode()
    _write_all(b"R" + len(head).to_bytes(4, "big") + head + len(payload).to_bytes(8, "big")
               + payload)


# -------------------------------------------------------------------------------------------
# Isolation (root only)
# -------------------------------------------------------------------------------------------


def hide(path, needed, tmp_opts):
    """Mount an empty tmpfs over ``path``; bind back the needed paths below it."""
    if not os.path.lexists(path):
        return False
    if os.path.isfile(path) or os.path.islink(path) and not os.path.isdir(path):
        mount("/dev/null", path, None, MS_BIND)
        return True
    keep = [n for n in needed if n.startswith(path.rstrip("/") + "/")]
    if path in needed:
        return False
    fds = [(os.path.relpath(n, path), os.open(n, os.O_PATH | os.O_DIRECTORY)) for n in keep]
    mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, tmp_opts)
    for rel, fd in fds:
        target = os.path.join(path, rel)
        os.makedirs(target, mode=0o755, exist_ok=True)
        mount(f"/proc/self/fd/{fd}", target, None, MS_BIND | MS_REC)
        os.close(fd)
    return True


def isolate_filesystem():
    """Runs as pid 1 of the new namespaces, still root: make the kit invisible."""
    mount("none", "/", None, MS_REC | MS_PRIVATE)
    mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    needed = sorted({os.path.realpath(p) for p in CFG["needed"]})
    hidden = []
    for path in CFG["hide"]:
        opts = "size=16m,mode=1777" if path in ("/tmp", "/var/tmp", "/dev/shm") else \
            "size=64k,mode=0755"
        try:
            if hide(path, needed, opts):
                hidden.append(path)
        except OSError as exc:
            return hidden, f"{path}: {exc}"
    return hidden, None


# -------------------------------------------------------------------------------------------
# Worker: limits, privileges, output capture, the cases
# -------------------------------------------------------------------------------------------


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
            data = data[len(chunk):]
        self.dropped += len(data)
        return len(text)

    def flush(self):
        pass

    def isatty(self):
        return False

    def writable(self):
        return True


def limit(kind, value):
    try:
        resource.setrlimit(kind, (value, value))
    except (ValueError, OSError):
        pass


def apply_limits():
    lim = CFG["limits"]
    cpu = int(lim["cpu_seconds"])
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    limit(resource.RLIMIT_AS, int(lim["memory_mb"]) << 20)
    limit(resource.RLIMIT_FSIZE, int(lim["file_mb"]) << 20)
    limit(resource.RLIMIT_CORE, 0)
    limit(resource.RLIMIT_NOFILE, 64)
    limit(resource.RLIMIT_NPROC, int(lim["processes"]))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


def drop_privileges():
    if CFG["uid"] is None:
        return
    os.setgroups([])
    os.setgid(CFG["gid"])
    os.setuid(CFG["uid"])
    if os.getuid() == 0 or os.geteuid() == 0:
        raise RuntimeError("could not drop root")


def worker():
    global WORKER_PID
    WORKER_PID = os.getpid()
    os.chdir(CFG["box"])
    apply_limits()
    env = {"HOME": CFG["box"], "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8",
           "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    os.environ.clear()
    os.environ.update(env)  # before NumPy loads its BLAS
    if CFG.get("preimport"):  # the Python install may be unreadable to the sandbox uid
        sys.path[:] = list(CFG["site"]) + INITIAL_PATH
        # (the standard library may live under a folder the sandbox uid cannot read, e.g. /root)
        for name in ("__future__", "io", "traceback", "zipfile", "math", "itertools",
                     "functools", "collections", "typing", "numbers", "copy", "warnings",
                     "dataclasses", "re", "random", "time", "socket", "resource", "signal",
                     "importlib.util", "encodings.cp437", "encodings.idna", "numpy",
                     "numpy.testing"):
            try:
                __import__(name)
            except ImportError:
                pass
    else:
        sys.path[:] = list(CFG["site"]) + INITIAL_PATH
    load_job()
    drop_privileges()
    sys.path[:] = [CFG["box"]] + list(CFG["site"]) + INITIAL_PATH
    cap = int(CFG["limits"]["output_kb"]) << 10
    sys.stdout = CappedWriter(1, cap)
    sys.stderr = CappedWriter(2, cap)
    run_cases()


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
            send({"kind": "bad", "case": i, "key": key, "type": type(value).__name__,
                  "why": str(exc)[:200]})
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
        send({"kind": "error", "case": i, "step": step, "status": status,
              "exc_type": type(exc).__name__[:80], "message": message, "where": where})

    def pair(res, who, n=2):
        if not isinstance(res, tuple) or len(res) != n:
            got = f"{type(res).__name__}" + (f" of length {len(res)}"
                                             if isinstance(res, tuple) else "")
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

    task = job["task"]
    try:
        if task == "hw5_three_layer_convnet":
            from intro2ai.classifiers import cnn as module
        else:
            from intro2ai import grading_rules  # the naive-layer rule, as in make check
            guard, guarded = grading_rules.guard, grading_rules.is_guarded  # before student code
            from intro2ai import layers as module
            guard(module, extra_files=(os.path.abspath(__file__),))
            fns = [getattr(module, n, None) for n in grading_rules.NAIVE_FUNCTIONS]
            if not all(guarded(f) for f in fns if callable(f)):
                raise RuntimeError("the naive-layer rule could not be installed")
    except BaseException as exc:  # noqa: BLE001
        for i in range(len(job["cases"])):
            report(i, "import", exc)
            send({"kind": "done", "case": i})
        return

    for i, case in enumerate(job["cases"]):
        A = {k.split(".", 1)[1]: v for k, v in arrays.items() if k.startswith(f"{i}.")}
        params = case["params"]
        try:
            CASE_FUNCS[task](i, module, A, params, case.get("numeric", {}), np,
                             send_array, report, pair, numeric)
        except BaseException as exc:  # noqa: BLE001
            report(i, "call", exc)
        send({"kind": "done", "case": i})
    for item in deferred:
        try:
            run_numeric(*item)
        except BaseException:  # noqa: BLE001  (diagnostics only)
            pass


def _conv_forward(i, L, A, params, num, np, send_array, report, pair, numeric):
    x, w, b = A["x"].copy(), A["w"].copy(), A["b"].copy()
    out, _ = pair(L.conv_forward_naive(x, w, b, dict(params["conv_param"])),
                  "conv_forward_naive")
    send_array(i, "out", out)
    for k, v in (("x", x), ("w", w), ("b", b)):
        send_array(i, "post_" + k, v)


def _conv_backward(i, L, A, params, num, np, send_array, report, pair, numeric):
    x, w, b, dout = (A[k].copy() for k in ("x", "w", "b", "dout"))
    cp = dict(params["conv_param"])
    forward_ok = True
    try:
        if FORWARD_HUNG:
            raise ForwardTimeout("forward call timed out in an earlier case")
        with call_limit(FORWARD_CALL_SECONDS):
            _, cache = pair(L.conv_forward_naive(x, w, b, cp), "conv_forward_naive")
    except BaseException as exc:  # noqa: BLE001
        report(i, "forward", exc)
        forward_ok = False
        cache_cls = getattr(L, "ConvCache", None)
        cache = cache_cls(x, w, b, cp) if cache_cls else (x, w, b, cp)
    dx, dw, db = pair(L.conv_backward_naive(dout, cache), "conv_backward_naive", 3)
    send_array(i, "dx", dx)
    send_array(i, "dw", dw)
    send_array(i, "db", db)
    for k, v in (("x", x), ("w", w), ("b", b), ("dout", dout)):
        send_array(i, "post_" + k, v)
    if forward_ok:
        f = lambda a: L.conv_forward_naive(a["x"], a["w"], a["b"], dict(cp))[0]  # noqa: E731
        try:
            numeric(i, f, {k: A[k] for k in ("x", "w", "b")}, ("x", "w", "b"), num, A["dout"])
        except BaseException as exc:  # noqa: BLE001
            report(i, "numeric", exc)


def _pool_forward(i, L, A, params, num, np, send_array, report, pair, numeric):
    x = A["x"].copy()
    out, _ = pair(L.max_pool_forward_naive(x, dict(params["pool_param"])),
                  "max_pool_forward_naive")
    send_array(i, "out", out)
    send_array(i, "post_x", x)


def _pool_backward(i, L, A, params, num, np, send_array, report, pair, numeric):
    x, dout = A["x"].copy(), A["dout"].copy()
    pp = dict(params["pool_param"])
    forward_ok = True
    try:
        if FORWARD_HUNG:
            raise ForwardTimeout("forward call timed out in an earlier case")
        with call_limit(FORWARD_CALL_SECONDS):
            _, cache = pair(L.max_pool_forward_naive(x, pp), "max_pool_forward_naive")
    except BaseException as exc:  # noqa: BLE001
        report(i, "forward", exc)
        forward_ok = False
        cache_cls = getattr(L, "PoolCache", None)
        cache = cache_cls(x, pp) if cache_cls else (x, pp)
    dx = L.max_pool_backward_naive(dout, cache)
    send_array(i, "dx", dx)
    send_array(i, "post_x", x)
    send_array(i, "post_dout", dout)
    if forward_ok:
        f = lambda a: L.max_pool_forward_naive(a["x"], dict(pp))[0]  # noqa: E731
        try:
            numeric(i, f, {"x": A["x"]}, ("x",), num, A["dout"])
        except BaseException as exc:  # noqa: BLE001
            report(i, "numeric", exc)


def _net_kwargs(np, init):
    kw = dict(init)
    kw["input_dim"] = tuple(kw["input_dim"])
    kw["dtype"] = np.float64
    return kw


def _net(i, M, A, params, num, np, send_array, report, pair, numeric):
    kwargs = _net_kwargs(np, params["init"])
    cls = M.ThreeLayerConvNet
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
    ref = {k[len("param_"):]: v for k, v in A.items() if k.startswith("param_")}
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
        loss, grads = pair(model.loss(X.copy(), y.copy()), "ThreeLayerConvNet.loss", 2)
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


CASE_FUNCS = {
    "hw5_conv_forward": _conv_forward,
    "hw5_conv_backward": _conv_backward,
    "hw5_max_pool_forward": _pool_forward,
    "hw5_max_pool_backward": _pool_backward,
    "hw5_three_layer_convnet": _net,
}


def init_process():
    """pid 1 of the namespaces: hide the kit, start the worker, exit with its status."""
    hidden, problem = isolate_filesystem()
    send({"kind": "isolation", "level": "partial" if problem else "full",
          "hidden": hidden, "problem": problem})
    pid = os.fork()
    if pid == 0:
        try:
            worker()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException:
            code = 70
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    os._exit(os.waitstatus_to_exitcode(status) if os.WIFEXITED(status)
             else 128 + os.WTERMSIG(status))


def kill_uid(uid):
    """Kill every process of the sandbox uid (its own uid: kill(-1) from that uid)."""
    pid = os.fork()
    if pid == 0:
        try:
            os.setgroups([])
            os.setgid(CFG["gid"])
            os.setuid(uid)
            # Every process of this uid except ourselves: freeze first (a fork bomb keeps
            # forking while we kill), then kill. Zombies left for init do not count.
            for sig in (signal.SIGSTOP,) * 5 + (signal.SIGKILL,) * 3:
                try:
                    os.kill(-1, sig)
                except ProcessLookupError:
                    break
                time.sleep(0.005)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)


def launcher():
    if CFG["uid"] is None:  # not root: the worker runs here, in the grader's own session
        send({"kind": "isolation", "level": "partial", "hidden": [],
              "problem": CFG.get("why_partial") or "not running as root"})
        worker()
        return
    flags = CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWIPC
    if CFG.get("no_namespaces"):
        ns_ok, problem = False, "namespaces disabled"
    else:
        ns_ok = libc().unshare(flags) == 0
        problem = None if ns_ok else f"unshare failed: {os.strerror(ctypes.get_errno())}"
    deadline = time.monotonic() + float(CFG["limits"]["wall_seconds"])
    pid = os.fork()
    if pid == 0:
        try:
            if ns_ok:
                libc().prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
                init_process()
            else:  # still an unprivileged uid and limits, but the kit stays visible
                send({"kind": "isolation", "level": "partial", "hidden": [],
                      "problem": f"{problem}; student code runs as uid {CFG['uid']}"})
                CFG["preimport"] = True
                worker()
                os._exit(0)
        except SystemExit as exc:
            os._exit(exc.code if isinstance(exc.code, int) else 1)
        except BaseException:  # noqa: BLE001  (trusted-side failure: leave a trace for the TA)
            import traceback
            traceback.print_exc(file=sys.__stderr__)
        finally:
            os._exit(71)
    code = None
    while code is None:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            code = (os.waitstatus_to_exitcode(status) if os.WIFEXITED(status)
                    else 128 + os.WTERMSIG(status))
        elif time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)  # with namespaces: pid 1, everything in it dies
            os.waitpid(pid, 0)
            code = WALL_TIMEOUT_EXIT
        else:
            time.sleep(0.01)
    if not ns_ok:
        kill_uid(CFG["uid"])  # stragglers that left the process group (setsid, fork bombs)
    os._exit(code)


if __name__ == "__main__":
    launcher()
