/* test_denoise.c - the denoise building blocks (src/denoise/) against slow
 * reference implementations and synthetic images with known answers:
 * noise sigma, selection, bilateral vs brute force, NCC vs the Pearson
 * formula, detection of stars/hot pixels/cosmic rays beside a galaxy that
 * must stay untouched, colour classes, Telea/biharmonic fill properties,
 * noise-matched texture, and the stage's run() on an image with NaN. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "astroenh/denoise.h"
#include "astroenh/image.h"
#include "astroenh/stage.h"

static unsigned long long g_rng = 0x2545F4914F6CDD1Dull;
static double urand(void) {
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return (double)(g_rng >> 11) / 9007199254740992.0;
}
static double nrand(void) { return sqrt(-2.0 * log(urand() + 1e-300)) * cos(6.283185307179586 * urand()); }

static float *noise_plane(int h, int w, float sigma, float level) {
    float *p = malloc((size_t)h * w * sizeof *p);
    assert_non_null(p);
    for (size_t i = 0; i < (size_t)h * w; i++) p[i] = level + sigma * (float)nrand();
    return p;
}

static void add_gauss(float *p, int h, int w, float cx, float cy, float s, float amp) {
    int R = (int)ceilf(5 * s);
    for (int y = (int)cy - R; y <= (int)cy + R; y++)
        for (int x = (int)cx - R; x <= (int)cx + R; x++)
            if (y >= 0 && y < h && x >= 0 && x < w)
                p[(size_t)y * w + x] += amp * expf(-((x - cx) * (x - cx) + (y - cy) * (y - cy)) / (2 * s * s));
}

/* ---- noise and selection ---- */

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

static void test_select_kth(void **st) {
    (void)st;
    for (int trial = 0; trial < 50; trial++) {
        size_t n = 1 + (size_t)(urand() * 200);
        float a[200], b[200];
        for (size_t i = 0; i < n; i++) a[i] = b[i] = (float)(int)(urand() * 20); /* many ties */
        qsort(b, n, sizeof *b, cmp_float);
        size_t k = (size_t)(urand() * n);
        assert_true(ae_select_kth(a, n, k) == b[k]);
    }
    /* Larger arrays, with and without ties; x must stay a permutation. Own
     * generator, so that the later tests see the same urand() stream. */
    static float a[5000], b[5000];
    uint64_t s = 12345;
    for (int trial = 0; trial < 60; trial++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        size_t n = 1 + (size_t)(s >> 33) % 5000;
        for (size_t i = 0; i < n; i++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            uint32_t u = (uint32_t)(s >> 32);
            a[i] = b[i] = trial % 2 ? (float)(u % 20) : (float)u / 4294967296.0f - 0.5f;
        }
        qsort(b, n, sizeof *b, cmp_float);
        size_t k = (size_t)(s >> 40) % n;
        assert_true(ae_select_kth(a, n, k) == b[k]);
        qsort(a, n, sizeof *a, cmp_float);
        assert_memory_equal(a, b, n * sizeof *a);
    }
}

static void test_noise_sigma(void **st) {
    (void)st;
    int h = 160, w = 200;
    float *p = noise_plane(h, w, 3.0f, 100.0f);
    /* a smooth gradient and a galaxy must not bias it much */
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) p[(size_t)y * w + x] += 0.5f * x + 0.2f * y;
    add_gauss(p, h, w, 100, 80, 8, 300);
    float s;
    assert_int_equal(ae_noise_sigma(p, h, w, &s), AE_OK);
    printf("noise sigma: true 3.0, estimated %.3f\n", s);
    assert_true(fabsf(s - 3.0f) < 0.15f);
    p[5] = NAN;
    assert_int_equal(ae_noise_sigma(p, h, w, &s), AE_OK);
    assert_true(fabsf(s - 3.0f) < 0.15f);
    /* flat quantised data: MAD is 0, RMS fallback gives a small positive value */
    for (size_t i = 0; i < (size_t)h * w; i++) p[i] = (i % 97 == 0) ? 1.0f : 0.0f;
    assert_int_equal(ae_noise_sigma(p, h, w, &s), AE_OK);
    assert_true(s > 0.0f && s < 0.5f);
    free(p);
}

/* ---- bilateral ---- */

/* Brute-force bilateral in double with exp(), the definition in denoise.h. */
static void bilateral_ref(double *out, const float *in, int c, int h, int w, float ss, const float *sr, int R) {
    size_t hw = (size_t)h * w;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            size_t p = (size_t)y * w + x;
            double num[3] = {0, 0, 0}, den = 0;
            int nanc = 0;
            for (int ch = 0; ch < c; ch++) nanc |= !isfinite(in[ch * hw + p]);
            for (int dy = -R; dy <= R; dy++)
                for (int dx = -R; dx <= R; dx++) {
                    int yy = y + dy, xx = x + dx;
                    if (yy < 0 || yy >= h || xx < 0 || xx >= w || dx * dx + dy * dy > R * R) continue;
                    size_t q = (size_t)yy * w + xx;
                    double d2 = 0;
                    int bad = 0;
                    for (int ch = 0; ch < c; ch++) {
                        double d = ((double)in[ch * hw + p] - in[ch * hw + q]) / sr[ch];
                        bad |= !isfinite(in[ch * hw + q]);
                        d2 += d * d;
                    }
                    if (bad) continue;
                    double wt = exp(-(dx * dx + dy * dy) / (2.0 * ss * ss)) * exp(-d2 / (2.0 * c));
                    den += wt;
                    for (int ch = 0; ch < c; ch++) num[ch] += wt * in[ch * hw + q];
                }
            /* a pixel with a NaN channel is left as it is (NaN stays NaN) */
            for (int ch = 0; ch < c; ch++) out[ch * hw + p] = nanc ? in[ch * hw + p] : num[ch] / den;
        }
}

static void check_bilateral(int c, int h, int w, float ss, float srv, int with_nan) {
    size_t n = (size_t)c * h * w, hw = (size_t)h * w;
    float *in = malloc(n * sizeof *in), *out = malloc(n * sizeof *out);
    double *ref = malloc(n * sizeof *ref);
    assert_true(in && out && ref);
    for (int ch = 0; ch < c; ch++)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) /* a step edge, a ramp and noise */
                in[ch * hw + (size_t)y * w + x] = (x > w / 2 ? 5.0f : 0.0f) + 0.05f * y * (ch + 1) + (float)nrand();
    if (with_nan) in[hw / 2 + 3] = NAN, in[7] = NAN;
    float sr[3] = {srv, 1.5f * srv, 0.7f * srv};
    int R = (int)ceilf(2 * ss);
    assert_int_equal(ae_bilateral(out, in, c, h, w, ss, sr, 0), AE_OK);
    bilateral_ref(ref, in, c, h, w, ss, sr, R);
    double maxerr = 0;
    for (size_t i = 0; i < n; i++) {
        if (isnan(ref[i]) || isnan(in[i])) {
            assert_true(isnan(out[i]) && isnan(in[i]));
            continue;
        }
        assert_true(isfinite(out[i]));
        double e = fabs(out[i] - ref[i]);
        if (e > maxerr) maxerr = e;
    }
    printf("bilateral c=%d %dx%d sigma_s=%.1f sigma_r=%.2f: max |fast - brute force| = %.2e\n", c, w, h, ss, srv,
           maxerr);
    assert_true(maxerr < 2e-4); /* data span ~10: relative 2e-5 */
    free(in);
    free(out);
    free(ref);
}

static void test_bilateral_vs_bruteforce(void **st) {
    (void)st;
    check_bilateral(1, 37, 45, 2.0f, 2.0f, 0);
    check_bilateral(1, 30, 29, 1.3f, 0.5f, 1);
    check_bilateral(3, 33, 41, 2.0f, 2.0f, 1);
    check_bilateral(3, 20, 7, 3.0f, 10.0f, 0);
}

static void test_bilateral_edges_and_args(void **st) {
    (void)st;
    int h = 32, w = 32;
    float *in = noise_plane(h, w, 0.0f, 0.0f), *out = malloc((size_t)h * w * sizeof *out);
    for (int y = 0; y < h; y++)
        for (int x = w / 2; x < w; x++) in[(size_t)y * w + x] = 10.0f;
    float sr = 1.0f;
    assert_int_equal(ae_bilateral(out, in, 1, h, w, 2.0f, &sr, 0), AE_OK);
    assert_true(fabsf(out[16 * w + 15] - 0.0f) < 1e-3f && fabsf(out[16 * w + 16] - 10.0f) < 1e-3f); /* kept */
    sr = 1e6f;
    assert_int_equal(ae_bilateral(out, in, 1, h, w, 2.0f, &sr, 0), AE_OK);
    assert_true(out[16 * w + 15] > 2.0f && out[16 * w + 16] < 8.0f); /* huge sigma_r: a Gaussian blur */
    sr = 0.0f;
    assert_int_equal(ae_bilateral(out, in, 1, h, w, 2.0f, &sr, 0), AE_ERR_ARG);
    sr = 1.0f;
    assert_int_equal(ae_bilateral(out, in, 1, h, w, -1.0f, &sr, 0), AE_ERR_ARG);
    assert_int_equal(ae_bilateral(out, in, 4, h, w, 2.0f, &sr, 0), AE_ERR_ARG);
    free(in);
    free(out);
}

/* ---- NCC ---- */

/* Pearson correlation by its textbook formula over valid window pixels. */
static double pearson(const float *img, int h, int w, int y, int x, const float *t, int r, double *amp) {
    double mi = 0, mt = 0;
    int n = 0;
    for (int j = -r; j <= r; j++)
        for (int i = -r; i <= r; i++)
            if (y + j >= 0 && y + j < h && x + i >= 0 && x + i < w && isfinite(img[(y + j) * w + x + i]))
                mi += img[(y + j) * w + x + i], mt += t[(j + r) * (2 * r + 1) + i + r], n++;
    if (2 * n < (2 * r + 1) * (2 * r + 1) + 1) return 0.0 * (*amp = 0.0); /* too few: ncc_map gives 0 */
    mi /= n, mt /= n;
    double sit = 0, sii = 0, stt = 0;
    for (int j = -r; j <= r; j++)
        for (int i = -r; i <= r; i++)
            if (y + j >= 0 && y + j < h && x + i >= 0 && x + i < w && isfinite(img[(y + j) * w + x + i])) {
                double a = img[(y + j) * w + x + i] - mi, b = t[(j + r) * (2 * r + 1) + i + r] - mt;
                sit += a * b, sii += a * a, stt += b * b;
            }
    *amp = sit / stt;
    return sit / sqrt(sii * stt);
}

static void test_ncc_against_formula(void **st) {
    (void)st;
    int h = 40, w = 50, r = 4;
    float *img = noise_plane(h, w, 1.0f, 3.0f);
    add_gauss(img, h, w, 20.3f, 17.6f, 1.5f, 12.0f);
    img[5 * w + 5] = NAN;
    float t[81], k[9], *ncc = malloc((size_t)h * w * 4), *amp = malloc((size_t)h * w * 4);
    float *ncc2 = malloc((size_t)h * w * 4), *amp2 = malloc((size_t)h * w * 4);
    ae_psf_template(t, r, 1.5f, 0.0f);
    for (int i = -r; i <= r; i++) k[i + r] = expf(-(float)(i * i) / (2 * 1.5f * 1.5f));
    assert_int_equal(ae_ncc_map(ncc, amp, img, h, w, t, 9, 9), AE_OK);
    assert_int_equal(ae_ncc_map_sep(ncc2, amp2, img, h, w, k, r), AE_OK);
    double e1 = 0, e2 = 0;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            size_t p = (size_t)y * w + x;
            if (!isfinite(img[p])) {
                assert_true(ncc[p] == 0.0f && ncc2[p] == 0.0f);
                continue;
            }
            double a, r0 = pearson(img, h, w, y, x, t, r, &a);
            e1 = fmax(e1, fabs(r0 - ncc[p]) + fabs(a - amp[p]) / 10);
            e2 = fmax(e2, fabs(ncc[p] - ncc2[p]) + fabs(amp[p] - amp2[p]) / 10);
        }
    /* without NaN the separable path takes the template sums from 1-D edge sums */
    img[5 * w + 5] = 3.0f;
    assert_int_equal(ae_ncc_map(ncc, amp, img, h, w, t, 9, 9), AE_OK);
    assert_int_equal(ae_ncc_map_sep(ncc2, amp2, img, h, w, k, r), AE_OK);
    double e3 = 0;
    for (size_t p = 0; p < (size_t)h * w; p++) e3 = fmax(e3, fabs(ncc[p] - ncc2[p]) + fabs(amp[p] - amp2[p]) / 10);
    printf("ncc: max error direct vs formula %.2e, separable vs direct %.2e (with NaN), %.2e (without)\n", e1, e2,
           e3);
    assert_true(e3 < 2e-3);
    assert_true(e1 < 1e-5 && e2 < 2e-3);
    /* the star's centre correlates strongly and the amplitude is its height */
    assert_int_equal(ae_ncc_map(ncc, amp, img, h, w, t, 9, 9), AE_OK);
    size_t c = (size_t)18 * w + 20;
    assert_true(ncc[c] > 0.9f && fabsf(amp[c] - 12.0f) < 2.0f);
    /* an exact copy of the template correlates 1 */
    float img2[81];
    for (int i = 0; i < 81; i++) img2[i] = 2.0f + 5.0f * t[i];
    float one, a;
    ae_ncc_at(img2, 9, 9, 4, 4, t, 9, 9, &one, &a);
    assert_true(fabsf(one - 1.0f) < 1e-5f && fabsf(a - 5.0f) < 1e-4f);
    assert_int_equal(ae_ncc_map(ncc, amp, img, h, w, t, 8, 9), AE_ERR_ARG);
    free(img), free(ncc), free(amp), free(ncc2), free(amp2);
}

/* ---- detection ---- */

typedef struct {
    float x, y, s, amp;
} star;

/* A galaxy (exponential disc + compact bulge) at the centre of noise sigma 1. */
static float *galaxy_field(int h, int w) {
    float *p = noise_plane(h, w, 1.0f, 10.0f);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            float dx = x - w / 2.0f, dy = (y - h / 2.0f) * 1.4f, r = sqrtf(dx * dx + dy * dy);
            p[(size_t)y * w + x] += 60.0f * expf(-r / 9.0f);
        }
    add_gauss(p, h, w, w / 2.0f, h / 2.0f, 1.6f, 40.0f); /* star-like bulge: must be protected */
    return p;
}

static int find_det(const ae_detections *d, float x, float y, float tol) {
    for (size_t k = 0; k < d->n; k++)
        if (fabsf(d->items[k].x - x) <= tol && fabsf(d->items[k].y - y) <= tol) return (int)k;
    return -1;
}

static void test_detect_stars_spare_galaxy(void **st) {
    (void)st;
    int h = 160, w = 176;
    float *p = galaxy_field(h, w);
    const star stars[] = {{20.3f, 25.6f, 1.0f, 12}, {140.0f, 30.2f, 1.5f, 20}, {35.5f, 130.1f, 2.2f, 30},
                          {150.7f, 140.4f, 0.8f, 15}, {70.2f, 40.0f, 1.2f, 25}, {118.0f, 100.0f, 1.0f, 30}};
    size_t ns = sizeof stars / sizeof *stars;
    for (size_t i = 0; i < ns; i++) add_gauss(p, h, w, stars[i].x, stars[i].y, stars[i].s, stars[i].amp);
    ae_detect_opts o;
    ae_detect_opts_default(&o);
    o.sigma[0] = 1.0f;
    ae_detections d = {0};
    uint8_t *mask = malloc((size_t)h * w);
    assert_int_equal(ae_detect_artifacts(p, 1, h, w, &o, &d, mask), AE_OK);
    for (size_t k = 0; k < d.n; k++)
        printf("  det %zu: (%.1f, %.1f) s=%.1f snr=%.1f %s\n", k, d.items[k].x, d.items[k].y, d.items[k].scale,
               d.items[k].snr, ae_art_kind_name(d.items[k].kind));
    for (size_t i = 0; i < ns; i++) {
        int k = find_det(&d, stars[i].x, stars[i].y, 1.5f);
        if (k < 0) printf("star %zu at (%.1f, %.1f) not found\n", i, stars[i].x, stars[i].y);
        assert_true(k >= 0);
        assert_true(mask[(size_t)lrintf(stars[i].y) * w + (size_t)lrintf(stars[i].x)]);
    }
    size_t extra = d.n - ns;
    printf("detections: %zu (%zu injected stars), protected core r=%.1f at (%.1f, %.1f)\n", d.n, ns, d.core_r,
           d.core_x, d.core_y);
    assert_true(extra <= 1);
    assert_true(d.core_r > 2.0f && fabsf(d.core_x - w / 2.0f) < 3 && fabsf(d.core_y - h / 2.0f) < 3);
    /* the galaxy's core and the pixels around it are not masked */
    for (int y = h / 2 - 8; y <= h / 2 + 8; y++)
        for (int x = w / 2 - 8; x <= w / 2 + 8; x++) assert_int_equal(mask[(size_t)y * w + x], 0);
    ae_detections_free(&d);
    free(mask);
    free(p);
}

/* Faint round background galaxies (sigma 3.3 px, just wider than the
 * largest artifact scale) off the main object are kept, compact dots of
 * similar significance are found: the compact fit must beat the extended
 * probes by a margin (EXT_MARGIN in points.c). */
static void test_detect_background_galaxies_kept(void **st) {
    (void)st;
    int h = 160, w = 160;
    float *p = noise_plane(h, w, 1.0f, 10.0f);
    const star dots[] = {{30.2f, 30.7f, 1.0f, 12}, {125.5f, 40.1f, 2.0f, 8}, {40.0f, 120.3f, 1.5f, 10}};
    const star gals[] = {{120.0f, 120.0f, 3.3f, 6}, {80.0f, 25.0f, 3.3f, 8}, {25.0f, 75.0f, 3.6f, 6}};
    for (int i = 0; i < 3; i++) add_gauss(p, h, w, dots[i].x, dots[i].y, dots[i].s, dots[i].amp);
    for (int i = 0; i < 3; i++) add_gauss(p, h, w, gals[i].x, gals[i].y, gals[i].s, gals[i].amp);
    ae_detect_opts o;
    ae_detect_opts_default(&o);
    o.sigma[0] = 1.0f;
    o.threshold = 7.0f; /* the CLI's default */
    ae_detections d = {0};
    uint8_t *mask = malloc((size_t)h * w);
    assert_int_equal(ae_detect_artifacts(p, 1, h, w, &o, &d, mask), AE_OK);
    for (size_t k = 0; k < d.n; k++)
        printf("  det %zu: (%.1f, %.1f) s=%.1f snr=%.1f %s\n", k, d.items[k].x, d.items[k].y, d.items[k].scale,
               d.items[k].snr, ae_art_kind_name(d.items[k].kind));
    for (int i = 0; i < 3; i++) assert_true(find_det(&d, dots[i].x, dots[i].y, 1.5f) >= 0);
    for (int i = 0; i < 3; i++) assert_true(find_det(&d, gals[i].x, gals[i].y, 4.0f) < 0);
    ae_detections_free(&d);
    free(mask);
    free(p);
}

static void test_detect_hot_pixels(void **st) {
    (void)st;
    int h = 64, w = 64;
    float *p = noise_plane(h, w, 1.0f, 100.0f);
    add_gauss(p, h, w, 40, 40, 1.2f, 60.0f); /* a star: not a hot pixel */
    const int hx[3] = {10, 50, 22}, hy[3] = {12, 8, 50};
    for (int i = 0; i < 3; i++) p[hy[i] * w + hx[i]] += 25.0f;
    float *sig = noise_plane(h, w, 0.0f, 1.0f);
    uint8_t *mask = calloc((size_t)h * w, 1);
    ae_detections d = {0};
    assert_int_equal(ae_detect_hot(p, sig, h, w, 6.0f, 0, &d, mask), AE_OK);
    assert_int_equal(d.n, 3);
    for (int i = 0; i < 3; i++) {
        int k = find_det(&d, (float)hx[i], (float)hy[i], 0.0f);
        assert_true(k >= 0 && d.items[k].kind == AE_ART_HOT_PIXEL);
    }
    size_t masked = 0;
    for (size_t q = 0; q < (size_t)h * w; q++) masked += mask[q];
    assert_int_equal(masked, 3);
    ae_detections_free(&d);
    free(mask), free(sig), free(p);
}

static void test_detect_cosmic_ray(void **st) {
    (void)st;
    int h = 80, w = 80;
    float *p = noise_plane(h, w, 1.0f, 50.0f);
    add_gauss(p, h, w, 60, 20, 1.5f, 40.0f); /* a well-sampled star must not be a CR */
    int track = 0;
    for (int t = 0; t < 14; t++) { /* a diagonal track, 1-2 px wide */
        int x = 15 + t, y = 40 + t / 2;
        p[y * w + x] += 30.0f;
        track++;
    }
    float *sig = noise_plane(h, w, 0.0f, 1.0f);
    uint8_t *mask = calloc((size_t)h * w, 1);
    ae_detections d = {0};
    assert_int_equal(ae_detect_cosmic(p, sig, h, w, 5.0f, 4.0f, 0, &d, mask), AE_OK);
    int hit = 0;
    for (int t = 0; t < 14; t++) hit += mask[(40 + t / 2) * w + 15 + t];
    printf("cosmic ray: %d of %d track pixels masked, %zu groups\n", hit, track, d.n);
    assert_true(hit >= 13);
    assert_true(d.n >= 1 && d.n <= 2 && d.items[0].kind == AE_ART_COSMIC_RAY);
    for (int y = 17; y <= 23; y++)
        for (int x = 57; x <= 63; x++) assert_int_equal(mask[y * w + x], 0);
    ae_detections_free(&d);
    free(mask), free(sig), free(p);
}

/* A mono field of undersampled stars (PSF sigma 0.65 px, as Spitzer/IRAC)
 * with injected hits: with keep_stars the stars stay, single-pixel hits,
 * short tracks and hot pixels are still removed. L.A.Cosmic's fine-structure
 * test alone takes such stars for cosmic rays. */
static void test_keep_stars_mono_undersampled(void **st) {
    (void)st;
    int h = 128, w = 128, ns = 36, nc = 24;
    size_t hw = (size_t)h * w;
    float *p = noise_plane(h, w, 5.0f, 100.0f), sx[36], sy[36];
    int cx[24], cy[24], len[24];
    for (int k = 0; k < ns; k++) { /* a jittered grid: no blends */
        sx[k] = 14.0f + 20.0f * (float)(k % 6) + (float)(4.0 * urand() - 2.0);
        sy[k] = 14.0f + 20.0f * (float)(k / 6) + (float)(4.0 * urand() - 2.0);
        add_gauss(p, h, w, sx[k], sy[k], 0.65f, 5.0f * (float)pow(10.0, 1.3 + 2.0 * urand()));
    }
    for (int k = 0; k < nc; k++) {
        int ok = 0;
        while (!ok) { /* hits away from the stars, so that each pixel has one truth */
            cx[k] = 5 + (int)(urand() * (w - 10)), cy[k] = 5 + (int)(urand() * (h - 10));
            ok = 1;
            for (int j = 0; j < ns; j++) ok &= hypotf((float)cx[k] - sx[j], (float)cy[k] - sy[j]) > 6.0f;
        }
        len[k] = k % 3 == 2 ? 3 : 1; /* single pixels (and hot pixels) and short tracks */
        float amp = 5.0f * (float)pow(10.0, 1.5 + 1.0 * urand());
        for (int t = 0; t < len[k]; t++) p[(size_t)cy[k] * w + cx[k] + t] += amp;
    }
    ae_detect_opts o;
    ae_detect_opts_default(&o);
    o.sigma[0] = 5.0f;
    o.keep_stars = 1;
    ae_detections d = {0};
    uint8_t *mask = malloc(hw);
    assert_int_equal(ae_detect_artifacts(p, 1, h, w, &o, &d, mask), AE_OK);
    int stars_hit = 0, crs_hit = 0;
    for (int k = 0; k < ns; k++) stars_hit += mask[(size_t)lrintf(sy[k]) * w + lrintf(sx[k])] != 0;
    for (int k = 0; k < nc; k++) {
        int all = 1;
        for (int t = 0; t < len[k]; t++) all &= mask[(size_t)cy[k] * w + cx[k] + t] != 0;
        crs_hit += all;
    }
    printf("mono, keep_stars, PSF sigma 0.65: %d of %d stars masked, %d of %d hits masked (%zu cosmic-ray, %zu hot "
           "detections)\n", stars_hit, ns, crs_hit, nc, d.count[AE_ART_COSMIC_RAY], d.count[AE_ART_HOT_PIXEL]);
    assert_true(stars_hit <= ns / 10);
    assert_true(crs_hit >= nc - 2);
    ae_detections_free(&d);
    free(mask), free(p);
}

/* A track in one channel of an RGB frame whose channels differ in sky and
 * noise: ae_detect_artifacts finds it on the channel maximum in sigmas. */
static void test_detect_cosmic_ray_one_channel(void **st) {
    (void)st;
    int h = 80, w = 80;
    size_t hw = (size_t)h * w;
    float *img = malloc(3 * hw * sizeof *img);
    const float level[3] = {120.0f, 40.0f, 10.0f}, sigma[3] = {4.0f, 1.0f, 0.5f};
    for (int ch = 0; ch < 3; ch++) {
        float *p = noise_plane(h, w, sigma[ch], level[ch]);
        memcpy(img + ch * hw, p, hw * sizeof *p);
        free(p);
    }
    for (int t = 0; t < 14; t++) img[2 * hw + (size_t)(40 + t / 2) * w + 15 + t] += 12.0f; /* blue only: 24 sigma */
    ae_detect_opts o;
    ae_detect_opts_default(&o);
    for (int ch = 0; ch < 3; ch++) o.sigma[ch] = sigma[ch];
    ae_detections d = {0};
    uint8_t *mask = malloc(hw);
    assert_int_equal(ae_detect_artifacts(img, 3, h, w, &o, &d, mask), AE_OK);
    int hit = 0;
    for (int t = 0; t < 14; t++) hit += mask[(40 + t / 2) * w + 15 + t] != 0;
    size_t masked = 0;
    for (size_t q = 0; q < hw; q++) masked += mask[q] != 0;
    printf("one-channel cosmic ray: %d of 14 track pixels masked, %zu masked in all, %zu cosmic-ray groups\n", hit,
           masked, d.count[AE_ART_COSMIC_RAY]);
    assert_true(hit >= 13 && d.count[AE_ART_COSMIC_RAY] >= 1);
    assert_true(masked < 60); /* the noise elsewhere, 4x higher in red, is left alone */
    ae_detections_free(&d);
    free(mask), free(img);
}

static void test_detect_colours(void **st) {
    (void)st;
    int h = 96, w = 96;
    size_t hw = (size_t)h * w;
    float *img = malloc(3 * hw * sizeof *img);
    for (int ch = 0; ch < 3; ch++) {
        float *p = noise_plane(h, w, 0.01f, 0.05f);
        memcpy(img + ch * hw, p, hw * sizeof *p);
        free(p);
    }
    add_gauss(img + 0 * hw, h, w, 20, 20, 1.2f, 0.3f); /* red dot */
    add_gauss(img + 1 * hw, h, w, 20, 20, 1.2f, 0.05f);
    add_gauss(img + 2 * hw, h, w, 70, 25, 1.2f, 0.3f); /* blue dot */
    add_gauss(img + 1 * hw, h, w, 70, 25, 1.2f, 0.06f);
    for (int ch = 0; ch < 3; ch++) add_gauss(img + ch * hw, h, w, 30, 75, 1.5f, 0.25f); /* white star */
    ae_detect_opts o;
    ae_detect_opts_default(&o);
    o.sigma[0] = o.sigma[1] = o.sigma[2] = 0.01f;
    ae_detections d = {0};
    uint8_t *mask = malloc(hw);
    assert_int_equal(ae_detect_artifacts(img, 3, h, w, &o, &d, mask), AE_OK);
    for (size_t k = 0; k < d.n; k++)
        printf("  det %zu: (%.1f, %.1f) s=%.1f snr=%.1f %s\n", k, d.items[k].x, d.items[k].y, d.items[k].scale,
               d.items[k].snr, ae_art_kind_name(d.items[k].kind));
    int r = find_det(&d, 20, 20, 1), b = find_det(&d, 70, 25, 1), s = find_det(&d, 30, 75, 1);
    assert_true(r >= 0 && b >= 0 && s >= 0);
    assert_int_equal(d.items[r].kind, AE_ART_RED_DOT);
    assert_int_equal(d.items[b].kind, AE_ART_BLUE_DOT);
    assert_int_equal(d.items[s].kind, AE_ART_STAR);
    assert_int_equal(d.count[AE_ART_RED_DOT], 1);
    assert_true(mask[75 * w + 30]);
    ae_detections_free(&d);
    /* keep_stars: the coloured dots go, the white star stays unmasked */
    o.keep_stars = 1;
    d = (ae_detections){0}; /* the per-kind counts add up across calls */
    assert_int_equal(ae_detect_artifacts(img, 3, h, w, &o, &d, mask), AE_OK);
    assert_true(find_det(&d, 20, 20, 1) >= 0 && find_det(&d, 70, 25, 1) >= 0);
    assert_true(find_det(&d, 30, 75, 1) < 0 && d.count[AE_ART_STAR] == 0);
    assert_false(mask[75 * w + 30]);
    assert_true(mask[20 * w + 20] && mask[25 * w + 70]);
    ae_detections_free(&d);
    free(mask), free(img);
}

/* ---- inpainting ---- */

static void test_telea_properties(void **st) {
    (void)st;
    int h = 40, w = 48;
    size_t hw = (size_t)h * w;
    float *img = malloc(hw * sizeof *img), *orig = malloc(hw * sizeof *orig);
    uint8_t *mask = calloc(hw, 1);
    for (int y = 14; y < 22; y++)
        for (int x = 20; x < 27; x++) mask[y * w + x] = 1;
    mask[3 * w + 3] = 1;
    /* a constant is filled exactly */
    for (size_t q = 0; q < hw; q++) img[q] = mask[q] ? -99.0f : 7.5f;
    assert_int_equal(ae_inpaint_telea(img, 1, h, w, mask, 5), AE_OK);
    for (size_t q = 0; q < hw; q++) assert_true(fabsf(img[q] - 7.5f) < 1e-5f);
    /* a linear ramp: first-order extrapolation keeps it; pixels outside the hole are untouched */
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) orig[y * w + x] = img[y * w + x] = 0.3f * x - 0.2f * y + 4.0f;
    for (size_t q = 0; q < hw; q++)
        if (mask[q]) img[q] = 1000.0f;
    img[30 * w + 40] = NAN; /* a NaN outside the hole stays NaN and is not used */
    orig[30 * w + 40] = NAN;
    assert_int_equal(ae_inpaint_telea(img, 1, h, w, mask, 5), AE_OK);
    double maxerr = 0;
    for (size_t q = 0; q < hw; q++) {
        if (isnan(orig[q])) {
            assert_true(isnan(img[q]));
            continue;
        }
        if (!mask[q]) assert_true(img[q] == orig[q]);
        else maxerr = fmax(maxerr, fabs(img[q] - orig[q]));
    }
    printf("telea: max error on a linear ramp %.3g (ramp step 0.3/px)\n", maxerr);
    assert_true(maxerr < 0.05);
    /* a hole with nothing known around it stays as it was */
    memset(mask, 1, hw);
    assert_int_equal(ae_inpaint_telea(img, 1, h, w, mask, 5), AE_OK);
    assert_int_equal(ae_inpaint_telea(img, 1, h, w, mask, 0), AE_ERR_ARG);
    free(img), free(orig), free(mask);
}

static void test_biharmonic_quadratic(void **st) {
    (void)st;
    int h = 40, w = 40;
    size_t hw = (size_t)h * w;
    float *img = malloc(hw * sizeof *img), *orig = malloc(hw * sizeof *orig);
    uint8_t *mask = calloc(hw, 1);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            float u = (x - 20) / 10.0f, v = (y - 20) / 10.0f;
            orig[y * w + x] = img[y * w + x] = 5 + 2 * u - v + u * u + 0.5f * u * v - v * v;
            if ((x - 20) * (x - 20) + (y - 19) * (y - 19) <= 36) mask[y * w + x] = 1, img[y * w + x] = 0;
        }
    assert_int_equal(ae_inpaint_telea(img, 1, h, w, mask, 5), AE_OK);
    double e_telea = 0, e_bh = 0;
    for (size_t q = 0; q < hw; q++) e_telea = fmax(e_telea, fabs(img[q] - orig[q]));
    assert_int_equal(ae_inpaint_biharmonic(img, 1, h, w, mask, 400), AE_OK);
    for (size_t q = 0; q < hw; q++) e_bh = fmax(e_bh, fabs(img[q] - orig[q]));
    printf("quadratic surface, r=6 hole: max error telea %.3g, biharmonic %.3g\n", e_telea, e_bh);
    assert_true(e_bh < 0.01 && e_bh < e_telea); /* biharmonic reproduces quadratics */
    free(img), free(orig), free(mask);
}

/* Noise sigma (Laplacian-residual MAD) inside the 20x20 hole at (25, 20). */
static double hole_sigma(const float *img, int w) {
    float sub[400], s;
    for (int y = 0; y < 20; y++)
        for (int x = 0; x < 20; x++) sub[y * 20 + x] = img[(20 + y) * w + 25 + x];
    assert_int_equal(ae_noise_sigma(sub, 20, 20, &s), AE_OK);
    return s;
}

static void test_inpaint_texture(void **st) {
    (void)st;
    int h = 64, w = 64;
    size_t hw = (size_t)h * w;
    float *base = noise_plane(h, w, 2.0f, 20.0f), *a = malloc(hw * 4), *b = malloc(hw * 4);
    uint8_t *mask = calloc(hw, 1);
    for (int y = 20; y < 40; y++)
        for (int x = 25; x < 45; x++) mask[y * w + x] = 1;
    ae_inpaint_opts o;
    ae_inpaint_opts_default(&o);
    memcpy(a, base, hw * 4);
    memcpy(b, base, hw * 4);
    o.texture = 0;
    assert_int_equal(ae_inpaint(a, 1, h, w, mask, &o), AE_OK);
    double smooth = hole_sigma(a, w);
    o.texture = 1;
    memcpy(a, base, hw * 4);
    assert_int_equal(ae_inpaint(a, 1, h, w, mask, &o), AE_OK);
    assert_int_equal(ae_inpaint(b, 1, h, w, mask, &o), AE_OK);
    assert_memory_equal(a, b, hw * 4); /* deterministic */
    double textured = hole_sigma(a, w);
    printf("noise sigma inside the hole: smooth fill %.3f, textured %.3f (surroundings: 2)\n", smooth, textured);
    assert_true(smooth < 0.6 && textured > 1.6 && textured < 2.4);
    o.seed = 99;
    memcpy(b, base, hw * 4);
    assert_int_equal(ae_inpaint(b, 1, h, w, mask, &o), AE_OK);
    assert_true(memcmp(a, b, hw * 4) != 0);
    for (size_t q = 0; q < hw; q++)
        if (!mask[q]) assert_true(a[q] == base[q]);
    free(base), free(a), free(b), free(mask);
}

/* Holes on a low positive sky next to a bright undersampled star (a
 * Spitzer-like frame): Telea's extrapolation of the star's steep wing and
 * the texture must not take the fill outside [min, max] of the hole's 2 px
 * ring, so no negative holes on a sky of ~2. */
static void test_inpaint_stays_in_ring(void **st) {
    (void)st;
    int h = 48, w = 48;
    size_t hw = (size_t)h * w;
    float *img = noise_plane(h, w, 0.3f, 2.0f);
    for (size_t q = 0; q < hw; q++) img[q] = fmaxf(img[q], 0.6f);
    uint8_t *mask = calloc(hw, 1);
    const float cx[3] = {12.3f, 30.6f, 24.0f}, cy[3] = {12.7f, 20.2f, 36.5f};
    for (int k = 0; k < 3; k++) {
        add_gauss(img, h, w, cx[k], cy[k], 0.7f, 3000.0f);
        for (int y = 0; y < h; y++) /* a hole beside the star, its edge on the wing */
            for (int x = 0; x < w; x++) {
                float dx = (float)x - (cx[k] + 3.5f), dy = (float)y - cy[k];
                if (dx * dx + dy * dy <= 6.0f) mask[y * w + x] = 1;
            }
    }
    float rmin = INFINITY;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            int near = 0;
            for (int j = -2; j <= 2; j++)
                for (int i = -2; i <= 2; i++) {
                    int yy = y + j, xx = x + i;
                    near |= yy >= 0 && yy < h && xx >= 0 && xx < w && mask[yy * w + xx];
                }
            if (near && !mask[y * w + x]) rmin = fminf(rmin, img[y * w + x]);
        }
    ae_inpaint_opts o;
    ae_inpaint_opts_default(&o);
    for (int tex = 0; tex <= 1; tex++) {
        float *a = malloc(hw * sizeof *a);
        memcpy(a, img, hw * sizeof *a);
        o.texture = tex;
        assert_int_equal(ae_inpaint(a, 1, h, w, mask, &o), AE_OK);
        float fmin = INFINITY;
        int below = 0;
        for (size_t q = 0; q < hw; q++)
            if (mask[q]) {
                fmin = fminf(fmin, a[q]);
                below += a[q] < rmin;
            }
        printf("holes beside stars (texture %d): fill min %.3g, ring min %.3g, %d pixels below it\n", tex, fmin,
               rmin, below);
        assert_int_equal(below, 0);
        assert_true(fmin > 0.0f);
        free(a);
    }
    free(img), free(mask);
}

/* ---- the stage ---- */

extern const ae_stage_def ae_stage_denoise;

static void test_stage_run_keeps_nan_and_header(void **st) {
    (void)st;
    ae_image *in = NULL, *out = NULL;
    int w = 64, h = 48;
    assert_int_equal(ae_image_create(&in, w, h, 1), AE_OK);
    float *p = noise_plane(h, w, 5.0f, 1000.0f);
    add_gauss(p, h, w, 40, 20, 1.2f, 200.0f);
    p[10 * w + 7] += 150.0f; /* hot pixel */
    memcpy(in->data, p, (size_t)w * h * 4);
    in->data[30 * w + 30] = NAN;
    assert_int_equal(ae_header_append(&in->hdr, "OBJECT  = 'TEST    '"), AE_OK);
    void *opts = malloc(ae_stage_denoise.opts_size);
    ae_stage_denoise.opts_init(opts);
    char *argv[] = {"denoise", "--strength", "1.5", "--method=all", "--strength", "x"};
    assert_int_equal(ae_stage_parse_opt(&ae_stage_denoise, opts, 6, argv, 1), 2);
    assert_int_equal(ae_stage_parse_opt(&ae_stage_denoise, opts, 6, argv, 3), 1);
    assert_int_equal(ae_stage_parse_opt(&ae_stage_denoise, opts, 6, argv, 4), -1);
    assert_int_equal(ae_stage_parse_opt(&ae_stage_denoise, opts, 6, argv, 0), 0);
    char *rm[] = {"--remove-stars"}; /* star removal is no longer the default */
    assert_int_equal(ae_stage_parse_opt(&ae_stage_denoise, opts, 1, rm, 0), 1);
    ae_result res;
    memset(&res, 0, sizeof res);
    assert_int_equal(ae_stage_denoise.run(NULL, opts, in, &out, NULL, &res), AE_OK);
    assert_true(isnan(out->data[30 * w + 30]));
    assert_int_equal(ae_image_nan_count(out), 1);
    assert_true(ae_header_find(&out->hdr, "OBJECT") >= 0);
    assert_true(fabsf(out->data[10 * w + 7] - 1000.0f) < 20.0f); /* hot pixel gone */
    assert_true(out->data[20 * w + 40] < 1100.0f);                /* star gone */
    printf("json: %s\nhistory: %s\n", res.json, res.history);
    assert_non_null(strstr(res.json, "\"hot_pixel\": 1"));
    assert_non_null(strstr(res.history, "strength=1.5"));
    ae_image_free(out);
    ae_image_free(in);
    free(opts);
    free(p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_select_kth),
        cmocka_unit_test(test_noise_sigma),
        cmocka_unit_test(test_bilateral_vs_bruteforce),
        cmocka_unit_test(test_bilateral_edges_and_args),
        cmocka_unit_test(test_ncc_against_formula),
        cmocka_unit_test(test_detect_stars_spare_galaxy),
        cmocka_unit_test(test_detect_background_galaxies_kept),
        cmocka_unit_test(test_detect_hot_pixels),
        cmocka_unit_test(test_detect_cosmic_ray),
        cmocka_unit_test(test_detect_cosmic_ray_one_channel),
        cmocka_unit_test(test_keep_stars_mono_undersampled),
        cmocka_unit_test(test_detect_colours),
        cmocka_unit_test(test_telea_properties),
        cmocka_unit_test(test_biharmonic_quadratic),
        cmocka_unit_test(test_inpaint_texture),
        cmocka_unit_test(test_inpaint_stays_in_ring),
        cmocka_unit_test(test_stage_run_keeps_nan_and_header),
    };
    return cmocka_run_group_tests_name("denoise", tests, NULL, NULL);
}
