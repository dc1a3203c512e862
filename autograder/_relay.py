"""Trusted relay inside the grader's sandbox: runs the student code in a child, forwards only
validated records to the grader.

Started by ``autograder.sandbox`` inside ``autograder.jail`` as
``python -I -S /grader/_relay.py CONFIG_JSON``, with the result pipe to the grader inherited as
``CONFIG["result_fd"]``. Standard library and NumPy only (it never imports ``autograder``).

::

    bwrap (jail)  ->  relay (this file; holds the result fd; not dumpable)
                        └─ worker (fork; result fd closed; student code; _sandbox_child.py)

The worker writes records (``b"R" + len4 + header JSON + len8 + payload``) to a pipe that only
the relay reads. Student code runs in the worker and may write anything to that pipe; the
relay alone holds the grader's descriptor (the worker cannot reach it: it was closed before
any student code ran, and the relay is not dumpable, so ``/proc/<relay>/fd`` and ptrace are
closed to the worker) and forwards a record only when:

* its framing is exact, its header a small flat JSON object of a known kind, its case in range;
* an array's key is one the task produces for that case, its payload a ``.npy`` of a numeric
  dtype whose size matches its header and is at most ``MAX_ARRAY_BYTES``;
* it is the first record of its (case, key): a second one (e.g. a forged ``post_x`` followed
  by the real one) marks the case **tampered** (the grader gives it 0), as does any array
  after the case's ``done`` (numerical-gradient diagnostics excepted) or a second ``done``;
* ``post_*`` arrays (the inputs after the call, for the "inputs mutated" check) come from the
  relay alone: the layer tasks' inputs are views of memory shared with the relay, which reads
  them back when the case ends; a ``post_*`` record from the worker is malformed;
* per case at most ``MAX_ERRORS`` error and ``MAX_BAD`` "bad value" records, each field cut
  to ``FIELD_BYTES``; at most ``MAX_RECORDS`` records read and ``result_mb`` forwarded in all.

The relay's first record is ``{"kind": "hello"}`` (the sandbox started). A malformed record
ends the forwarding: the relay kills the worker and says so
(``{"kind": "stream", "problem": ...}``); cases without a ``done`` earn 0. Last, the relay
sends the worker's exit status (``{"kind": "exit", "code": ...}``, 128 + signal when killed by
one) and exits with it.
"""

import json
import os
import signal
import sys

CFG = json.loads(sys.argv[1])
RESULT_FD = int(CFG["result_fd"])
STDLIB_PATH = list(sys.path)  # the standard library only (-I -S)

HEADER_BYTES = 4096
MAX_ARRAY_BYTES = 8 << 20
MAX_ERRORS = 8
MAX_BAD = 8
FIELD_BYTES = 400
MAX_NAMES = 16
MAX_RECORDS = 20000  # an honest worker sends a few dozen per case

LAYER_KINDS = ("forward", "backward")  # a "model" task's keys follow from each case's inputs
ERROR_STEPS = {"import", "call", "forward", "init", "loss", "scores", "numeric"}
ERROR_STATUSES = {"not_implemented", "memory", "exit", "interrupt", "timeout", "error"}


class StreamError(Exception):
    """The worker's stream is malformed: forwarding ends."""


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def send(header, payload=b""):
    head = json.dumps(header).encode()
    _write_all(
        RESULT_FD,
        b"R" + len(head).to_bytes(4, "big") + head + len(payload).to_bytes(8, "big") + payload,
    )


def _text(value, limit=FIELD_BYTES):
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        return ""
    return str(value).encode("utf-8", "replace")[:limit].decode("utf-8", "ignore")


class Case:
    def __init__(self, arrays, diag, names_case):
        self.arrays, self.diag, self.names_case = arrays, diag, names_case
        self.seen = set()
        self.done = False
        self.tampered = False
        self.errors = 0
        self.bad = 0
        self.names = None


def _names(spec, field):
    value = spec.get(field)
    if not isinstance(value, list) or not all(
        isinstance(n, str) and n.isidentifier() and len(n) <= 16 for n in value
    ):
        raise ValueError(f"job spec: {field} is not a list of names")
    return value


def layer_keys(spec):
    """A layer task's (shared inputs, array keys, diagnostic keys), from the job's spec (the
    grader's task table): its inputs (and ``dout`` for a backward) are shared with the relay;
    it reports its outputs, and a backward the numerical gradients of its inputs."""
    if spec.get("kind") not in LAYER_KINDS:
        return (), set(), set()
    inputs, outputs = _names(spec, "inputs"), _names(spec, "outputs")
    if spec["kind"] == "backward":
        return tuple(inputs) + ("dout",), set(outputs), {"num_d" + k for k in inputs}
    return tuple(inputs), set(outputs), set()


def case_table(job, npz_keys):
    """What each case may report: (array keys, diagnostic keys, is an init case)."""
    spec = job["spec"]
    _shared, arrays, diag = layer_keys(spec)
    out = []
    for i, _ in enumerate(job["cases"]):
        keys = {k.split(".", 1)[1] for k in npz_keys if k.startswith(f"{i}.")}
        if spec.get("kind") in LAYER_KINDS:
            out.append(Case(set(arrays), set(diag), False))
        elif "X" in keys:  # a ThreeLayerConvNet loss case
            params = sorted(k[len("param_") :] for k in keys if k.startswith("param_"))
            out.append(
                Case(
                    {"loss", "scores"} | {"g_" + p for p in params},
                    {"num_" + p for p in params},
                    False,
                )
            )
        else:  # an __init__ case: names first, then p_<name> for each
            out.append(Case(set(), set(), True))
    return out


def check_npy(payload, npformat):
    """Raise StreamError unless ``payload`` is a numeric .npy whose size matches its header."""
    import io

    if len(payload) > MAX_ARRAY_BYTES + 16384:
        raise StreamError("array too large")
    fp = io.BytesIO(payload)
    try:
        version = npformat.read_magic(fp)
        if version == (1, 0):
            shape, _fortran, dtype = npformat.read_array_header_1_0(fp)
        elif version == (2, 0):
            shape, _fortran, dtype = npformat.read_array_header_2_0(fp)
        else:
            raise StreamError("unsupported .npy version")
    except StreamError:
        raise
    except Exception as exc:  # noqa: BLE001  (anything a forged header makes NumPy raise)
        raise StreamError(f"unreadable array header ({type(exc).__name__})") from None
    if dtype.hasobject or dtype.kind not in "biufc" or dtype.fields is not None:
        raise StreamError("array of a non-numeric dtype")
    if len(shape) > 8:
        raise StreamError("array of more than 8 dimensions")
    count = 1
    for n in shape:
        count *= int(n)
    if count * dtype.itemsize != len(payload) - fp.tell():
        raise StreamError("array size does not match its header")
    if count * dtype.itemsize > MAX_ARRAY_BYTES:
        raise StreamError("array too large")


class Shared:
    """The shared input memory: one anonymous MAP_SHARED mapping made before the fork."""

    def __init__(self, shared_keys, arrays):
        import mmap

        self.layout = []  # (case, key, offset, dtype str, shape)
        size = 0
        for name in sorted(arrays):
            i, key = name.split(".", 1)
            if key in shared_keys:
                a = arrays[name]
                self.layout.append((int(i), key, size, a.dtype.str, tuple(a.shape)))
                size += (a.nbytes + 63) // 64 * 64
        self.mm = mmap.mmap(-1, max(size, 64), flags=mmap.MAP_SHARED)
        for i, key, off, _, _ in self.layout:
            data = arrays[f"{i}.{key}"].tobytes()
            self.mm[off : off + len(data)] = data

    def post_records(self, i):
        """(key, .npy bytes) of case ``i``'s shared inputs as they are now."""
        import io

        import numpy as np

        out = []
        for c, key, off, dtype, shape in self.layout:
            if c != i:
                continue
            n = 1
            for d in shape:
                n *= d
            arr = np.frombuffer(self.mm, dtype=np.dtype(dtype), count=n, offset=off)
            buf = io.BytesIO()
            np.save(buf, arr.reshape(shape).copy(), allow_pickle=False)
            out.append(("post_" + key, buf.getvalue()))
        return out


class Relay:
    def __init__(self, cases, npformat, cap, shared):
        self.cases, self.npformat = cases, npformat
        self.left = cap
        self.shared = shared
        self.count = 0

    def forward(self, header, payload=b""):
        size = len(payload) + 256
        if size > self.left:
            raise StreamError("result stream larger than limits.result_mb")
        self.left -= size
        send(header, payload)

    def tamper(self, case, i, why):
        if not case.tampered:
            case.tampered = True
            self.forward({"kind": "tampered", "case": i, "why": why})

    def record(self, header, payload):
        self.count += 1
        if self.count > MAX_RECORDS:
            raise StreamError("too many records")
        if not isinstance(header, dict):
            raise StreamError("record header is not an object")
        kind = header.get("kind")
        i = header.get("case")
        if not isinstance(i, int) or isinstance(i, bool) or not 0 <= i < len(self.cases):
            raise StreamError("record for no known case")
        case = self.cases[i]
        if case.tampered:
            return
        if kind in ("array", "diag"):
            key = header.get("key")
            if not isinstance(key, str):
                raise StreamError("array without a key")
            if kind == "diag":
                allowed = key in case.diag
            elif case.names_case:
                allowed = case.names is not None and key[:2] == "p_" and key[2:] in case.names
            else:
                allowed = key in case.arrays
            if not allowed:
                # not echoed: the key is the worker's text, shown on every case's feedback
                raise StreamError("unexpected array")
            if (kind, key) in case.seen:
                return self.tamper(case, i, f"second record for {key}")
            if case.done and kind == "array":
                return self.tamper(case, i, f"{key} after the case ended")
            case.seen.add((kind, key))
            check_npy(payload, self.npformat)
            self.forward({"kind": kind, "case": i, "key": key}, payload)
        elif kind == "names":
            names = header.get("names")
            if not case.names_case or case.done:
                raise StreamError("names for a case that has none")
            if case.names is not None:
                return self.tamper(case, i, "second names record")
            if (
                not isinstance(names, list)
                or len(names) > MAX_NAMES
                or not all(isinstance(n, str) and n.isidentifier() and len(n) <= 16 for n in names)
            ):
                raise StreamError("malformed names")
            case.names = list(dict.fromkeys(names))
            self.forward({"kind": "names", "case": i, "names": case.names})
        elif kind == "error":
            case.errors += 1
            if case.errors > MAX_ERRORS:
                return
            step, status = header.get("step"), header.get("status")
            self.forward(
                {
                    "kind": "error",
                    "case": i,
                    "step": step if step in ERROR_STEPS else "call",
                    "status": status if status in ERROR_STATUSES else "error",
                    **{k: _text(header.get(k)) for k in ("exc_type", "message", "where")},
                }
            )
        elif kind == "bad":
            case.bad += 1
            if case.bad > MAX_BAD:
                return
            self.forward(
                {
                    "kind": "bad",
                    "case": i,
                    **{k: _text(header.get(k), 200) for k in ("key", "type", "why")},
                }
            )
        elif kind == "done":
            if case.done:
                return self.tamper(case, i, "second done")
            case.done = True
            for key, payload in self.shared.post_records(i):
                self.forward({"kind": "array", "case": i, "key": key}, payload)
            self.forward({"kind": "done", "case": i})
        else:
            raise StreamError("unknown record kind")


def parse_records(buf, relay):
    """Forward every complete record at the start of ``buf``; return the bytes consumed."""
    pos = 0
    while True:
        if len(buf) - pos < 5:
            return pos
        if buf[pos : pos + 1] != b"R":
            raise StreamError("corrupt result stream")
        hlen = int.from_bytes(buf[pos + 1 : pos + 5], "big")
        if hlen > HEADER_BYTES:
            raise StreamError("record header too long")
        if len(buf) - pos < 13 + hlen:
            return pos
        plen = int.from_bytes(buf[pos + 5 + hlen : pos + 13 + hlen], "big")
        if plen > MAX_ARRAY_BYTES + 16384:
            raise StreamError("record payload too long")
        end = pos + 13 + hlen + plen
        if len(buf) < end:
            return pos
        try:
            header = json.loads(bytes(buf[pos + 5 : pos + 5 + hlen]).decode("utf-8"))
        except Exception as exc:  # noqa: BLE001  (RecursionError from deep nesting, too)
            raise StreamError(f"unreadable record header ({type(exc).__name__})") from None
        relay.record(header, bytes(buf[pos + 13 + hlen : end]))
        pos = end


def relay_loop(fd, pid, relay):
    buf = bytearray()
    problem = None
    while True:
        try:
            chunk = os.read(fd, 1 << 16)
        except InterruptedError:
            continue
        if not chunk:
            break
        if problem:
            continue  # drain until the worker is gone
        buf += chunk
        try:
            used = parse_records(buf, relay)
            del buf[:used]
        except StreamError as exc:
            problem = str(exc)
        except Exception as exc:  # noqa: BLE001  (fail closed on anything unforeseen)
            problem = f"relay error: {type(exc).__name__}"
        if problem:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
            send({"kind": "stream", "problem": problem[:200]})
    if buf and not problem:
        send({"kind": "stream", "problem": "incomplete record at the end"})


def worker_process(w, shared):
    """In the forked child: become the worker (never returns)."""
    code = 70
    try:
        os.close(RESULT_FD)
        sys.path[:] = [CFG["programs"]] + STDLIB_PATH
        import _sandbox_child

        sys.path[:] = STDLIB_PATH
        code = _sandbox_child.main(w, CFG, STDLIB_PATH, shared)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:  # noqa: BLE001
        code = 70
    os._exit(code)


def main():
    import ctypes

    sys.path[:] = [CFG["site"]] + STDLIB_PATH
    import numpy  # noqa: F401  (loaded once here: the worker inherits it)
    from numpy.lib import format as npformat

    box = CFG["box"]
    with open(os.path.join(box, "job.json"), encoding="utf-8") as fh:
        job = json.load(fh)
    with numpy.load(os.path.join(box, "job.npz"), allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    if job.get("spec", {}).get("kind") not in LAYER_KINDS + ("model",):
        raise ValueError("job spec: unknown task kind")  # fail closed: nothing runs
    shared = Shared(layer_keys(job["spec"])[0], arrays)
    relay = Relay(
        case_table(job, list(arrays)), npformat, int(CFG["limits"]["result_mb"]) << 20, shared
    )
    send({"kind": "hello"})  # the sandbox is up (before any student code runs)
    # Not dumpable: the worker (same uid) can neither ptrace this process nor open
    # /proc/<relay>/fd/<result_fd>. Set before the fork, so no student code ever sees it unset.
    ctypes.CDLL(None, use_errno=True).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        worker_process(w, (shared.mm, shared.layout))
    os.close(w)
    relay_loop(r, pid, relay)
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)
    send({"kind": "exit", "code": code})
    os._exit(code)


if __name__ == "__main__":
    try:
        main()
    except BaseException as exc:  # noqa: BLE001  (trusted-side failure: say so, exit 71)
        try:
            send({"kind": "stream", "problem": f"relay failed: {type(exc).__name__}: {exc}"[:200]})
        except Exception:  # noqa: BLE001
            pass
        os._exit(71)
