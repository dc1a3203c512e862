/* Direct (no im2col) convolution for the Cython core: the forward pass and the weight
 * gradient, in float and double, with SIMD kernels chosen at run time. The kernels are
 * stride-1 ones; other strides run them on the image's phases (see _direct_conv_driver.h).
 * The forward kernel also does the GEMM of dx by GEMM + col2im for layers with few input
 * channels. The *_shared drivers let several threads do one job: each call claims chunks of
 * images from a counter they share, so a thread pays for its start once, not per chunk.
 *
 * i2a_direct_simd_level() says which kernels this CPU runs: 2 = AVX-512, 1 = AVX2 + FMA,
 * 0 = only the portable ones (16-byte vectors: correct everywhere, not faster than the
 * im2col path), -1 = not compiled (a compiler without GCC vector extensions). Python only
 * picks the direct path by itself at level 1 or 2.
 *
 * The instruction sets are enabled per function (target attributes), never for the whole
 * extension, so one build runs on any x86-64 and uses AVX-512 where the CPU has it.
 */
#ifndef I2A_DIRECT_CONV_H
#define I2A_DIRECT_CONV_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef ptrdiff_t i2a_ix; /* sizes and offsets (Py_ssize_t on the Cython side) */

/* The CPU the calling thread runs on, or -1 where the system does not say (_fast_plan keeps
 * worker threads off the caller's CPU with it). Declared here: <sched.h> declares it only
 * under _GNU_SOURCE. */
#if defined(__linux__)
extern int sched_getcpu(void);
static int i2a_current_cpu(void) { return sched_getcpu(); }
#else
static int i2a_current_cpu(void) { return -1; }
#endif

#if defined(__GNUC__) || defined(__clang__)
#define I2A_HAVE_VECTORS 1
#else
#define I2A_HAVE_VECTORS 0
#endif

#if I2A_HAVE_VECTORS && (defined(__x86_64__) || defined(__i386__))
#define I2A_X86 1
#else
#define I2A_X86 0
#endif

#define I2A_CAT_(a, b) a##b
#define I2A_CAT(a, b) I2A_CAT_(a, b) /* pastes after expanding a and b */

static i2a_ix i2a_round_up(i2a_ix a, i2a_ix m) { return (a + m - 1) / m * m; }

/* Zeroed scratch memory aligned to 64 bytes (a cache line: aligned vector loads never
 * straddle two), released with i2a_free64. */
static void *i2a_calloc64(i2a_ix count, size_t size)
{
    unsigned char *raw = calloc((size_t)count * size + 64 + sizeof(void *), 1);
    if (!raw)
        return NULL;
    uintptr_t p = ((uintptr_t)(raw + sizeof(void *)) + 63) & ~(uintptr_t)63;
    ((void **)p)[-1] = raw;
    return (void *)p;
}

static void i2a_free64(void *p)
{
    if (p)
        free(((void **)p)[-1]);
}

#if I2A_HAVE_VECTORS

/* A job several threads do together shares a ticket of two counters: ticket[0], the next chunk
 * index (each caller claims chunks with an atomic add until they run out), and ticket[1], the
 * chunks finished (added to with release order once a chunk's results are written, so that a
 * thread that reads it with acquire order sees them). */
static i2a_ix i2a_claim(int64_t *ticket)
{
    return (i2a_ix)__atomic_fetch_add(ticket, 1, __ATOMIC_RELAXED);
}

static void i2a_finished(int64_t *ticket)
{
    __atomic_fetch_add(ticket + 1, 1, __ATOMIC_RELEASE);
}

static int64_t i2a_chunks_done(int64_t *ticket)
{
    return __atomic_load_n(ticket + 1, __ATOMIC_ACQUIRE);
}

/* Hand-offs to a worker thread that spins for a while after each job instead of sleeping at
 * once (sleeping threads are woken slowly, and the scheduler puts a woken thread beside its
 * waker). *gen counts the jobs posted. */
static double i2a_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void i2a_relax(void)
{
#if I2A_X86
    __builtin_ia32_pause();
#endif
}

static void i2a_post(int64_t *gen)
{
    __atomic_fetch_add(gen, 1, __ATOMIC_RELEASE);
}

/* *gen once it differs from seen, or seen after `seconds` of spinning. */
static int64_t i2a_spin_wait(int64_t *gen, int64_t seen, double seconds)
{
    double end = i2a_now() + seconds;
    for (;;) {
        for (int i = 0; i < 64; i++) {
            int64_t g = __atomic_load_n(gen, __ATOMIC_ACQUIRE);
            if (g != seen)
                return g;
            i2a_relax();
        }
        if (i2a_now() >= end)
            return seen;
    }
}

/* Wait until `n` chunks of a ticket's job are finished: spinning for `seconds`, then in naps
 * of 20 us (the thread finishing them may need this core). */
static void i2a_wait_done(int64_t *ticket, int64_t n, double seconds)
{
    double end = i2a_now() + seconds;
    while (i2a_chunks_done(ticket) < n) {
        if (i2a_now() < end) {
            i2a_relax();
            continue;
        }
        struct timespec nap = {0, 20000};
        nanosleep(&nap, NULL);
    }
}

static int i2a_direct_simd_level(void)
{
#if I2A_X86
    /* __builtin_cpu_supports also checks that the OS saves the wider registers. */
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma"))
        return 0;
    return __builtin_cpu_supports("avx512f") ? 2 : 1;
#else
    return 0;
#endif
}

/* Tile sizes: the accumulators of a tile fill at most three quarters of the vector
 * registers (16 xmm/ymm, 32 zmm), measured on the training step's first layer. */
#define I2A_AVX2 __attribute__((target("avx2,fma")))
#define I2A_AVX512 __attribute__((target("avx512f,avx2,fma")))

typedef struct {
    void (*fwd)(const float *, const float *, const i2a_ix *, i2a_ix, i2a_ix, i2a_ix, float *);
    void (*dw)(const float *, const float *, const i2a_ix *, i2a_ix, i2a_ix, i2a_ix, float *);
    i2a_ix fb, tq, kb, fbd, vl;
} i2a_kernels_f32;

typedef struct {
    void (*fwd)(const double *, const double *, const i2a_ix *, i2a_ix, i2a_ix, i2a_ix, double *);
    void (*dw)(const double *, const double *, const i2a_ix *, i2a_ix, i2a_ix, i2a_ix, double *);
    i2a_ix fb, tq, kb, fbd, vl;
} i2a_kernels_f64;

#define I2A_T float
#define I2A_KT i2a_kernels_f32
#define I2A_TARGET
#define I2A_NAME(x) i2a_##x##_f32_generic
#define I2A_VB 16
#define I2A_FB 4
#define I2A_NV 2
#define I2A_KB 3
#define I2A_FBD 3
#include "_direct_conv_kernels.h"
#if I2A_X86
#define I2A_TARGET I2A_AVX2
#define I2A_NAME(x) i2a_##x##_f32_avx2
#define I2A_VB 32
#define I2A_FB 4
#define I2A_NV 3
#define I2A_KB 3
#define I2A_FBD 4
#include "_direct_conv_kernels.h"
#define I2A_TARGET I2A_AVX512
#define I2A_NAME(x) i2a_##x##_f32_avx512
#define I2A_VB 64
#define I2A_FB 8
#define I2A_NV 2
#define I2A_KB 4
#define I2A_FBD 6
#include "_direct_conv_kernels.h"
/* Second tiles, 5 filters x 3 vectors forward, 5 taps x 5 filters for dw, for layers where
 * they pad less (e.g. 25 filters: padded to 32 by tiles of 8; 25 taps and 20 filters: to 28 x
 * 24 by 4 x 6). */
#define I2A_TARGET I2A_AVX512
#define I2A_NAME(x) i2a_##x##_f32_avx512b
#define I2A_VB 64
#define I2A_FB 5
#define I2A_NV 3
#define I2A_KB 5
#define I2A_FBD 5
#include "_direct_conv_kernels.h"
#endif
#define I2A_SUF(x) x##_f32
#include "_direct_conv_driver.h"

#define I2A_T double
#define I2A_KT i2a_kernels_f64
#define I2A_TARGET
#define I2A_NAME(x) i2a_##x##_f64_generic
#define I2A_VB 16
#define I2A_FB 4
#define I2A_NV 2
#define I2A_KB 3
#define I2A_FBD 3
#include "_direct_conv_kernels.h"
#if I2A_X86
#define I2A_TARGET I2A_AVX2
#define I2A_NAME(x) i2a_##x##_f64_avx2
#define I2A_VB 32
#define I2A_FB 4
#define I2A_NV 3
#define I2A_KB 3
#define I2A_FBD 4
#include "_direct_conv_kernels.h"
#define I2A_TARGET I2A_AVX512
#define I2A_NAME(x) i2a_##x##_f64_avx512
#define I2A_VB 64
#define I2A_FB 4
#define I2A_NV 4
#define I2A_KB 4
#define I2A_FBD 6
#include "_direct_conv_kernels.h"
#define I2A_TARGET I2A_AVX512
#define I2A_NAME(x) i2a_##x##_f64_avx512b
#define I2A_VB 64
#define I2A_FB 5
#define I2A_NV 3
#define I2A_KB 5
#define I2A_FBD 5
#include "_direct_conv_kernels.h"
#endif
#define I2A_SUF(x) x##_f64
#include "_direct_conv_driver.h"

#else /* no vector extensions: the direct path is never taken */

static int i2a_direct_simd_level(void) { return -1; }
static i2a_ix i2a_direct_filter_tile_f32(int level) { return 0; }
static i2a_ix i2a_direct_filter_tile_f64(int level) { return 0; }
static int i2a_direct_forward_f32(const float *x, const float *w, const float *b, float *out,
                                  i2a_ix N, i2a_ix C, i2a_ix H, i2a_ix W, i2a_ix F, i2a_ix HH, i2a_ix WW,
                                  i2a_ix pad_h, i2a_ix pad_w, i2a_ix s, int level) { return -2; }
static int i2a_direct_forward_f64(const double *x, const double *w, const double *b,
                                  double *out, i2a_ix N, i2a_ix C, i2a_ix H, i2a_ix W, i2a_ix F, i2a_ix HH,
                                  i2a_ix WW, i2a_ix pad_h, i2a_ix pad_w, i2a_ix s, int level) { return -2; }
static int i2a_direct_dw_f32(const float *x, const float *dout, float *dw, i2a_ix N, i2a_ix C,
                             i2a_ix H, i2a_ix W, i2a_ix F, i2a_ix HH, i2a_ix WW, i2a_ix pad_h, i2a_ix pad_w,
                             i2a_ix s, int level) { return -2; }
static int i2a_direct_dw_f64(const double *x, const double *dout, double *dw, i2a_ix N, i2a_ix C,
                             i2a_ix H, i2a_ix W, i2a_ix F, i2a_ix HH, i2a_ix WW, i2a_ix pad_h, i2a_ix pad_w,
                             i2a_ix s, int level) { return -2; }
#define I2A_NO_SHARED(name, T)                                                                  \
    static int name(const T *a, const T *b, T *c, i2a_ix N, i2a_ix C, i2a_ix H, i2a_ix W,       \
                    i2a_ix F, i2a_ix HH, i2a_ix WW, i2a_ix pad_h, i2a_ix pad_w, i2a_ix s,        \
                    int level, int64_t *ticket, i2a_ix chunk) { return -2; }
I2A_NO_SHARED(i2a_direct_dw_shared_f32, float)
I2A_NO_SHARED(i2a_direct_dw_shared_f64, double)
I2A_NO_SHARED(i2a_gemm_dx_shared_f32, float)
I2A_NO_SHARED(i2a_gemm_dx_shared_f64, double)
static int64_t i2a_chunks_done(int64_t *ticket) { return ticket[1]; }
static void i2a_post(int64_t *gen) { *gen += 1; }
static int64_t i2a_spin_wait(int64_t *gen, int64_t seen, double seconds) { return *gen; }
static void i2a_wait_done(int64_t *ticket, int64_t n, double seconds) {}
static int i2a_direct_forward_shared_f32(const float *x, const float *w, const float *b,
                                         float *out, i2a_ix N, i2a_ix C, i2a_ix H, i2a_ix W,
                                         i2a_ix F, i2a_ix HH, i2a_ix WW, i2a_ix pad_h,
                                         i2a_ix pad_w, i2a_ix s, int level, int64_t *ticket,
                                         i2a_ix chunk) { return -2; }
static int i2a_direct_forward_shared_f64(const double *x, const double *w, const double *b,
                                         double *out, i2a_ix N, i2a_ix C, i2a_ix H, i2a_ix W,
                                         i2a_ix F, i2a_ix HH, i2a_ix WW, i2a_ix pad_h,
                                         i2a_ix pad_w, i2a_ix s, int level, int64_t *ticket,
                                         i2a_ix chunk) { return -2; }

#endif
#endif
