/* pool.c - F.max_pool2d and F.avg_pool2d (ceil_mode=False, avg with
 * count_include_pad=True or, AE_POOL_AVG_EXCLUDE_PAD, False; max padding with
 * -inf) on the CPU; the 2x2 stride-2 max pool has its own vectorised row loop. */
#include <math.h>
#include "astroenh/backend.h"
#include "cpu_ops.h"

ae_status ae_pool_out_hw(const ae_pool_desc *d, int h, int w, int *oh, int *ow) {
    if (d->kh < 1 || d->kw < 1 || d->stride_h < 1 || d->stride_w < 1 || d->pad_h < 0 ||
        d->pad_w < 0 || d->pad_h * 2 > d->kh || d->pad_w * 2 > d->kw)
        return ae_error_set(AE_ERR_ARG, "pool: invalid kernel %dx%d stride %dx%d pad %dx%d (pad must "
                            "be <= kernel/2)", d->kh, d->kw, d->stride_h, d->stride_w, d->pad_h, d->pad_w);
    long nh = (long)h + 2L * d->pad_h - d->kh, nw = (long)w + 2L * d->pad_w - d->kw;
    if (h < 1 || w < 1 || nh < 0 || nw < 0)
        return ae_error_set(AE_ERR_SHAPE, "pool: input %dx%d is smaller than the %dx%d window", h, w,
                            d->kh, d->kw);
    *oh = (int)(nh / d->stride_h + 1);
    *ow = (int)(nw / d->stride_w + 1);
    return AE_OK;
}

static float pool_window(const ae_pool_desc *d, const float *s, int H, int W, int oy, int ox) {
    int hs = oy * d->stride_h - d->pad_h, ws = ox * d->stride_w - d->pad_w;
    int he = hs + d->kh, we = ws + d->kw;
    if (d->kind != AE_POOL_MAX) {
        int size = d->kind == AE_POOL_AVG_EXCLUDE_PAD
                       ? ((he < H ? he : H) - (hs < 0 ? 0 : hs)) * ((we < W ? we : W) - (ws < 0 ? 0 : ws))
                       : ((he < H + d->pad_h ? he : H + d->pad_h) - hs) *
                             ((we < W + d->pad_w ? we : W + d->pad_w) - ws);
        float acc = 0.0f;
        for (int y = hs < 0 ? 0 : hs; y < (he < H ? he : H); y++)
            for (int x = ws < 0 ? 0 : ws; x < (we < W ? we : W); x++) acc += s[(size_t)y * W + x];
        return acc / (float)size;
    }
    float m = -INFINITY;
    for (int y = hs < 0 ? 0 : hs; y < (he < H ? he : H); y++)
        for (int x = ws < 0 ? 0 : ws; x < (we < W ? we : W); x++) {
            float v = s[(size_t)y * W + x];
            if (v > m || isnan(v)) m = v;
        }
    return m;
}

#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__)
#define AE_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define AE_CLONES
#endif

/* One output row of a 2x2 stride-2 unpadded max pool (the U-Net's): the
 * window's max, NaN if the window holds a NaN (as pool_window); written
 * branch-free so it vectorises. */
AE_CLONES static void maxpool2x2_row(const float *r0, const float *r1, float *o, int ow) {
    for (int i = 0; i < ow; i++) {
        float a = r0[2 * i], b = r0[2 * i + 1], c = r1[2 * i], e = r1[2 * i + 1];
        float m1 = a > b ? a : b, m2 = c > e ? c : e, m = m1 > m2 ? m1 : m2;
        int nan = (a != a) | (b != b) | (c != c) | (e != e);
        o[i] = nan ? NAN : m;
    }
}

static int is_maxpool2x2(const ae_pool_desc *d) {
    return d->kind == AE_POOL_MAX && d->kh == 2 && d->kw == 2 && d->stride_h == 2 && d->stride_w == 2 &&
           d->pad_h == 0 && d->pad_w == 0;
}

ae_status ae_pool_cpu(const ae_backend *be, const ae_pool_desc *d, const ae_tensor *x, ae_tensor *y) {
    (void)be;
    int oh, ow;
    ae_status st = ae_pool_out_hw(d, x->h, x->w, &oh, &ow);
    if (st) return st;
    if (d->kind != AE_POOL_MAX && d->kind != AE_POOL_AVG && d->kind != AE_POOL_AVG_EXCLUDE_PAD)
        return ae_error_set(AE_ERR_ARG, "pool: unknown kind %d", (int)d->kind);
    if (y->n != x->n || y->c != x->c || y->h != oh || y->w != ow) {
        char s1[64], s2[64];
        return ae_error_set(AE_ERR_SHAPE, "pool: output %s, expected %dx%dx%dx%d for input %s",
                            ae_tensor_shape_str(y, s1, sizeof s1), x->n, x->c, oh, ow,
                            ae_tensor_shape_str(x, s2, sizeof s2));
    }
    int NC = x->n * x->c;
#pragma omp parallel for schedule(static) if ((long)NC * oh * ow >= AE_PAR_MIN)
    for (int nc = 0; nc < NC; nc++) {
        const float *s = x->data + (size_t)nc * x->h * x->w;
        float *o = y->data + (size_t)nc * oh * ow;
        if (is_maxpool2x2(d)) {
            for (int oy = 0; oy < oh; oy++)
                maxpool2x2_row(s + (size_t)2 * oy * x->w, s + (size_t)(2 * oy + 1) * x->w, o + (size_t)oy * ow, ow);
            continue;
        }
        for (int oy = 0; oy < oh; oy++)
            for (int ox = 0; ox < ow; ox++) o[(size_t)oy * ow + ox] = pool_window(d, s, x->h, x->w, oy, ox);
    }
    return AE_OK;
}
