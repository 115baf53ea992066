/* noise.c - noise sigma of an image plane, globally and per block.
 *
 * The estimate is the MAD of a Laplacian residual (x minus the mean of its
 * four neighbours), which removes smooth structure so that galaxies and sky
 * gradients hardly bias it; the same idea as the MAD-of-differences
 * estimators used by SExtractor-like tools and by L.A.Cosmic's noise model.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "astroenh/denoise.h"

/* Wirth's selection; indices signed so that j may pass below l. Its data-
 * dependent branches mispredict on about every other comparison; it stays
 * for NaN input and for sigma_of, whose sum runs in the order it leaves. */
static float select_wirth(float *x, size_t n, size_t k) {
    long l = 0, m = (long)n - 1, kk = (long)k;
    while (l < m) {
        float piv = x[kk];
        long i = l, j = m;
        do {
            while (x[i] < piv) i++;
            while (piv < x[j]) j--;
            if (i <= j) {
                float t = x[i];
                x[i] = x[j];
                x[j] = t;
                i++;
                j--;
            }
        } while (i <= j);
        if (j < kk) l = i;
        if (kk < i) m = j;
    }
    return x[k];
}

/* Moves the elements of x[l..m) for which (x < piv), or (x <= piv) when
 * le, to the front, without branches (Lomuto's scheme: the swap happens
 * always, the front index advances by the comparison); returns the first
 * index past them. */
static size_t partition(float *x, size_t l, size_t m, float piv, int le) {
    size_t j = l;
    for (size_t i = l; i < m; i++) {
        float t = x[i];
        size_t in = le ? !(piv < t) : t < piv;
        x[i] = x[j];
        x[j] = t;
        j += in;
    }
    return j;
}

static float median3(float a, float b, float c) {
    float lo = a < b ? a : b, hi = a < b ? b : a;
    return c < lo ? lo : c > hi ? hi : c;
}

/* Quickselect on a median-of-3 pivot value with a three-way split (below,
 * equal, above), so that runs of equal values, common in 8-bit data, end
 * it at once. The k-th smallest value is the same whatever the method, so
 * the result equals Wirth's (a zero may come back with the other sign). */
float ae_select_kth(float *x, size_t n, size_t k) {
    int nan = 0;
    for (size_t i = 0; i < n; i++) nan |= x[i] != x[i];
    if (nan) return select_wirth(x, n, k);
    size_t l = 0, m = n;
    while (m - l > 1) {
        float piv = median3(x[l], x[l + (m - l) / 2], x[m - 1]);
        size_t lt = partition(x, l, m, piv, 0);
        if (k < lt) {
            m = lt;
            continue;
        }
        size_t le = partition(x, lt, m, piv, 1);
        if (k < le) return piv;
        l = le;
    }
    return x[k];
}

/* Residuals of the rectangle [y0,y1) x [x0,x1) into r; returns the count. */
static size_t residuals(const float *p, int h, int w, int y0, int y1, int x0, int x1, int step, float *r) {
    size_t n = 0;
    if (y0 < 1) y0 = 1;
    if (x0 < 1) x0 = 1;
    if (y1 > h - 1) y1 = h - 1;
    if (x1 > w - 1) x1 = w - 1;
    for (int y = y0; y < y1; y += step)
        for (int x = x0; x < x1; x += step) {
            size_t i = (size_t)y * w + x;
            float v = p[i] - 0.25f * (p[i - 1] + p[i + 1] + p[i - w] + p[i + w]);
            if (isfinite(v)) r[n++] = v;
        }
    return n;
}

/* Sigma from n residuals r (reorders r); tmp holds n floats. The MAD is
 * found on a copy by the fast selection; only when it is 0 does the RMS
 * fallback run, on r in the order Wirth's selection leaves (the order its
 * double sum has always been taken in). */
static float sigma_of(float *r, size_t n, float *tmp) {
    if (n < 16) return 0.0f;
    memcpy(tmp, r, n * sizeof *tmp);
    float med = ae_select_kth(tmp, n, n / 2);
    for (size_t i = 0; i < n; i++) tmp[i] = fabsf(tmp[i] - med);
    float mad = ae_select_kth(tmp, n, n / 2);
    const float k = 1.4826f / sqrtf(1.25f);
    if (mad > 0.0f) return k * mad;
    med = select_wirth(r, n, n / 2);
    double rms = 0.0;
    for (size_t i = 0; i < n; i++) rms += (double)(r[i] - med) * (r[i] - med);
    return (float)sqrt(rms / (double)n) / sqrtf(1.25f);
}

ae_status ae_noise_sigma(const float *plane, int h, int w, float *sigma) {
    if (!plane || !sigma || h <= 0 || w <= 0) return ae_error_set(AE_ERR_ARG, "ae_noise_sigma: bad arguments");
    *sigma = 0.0f;
    if (h < 3 || w < 3) return AE_OK;
    /* Subsample to at most 16k residuals: the MAD's relative standard
     * error is then ~0.6%, and two selections over whole frames, four per
     * RGB image, were a sixth of the stage's time on small cutouts. */
    size_t npix = (size_t)h * w;
    int step = 1;
    while (npix / ((size_t)step * step) > (1u << 14)) step++;
    size_t cap = ((size_t)(h / step) + 1) * ((size_t)(w / step) + 1);
    float *r = ae_malloc(2 * cap * sizeof *r, "noise residuals");
    if (!r) return AE_ERR_NOMEM;
    size_t n = residuals(plane, h, w, 1, h - 1, 1, w - 1, step, r);
    *sigma = sigma_of(r, n, r + cap);
    free(r);
    return AE_OK;
}

ae_status ae_noise_map(float *map, const float *plane, int h, int w, int block, float floor_sigma) {
    if (!map || !plane || h <= 0 || w <= 0 || block < 4)
        return ae_error_set(AE_ERR_ARG, "ae_noise_map: bad arguments");
    int by = (h + block - 1) / block, bx = (w + block - 1) / block;
    size_t cap = (size_t)(block + 2) * (block + 2);
    float *r = ae_malloc(2 * cap * sizeof *r, "noise block");
    if (!r) return AE_ERR_NOMEM;
    for (int j = 0; j < by; j++)
        for (int i = 0; i < bx; i++) {
            int y0 = j * block, x0 = i * block;
            int y1 = y0 + block < h ? y0 + block : h, x1 = x0 + block < w ? x0 + block : w;
            size_t n = residuals(plane, h, w, y0, y1, x0, x1, 2, r); /* 1/4 of the block suffices */
            float s = sigma_of(r, n, r + cap);
            if (!(s > floor_sigma)) s = floor_sigma;
            for (int y = y0; y < y1; y++)
                for (int x = x0; x < x1; x++) map[(size_t)y * w + x] = s;
        }
    free(r);
    return AE_OK;
}
