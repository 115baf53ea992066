/* flux.c - flux consistency of a super-resolved image.
 *
 * A super-resolved frame should integrate to the observed one: each s x s
 * output block, averaged, must give back the input pixel it came from (the
 * box model of pixel integration, as in drizzle's flux conservation). The
 * correction is additive per block, out += in - mean(block), which keeps the
 * network's structure inside the block and changes only its mean; it is
 * applied in the linear (physical) domain, after the display stretch is
 * inverted.
 */
#include <math.h>
#include "astroenh/upscale.h"

static double block_mean(const float *o, int W, int s, int *n_finite) {
    double acc = 0.0;
    int n = 0;
    for (int dy = 0; dy < s; dy++)
        for (int dx = 0; dx < s; dx++) {
            float v = o[(size_t)dy * W + dx];
            if (isfinite(v)) {
                acc += v;
                n++;
            }
        }
    *n_finite = n;
    return n ? acc / n : 0.0;
}

void ae_flux_correct(float *out, const float *in, int c, int h, int w, int s) {
    int W = w * s;
    long rows = (long)c * h;
#pragma omp parallel for schedule(static)
    for (long r = 0; r < rows; r++) {
        int ch = (int)(r / h), y = (int)(r % h);
        for (int x = 0; x < w; x++) {
            float src = in[((size_t)ch * h + y) * w + x];
            float *o = out + ((size_t)ch * h * s + (size_t)y * s) * W + (size_t)x * s;
            for (int pass = 0; pass < 2; pass++) { /* a second pass removes float rounding left by the first */
                int n;
                double m = block_mean(o, W, s, &n);
                for (int dy = 0; dy < s; dy++)
                    for (int dx = 0; dx < s; dx++) {
                        float *v = &o[(size_t)dy * W + dx];
                        if (!isfinite(src)) *v = NAN;
                        else if (!isfinite(*v)) *v = src;
                        else *v = (float)((double)*v + ((double)src - m));
                    }
                if (!isfinite(src) || n == 0) break;
            }
        }
    }
}

double ae_flux_max_error(const float *out, const float *in, int c, int h, int w, int s) {
    int W = w * s;
    double worst = 0.0;
    for (int ch = 0; ch < c; ch++)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                float src = in[((size_t)ch * h + y) * w + x];
                if (!isfinite(src)) continue;
                int n;
                const float *o = out + ((size_t)ch * h * s + (size_t)y * s) * W + (size_t)x * s;
                double m = block_mean(o, W, s, &n);
                double e = n == s * s ? fabs(m - (double)src) : INFINITY;
                if (e > worst) worst = e;
            }
    return worst;
}
