/* flux.c - flux consistency of a super-resolved image.
 *
 * A super-resolved frame should integrate to the observed one: each s x s
 * output block, averaged, must give back the input pixel it came from (the
 * box model of pixel integration, as in drizzle's flux conservation). Block
 * means, not sums, are kept: pixel values stay in the input's units per
 * input-pixel area (surface brightness), as SWarp and reproject resample.
 *
 * Display data: the correction is additive per block, out += in - mean(block),
 * which keeps the network's structure inside the block and changes only its
 * mean.
 *
 * Linear data: every output pixel must also stay inside the physical range
 * of its neighbourhood, [min, max] of the 3 x 3 input pixels around the one
 * it came from. The network runs on stretched values and the inverse stretch
 * can be steep, so its errors in linear units are unbounded; an unbounded
 * additive correction then spreads them over the block (ringing blocks, new
 * negatives). The bounded correction is the Euclidean projection of the block
 * onto {mean = in, lo <= v <= hi}: v_i = clamp(v_i + d, lo, hi) with the one
 * d that gives the mean, found exactly on the piecewise-linear mean(d). The
 * set is never empty (the block flat at `in` is in it), and when no pixel
 * meets a bound the result is the additive correction.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "astroenh/upscale.h"

#define MAX_BLOCK 16 /* s <= 4 */

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

static void additive_block(float *o, int W, int s, float src) {
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

static inline double clampd(double v, double lo, double hi) { return v < lo ? lo : v > hi ? hi : v; }

static double shifted_mean(const double *v, int n, double d, double lo, double hi) {
    double acc = 0.0;
    for (int i = 0; i < n; i++) acc += clampd(v[i] + d, lo, hi);
    return acc / n;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The shift d with mean(clamp(v + d, lo, hi)) = target, lo <= target <= hi:
 * mean(d) is piecewise linear with kinks at lo - v_i and hi - v_i, so the
 * kink interval holding target is found by bisection over the sorted kinks
 * and d by linear interpolation inside it (exact up to rounding). */
static double bounded_shift(const double *v, int n, double target, double lo, double hi) {
    double k[2 * MAX_BLOCK];
    for (int i = 0; i < n; i++) {
        k[2 * i] = lo - v[i];
        k[2 * i + 1] = hi - v[i];
    }
    qsort(k, (size_t)(2 * n), sizeof *k, cmp_double);
    int a = 0, b = 2 * n - 1; /* mean(k[a]) <= target <= mean(k[b]) */
    while (b - a > 1) {
        int m = (a + b) / 2;
        if (shifted_mean(v, n, k[m], lo, hi) <= target) a = m;
        else b = m;
    }
    double fa = shifted_mean(v, n, k[a], lo, hi), fb = shifted_mean(v, n, k[b], lo, hi);
    if (fb - fa <= 0.0) return k[a];
    return k[a] + (target - fa) * (k[b] - k[a]) / (fb - fa);
}

static void bounded_block(float *o, int W, int s, float src, float lo, float hi) {
    if (!isfinite(src)) {
        additive_block(o, W, s, src);
        return;
    }
    double v[MAX_BLOCK];
    int n = s * s;
    for (int i = 0; i < n; i++) {
        float x = o[(size_t)(i / s) * W + i % s];
        v[i] = isfinite(x) ? clampd(x, lo, hi) : (double)src;
    }
    double d = bounded_shift(v, n, src, lo, hi);
    for (int i = 0; i < n; i++) o[(size_t)(i / s) * W + i % s] = (float)clampd(v[i] + d, lo, hi);
}

void ae_flux_bounds(float *lo, float *hi, const float *in, int c, int h, int w) {
    long rows = (long)c * h;
#pragma omp parallel for schedule(static)
    for (long r = 0; r < rows; r++) {
        int ch = (int)(r / h), y = (int)(r % h);
        const float *p = in + (size_t)ch * h * w;
        for (int x = 0; x < w; x++) {
            float mn = INFINITY, mx = -INFINITY;
            for (int yy = y - 1; yy <= y + 1; yy++)
                for (int xx = x - 1; xx <= x + 1; xx++) {
                    if (yy < 0 || yy >= h || xx < 0 || xx >= w) continue;
                    float v = p[(size_t)yy * w + xx];
                    if (!isfinite(v)) continue;
                    mn = v < mn ? v : mn;
                    mx = v > mx ? v : mx;
                }
            size_t i = (size_t)r * w + x;
            lo[i] = mn <= mx ? mn : NAN;
            hi[i] = mn <= mx ? mx : NAN;
        }
    }
}

void ae_flux_clamp(float *out, const float *lo, const float *hi, int c, int h, int w, int s) {
    size_t W = (size_t)w * s;
    long rows = (long)c * h * s;
#pragma omp parallel for schedule(static)
    for (long r = 0; r < rows; r++) {
        size_t li = (size_t)(r / s) * w; /* (ch * h + y) * w, as rows = ch * h * s + y * s + dy */
        float *o = out + (size_t)r * W;
        for (size_t X = 0; X < W; X++) {
            float a = lo[li + X / s], b = hi[li + X / s];
            if (!isfinite(a) || !isfinite(o[X])) continue;
            o[X] = o[X] < a ? a : o[X] > b ? b : o[X];
        }
    }
}

void ae_flux_correct(float *out, const float *in, const float *lo, const float *hi, int c, int h, int w, int s) {
    int W = w * s;
    long rows = (long)c * h;
#pragma omp parallel for schedule(static)
    for (long r = 0; r < rows; r++) {
        for (int x = 0; x < w; x++) {
            size_t i = (size_t)r * w + x;
            float *o = out + (size_t)r * s * W + (size_t)x * s;
            if (lo && hi && s <= 4) bounded_block(o, W, s, in[i], lo[i], hi[i]);
            else additive_block(o, W, s, in[i]);
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
