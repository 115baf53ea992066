/* stretch.c - display stretches (stretch.h) and the median/MAD they need.
 *
 * A stretch maps x to t = clip((x - lo) / (hi - lo), 0, 1) and then through a
 * curve: identity (LINEAR), asinh(beta t) / asinh(beta) (ASINH, as in Lupton
 * et al. 2004 with a fixed softening), or the midtones transfer function
 * MTF(t; m) = (m - 1) t / ((2m - 1) t - m) of PixInsight's automatic
 * ScreenTransferFunction (shadows at median - 2.8 sigma_MAD, median -> 0.25).
 * The inverse runs the curve backwards (MTF's inverse is MTF with 1 - m), so
 * values inside [lo, hi] come back to float rounding and clipped values come
 * back as lo or hi. Curves are evaluated in double.
 *
 * ae_stretch_fit_soft: an asinh curve with the MTF's black point and white
 * point and the softening beta that puts the median where MTF puts it. Its
 * inverse has slope <= about ln(2 beta) (hi - lo) at white, where MTF's has
 * (1 - m) / m (a few hundred on sparse star fields), so errors of a network
 * run on it stay small in linear units near the bright end.
 *
 * ae_median_mad uses quickselect with random pivots on a copy (expected O(n)).
 */
#include <float.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "astroenh/stretch.h"

#define ASINH_BETA 10.0f
#define MTF_SHADOWS_SIGMA 2.8  /* shadows clip, in units of 1.4826 * MAD */
#define MTF_TARGET 0.25        /* where the median lands */
#define MAD_TO_SIGMA 1.4826

/* Wirth's selection with random pivots: afterwards a[k] is the k-th smallest,
 * a[0..k) <= a[k] <= a(k..n). Expected O(n), duplicates included. */
static float select_kth(float *a, size_t n, size_t k) {
    ptrdiff_t lo = 0, hi = (ptrdiff_t)n - 1, kk = (ptrdiff_t)k;
    unsigned long long rng = 0x9E3779B97F4A7C15ull ^ n;
    while (lo < hi) {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        float pivot = a[lo + (ptrdiff_t)(rng % (unsigned long long)(hi - lo + 1))];
        ptrdiff_t i = lo, j = hi;
        do {
            while (a[i] < pivot) i++;
            while (pivot < a[j]) j--;
            if (i <= j) {
                float t = a[i];
                a[i++] = a[j];
                a[j--] = t;
            }
        } while (i <= j);
        if (j < kk) lo = i;
        if (kk < i) hi = j;
    }
    return a[k];
}

/* Median of a[0..n) (n > 0), reordering a. Even n: mean of the two middle values. */
static float median_inplace(float *a, size_t n) {
    size_t k = n / 2;
    float upper = select_kth(a, n, k);
    if (n % 2) return upper;
    float lower = a[0];
    for (size_t i = 1; i < k; i++)
        if (a[i] > lower) lower = a[i];
    return (float)(((double)lower + upper) / 2.0);
}

/* ---- large inputs: exact order statistics by histogram narrowing ----
 * Streams over x without copying it: a 65536-bin histogram of the values in
 * [lo, hi] finds the bin holding the k-th value; if that bin is small its
 * values are collected and selected, else [lo, hi] shrinks to the bin's own
 * min..max and the histogram is redone. Values are x[i], or |x[i] - center|
 * for the MAD; non-finite x[i] are skipped. */

#define HIST_BINS 65536
#define HIST_MIN_N ((size_t)1 << 18) /* below this, copy + quickselect */

typedef struct {
    const float *x;
    size_t n;
    int absdev;
    float center;
    size_t *counts; /* HIST_BINS */
} vsrc;

static inline int vget(const vsrc *s, size_t i, float *v) {
    float x = s->x[i];
    if (!isfinite(x)) return 0;
    float d = s->absdev ? fabsf(x - s->center) : x;
    *v = d <= FLT_MAX ? d : FLT_MAX; /* |x - c| can overflow to inf */
    return 1;
}

static inline size_t vbin(float v, double lo, double scale) {
    size_t b = (size_t)(((double)v - lo) * scale);
    return b < HIST_BINS ? b : HIST_BINS - 1;
}

/* k-th smallest value within [lo, hi] (k counted from lo), given that the
 * range holds it. A bin is collected once it holds at most n/16 + 4096 values
 * (or after 12 narrowings, whatever its size: heavy-tailed data). */
static ae_status hist_kth(const vsrc *s, size_t k, float lo, float hi, float *out) {
    for (int iter = 0; lo < hi; iter++) {
        double scale = HIST_BINS / ((double)hi - lo);
        memset(s->counts, 0, HIST_BINS * sizeof *s->counts);
        for (size_t i = 0; i < s->n; i++) {
            float v;
            if (vget(s, i, &v) && v >= lo && v <= hi) s->counts[vbin(v, lo, scale)]++;
        }
        size_t b = 0, cum = 0;
        while (b < HIST_BINS - 1 && cum + s->counts[b] <= k) cum += s->counts[b++];
        size_t m = s->counts[b];
        float bmin = INFINITY, bmax = -INFINITY;
        int collect = m <= s->n / 16 + 4096 || iter >= 12;
        float *buf = collect ? ae_malloc(m * sizeof *buf, "median work buffer") : NULL;
        if (collect && !buf) return AE_ERR_NOMEM;
        size_t j = 0;
        for (size_t i = 0; i < s->n; i++) {
            float v;
            if (!vget(s, i, &v) || v < lo || v > hi || vbin(v, lo, scale) != b) continue;
            if (buf) buf[j++] = v;
            bmin = v < bmin ? v : bmin;
            bmax = v > bmax ? v : bmax;
        }
        if (buf) {
            *out = select_kth(buf, m, k - cum);
            free(buf);
            return AE_OK;
        }
        lo = bmin;
        hi = bmax;
        k -= cum;
    }
    *out = lo; /* every candidate equal */
    return AE_OK;
}

/* The (k-1)-th smallest value given K, the k-th (k > 0). */
static float hist_prev(const vsrc *s, size_t k, float K) {
    size_t less = 0;
    float maxless = -INFINITY;
    for (size_t i = 0; i < s->n; i++) {
        float v;
        if (vget(s, i, &v) && v < K) {
            less++;
            maxless = v > maxless ? v : maxless;
        }
    }
    return less >= k ? maxless : K;
}

/* Median of the values of s; the caller passes their count m > 0 and a range
 * [lo, hi] holding them all. */
static ae_status hist_median(const vsrc *s, size_t m, float lo, float hi, float *med) {
    float upper;
    ae_status st = hist_kth(s, m / 2, lo, hi, &upper);
    if (st != AE_OK) return st;
    *med = m % 2 ? upper : (float)(((double)hist_prev(s, m / 2, upper) + upper) / 2.0);
    return AE_OK;
}

static ae_status median_mad_hist(const float *x, size_t n, float *median, float *mad) {
    size_t m = 0;
    float lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < n; i++)
        if (isfinite(x[i])) {
            m++;
            lo = x[i] < lo ? x[i] : lo;
            hi = x[i] > hi ? x[i] : hi;
        }
    if (m == 0) return ae_error_set(AE_ERR_ARG, "median of %zu values: none is finite", n);
    vsrc s = {.x = x, .n = n};
    s.counts = ae_malloc(HIST_BINS * sizeof *s.counts, "median histogram");
    if (!s.counts) return AE_ERR_NOMEM;
    float med, dev = NAN;
    ae_status st = hist_median(&s, m, lo, hi, &med);
    if (st == AE_OK) {
        s.absdev = 1;
        s.center = med;
        float dlo = fabsf(lo - med), dhi = fabsf(hi - med); /* the largest deviations */
        float dmax = dlo > dhi ? dlo : dhi;
        st = hist_median(&s, m, 0.0f, dmax <= FLT_MAX ? dmax : FLT_MAX, &dev);
    }
    free(s.counts);
    if (st != AE_OK) return st;
    *median = med;
    *mad = dev;
    return AE_OK;
}

ae_status ae_median_mad(const float *x, size_t n, float *median, float *mad) {
    if (!median || !mad || (!x && n)) return ae_error_set(AE_ERR_ARG, "ae_median_mad: NULL argument");
    *median = *mad = NAN;
    if (n >= HIST_MIN_N) return median_mad_hist(x, n, median, mad);
    size_t bytes;
    if (ae_mul_size(n, sizeof(float), &bytes)) return ae_error_set(AE_ERR_NOMEM, "median of %zu values: too many", n);
    float *a = ae_malloc(bytes, "median/MAD work copy");
    if (!a) return AE_ERR_NOMEM;
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (isfinite(x[i])) a[m++] = x[i];
    if (m == 0) {
        free(a);
        return ae_error_set(AE_ERR_ARG, "median of %zu values: none is finite", n);
    }
    float med = median_inplace(a, m);
    for (size_t i = 0; i < m; i++) a[i] = fabsf(a[i] - med);
    *mad = median_inplace(a, m);
    *median = med;
    free(a);
    return AE_OK;
}

static void finite_range(const float *x, size_t n, float *mn, float *mx) {
    float lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < n; i++)
        if (isfinite(x[i])) {
            if (x[i] < lo) lo = x[i];
            if (x[i] > hi) hi = x[i];
        }
    *mn = lo;
    *mx = hi;
}

static double mtf(double t, double m) {
    if (t <= 0.0) return 0.0;
    if (t >= 1.0) return 1.0;
    return (m - 1.0) * t / ((2.0 * m - 1.0) * t - m);
}

/* PixInsight's auto-STF on data spanning [mn, mx] with the given median/MAD. */
static void fit_mtf(ae_stretch *s, float mn, float mx, float med, float mad) {
    double range = (double)mx - mn;
    double xm = ((double)med - mn) / range, sigma = MAD_TO_SIGMA * mad / range;
    double c0 = xm - MTF_SHADOWS_SIGMA * sigma;
    if (c0 < 0.0 || c0 >= 1.0) c0 = 0.0;
    double t = (xm - c0) / (1.0 - c0);
    s->lo = (float)(mn + c0 * range);
    s->hi = mx;
    if (!(s->lo < s->hi)) s->lo = mn;
    /* the mid putting t at the target is MTF(t; target); with the median at
     * the shadows clip or at the maximum (MAD 0) none exists: neutral curve */
    s->mid = t > 0.0 && t < 1.0 ? (float)mtf(t, MTF_TARGET) : 0.5f;
}

/* 1 when at least this share of a plane's finite pixels is exactly 0: a
 * survey cube's part without coverage, not sky */
#define NODATA_ZERO_SHARE 0.25

/* A copy of img's data in which the exact zeros of such planes are NaN (so
 * the statistics skip them; they still map to black), or NULL when no plane
 * qualifies or every value would go. *err is set on allocation failure. */
static float *mask_nodata_zeros(const ae_image *img, ae_status *err) {
    size_t np = ae_image_npix(img);
    int mask[16] = {0}, any = 0, c = img->c < 16 ? img->c : 16;
    size_t kept = 0;
    for (int ch = 0; ch < c; ch++) {
        const float *p = img->data + (size_t)ch * np;
        size_t zeros = 0, finite = 0;
        for (size_t i = 0; i < np; i++) {
            finite += isfinite(p[i]) != 0;
            zeros += p[i] == 0.0f;
        }
        mask[ch] = finite > 0 && zeros >= NODATA_ZERO_SHARE * (double)finite;
        any |= mask[ch];
        kept += mask[ch] ? finite - zeros : finite;
    }
    *err = AE_OK;
    if (!any || kept == 0) return NULL;
    float *x = ae_malloc(np * (size_t)img->c * sizeof *x, "stretch statistics copy");
    if (!x) {
        *err = AE_ERR_NOMEM;
        return NULL;
    }
    memcpy(x, img->data, np * (size_t)img->c * sizeof *x);
    for (int ch = 0; ch < c; ch++)
        for (size_t i = 0; mask[ch] && i < np; i++)
            if (x[(size_t)ch * np + i] == 0.0f) x[(size_t)ch * np + i] = NAN;
    return x;
}

static ae_status fit(ae_stretch *s, const ae_image *img, ae_stretch_kind kind, int skip_nodata) {
    if (!s || !img || !img->data) return ae_error_set(AE_ERR_ARG, "ae_stretch_fit: NULL argument");
    *s = (ae_stretch){.kind = kind, .lo = 0.0f, .hi = 1.0f, .beta = ASINH_BETA, .mid = 0.5f};
    if (kind == AE_STRETCH_NONE) return AE_OK;
    if (kind != AE_STRETCH_LINEAR && kind != AE_STRETCH_ASINH && kind != AE_STRETCH_MTF)
        return ae_error_set(AE_ERR_ARG, "unknown stretch kind %d", (int)kind);
    size_t n = ae_image_npix(img) * (size_t)img->c;
    ae_status st = AE_OK;
    float *masked = skip_nodata ? mask_nodata_zeros(img, &st) : NULL;
    if (st != AE_OK) return st;
    const float *x = masked ? masked : img->data;
    float mn, mx;
    finite_range(x, n, &mn, &mx);
    if (!(mn <= mx)) {
        free(masked);
        return ae_error_set(AE_ERR_ARG, "cannot fit a %s stretch: no finite pixel", ae_stretch_name(kind));
    }
    if (mx == mn) mx = mn + 1.0f; /* a flat image maps to 0 */
    s->lo = mn;
    s->hi = mx;
    float med, mad;
    if (kind == AE_STRETCH_MTF) st = ae_median_mad(x, n, &med, &mad);
    free(masked);
    if (kind == AE_STRETCH_MTF && st == AE_OK) fit_mtf(s, mn, mx, med, mad);
    return st;
}

ae_status ae_stretch_fit(ae_stretch *s, const ae_image *img, ae_stretch_kind kind) {
    return fit(s, img, kind, 0);
}

ae_status ae_stretch_fit_display(ae_stretch *s, const ae_image *img, ae_stretch_kind kind) {
    return fit(s, img, kind, 1);
}

/* beta with asinh(beta t) / asinh(beta) = target, by bisection on log beta
 * (the ratio grows from t at beta -> 0 towards 1). */
static double asinh_beta_for(double t, double target) {
    if (!(t > 0.0) || t >= target) return 1e-3; /* already bright enough: near-linear */
    double lo = -3.0, hi = 12.0;              /* log10 beta */
    for (int i = 0; i < 60; i++) {
        double m = 0.5 * (lo + hi), b = pow(10.0, m);
        if (asinh(b * t) / asinh(b) < target) lo = m;
        else hi = m;
    }
    return pow(10.0, 0.5 * (lo + hi));
}

ae_status ae_stretch_fit_soft(ae_stretch *s, const ae_image *img) {
    ae_status st = ae_stretch_fit(s, img, AE_STRETCH_MTF);
    if (st != AE_OK) return st;
    /* the median's place t on [lo, hi]: mid = MTF(t; target), so t = MTF(mid; 1 - target);
     * a neutral mid (no usable median) keeps the default softening */
    double t = s->mid != 0.5f ? mtf(s->mid, 1.0 - MTF_TARGET) : -1.0;
    s->kind = AE_STRETCH_ASINH;
    s->beta = t > 0.0 ? (float)asinh_beta_for(t, MTF_TARGET) : ASINH_BETA;
    s->mid = 0.5f;
    return AE_OK;
}

static double curve(const ae_stretch *s, double t) {
    switch (s->kind) {
    case AE_STRETCH_ASINH: return asinh(t * s->beta) / asinh((double)s->beta);
    case AE_STRETCH_MTF: return mtf(t, s->mid);
    default: return t;
    }
}

static double curve_inv(const ae_stretch *s, double y) {
    switch (s->kind) {
    case AE_STRETCH_ASINH: return sinh(y * asinh((double)s->beta)) / s->beta;
    case AE_STRETCH_MTF: return mtf(y, 1.0 - s->mid);
    default: return y;
    }
}

void ae_stretch_apply(const ae_stretch *s, ae_image *img) {
    if (!s || !img || !img->data || s->kind == AE_STRETCH_NONE) return;
    size_t n = ae_image_npix(img) * (size_t)img->c;
    double lo = s->lo, scale = 1.0 / ((double)s->hi - s->lo);
    float *x = img->data;
#pragma omp parallel for schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; i++) {
        if (isnan(x[i])) continue;
        double t = (x[i] - lo) * scale;
        t = t < 0.0 ? 0.0 : t > 1.0 ? 1.0 : t;
        x[i] = (float)curve(s, t);
    }
    img->range = AE_RANGE_DISPLAY;
}

void ae_stretch_invert(const ae_stretch *s, ae_image *img) {
    if (!s || !img || !img->data || s->kind == AE_STRETCH_NONE) return;
    size_t n = ae_image_npix(img) * (size_t)img->c;
    double lo = s->lo, range = (double)s->hi - s->lo;
    float *x = img->data;
#pragma omp parallel for schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; i++) {
        if (isnan(x[i])) continue;
        double y = x[i] < 0.0f ? 0.0 : x[i] > 1.0f ? 1.0 : x[i];
        double t = y <= 0.0 ? 0.0 : y >= 1.0 ? 1.0 : curve_inv(s, y);
        x[i] = (float)(lo + t * range);
    }
    img->range = AE_RANGE_LINEAR;
}

ae_stretch_kind ae_stretch_parse(const char *name) {
    if (!name) return (ae_stretch_kind)-1;
    if (!strcasecmp(name, "none")) return AE_STRETCH_NONE;
    if (!strcasecmp(name, "linear")) return AE_STRETCH_LINEAR;
    if (!strcasecmp(name, "asinh")) return AE_STRETCH_ASINH;
    if (!strcasecmp(name, "auto") || !strcasecmp(name, "mtf")) return AE_STRETCH_MTF;
    return (ae_stretch_kind)-1;
}

const char *ae_stretch_name(ae_stretch_kind k) {
    switch (k) {
    case AE_STRETCH_NONE: return "none";
    case AE_STRETCH_LINEAR: return "linear";
    case AE_STRETCH_ASINH: return "asinh";
    case AE_STRETCH_MTF: return "mtf";
    }
    return "unknown";
}
