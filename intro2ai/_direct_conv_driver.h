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

/* The forward kernels for F filters at this level: at AVX-512 the second tiles where they pad
 * the filters by a tenth less. */
static const I2A_KT *I2A_SUF(i2a_pick_fwd)(int level, i2a_ix F)
{
    const I2A_KT *kern = I2A_SUF(i2a_pick)(level);
#if I2A_X86
    if (level >= 2) {
        const I2A_KT *alt = &I2A_CAT(I2A_SUF(i2a_kernels), _avx512b);
        if (10 * i2a_round_up(F, alt->fb) < 9 * i2a_round_up(F, kern->fb))
            return alt;
    }
#endif
    return kern;
}

/* The dw kernels for K taps and F filters at this level: at AVX-512 the second tiles where they
 * pad the (K, F) products by a tenth less. */
static const I2A_KT *I2A_SUF(i2a_pick_dw)(int level, i2a_ix K, i2a_ix F)
{
    const I2A_KT *kern = I2A_SUF(i2a_pick)(level);
#if I2A_X86
    if (level >= 2) {
        const I2A_KT *alt = &I2A_CAT(I2A_SUF(i2a_kernels), _avx512b);
        if (10 * i2a_round_up(K, alt->kb) * i2a_round_up(F, alt->fbd)
            < 9 * i2a_round_up(K, kern->kb) * i2a_round_up(F, kern->fbd))
            return alt;
    }
#endif
    return kern;
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

/* Images [*n0, *n1) of the next chunk: with a ticket the next chunk of `chunk` images not yet
 * taken by another thread (chunk index in *ci), else the whole batch once. Returns 0 when no
 * chunk is left. */
static int I2A_SUF(i2a_next_chunk)(int64_t *ticket, i2a_ix chunk, i2a_ix N, int *started,
                                   i2a_ix *ci, i2a_ix *n0, i2a_ix *n1)
{
    if (!ticket) {
        if (*started)
            return 0;
        *started = 1;
        *ci = 0, *n0 = 0, *n1 = N;
        return N > 0;
    }
    *ci = i2a_claim(ticket);
    *n0 = *ci * chunk;
    if (*n0 >= N)
        return 0;
    *n1 = *n0 + chunk < N ? *n0 + chunk : N;
    return 1;
}

/* out (N, F, Ho, Wo) = x (N, C, H, W) cross-correlated with w (F, C, HH, WW) at stride s,
 * zero padding pad_h / pad_w, plus b (F,). Needs H + 2 pad_h >= HH, W + 2 pad_w >= WW.
 * With a ticket (shared by the threads doing this job) only the chunks of `chunk` images this
 * call claims; without, all images. Returns 0, or -1 when the scratch memory cannot be
 * allocated. */
static int I2A_SUF(i2a_direct_forward_shared)(const I2A_T *x, const I2A_T *w, const I2A_T *b,
                                              I2A_T *out, i2a_ix N, i2a_ix C, i2a_ix H,
                                              i2a_ix W, i2a_ix F, i2a_ix HH, i2a_ix WW,
                                              i2a_ix pad_h, i2a_ix pad_w, i2a_ix s, int level,
                                              int64_t *ticket, i2a_ix chunk)
{
    const I2A_KT *kern = I2A_SUF(i2a_pick_fwd)(level, F);
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
        int started = 0;
        i2a_ix ci, n0, n1;
        while (I2A_SUF(i2a_next_chunk)(ticket, chunk, N, &started, &ci, &n0, &n1)) {
            for (i2a_ix n = n0; n < n1; n++) {
                /* Only the interior is ever written: the padding stays zero. */
                I2A_SUF(i2a_pad_image)(x + n * C * H * W, xp, C, H, W, Hq, Wq, s, pad_h,
                                       pad_w);
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
            if (ticket)
                i2a_finished(ticket);
        }
    }
    i2a_free64(xp); i2a_free64(wt); i2a_free64(outw); i2a_free64(off);
    return ok ? 0 : -1;
}

static int I2A_SUF(i2a_direct_forward)(const I2A_T *x, const I2A_T *w, const I2A_T *b,
                                       I2A_T *out, i2a_ix N, i2a_ix C, i2a_ix H, i2a_ix W,
                                       i2a_ix F, i2a_ix HH, i2a_ix WW, i2a_ix pad_h,
                                       i2a_ix pad_w, i2a_ix s, int level)
{
    return I2A_SUF(i2a_direct_forward_shared)(x, w, b, out, N, C, H, W, F, HH, WW, pad_h,
                                              pad_w, s, level, NULL, N);
}

/* The weight gradient of that convolution for upstream gradient dout (N, F, Ho, Wo). Without
 * a ticket dw (F, C, HH, WW) += the sum over the N images; with one, for each chunk c of
 * `chunk` images this call claims, dw[c] (the chunk's own (F, C, HH, WW) block) = the sum over
 * its images. Returns 0, or -1 (no memory). */
static int I2A_SUF(i2a_direct_dw_shared)(const I2A_T *x, const I2A_T *dout, I2A_T *dw,
                                         i2a_ix N, i2a_ix C, i2a_ix H, i2a_ix W, i2a_ix F,
                                         i2a_ix HH, i2a_ix WW, i2a_ix pad_h, i2a_ix pad_w,
                                         i2a_ix s, int level, int64_t *ticket, i2a_ix chunk)
{
    const I2A_KT *kern = I2A_SUF(i2a_pick_dw)(level, C * HH * WW, F);
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
        int started = 0;
        i2a_ix ci, n0, n1;
        while (I2A_SUF(i2a_next_chunk)(ticket, chunk, N, &started, &ci, &n0, &n1)) {
            memset(dwp, 0, (size_t)(Fp * Kp) * sizeof(I2A_T));
            for (i2a_ix n = n0; n < n1; n++) {
                I2A_SUF(i2a_pad_image)(x + n * C * H * W, xp, C, H, W, Hq, Wq, s, pad_h,
                                       pad_w);
                const I2A_T *d = dout + n * F * Ho * Wo;
                for (i2a_ix f = 0; f < F; f++)
                    for (i2a_ix h = 0; h < Ho; h++)
                        memcpy(doutw + f * Qp + h * Wq, d + (f * Ho + h) * Wo,
                               (size_t)Wo * sizeof(I2A_T));
                kern->dw(xp, doutw, off, Kp, Fp, Qp, dwp);
            }
            if (ticket) {
                I2A_T *part = dw + ci * F * K;
                for (i2a_ix f = 0; f < F; f++)
                    for (i2a_ix k = 0; k < K; k++)
                        part[f * K + k] = dwp[f * Kp + k];
                i2a_finished(ticket);
            } else {
                for (i2a_ix f = 0; f < F; f++)
                    for (i2a_ix k = 0; k < K; k++)
                        dw[f * K + k] += dwp[f * Kp + k];
            }
        }
    }
    i2a_free64(xp); i2a_free64(doutw); i2a_free64(dwp); i2a_free64(off);
    return ok ? 0 : -1;
}

static int I2A_SUF(i2a_direct_dw)(const I2A_T *x, const I2A_T *dout, I2A_T *dw, i2a_ix N,
                                  i2a_ix C, i2a_ix H, i2a_ix W, i2a_ix F, i2a_ix HH,
                                  i2a_ix WW, i2a_ix pad_h, i2a_ix pad_w, i2a_ix s, int level)
{
    return I2A_SUF(i2a_direct_dw_shared)(x, dout, dw, N, C, H, W, F, HH, WW, pad_h, pad_w, s,
                                         level, NULL, N);
}

/* dx (N, C, H, W) = the input gradient of that convolution for dout (N, F, Ho, Wo): per image
 * the GEMM dcols = w^T dout (the forward kernel, dout's F rows as its taps and the K = C HH WW
 * rows of w^T as its filters) and col2im of dcols at stride s, zero padding pad_h / pad_w. For
 * layers whose dx the direct kernels do not do well (few input channels, strides above 1).
 * Chunks and ticket as for the forward pass. Returns 0, or -1 (no memory). */
static int I2A_SUF(i2a_gemm_dx_shared)(const I2A_T *dout, const I2A_T *w, I2A_T *dx, i2a_ix N,
                                       i2a_ix C, i2a_ix H, i2a_ix W, i2a_ix F, i2a_ix HH,
                                       i2a_ix WW, i2a_ix pad_h, i2a_ix pad_w, i2a_ix s,
                                       int level, int64_t *ticket, i2a_ix chunk)
{
    const I2A_KT *kern = I2A_SUF(i2a_pick_fwd)(level, C * HH * WW);
    i2a_ix Ho = (H + 2 * pad_h - HH) / s + 1, Wo = (W + 2 * pad_w - WW) / s + 1;
    i2a_ix K = C * HH * WW, P = Ho * Wo;
    i2a_ix Qp = i2a_round_up(P, kern->tq), Kp = i2a_round_up(K, kern->fb);
    /* dout's rows Qp apart; the kernel reads up to off[F-1] + Qp - 1 = F Qp - 1. */
    I2A_T *doutw = i2a_calloc64(Qp != P ? F * Qp : 1, sizeof(I2A_T));
    I2A_T *wt = i2a_calloc64(F * Kp, sizeof(I2A_T));
    I2A_T *dcols = i2a_calloc64(Kp * Qp, sizeof(I2A_T));
    i2a_ix *off = i2a_calloc64(F, sizeof(i2a_ix));
    int ok = doutw && wt && dcols && off;
    if (ok) {
        for (i2a_ix f = 0; f < F; f++) {
            off[f] = f * Qp;
            memcpy(wt + f * Kp, w + f * K, (size_t)K * sizeof(I2A_T));
        }
        int started = 0;
        i2a_ix ci, n0, n1;
        while (I2A_SUF(i2a_next_chunk)(ticket, chunk, N, &started, &ci, &n0, &n1)) {
            for (i2a_ix n = n0; n < n1; n++) {
                const I2A_T *dn = dout + n * F * P;
                if (Qp != P) { /* else the kernel reads dout's rows in place */
                    for (i2a_ix f = 0; f < F; f++)
                        memcpy(doutw + f * Qp, dn + f * P, (size_t)P * sizeof(I2A_T));
                    dn = doutw;
                }
                kern->fwd(dn, wt, off, F, Kp, Qp, dcols);
                I2A_T *d = dx + n * C * H * W;
                memset(d, 0, (size_t)(C * H * W) * sizeof(I2A_T));
                for (i2a_ix c = 0; c < C; c++)
                    for (i2a_ix i = 0; i < HH; i++)
                        for (i2a_ix j = 0; j < WW; j++) {
                            const I2A_T *row = dcols + ((c * HH + i) * WW + j) * Qp;
                            /* columns w with 0 <= w s + j - pad_w <= W - 1 */
                            i2a_ix xo = j - pad_w;
                            i2a_ix lo = xo >= 0 ? 0 : (-xo + s - 1) / s;
                            i2a_ix hi = W - 1 - xo < 0 ? 0 : (W - 1 - xo) / s + 1;
                            if (hi > Wo)
                                hi = Wo;
                            for (i2a_ix h = 0; h < Ho; h++) {
                                i2a_ix y = h * s + i - pad_h;
                                if (y < 0 || y >= H)
                                    continue;
                                const I2A_T *src = row + h * Wo;
                                I2A_T *drow = d + (c * H + y) * W;
                                if (s == 1)
                                    for (i2a_ix q = lo; q < hi; q++)
                                        drow[q + xo] += src[q];
                                else
                                    for (i2a_ix q = lo; q < hi; q++)
                                        drow[q * s + xo] += src[q];
                            }
                        }
            }
            if (ticket)
                i2a_finished(ticket);
        }
    }
    i2a_free64(doutw); i2a_free64(wt); i2a_free64(dcols); i2a_free64(off);
    return ok ? 0 : -1;
}

#undef I2A_SUF
#undef I2A_T
#undef I2A_KT
