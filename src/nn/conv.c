/* conv.c - F.conv2d, F.conv_transpose2d and F.linear on the CPU (OpenBLAS sgemm).
 *
 * conv2d: per (batch, group) y[cout_g, oh*ow] = W[cout_g, K] * col[K, oh*ow]
 * with K = cin_g*kh*kw. 1x1/stride-1/pad-0 convs use x directly as col.
 * Other convs are split into work items of output columns; each OpenMP
 * thread builds the item's im2col tile (<= 1 MiB, its own workspace slice)
 * and runs a single-threaded sgemm into y with ldc = oh*ow.
 * Stride-1 convs with >= 32 input channels per group use implicit GEMM
 * instead: one K = cin_g GEMM per kernel tap over a zero-padded copy of a
 * block of input rows, accumulating on a padded-width output grid (no
 * im2col, 1/9 of its copying for 3x3). Measured with `astroenh bench`
 * (both strategies side by side; 3x3 convs of 32..256 channels at 32..256 px;
 * 1 and 2 threads, OMP_WAIT_POLICY=passive; this 2-core machine at load
 * ~14): implicit was faster in 15 of 18 pairs, by 11% on average (256 ch @
 * 64 px: 212 vs 267 ms; 32 ch @ 256 px: 54 vs 65 ms); im2col won only
 * 128 ch @ 128 px (by 1-17%). Strided and thin-channel convs keep im2col.
 * Where the CPU has AVX-512, the implicit path's per-tap sgemms are replaced
 * by a direct kernel (direct_block) on the same padded rows: 8 output
 * channels x 48 grid columns stay in 24 zmm accumulators over all cin x taps,
 * each tap read in place at its offset (no packing of the input). OpenBLAS
 * 0.3.21 re-packs both operands on every one of those thin calls; the direct
 * kernel ran 128ch@128px in 27.5 ms CPU against 32.3 (175 vs 150 GFLOP/s, 1
 * thread) and has no thin-K problem, so AUTO uses it for every stride-1 conv.
 * CPUs with AVX2+FMA but no AVX-512 get an 8-wide form (direct_block2, 4
 * output channels x 24 columns) for convs with cin x taps <= 576: `astroenh
 * bench --threads 1` CPU ms on 2 vCPUs of an AMD EPYC (Zen, AVX2), against
 * per-tap sgemm in the same session: EDSR-like fast_x2 218 vs 240, fast_x4
 * 397-401 vs 434, RDN x2/x4, U-Net and SR3-like steps within +-2%. Without
 * the limit the U-Net and SR3 steps were 20-25% slower (128..512 channels).
 *
 * conv_transpose2d: col[cout_g*kh*kw, hw] = W^T[.., cin_g] * x[cin_g, hw] per
 * chunk of input columns (GEMM split by rows of col over the threads), then
 * col2im scatter-adds into y (pre-filled with the bias), split by output
 * channel so no two threads write the same element.
 * Every sgemm here runs single-threaded inside an OpenMP thread (backend.h).
 */
#include <cblas.h>
#include <omp.h>
#include <string.h>
#include "astroenh/backend.h"
#include "cpu_ops.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HAVE_DIRECT_AVX512 1
#endif

#ifndef TILE_FLOATS
#define TILE_FLOATS (1u << 18) /* col tile per thread: 1 MiB, about L2 */
#endif
#define MIN_TILE_COLS 64
#define IMPLICIT_MIN_CIN 32 /* below, the per-tap GEMMs (K = cin) are too thin */
#define CONVT_WS_FLOATS (1u << 21) /* convT col chunk: 8 MiB */

#define DC_MR 8  /* direct kernel: output channels per register block */
#ifndef DC_NV
#define DC_NV 3 /* zmm registers of padded-grid columns per register block */
#endif
#define DC_NR (16 * DC_NV)
#define DC2_MAX_K 576 /* AVX2 kernel: cin x taps at most this (64 channels x 3x3) */

static int g_strategy = AE_CONV_AUTO;
void ae_conv2d_cpu_set_strategy(int s) { g_strategy = s; }
int ae_conv2d_cpu_strategy(void) { return g_strategy; }

static int have_avx512(void) {
#ifdef HAVE_DIRECT_AVX512
    return __builtin_cpu_supports("avx512f");
#else
    return 0;
#endif
}

int ae_conv2d_cpu_direct_available(void) {
#ifdef HAVE_DIRECT_AVX512
    return have_avx512() || (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"));
#else
    return 0;
#endif
}

static ae_status conv_desc_check(const char *op, int cin, int cout, int kh, int kw, int sh, int sw,
                                 int ph, int pw, int dh, int dw, int groups) {
    if (cin < 1 || cout < 1 || kh < 1 || kw < 1 || sh < 1 || sw < 1 || ph < 0 || pw < 0 || dh < 1 ||
        dw < 1 || groups < 1 || cin % groups || cout % groups)
        return ae_error_set(AE_ERR_ARG,
                            "%s: invalid parameters cin=%d cout=%d k=%dx%d stride=%dx%d pad=%dx%d "
                            "dil=%dx%d groups=%d",
                            op, cin, cout, kh, kw, sh, sw, ph, pw, dh, dw, groups);
    return AE_OK;
}

ae_status ae_conv2d_out_hw(const ae_conv2d_desc *d, int h, int w, int *oh, int *ow) {
    ae_status st = conv_desc_check("conv2d", d->cin, d->cout, d->kh, d->kw, d->stride_h,
                                   d->stride_w, d->pad_h, d->pad_w, d->dil_h, d->dil_w, d->groups);
    if (st) return st;
    long nh = (long)h + 2L * d->pad_h - (long)d->dil_h * (d->kh - 1) - 1;
    long nw = (long)w + 2L * d->pad_w - (long)d->dil_w * (d->kw - 1) - 1;
    if (h < 1 || w < 1 || nh < 0 || nw < 0)
        return ae_error_set(AE_ERR_SHAPE, "conv2d: input %dx%d is smaller than the %dx%d kernel "
                            "(dilation %d, padding %d)", h, w, d->kh, d->kw, d->dil_h, d->pad_h);
    *oh = (int)(nh / d->stride_h + 1);
    *ow = (int)(nw / d->stride_w + 1);
    return AE_OK;
}

ae_status ae_convT2d_out_hw(const ae_convT2d_desc *d, int h, int w, int *oh, int *ow) {
    ae_status st = conv_desc_check("conv_transpose2d", d->cin, d->cout, d->kh, d->kw, d->stride_h,
                                   d->stride_w, d->pad_h, d->pad_w, d->dil_h, d->dil_w, d->groups);
    if (st) return st;
    if (d->out_pad_h < 0 || d->out_pad_w < 0 ||
        (d->out_pad_h >= d->stride_h && d->out_pad_h >= d->dil_h) ||
        (d->out_pad_w >= d->stride_w && d->out_pad_w >= d->dil_w))
        return ae_error_set(AE_ERR_ARG, "conv_transpose2d: output_padding %dx%d must be smaller "
                            "than stride or dilation", d->out_pad_h, d->out_pad_w);
    long nh = ((long)h - 1) * d->stride_h - 2L * d->pad_h + (long)d->dil_h * (d->kh - 1) + d->out_pad_h + 1;
    long nw = ((long)w - 1) * d->stride_w - 2L * d->pad_w + (long)d->dil_w * (d->kw - 1) + d->out_pad_w + 1;
    if (h < 1 || w < 1 || nh < 1 || nw < 1 || nh > 1L << 30 || nw > 1L << 30)
        return ae_error_set(AE_ERR_SHAPE, "conv_transpose2d: input %dx%d gives an invalid output "
                            "%ldx%ld", h, w, nh, nw);
    *oh = (int)nh;
    *ow = (int)nw;
    return AE_OK;
}

/* ---- conv2d ------------------------------------------------------------ */

static int is_pointwise(const ae_conv2d_desc *d) {
    return d->kh == 1 && d->kw == 1 && d->stride_h == 1 && d->stride_w == 1 && d->pad_h == 0 &&
           d->pad_w == 0;
}

/* The direct AVX-512 kernel replaces the per-tap sgemms of implicit GEMM; it
 * has no thin-K problem, so AUTO takes it for every stride-1 conv. */
static int use_direct(const ae_conv2d_desc *d) {
    if (g_strategy == AE_CONV_IMPLICIT_SGEMM || !ae_conv2d_cpu_direct_available()) return 0;
    return have_avx512() || (d->cin / d->groups) * d->kh * d->kw <= DC2_MAX_K;
}

static int use_implicit(const ae_conv2d_desc *d) {
    if (d->stride_h != 1 || d->stride_w != 1 || is_pointwise(d) || g_strategy == AE_CONV_IM2COL) return 0;
    if (g_strategy == AE_CONV_IMPLICIT || g_strategy == AE_CONV_IMPLICIT_SGEMM) return 1;
    return use_direct(d) || d->cin / d->groups >= IMPLICIT_MIN_CIN;
}

static size_t round_up(size_t v, size_t m) { return (v + m - 1) / m * m; }

/* Output columns per work item: at most TILE_FLOATS of col per thread, and
 * AE_SPLIT_ITEMS items so a core lost to another process evens out. */
static size_t tile_cols(size_t K, size_t N) {
    size_t nc = TILE_FLOATS / (K ? K : 1), per = (N + AE_SPLIT_ITEMS - 1) / AE_SPLIT_ITEMS;
    if (nc > per) nc = per;
    if (nc < MIN_TILE_COLS) nc = MIN_TILE_COLS;
    return nc < N ? nc : N;
}

/* Implicit GEMM: per work item `rc` output rows; per thread a padded copy of
 * the input rows and a padded-width output block; shared repacked weights. */
static void implicit_plan(const ae_conv2d_desc *d, int W, int oh, size_t *rc,
                          size_t *per_thread, size_t *shared) {
    size_t cin_g = (size_t)(d->cin / d->groups), cout_g = (size_t)(d->cout / d->groups);
    size_t Wp = (size_t)W + 2 * (size_t)d->pad_w, ext = (size_t)d->dil_h * (d->kh - 1);
    size_t r = TILE_FLOATS / ((cin_g + cout_g) * Wp), per = ((size_t)oh + AE_SPLIT_ITEMS - 1) / AE_SPLIT_ITEMS;
    if (r > per) r = per;
    if (r < 1) r = 1;
    *rc = r;
    size_t rows_out = use_direct(d) ? round_up(cout_g, DC_MR) : cout_g;
    *per_thread = cin_g * ((r + ext) * Wp + (size_t)d->dil_w * (d->kw - 1)) + rows_out * r * Wp;
    *shared = (size_t)d->kh * d->kw * rows_out * cin_g;
}

static size_t conv_ws_floats(const ae_conv2d_desc *d, const ae_tensor *x, int oh, int ow, int nt) {
    if (is_pointwise(d)) return 0;
    if (use_implicit(d)) {
        size_t rc, per, shared;
        implicit_plan(d, x->w, oh, &rc, &per, &shared);
        return shared + (size_t)nt * per;
    }
    size_t K = (size_t)(d->cin / d->groups) * d->kh * d->kw, N = (size_t)oh * ow;
    return (size_t)nt * K * tile_cols(K, N);
}

size_t ae_conv2d_ws_cpu(const ae_backend *be, const ae_conv2d_desc *d, const ae_tensor *x) {
    (void)be;
    int oh = 0, ow = 0;
    if (ae_conv2d_out_hw(d, x->h, x->w, &oh, &ow) != AE_OK) return 0;
    return conv_ws_floats(d, x, oh, ow, omp_get_max_threads()) * sizeof(float);
}

/* col[r, j - j0] for r = (c, ky, kx), output column j in [j0, j0 + nc). */
static void im2col_tile(const float *x, int C, int H, int W, const ae_conv2d_desc *d, int ow,
                        size_t j0, size_t nc, float *col) {
    int khw = d->kh * d->kw, K = C * khw, s = d->stride_w;
    for (int r = 0; r < K; r++) {
        int c = r / khw, t = r % khw, ky = t / d->kw, kx = t % d->kw;
        const float *xc = x + (size_t)c * H * W;
        float *dst = col + (size_t)r * nc;
        size_t j = j0, end = j0 + nc;
        while (j < end) {
            int oy = (int)(j / ow), ox = (int)(j % ow), run = ow - ox;
            if ((size_t)run > end - j) run = (int)(end - j);
            int iy = oy * d->stride_h - d->pad_h + ky * d->dil_h, ix0 = ox * s - d->pad_w + kx * d->dil_w;
            int lo = 0, hi = 0;
            if (iy >= 0 && iy < H) {
                lo = ix0 < 0 ? (-ix0 + s - 1) / s : 0;
                hi = ix0 < W ? (W - ix0 + s - 1) / s : 0;
                if (hi > run) hi = run;
                if (lo > hi) lo = hi;
            }
            const float *src = xc + (size_t)(iy < 0 ? 0 : iy) * W;
            for (int i = 0; i < lo; i++) dst[i] = 0.0f;
            if (s == 1 && hi > lo)
                memcpy(dst + lo, src + ix0 + lo, (size_t)(hi - lo) * sizeof(float));
            else
                for (int i = lo; i < hi; i++) dst[i] = src[ix0 + i * s];
            for (int i = hi; i < run; i++) dst[i] = 0.0f;
            dst += run;
            j += (size_t)run;
        }
    }
}

static void bias_cols(float *y, const float *b, int rows, size_t ld, size_t n) {
    for (int r = 0; r < rows; r++) {
        float v = b ? b[r] : 0.0f, *p = y + (size_t)r * ld;
        for (size_t i = 0; i < n; i++) p[i] = v;
    }
}

/* Work items (batch, group, column tile); each thread builds its own col tile
 * and runs a single-threaded sgemm on it, so one OpenMP pool does all. */
static void conv_im2col(const ae_conv2d_desc *d, const ae_tensor *x, const float *w, const float *b,
                        ae_tensor *y, float *ws, int nt) {
    int G = d->groups, cin_g = d->cin / G, cout_g = d->cout / G, pw = is_pointwise(d);
    size_t HW = (size_t)x->h * x->w, N = (size_t)y->h * y->w, K = (size_t)cin_g * d->kh * d->kw;
    size_t nc = tile_cols(K, N), tiles = (N + nc - 1) / nc;
    long items = (long)x->n * G * (long)tiles;
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1) if (items > 1)
    for (long it = 0; it < items; it++) {
        int n = (int)(it / ((long)G * (long)tiles)), g = (int)(it / (long)tiles % G);
        size_t j0 = (size_t)(it % (long)tiles) * nc, m = N - j0 < nc ? N - j0 : nc;
        const float *xg = x->data + ((size_t)n * d->cin + (size_t)g * cin_g) * HW;
        float *yg = y->data + ((size_t)n * d->cout + (size_t)g * cout_g) * N + j0;
        const float *bg = b ? b + (size_t)g * cout_g : NULL, *bm = xg + j0;
        int ldb = (int)N;
        if (bg) bias_cols(yg, bg, cout_g, N, m);
        if (!pw) {
            float *col = ws + (size_t)omp_get_thread_num() * K * nc;
            im2col_tile(xg, cin_g, x->h, x->w, d, y->w, j0, m, col);
            bm = col;
            ldb = (int)m;
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, cout_g, (int)m, (int)K, 1.0f,
                    w + (size_t)g * cout_g * K, (int)K, bm, ldb, bg ? 1.0f : 0.0f, yg, (int)N);
    }
}

#ifdef HAVE_DIRECT_AVX512
/* DC_MR output channels x up to DC_NR columns n0.. of the padded grid:
 * out[m][n] = sum over (ci, tap) of wp[(ci*taps + tap)*DC_MR + m] * xp[ci*xplane + toff[tap] + n].
 * Columns past nn are neither read nor written (masks). DC_MR x DC_NV
 * accumulators (24 of the 32 zmm registers) hide the FMA latency. */
__attribute__((target("avx512f"))) static void direct_block(const float *wp, int cin, int taps,
                                                            const size_t *toff, const float *xp,
                                                            size_t xplane, size_t n0, int nn,
                                                            float *out, size_t ldo) {
    __mmask16 mk[DC_NV];
    for (int v = 0; v < DC_NV; v++) {
        int left = nn - 16 * v;
        mk[v] = left >= 16 ? 0xffff : left > 0 ? (__mmask16)((1u << left) - 1) : 0;
    }
    __m512 acc[DC_MR][DC_NV];
#pragma GCC unroll 8
    for (int r = 0; r < DC_MR; r++)
#pragma GCC unroll 4
        for (int v = 0; v < DC_NV; v++) acc[r][v] = _mm512_setzero_ps();
    for (int ci = 0; ci < cin; ci++) {
        const float *xc = xp + (size_t)ci * xplane + n0;
        for (int t = 0; t < taps; t++, wp += DC_MR) {
            __m512 bv[DC_NV];
#pragma GCC unroll 4
            for (int v = 0; v < DC_NV; v++) bv[v] = _mm512_maskz_loadu_ps(mk[v], xc + toff[t] + 16 * v);
#pragma GCC unroll 8
            for (int r = 0; r < DC_MR; r++) {
                __m512 w = _mm512_set1_ps(wp[r]);
#pragma GCC unroll 4
                for (int v = 0; v < DC_NV; v++) acc[r][v] = _mm512_fmadd_ps(w, bv[v], acc[r][v]);
            }
        }
    }
#pragma GCC unroll 8
    for (int r = 0; r < DC_MR; r++)
#pragma GCC unroll 4
        for (int v = 0; v < DC_NV; v++) _mm512_mask_storeu_ps(out + r * ldo + n0 + 16 * v, mk[v], acc[r][v]);
}

/* The AVX2+FMA form for CPUs without AVX-512: DC2_MR of the DC_MR packed
 * output channels (wp offset to the first, stride DC_MR per (ci, tap)) x
 * DC2_NV ymm registers of columns; 12 of the 16 ymm registers accumulate. */
#define DC2_MR 4
#define DC2_NV 3
#define DC2_NR (8 * DC2_NV)
__attribute__((target("avx2,fma"))) static void direct_block2(const float *wp, int cin, int taps,
                                                              const size_t *toff, const float *xp,
                                                              size_t xplane, size_t n0, int nn,
                                                              float *out, size_t ldo) {
    __m256i mk[DC2_NV];
    for (int v = 0; v < DC2_NV; v++)
        mk[v] = _mm256_cmpgt_epi32(_mm256_set1_epi32(nn - 8 * v), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    int full = nn == DC2_NR;
    __m256 acc[DC2_MR][DC2_NV];
#pragma GCC unroll 4
    for (int r = 0; r < DC2_MR; r++)
#pragma GCC unroll 4
        for (int v = 0; v < DC2_NV; v++) acc[r][v] = _mm256_setzero_ps();
    for (int ci = 0; ci < cin; ci++) {
        const float *xc = xp + (size_t)ci * xplane + n0;
        for (int t = 0; t < taps; t++, wp += DC_MR) {
            __m256 bv[DC2_NV];
#pragma GCC unroll 4
            for (int v = 0; v < DC2_NV; v++)
                bv[v] = full ? _mm256_loadu_ps(xc + toff[t] + 8 * v) : _mm256_maskload_ps(xc + toff[t] + 8 * v, mk[v]);
#pragma GCC unroll 4
            for (int r = 0; r < DC2_MR; r++) {
                __m256 w = _mm256_broadcast_ss(wp + r);
#pragma GCC unroll 4
                for (int v = 0; v < DC2_NV; v++) acc[r][v] = _mm256_fmadd_ps(w, bv[v], acc[r][v]);
            }
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < DC2_MR; r++)
#pragma GCC unroll 4
        for (int v = 0; v < DC2_NV; v++) {
            if (full) _mm256_storeu_ps(out + r * ldo + n0 + 8 * v, acc[r][v]);
            else _mm256_maskstore_ps(out + r * ldo + n0 + 8 * v, mk[v], acc[r][v]);
        }
}
#endif

/* All taps of one work item with the direct kernel: per block of DC_MR output
 * channels (its weights stay in L1) sweep the padded-grid columns. */
static void direct_item(const ae_conv2d_desc *d, const float *wpk, const float *xp, size_t xplane,
                        size_t Wp, int ncol, float *tb) {
#ifdef HAVE_DIRECT_AVX512
    int cin_g = d->cin / d->groups, taps = d->kh * d->kw;
    int blocks = (d->cout / d->groups + DC_MR - 1) / DC_MR;
    size_t toff[64], K = (size_t)cin_g * taps;
    for (int t = 0; t < taps; t++) toff[t] = (size_t)(t / d->kw) * d->dil_h * Wp + (size_t)(t % d->kw) * d->dil_w;
    if (!have_avx512()) {
        int halves = (d->cout / d->groups + DC2_MR - 1) / DC2_MR;
        for (int b = 0; b < halves; b++)
            for (int n0 = 0; n0 < ncol; n0 += DC2_NR)
                direct_block2(wpk + (size_t)(b / 2) * K * DC_MR + (size_t)(b % 2) * DC2_MR, cin_g, taps, toff, xp,
                              xplane, (size_t)n0, ncol - n0 < DC2_NR ? ncol - n0 : DC2_NR,
                              tb + (size_t)b * DC2_MR * ncol, (size_t)ncol);
        return;
    }
    for (int b = 0; b < blocks; b++)
        for (int n0 = 0; n0 < ncol; n0 += DC_NR)
            direct_block(wpk + (size_t)b * K * DC_MR, cin_g, taps, toff, xp, xplane, (size_t)n0,
                         ncol - n0 < DC_NR ? ncol - n0 : DC_NR, tb + (size_t)b * DC_MR * ncol, (size_t)ncol);
#else
    (void)d, (void)wpk, (void)xp, (void)xplane, (void)Wp, (void)ncol, (void)tb;
#endif
}

/* Stride-1 conv as a sum over taps of [cout_g x cin_g] x [cin_g x rows*Wp] GEMMs
 * on a zero-padded copy of a block of input rows; columns >= ow are dropped. */
static void implicit_item(const ae_conv2d_desc *d, const float *xg, int H, int W, const float *wt,
                          const float *bg, float *yg, int oh, int ow, int r0, int rn, float *tws) {
    int cin_g = d->cin / d->groups, cout_g = d->cout / d->groups, taps = d->kh * d->kw;
    size_t Wp = (size_t)W + 2 * (size_t)d->pad_w, ext = (size_t)d->dil_h * (d->kh - 1);
    size_t xplane = ((size_t)rn + ext) * Wp + (size_t)d->dil_w * (d->kw - 1);
    float *xp = tws, *tb = xp + (size_t)cin_g * xplane;
    for (int c = 0; c < cin_g; c++) {
        float *pc = xp + (size_t)c * xplane;
        memset(pc, 0, xplane * sizeof(float));
        for (size_t r = 0; r < (size_t)rn + ext; r++) {
            int iy = r0 + (int)r - d->pad_h;
            if (iy >= 0 && iy < H)
                memcpy(pc + r * Wp + d->pad_w, xg + ((size_t)c * H + iy) * W, (size_t)W * sizeof(float));
        }
    }
    int ncol = (int)((size_t)rn * Wp);
    if (use_direct(d) && taps <= 64) {
        direct_item(d, wt, xp, xplane, Wp, ncol, tb);
        taps = 0;
    }
    for (int t = 0; t < taps; t++) {
        size_t off = (size_t)(t / d->kw) * d->dil_h * Wp + (size_t)(t % d->kw) * d->dil_w;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, cout_g, ncol, cin_g, 1.0f,
                    wt + (size_t)t * cout_g * cin_g, cin_g, xp + off, (int)xplane, t ? 1.0f : 0.0f, tb, ncol);
    }
    for (int co = 0; co < cout_g; co++)
        for (int r = 0; r < rn; r++) {
            float *dst = yg + ((size_t)co * oh + r0 + r) * ow, v = bg ? bg[co] : 0.0f;
            const float *src = tb + (size_t)co * ncol + (size_t)r * Wp;
            for (int i = 0; i < ow; i++) dst[i] = src[i] + v;
        }
}

static void conv_implicit(const ae_conv2d_desc *d, const ae_tensor *x, const float *w, const float *b,
                          ae_tensor *y, float *ws, int nt) {
    int G = d->groups, cin_g = d->cin / G, cout_g = d->cout / G, taps = d->kh * d->kw;
    size_t rc, per, shared, HW = (size_t)x->h * x->w, N = (size_t)y->h * y->w;
    implicit_plan(d, x->w, y->h, &rc, &per, &shared);
    long blocks = (y->h + (long)rc - 1) / (long)rc, items = (long)x->n * blocks;
    int direct = use_direct(d) && taps <= 64;
    for (int g = 0; g < G; g++) {
        const float *wg = w + (size_t)g * cout_g * cin_g * taps;
#pragma omp parallel num_threads(nt)
        {
            if (direct) {
                size_t K = (size_t)cin_g * taps;
#pragma omp for schedule(static)
                for (int co = 0; co < (int)round_up(cout_g, DC_MR); co++) /* -> [co/8][K][co%8] */
                    for (size_t k = 0; k < K; k++)
                        ws[((size_t)(co / DC_MR) * K + k) * DC_MR + co % DC_MR] =
                            co < cout_g ? wg[(size_t)co * K + k] : 0.0f;
            } else {
#pragma omp for schedule(static)
                for (int t = 0; t < taps; t++) /* [cout_g][cin_g][tap] -> [tap][cout_g][cin_g] */
                    for (int co = 0; co < cout_g; co++)
                        for (int ci = 0; ci < cin_g; ci++)
                            ws[((size_t)t * cout_g + co) * cin_g + ci] = wg[((size_t)co * cin_g + ci) * taps + t];
            }
#pragma omp for schedule(dynamic, 1)
            for (long it = 0; it < items; it++) {
                int n = (int)(it / blocks), r0 = (int)(it % blocks) * (int)rc;
                int rn = y->h - r0 < (int)rc ? y->h - r0 : (int)rc;
                implicit_item(d, x->data + ((size_t)n * d->cin + (size_t)g * cin_g) * HW, x->h, x->w,
                              ws, b ? b + (size_t)g * cout_g : NULL,
                              y->data + ((size_t)n * d->cout + (size_t)g * cout_g) * N, y->h, y->w, r0,
                              rn, ws + shared + (size_t)omp_get_thread_num() * per);
            }
        }
    }
}

ae_status ae_conv2d_cpu(const ae_backend *be, const ae_conv2d_desc *d, const ae_tensor *x,
                        const float *w, const float *b, ae_tensor *y, float *ws, size_t ws_bytes) {
    (void)be;
    int oh, ow, nt = omp_get_max_threads();
    ae_status st = ae_conv2d_out_hw(d, x->h, x->w, &oh, &ow);
    if (st == AE_OK) st = ae_check_layer_io("conv2d", x, y, d->cin, d->cout, oh, ow);
    if (st) return st;
    while (nt > 1 && conv_ws_floats(d, x, oh, ow, nt) * sizeof(float) > ws_bytes) nt--;
    size_t need = conv_ws_floats(d, x, oh, ow, nt) * sizeof(float);
    if (ws_bytes < need || (need && !ws))
        return ae_error_set(AE_ERR_ARG, "conv2d: workspace of %zu bytes, %zu needed", ws_bytes, need);
    ae_blas_single_thread();
    if (use_implicit(d))
        conv_implicit(d, x, w, b, y, ws, nt);
    else
        conv_im2col(d, x, w, b, y, ws, nt);
    return AE_OK;
}

/* ---- conv_transpose2d -------------------------------------------------- */

static size_t convT_cols(const ae_convT2d_desc *d, const ae_tensor *x) {
    size_t K = (size_t)(d->cout / (d->groups > 0 ? d->groups : 1)) * d->kh * d->kw;
    size_t N = (size_t)x->h * x->w, nc = CONVT_WS_FLOATS / (K ? K : 1);
    if (nc < MIN_TILE_COLS) nc = MIN_TILE_COLS;
    return nc < N ? nc : N;
}

size_t ae_conv_transpose2d_ws_cpu(const ae_backend *be, const ae_convT2d_desc *d, const ae_tensor *x) {
    (void)be;
    size_t K = (size_t)(d->cout / (d->groups > 0 ? d->groups : 1)) * d->kh * d->kw;
    return K * convT_cols(d, x) * sizeof(float);
}

/* y[co, oy, ox] += col[(co, ky, kx), j] for input position j in [j0, j0 + nc),
 * one run of an input row at a time (valid ix range computed once per run). */
static void col2im_channel(const float *col, const ae_convT2d_desc *d, int co, int W, size_t j0,
                           size_t nc, float *yc, int oh, int ow) {
    int khw = d->kh * d->kw, sw = d->stride_w;
    for (int t = 0; t < khw; t++) {
        const float *src = col + ((size_t)co * khw + t) * nc;
        int dy = (t / d->kw) * d->dil_h - d->pad_h, dx = (t % d->kw) * d->dil_w - d->pad_w;
        int lo_x = dx < 0 ? (-dx + sw - 1) / sw : 0, hi_x = ow - dx > 0 ? (ow - dx + sw - 1) / sw : 0;
        for (size_t j = 0; j < nc;) {
            int iy = (int)((j0 + j) / W), ix0 = (int)((j0 + j) % W);
            int run = W - ix0 < (int)(nc - j) ? W - ix0 : (int)(nc - j);
            int oy = iy * d->stride_h + dy;
            if (oy >= 0 && oy < oh) {
                int a = lo_x > ix0 ? lo_x : ix0, b = hi_x < ix0 + run ? hi_x : ix0 + run;
                long yb = (long)oy * ow + dx; /* ix * sw + dx >= 0 for ix >= lo_x */
                const float *sr = src + j;
                for (int ix = a; ix < b; ix++) yc[yb + (long)ix * sw] += sr[ix - ix0];
            }
            j += (size_t)run;
        }
    }
}

/* One chunk of input columns: the GEMM split by rows of col across threads,
 * then col2im split by output channel (no two threads write one element). */
static void convT_chunk(const ae_convT2d_desc *d, const float *xg, size_t HW, int W, const float *wg,
                        size_t j0, size_t m, float *ws, float *yg, int oh, int ow) {
    int cin_g = d->cin / d->groups, cout_g = d->cout / d->groups;
    int K = cout_g * d->kh * d->kw, rb = 64, nrb = (K + rb - 1) / rb;
#pragma omp parallel
    {
#pragma omp for schedule(dynamic, 1)
        for (int r = 0; r < nrb; r++) {
            int r0 = r * rb, rn = K - r0 < rb ? K - r0 : rb;
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, rn, (int)m, cin_g, 1.0f, wg + r0, K,
                        xg + j0, (int)HW, 0.0f, ws + (size_t)r0 * m, (int)m);
        }
#pragma omp for schedule(static)
        for (int co = 0; co < cout_g; co++)
            col2im_channel(ws, d, co, W, j0, m, yg + (size_t)co * oh * ow, oh, ow);
    }
}

ae_status ae_conv_transpose2d_cpu(const ae_backend *be, const ae_convT2d_desc *d, const ae_tensor *x,
                                  const float *w, const float *b, ae_tensor *y, float *ws,
                                  size_t ws_bytes) {
    int oh, ow;
    ae_status st = ae_convT2d_out_hw(d, x->h, x->w, &oh, &ow);
    if (st == AE_OK) st = ae_check_layer_io("conv_transpose2d", x, y, d->cin, d->cout, oh, ow);
    if (st) return st;
    size_t need = ae_conv_transpose2d_ws_cpu(be, d, x);
    if (ws_bytes < need || !ws)
        return ae_error_set(AE_ERR_ARG, "conv_transpose2d: workspace of %zu bytes, %zu needed",
                            ws_bytes, need);
    ae_blas_single_thread();
    int G = d->groups, cin_g = d->cin / G, cout_g = d->cout / G;
    size_t HW = (size_t)x->h * x->w, N = (size_t)oh * ow, K = (size_t)cout_g * d->kh * d->kw;
    size_t nc = convT_cols(d, x);
    for (int n = 0; n < x->n; n++) {
        float *yn = y->data + (size_t)n * d->cout * N;
#pragma omp parallel for schedule(static) if ((long)d->cout * (long)N >= AE_PAR_MIN)
        for (int co = 0; co < d->cout; co++) bias_cols(yn + (size_t)co * N, b ? b + co : NULL, 1, N, N);
        for (int g = 0; g < G; g++) {
            const float *xg = x->data + ((size_t)n * d->cin + (size_t)g * cin_g) * HW;
            for (size_t j0 = 0; j0 < HW; j0 += nc)
                convT_chunk(d, xg, HW, x->w, w + (size_t)g * cin_g * K, j0, HW - j0 < nc ? HW - j0 : nc,
                            ws, yn + (size_t)g * cout_g * N, oh, ow);
        }
    }
    return AE_OK;
}

/* ---- linear ------------------------------------------------------------ */

ae_status ae_linear_cpu(const ae_backend *be, const ae_tensor *x, const float *w, const float *b,
                        ae_tensor *y) {
    (void)be;
    size_t in = (size_t)x->c * x->h * x->w;
    char a[64], c[64];
    if (y->n != x->n || y->h != 1 || y->w != 1 || in > (size_t)1 << 30)
        return ae_error_set(AE_ERR_SHAPE, "linear: output %s does not fit input %s",
                            ae_tensor_shape_str(y, a, sizeof a), ae_tensor_shape_str(x, c, sizeof c));
    int out = y->c;
    for (int n = 0; n < x->n; n++)
        for (int o = 0; o < out; o++) y->data[(size_t)n * out + o] = b ? b[o] : 0.0f;
    ae_blas_single_thread();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, x->n, out, (int)in, 1.0f, x->data, (int)in,
                w, (int)in, 1.0f, y->data, out);
    return AE_OK;
}
