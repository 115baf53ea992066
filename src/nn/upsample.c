/* upsample.c - F.interpolate(mode="nearest"|"bilinear", align_corners=False)
 * to the output tensor's size, and F.pixel_shuffle, on the CPU.
 *
 * Index rules copied from ATen's UpSample.h: nearest takes
 * floor(dst * in/out) (dst/2 when out == 2*in); bilinear samples at
 * max(0, (dst + 0.5) * in/out - 0.5) and clamps the upper neighbour.
 */
#include <math.h>
#include "astroenh/backend.h"
#include "cpu_ops.h"

static int nearest_idx(int dst, int in, int out) {
    if (out == in) return dst;
    if (out == 2 * in) return dst >> 1;
    int i = (int)floorf((float)dst * ((float)in / (float)out));
    return i < in - 1 ? i : in - 1;
}

static void bilinear_coef(int dst, int in, int out, int *i0, int *i1, float *l1) {
    float scale = (float)in / (float)out;
    float src = scale * ((float)dst + 0.5f) - 0.5f;
    if (src < 0.0f) src = 0.0f;
    int i = (int)src;
    *i0 = i;
    *i1 = i < in - 1 ? i + 1 : i;
    *l1 = src - (float)i;
}

/* Column coefficients are computed once per chunk of 256 output columns
 * (stack arrays; ops do not allocate) and reused for every row. */
static void bilinear_plane(const float *src, int H, int W, float *dst, int OH, int OW) {
    int x0[256], x1[256];
    float lx[256];
    for (int c0 = 0; c0 < OW; c0 += 256) {
        int cn = OW - c0 < 256 ? OW - c0 : 256;
        for (int i = 0; i < cn; i++) bilinear_coef(c0 + i, W, OW, &x0[i], &x1[i], &lx[i]);
        for (int oy = 0; oy < OH; oy++) {
            int y0, y1;
            float ly;
            bilinear_coef(oy, H, OH, &y0, &y1, &ly);
            const float *r0 = src + (size_t)y0 * W, *r1 = src + (size_t)y1 * W;
            float *d = dst + (size_t)oy * OW + c0;
            for (int i = 0; i < cn; i++)
                d[i] = (1.0f - ly) * ((1.0f - lx[i]) * r0[x0[i]] + lx[i] * r0[x1[i]]) +
                       ly * ((1.0f - lx[i]) * r1[x0[i]] + lx[i] * r1[x1[i]]);
        }
    }
}

ae_status ae_upsample_cpu(const ae_backend *be, ae_upsample_mode mode, const ae_tensor *x,
                          ae_tensor *y) {
    (void)be;
    if (y->n != x->n || y->c != x->c) {
        char s1[64], s2[64];
        return ae_error_set(AE_ERR_SHAPE, "upsample: output %s does not match input %s in N, C",
                            ae_tensor_shape_str(y, s1, sizeof s1), ae_tensor_shape_str(x, s2, sizeof s2));
    }
    if (mode != AE_UPSAMPLE_NEAREST && mode != AE_UPSAMPLE_BILINEAR)
        return ae_error_set(AE_ERR_ARG, "upsample: unknown mode %d", (int)mode);
    int NC = x->n * x->c, H = x->h, W = x->w, OH = y->h, OW = y->w;
#pragma omp parallel for schedule(static) if ((long)NC * OH * OW >= AE_PAR_MIN)
    for (int nc = 0; nc < NC; nc++) {
        const float *s = x->data + (size_t)nc * H * W;
        float *d = y->data + (size_t)nc * OH * OW;
        if (mode == AE_UPSAMPLE_BILINEAR) {
            bilinear_plane(s, H, W, d, OH, OW);
            continue;
        }
        for (int oy = 0; oy < OH; oy++) {
            const float *row = s + (size_t)nearest_idx(oy, H, OH) * W;
            for (int ox = 0; ox < OW; ox++) d[(size_t)oy * OW + ox] = row[nearest_idx(ox, W, OW)];
        }
    }
    return AE_OK;
}

ae_status ae_pixel_shuffle_cpu(const ae_backend *be, int r, const ae_tensor *x, ae_tensor *y) {
    (void)be;
    if (r < 1 || x->c % (r * r) || y->n != x->n || y->c != x->c / (r * r) || y->h != x->h * r ||
        y->w != x->w * r) {
        char s1[64], s2[64];
        return ae_error_set(AE_ERR_SHAPE, "pixel_shuffle(r=%d): input %s cannot give output %s", r,
                            ae_tensor_shape_str(x, s1, sizeof s1), ae_tensor_shape_str(y, s2, sizeof s2));
    }
    int NC = y->n * y->c, H = x->h, W = x->w, OW = y->w;
#pragma omp parallel for schedule(static) if ((long)NC * y->h * OW >= AE_PAR_MIN)
    for (int nc = 0; nc < NC; nc++) {
        float *d = y->data + (size_t)nc * y->h * OW;
        for (int i = 0; i < r; i++)
            for (int j = 0; j < r; j++) {
                const float *s = x->data + ((size_t)nc * r * r + (size_t)i * r + j) * H * W;
                for (int h = 0; h < H; h++)
                    for (int w = 0; w < W; w++)
                        d[((size_t)h * r + i) * OW + (size_t)w * r + j] = s[(size_t)h * W + w];
            }
    }
    return AE_OK;
}
