/* resample.c - bicubic upsampling exactly as PyTorch's upsample_bicubic2d
 * (align_corners=False, A = -0.75, clamped taps: aten/src/ATen/native/
 * UpSample.h cubic_convolution1/2), and box downsampling (F.avg_pool2d(x, s)).
 * SR3's conditioning image and the fast net's skip use the bicubic.
 */
#include <math.h>
#include "astroenh/upscale.h"

static void cubic_coeffs(float t, float c[4]) {
    const float A = -0.75f;
    float x1 = t + 1.0f, x2 = 1.0f - t, x3 = x2 + 1.0f;
    c[0] = ((A * x1 - 5.0f * A) * x1 + 8.0f * A) * x1 - 4.0f * A;
    c[1] = ((A + 2.0f) * t - (A + 3.0f)) * t * t + 1.0f;
    c[2] = ((A + 2.0f) * x2 - (A + 3.0f)) * x2 * x2 + 1.0f;
    c[3] = ((A * x3 - 5.0f * A) * x3 + 8.0f * A) * x3 - 4.0f * A;
}

static inline int clampi(int v, int hi) { return v < 0 ? 0 : v > hi ? hi : v; }

void ae_bicubic_up(float *out, const float *in, int c, int h, int w, int s) {
    int H = h * s, W = w * s;
    float inv = 1.0f / (float)s;
    long rows = (long)c * H;
#pragma omp parallel for schedule(static)
    for (long r = 0; r < rows; r++) {
        int ch = (int)(r / H), oy = (int)(r % H);
        const float *p = in + (size_t)ch * h * w;
        float sy = ((float)oy + 0.5f) * inv - 0.5f;
        int iy = (int)floorf(sy);
        float cy[4];
        cubic_coeffs(sy - (float)iy, cy);
        float *o = out + (size_t)r * W;
        for (int ox = 0; ox < W; ox++) {
            float sx = ((float)ox + 0.5f) * inv - 0.5f;
            int ix = (int)floorf(sx);
            float cx[4], acc = 0.0f;
            cubic_coeffs(sx - (float)ix, cx);
            for (int k = 0; k < 4; k++) {
                const float *row = p + (size_t)clampi(iy - 1 + k, h - 1) * w;
                float v = row[clampi(ix - 1, w - 1)] * cx[0] + row[clampi(ix, w - 1)] * cx[1] +
                          row[clampi(ix + 1, w - 1)] * cx[2] + row[clampi(ix + 2, w - 1)] * cx[3];
                acc += v * cy[k];
            }
            o[ox] = acc;
        }
    }
}

void ae_box_down(float *out, const float *in, int c, int h, int w, int s) {
    int oh = h / s, ow = w / s;
    long rows = (long)c * oh;
#pragma omp parallel for schedule(static)
    for (long r = 0; r < rows; r++) {
        int ch = (int)(r / oh), oy = (int)(r % oh);
        for (int ox = 0; ox < ow; ox++) {
            double acc = 0.0;
            for (int dy = 0; dy < s; dy++)
                for (int dx = 0; dx < s; dx++)
                    acc += in[((size_t)ch * h + (size_t)oy * s + dy) * w + (size_t)ox * s + dx];
            out[(size_t)r * ow + ox] = (float)(acc / (s * s));
        }
    }
}
