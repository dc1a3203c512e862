"""The layouts of the fast convolution (``intro2ai.fast_layers``), as the planner
(:mod:`intro2ai._fast_plan`) chooses them:

- **winograd** (3x3 filters at stride 1 between many channels): the direct layout, but the
  forward pass and ``dx`` by Winograd's F(2x2, 3x3) (Lavin and Gray, 2016): per image and band
  of tile rows, the compiled core transforms 4x4 input windows, 16 GEMMs over the channels
  multiply them by the transformed filters, and the core transforms the products back to 2x2
  outputs: 2.25x fewer multiply-adds than the direct convolution.
- **direct** (the compiled core has SIMD kernels for this CPU; stride 1, or small layers at
  other strides): the forward pass and ``dw`` by the core's direct convolution
  (``_direct_conv.h``: each padded image, at stride s its s*s phases, is read in place, no
  im2col columns), chunks of images shared among our threads (each claims the next chunk from
  a counter in the core, without the GIL); so is ``dx`` (a direct convolution of ``dout``
  with the flipped filters) at stride 1 for layers with enough input channels, else a GEMM
  ``w.T @ dout`` per image by the same kernels and col2im, in the core too.
- **chunked** (per-image GEMMs too small for OpenBLAS to thread, one image's columns in the L2
  cache): per chunk of a few images, im2col into a small buffer and GEMMs straight into the
  output; the backward pass recomputes the columns (cheaper than keeping a big array),
  accumulates ``dw`` and col2im's the chunk. Chunks are shared among our threads.
- **batched**: im2col into an ``(N, K, P)`` array (``K = C*HH*WW``, ``P = H_out*W_out``) and
  per-image GEMMs over it (``np.matmul``: results land in ``(N, F, H_out, W_out)`` order with
  no transpose copies), threaded by OpenBLAS.
- **merged**: the same columns in a K-major ``(K, N, P)`` buffer, one GEMM per operation for
  the whole batch (fewer synchronisations of OpenBLAS's threads).

The forward passes return ``(out, cols)``: the columns the backward pass needs (batched or
merged), or None when it recomputes them (direct and chunked). Without the compiled core (or for
other dtypes) the columns come from ``intro2ai._im2col_numpy``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from intro2ai import _fast_plan, _im2col_numpy

KERNEL_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


# ----------------------------------------------------------------------------- dispatch


def conv_forward(
    xc: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int, pad: int, H_out: int, W_out: int
) -> tuple[np.ndarray, np.ndarray | None]:
    """Forward pass in the planned layout; ``xc`` is C-contiguous in the compute dtype."""
    N, C = xc.shape[:2]
    F, _, HH, WW = w.shape
    _, mod = _fast_plan.backend()
    if mod is None or xc.dtype not in KERNEL_DTYPES:
        cols = _im2col_numpy.im2col(xc, HH, WW, pad, stride)
        return gemm_forward(cols, w, b, N, H_out, W_out), cols
    plan = _fast_plan.plan(
        N,
        F,
        C * HH * WW,
        H_out * W_out,
        xc.dtype.itemsize,
        stride=stride,
        simd=_fast_plan.simd_level(mod),
        filt=filt(mod, HH, WW),
    )
    if plan.layout == "winograd":
        return winograd_forward(xc, w, b, pad, H_out, W_out, plan), None
    if plan.layout == "direct":
        return direct_forward(mod, xc, w, b, pad, pad, H_out, W_out, plan, stride), None
    if plan.layout == "chunked":
        return chunked_forward(mod, xc, w, b, HH, WW, pad, stride, H_out, W_out, plan), None
    cols = im2col(mod, xc, HH, WW, pad, stride, plan.layout)
    return gemm_forward(cols, w, b, N, H_out, W_out), cols


def conv_backward(
    x: np.ndarray,
    w: np.ndarray,
    dout: np.ndarray,
    stride: int,
    pad: int,
    cols: np.ndarray | None,
    dtype: np.dtype,
    need_dx: bool,
):
    """``(dx or None, dw, db)`` in the compute ``dtype``; ``cols`` as the forward pass left it."""
    if cols is not None:
        return gemm_backward(cols, w, dout, x.shape, stride, pad, need_dx)
    N, C = x.shape[:2]
    F, _, HH, WW = w.shape
    H_out, W_out = dout.shape[2], dout.shape[3]
    P = H_out * W_out
    xc = np.ascontiguousarray(x, dtype=dtype)
    dout3 = np.ascontiguousarray(dout, dtype=dtype).reshape(N, F, P)
    db = _sum_but_axis1(dout3)
    _, mod = _fast_plan.backend()
    if mod is None or dtype not in KERNEL_DTYPES:
        # The backend changed since the forward pass: do it in one piece.
        cols = _im2col_numpy.im2col(xc, HH, WW, pad, stride)
        dw = np.matmul(dout3, cols.transpose(0, 2, 1)).sum(axis=0)
        dx = None
        if need_dx:
            dcols = np.matmul(w.reshape(F, -1).astype(dtype, copy=False).T, dout3)
            dx = col2im(None, dcols, x.shape, HH, WW, pad, stride)
        return dx, dw, db
    K = C * HH * WW
    plan = _fast_plan.plan(
        N,
        F,
        K,
        P,
        dtype.itemsize,
        stride=stride,
        simd=_fast_plan.simd_level(mod),
        filt=filt(mod, HH, WW),
    )
    if plan.layout not in ("winograd", "direct", "chunked"):  # the settings changed since
        plan = _fast_plan.plan(N, F, K, P, dtype.itemsize, "chunked")  # the forward pass
    if plan.layout not in ("winograd", "direct"):
        return (*chunked_backward(mod, xc, w, dout3, HH, WW, pad, stride, plan, True, need_dx), db)
    direct_dx = need_dx and stride == 1 and direct_dx_pays(mod, dtype, C, HH, WW, pad)
    dout4 = dout3.reshape(N, F, H_out, W_out)
    # dw and dx in one parallel run: each thread starts once.
    jobs = [DirectDw(mod, xc, dout4, w.shape, pad, plan, stride)]
    if need_dx and direct_dx and plan.layout == "winograd":
        jobs.append(winograd_dx_job(mod, dout4, w, pad, plan))
    elif need_dx:
        jobs.append(DirectDx(mod, dout4, w, pad, stride, xc.shape, plan, not direct_dx))
    _fast_plan.run_shared(jobs, plan.workers)
    dw, dx = jobs[0].result(), None
    if len(jobs) > 1:
        dx = jobs[1].result() if isinstance(jobs[1], Winograd) else jobs[1].out
    return dx, dw, db


def _sum_but_axis1(a: np.ndarray) -> np.ndarray:
    """``a.sum(axis=(0, 2))`` of an (N, F, P) array, the images first: adding whole (F, P)
    planes is vectorised, where NumPy's reduction over both axes at once sums the short P rows
    one by one (1.2-2x slower)."""
    return a.sum(axis=0).sum(axis=1)


def filt(mod: Any, HH: int, WW: int) -> tuple:
    """The filter size for the planner: (0, 0) when the core has no Winograd transforms (a
    build from older sources), so that the planner never picks that layout."""
    return (HH, WW) if hasattr(mod, "winograd_input") else (0, 0)


# ----------------------------------------------------------------------------- columns


def im2col(
    mod: Any, x: np.ndarray, HH: int, WW: int, pad: int, stride: int, layout: str = "batched"
) -> np.ndarray:
    """im2col into an (N, K, P) array (x is C-contiguous, a kernel dtype).

    The result is C-contiguous ("batched"), or ("merged") a transposed view of a C-contiguous
    (K, N, P) buffer, so that ``buffer.reshape(K, N * P)`` feeds one GEMM per operation.
    """
    N, C, H, W = x.shape
    H_out = _im2col_numpy.out_size(H, HH, pad, stride)
    W_out = _im2col_numpy.out_size(W, WW, pad, stride)
    K, P = C * HH * WW, H_out * W_out
    if layout == "merged" and N > 1:
        buf = np.empty((K, N, P), dtype=x.dtype)
        mod.im2col(x, buf, HH, WW, pad, stride, True)
        return buf.transpose(1, 0, 2)
    cols = np.empty((N, K, P), dtype=x.dtype)
    mod.im2col(x, cols, HH, WW, pad, stride, False)
    return cols


def k_major(cols: np.ndarray) -> np.ndarray | None:
    """The (K, N*P) matrix behind a K-major cols view, or None for a C-contiguous (N, K, P)."""
    if cols.flags.c_contiguous:
        return None
    base = cols.transpose(1, 0, 2)
    if not base.flags.c_contiguous:
        return None
    return base.reshape(base.shape[0], -1)


def col2im(
    mod: Any, dcols: np.ndarray, x_shape: tuple, HH: int, WW: int, pad: int, stride: int
) -> np.ndarray:
    """col2im of an (N, K, P) array whose last axis is contiguous (any layout of N and K)."""
    if mod is None or dcols.dtype not in KERNEL_DTYPES:
        return _im2col_numpy.col2im(dcols, x_shape, HH, WW, pad, stride)
    dx = np.zeros(x_shape, dtype=dcols.dtype)
    if dcols.flags.c_contiguous:
        mod.col2im(dcols, dx, HH, WW, pad, stride, False)
    else:
        kmaj = np.ascontiguousarray(dcols.transpose(1, 0, 2))  # a view when K-major
        mod.col2im(kmaj, dx, HH, WW, pad, stride, True)
    return dx


def blocks(a: np.ndarray, block: int) -> list:
    """A (k, R, P) array as column blocks for stacked GEMMs (views, no copies).

    Returns ``[a]`` if ``block >= P``; else the whole blocks as one array of shape
    ``(k, P // block, R, block)`` and, if ``block`` does not divide P, the remaining columns
    ``(k, R, P % block)``. Slicing a view along its first axis slices ``a`` the same way.
    """
    k, R, P = a.shape
    if block >= P:
        return [a]
    whole = (P // block) * block
    s0, s1, s2 = a.strides
    parts = [
        np.lib.stride_tricks.as_strided(
            a, shape=(k, P // block, R, block), strides=(s0, block * s2, s1, s2)
        )
    ]
    if whole < P:
        parts.append(a[:, :, whole:])
    return parts


# ----------------------------------------------------------------------------- batched, merged


def gemm_forward(
    cols: np.ndarray, w: np.ndarray, b: np.ndarray, N: int, H_out: int, W_out: int
) -> np.ndarray:
    """out[n] = w.reshape(F, -1) @ cols[n] + b, written straight into (N, F, H_out, W_out)."""
    F = w.shape[0]
    dtype = cols.dtype
    wmat = w.reshape(F, -1).astype(dtype, copy=False)
    bias = b.astype(dtype, copy=False)
    out = np.empty((N, F, H_out * W_out), dtype=dtype)
    merged = k_major(cols)
    if merged is None:
        np.matmul(wmat, cols, out=out)  # one GEMM per image, results land in place
        out += bias.reshape(1, F, 1)
    else:
        out2 = wmat @ merged  # one GEMM for the batch: (F, N*P)
        np.add(out2.reshape(F, N, -1).transpose(1, 0, 2), bias.reshape(1, F, 1), out=out)
    return out.reshape(N, F, H_out, W_out)


def gemm_backward(
    cols: np.ndarray,
    w: np.ndarray,
    dout: np.ndarray,
    x_shape: tuple,
    stride: int,
    pad: int,
    need_dx: bool,
):
    """Backward pass over the forward pass's columns (batched or merged, or NumPy's)."""
    dtype = cols.dtype
    N = x_shape[0]
    F, _, HH, WW = w.shape
    P = dout.shape[2] * dout.shape[3]
    wmat = w.reshape(F, -1).astype(dtype, copy=False)
    merged = k_major(cols)
    if merged is None:
        dout3 = np.ascontiguousarray(dout, dtype=dtype).reshape(N, F, P)
        db = _sum_but_axis1(dout3)
        # dw = sum_n dout[n] @ cols[n].T: one (F, K) GEMM per image, then a small reduction.
        dw = np.matmul(dout3, cols.transpose(0, 2, 1)).sum(axis=0)
        dcols = np.matmul(wmat.T, dout3) if need_dx else None  # (N, K, P)
    else:
        dout2 = np.empty((F, N, P), dtype=dtype)
        dout2[...] = dout.reshape(N, F, P).transpose(1, 0, 2)
        dout2 = dout2.reshape(F, N * P)
        db = dout2.sum(axis=1)
        # One GEMM: dw = dout2 @ merged.T, computed as (merged @ dout2.T).T: OpenBLAS is faster
        # with the long N*P axis as the inner dimension in this orientation.
        dw = (merged @ dout2.T).T
        dcols = None
        if need_dx:
            dcols = (wmat.T @ dout2).reshape(-1, N, P).transpose(1, 0, 2)  # K-major view
    dx = None
    if need_dx:  # the GEMM for dcols and col2im: about half the work of the backward pass
        _, mod = _fast_plan.backend()
        dx = col2im(mod, dcols, x_shape, HH, WW, pad, stride)
    return dx, dw, db


# ----------------------------------------------------------------------------- direct


class _Shared:
    """A job of the compiled core that threads share through a ticket (chunks claimed, chunks
    finished), or one call when the plan has one thread."""

    def __init__(self, mod: Any, N: int, plan: _fast_plan.Plan, per_thread: int) -> None:
        self.mod = mod
        self.ticket = np.zeros(2, dtype=np.int64) if plan.workers > 1 else None
        self.chunk = _fast_plan.share(N, plan.workers, per_thread)
        self.n_chunks = -(-N // self.chunk)


def direct_forward(
    mod: Any,
    xc: np.ndarray,
    w: np.ndarray,
    b: np.ndarray,
    pad_h: int,
    pad_w: int,
    H_out: int,
    W_out: int,
    plan: _fast_plan.Plan,
    stride: int = 1,
) -> np.ndarray:
    """Direct layout: the compiled kernels convolve the images, no im2col; with more than one
    thread each takes chunks of images from a shared ticket."""
    N, dtype = xc.shape[0], xc.dtype
    wc = np.ascontiguousarray(w, dtype=dtype)
    bc = np.ascontiguousarray(b, dtype=dtype)
    out = np.empty((N, w.shape[0], H_out, W_out), dtype=dtype)
    job = DirectForward(mod, xc, wc, bc, out, (pad_h, pad_w), stride, plan)
    _fast_plan.run_shared([job], plan.workers)
    return out


class DirectForward(_Shared):
    """The direct forward pass as a job of :func:`_fast_plan.run_shared`."""

    def __init__(self, mod, xc, wc, bc, out, pad, stride, plan):
        super().__init__(mod, xc.shape[0], plan, 8)
        self.args = (xc, wc, bc, out, *pad)
        self.stride = stride

    def __call__(self) -> None:
        self.mod.conv_direct_forward(
            *self.args, stride=self.stride, ticket=self.ticket, chunk=self.chunk
        )


class DirectDw(_Shared):
    """dw of the direct layout as a job of :func:`_fast_plan.run_shared`. With more than one
    thread each chunk of images writes its own partial sum, added up in chunk order
    afterwards (the same numbers whichever thread did which chunk)."""

    def __init__(self, mod, xc, dout4, w_shape, pad, plan, stride=1):
        super().__init__(mod, xc.shape[0], plan, 4)
        self.xc, self.dout4, self.pad, self.stride = xc, dout4, pad, stride
        n_partial = 1 if self.ticket is None else self.n_chunks
        self.partial = np.zeros((n_partial,) + tuple(w_shape), dtype=xc.dtype)

    def __call__(self) -> None:
        if self.ticket is None:
            self.mod.conv_direct_dw(
                self.xc, self.dout4, self.partial[0], self.pad, self.pad, stride=self.stride
            )
        else:
            self.mod.conv_direct_dw_chunks(
                self.xc,
                self.dout4,
                self.partial,
                self.pad,
                self.pad,
                self.ticket,
                self.chunk,
                stride=self.stride,
            )

    def result(self) -> np.ndarray:
        dw = self.partial[0]
        for part in self.partial[1:]:
            dw += part
        return dw


class DirectDx(_Shared):
    """dx of the direct layout as a job of :func:`_fast_plan.run_shared`: by the direct kernels
    (a direct convolution of dout with the flipped filters, stride 1) or, with ``gemm``, by a
    GEMM and col2im per image in the compiled core (few input channels, strides above 1).
    ``out`` holds dx once the job has run."""

    def __init__(self, mod, dout4, w, pad, stride, x_shape, plan, gemm):
        N, C, H, W = x_shape
        HH, WW = w.shape[2], w.shape[3]
        super().__init__(mod, N, plan, 8)
        self.dout4, self.gemm, self.stride = dout4, gemm, stride
        dtype = dout4.dtype
        self.out = np.empty(x_shape, dtype=dtype)
        if gemm:
            self.w, self.pad = np.ascontiguousarray(w, dtype=dtype), (pad, pad)
        else:
            # dx[n, c] = sum_f correlate(pad(dout[n, f], HH-1-pad, WW-1-pad), w[f, c] flipped)
            w_flip = w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)
            self.w = np.ascontiguousarray(w_flip, dtype=dtype)
            self.zero_bias = np.zeros(C, dtype=dtype)
            self.pad = (HH - 1 - pad, WW - 1 - pad)

    def __call__(self) -> None:
        if self.gemm:
            self.mod.conv_gemm_dx(
                self.dout4,
                self.w,
                self.out,
                *self.pad,
                stride=self.stride,
                ticket=self.ticket,
                chunk=self.chunk,
            )
        else:
            self.mod.conv_direct_forward(
                self.dout4,
                self.w,
                self.zero_bias,
                self.out,
                *self.pad,
                ticket=self.ticket,
                chunk=self.chunk,
            )


def direct_dx_pays(mod: Any, dtype: np.dtype, C: int, HH: int, WW: int, pad: int) -> bool:
    """Whether dx goes through the direct kernels (needs pad <= HH-1 and pad <= WW-1).

    dx is a direct convolution with the C input channels as its output channels, computed in
    tiles of the kernels' filter tile: from ``direct_dx_min_channels`` channels on, or when C
    fills at least three quarters of its tiles (3 channels in tiles of 4).
    """
    if pad > HH - 1 or pad > WW - 1:
        return False
    if C >= _fast_plan.current().direct_dx_min_channels:
        return True
    tile = getattr(mod, "DIRECT_FILTER_TILE", {}).get(np.dtype(dtype).name, 0)
    return tile > 0 and 4 * C >= 3 * (-(-C // tile) * tile)


# ----------------------------------------------------------------------------- winograd

# F(2x2, 3x3): a 3x3 filter g becomes G g G^T (4x4); B and A are in the core's transforms.
_WINOGRAD_G = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.0, 0.0, 1.0]])
_WINOGRAD_GG = np.kron(_WINOGRAD_G, _WINOGRAD_G)


def _winograd_band(F: int, C: int, th: int, tw: int) -> int:
    """Tile rows per band: the band's GEMMs stay below OpenBLAS's threading size (our threads
    share the bands) and its transforms stay in cache."""
    most = max(1, (_fast_plan.BLAS_THREADED_MIN - 1) // max(1, F * C * tw))
    return -(-th // -(-th // most))


def _winograd_buffer(rows: int, T: int, dtype: np.dtype) -> np.ndarray:
    """A (16, rows, T) buffer of the transforms whose 16 planes lie one cache line further
    apart than rows * T elements: with rows * T a multiple of 4 KiB the transforms' 16 streams
    would all map to one set of the L1 cache and evict each other (2-4x slower)."""
    pad = 64 // np.dtype(dtype).itemsize
    return np.empty((16, rows * T + pad), dtype=dtype)[:, : rows * T].reshape(16, rows, T)


def winograd_forward(
    xc: np.ndarray,
    w: np.ndarray,
    b: np.ndarray,
    pad: int,
    H_out: int,
    W_out: int,
    plan: _fast_plan.Plan,
) -> np.ndarray:
    """Winograd layout (3x3 filters, stride 1, any pad): ``out`` (N, F, H_out, W_out)."""
    _, mod = _fast_plan.backend()
    job = Winograd(mod, xc, w, b, pad, H_out, W_out, plan)
    _fast_plan.run_shared([job], plan.workers)
    return job.result()


class Winograd:
    """The Winograd forward pass as a job of :func:`_fast_plan.run_shared`: each thread's call
    takes (image, band) items from one shared iterator (atomic under the GIL) and counts each
    item it finishes in ``ticket[1]``, so that the calling thread waits only for the items a
    worker took. ``out`` holds the result once the job has run."""

    def __init__(self, mod, xc, w, b, pad, H_out, W_out, plan):
        N, C = xc.shape[:2]
        F, dtype = w.shape[0], xc.dtype
        self.mod, self.xc, self.pad, self.C, self.F = mod, xc, pad, C, F
        self.th, self.tw = -(-H_out // 2), -(-W_out // 2)  # 2x2 output tiles
        # The filters transformed in float64, then (16, F, C): GEMM e multiplies U[e] by V[e];
        # U[4*a + b] = (G g G^T)[a, b] by GEMMs with kron(G, G) (16 x 9), in column blocks
        # below OpenBLAS's threading size (its threads would wake, then spin beside ours).
        wt = w.reshape(F * C, 9).T.astype(np.float64)
        U = np.empty((16, F * C))
        step = max(1, (_fast_plan.BLAS_THREADED_MIN // 2 - 1) // (16 * 9))
        for a in range(0, F * C, step):
            np.matmul(_WINOGRAD_GG, wt[:, a : a + step], out=U[:, a : a + step])
        self.U = np.ascontiguousarray(U.reshape(16, F, C), dtype=dtype)
        self.bc = np.ascontiguousarray(b, dtype=dtype)
        self.out = np.empty((N, F, H_out, W_out), dtype=dtype)
        self.band = _winograd_band(F, C, self.th, self.tw)
        items = [(n, y0) for n in range(N) for y0 in range(0, self.th, self.band)]
        self.n_chunks = len(items)
        self.items = iter(items)
        self.ticket = np.zeros(2, dtype=np.int64) if plan.workers > 1 else None
        self.error: BaseException | None = None

    def __call__(self) -> None:
        mod, th, tw, dtype = self.mod, self.th, self.tw, self.xc.dtype
        bufs: dict = {}
        for n, y0 in self.items:
            try:
                k = min(self.band, th - y0)
                if k not in bufs:
                    bufs[k] = (
                        _winograd_buffer(self.C, k * tw, dtype),
                        _winograd_buffer(self.F, k * tw, dtype),
                    )
                V, M = bufs[k]
                mod.winograd_input(self.xc[n], V, self.pad, y0, k, tw)
                np.matmul(self.U, V, out=M)
                mod.winograd_output(M, self.bc, self.out[n], y0, k, tw)
            except BaseException as e:  # the caller raises it once every item is counted
                self.error = e
            finally:
                if self.ticket is not None:
                    mod.post(self.ticket[1:])

    def result(self) -> np.ndarray:
        if self.error is not None:
            raise self.error
        return self.out


def winograd_dx_job(
    mod: Any, dout4: np.ndarray, w: np.ndarray, pad: int, plan: _fast_plan.Plan
) -> Winograd:
    """dx of a 3x3 stride-1 convolution (pad <= 2) by the Winograd layout, as a job: the
    forward pass of dout with the flipped filters, channels and filters swapped, padded by
    2 - pad."""
    N, F, H_out, W_out = dout4.shape
    w_flip = w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)
    zero_bias = np.zeros(w.shape[1], dtype=dout4.dtype)
    q = 2 - pad
    return Winograd(
        mod,
        np.ascontiguousarray(dout4),
        w_flip,
        zero_bias,
        q,
        H_out + 2 * q - 2,
        W_out + 2 * q - 2,
        plan,
    )


# ----------------------------------------------------------------------------- chunked


def chunked_forward(
    mod: Any,
    xc: np.ndarray,
    w: np.ndarray,
    b: np.ndarray,
    HH: int,
    WW: int,
    pad: int,
    stride: int,
    H_out: int,
    W_out: int,
    plan: _fast_plan.Plan,
) -> np.ndarray:
    """Chunked layout: per chunk of images, im2col into a small buffer and GEMM into ``out``."""
    N, dtype = xc.shape[0], xc.dtype
    F = w.shape[0]
    wmat = np.ascontiguousarray(w.reshape(F, -1), dtype=dtype)
    bias = b.astype(dtype, copy=False).reshape(F, 1)
    K, P = wmat.shape[1], H_out * W_out
    out = np.empty((N, F, P), dtype=dtype)

    out_blocks = blocks(out, plan.block)  # views made once: little Python per chunk

    def work(chunks):
        buf = np.empty((plan.chunk, K, P), dtype=dtype)
        buf_blocks = blocks(buf, plan.block)
        for n0, n1 in chunks:
            k = n1 - n0
            mod.im2col(xc[n0:n1], buf[:k], HH, WW, pad, stride, False)
            for c, o in zip(buf_blocks, out_blocks):
                np.matmul(wmat, c[:k], out=o[n0:n1])
            o = out[n0:n1]
            o += bias

    _fast_plan.run_parallel(work, _fast_plan.chunks(N, plan.chunk), plan.workers)
    return out.reshape(N, F, H_out, W_out)


def chunked_backward(
    mod: Any,
    xc: np.ndarray,
    w: np.ndarray,
    dout3: np.ndarray,
    HH: int,
    WW: int,
    pad: int,
    stride: int,
    plan: _fast_plan.Plan,
    need_dw: bool,
    need_dx: bool,
):
    """Chunked layout backward: im2col is recomputed per chunk (cheap, stays in cache).

    Returns dx (None unless ``need_dx``) and dw (None unless ``need_dw``).
    """
    N, dtype = xc.shape[0], xc.dtype
    F, P = dout3.shape[1], dout3.shape[2]
    wmat_t = np.ascontiguousarray(w.reshape(F, -1).T, dtype=dtype)
    K = wmat_t.shape[0]
    dx = np.zeros(xc.shape, dtype=dtype) if need_dx else None
    block = plan.block

    chunks = _fast_plan.chunks(N, plan.chunk)
    # One partial dw per chunk, added up in chunk order afterwards: the same numbers whichever
    # thread did which chunk.
    partial_dw_t = np.zeros((max(1, len(chunks)), K, F) if need_dw else (0,), dtype=dtype)

    dout_blocks = blocks(dout3, block)  # views made once: little Python per chunk

    def work(items):
        if need_dw:
            buf = np.empty((plan.chunk, K, P), dtype=dtype)
            buf_blocks = blocks(buf, block)
            # The GEMM results per block (allocated once: they can be big enough for mmap).
            prods = [np.empty(c.shape[:-2] + (K, F), dtype=dtype) for c in buf_blocks]
        if need_dx:
            dbuf = np.empty((plan.chunk, K, P), dtype=dtype)
            dbuf_blocks = blocks(dbuf, block)
        for i, (n0, n1) in items:
            k = n1 - n0
            if need_dw:
                dw_t = partial_dw_t[i]
                mod.im2col(xc[n0:n1], buf[:k], HH, WW, pad, stride, False)
                # dw.T += cols[n] @ dout[n].T, the long P axis as the inner dimension (in
                # blocks of it when the GEMMs must stay small, summed afterwards).
                for c, d, prod in zip(buf_blocks, dout_blocks, prods):
                    p = np.matmul(c[:k], np.swapaxes(d[n0:n1], -1, -2), out=prod[:k])
                    dw_t += p.reshape(-1, K, F).sum(axis=0)
            if need_dx:
                for d, dc in zip(dout_blocks, dbuf_blocks):
                    np.matmul(wmat_t, d[n0:n1], out=dc[:k])
                mod.col2im(dbuf[:k], dx[n0:n1], HH, WW, pad, stride, False)

    _fast_plan.run_parallel(work, list(enumerate(chunks)), plan.workers)
    if not need_dw:
        return dx, None
    dw_t = partial_dw_t[0]
    for part in partial_dw_t[1:]:
        dw_t += part
    return dx, dw_t.T
