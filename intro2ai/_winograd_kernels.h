/* Winograd F(2x2, 3x3) input and output transforms for one element type and one instruction
 * set. Included by _winograd.h once per (type, level) with these macros defined, and
 * undefines them at its end:
 *
 *   I2A_WT       element type (float or double)
 *   I2A_WIT      signed integer type of the same size (shuffle masks)
 *   I2A_WNAME(x) x with a type-and-level suffix
 *   I2A_WTARGET  function attribute selecting the instruction set (may be empty)
 *   I2A_WVB      bytes per vector (16 or 32)
 *   I2A_WVL      lanes per vector (I2A_WVB / sizeof(I2A_WT): 2, 4 or 8)
 *
 * The loops take a vector of tiles at a time (GCC/Clang vector extensions, as in
 * _direct_conv_kernels.h: the auto-vectoriser left these loops scalar) and read and write
 * memory contiguously: the even and odd columns of an input row are split once, by shuffles,
 * and the two columns of an output tile are interleaved by shuffles.
 */

typedef I2A_WT I2A_WNAME(wvec) __attribute__((vector_size(I2A_WVB), aligned(sizeof(I2A_WT)),
                                              may_alias));
typedef I2A_WIT I2A_WNAME(wmask) __attribute__((vector_size(I2A_WVB)));
#define I2A_WLD(p) (*(const I2A_WNAME(wvec) *)(p))
#define I2A_WST(p, v) (*(I2A_WNAME(wvec) *)(p) = (v))
#if defined(__clang__)
#define I2A_WSHUF(a, b, ...) __builtin_shufflevector(a, b, __VA_ARGS__)
#else
#define I2A_WSHUF(a, b, ...) __builtin_shuffle(a, b, (I2A_WNAME(wmask)){__VA_ARGS__})
#endif
/* Even and odd lanes of the pair (a, b); the low and high halves of a and b interleaved. */
#if I2A_WVL == 8
#define I2A_WEVEN(a, b) I2A_WSHUF(a, b, 0, 2, 4, 6, 8, 10, 12, 14)
#define I2A_WODD(a, b) I2A_WSHUF(a, b, 1, 3, 5, 7, 9, 11, 13, 15)
#define I2A_WLO(a, b) I2A_WSHUF(a, b, 0, 8, 1, 9, 2, 10, 3, 11)
#define I2A_WHI(a, b) I2A_WSHUF(a, b, 4, 12, 5, 13, 6, 14, 7, 15)
#elif I2A_WVL == 4
#define I2A_WEVEN(a, b) I2A_WSHUF(a, b, 0, 2, 4, 6)
#define I2A_WODD(a, b) I2A_WSHUF(a, b, 1, 3, 5, 7)
#define I2A_WLO(a, b) I2A_WSHUF(a, b, 0, 4, 1, 5)
#define I2A_WHI(a, b) I2A_WSHUF(a, b, 2, 6, 3, 7)
#else
#define I2A_WEVEN(a, b) I2A_WSHUF(a, b, 0, 2)
#define I2A_WODD(a, b) I2A_WSHUF(a, b, 1, 3)
#define I2A_WLO(a, b) I2A_WSHUF(a, b, 0, 2)
#define I2A_WHI(a, b) I2A_WSHUF(a, b, 1, 3)
#endif

/* V[(4a + b) * vs + c * cs + t] = (B^T d B)[a, b] for the 4x4 window d of x (C, H, W), zero
 * padded by pad >= 0, at rows 2 ty - pad ... and columns 2 tx - pad ...,
 * t = (ty - y0) * tw + tx, for the tile rows y0 <= ty < y0 + th. Returns 0, or -1 (no
 * memory). */
static I2A_WTARGET int I2A_WNAME(i2a_wino_input)(const I2A_WT *x, I2A_WT *V, i2a_ix C, i2a_ix H,
                                                 i2a_ix W, i2a_ix pad, i2a_ix y0, i2a_ix th,
                                                 i2a_ix tw, i2a_ix vs, i2a_ix cs)
{
    enum { VL = I2A_WVL };
    /* The band's nr input rows of a channel, zero padded to RW >= Wp columns (rows), then
     * split into their even and odd columns (ev, od: L used of Lp). All rows are copied
     * before any is split: a vector load right behind the copy's stores of other sizes
     * would wait for them (store forwarding fails). */
    const i2a_ix nr = 2 * th + 2, Wp = 2 * tw + 2, L = tw + 1, Lp = i2a_round_up(L, VL);
    const i2a_ix RW = 2 * Lp;
    I2A_WT *ev = i2a_calloc64(2 * nr * Lp + nr * RW, sizeof(I2A_WT));
    if (!ev)
        return -1;
    I2A_WT *od = ev + nr * Lp;
    I2A_WT *rows = od + nr * Lp; /* columns outside [lo, hi), rows outside x: stay zero */
    const i2a_ix lo = pad < Wp ? pad : Wp, hi = W + pad < Wp ? W + pad : Wp;
    for (i2a_ix c = 0; c < C; c++) {
        for (i2a_ix r = 0; r < nr; r++) {
            const i2a_ix y = 2 * y0 - pad + r;
            if (y < 0 || y >= H || hi <= lo)
                continue;
            /* a copy loop, not memcpy: rows are short, and the calls cost more */
            const I2A_WT *src = x + (c * H + y) * W + (lo - pad);
            I2A_WT *dst = rows + r * RW + lo;
            i2a_ix u = 0;
            for (; u + VL <= hi - lo; u += VL)
                I2A_WST(dst + u, I2A_WLD(src + u));
            for (; u < hi - lo; u++)
                dst[u] = src[u];
        }
        for (i2a_ix r = 0; r < nr; r++) {
            const I2A_WT *row = rows + r * RW;
            I2A_WT *e = ev + r * Lp, *o = od + r * Lp;
            for (i2a_ix u = 0; u < Lp; u += VL) {
                const I2A_WNAME(wvec) a = I2A_WLD(row + 2 * u), b = I2A_WLD(row + 2 * u + VL);
                I2A_WST(e + u, I2A_WEVEN(a, b));
                I2A_WST(o + u, I2A_WODD(a, b));
            }
        }
        for (i2a_ix ty = 0; ty < th; ty++) {
            /* Row a of B^T d is rA + s rB: at the even columns t (p) and t + 1 (pn) and the
             * odd ones (q, qn). Then B along the columns: tile t reads the even and odd
             * columns t and t + 1. */
            const I2A_WT *e = ev + 2 * ty * Lp, *o = od + 2 * ty * Lp;
            I2A_WT *v = V + c * cs + ty * tw;
#define I2A_WINPUT_ROW(T, LD, ST, a, A, OP, B)                                                   \
    do {                                                                                         \
        const T p = LD(e + A * Lp + t) OP LD(e + B * Lp + t);                                    \
        const T pn = LD(e + A * Lp + t + 1) OP LD(e + B * Lp + t + 1);                           \
        const T q = LD(o + A * Lp + t) OP LD(o + B * Lp + t);                                    \
        const T qn = LD(o + A * Lp + t + 1) OP LD(o + B * Lp + t + 1);                           \
        ST(v + (4 * a) * vs + t, p - pn);                                                        \
        ST(v + (4 * a + 1) * vs + t, q + pn);                                                    \
        ST(v + (4 * a + 2) * vs + t, pn - q);                                                    \
        ST(v + (4 * a + 3) * vs + t, q - qn);                                                    \
    } while (0)
#define I2A_WINPUT_ROWS(T, LD, ST, a, A, OP, B)                                                  \
    do {                                                                                         \
        i2a_ix t = 0;                                                                            \
        for (; t + VL <= tw; t += VL)                                                            \
            I2A_WINPUT_ROW(I2A_WNAME(wvec), I2A_WLD, I2A_WST, a, A, OP, B);                      \
        for (; t < tw; t++)                                                                      \
            I2A_WINPUT_ROW(I2A_WT, I2A_WSLD, I2A_WSST, a, A, OP, B);                             \
    } while (0)
#define I2A_WSLD(p) (*(p))
#define I2A_WSST(p, val) (*(p) = (val))
            I2A_WINPUT_ROWS(T, LD, ST, 0, 0, -, 2);
            I2A_WINPUT_ROWS(T, LD, ST, 1, 1, +, 2);
            I2A_WINPUT_ROWS(T, LD, ST, 2, 2, -, 1);
            I2A_WINPUT_ROWS(T, LD, ST, 3, 1, -, 3);
#undef I2A_WINPUT_ROWS
#undef I2A_WINPUT_ROW
        }
    }
    i2a_free64(ev);
    return 0;
}

/* out[f, 2 ty + i, 2 tx + j] = (A^T m A)[i, j] + b[f] for m[a, b] = M[(4a + b) * ms + f * fs +
 * t], t = (ty - y0) * tw + tx, tile rows y0 <= ty < y0 + th of out (F, Ho, Wo); rows and
 * columns past out's edge are dropped (Wo <= 2 tw, 2 ty < Ho). Returns 0, or -1 (no
 * memory). */
static I2A_WTARGET int I2A_WNAME(i2a_wino_output)(const I2A_WT *M, const I2A_WT *b, I2A_WT *out,
                                                  i2a_ix F, i2a_ix Ho, i2a_ix Wo, i2a_ix y0,
                                                  i2a_ix th, i2a_ix tw, i2a_ix ms, i2a_ix fs)
{
    enum { VL = I2A_WVL };
    I2A_WT *scratch = i2a_calloc64(4 * tw, sizeof(I2A_WT));
    if (!scratch)
        return -1;
    for (i2a_ix f = 0; f < F; f++) {
        const I2A_WT bias = b[f];
        for (i2a_ix ty = y0; ty < y0 + th; ty++) {
            const i2a_ix y = 2 * ty;
            /* Rows of out are written in place when whole, else through the scratch. */
            const int whole0 = Wo == 2 * tw, whole1 = whole0 && y + 1 < Ho;
            I2A_WT *r0 = whole0 ? out + (f * Ho + y) * Wo : scratch;
            I2A_WT *r1 = whole1 ? out + (f * Ho + y + 1) * Wo : scratch + 2 * tw;
            const I2A_WT *m = M + f * fs + (ty - y0) * tw;
            i2a_ix t = 0;
            /* A^T along each row a of m (s_a: result column 0, d_a: column 1), then along
             * the columns, plus the bias. */
#define I2A_WOUTPUT_TILES(T, LD)                                                                 \
    const T s0 = LD(m + t) + LD(m + ms + t) + LD(m + 2 * ms + t);                                \
    const T d0 = LD(m + ms + t) - LD(m + 2 * ms + t) - LD(m + 3 * ms + t);                       \
    const T s1 = LD(m + 4 * ms + t) + LD(m + 5 * ms + t) + LD(m + 6 * ms + t);                   \
    const T d1 = LD(m + 5 * ms + t) - LD(m + 6 * ms + t) - LD(m + 7 * ms + t);                   \
    const T s2 = LD(m + 8 * ms + t) + LD(m + 9 * ms + t) + LD(m + 10 * ms + t);                  \
    const T d2 = LD(m + 9 * ms + t) - LD(m + 10 * ms + t) - LD(m + 11 * ms + t);                 \
    const T s3 = LD(m + 12 * ms + t) + LD(m + 13 * ms + t) + LD(m + 14 * ms + t);                \
    const T d3 = LD(m + 13 * ms + t) - LD(m + 14 * ms + t) - LD(m + 15 * ms + t);                \
    const T a0 = s0 + s1 + s2 + bias, a1 = d0 + d1 + d2 + bias;                                  \
    const T c0 = s1 - s2 - s3 + bias, c1 = d1 - d2 - d3 + bias
            for (; t + VL <= tw; t += VL) {
                I2A_WOUTPUT_TILES(I2A_WNAME(wvec), I2A_WLD);
                I2A_WST(r0 + 2 * t, I2A_WLO(a0, a1));
                I2A_WST(r0 + 2 * t + VL, I2A_WHI(a0, a1));
                I2A_WST(r1 + 2 * t, I2A_WLO(c0, c1));
                I2A_WST(r1 + 2 * t + VL, I2A_WHI(c0, c1));
            }
            for (; t < tw; t++) {
                I2A_WOUTPUT_TILES(I2A_WT, I2A_WSLD);
                r0[2 * t] = a0;
                r0[2 * t + 1] = a1;
                r1[2 * t] = c0;
                r1[2 * t + 1] = c1;
            }
#undef I2A_WOUTPUT_TILES
            if (!whole0)
                memcpy(out + (f * Ho + y) * Wo, r0, (size_t)Wo * sizeof(I2A_WT));
            if (!whole1 && y + 1 < Ho)
                memcpy(out + (f * Ho + y + 1) * Wo, r1, (size_t)Wo * sizeof(I2A_WT));
        }
    }
    i2a_free64(scratch);
    return 0;
}

#undef I2A_WSLD
#undef I2A_WSST
#undef I2A_WLD
#undef I2A_WST
#undef I2A_WSHUF
#undef I2A_WEVEN
#undef I2A_WODD
#undef I2A_WLO
#undef I2A_WHI
#undef I2A_WT
#undef I2A_WIT
#undef I2A_WNAME
#undef I2A_WTARGET
#undef I2A_WVB
#undef I2A_WVL
