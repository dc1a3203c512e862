/* Winograd F(2x2, 3x3) transforms of the Cython core (the GEMMs between them are NumPy's):
 * the input transform of a band of tile rows of one image and the output transform back to
 * 2x2 output tiles, in float and double: 16-byte vectors everywhere, 32-byte (AVX2) ones on
 * x86-64 where i2a_direct_simd_level() reports level 1 or more. Included by the .pyx after
 * _direct_conv.h (its i2a_ix, aligned scratch memory and instruction-set macros); needs GCC
 * vector extensions, like the direct kernels (the layouts never call it without them).
 */
#ifndef I2A_WINOGRAD_H
#define I2A_WINOGRAD_H

#if I2A_HAVE_VECTORS

#define I2A_WT float
#define I2A_WIT int32_t
#define I2A_WNAME(x) x##_f32_generic
#define I2A_WTARGET
#define I2A_WVB 16
#define I2A_WVL 4
#include "_winograd_kernels.h"
#define I2A_WT double
#define I2A_WIT int64_t
#define I2A_WNAME(x) x##_f64_generic
#define I2A_WTARGET
#define I2A_WVB 16
#define I2A_WVL 2
#include "_winograd_kernels.h"
#if I2A_X86
#define I2A_WT float
#define I2A_WIT int32_t
#define I2A_WNAME(x) x##_f32_avx2
#define I2A_WTARGET I2A_AVX2
#define I2A_WVB 32
#define I2A_WVL 8
#include "_winograd_kernels.h"
#define I2A_WT double
#define I2A_WIT int64_t
#define I2A_WNAME(x) x##_f64_avx2
#define I2A_WTARGET I2A_AVX2
#define I2A_WVB 32
#define I2A_WVL 4
#include "_winograd_kernels.h"
#define I2A_WPICK(name, sfx, level) ((level) >= 1 ? name##_##sfx##_avx2 : name##_##sfx##_generic)
#else
#define I2A_WPICK(name, sfx, level) name##_##sfx##_generic
#endif

static int i2a_winograd_input_f32(const float *x, float *V, i2a_ix C, i2a_ix H, i2a_ix W,
                                  i2a_ix pad, i2a_ix y0, i2a_ix th, i2a_ix tw, i2a_ix vs,
                                  i2a_ix cs, int level)
{
    return I2A_WPICK(i2a_wino_input, f32, level)(x, V, C, H, W, pad, y0, th, tw, vs, cs);
}

static int i2a_winograd_input_f64(const double *x, double *V, i2a_ix C, i2a_ix H, i2a_ix W,
                                  i2a_ix pad, i2a_ix y0, i2a_ix th, i2a_ix tw, i2a_ix vs,
                                  i2a_ix cs, int level)
{
    return I2A_WPICK(i2a_wino_input, f64, level)(x, V, C, H, W, pad, y0, th, tw, vs, cs);
}

static int i2a_winograd_output_f32(const float *M, const float *b, float *out, i2a_ix F,
                                   i2a_ix Ho, i2a_ix Wo, i2a_ix y0, i2a_ix th, i2a_ix tw,
                                   i2a_ix ms, i2a_ix fs, int level)
{
    return I2A_WPICK(i2a_wino_output, f32, level)(M, b, out, F, Ho, Wo, y0, th, tw, ms, fs);
}

static int i2a_winograd_output_f64(const double *M, const double *b, double *out, i2a_ix F,
                                   i2a_ix Ho, i2a_ix Wo, i2a_ix y0, i2a_ix th, i2a_ix tw,
                                   i2a_ix ms, i2a_ix fs, int level)
{
    return I2A_WPICK(i2a_wino_output, f64, level)(M, b, out, F, Ho, Wo, y0, th, tw, ms, fs);
}

#else /* no vector extensions: the Winograd layout is never taken (simd level -1) */

static int i2a_winograd_input_f32(const float *x, float *V, i2a_ix C, i2a_ix H, i2a_ix W,
                                  i2a_ix pad, i2a_ix y0, i2a_ix th, i2a_ix tw, i2a_ix vs,
                                  i2a_ix cs, int level) { return -2; }
static int i2a_winograd_input_f64(const double *x, double *V, i2a_ix C, i2a_ix H, i2a_ix W,
                                  i2a_ix pad, i2a_ix y0, i2a_ix th, i2a_ix tw, i2a_ix vs,
                                  i2a_ix cs, int level) { return -2; }
static int i2a_winograd_output_f32(const float *M, const float *b, float *out, i2a_ix F,
                                   i2a_ix Ho, i2a_ix Wo, i2a_ix y0, i2a_ix th, i2a_ix tw,
                                   i2a_ix ms, i2a_ix fs, int level) { return -2; }
static int i2a_winograd_output_f64(const double *M, const double *b, double *out, i2a_ix F,
                                   i2a_ix Ho, i2a_ix Wo, i2a_ix y0, i2a_ix th, i2a_ix tw,
                                   i2a_ix ms, i2a_ix fs, int level) { return -2; }

#endif
#endif
