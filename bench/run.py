"""``python -m bench``: naive vs fast layers vs the GEMM rate vs PyTorch, in one run.

First, ours against PyTorch with each side in its own process (``bench.sides``: rounds
alternated between the two processes, best round median kept, each process's threads and BLAS
recorded), against the targets of issue 15, and one epoch of HW5's training
(``bench.epoch``). That is the figure that counts: a student's notebook runs only our library
in its process. Then the detailed table, all in this one process.

Timing: ``time.perf_counter``, best of ``k`` runs after one warm-up run (wall clock, all
threads BLAS and PyTorch use by default). The naive layers are slow; they are timed on a
reduced batch and scaled linearly to the full batch (marked ``scaled from N=..`` in the table).

Columns: ``ms`` per call; ``GFLOP/s`` = multiply-adds x 2 / time (convolutions only: forward
2*N*F*C*HH*WW*H_out*W_out, backward twice that for dw and dx); ``of GEMM`` = that rate as a
fraction of the machine's measured GEMM rate in the same dtype; ``vs torch`` = our time /
PyTorch's time for the same work (below 1 means faster than PyTorch).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from bench import sides as sides_mod
from bench import work
from intro2ai import _extension, _fast_plan, _malloc, _threads, fast_layers, layers

RESULTS_DIR = Path(__file__).resolve().parent / "results"

# (label, x shape, w shape, stride, pad, pool after the conv or None)
POOL_AFTER = {"B": (2, 2, 2)}
CONV_CASES = [(label, *case, POOL_AFTER.get(label)) for label, case in work.CONV.items()]
DTYPES = (np.float32, np.float64)
EPOCH_IMAGES = 49_000
STEP_BATCH = work.STEP_BATCH


@dataclass
class Row:
    case: str
    what: str
    dtype: str
    impl: str
    ms: float
    gflops: float | None = None
    of_gemm: float | None = None
    vs_torch: float | None = None
    note: str = ""
    extra: dict = field(default_factory=dict)


CLOCK = {"fn": time.perf_counter}
# The training step is timed in this many alternating rounds of ours and PyTorch's.
STEP_ROUNDS = 3


def best_of(fn: Callable[[], object], k: int) -> float:
    """Best time in ms of ``k`` calls after one warm-up call (wall clock unless --single-thread)."""
    clock = CLOCK["fn"]
    fn()
    best = float("inf")
    for _ in range(k):
        t0 = clock()
        fn()
        best = min(best, clock() - t0)
    return best * 1e3


# ----------------------------------------------------------------------------- GEMM rate


def gemm_rate(dtype, k: int, quick: bool) -> dict:
    """GFLOP/s of np.dot at a conv-like shape (case D's GEMM) and a square one; best is the rate."""
    rng = np.random.default_rng(0)
    shapes = {
        "conv-like 64x576 @ 576x16384": (64, 576, 16384),
        "square 2048": (1024, 1024, 1024) if quick else (2048, 2048, 2048),
    }
    out = {}
    for name, (m, kk, n) in shapes.items():
        a = rng.standard_normal((m, kk)).astype(dtype)
        b = rng.standard_normal((kk, n)).astype(dtype)
        ms = best_of(lambda a=a, b=b: np.dot(a, b), k)
        out[name] = 2.0 * m * kk * n / (ms * 1e-3) / 1e9
    out["rate"] = max(out.values())
    return out


# ----------------------------------------------------------------------------- torch peer


def blas_info() -> str:
    """OpenBLAS core type and config as NumPy's bundled OpenBLAS reports them (best effort)."""
    import ctypes
    import glob

    libdir = Path(np.__file__).resolve().parent.parent / "numpy.libs"
    for lib in sorted(glob.glob(str(libdir / "*openblas*"))):
        try:
            handle = ctypes.CDLL(lib)
        except OSError:
            continue
        parts = []
        for prefix in ("scipy_openblas_get_", "openblas_get_"):
            for what in ("corename", "config"):
                for suffix in ("64_", ""):
                    fn = getattr(handle, f"{prefix}{what}{suffix}", None)
                    if fn is not None:
                        fn.restype = ctypes.c_char_p
                        parts.append(fn().decode())
                        break
        if parts:
            return " | ".join(parts)
    return "unknown (not NumPy's bundled OpenBLAS)"


def load_torch():
    try:
        import torch  # noqa: F401  (benchmark peer only, never a dependency)
        import torch.nn.functional  # noqa: F401
    except Exception:  # not installed, or broken: the benchmark runs without it
        return None
    return torch


# ----------------------------------------------------------------------------- conv / pool


def conv_flops(xs, ws, stride, pad) -> float:
    N, C, H, W = xs
    F, _, HH, WW = ws
    H_out = 1 + (H + 2 * pad - HH) // stride
    W_out = 1 + (W + 2 * pad - WW) // stride
    return 2.0 * N * F * C * HH * WW * H_out * W_out


def bench_conv(label, xs, ws, stride, pad, dtype, k, gemm, torch, naive_n, rows):
    rng = np.random.default_rng(1)
    x = rng.standard_normal(xs).astype(dtype)
    w = (rng.standard_normal(ws) * 0.1).astype(dtype)
    b = rng.standard_normal(ws[0]).astype(dtype)
    cp = {"stride": stride, "pad": pad}
    dname = np.dtype(dtype).name
    fl = conv_flops(xs, ws, stride, pad)
    out, cache = fast_layers.conv_forward_fast(x, w, b, cp)
    dout = rng.standard_normal(out.shape).astype(dtype)
    case = f"{label} conv x{xs} w{ws} s{stride} p{pad}"

    t_fwd = best_of(lambda: fast_layers.conv_forward_fast(x, w, b, cp), k)
    t_bwd = best_of(lambda: fast_layers.conv_backward_fast(dout, cache), k)

    def fast_fb():
        o, c = fast_layers.conv_forward_fast(x, w, b, cp)
        fast_layers.conv_backward_fast(dout, c)

    t_fb = best_of(fast_fb, k)

    def strides_fb():
        o, c = fast_layers.conv_forward_strides(x, w, b, cp)
        fast_layers.conv_backward_strides(dout, c)

    t_sfb = best_of(strides_fb, max(1, k // 2))

    # Naive on a reduced batch, scaled.
    n = min(naive_n, xs[0])
    xn, dn = x[:n], dout[:n]

    def naive_fb():
        o, c = layers.conv_forward_naive(xn, w, b, cp)
        layers.conv_backward_naive(dn, c)

    t_naive = best_of(naive_fb, 1) * xs[0] / n

    t_torch = {}
    if torch is not None:
        tdt = torch.float32 if dtype == np.float32 else torch.float64
        xt = torch.from_numpy(x)
        wt = torch.from_numpy(w).requires_grad_()
        bt = torch.from_numpy(b).requires_grad_()
        xg = xt.clone().requires_grad_()
        dt = torch.from_numpy(dout)
        F = torch.nn.functional

        def t_f():
            with torch.no_grad():
                return F.conv2d(xt, wt, bt, stride=stride, padding=pad)

        def t_fb_():
            xg.grad = wt.grad = bt.grad = None
            o = F.conv2d(xg, wt, bt, stride=stride, padding=pad)
            o.backward(dt)

        assert xt.dtype == tdt
        t_torch["fwd"] = best_of(t_f, k)
        t_torch["fwd+bwd"] = best_of(t_fb_, k)
        if t_torch["fwd+bwd"] > t_torch["fwd"]:  # else noise: no meaningful inferred bwd
            t_torch["bwd"] = t_torch["fwd+bwd"] - t_torch["fwd"]

    def row(what, impl, ms, flops, torch_key=None, note=""):
        g = flops / (ms * 1e-3) / 1e9 if flops else None
        rows.append(
            Row(
                case,
                what,
                dname,
                impl,
                ms,
                g,
                g / gemm[dname] if g else None,
                ms / t_torch[torch_key] if torch_key in t_torch else None,
                note,
            )
        )

    row("fwd", "fast", t_fwd, fl, "fwd", f"{work.conv_layout(xs, ws, stride, pad, dtype)} layout")
    row("bwd", "fast", t_bwd, 2 * fl, "bwd", "torch bwd = (fwd+bwd) - fwd")
    row("fwd+bwd", "fast", t_fb, 3 * fl, "fwd+bwd")
    row("fwd+bwd", "strides", t_sfb, 3 * fl, "fwd+bwd")
    row("fwd+bwd", "naive", t_naive, 3 * fl, "fwd+bwd", f"scaled from N={n}")
    for key, ms in t_torch.items():
        flops = {"fwd": fl, "bwd": 2 * fl, "fwd+bwd": 3 * fl}[key]
        row(key, "torch", ms, flops, None, "inferred" if key == "bwd" else "")
    return out


def bench_pool(label, x, pp, k, torch, naive_n, rows):
    dname = x.dtype.name
    ph, pw, s = pp["pool_height"], pp["pool_width"], pp["stride"]
    case = f"{label} pool {ph}x{pw} s{s} on {x.shape}"
    out, cache = fast_layers.max_pool_forward_fast(x, pp)
    rng = np.random.default_rng(2)
    dout = rng.standard_normal(out.shape).astype(x.dtype)
    t_fwd = best_of(lambda: fast_layers.max_pool_forward_fast(x, pp), k)
    t_bwd = best_of(lambda: fast_layers.max_pool_backward_fast(dout, cache), k)

    def fb():
        o, c = fast_layers.max_pool_forward_fast(x, pp)
        fast_layers.max_pool_backward_fast(dout, c)

    t_fb = best_of(fb, k)
    n = min(naive_n, x.shape[0])

    def naive_fb():
        o, c = layers.max_pool_forward_naive(x[:n], pp)
        layers.max_pool_backward_naive(dout[:n], c)

    t_naive = best_of(naive_fb, 1) * x.shape[0] / n
    t_torch = {}
    if torch is not None:
        F = torch.nn.functional
        xt = torch.from_numpy(np.ascontiguousarray(x))
        xg = xt.clone().requires_grad_()
        dt = torch.from_numpy(dout)

        def t_f():
            with torch.no_grad():
                return F.max_pool2d(xt, (ph, pw), s)

        def t_fb_():
            xg.grad = None
            F.max_pool2d(xg, (ph, pw), s).backward(dt)

        t_torch["fwd"] = best_of(t_f, k)
        t_torch["fwd+bwd"] = best_of(t_fb_, k)
        if t_torch["fwd+bwd"] > t_torch["fwd"]:  # else noise: no meaningful inferred bwd
            t_torch["bwd"] = t_torch["fwd+bwd"] - t_torch["fwd"]

    def row(what, impl, ms, key=None, note=""):
        rows.append(
            Row(
                case,
                what,
                dname,
                impl,
                ms,
                None,
                None,
                ms / t_torch[key] if key in t_torch else None,
                note,
            )
        )

    row("fwd", "fast", t_fwd, "fwd", f"{cache.path} path")
    row("bwd", "fast", t_bwd, "bwd", "torch bwd = (fwd+bwd) - fwd")
    row("fwd+bwd", "fast", t_fb, "fwd+bwd")
    row("fwd+bwd", "naive", t_naive, "fwd+bwd", f"scaled from N={n}")
    for key, ms in t_torch.items():
        row(key, "torch", ms, None, "inferred" if key == "bwd" else "")


# ----------------------------------------------------------------------------- training step


def bench_step(dtype, k, torch, rows):
    dname = np.dtype(dtype).name
    case = f"ThreeLayerConvNet step, batch {STEP_BATCH}, one process"
    step, loss = work.ours_step(dtype)
    t_loss = best_of(loss, k)
    tstep = work.torch_step(dtype) if torch is not None else None

    # Rounds of k steps of each, alternating: a burst of load on this (shared) machine then
    # hits both sides instead of one, and each side is timed in its steady state (a training
    # loop, with its own thread pools' state from the step before).
    t_ours = t_torch = float("inf")
    for _ in range(STEP_ROUNDS):
        t_ours = min(t_ours, best_of(step, k))
        if tstep is not None:
            t_torch = min(t_torch, best_of(tstep, k))
    if tstep is None:
        t_torch = None
    per_epoch = EPOCH_IMAGES / STEP_BATCH
    rows.append(
        Row(
            case,
            "step",
            dname,
            "fast",
            t_ours,
            None,
            None,
            t_ours / t_torch if t_torch else None,
            f"one-process figure (old method: both sides alternate in this process, "
            f"PyTorch with what importing intro2ai set: OpenBLAS's thread timeout, "
            f"glibc's malloc thresholds); epoch of "
            f"{EPOCH_IMAGES} images ~ {t_ours * per_epoch / 1e3:.1f} s; "
            f"loss alone {t_loss:.1f} ms",
            {"epoch_s": t_ours * per_epoch / 1e3},
        )
    )
    if t_torch:
        rows.append(
            Row(
                case,
                "step",
                dname,
                "torch",
                t_torch,
                None,
                None,
                None,
                f"epoch ~ {t_torch * per_epoch / 1e3:.1f} s",
                {"epoch_s": t_torch * per_epoch / 1e3},
            )
        )


# ----------------------------------------------------------------------------- output


def fmt(v, spec):
    return "-" if v is None else format(v, spec)


def print_table(rows, out=sys.stdout):
    header = f"{'case':<48} {'what':<8} {'dtype':<8} {'impl':<9} {'ms':>10} {'GFLOP/s':>8} {'of GEMM':>8} {'vs torch':>9}  note"
    print(header, file=out)
    print("-" * len(header), file=out)
    last = None
    for r in rows:
        case = r.case if r.case != last else ""
        last = r.case
        print(
            f"{case[:48]:<48} {r.what:<8} {r.dtype:<8} {r.impl:<9} {r.ms:>10.2f} "
            f"{fmt(r.gflops, '8.1f')} {fmt(r.of_gemm, '8.2f')} {fmt(r.vs_torch, '9.2f')}  {r.note}",
            file=out,
        )


def save(rows, meta, stamp, results_dir=None):
    results_dir = Path(results_dir) if results_dir else RESULTS_DIR
    results_dir.mkdir(parents=True, exist_ok=True)
    base = results_dir / f"bench-{stamp}"
    with open(base.with_suffix(".json"), "w") as f:
        json.dump({"meta": meta, "rows": [asdict(r) for r in rows]}, f, indent=1)
    with open(base.with_suffix(".csv"), "w", newline="") as f:
        wr = csv.writer(f)
        wr.writerow(
            ["case", "what", "dtype", "impl", "ms", "gflops", "of_gemm", "vs_torch", "note"]
        )
        for r in rows:
            wr.writerow(
                [
                    r.case,
                    r.what,
                    r.dtype,
                    r.impl,
                    f"{r.ms:.4f}",
                    r.gflops,
                    r.of_gemm,
                    r.vs_torch,
                    r.note,
                ]
            )
    with open(base.with_suffix(".txt"), "w") as f:
        print(json.dumps(meta), file=f)
        if meta.get("sides"):
            print_sides(meta["sides"], meta, f)
            print(file=f)
        if rows:
            print_table(rows, f)
    if rows:
        plot(rows, base.with_suffix(".png"), meta)
    return base


def plot(rows, path, meta):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = []
    for r in rows:
        key = (r.case, r.what, r.dtype)
        if r.what in ("fwd+bwd", "step") and key not in groups:
            groups.append(key)
    impls = ["naive", "strides", "fast", "intro2ai", "torch"]
    colors = {
        "naive": "#bbbbbb",
        "strides": "#9ecae1",
        "fast": "#3182bd",
        "intro2ai": "#3182bd",
        "torch": "#e6550d",
    }
    fig, ax = plt.subplots(figsize=(12, 0.45 * len(groups) * 2 + 1.5))
    y = 0.0
    yticks, ylabels, seen = [], [], set()
    for key in groups:
        sub = [r for r in rows if (r.case, r.what, r.dtype) == key]
        sub.sort(key=lambda r: impls.index(r.impl) if r.impl in impls else 9)
        start = y
        for r in sub:
            lab = r.impl if r.impl not in seen else None
            seen.add(r.impl)
            ax.barh(y, r.ms, height=0.8, color=colors.get(r.impl, "k"), label=lab)
            ax.text(r.ms, y, f" {r.ms:.1f}", va="center", fontsize=7)
            y += 1
        yticks.append((start + y - 1) / 2)
        ylabels.append(f"{key[0][:40]}\n{key[1]} {key[2]}")
        y += 0.8
    ax.set_xscale("log")
    ax.set_yticks(yticks)
    ax.set_yticklabels(ylabels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("ms (log scale; naive scaled from a reduced batch)")
    ax.set_title(
        f"intro2ai layers vs PyTorch CPU ({meta['cores']} cores, "
        f"GEMM f32 {meta['gemm']['float32']['rate']:.0f} / f64 "
        f"{meta['gemm']['float64']['rate']:.0f} GFLOP/s)"
    )
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ----------------------------------------------------------------------------- main


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    ap.add_argument("-k", "--repeat", type=int, default=5, help="best of k runs (default 5)")
    ap.add_argument(
        "--naive-batch",
        type=int,
        default=2,
        help="batch size the naive layers are timed on, then scaled (default 2)",
    )
    ap.add_argument("--quick", action="store_true", help="k=2, smaller GEMM probe, one dtype")
    ap.add_argument("--no-torch", action="store_true", help="skip PyTorch even if installed")
    ap.add_argument("--cases", default="ABCD", help="conv cases to run (default ABCD)")
    ap.add_argument(
        "--out",
        default=None,
        help="folder for the .txt/.csv/.json/.png results (default bench/results)",
    )
    ap.add_argument(
        "--rounds",
        type=int,
        default=5,
        help="alternated rounds per task, each side in its own process (default 5)",
    )
    ap.add_argument(
        "--epoch-images",
        type=int,
        default=None,
        help=f"images of the timed HW5 epoch (default {EPOCH_IMAGES}, 2000 with "
        "--quick; 0 skips it)",
    )
    ap.add_argument(
        "--no-one-thread",
        action="store_true",
        help="skip the side-by-side table with one thread each (CPU time)",
    )
    ap.add_argument(
        "--sides-only",
        action="store_true",
        help="only the side-by-side table and the epoch (skip the one-process table)",
    )
    ap.add_argument(
        "--single-thread",
        action="store_true",
        help="one BLAS/torch thread, timed by process CPU time: a comparison that "
        "survives a busy machine (not the 2-core numbers)",
    )
    args = ap.parse_args(argv)
    # --single-thread: our conv and pool threads too.
    with fast_layers.use_layout(threads=1) if args.single_thread else contextlib.nullcontext():
        return _run(args)


def _run(args) -> int:
    if args.single_thread:
        CLOCK["fn"] = time.process_time
    k = 2 if args.quick else args.repeat
    dtypes = DTYPES[:1] if args.quick else DTYPES
    torch = None if args.no_torch else load_torch()
    if torch is not None and args.single_thread:
        torch.set_num_threads(1)

    meta = {
        "pid": os.getpid(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "cores": os.cpu_count(),
        "machine": platform.machine(),
        "blas": blas_info(),
        "extension": "cython" if _extension.is_built() else "numpy fallback",
        "torch": getattr(torch, "__version__", None),
        "torch_threads": torch.get_num_threads() if torch is not None else None,
        "openblas_env": {
            v: os.environ[v]
            for v in (
                "OPENBLAS_CORETYPE",
                "OPENBLAS_L2_SIZE",
                "OPENBLAS_NUM_THREADS",
                "OMP_NUM_THREADS",
                "INTRO2AI_NUM_THREADS",
            )
            if v in os.environ
        },
        "conv_threads": _fast_plan.workers(),
        "openblas_idle_threads": _threads.status(),
        "malloc_thresholds": _malloc.status(),
        # SIMD kernels of the direct convolution: 2 AVX-512, 1 AVX2+FMA, 0 portable, -1 none.
        "direct_simd_level": _fast_plan.simd_level(_extension.cython_module()),
        "repeat": k,
        "naive_batch": args.naive_batch,
        "clock": "process CPU time, 1 thread" if args.single_thread else "wall (perf_counter)",
        "load_average_start": [round(v, 2) for v in os.getloadavg()],
        "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
    }
    print(f"intro2ai bench: {json.dumps(meta)}", flush=True)
    if meta["extension"] != "cython":
        print(
            "warning: the Cython extension is not built; timing the NumPy fallback "
            "(run `make compile-cython`)",
            flush=True,
        )
    if "OPENBLAS_CORETYPE" in meta["openblas_env"]:
        print(
            "note: OPENBLAS_CORETYPE is set; it can select a slower GEMM kernel "
            "(see the machine notes before comparing numbers)",
            flush=True,
        )
    if torch is None:
        print("note: torch not importable; PyTorch columns are empty", flush=True)
    if os.getloadavg()[0] > 0.5 * (os.cpu_count() or 1):
        print(
            f"warning: load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores: other "
            "processes are running, so times are inflated and ratios unreliable",
            flush=True,
        )

    sides = None
    if not args.single_thread:
        print(
            "ours vs PyTorch, each side in its own process "
            f"({args.rounds} alternated rounds per task):",
            flush=True,
        )
        sides = sides_mod.run(
            sides_mod.default_tasks(args.quick, args.cases),
            args.rounds,
            k,
            torch is not None,
            log=lambda m: print(m, flush=True),
        )
        sides["load_average_end"] = [round(v, 2) for v in os.getloadavg()]
        meta["sides_env"] = sides["env"]
        if not args.no_one_thread:
            print("ours vs PyTorch, one thread each (process CPU time):", flush=True)
            one = sides_mod.run(
                sides_mod.default_tasks(args.quick, args.cases),
                args.rounds,
                k,
                torch is not None,
                log=lambda m: print(m, flush=True),
                one_thread=True,
            )
            one["load_average_end"] = [round(v, 2) for v in os.getloadavg()]
            sides["single_thread"] = one
        images = (
            args.epoch_images
            if args.epoch_images is not None
            else (2000 if args.quick else EPOCH_IMAGES)
        )
        if images > 0:
            print(f"  one epoch of HW5's training on {images} images ...", flush=True)
            sides["epoch"] = sides_mod.epoch(images)
            print(f"  epoch: {sides['epoch']['seconds']:.1f} s", flush=True)
        meta["sides"] = sides

    if args.sides_only:
        return _finish(meta, [], sides, args)

    gemm = {}
    for dt in DTYPES:
        gemm[np.dtype(dt).name] = gemm_rate(dt, k, args.quick)
        print(
            f"GEMM {np.dtype(dt).name}: "
            + ", ".join(f"{n} {v:.1f} GFLOP/s" for n, v in gemm[np.dtype(dt).name].items()),
            flush=True,
        )
    meta["gemm"] = gemm
    rate = {name: g["rate"] for name, g in gemm.items()}

    rows: list[Row] = []
    for dt in dtypes:
        for label, xs, ws, stride, pad, pool in CONV_CASES:
            if label not in args.cases:
                continue
            out = bench_conv(label, xs, ws, stride, pad, dt, k, rate, torch, args.naive_batch, rows)
            print(f"  done {label} {np.dtype(dt).name}", flush=True)
            if pool is not None:
                ph, pw, s = pool
                pp = {"pool_height": ph, "pool_width": pw, "stride": s}
                bench_pool(label, out, pp, k, torch, args.naive_batch, rows)
                # The same activations through an overlapping pool (the im2col path).
                pp3 = {"pool_height": 3, "pool_width": 3, "stride": 1}
                bench_pool(
                    label,
                    np.ascontiguousarray(out[:, :, :31, :31]),
                    pp3,
                    k,
                    torch,
                    args.naive_batch,
                    rows,
                )
        bench_step(dt, k, torch, rows)
        print(f"  done step {np.dtype(dt).name}", flush=True)

    return _finish(meta, rows, sides, args)


def print_sides(sides, meta, out=sys.stdout):
    print(file=out)
    sides_mod.print_table(sides, out)
    if "epoch" in sides:
        e = sides["epoch"]
        print(
            f"{'HW5 epoch (hidden 500, reg 1e-3), own process':<48} {'float32':<8} "
            f"{e['seconds'] * 1e3:>9.0f}  ({e['images']} synthetic images, "
            f"{e['ms_per_iteration']:.1f} ms per iteration)",
            file=out,
        )
    print(
        f"load average at start {meta['load_average_start']}, after the side-by-side table "
        f"{sides['load_average_end']}",
        file=out,
    )
    for name, env in sides["env"].items():
        print(f"  {name} process: {json.dumps(env)}", file=out)
    if "single_thread" in sides:
        print(file=out)
        sides_mod.print_table(sides["single_thread"], out)
        print(f"load average after it {sides['single_thread']['load_average_end']}", file=out)


def _finish(meta, rows, sides, args) -> int:
    meta["load_average_end"] = [round(v, 2) for v in os.getloadavg()]
    if sides is not None:
        print_sides(sides, meta)
    if rows:
        print()
        print_table(rows)
    print(
        f"\nload average at start {meta['load_average_start']}, at end {meta['load_average_end']}"
    )
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    base = save(rows, meta, stamp, args.out)
    print(f"\nsaved {base}.txt/.csv/.json" + (f" and {base}.png" if rows else ""))
    return 0
