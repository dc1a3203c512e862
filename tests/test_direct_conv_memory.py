"""The direct-convolution, Winograd and Adam C kernels under AddressSanitizer and UBSan.

``intro2ai/_direct_conv.h`` reads past the end of each output row on purpose (the "wide"
layout) and pads every buffer for it; a wrong padding would read or write out of bounds
without changing any result the other tests see. Here a small C harness includes the headers,
runs the forward, dw and GEMM-dx drivers (also their shared forms, as threads call them) at
every SIMD level this CPU runs over fixed and random geometries and strides 1-3, the
Winograd transforms (``_winograd.h``) over random images and bands and Adam's step
(``_adam.h``) over lengths 1-70, and is built with ``-fsanitize=address,undefined``: any
out-of-bounds access or undefined behaviour aborts it. The inputs and outputs are allocated with their exact sizes,
so the kernels' reads and writes of them are checked too. The harness also checks one result
of the drivers exactly (all ones in, the number of in-bounds taps out), so they really ran.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sysconfig
from pathlib import Path

HEADER = Path(__file__).resolve().parents[1] / "intro2ai" / "_direct_conv.h"

HARNESS = r"""
#include "_direct_conv.h"
#include "_winograd.h"
#include "_adam.h"
#include <stdio.h>

static unsigned long long seed = 12345;
static long rnd(long lo, long hi) { /* uniform in [lo, hi] */
    seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
    return lo + (long)((seed >> 33) % (unsigned long long)(hi - lo + 1));
}

#define RUN(T, SUF)                                                                        \
    do {                                                                                   \
        T *x = malloc(sizeof(T) * N * C * H * W), *w = malloc(sizeof(T) * F * K);          \
        T *b = malloc(sizeof(T) * F), *out = malloc(sizeof(T) * N * F * Ho * Wo);          \
        T *dw = calloc((size_t)(F * K), sizeof(T));                                        \
        T *parts = malloc(sizeof(T) * N * F * K), *dx = malloc(sizeof(T) * N * C * H * W); \
        int64_t t1[2] = {0, 0}, t2[2] = {0, 0}, t3[2] = {0, 0};                            \
        for (long i = 0; i < N * C * H * W; i++) x[i] = 1;                                 \
        for (long i = 0; i < F * K; i++) w[i] = 1;                                         \
        for (long i = 0; i < F; i++) b[i] = 0;                                             \
        /* The shared drivers, one image per chunk, called twice (the second finds none). */ \
        for (int call = 0; call < 2; call++)                                               \
            if (i2a_direct_forward_shared_##SUF(x, w, b, out, N, C, H, W, F, HH, WW, ph, pw, \
                                                s, level, t1, 1)                           \
                || i2a_direct_dw_shared_##SUF(x, out, parts, N, C, H, W, F, HH, WW, ph, pw, \
                                              s, level, t2, 1)                             \
                || i2a_gemm_dx_shared_##SUF(out, w, dx, N, C, H, W, F, HH, WW, ph, pw, s,   \
                                            level, t3, 1)) {                               \
                puts("allocation failed");                                                 \
                return 1;                                                                  \
            }                                                                              \
        if (t1[1] != N || t2[1] != N || t3[1] != N) {                                      \
            puts("chunks not all finished");                                               \
            return 1;                                                                      \
        }                                                                                  \
        if (i2a_direct_forward_##SUF(x, w, b, out, N, C, H, W, F, HH, WW, ph, pw, s, level) \
            || i2a_direct_dw_##SUF(x, out, dw, N, C, H, W, F, HH, WW, ph, pw, s, level)) {  \
            puts("allocation failed");                                                     \
            return 1;                                                                      \
        }                                                                                  \
        /* Output pixel (0, 0) sees the taps inside the image: an exact count. */          \
        long inside = 0;                                                                   \
        for (long i = 0; i < HH; i++)                                                      \
            for (long j = 0; j < WW; j++)                                                  \
                inside += (i >= ph && i < ph + H && j >= pw && j < pw + W);                \
        if (out[0] != (T)(C * inside)) {                                                   \
            printf("wrong result %g != %ld\n", (double)out[0], C * inside);                \
            return 1;                                                                      \
        }                                                                                  \
        free(x); free(w); free(b); free(out); free(dw); free(parts); free(dx);             \
    } while (0)

/* The transforms of one image's band (tile rows y0 .. y0 + th - 1) into exact-size buffers. */
#define WINO(T, SUF)                                                                       \
    do {                                                                                   \
        T *x = malloc(sizeof(T) * C * H * W), *V = malloc(sizeof(T) * 16 * C * th * tw);   \
        T *M = malloc(sizeof(T) * 16 * F * th * tw), *b = malloc(sizeof(T) * F);           \
        T *out = malloc(sizeof(T) * F * Ho * Wo);                                          \
        for (long i = 0; i < C * H * W; i++) x[i] = 1;                                     \
        for (long i = 0; i < 16 * F * th * tw; i++) M[i] = 1;                              \
        for (long i = 0; i < F; i++) b[i] = 0;                                             \
        if (i2a_winograd_input_##SUF(x, V, C, H, W, pad, y0, th, tw, C * th * tw, th * tw, \
                                     level)                                                \
            || i2a_winograd_output_##SUF(M, b, out, F, Ho, Wo, y0, th, tw, F * th * tw,    \
                                         th * tw, level)) {                                \
            puts("allocation failed");                                                     \
            return 1;                                                                      \
        }                                                                                  \
        free(x); free(V); free(M); free(b); free(out);                                     \
    } while (0)

/* One Adam step over exact-size arrays of n elements. */
#define ADAM(T, SUF)                                                                       \
    do {                                                                                   \
        T *a[7];                                                                           \
        for (int k = 0; k < 7; k++) {                                                      \
            a[k] = malloc(sizeof(T) * n);                                                  \
            for (long i = 0; i < n; i++) a[k][i] = (T)1;                                   \
        }                                                                                  \
        i2a_adam_##SUF(a[0], a[1], a[2], a[3], a[4], a[5], a[6], n, 0.9, 0.1, 0.999, 0.001, \
                       0.01, 1, 1e-8, level);                                              \
        for (int k = 0; k < 7; k++) free(a[k]);                                            \
    } while (0)

int main(void) {
    int top = i2a_direct_simd_level();
    long runs = 0;
    for (int g = 0; g < 160; g++) {
        long N = rnd(1, 3), C = rnd(1, 5), F = rnd(1, 40), HH = rnd(1, 7), WW = rnd(1, 7);
        long ph = rnd(0, 3), pw = rnd(0, 3), s = g % 3 + 1;
        long H = rnd(1, 12), W = rnd(1, 40);
        if (g == 0) { N = 2; C = 3; H = W = 32; F = 32; HH = WW = 7; ph = pw = 3; }
        if (H + 2 * ph < HH) H = HH;
        if (W + 2 * pw < WW) W = WW;
        long K = C * HH * WW, Ho = (H + 2 * ph - HH) / s + 1, Wo = (W + 2 * pw - WW) / s + 1;
        for (int level = 0; level <= top; level++) {
            RUN(float, f32);
            RUN(double, f64);
            runs++;
        }
    }
    for (int g = 0; g < 160; g++) {
        long C = rnd(1, 5), F = rnd(1, 6), H = rnd(1, 20), W = rnd(1, 40), pad = rnd(0, 2);
        if (H + 2 * pad < 3) H = 3 - 2 * pad;
        if (W + 2 * pad < 3) W = 3 - 2 * pad;
        long Ho = H + 2 * pad - 2, Wo = W + 2 * pad - 2, tw = (Wo + 1) / 2, rows = (Ho + 1) / 2;
        long y0 = rnd(0, rows - 1), th = rnd(1, rows - y0);
        for (int level = 0; level <= top && level <= 1; level++) {
            WINO(float, f32);
            WINO(double, f64);
            runs++;
        }
    }
    for (long n = 1; n <= 70; n++)
        for (int level = -1; level <= top; level++) {
            ADAM(float, f32);
            ADAM(double, f64);
            runs++;
        }
    printf("ok %ld levels 0..%d\n", runs, top);
    return 0;
}
"""


def test_direct_kernels_clean_under_sanitizers(tmp_path):
    cc = os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc"
    cc = cc.split()[0]
    assert shutil.which(cc), f"no C compiler {cc!r}: the extension cannot be built either"
    src = tmp_path / "harness.c"
    src.write_text(HARNESS)
    exe = tmp_path / "harness"
    build = subprocess.run(
        [
            cc,
            "-O1",
            "-g",
            "-fno-omit-frame-pointer",
            "-fsanitize=address,undefined",
            "-fno-sanitize-recover=all",
            f"-I{HEADER.parent}",
            str(src),
            "-o",
            str(exe),
            "-lm",
        ],
        capture_output=True,
        text=True,
    )
    assert build.returncode == 0, build.stderr
    env = dict(
        os.environ,
        ASAN_OPTIONS="detect_leaks=1:abort_on_error=0",
        UBSAN_OPTIONS="print_stacktrace=1",
    )
    env.pop("LD_PRELOAD", None)
    run = subprocess.run([str(exe)], capture_output=True, text=True, env=env, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.startswith("ok "), run.stdout
    assert "runtime error" not in run.stderr, run.stderr
