"""One side of the side-by-side benchmark: ``python -m bench.side ours|torch``.

Each side runs in its own process, as a student's notebook runs only our library in its
process: nothing of the other side (its thread pools, its spinning threads) is in there. The
parent (``bench.sides``) starts one process per side and alternates rounds between them over
a line protocol:

- the side prints one JSON line ``{"ready": true, "env": {...}}`` when it has started;
- each line it reads is a JSON request ``{"task": "step:float32", "k": 10}``; it times ``k``
  calls of that task (built and warmed up on first use) and prints ``{"task": ..., "ms":
  [...], "median_ms": ..., "cpu_ms": [...], "median_cpu_ms": ...}`` (wall clock and the
  process's CPU time); an error is reported as ``{"error": "..."}``;
- an empty line or end of input ends it.

The ``ours`` side imports NumPy before ``intro2ai``, as the HW5 notebook does, and sets no
environment variable: the default a student gets. (The parent may start both sides with one
thread each, as the grading sandbox runs: ``OPENBLAS_NUM_THREADS=1`` and friends.)

Tasks: ``step:<dtype>`` (ThreeLayerConvNet forward, backward and Adam at batch 50),
``conv:<A-D>:<dtype>`` (convolution forward + backward of a bench case), ``pool:<dtype>``
(2x2 max pool forward + backward of case B's conv output).
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time

import numpy as np

from bench import work

# ----------------------------------------------------------------------------- ours


def ours_env() -> dict:
    from intro2ai import _extension, _fast_plan, _malloc, _threads

    return {
        "side": "ours",
        "pid": os.getpid(),
        "thread_env": _thread_env(),
        "openblas_idle_threads": _threads.status(),
        "malloc_thresholds": _malloc.status(),
        "conv_threads": _fast_plan.workers(),
        "direct_simd_level": _fast_plan.simd_level(_extension.cython_module()),
        "extension": "cython" if _extension.is_built() else "numpy fallback",
        "blas": _blas_pools(),
    }


def ours_task(name: str):
    from intro2ai import fast_layers

    kind, *rest = name.split(":")
    dtype = np.dtype(rest[-1])
    if kind == "step":
        return work.ours_step(dtype)[0]
    if kind == "conv":
        xs, ws, stride, pad = work.CONV[rest[0]]
        x, w = work.data(xs, dtype, 1), work.data(ws, dtype, 2, 0.1)
        b = work.data(ws[0], dtype, 4)
        cp = {"stride": stride, "pad": pad}
        out, _ = fast_layers.conv_forward_fast(x, w, b, cp)
        dout = work.data(out.shape, dtype, 5)

        def conv():
            _, cache = fast_layers.conv_forward_fast(x, w, b, cp)
            fast_layers.conv_backward_fast(dout, cache)

        return conv
    if kind == "pool":
        x = work.data(work.POOL_SHAPE, dtype, 6)
        pp = {"pool_height": 2, "pool_width": 2, "stride": 2}
        dout = work.data((work.POOL_SHAPE[0], work.POOL_SHAPE[1], 16, 16), dtype, 7)

        def pool():
            _, cache = fast_layers.max_pool_forward_fast(x, pp)
            fast_layers.max_pool_backward_fast(dout, cache)

        return pool
    raise ValueError(f"unknown task {name!r}")


# ----------------------------------------------------------------------------- torch


def torch_env() -> dict:
    import torch

    return {
        "side": "torch",
        "pid": os.getpid(),
        "torch": torch.__version__,
        "thread_env": _thread_env(),
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "torch_config": torch.__config__.parallel_info().splitlines()[:6],
        "blas": _blas_pools(),
    }


def torch_task(name: str):
    import torch

    F = torch.nn.functional
    kind, *rest = name.split(":")
    dtype = np.dtype(rest[-1])
    if kind == "step":
        return work.torch_step(dtype)
    if kind == "conv":
        xs, ws, stride, pad = work.CONV[rest[0]]
        x = torch.from_numpy(work.data(xs, dtype, 1)).requires_grad_()
        w = torch.from_numpy(work.data(ws, dtype, 2, 0.1)).requires_grad_()
        b = torch.from_numpy(work.data(ws[0], dtype, 4)).requires_grad_()
        with torch.no_grad():
            shape = F.conv2d(x, w, b, stride=stride, padding=pad).shape
        dout = torch.from_numpy(work.data(tuple(shape), dtype, 5))

        def conv():
            x.grad = w.grad = b.grad = None
            F.conv2d(x, w, b, stride=stride, padding=pad).backward(dout)

        return conv
    if kind == "pool":
        x = torch.from_numpy(work.data(work.POOL_SHAPE, dtype, 6)).requires_grad_()
        dout_shape = (work.POOL_SHAPE[0], work.POOL_SHAPE[1], 16, 16)
        dout = torch.from_numpy(work.data(dout_shape, dtype, 7))

        def pool():
            x.grad = None
            F.max_pool2d(x, 2, 2).backward(dout)

        return pool
    raise ValueError(f"unknown task {name!r}")


# ----------------------------------------------------------------------------- loop


def _thread_env() -> dict:
    return {
        v: os.environ[v]
        for v in (
            "OPENBLAS_NUM_THREADS",
            "OMP_NUM_THREADS",
            "MKL_NUM_THREADS",
            "INTRO2AI_NUM_THREADS",
            "OPENBLAS_THREAD_TIMEOUT",
        )
        if v in os.environ
    }


def _blas_pools() -> list:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return []
    keys = (
        "user_api",
        "internal_api",
        "num_threads",
        "version",
        "threading_layer",
        "architecture",
        "prefix",
    )
    return [{k: info.get(k) for k in keys} for info in threadpool_info()]


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1 or argv[0] not in ("ours", "torch"):
        print("usage: python -m bench.side ours|torch", file=sys.stderr)
        return 2
    side = argv[0]
    if side == "ours":
        import intro2ai  # noqa: F401  (after NumPy, as in the notebook)

        env, make = ours_env(), ours_task
    else:
        env, make = torch_env(), torch_task
    print(json.dumps({"ready": True, "env": env}), flush=True)
    tasks: dict = {}
    for line in sys.stdin:
        line = line.strip()
        if not line:
            break
        try:
            req = json.loads(line)
            name, k = req["task"], int(req["k"])
            if name not in tasks:
                tasks[name] = make(name)
                for _ in range(3):  # warm up: allocations, thread pools, caches
                    tasks[name]()
            fn = tasks[name]
            ms, cpu = [], []
            for _ in range(k):
                c0, t0 = time.process_time(), time.perf_counter()
                fn()
                ms.append((time.perf_counter() - t0) * 1e3)
                cpu.append((time.process_time() - c0) * 1e3)
            reply = {
                "task": name,
                "ms": ms,
                "median_ms": statistics.median(ms),
                "cpu_ms": cpu,
                "median_cpu_ms": statistics.median(cpu),
            }
        except Exception as exc:  # reported to the parent, which stops
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        print(json.dumps(reply), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
