/* Register-blocked SIMD kernels of the direct (no im2col) stride-1 convolution, for one
 * element type and one instruction-set level. Included by _direct_conv.h once per
 * (type, level) with these macros defined:
 *
 *   I2A_T       element type (float or double)
 *   I2A_KT      the table type of that element type (i2a_kernels_f32 or _f64)
 *   I2A_NAME(x) x with a type-and-level suffix
 *   I2A_TARGET  function attribute selecting the instruction set (may be empty)
 *   I2A_VB      bytes per vector (16, 32 or 64)
 *   I2A_FB, I2A_NV   forward tile: FB filters x NV vectors of output pixels
 *   I2A_KB, I2A_FBD  dw tile: KB filter taps x FBD filters, one vector of pixels each
 *
 * It undefines all but I2A_T and I2A_KT at its end, for the next instantiation.
 *
 * The "wide" layout: an image zero-padded to (C, Hp, Wp) and flattened is x; filter tap
 * k = (c, i, j) reads x at off[k] = (c * Hp + i) * Wp + j, so the im2col row of tap k is the
 * contiguous run x[off[k] + q], q = h * Wp + w. Columns w >= W_out of that run are garbage
 * (they wrap into the next row); the forward pass computes and then drops them, the dw pass
 * multiplies them by zeros. The vectors are GCC/Clang vector extensions: the tile stays in
 * registers whatever the optimiser's auto-vectorisation heuristics decide.
 */

typedef I2A_T I2A_NAME(vec) __attribute__((vector_size(I2A_VB), aligned(sizeof(I2A_T)),
                                           may_alias));

/* outw[f * Qp + q] = sum_k wt[k * Fp + f] * x[off[k] + q] for f < Fp, q < Qp.
 * Fp is a multiple of FB, Qp of NV vectors; x is readable up to off[K-1] + Qp. */
static I2A_TARGET void I2A_NAME(fwd)(const I2A_T *x, const I2A_T *wt, const i2a_ix *off, i2a_ix K,
                                     i2a_ix Fp, i2a_ix Qp, I2A_T *outw)
{
    enum { VL = I2A_VB / (int)sizeof(I2A_T) };
    for (i2a_ix f0 = 0; f0 < Fp; f0 += I2A_FB) {
        for (i2a_ix q0 = 0; q0 < Qp; q0 += I2A_NV * VL) {
            I2A_NAME(vec) acc[I2A_FB][I2A_NV];
            for (int r = 0; r < I2A_FB; r++)
                for (int t = 0; t < I2A_NV; t++)
                    acc[r][t] = (I2A_NAME(vec)){0};
            for (i2a_ix k = 0; k < K; k++) {
                const I2A_T *src = x + off[k] + q0;
                const I2A_T *wk = wt + k * Fp + f0;
                I2A_NAME(vec) xv[I2A_NV];
                for (int t = 0; t < I2A_NV; t++)
                    xv[t] = *(const I2A_NAME(vec) *)(src + t * VL);
                for (int r = 0; r < I2A_FB; r++) {
                    I2A_T wv = wk[r];
                    for (int t = 0; t < I2A_NV; t++)
                        acc[r][t] += wv * xv[t];
                }
            }
            for (int r = 0; r < I2A_FB; r++)
                for (int t = 0; t < I2A_NV; t++)
                    *(I2A_NAME(vec) *)(outw + (f0 + r) * Qp + q0 + t * VL) = acc[r][t];
        }
    }
}

/* dw[f * Kp + k] += sum_{q < Qp} x[off[k] + q] * doutw[f * Qp + q] for k < Kp, f < Fp.
 * Kp is a multiple of KB, Fp of FBD, Qp of the vector length; doutw is zero where q is a
 * garbage column or beyond Q, so those products vanish. */
static I2A_TARGET void I2A_NAME(dw)(const I2A_T *x, const I2A_T *doutw, const i2a_ix *off,
                                    i2a_ix Kp, i2a_ix Fp, i2a_ix Qp, I2A_T *dw)
{
    enum { VL = I2A_VB / (int)sizeof(I2A_T) };
    for (i2a_ix f0 = 0; f0 < Fp; f0 += I2A_FBD) {
        for (i2a_ix k0 = 0; k0 < Kp; k0 += I2A_KB) {
            I2A_NAME(vec) acc[I2A_KB][I2A_FBD];
            for (int r = 0; r < I2A_KB; r++)
                for (int t = 0; t < I2A_FBD; t++)
                    acc[r][t] = (I2A_NAME(vec)){0};
            for (i2a_ix q = 0; q < Qp; q += VL) {
                I2A_NAME(vec) xv[I2A_KB];
                for (int r = 0; r < I2A_KB; r++)
                    xv[r] = *(const I2A_NAME(vec) *)(x + off[k0 + r] + q);
                for (int t = 0; t < I2A_FBD; t++) {
                    I2A_NAME(vec) dv = *(const I2A_NAME(vec) *)(doutw + (f0 + t) * Qp + q);
                    for (int r = 0; r < I2A_KB; r++)
                        acc[r][t] += xv[r] * dv;
                }
            }
            for (int r = 0; r < I2A_KB; r++)
                for (int t = 0; t < I2A_FBD; t++) {
                    I2A_T sum = 0;
                    for (int e = 0; e < VL; e++)
                        sum += acc[r][t][e];
                    dw[(f0 + t) * Kp + k0 + r] += sum;
                }
        }
    }
}

static const I2A_KT I2A_NAME(kernels) = {
    I2A_NAME(fwd), I2A_NAME(dw),
    I2A_FB, I2A_NV * (I2A_VB / (i2a_ix)sizeof(I2A_T)),
    I2A_KB, I2A_FBD, I2A_VB / (i2a_ix)sizeof(I2A_T),
};

#undef I2A_TARGET
#undef I2A_NAME
#undef I2A_VB
#undef I2A_FB
#undef I2A_NV
#undef I2A_KB
#undef I2A_FBD
