/* conv.c - F.conv2d, F.conv_transpose2d and F.linear on the CPU (OpenBLAS sgemm).
 *
 * conv2d: per (batch, group) one GEMM  y[cout_g, oh*ow] = W[cout_g, K] * col[K, oh*ow]
 * with K = cin_g*kh*kw. 1x1/stride-1/pad-0 convs use x directly as the
 * column matrix. Other convs build col in chunks of output columns (im2col,
 * bounded workspace) and call sgemm per chunk with ldc = oh*ow.
 * A second strategy, implicit GEMM (one K = cin_g GEMM per kernel tap over a
 * zero-padded input, accumulating on a padded-width output grid), exists for
 * stride-1 convs and is selectable for the benchmark.
 * Which is faster is measured by `astroenh bench` (MEASUREMENT PENDING).
 *
 * conv_transpose2d: col[cout_g*kh*kw, hw] = W^T[.., cin_g] * x[cin_g, hw] per
 * chunk of input columns, then col2im scatter-adds into y (pre-filled with
 * the bias), parallel over output channels so no two threads write the same
 * element. sgemm is never called inside an OpenMP parallel region.
 */
#include <cblas.h>
#include <string.h>
#include "astroenh/backend.h"
#include "cpu_ops.h"

#define CONV_WS_FLOATS (1u << 21) /* target workspace per chunk: 8 MiB */
#define CONV_MIN_COLS 256

static int g_strategy = 0;
void ae_conv2d_cpu_set_strategy(int s) { g_strategy = s; }
int ae_conv2d_cpu_strategy(void) { return g_strategy; }

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

static ae_status check_io(const char *op, const ae_tensor *x, const ae_tensor *y, int cin, int cout,
                          int oh, int ow) {
    char a[64], b[64];
    if (x->c != cin)
        return ae_error_set(AE_ERR_SHAPE, "%s: input %s has %d channels, the layer expects %d", op,
                            ae_tensor_shape_str(x, a, sizeof a), x->c, cin);
    if (y->n != x->n || y->c != cout || y->h != oh || y->w != ow)
        return ae_error_set(AE_ERR_SHAPE, "%s: output is %s, expected %dx%dx%dx%d for input %s", op,
                            ae_tensor_shape_str(y, a, sizeof a), x->n, cout, oh, ow,
                            ae_tensor_shape_str(x, b, sizeof b));
    return AE_OK;
}

static void fill_bias(float *y, const float *b, int rows, size_t n) {
#pragma omp parallel for schedule(static)
    for (int r = 0; r < rows; r++) {
        float v = b ? b[r] : 0.0f;
        float *p = y + (size_t)r * n;
        for (size_t i = 0; i < n; i++) p[i] = v;
    }
}

/* ---- conv2d ------------------------------------------------------------ */

static int is_pointwise(const ae_conv2d_desc *d) {
    return d->kh == 1 && d->kw == 1 && d->stride_h == 1 && d->stride_w == 1 && d->pad_h == 0 &&
           d->pad_w == 0;
}

static int use_implicit(const ae_conv2d_desc *d) {
    return g_strategy == 1 && d->stride_h == 1 && d->stride_w == 1 && !is_pointwise(d);
}

static size_t chunk_cols(size_t K, size_t N) {
    size_t nc = CONV_WS_FLOATS / K;
    if (nc < CONV_MIN_COLS) nc = CONV_MIN_COLS;
    return nc < N ? nc : N;
}

/* Implicit GEMM workspace: repacked weights [taps][cout_g][cin_g], padded input
 * rows and a padded-width output block for `rc` output rows. */
static void implicit_plan(const ae_conv2d_desc *d, int H, int W, int oh, size_t *rc, size_t *floats) {
    size_t cin_g = (size_t)(d->cin / d->groups), cout_g = (size_t)(d->cout / d->groups);
    size_t Wp = (size_t)W + 2 * (size_t)d->pad_w, ext = (size_t)d->dil_h * (d->kh - 1);
    size_t per_row = (cin_g + cout_g) * Wp;
    size_t r = CONV_WS_FLOATS / (per_row ? per_row : 1);
    if (r < 4) r = 4;
    if (r > (size_t)oh) r = (size_t)oh;
    (void)H;
    *rc = r;
    *floats = (size_t)d->kh * d->kw * cout_g * cin_g + cin_g * ((r + ext) * Wp + d->dil_w * (d->kw - 1)) +
              cout_g * r * Wp;
}

size_t ae_conv2d_ws_cpu(const ae_backend *be, const ae_conv2d_desc *d, const ae_tensor *x) {
    (void)be;
    int oh, ow;
    if (is_pointwise(d) || ae_conv2d_out_hw(d, x->h, x->w, &oh, &ow) != AE_OK) return 0;
    if (use_implicit(d)) {
        size_t rc, fl;
        implicit_plan(d, x->h, x->w, oh, &rc, &fl);
        return fl * sizeof(float);
    }
    size_t K = (size_t)(d->cin / d->groups) * d->kh * d->kw, N = (size_t)oh * ow;
    return K * chunk_cols(K, N) * sizeof(float);
}

/* col[r, j - j0] for r = (c, ky, kx), output column j in [j0, j0 + nc). */
static void im2col_chunk(const float *x, int C, int H, int W, const ae_conv2d_desc *d, int ow,
                         size_t j0, size_t nc, float *col) {
    int khw = d->kh * d->kw, K = C * khw;
#pragma omp parallel for schedule(static)
    for (int r = 0; r < K; r++) {
        int c = r / khw, t = r % khw, ky = t / d->kw, kx = t % d->kw;
        const float *xc = x + (size_t)c * H * W;
        float *dst = col + (size_t)r * nc;
        size_t j = j0, end = j0 + nc;
        while (j < end) {
            int oy = (int)(j / ow), ox = (int)(j % ow);
            int run = ow - ox;
            if ((size_t)run > end - j) run = (int)(end - j);
            int iy = oy * d->stride_h - d->pad_h + ky * d->dil_h;
            int lo = 0, hi = 0, s = d->stride_w;
            int ix0 = ox * s - d->pad_w + kx * d->dil_w;
            if (iy >= 0 && iy < H) {
                lo = ix0 < 0 ? (-ix0 + s - 1) / s : 0;
                hi = ix0 < W ? (W - ix0 + s - 1) / s : 0;
                if (hi > run) hi = run;
                if (lo > hi) lo = hi;
            }
            for (int i = 0; i < lo; i++) dst[i] = 0.0f;
            const float *src = xc + (size_t)(iy < 0 ? 0 : iy) * W;
            if (s == 1) {
                if (hi > lo) memcpy(dst + lo, src + ix0 + lo, (size_t)(hi - lo) * sizeof(float));
            } else {
                for (int i = lo; i < hi; i++) dst[i] = src[ix0 + i * s];
            }
            for (int i = hi; i < run; i++) dst[i] = 0.0f;
            dst += run;
            j += (size_t)run;
        }
    }
}

static void conv_im2col_group(const ae_conv2d_desc *d, const float *xg, int H, int W, const float *wg,
                              float *yg, int oh, int ow, float beta, float *ws) {
    int cin_g = d->cin / d->groups, cout_g = d->cout / d->groups;
    size_t K = (size_t)cin_g * d->kh * d->kw, N = (size_t)oh * ow;
    if (is_pointwise(d)) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, cout_g, (int)N, cin_g, 1.0f, wg, cin_g,
                    xg, (int)N, beta, yg, (int)N);
        return;
    }
    size_t nc = chunk_cols(K, N);
    for (size_t j0 = 0; j0 < N; j0 += nc) {
        size_t n = N - j0 < nc ? N - j0 : nc;
        im2col_chunk(xg, cin_g, H, W, d, ow, j0, n, ws);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, cout_g, (int)n, (int)K, 1.0f, wg,
                    (int)K, ws, (int)n, beta, yg + j0, (int)N);
    }
}

/* Stride-1 conv as a sum over taps of [cout_g x cin_g] x [cin_g x rows*Wp] GEMMs
 * on a zero-padded copy of the input rows; output columns >= ow are discarded. */
static void conv_implicit_group(const ae_conv2d_desc *d, const float *xg, int H, int W,
                                const float *wg, float *yg, int oh, int ow, float *ws) {
    int cin_g = d->cin / d->groups, cout_g = d->cout / d->groups, taps = d->kh * d->kw;
    size_t Wp = (size_t)W + 2 * (size_t)d->pad_w, ext = (size_t)d->dil_h * (d->kh - 1), rc, fl;
    implicit_plan(d, H, W, oh, &rc, &fl);
    float *wt = ws, *xp = wt + (size_t)taps * cout_g * cin_g;
    size_t xrows = rc + ext, xplane = xrows * Wp + (size_t)d->dil_w * (d->kw - 1);
    float *tb = xp + (size_t)cin_g * xplane;
#pragma omp parallel for schedule(static)
    for (int t = 0; t < taps; t++)
        for (int co = 0; co < cout_g; co++)
            for (int ci = 0; ci < cin_g; ci++)
                wt[((size_t)t * cout_g + co) * cin_g + ci] = wg[((size_t)co * cin_g + ci) * taps + t];
    for (int r0 = 0; r0 < oh; r0 += (int)rc) {
        int rn = oh - r0 < (int)rc ? oh - r0 : (int)rc;
#pragma omp parallel for schedule(static)
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
        for (int t = 0; t < taps; t++) {
            size_t off = (size_t)(t / d->kw) * d->dil_h * Wp + (size_t)(t % d->kw) * d->dil_w;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, cout_g, ncol, cin_g, 1.0f,
                        wt + (size_t)t * cout_g * cin_g, cin_g, xp + off, (int)xplane,
                        t ? 1.0f : 0.0f, tb, ncol);
        }
#pragma omp parallel for schedule(static)
        for (int co = 0; co < cout_g; co++)
            for (int r = 0; r < rn; r++) {
                float *dst = yg + ((size_t)co * oh + r0 + r) * ow;
                const float *src = tb + (size_t)co * ncol + (size_t)r * Wp;
                for (int i = 0; i < ow; i++) dst[i] += src[i];
            }
    }
}

ae_status ae_conv2d_cpu(const ae_backend *be, const ae_conv2d_desc *d, const ae_tensor *x,
                        const float *w, const float *b, ae_tensor *y, float *ws, size_t ws_bytes) {
    int oh, ow;
    ae_status st = ae_conv2d_out_hw(d, x->h, x->w, &oh, &ow);
    if (st == AE_OK) st = check_io("conv2d", x, y, d->cin, d->cout, oh, ow);
    if (st) return st;
    size_t need = ae_conv2d_ws_cpu(be, d, x);
    if (ws_bytes < need || (need && !ws))
        return ae_error_set(AE_ERR_ARG, "conv2d: workspace of %zu bytes, %zu needed", ws_bytes, need);
    int G = d->groups, cin_g = d->cin / G, cout_g = d->cout / G, implicit = use_implicit(d);
    size_t HW = (size_t)x->h * x->w, N = (size_t)oh * ow, K = (size_t)cin_g * d->kh * d->kw;
    for (int n = 0; n < x->n; n++) {
        float *yn = y->data + (size_t)n * d->cout * N;
        if (b || implicit) fill_bias(yn, b, d->cout, N);
        for (int g = 0; g < G; g++) {
            const float *xg = x->data + ((size_t)n * d->cin + (size_t)g * cin_g) * HW;
            const float *wg = w + (size_t)g * cout_g * K;
            float *yg = yn + (size_t)g * cout_g * N;
            if (implicit)
                conv_implicit_group(d, xg, x->h, x->w, wg, yg, oh, ow, ws);
            else
                conv_im2col_group(d, xg, x->h, x->w, wg, yg, oh, ow, b ? 1.0f : 0.0f, ws);
        }
    }
    return AE_OK;
}

/* ---- conv_transpose2d -------------------------------------------------- */

size_t ae_conv_transpose2d_ws_cpu(const ae_backend *be, const ae_convT2d_desc *d, const ae_tensor *x) {
    (void)be;
    size_t K = (size_t)(d->cout / (d->groups > 0 ? d->groups : 1)) * d->kh * d->kw;
    size_t N = (size_t)x->h * x->w;
    return K * chunk_cols(K ? K : 1, N) * sizeof(float);
}

/* y[co, oy, ox] += col[(co, ky, kx), j] for input position j in [j0, j0 + nc). */
static void col2im_chunk(const float *col, const ae_convT2d_desc *d, int cout_g, int H, int W,
                         size_t j0, size_t nc, float *y, int oh, int ow) {
    int khw = d->kh * d->kw;
#pragma omp parallel for schedule(static)
    for (int co = 0; co < cout_g; co++) {
        float *yc = y + (size_t)co * oh * ow;
        for (int t = 0; t < khw; t++) {
            const float *src = col + ((size_t)co * khw + t) * nc;
            int dy = (t / d->kw) * d->dil_h - d->pad_h, dx = (t % d->kw) * d->dil_w - d->pad_w;
            for (size_t j = 0; j < nc; j++) {
                int iy = (int)((j0 + j) / W), ix = (int)((j0 + j) % W);
                int oy = iy * d->stride_h + dy, ox = ix * d->stride_w + dx;
                if (oy >= 0 && oy < oh && ox >= 0 && ox < ow) yc[(size_t)oy * ow + ox] += src[j];
            }
        }
    }
    (void)H;
}

ae_status ae_conv_transpose2d_cpu(const ae_backend *be, const ae_convT2d_desc *d, const ae_tensor *x,
                                  const float *w, const float *b, ae_tensor *y, float *ws,
                                  size_t ws_bytes) {
    int oh, ow;
    ae_status st = ae_convT2d_out_hw(d, x->h, x->w, &oh, &ow);
    if (st == AE_OK) st = check_io("conv_transpose2d", x, y, d->cin, d->cout, oh, ow);
    if (st) return st;
    size_t need = ae_conv_transpose2d_ws_cpu(be, d, x);
    if (ws_bytes < need || !ws)
        return ae_error_set(AE_ERR_ARG, "conv_transpose2d: workspace of %zu bytes, %zu needed",
                            ws_bytes, need);
    int G = d->groups, cin_g = d->cin / G, cout_g = d->cout / G;
    size_t HW = (size_t)x->h * x->w, N = (size_t)oh * ow, K = (size_t)cout_g * d->kh * d->kw;
    size_t nc = chunk_cols(K, HW);
    for (int n = 0; n < x->n; n++) {
        float *yn = y->data + (size_t)n * d->cout * N;
        fill_bias(yn, b, d->cout, N);
        for (int g = 0; g < G; g++) {
            const float *xg = x->data + ((size_t)n * d->cin + (size_t)g * cin_g) * HW;
            const float *wg = w + (size_t)g * cin_g * K;
            for (size_t j0 = 0; j0 < HW; j0 += nc) {
                size_t m = HW - j0 < nc ? HW - j0 : nc;
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)K, (int)m, cin_g, 1.0f, wg,
                            (int)K, xg + j0, (int)HW, 0.0f, ws, (int)m);
                col2im_chunk(ws, d, cout_g, x->h, x->w, j0, m, yn + (size_t)g * cout_g * N, oh, ow);
            }
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
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, x->n, out, (int)in, 1.0f, x->data, (int)in,
                w, (int)in, 1.0f, y->data, out);
    return AE_OK;
}
