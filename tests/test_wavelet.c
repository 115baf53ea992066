/* test_wavelet.c - wavelet shrinkage (src/denoise/wavelet.c) and the denoise
 * stage's defaults: the starlet noise ratios against white noise, a PSNR gain
 * on synthetic images with white and with level-dependent (Poisson-like)
 * noise, a flat image that stays flat, NaN kept, strength 0 = no change,
 * bad arguments, and the stage's noise gate (a clean 8-bit render comes back
 * unchanged by default, a noisy one is denoised; --remove-stars/--keep-stars). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "astroenh/image.h"
#include "astroenh/stage.h"
#include "astroenh/wavelet.h"

static unsigned long long g_rng = 0x9E3779B97F4A7C15ull;
static double urand(void) {
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return (double)(g_rng >> 11) / 9007199254740992.0;
}
static double nrand(void) { return sqrt(-2.0 * log(urand() + 1e-300)) * cos(6.283185307179586 * urand()); }

/* A sky of `sky` with a few Gaussian sources (a galaxy, stars) per channel. */
static void scene(float *p, int c, int h, int w, float sky) {
    for (int ch = 0; ch < c; ch++)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                float v = sky, dx = x - 0.5f * w, dy = y - 0.45f * h;
                v += (60.0f + 10.0f * ch) * expf(-(dx * dx / 200.0f + dy * dy / 90.0f));
                v += 80.0f * expf(-((x - 20) * (x - 20) + (y - 30) * (y - 30)) / 3.0f);
                v += 40.0f * expf(-((x - 100) * (x - 100) + (y - 90) * (y - 90)) / 2.0f);
                p[((size_t)ch * h + y) * w + x] = v;
            }
}

static double psnr(const float *a, const float *b, size_t n, double range) {
    double se = 0.0;
    for (size_t i = 0; i < n; i++) se += (double)(a[i] - b[i]) * (a[i] - b[i]);
    return 10.0 * log10(range * range / (se / (double)n));
}

/* Reference a trous smoothing (direct, mirror edges) for the ratio test. */
static int refl(int i, int n) {
    while (i < 0 || i >= n) i = i < 0 ? -i : 2 * n - 2 - i;
    return i;
}
static void ref_smooth(float *dst, const float *src, int n, int step) {
    static const float k[5] = {1 / 16.f, 4 / 16.f, 6 / 16.f, 4 / 16.f, 1 / 16.f};
    float *t = malloc((size_t)n * n * sizeof *t);
    assert_non_null(t);
    for (int y = 0; y < n; y++)
        for (int x = 0; x < n; x++) {
            float a = 0;
            for (int q = 0; q < 5; q++) a += k[q] * src[(size_t)refl(y + (q - 2) * step, n) * n + x];
            t[(size_t)y * n + x] = a;
        }
    for (int y = 0; y < n; y++)
        for (int x = 0; x < n; x++) {
            float a = 0;
            for (int q = 0; q < 5; q++) a += k[q] * t[(size_t)y * n + refl(x + (q - 2) * step, n)];
            dst[(size_t)y * n + x] = a;
        }
    free(t);
}

static void test_noise_ratios(void **st) {
    (void)st;
    int n = 384;
    size_t nn = (size_t)n * n;
    float *c = malloc(nn * sizeof *c), *d = malloc(nn * sizeof *d);
    assert_non_null(c), assert_non_null(d);
    for (size_t i = 0; i < nn; i++) c[i] = (float)nrand();
    for (int j = 0; j < 5; j++) {
        ref_smooth(d, c, n, 1 << j);
        double ss = 0;
        int m = 40 << j < n / 3 ? 40 << j : n / 3, cnt = 0; /* away from the mirrored edges */
        for (int y = m; y < n - m; y++)
            for (int x = m; x < n - m; x++, cnt++) ss += (double)(c[(size_t)y * n + x] - d[(size_t)y * n + x]) *
                                                          (c[(size_t)y * n + x] - d[(size_t)y * n + x]);
        double sd = sqrt(ss / cnt), k = ae_wavelet_noise_ratio(j);
        printf("scale %d: detail std %.4f, table %.4f\n", j, sd, k);
        assert_true(fabs(sd - k) < 0.05 * k + 0.002);
        memcpy(c, d, nn * sizeof *c);
    }
    free(c), free(d);
}

static void run_gain(int c, int poisson, double min_gain) {
    int h = 128, w = 160;
    size_t n = (size_t)c * h * w;
    float *clean = malloc(n * sizeof *clean), *img = malloc(n * sizeof *img);
    assert_non_null(clean), assert_non_null(img);
    scene(clean, c, h, w, 100.0f);
    for (size_t i = 0; i < n; i++) img[i] = clean[i] + (float)(nrand() * (poisson ? sqrt(clean[i]) * 0.8 : 6.0));
    double before = psnr(img, clean, n, 200.0);
    ae_wavelet_opts o;
    ae_wavelet_opts_default(&o);
    float sig[3];
    assert_int_equal(ae_wavelet_denoise(img, c, h, w, &o, sig), AE_OK);
    double after = psnr(img, clean, n, 200.0);
    printf("c=%d %s noise: PSNR %.2f -> %.2f dB (sigma %.3g)\n", c, poisson ? "level-dependent" : "white", before,
           after, sig[0]);
    assert_true(after - before >= min_gain);
    free(clean), free(img);
}

static void test_psnr_gain(void **st) {
    (void)st;
    run_gain(1, 0, 6.0);
    run_gain(3, 0, 6.0);
    run_gain(1, 1, 6.0);
    run_gain(3, 1, 6.0);
}

static void test_flat_stays_flat(void **st) {
    (void)st;
    int h = 40, w = 50;
    float *img = malloc(3 * (size_t)h * w * sizeof *img);
    assert_non_null(img);
    for (size_t i = 0; i < 3 * (size_t)h * w; i++) img[i] = i < (size_t)h * w ? 3.5f : i < 2 * (size_t)h * w ? 0.25f : 7.0f;
    ae_wavelet_opts o;
    ae_wavelet_opts_default(&o);
    assert_int_equal(ae_wavelet_denoise(img, 3, h, w, &o, NULL), AE_OK);
    for (size_t i = 0; i < 3 * (size_t)h * w; i++) {
        float want = i < (size_t)h * w ? 3.5f : i < 2 * (size_t)h * w ? 0.25f : 7.0f;
        assert_true(fabsf(img[i] - want) < 1e-5f);
    }
    free(img);
}

static void test_nan_kept(void **st) {
    (void)st;
    int h = 64, w = 64, c = 3;
    size_t hw = (size_t)h * w, n = c * hw;
    float *clean = malloc(n * sizeof *clean), *img = malloc(n * sizeof *img);
    assert_non_null(clean), assert_non_null(img);
    scene(clean, c, h, w, 100.0f);
    for (size_t i = 0; i < n; i++) img[i] = clean[i] + (float)(6.0 * nrand());
    for (int y = 10; y < 20; y++)
        for (int x = 5; x < 30; x++) img[(size_t)y * w + x] = NAN; /* a blank block in channel 0 */
    img[2 * hw + 40 * w + 40] = NAN;                                 /* one pixel in channel 2 */
    ae_wavelet_opts o;
    ae_wavelet_opts_default(&o);
    assert_int_equal(ae_wavelet_denoise(img, c, h, w, &o, NULL), AE_OK);
    size_t nans = 0;
    double se = 0;
    for (size_t i = 0; i < n; i++) {
        if (isnan(img[i])) {
            nans++;
            continue;
        }
        assert_true(isfinite(img[i]));
        se += (img[i] - clean[i]) * (img[i] - clean[i]);
    }
    assert_int_equal(nans, 10 * 25 + 1);
    assert_true(isnan(img[12 * w + 10]) && isnan(img[2 * hw + 40 * w + 40]));
    assert_true(!isnan(img[hw + 12 * w + 10])); /* the other channels of a blank pixel keep values */
    printf("NaN test: rms error of the finite pixels %.2f (noise 6)\n", sqrt(se / (n - nans)));
    assert_true(sqrt(se / (n - nans)) < 4.0);
    free(clean), free(img);
}

static void test_strength_zero_and_args(void **st) {
    (void)st;
    int h = 33, w = 47;
    size_t n = 3 * (size_t)h * w;
    float *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
    assert_non_null(a), assert_non_null(b);
    for (size_t i = 0; i < n; i++) a[i] = b[i] = (float)(100 + 10 * nrand());
    ae_wavelet_opts o;
    ae_wavelet_opts_default(&o);
    o.strength = 0.0f;
    assert_int_equal(ae_wavelet_denoise(a, 3, h, w, &o, NULL), AE_OK);
    for (size_t i = 0; i < n; i++) assert_true(fabsf(a[i] - b[i]) < 1e-3f);
    o.scales = 8; /* scales wider than the image: mirror edges must still hold */
    o.strength = 1.0f;
    assert_int_equal(ae_wavelet_denoise(a, 3, h, w, &o, NULL), AE_OK);
    for (size_t i = 0; i < n; i++) assert_true(isfinite(a[i]));
    o.scales = 0;
    assert_int_equal(ae_wavelet_denoise(a, 3, h, w, &o, NULL), AE_ERR_ARG);
    o.scales = 5;
    assert_int_equal(ae_wavelet_denoise(a, 2, h, w, &o, NULL), AE_ERR_ARG);
    o.strength = -1.0f;
    assert_int_equal(ae_wavelet_denoise(a, 3, h, w, &o, NULL), AE_ERR_ARG);
    float one = 5.0f;
    o.strength = 1.0f;
    assert_int_equal(ae_wavelet_denoise(&one, 1, 1, 1, &o, NULL), AE_OK); /* 1x1: no residuals, unchanged */
    assert_true(one == 5.0f);
    free(a), free(b);
}

/* ---- the stage's defaults ---- */

extern const ae_stage_def ae_stage_denoise;

static ae_image *display_image(float noise) {
    ae_image *img = NULL;
    int h = 96, w = 96;
    assert_int_equal(ae_image_create(&img, w, h, 3), AE_OK);
    scene(img->data, 3, h, w, 20.0f);
    for (size_t i = 0; i < 3 * (size_t)h * w; i++) {
        float v = (img->data[i] + (float)(noise * nrand())) / 255.0f;
        v = v < 0 ? 0 : v > 1 ? 1 : v;
        img->data[i] = roundf(v * 255.0f) / 255.0f;
    }
    img->range = AE_RANGE_DISPLAY;
    img->src_bitdepth = 8;
    return img;
}

static ae_status run_stage(const ae_image *in, ae_image **out, ae_result *res, int argc, char **argv) {
    void *opts = malloc(ae_stage_denoise.opts_size);
    assert_non_null(opts);
    ae_stage_denoise.opts_init(opts);
    for (int i = 0; i < argc;) {
        int k = ae_stage_parse_opt(&ae_stage_denoise, opts, argc, argv, i);
        assert_true(k > 0);
        i += k;
    }
    memset(res, 0, sizeof *res);
    ae_status s = ae_stage_denoise.run(NULL, opts, in, out, NULL, res);
    free(opts);
    return s;
}

static void test_stage_gate(void **st) {
    (void)st;
    ae_image *clean = display_image(3.0f), *out = NULL;
    ae_result res;
    assert_int_equal(run_stage(clean, &out, &res, 0, NULL), AE_OK);
    printf("clean render: %s\n", res.json);
    assert_non_null(strstr(res.json, "\"method\": \"wavelet\""));
    assert_non_null(strstr(res.json, "\"strength\": 0,"));
    assert_memory_equal(out->data, clean->data, 3 * ae_image_npix(clean) * sizeof(float));
    ae_image_free(out);
    char *force[] = {"--strength", "1"};
    assert_int_equal(run_stage(clean, &out, &res, 2, force), AE_OK);
    assert_true(memcmp(out->data, clean->data, 3 * ae_image_npix(clean) * sizeof(float)) != 0);
    ae_image_free(out);

    ae_image *truth = display_image(0.0f), *noisy = display_image(30.0f);
    size_t n = 3 * ae_image_npix(truth);
    assert_int_equal(run_stage(noisy, &out, &res, 0, NULL), AE_OK);
    printf("noisy render: %s\n", res.json);
    double before = psnr(noisy->data, truth->data, n, 1.0), after = psnr(out->data, truth->data, n, 1.0);
    printf("noise 30/255 by default: PSNR %.2f -> %.2f dB\n", before, after);
    assert_true(after > before + 3.0);
    ae_image_free(out);
    char *stars[] = {"--method", "all", "--keep-stars", "--remove-stars"};
    assert_int_equal(run_stage(noisy, &out, &res, 4, stars), AE_OK);
    assert_non_null(strstr(res.history, "remove_stars"));
    ae_image_free(out);
    char *keep[] = {"--method", "artifacts", "--keep-stars"};
    assert_int_equal(run_stage(noisy, &out, &res, 3, keep), AE_OK);
    assert_null(strstr(res.history, "remove_stars"));
    ae_image_free(out);
    ae_image_free(clean), ae_image_free(truth), ae_image_free(noisy);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_noise_ratios),       cmocka_unit_test(test_psnr_gain),
        cmocka_unit_test(test_flat_stays_flat),    cmocka_unit_test(test_nan_kept),
        cmocka_unit_test(test_strength_zero_and_args), cmocka_unit_test(test_stage_gate),
    };
    return cmocka_run_group_tests_name("wavelet", tests, NULL, NULL);
}
