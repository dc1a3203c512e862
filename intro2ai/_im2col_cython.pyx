# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Cython core of the fast layers: im2col, col2im and max-pool kernels, the direct
convolution (C kernels in ``_direct_conv.h``), the Winograd F(2x2, 3x3) transforms (C kernels
in ``_winograd.h``) and a fused Adam step.

Typed memoryviews with the ``floating`` fused type (float32 and float64; no NumPy C headers
at build time). Every kernel writes into arrays the caller allocates, so the Python wrapper
(``intro2ai.fast_layers``) owns shapes, dtypes and input checks; the kernels only loop.

Layout shared with the NumPy fallback (``intro2ai._im2col_numpy``):

- ``cols`` is C-contiguous of shape ``(N, C * HH * WW, H_out * W_out)`` (batch-major, so
  ``np.matmul(w.reshape(F, -1), cols)`` is already the output in ``(N, F, H_out * W_out)``
  order: no transpose copies around the GEMMs);
- ``cols[n, k, p]`` with ``k = (c * HH + i) * WW + j`` and ``p = h * W_out + w`` holds
  ``x[n, c, h * stride + i - pad, w * stride + j - pad]`` (zero outside ``x``);
- with ``k_major=True`` the buffer is C-contiguous ``(C * HH * WW, N, H_out * W_out)``
  instead (entry ``cols[k, n, p]``), so that ``cols.reshape(K, N * P)`` is one GEMM operand
  for the whole batch.

Padding is never materialised: the valid column range of each row is computed once, so no
kernel reads or writes outside its arrays for any filter size, stride or pad. Loops over
independent rows or image planes use ``prange`` (parallel when built with OpenMP, serial
otherwise).
"""

from cython cimport floating

# Bumped whenever a kernel's signature or the cols layout changes; intro2ai._extension treats
# a build with another number as stale (built from older sources) and falls back to NumPy.
KERNEL_API = 9

from cython.parallel cimport prange
from libc.stdint cimport int64_t, uintptr_t
from libc.string cimport memcpy, memset

cdef extern from "_direct_conv.h" nogil:
    int i2a_direct_simd_level()
    int i2a_current_cpu()
    Py_ssize_t i2a_direct_filter_tile_f32(int level)
    Py_ssize_t i2a_direct_filter_tile_f64(int level)
    int i2a_direct_forward_f32(const float* x, const float* w, const float* b, float* out,
                               Py_ssize_t N, Py_ssize_t C, Py_ssize_t H, Py_ssize_t W,
                               Py_ssize_t F, Py_ssize_t HH, Py_ssize_t WW, Py_ssize_t pad_h,
                               Py_ssize_t pad_w, Py_ssize_t s, int level)
    int i2a_direct_forward_f64(const double* x, const double* w, const double* b, double* out,
                               Py_ssize_t N, Py_ssize_t C, Py_ssize_t H, Py_ssize_t W,
                               Py_ssize_t F, Py_ssize_t HH, Py_ssize_t WW, Py_ssize_t pad_h,
                               Py_ssize_t pad_w, Py_ssize_t s, int level)
    int i2a_direct_dw_f32(const float* x, const float* dout, float* dw, Py_ssize_t N,
                          Py_ssize_t C, Py_ssize_t H, Py_ssize_t W, Py_ssize_t F,
                          Py_ssize_t HH, Py_ssize_t WW, Py_ssize_t pad_h, Py_ssize_t pad_w,
                          Py_ssize_t s, int level)
    int i2a_direct_dw_f64(const double* x, const double* dout, double* dw, Py_ssize_t N,
                          Py_ssize_t C, Py_ssize_t H, Py_ssize_t W, Py_ssize_t F,
                          Py_ssize_t HH, Py_ssize_t WW, Py_ssize_t pad_h, Py_ssize_t pad_w,
                          Py_ssize_t s, int level)
    int i2a_direct_forward_shared_f32(const float* x, const float* w, const float* b,
                                      float* out, Py_ssize_t N, Py_ssize_t C, Py_ssize_t H,
                                      Py_ssize_t W, Py_ssize_t F, Py_ssize_t HH, Py_ssize_t WW,
                                      Py_ssize_t pad_h, Py_ssize_t pad_w, Py_ssize_t s,
                                      int level, int64_t* ticket, Py_ssize_t chunk)
    int i2a_direct_forward_shared_f64(const double* x, const double* w, const double* b,
                                      double* out, Py_ssize_t N, Py_ssize_t C, Py_ssize_t H,
                                      Py_ssize_t W, Py_ssize_t F, Py_ssize_t HH, Py_ssize_t WW,
                                      Py_ssize_t pad_h, Py_ssize_t pad_w, Py_ssize_t s,
                                      int level, int64_t* ticket, Py_ssize_t chunk)
    int i2a_direct_dw_shared_f32(const float* x, const float* dout, float* dw, Py_ssize_t N,
                                 Py_ssize_t C, Py_ssize_t H, Py_ssize_t W, Py_ssize_t F,
                                 Py_ssize_t HH, Py_ssize_t WW, Py_ssize_t pad_h,
                                 Py_ssize_t pad_w, Py_ssize_t s, int level, int64_t* ticket,
                                 Py_ssize_t chunk)
    int i2a_direct_dw_shared_f64(const double* x, const double* dout, double* dw,
                                 Py_ssize_t N, Py_ssize_t C, Py_ssize_t H, Py_ssize_t W,
                                 Py_ssize_t F, Py_ssize_t HH, Py_ssize_t WW, Py_ssize_t pad_h,
                                 Py_ssize_t pad_w, Py_ssize_t s, int level, int64_t* ticket,
                                 Py_ssize_t chunk)
    int64_t i2a_chunks_done(int64_t* ticket)
    void i2a_post(int64_t* gen)
    int64_t i2a_spin_wait(int64_t* gen, int64_t seen, double seconds)
    void i2a_wait_done(int64_t* ticket, int64_t n, double seconds)
    int i2a_gemm_dx_shared_f32(const float* dout, const float* w, float* dx, Py_ssize_t N,
                               Py_ssize_t C, Py_ssize_t H, Py_ssize_t W, Py_ssize_t F,
                               Py_ssize_t HH, Py_ssize_t WW, Py_ssize_t pad_h, Py_ssize_t pad_w,
                               Py_ssize_t s, int level, int64_t* ticket, Py_ssize_t chunk)
    int i2a_gemm_dx_shared_f64(const double* dout, const double* w, double* dx, Py_ssize_t N,
                               Py_ssize_t C, Py_ssize_t H, Py_ssize_t W, Py_ssize_t F,
                               Py_ssize_t HH, Py_ssize_t WW, Py_ssize_t pad_h, Py_ssize_t pad_w,
                               Py_ssize_t s, int level, int64_t* ticket, Py_ssize_t chunk)

# SIMD kernels of the direct convolution on this CPU: 2 = AVX-512, 1 = AVX2 + FMA, 0 = only
# the portable ones (correct, not faster than im2col), -1 = not compiled. See _direct_conv.h.
DIRECT_SIMD_LEVEL = i2a_direct_simd_level()
# Filters per forward tile of the direct kernels at that level, by dtype name (empty without
# kernels): output channels short of a multiple of it are computed as padding.
DIRECT_FILTER_TILE = ({"float32": i2a_direct_filter_tile_f32(DIRECT_SIMD_LEVEL),
                       "float64": i2a_direct_filter_tile_f64(DIRECT_SIMD_LEVEL)}
                      if DIRECT_SIMD_LEVEL >= 0 else {})


cdef inline Py_ssize_t _lo(Py_ssize_t off, Py_ssize_t stride) noexcept nogil:
    """Smallest w >= 0 with w * stride + off >= 0."""
    if off >= 0:
        return 0
    return (-off + stride - 1) // stride


cdef inline Py_ssize_t _hi(Py_ssize_t off, Py_ssize_t size, Py_ssize_t stride,
                           Py_ssize_t n_out) noexcept nogil:
    """One past the largest w < n_out with w * stride + off <= size - 1."""
    cdef Py_ssize_t last = size - 1 - off
    if last < 0:
        return 0
    last = last // stride + 1
    return last if last < n_out else n_out


def im2col(const floating[:, :, :, ::1] x, floating[:, :, ::1] cols,
           Py_ssize_t HH, Py_ssize_t WW, Py_ssize_t pad, Py_ssize_t stride,
           bint k_major=False):
    """Fill ``cols`` (N, C*HH*WW, H_out*W_out) (or (C*HH*WW, N, H_out*W_out) if ``k_major``)
    with the windows of ``x`` (N, C, H, W)."""
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3]
    cdef Py_ssize_t H_out = (H + 2 * pad - HH) // stride + 1
    cdef Py_ssize_t W_out = (W + 2 * pad - WW) // stride + 1
    cdef Py_ssize_t K = C * HH * WW
    cdef Py_ssize_t d0 = K if k_major else N, d1 = N if k_major else K
    if cols.shape[0] != d0 or cols.shape[1] != d1 or cols.shape[2] != H_out * W_out:
        raise ValueError(
            f"im2col: cols must have shape ({d0}, {d1}, {H_out * W_out}), "
            f"got ({cols.shape[0]}, {cols.shape[1]}, {cols.shape[2]})")
    cdef Py_ssize_t nk, k, c, i, j, n, h, w, y, xo, w_lo, w_hi
    cdef floating* dst
    cdef const floating* src
    for nk in prange(N * K, nogil=True, schedule="static"):
        n = nk // K
        k = nk % K
        c = k // (HH * WW)
        i = (k // WW) % HH
        j = k % WW
        xo = j - pad
        w_lo = _lo(xo, stride)
        w_hi = _hi(xo, W, stride, W_out)
        if w_lo > w_hi:
            w_lo = w_hi
        for h in range(H_out):
            if k_major:
                dst = &cols[k, n, h * W_out]
            else:
                dst = &cols[n, k, h * W_out]
            y = h * stride + i - pad
            if y < 0 or y >= H or w_hi == 0:
                memset(dst, 0, W_out * sizeof(floating))
                continue
            if w_lo > 0:
                memset(dst, 0, w_lo * sizeof(floating))
            src = &x[n, c, y, 0]
            if stride == 1:
                memcpy(dst + w_lo, src + w_lo + xo, (w_hi - w_lo) * sizeof(floating))
            else:
                for w in range(w_lo, w_hi):
                    dst[w] = src[w * stride + xo]
            if w_hi < W_out:
                memset(dst + w_hi, 0, (W_out - w_hi) * sizeof(floating))


def col2im(const floating[:, :, ::1] cols, floating[:, :, :, ::1] dx,
           Py_ssize_t HH, Py_ssize_t WW, Py_ssize_t pad, Py_ssize_t stride,
           bint k_major=False):
    """Add every entry of ``cols`` into ``dx`` (N, C, H, W) where :func:`im2col` read it.

    ``dx`` is accumulated into (the caller zeroes it); entries that fall in the padding are
    dropped. This is the adjoint of :func:`im2col`.
    """
    cdef Py_ssize_t N = dx.shape[0], C = dx.shape[1], H = dx.shape[2], W = dx.shape[3]
    cdef Py_ssize_t H_out = (H + 2 * pad - HH) // stride + 1
    cdef Py_ssize_t W_out = (W + 2 * pad - WW) // stride + 1
    cdef Py_ssize_t K = C * HH * WW
    cdef Py_ssize_t d0 = K if k_major else N, d1 = N if k_major else K
    if cols.shape[0] != d0 or cols.shape[1] != d1 or cols.shape[2] != H_out * W_out:
        raise ValueError(
            f"col2im: cols must have shape ({d0}, {d1}, {H_out * W_out}), "
            f"got ({cols.shape[0]}, {cols.shape[1]}, {cols.shape[2]})")
    cdef Py_ssize_t nc, n, c, i, j, h, w, y, xo, w_lo, w_hi
    cdef floating* drow
    cdef const floating* src
    for nc in prange(N * C, nogil=True, schedule="static"):
        n = nc // C
        c = nc % C
        for i in range(HH):
            for j in range(WW):
                xo = j - pad
                w_lo = _lo(xo, stride)
                w_hi = _hi(xo, W, stride, W_out)
                for h in range(H_out):
                    y = h * stride + i - pad
                    if y < 0 or y >= H:
                        continue
                    if k_major:
                        src = &cols[(c * HH + i) * WW + j, n, h * W_out]
                    else:
                        src = &cols[n, (c * HH + i) * WW + j, h * W_out]
                    drow = &dx[n, c, y, 0]
                    if stride == 1:
                        for w in range(w_lo, w_hi):
                            drow[w + xo] += src[w]
                    else:
                        for w in range(w_lo, w_hi):
                            drow[w * stride + xo] += src[w]


cdef inline Py_ssize_t _first_nan_or_max(const floating* plane, Py_ssize_t W, Py_ssize_t y0,
                                         Py_ssize_t x0, Py_ssize_t ph,
                                         Py_ssize_t pw) noexcept nogil:
    """Offset of the first maximum of a window, a NaN counting as the maximum (argmax order).

    Branchy reference scan, used only for windows that contain a NaN.
    """
    cdef Py_ssize_t a, bb, o, best_off = y0 * W + x0
    cdef floating v, best = plane[best_off]
    if best != best:
        return best_off
    for a in range(ph):
        for bb in range(pw):
            o = (y0 + a) * W + x0 + bb
            v = plane[o]
            if v != v:
                return o
            if v > best:
                best = v
                best_off = o
    return best_off


def maxpool_forward(const floating[:, :, :, ::1] x, floating[:, :, :, ::1] out,
                    int[:, :, :, ::1] idx, Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t stride):
    """Max over each window; ``idx`` gets the in-plane offset ``y * W + x`` of its FIRST max.

    First means row-major order inside the window (``np.argmax`` order). A NaN counts as the
    maximum, as in ``np.argmax``. The common path has no data-dependent branches: the max is
    taken with selects, then the first position equal to it is found arithmetically (random
    data would otherwise defeat the branch predictor). A plane that holds a NaN is redone
    afterwards with a plain reference scan, outside the hot loop.
    """
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3]
    cdef Py_ssize_t H_out = out.shape[2], W_out = out.shape[3]
    if (out.shape[0] != N or out.shape[1] != C or H_out != (H - ph) // stride + 1
            or W_out != (W - pw) // stride + 1 or idx.shape[0] != N or idx.shape[1] != C
            or idx.shape[2] != H_out or idx.shape[3] != W_out or ph > H or pw > W):
        raise ValueError("maxpool_forward: inconsistent shapes")
    cdef Py_ssize_t nc, n, c, h, w, a, bb, y0, x0, o, pos, found, hit, has_nan
    cdef floating best, v
    cdef const floating* plane
    for nc in prange(N * C, nogil=True, schedule="static"):
        n = nc // C
        c = nc % C
        plane = &x[n, c, 0, 0]
        has_nan = 0
        for h in range(H_out):
            y0 = h * stride
            for w in range(W_out):
                x0 = w * stride
                best = plane[y0 * W + x0]
                for a in range(ph):
                    for bb in range(pw):
                        v = plane[(y0 + a) * W + x0 + bb]
                        has_nan = has_nan | (v != v)
                        best = v if v > best else best
                pos = 0
                found = 0
                for a in range(ph):
                    for bb in range(pw):
                        o = (y0 + a) * W + x0 + bb
                        hit = (plane[o] == best) & (found == 0)
                        pos = pos + hit * o
                        found = found | hit
                out[n, c, h, w] = best
                idx[n, c, h, w] = <int>pos
        if has_nan:  # rare: redo this plane with the reference scan (a NaN wins)
            for h in range(H_out):
                for w in range(W_out):
                    pos = _first_nan_or_max(plane, W, h * stride, w * stride, ph, pw)
                    out[n, c, h, w] = plane[pos]
                    idx[n, c, h, w] = <int>pos


def maxpool_forward_2x2(const floating[:, :, :, ::1] x, floating[:, :, :, ::1] out,
                        int[:, :, :, ::1] idx):
    """:func:`maxpool_forward` for 2x2 windows with stride 2 that tile the input."""
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3]
    cdef Py_ssize_t H_out = H // 2, W_out = W // 2
    if (H % 2 or W % 2 or out.shape[0] != N or out.shape[1] != C or out.shape[2] != H_out
            or out.shape[3] != W_out or idx.shape[0] != N or idx.shape[1] != C
            or idx.shape[2] != H_out or idx.shape[3] != W_out):
        raise ValueError("maxpool_forward_2x2: inconsistent shapes")
    cdef Py_ssize_t nc, n, c, h, w, k, base, has_nan, c01, c23, cmp
    cdef floating p0, p1, p2, p3, m01, m23, best
    cdef const floating* plane
    cdef const floating* r0
    cdef const floating* r1
    cdef floating* orow
    cdef int* irow
    for nc in prange(N * C, nogil=True, schedule="static"):
        n = nc // C
        c = nc % C
        plane = &x[n, c, 0, 0]
        has_nan = 0
        for h in range(H_out):
            r0 = &x[n, c, 2 * h, 0]
            r1 = r0 + W
            orow = &out[n, c, h, 0]
            irow = &idx[n, c, h, 0]
            for w in range(W_out):
                p0 = r0[2 * w]
                p1 = r0[2 * w + 1]
                p2 = r1[2 * w]
                p3 = r1[2 * w + 1]
                # Window position k (0..3, row-major) of the first maximum: strict
                # comparisons keep the first of equal values. k comes from the comparisons'
                # 0/1 results by integer arithmetic, no branch (with float64 the loop is not
                # vectorised, and branches on random data mispredict; see bench/NOTES.md).
                c01 = p1 > p0
                c23 = p3 > p2
                m01 = p1 if c01 else p0
                m23 = p3 if c23 else p2
                cmp = m23 > m01
                best = m23 if cmp else m01
                k = cmp * (2 + c23) + (1 - cmp) * c01
                has_nan = has_nan | (p0 != p0) | (p1 != p1) | (p2 != p2) | (p3 != p3)
                base = 2 * h * W + 2 * w
                orow[w] = best
                irow[w] = <int>(base + (k & 1) + (k >> 1) * W)
        if has_nan:  # rare: redo this plane with the reference scan (a NaN wins)
            for h in range(H_out):
                for w in range(W_out):
                    base = _first_nan_or_max(plane, W, 2 * h, 2 * w, 2, 2)
                    out[n, c, h, w] = plane[base]
                    idx[n, c, h, w] = <int>base


def maxpool_backward(const floating[:, :, :, ::1] dout, const int[:, :, :, ::1] idx,
                     floating[:, :, :, ::1] dx):
    """Add ``dout`` into ``dx`` at the in-plane offsets ``idx`` (overlaps accumulate).

    ``dx`` is accumulated into (the caller zeroes it). Offsets outside the plane are skipped,
    so a corrupted index can never write out of bounds.
    """
    cdef Py_ssize_t N = dx.shape[0], C = dx.shape[1], H = dx.shape[2], W = dx.shape[3]
    cdef Py_ssize_t H_out = dout.shape[2], W_out = dout.shape[3]
    if (dout.shape[0] != N or dout.shape[1] != C or idx.shape[0] != N or idx.shape[1] != C
            or idx.shape[2] != H_out or idx.shape[3] != W_out):
        raise ValueError("maxpool_backward: inconsistent shapes")
    cdef Py_ssize_t nc, n, c, h, w, o, HW = H * W
    cdef floating* plane
    for nc in prange(N * C, nogil=True, schedule="static"):
        n = nc // C
        c = nc % C
        plane = &dx[n, c, 0, 0]
        for h in range(H_out):
            for w in range(W_out):
                o = idx[n, c, h, w]
                if 0 <= o < HW:
                    plane[o] += dout[n, c, h, w]


cdef inline bint _overlaps(const void* a, const void* b, size_t nbytes) noexcept nogil:
    cdef uintptr_t x = <uintptr_t>a, y = <uintptr_t>b
    return x < y + nbytes and y < x + nbytes


def adam_step(const floating[::1] w, const floating[::1] dw, const floating[::1] m_old,
              const floating[::1] v_old, floating[::1] next_w, floating[::1] m, floating[::1] v,
              double beta1, double beta2, double step_size, double v_scale, double epsilon,
              int level=DIRECT_SIMD_LEVEL):
    """One Adam update in a single pass (``intro2ai.optim.adam`` owns the formulas' constants):

    ``m = beta1 * m_old + (1 - beta1) * dw``, ``v = beta2 * v_old + (1 - beta2) * dw**2``,
    ``next_w = w - step_size * m / (sqrt(v * v_scale) + epsilon)``, elementwise, in the
    arrays' dtype. All arrays are flat, contiguous and of one length; the outputs are new
    arrays (none of them is an input). ``level``: the SIMD kernels to use (see
    ``DIRECT_SIMD_LEVEL``; below 0, the portable ones).
    """
    cdef Py_ssize_t n = w.shape[0]
    if level > DIRECT_SIMD_LEVEL:
        raise ValueError(f"adam_step: SIMD level {level} asked, this CPU has {DIRECT_SIMD_LEVEL}")
    if not (dw.shape[0] == m_old.shape[0] == v_old.shape[0] == next_w.shape[0] == m.shape[0]
            == v.shape[0] == n):
        raise ValueError("adam_step: the arrays differ in length")
    if n == 0:
        return
    cdef size_t nbytes = <size_t>n * sizeof(floating)
    cdef const void* arrays[7]
    arrays[:] = [&next_w[0], &m[0], &v[0], &w[0], &dw[0], &m_old[0], &v_old[0]]
    cdef int i, j
    for i in range(3):  # the kernel's pointers are restrict: no output may share memory
        for j in range(7):
            if j != i and _overlaps(arrays[i], arrays[j], nbytes):
                raise ValueError("adam_step: an output array shares memory with another array")
    with nogil:
        if floating is float:
            i2a_adam_f32(&w[0], &dw[0], &m_old[0], &v_old[0], &next_w[0], &m[0], &v[0], n,
                         beta1, 1.0 - beta1, beta2, 1.0 - beta2, step_size, v_scale, epsilon,
                         level)
        else:
            i2a_adam_f64(&w[0], &dw[0], &m_old[0], &v_old[0], &next_w[0], &m[0], &v[0], n,
                         beta1, 1.0 - beta1, beta2, 1.0 - beta2, step_size, v_scale, epsilon,
                         level)


cdef _check_direct(str who, Py_ssize_t N, Py_ssize_t C, Py_ssize_t H, Py_ssize_t W,
                   Py_ssize_t F, Py_ssize_t wC, Py_ssize_t HH, Py_ssize_t WW,
                   Py_ssize_t pad_h, Py_ssize_t pad_w, int level, Py_ssize_t stride):
    if min(N, C, H, W, F, HH, WW, stride) < 1 or pad_h < 0 or pad_w < 0 or wC != C:
        raise ValueError(f"{who}: bad geometry x ({N}, {C}, {H}, {W}), w ({F}, {wC}, {HH}, "
                         f"{WW}), pad ({pad_h}, {pad_w}), stride {stride}")
    if H + 2 * pad_h < HH or W + 2 * pad_w < WW:
        raise ValueError(f"{who}: the filter ({HH}, {WW}) does not fit the padded input")
    if DIRECT_SIMD_LEVEL < 0:
        raise RuntimeError(f"{who}: this build has no direct convolution kernels")
    if level > DIRECT_SIMD_LEVEL:
        raise ValueError(f"{who}: SIMD level {level} asked, this CPU has {DIRECT_SIMD_LEVEL}")


cdef bint _dout_fits(const Py_ssize_t* dout_shape, Py_ssize_t N, Py_ssize_t F, Py_ssize_t H,
                     Py_ssize_t W, Py_ssize_t HH, Py_ssize_t WW, Py_ssize_t pad_h,
                     Py_ssize_t pad_w, Py_ssize_t stride) noexcept:
    """Whether dout (N, F, H_out, W_out) matches the convolution's output shape."""
    return (dout_shape[0] == N and dout_shape[1] == F
            and dout_shape[2] == (H + 2 * pad_h - HH) // stride + 1
            and dout_shape[3] == (W + 2 * pad_w - WW) // stride + 1)


cdef int64_t* _ticket(int64_t[::1] ticket, Py_ssize_t chunk, str who) except? NULL:
    """The counters of a job several threads do together (None: this call does it all)."""
    if ticket is None:
        return NULL
    if ticket.shape[0] != 2 or chunk < 1:
        raise ValueError(f"{who}: a ticket is two int64 counters and chunk >= 1, got "
                         f"{ticket.shape[0]} counters and chunk {chunk}")
    return &ticket[0]


def post(int64_t[::1] gen):
    """Count one more job posted to a spinning worker (``gen[0] += 1``, atomically)."""
    i2a_post(&gen[0])


def current_cpu():
    """The CPU this thread runs on now (-1: the system does not say)."""
    return i2a_current_cpu()


def spin_wait(int64_t[::1] gen, int64_t seen, double seconds):
    """``gen[0]`` once it differs from ``seen``, or ``seen`` after spinning for ``seconds``
    (without the GIL). Without the direct kernels' compiler support: at once."""
    cdef int64_t g
    with nogil:
        g = i2a_spin_wait(&gen[0], seen, seconds)
    return g


def wait_done(int64_t[::1] ticket, int64_t n, double seconds):
    """Wait (without the GIL) until ``n`` chunks of a ticket's job are finished: spinning
    for ``seconds``, then in short naps."""
    if ticket.shape[0] != 2:
        raise ValueError("wait_done: a ticket is two int64 counters")
    with nogil:
        i2a_wait_done(&ticket[0], n, seconds)


def chunks_done(int64_t[::1] ticket):
    """How many chunks of a shared job are finished, their results written (a ticket of
    :func:`conv_direct_forward`)."""
    if ticket.shape[0] != 2:
        raise ValueError("chunks_done: a ticket is two int64 counters")
    return i2a_chunks_done(&ticket[0])


def conv_direct_forward(const floating[:, :, :, ::1] x, const floating[:, :, :, ::1] w,
                        const floating[::1] b, floating[:, :, :, ::1] out, Py_ssize_t pad_h,
                        Py_ssize_t pad_w, int level=-1, Py_ssize_t stride=1,
                        int64_t[::1] ticket=None, Py_ssize_t chunk=0):
    """``out`` (N, F, H_out, W_out) = ``x`` (N, C, H, W) cross-correlated with ``w``
    (F, C, HH, WW) at ``stride`` with zero padding ``pad_h`` / ``pad_w``, plus ``b`` (F,).

    No im2col: register-blocked SIMD kernels read the padded image (at stride s, its s*s
    phases) directly (see ``_direct_conv.h``). ``level`` picks the kernels (-1: the best this
    CPU runs). With ``ticket`` (a zeroed int64 array of two elements, shared by threads that
    call this with the same arguments) a call computes only the chunks of ``chunk`` images
    it claims from the ticket, until none is left; :func:`chunks_done` counts the finished
    ones.
    """
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3]
    cdef Py_ssize_t F = w.shape[0], HH = w.shape[2], WW = w.shape[3]
    _check_direct("conv_direct_forward", N, C, H, W, F, w.shape[1], HH, WW, pad_h, pad_w,
                  level, stride)
    if (b.shape[0] != F or out.shape[0] != N or out.shape[1] != F
            or out.shape[2] != (H + 2 * pad_h - HH) // stride + 1
            or out.shape[3] != (W + 2 * pad_w - WW) // stride + 1):
        raise ValueError("conv_direct_forward: inconsistent shapes of b or out")
    if level < 0:
        level = DIRECT_SIMD_LEVEL
    cdef int64_t* t = _ticket(ticket, chunk, "conv_direct_forward")
    cdef int rc
    with nogil:
        if floating is float:
            rc = i2a_direct_forward_shared_f32(&x[0, 0, 0, 0], &w[0, 0, 0, 0], &b[0],
                                               &out[0, 0, 0, 0], N, C, H, W, F, HH, WW, pad_h,
                                               pad_w, stride, level, t, chunk)
        else:
            rc = i2a_direct_forward_shared_f64(&x[0, 0, 0, 0], &w[0, 0, 0, 0], &b[0],
                                               &out[0, 0, 0, 0], N, C, H, W, F, HH, WW, pad_h,
                                               pad_w, stride, level, t, chunk)
    if rc != 0:
        raise MemoryError("conv_direct_forward: no memory for the scratch buffers")


def conv_direct_dw(const floating[:, :, :, ::1] x, const floating[:, :, :, ::1] dout,
                   floating[:, :, :, ::1] dw, Py_ssize_t pad_h, Py_ssize_t pad_w,
                   int level=-1, Py_ssize_t stride=1):
    """``dw`` (F, C, HH, WW) += the weight gradient of :func:`conv_direct_forward` for the
    upstream gradient ``dout`` (N, F, H_out, W_out), summed over the images."""
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3]
    cdef Py_ssize_t F = dw.shape[0], HH = dw.shape[2], WW = dw.shape[3]
    _check_direct("conv_direct_dw", N, C, H, W, F, dw.shape[1], HH, WW, pad_h, pad_w, level,
                  stride)
    if not _dout_fits(dout.shape, N, F, H, W, HH, WW, pad_h, pad_w, stride):
        raise ValueError("conv_direct_dw: inconsistent shape of dout")
    if level < 0:
        level = DIRECT_SIMD_LEVEL
    cdef int rc
    with nogil:
        if floating is float:
            rc = i2a_direct_dw_f32(&x[0, 0, 0, 0], &dout[0, 0, 0, 0], &dw[0, 0, 0, 0], N, C,
                                   H, W, F, HH, WW, pad_h, pad_w, stride, level)
        else:
            rc = i2a_direct_dw_f64(&x[0, 0, 0, 0], &dout[0, 0, 0, 0], &dw[0, 0, 0, 0], N, C,
                                   H, W, F, HH, WW, pad_h, pad_w, stride, level)
    if rc != 0:
        raise MemoryError("conv_direct_dw: no memory for the scratch buffers")


def conv_direct_dw_chunks(const floating[:, :, :, ::1] x, const floating[:, :, :, ::1] dout,
                          floating[:, :, :, :, ::1] partial, Py_ssize_t pad_h, Py_ssize_t pad_w,
                          int64_t[::1] ticket, Py_ssize_t chunk, int level=-1,
                          Py_ssize_t stride=1):
    """:func:`conv_direct_dw` shared among threads: image chunk ``c`` (images ``c * chunk`` to
    ``(c + 1) * chunk``) writes its own weight gradient into ``partial[c]`` (``partial`` of
    shape (ceil(N / chunk), F, C, HH, WW)); a call computes the chunks it claims from
    ``ticket`` (as in :func:`conv_direct_forward`). The caller adds the partials up in order:
    the same numbers whichever thread did which chunk."""
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3]
    cdef Py_ssize_t F = partial.shape[1], HH = partial.shape[3], WW = partial.shape[4]
    _check_direct("conv_direct_dw_chunks", N, C, H, W, F, partial.shape[2], HH, WW, pad_h,
                  pad_w, level, stride)
    if (not _dout_fits(dout.shape, N, F, H, W, HH, WW, pad_h, pad_w, stride)
            or chunk < 1 or partial.shape[0] != (N + chunk - 1) // chunk):
        raise ValueError("conv_direct_dw_chunks: inconsistent shapes of dout or partial")
    if level < 0:
        level = DIRECT_SIMD_LEVEL
    cdef int64_t* t = _ticket(ticket, chunk, "conv_direct_dw_chunks")
    if t == NULL:
        raise ValueError("conv_direct_dw_chunks: a ticket is needed")
    cdef int rc
    with nogil:
        if floating is float:
            rc = i2a_direct_dw_shared_f32(&x[0, 0, 0, 0], &dout[0, 0, 0, 0],
                                          &partial[0, 0, 0, 0, 0], N, C, H, W, F, HH, WW,
                                          pad_h, pad_w, stride, level, t, chunk)
        else:
            rc = i2a_direct_dw_shared_f64(&x[0, 0, 0, 0], &dout[0, 0, 0, 0],
                                          &partial[0, 0, 0, 0, 0], N, C, H, W, F, HH, WW,
                                          pad_h, pad_w, stride, level, t, chunk)
    if rc != 0:
        raise MemoryError("conv_direct_dw_chunks: no memory for the scratch buffers")


def conv_gemm_dx(const floating[:, :, :, ::1] dout, const floating[:, :, :, ::1] w,
                 floating[:, :, :, ::1] dx, Py_ssize_t pad_h, Py_ssize_t pad_w, int level=-1,
                 Py_ssize_t stride=1, int64_t[::1] ticket=None, Py_ssize_t chunk=0):
    """``dx`` (N, C, H, W) = the input gradient of :func:`conv_direct_forward` for the upstream
    gradient ``dout`` (N, F, H_out, W_out), by a GEMM ``w.T @ dout`` per image (the direct
    forward kernel) and col2im; ``dx`` is overwritten. ``ticket`` and ``chunk`` as in
    :func:`conv_direct_forward`."""
    cdef Py_ssize_t N = dx.shape[0], C = dx.shape[1], H = dx.shape[2], W = dx.shape[3]
    cdef Py_ssize_t F = w.shape[0], HH = w.shape[2], WW = w.shape[3]
    _check_direct("conv_gemm_dx", N, C, H, W, F, w.shape[1], HH, WW, pad_h, pad_w, level,
                  stride)
    if not _dout_fits(dout.shape, N, F, H, W, HH, WW, pad_h, pad_w, stride):
        raise ValueError("conv_gemm_dx: inconsistent shape of dout")
    if level < 0:
        level = DIRECT_SIMD_LEVEL
    cdef int64_t* t = _ticket(ticket, chunk, "conv_gemm_dx")
    cdef int rc
    with nogil:
        if floating is float:
            rc = i2a_gemm_dx_shared_f32(&dout[0, 0, 0, 0], &w[0, 0, 0, 0], &dx[0, 0, 0, 0], N,
                                        C, H, W, F, HH, WW, pad_h, pad_w, stride, level, t,
                                        chunk)
        else:
            rc = i2a_gemm_dx_shared_f64(&dout[0, 0, 0, 0], &w[0, 0, 0, 0], &dx[0, 0, 0, 0], N,
                                        C, H, W, F, HH, WW, pad_h, pad_w, stride, level, t,
                                        chunk)
    if rc != 0:
        raise MemoryError("conv_gemm_dx: no memory for the scratch buffers")


cdef extern from "_adam.h" nogil:
    void i2a_adam_f32(const float* w, const float* dw, const float* m_old, const float* v_old,
                      float* next_w, float* m, float* v, Py_ssize_t n, float b1, float c1,
                      float b2, float c2, float lr, float vs, float eps, int level)
    void i2a_adam_f64(const double* w, const double* dw, const double* m_old,
                      const double* v_old, double* next_w, double* m, double* v, Py_ssize_t n,
                      double b1, double c1, double b2, double c2, double lr, double vs,
                      double eps, int level)


cdef extern from "_winograd.h" nogil:
    int i2a_winograd_input_f32(const float* x, float* V, Py_ssize_t C, Py_ssize_t H,
                               Py_ssize_t W, Py_ssize_t pad, Py_ssize_t y0, Py_ssize_t th,
                               Py_ssize_t tw, Py_ssize_t vs, Py_ssize_t cs, int level)
    int i2a_winograd_input_f64(const double* x, double* V, Py_ssize_t C, Py_ssize_t H,
                               Py_ssize_t W, Py_ssize_t pad, Py_ssize_t y0, Py_ssize_t th,
                               Py_ssize_t tw, Py_ssize_t vs, Py_ssize_t cs, int level)
    int i2a_winograd_output_f32(const float* M, const float* b, float* out, Py_ssize_t F,
                                Py_ssize_t Ho, Py_ssize_t Wo, Py_ssize_t y0, Py_ssize_t th,
                                Py_ssize_t tw, Py_ssize_t ms, Py_ssize_t fs, int level)
    int i2a_winograd_output_f64(const double* M, const double* b, double* out, Py_ssize_t F,
                                Py_ssize_t Ho, Py_ssize_t Wo, Py_ssize_t y0, Py_ssize_t th,
                                Py_ssize_t tw, Py_ssize_t ms, Py_ssize_t fs, int level)


cdef _check_rows(str who, Py_ssize_t rows, Py_ssize_t T, Py_ssize_t s0, Py_ssize_t s1,
                 Py_ssize_t s2, Py_ssize_t item):
    """A (16, rows, T) buffer of the transforms: contiguous rows of T elements that do not
    overlap; its 16 planes may be further apart than rows * T (a padded stride keeps their
    rows out of one cache set)."""
    if T == 1:  # the stride of an axis of length 1 is never used (NumPy may set any)
        s2 = item
    if rows == 1:
        s1 = T * item
    if s2 != item or s1 < T * item or s0 < rows * s1 or s1 % item or s0 % item:
        raise ValueError(f"{who}: a (16, rows, T) buffer needs contiguous, non-overlapping "
                         f"rows; got strides ({s0}, {s1}, {s2})")


def winograd_input(const floating[:, :, ::1] x, floating[:, :, :] V, Py_ssize_t pad,
                   Py_ssize_t y0, Py_ssize_t th, Py_ssize_t tw, int level=-1):
    """Winograd F(2x2, 3x3) input transform of one image ``x`` (C, H, W), zero padded by
    ``pad``: ``V[4*a + b, c, t] = (B^T d B)[a, b]`` for the 4x4 window ``d`` of tile
    ``t = (ty - y0) * tw + tx`` (tile rows ``y0 <= ty < y0 + th``), read at rows
    ``2*ty - pad ...`` and columns ``2*tx - pad ...`` (C loops in ``_winograd.h``; ``level``
    as for :func:`conv_direct_forward`)."""
    cdef Py_ssize_t C = x.shape[0], H = x.shape[1], W = x.shape[2]
    if (V.shape[0] != 16 or V.shape[1] != C or V.shape[2] != th * tw
            or min(C, H, W, th, tw) < 1 or pad < 0):
        raise ValueError("winograd_input: inconsistent shapes of x or V, or pad < 0")
    _check_rows("winograd_input", V.shape[1], V.shape[2], V.strides[0], V.strides[1],
                V.strides[2], sizeof(floating))
    if level < 0 or level > DIRECT_SIMD_LEVEL:
        level = DIRECT_SIMD_LEVEL
    cdef int rc
    with nogil:
        if floating is float:
            rc = i2a_winograd_input_f32(&x[0, 0, 0], &V[0, 0, 0], C, H, W, pad, y0, th, tw,
                                        V.strides[0] // sizeof(float),
                                        V.strides[1] // sizeof(float), level)
        else:
            rc = i2a_winograd_input_f64(&x[0, 0, 0], &V[0, 0, 0], C, H, W, pad, y0, th, tw,
                                        V.strides[0] // sizeof(double),
                                        V.strides[1] // sizeof(double), level)
    if rc == -2:
        raise RuntimeError("winograd_input: this build has no Winograd transforms")
    if rc != 0:
        raise MemoryError("winograd_input: no memory for the scratch buffers")


def winograd_output(const floating[:, :, :] M, const floating[::1] b,
                    floating[:, :, ::1] out, Py_ssize_t y0, Py_ssize_t th, Py_ssize_t tw,
                    int level=-1):
    """Winograd F(2x2, 3x3) output transform: ``out[f, 2*ty + i, 2*tx + j] = (A^T m A)[i, j]
    + b[f]`` for ``m[a, b] = M[4*a + b, f, t]``, tile rows ``y0 <= ty < y0 + th`` (rows and
    columns past ``out``'s edge dropped; C loops in ``_winograd.h``)."""
    cdef Py_ssize_t F = out.shape[0], Ho = out.shape[1], Wo = out.shape[2]
    if (M.shape[0] != 16 or M.shape[1] != F or M.shape[2] != th * tw or b.shape[0] != F
            or Wo > 2 * tw or min(F, Ho, Wo, th, tw) < 1 or y0 < 0
            or 2 * (y0 + th) > Ho + 1):
        raise ValueError("winograd_output: inconsistent shapes of M, b or out")
    _check_rows("winograd_output", M.shape[1], M.shape[2], M.strides[0], M.strides[1],
                M.strides[2], sizeof(floating))
    if level < 0 or level > DIRECT_SIMD_LEVEL:
        level = DIRECT_SIMD_LEVEL
    cdef int rc
    with nogil:
        if floating is float:
            rc = i2a_winograd_output_f32(&M[0, 0, 0], &b[0], &out[0, 0, 0], F, Ho, Wo, y0, th,
                                         tw, M.strides[0] // sizeof(float),
                                         M.strides[1] // sizeof(float), level)
        else:
            rc = i2a_winograd_output_f64(&M[0, 0, 0], &b[0], &out[0, 0, 0], F, Ho, Wo, y0, th,
                                         tw, M.strides[0] // sizeof(double),
                                         M.strides[1] // sizeof(double), level)
    if rc == -2:
        raise RuntimeError("winograd_output: this build has no Winograd transforms")
    if rc != 0:
        raise MemoryError("winograd_output: no memory for the scratch buffer")

