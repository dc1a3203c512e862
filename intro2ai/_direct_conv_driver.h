/* Drivers of the direct convolution (any stride) for one element type: they pad each image into
 * the wide layout (see _direct_conv_kernels.h), call the kernels of the chosen level and
 * crop the results. Included by _direct_conv.h once per type with I2A_T, I2A_KT and
 * I2A_SUF(x) (x with the type suffix) defined, and undefines them at its end. All arrays are C-contiguous; scratch memory
 * is allocated per call, so calls on disjoint images may run in parallel threads.
 */

static const I2A_KT *I2A_SUF(i2a_pick)(int level)
{
#if I2A_X86
    if (level >= 2)
        return &I2A_CAT(I2A_SUF(i2a_kernels), _avx512);
    if (level == 1)
        return &I2A_CAT(I2A_SUF(i2a_kernels), _avx2);
#endif
    (void)level;
    return &I2A_CAT(I2A_SUF(i2a_kernels), _generic);
}

/* Filters per forward tile at this level: a convolution whose output channels are not a
 * multiple of it computes the rest as padding. */
static i2a_ix I2A_SUF(i2a_direct_filter_tile)(int level)
{
    return I2A_SUF(i2a_pick)(level)->fb;
}

/* At stride s the padded image (C, Hp, Wp) is stored as its s * s phases (C, s, s, Hq, Wq),
 * Hq = ceil(Hp / s), Wq = ceil(Wp / s): phase (a, b) holds the padded pixels (r s + a, q s + b)
 * at (r, q). Output (h, w) reads tap (c, i, j) at (h s + i, w s + j) of the padded image, i.e.
 * at (h + i / s, w + j / s) of phase (i % s, j % s): a stride-1 read of that plane, so the
 * stride-1 kernels run unchanged on these offsets and "wide" rows of Wq (s = 1: the padded
 * image itself). */
static void I2A_SUF(i2a_offsets)(i2a_ix *off, i2a_ix C, i2a_ix HH, i2a_ix WW, i2a_ix Hq,
                                 i2a_ix Wq, i2a_ix s, i2a_ix Kp)
{
    for (i2a_ix k = 0; k < Kp; k++)
        off[k] = 0;
    for (i2a_ix c = 0; c < C; c++)
        for (i2a_ix i = 0; i < HH; i++)
            for (i2a_ix j = 0; j < WW; j++)
                off[(c * HH + i) * WW + j] =
                    (((c * s + i % s) * s + j % s) * Hq + i / s) * Wq + j / s;
}

/* Copy image n of x (C, H, W) into the interior of the zeroed phase buffer xp
 * (C, s, s, Hq, Wq). */
static void I2A_SUF(i2a_pad_image)(const I2A_T *x, I2A_T *xp, i2a_ix C, i2a_ix H, i2a_ix W,
                                   i2a_ix Hq, i2a_ix Wq, i2a_ix s, i2a_ix pad_h, i2a_ix pad_w)
{
    if (s == 1) {
        for (i2a_ix c = 0; c < C; c++)
            for (i2a_ix y = 0; y < H; y++)
                memcpy(xp + (c * Hq + y + pad_h) * Wq + pad_w, x + (c * H + y) * W,
                       (size_t)W * sizeof(I2A_T));
        return;
    }
    for (i2a_ix c = 0; c < C; c++)
        for (i2a_ix y = 0; y < H; y++) {
            const i2a_ix yp = y + pad_h;
            const I2A_T *src = x + (c * H + y) * W;
            I2A_T *row = xp + ((c * s + yp % s) * s * Hq + yp / s) * Wq;
            for (i2a_ix b = 0; b < s; b++) {
                /* the columns xx with (xx + pad_w) % s == b, at (xx + pad_w) / s of phase b */
                const i2a_ix x0 = ((b - pad_w) % s + s) % s;
                I2A_T *dst = row + b * Hq * Wq + (x0 + pad_w) / s;
                for (i2a_ix xx = x0, q = 0; xx < W; xx += s, q++)
                    dst[q] = src[xx];
            }
        }
}

/* out (N, F, Ho, Wo) = x (N, C, H, W) cross-correlated with w (F, C, HH, WW) at stride s,
 * zero padding pad_h / pad_w, plus b (F,). Needs H + 2 pad_h >= HH, W + 2 pad_w >= WW.
 * Returns 0, or -1 when the scratch memory cannot be allocated. */
static int I2A_SUF(i2a_direct_forward)(const I2A_T *x, const I2A_T *w, const I2A_T *b,
                                       I2A_T *out, i2a_ix N, i2a_ix C, i2a_ix H, i2a_ix W,
                                       i2a_ix F, i2a_ix HH, i2a_ix WW, i2a_ix pad_h,
                                       i2a_ix pad_w, i2a_ix s, int level)
{
    const I2A_KT *kern = I2A_SUF(i2a_pick)(level);
    i2a_ix Hp = H + 2 * pad_h, Wp = W + 2 * pad_w, Ho = (Hp - HH) / s + 1, Wo = (Wp - WW) / s + 1;
    i2a_ix Hq = (Hp + s - 1) / s, Wq = (Wp + s - 1) / s;
    i2a_ix K = C * HH * WW, Q = Ho * Wq;
    i2a_ix Qp = i2a_round_up(Q, kern->tq), Fp = i2a_round_up(F, kern->fb);
    /* The kernels read up to off[K-1] + Qp - 1 < C * s * s * Hq * Wq + WW + tq. */
    I2A_T *xp = i2a_calloc64(C * s * s * Hq * Wq + WW + kern->tq, sizeof(I2A_T));
    I2A_T *wt = i2a_calloc64(K * Fp, sizeof(I2A_T));
    I2A_T *outw = i2a_calloc64(Fp * Qp, sizeof(I2A_T));
    i2a_ix *off = i2a_calloc64(K, sizeof(i2a_ix));
    int ok = xp && wt && outw && off;
    if (ok) {
        I2A_SUF(i2a_offsets)(off, C, HH, WW, Hq, Wq, s, K);
        for (i2a_ix f = 0; f < F; f++)
            for (i2a_ix k = 0; k < K; k++)
                wt[k * Fp + f] = w[f * K + k];
        for (i2a_ix n = 0; n < N; n++) {
            /* Only the interior is ever written: the padding stays zero. */
            I2A_SUF(i2a_pad_image)(x + n * C * H * W, xp, C, H, W, Hq, Wq, s, pad_h, pad_w);
            kern->fwd(xp, wt, off, K, Fp, Qp, outw);
            I2A_T *o = out + n * F * Ho * Wo;
            for (i2a_ix f = 0; f < F; f++) {
                const I2A_T bias = b[f];
                for (i2a_ix h = 0; h < Ho; h++) {
                    const I2A_T *src = outw + f * Qp + h * Wq;
                    I2A_T *dst = o + (f * Ho + h) * Wo;
                    for (i2a_ix c = 0; c < Wo; c++)
                        dst[c] = src[c] + bias;
                }
            }
        }
    }
    i2a_free64(xp); i2a_free64(wt); i2a_free64(outw); i2a_free64(off);
    return ok ? 0 : -1;
}

/* dw (F, C, HH, WW) += the weight gradient of that convolution for upstream gradient
 * dout (N, F, Ho, Wo), summed over the N images. Returns 0, or -1 (no memory). */
static int I2A_SUF(i2a_direct_dw)(const I2A_T *x, const I2A_T *dout, I2A_T *dw, i2a_ix N,
                                  i2a_ix C, i2a_ix H, i2a_ix W, i2a_ix F, i2a_ix HH,
                                  i2a_ix WW, i2a_ix pad_h, i2a_ix pad_w, i2a_ix s, int level)
{
    const I2A_KT *kern = I2A_SUF(i2a_pick)(level);
    i2a_ix Hp = H + 2 * pad_h, Wp = W + 2 * pad_w, Ho = (Hp - HH) / s + 1, Wo = (Wp - WW) / s + 1;
    i2a_ix Hq = (Hp + s - 1) / s, Wq = (Wp + s - 1) / s;
    i2a_ix K = C * HH * WW, Q = Ho * Wq;
    i2a_ix Kp = i2a_round_up(K, kern->kb), Fp = i2a_round_up(F, kern->fbd);
    i2a_ix Qp = i2a_round_up(Q, kern->vl);
    I2A_T *xp = i2a_calloc64(C * s * s * Hq * Wq + WW + kern->tq, sizeof(I2A_T));
    /* dout in the wide layout (Fp, Qp): garbage columns, q >= Q and the padding filters
     * are never written, so they stay zero. */
    I2A_T *doutw = i2a_calloc64(Fp * Qp, sizeof(I2A_T));
    I2A_T *dwp = i2a_calloc64(Fp * Kp, sizeof(I2A_T));
    i2a_ix *off = i2a_calloc64(Kp, sizeof(i2a_ix));
    int ok = xp && doutw && dwp && off;
    if (ok) {
        I2A_SUF(i2a_offsets)(off, C, HH, WW, Hq, Wq, s, Kp);
        for (i2a_ix n = 0; n < N; n++) {
            I2A_SUF(i2a_pad_image)(x + n * C * H * W, xp, C, H, W, Hq, Wq, s, pad_h, pad_w);
            const I2A_T *d = dout + n * F * Ho * Wo;
            for (i2a_ix f = 0; f < F; f++)
                for (i2a_ix h = 0; h < Ho; h++)
                    memcpy(doutw + f * Qp + h * Wq, d + (f * Ho + h) * Wo,
                           (size_t)Wo * sizeof(I2A_T));
            kern->dw(xp, doutw, off, Kp, Fp, Qp, dwp);
        }
        for (i2a_ix f = 0; f < F; f++)
            for (i2a_ix k = 0; k < K; k++)
                dw[f * K + k] += dwp[f * Kp + k];
    }
    i2a_free64(xp); i2a_free64(doutw); i2a_free64(dwp); i2a_free64(off);
    return ok ? 0 : -1;
}

#undef I2A_SUF
#undef I2A_T
#undef I2A_KT
