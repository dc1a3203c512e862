/* One Adam step in a single pass over the arrays, for the Cython core's adam_step
 * (intro2ai.optim.adam owns the formulas and their constants):
 *
 *   m = b1 * m_old + c1 * g,  v = b2 * v_old + c2 * g * g,
 *   next_w = w - lr * m / (sqrt(v * vs) + eps).
 *
 * The outputs are new arrays, distinct from the inputs (restrict), so the compiler vectorises
 * the loop. It is compiled for the baseline and, on x86-64, for AVX2 + FMA and AVX-512, picked
 * by the level i2a_direct_simd_level() reports. Included by the .pyx after _direct_conv.h.
 */
#ifndef I2A_ADAM_H
#define I2A_ADAM_H

#include <math.h>

#define I2A_ADAM(name, T, SQRT, TARGET)                                                     \
    TARGET static void name(const T *restrict w, const T *restrict dw,                     \
                            const T *restrict m_old, const T *restrict v_old,              \
                            T *restrict next_w, T *restrict m, T *restrict v, i2a_ix n,    \
                            T b1, T c1, T b2, T c2, T lr, T vs, T eps)                     \
    {                                                                                       \
        for (i2a_ix i = 0; i < n; i++) {                                                    \
            T g = dw[i];                                                                    \
            T mi = b1 * m_old[i] + c1 * g;                                                  \
            T vi = b2 * v_old[i] + c2 * g * g;                                              \
            m[i] = mi;                                                                      \
            v[i] = vi;                                                                      \
            next_w[i] = w[i] - lr * mi / (SQRT(vi * vs) + eps);                             \
        }                                                                                   \
    }

I2A_ADAM(i2a_adam_f32_generic, float, sqrtf, )
I2A_ADAM(i2a_adam_f64_generic, double, sqrt, )
#if I2A_X86
I2A_ADAM(i2a_adam_f32_avx2, float, sqrtf, I2A_AVX2)
I2A_ADAM(i2a_adam_f64_avx2, double, sqrt, I2A_AVX2)
I2A_ADAM(i2a_adam_f32_avx512, float, sqrtf, I2A_AVX512)
I2A_ADAM(i2a_adam_f64_avx512, double, sqrt, I2A_AVX512)
#define I2A_ADAM_PICK(sfx, level)                                                           \
    ((level) >= 2 ? i2a_adam_##sfx##_avx512                                                 \
                  : (level) >= 1 ? i2a_adam_##sfx##_avx2 : i2a_adam_##sfx##_generic)
#else
#define I2A_ADAM_PICK(sfx, level) i2a_adam_##sfx##_generic
#endif

static void i2a_adam_f32(const float *w, const float *dw, const float *m_old, const float *v_old,
                         float *next_w, float *m, float *v, i2a_ix n, float b1, float c1,
                         float b2, float c2, float lr, float vs, float eps, int level)
{
    I2A_ADAM_PICK(f32, level)(w, dw, m_old, v_old, next_w, m, v, n, b1, c1, b2, c2, lr, vs, eps);
}

static void i2a_adam_f64(const double *w, const double *dw, const double *m_old,
                         const double *v_old, double *next_w, double *m, double *v, i2a_ix n,
                         double b1, double c1, double b2, double c2, double lr, double vs,
                         double eps, int level)
{
    I2A_ADAM_PICK(f64, level)(w, dw, m_old, v_old, next_w, m, v, n, b1, c1, b2, c2, lr, vs, eps);
}

#endif
