/* test_stretch.c - stretches and their inverses (src/io/stretch.c), and
 * ae_median_mad against a sort-based reference. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include "astroenh/io.h"
#include "astroenh/stretch.h"

/* Stated round-trip tolerances, max |invert(apply(x)) - x| / (hi - lo) over
 * pixels inside [lo, hi] of the sky-like test image below. The MTF bound is
 * looser because its fitted curve is flat at the bright end (mid ~ 5e-3), so a
 * float ulp of the stretched value near 1 is worth ~1/mid ulps of t. */
#define TOL_LINEAR 1e-6
#define TOL_ASINH 2e-6
#define TOL_MTF 2e-5

static unsigned long long g_rng = 88172645463325252ull;
static double urand(void) {
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return (double)(g_rng >> 11) / 9007199254740992.0;
}
static double nrand(void) { return sqrt(-2.0 * log(urand() + 1e-300)) * cos(6.283185307179586 * urand()); }

/* A 16-bit-camera-like frame: sky 1000 +- 30, a few stars up to 60000, some NaN. */
static ae_image *sky_image(int w, int h, int c) {
    ae_image *img;
    assert_int_equal(ae_image_create(&img, w, h, c), AE_OK);
    size_t n = (size_t)w * h * c;
    for (size_t i = 0; i < n; i++) img->data[i] = (float)(1000.0 + 30.0 * nrand());
    for (int s = 0; s < 40; s++) {
        int cx = (int)(urand() * w), cy = (int)(urand() * h);
        double peak = 2000 + urand() * 58000;
        for (int ch = 0; ch < c; ch++)
            for (int y = cy - 4; y <= cy + 4; y++)
                for (int x = cx - 4; x <= cx + 4; x++)
                    if (x >= 0 && y >= 0 && x < w && y < h)
                        ae_image_plane(img, ch)[y * w + x] +=
                            (float)(peak * exp(-((x - cx) * (x - cx) + (y - cy) * (y - cy)) / 3.0));
    }
    for (int k = 0; k < 25; k++) img->data[(size_t)(urand() * n)] = NAN;
    return img;
}

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

static float ref_median(float *a, size_t n) {
    qsort(a, n, sizeof *a, cmp_float);
    return n % 2 ? a[n / 2] : (float)(((double)a[n / 2 - 1] + a[n / 2]) / 2.0);
}

static void test_median_small(void **s) {
    (void)s;
    float med, mad;
    assert_int_equal(ae_median_mad((const float[]){5, 1, 3}, 3, &med, &mad), AE_OK);
    assert_float_equal(med, 3.0f, 0.0f);
    assert_float_equal(mad, 2.0f, 0.0f);
    assert_int_equal(ae_median_mad((const float[]){4, 1, 3, 2}, 4, &med, &mad), AE_OK);
    assert_float_equal(med, 2.5f, 0.0f);
    assert_float_equal(mad, 1.0f, 0.0f);
    assert_int_equal(ae_median_mad((const float[]){NAN, 7, INFINITY, 9, -INFINITY, 8}, 6, &med, &mad), AE_OK);
    assert_float_equal(med, 8.0f, 0.0f);
    assert_float_equal(mad, 1.0f, 0.0f);
    assert_int_equal(ae_median_mad((const float[]){NAN, NAN}, 2, &med, &mad), AE_ERR_ARG);
    assert_true(isnan(med));
}

/* Value i of test distribution `kind`: 0 Gaussian, 1 four distinct values,
 * 2 Gaussian plus huge outliers, 3 heavy tail (powers of two over 200
 * octaves), 4 constant. */
static float dist_value(int kind, size_t i) {
    switch (kind) {
    case 1: return (float)(int)(urand() * 4);
    case 2: return i % 1000 == 7 ? 1e30f : (float)nrand();
    case 3: return ldexpf(1.0f, (int)(urand() * 200) - 100);
    case 4: return 3.5f;
    default: return (float)nrand();
    }
}

/* Both code paths (copy + quickselect below 2^18 values, histogram above), odd
 * and even n, against qsort. */
static void test_median_vs_sort(void **s) {
    (void)s;
    const size_t sizes[] = {1, 2, 101, 1000, 100001, 100000, 300001, 300000};
    for (int kind = 0; kind < 5; kind++)
        for (size_t t = 0; t < sizeof sizes / sizeof *sizes; t++) {
            size_t n = sizes[t];
            float *x = malloc(n * sizeof *x), *ref = malloc(n * sizeof *ref);
            assert_non_null(x);
            assert_non_null(ref);
            for (size_t i = 0; i < n; i++) x[i] = dist_value(kind, i);
            memcpy(ref, x, n * sizeof *x);
            float want = ref_median(ref, n);
            for (size_t i = 0; i < n; i++) ref[i] = fabsf(x[i] - want);
            float want_mad = ref_median(ref, n), med, mad;
            assert_int_equal(ae_median_mad(x, n, &med, &mad), AE_OK);
            if (med != want || mad != want_mad)
                fail_msg("n=%zu kind=%d: median %g mad %g, want %g %g", n, kind, med, mad, want, want_mad);
            free(x);
            free(ref);
        }
}

/* 4000x4000 must be quick; the CPU time is printed (not asserted: shared machine). */
static void test_median_large(void **s) {
    (void)s;
    size_t n = (size_t)4000 * 4000;
    float *x = malloc(n * sizeof *x);
    assert_non_null(x);
    for (size_t i = 0; i < n; i++) x[i] = (float)(1000.0 + 30.0 * nrand());
    float med, mad;
    struct timespec t0, t1;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
    assert_int_equal(ae_median_mad(x, n, &med, &mad), AE_OK);
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t1);
    print_message("median/MAD of 4000x4000: %.3f s CPU (median %.2f, MAD %.2f)\n",
                  (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9, med, mad);
    assert_true(fabsf(med - 1000.0f) < 0.1f);
    assert_true(fabsf(mad - 30.0f * 0.6745f) < 0.1f); /* MAD of a Gaussian = 0.6745 sigma */
    free(x);
}

static void round_trip(ae_stretch_kind kind, double tol) {
    ae_image *img = sky_image(200, 150, 3), *orig;
    assert_int_equal(ae_image_clone(&orig, img), AE_OK);
    ae_stretch st;
    assert_int_equal(ae_stretch_fit(&st, img, kind), AE_OK);
    assert_int_equal(st.kind, kind);
    ae_stretch_apply(&st, img);
    assert_int_equal(img->range, AE_RANGE_DISPLAY);
    size_t n = ae_image_npix(img) * 3, inside = 0, clipped = 0;
    for (size_t i = 0; i < n; i++) {
        if (isnan(orig->data[i])) {
            assert_true(isnan(img->data[i]));
            continue;
        }
        assert_true(img->data[i] >= 0.0f && img->data[i] <= 1.0f);
    }
    ae_stretch_invert(&st, img);
    assert_int_equal(img->range, AE_RANGE_LINEAR);
    double worst = 0, range = (double)st.hi - st.lo;
    for (size_t i = 0; i < n; i++) {
        float x = orig->data[i], y = img->data[i];
        if (isnan(x)) {
            assert_true(isnan(y));
        } else if (x < st.lo || x > st.hi) {
            assert_float_equal(y, x < st.lo ? st.lo : st.hi, 0.0f);
            clipped++;
        } else {
            double e = fabs((double)y - x) / range;
            if (e > worst) worst = e;
            inside++;
        }
    }
    print_message("%s: lo %.2f hi %.2f mid %.5f; %zu inside, %zu clipped; max rel error %.3g\n",
                  ae_stretch_name(kind), st.lo, st.hi, st.mid, inside, clipped, worst);
    assert_true(inside > n / 2);
    assert_true(worst <= tol);
    ae_image_free(img);
    ae_image_free(orig);
}

static void test_round_trip_linear(void **s) { (void)s; round_trip(AE_STRETCH_LINEAR, TOL_LINEAR); }
static void test_round_trip_asinh(void **s) { (void)s; round_trip(AE_STRETCH_ASINH, TOL_ASINH); }
static void test_round_trip_mtf(void **s) { (void)s; round_trip(AE_STRETCH_MTF, TOL_MTF); }

/* LINEAR spans the true finite min..max of all channels together. */
static void test_linear_fit(void **s) {
    (void)s;
    ae_image *img;
    assert_int_equal(ae_image_create(&img, 2, 2, 3), AE_OK);
    const float v[12] = {5, 6, NAN, 7, 8, -3, 9, 10, 11, 12, 40, INFINITY};
    memcpy(img->data, v, sizeof v);
    ae_stretch st;
    assert_int_equal(ae_stretch_fit(&st, img, AE_STRETCH_LINEAR), AE_OK);
    assert_float_equal(st.lo, -3.0f, 0.0f);
    assert_float_equal(st.hi, 40.0f, 0.0f);
    ae_stretch_apply(&st, img);
    assert_float_equal(img->data[5], 0.0f, 0.0f);
    assert_float_equal(img->data[10], 1.0f, 0.0f);
    assert_float_equal(img->data[0], 8.0f / 43.0f, 1e-7f);
    assert_true(isnan(img->data[2]));
    assert_float_equal(img->data[11], 1.0f, 0.0f); /* +inf clips to 1 */
    ae_image_free(img);
}

/* MTF: the median lands on 0.25, shadows clip at median - 2.8 * 1.4826 * MAD. */
static void test_mtf_median(void **s) {
    (void)s;
    ae_image *img = sky_image(301, 201, 1); /* odd pixel count */
    size_t n = ae_image_npix(img);
    float med, mad, mn = INFINITY, mx = -INFINITY;
    assert_int_equal(ae_median_mad(img->data, n, &med, &mad), AE_OK);
    for (size_t i = 0; i < n; i++)
        if (isfinite(img->data[i])) {
            mn = fminf(mn, img->data[i]);
            mx = fmaxf(mx, img->data[i]);
        }
    ae_stretch st;
    assert_int_equal(ae_stretch_fit(&st, img, AE_STRETCH_MTF), AE_OK);
    assert_float_equal(st.lo, med - 2.8f * 1.4826f * mad, 1e-2f);
    assert_float_equal(st.hi, mx, 0.0f);
    assert_true(st.mid > 0.0f && st.mid < 0.5f);
    ae_stretch_apply(&st, img);
    float med2, mad2;
    assert_int_equal(ae_median_mad(img->data, n, &med2, &mad2), AE_OK);
    print_message("mtf: median %.2f -> %.6f (mid %.6f)\n", med, med2, st.mid);
    assert_float_equal(med2, 0.25f, 1e-5f);
    ae_image_free(img);
}

/* The soft asinh: MTF's black and white points, the median at 0.25, a round
 * trip, and an inverse far less steep at white than MTF's. */
static void test_soft_asinh(void **s) {
    (void)s;
    ae_image *img = sky_image(301, 201, 1), *copy = NULL;
    size_t n = ae_image_npix(img);
    assert_int_equal(ae_image_clone(&copy, img), AE_OK);
    ae_stretch soft, mtf;
    assert_int_equal(ae_stretch_fit(&mtf, img, AE_STRETCH_MTF), AE_OK);
    assert_int_equal(ae_stretch_fit_soft(&soft, img), AE_OK);
    assert_int_equal(soft.kind, AE_STRETCH_ASINH);
    assert_float_equal(soft.lo, mtf.lo, 0.0f);
    assert_float_equal(soft.hi, mtf.hi, 0.0f);
    ae_stretch_apply(&soft, img);
    float med, mad;
    assert_int_equal(ae_median_mad(img->data, n, &med, &mad), AE_OK);
    /* slope of the inverse at white, in units of (hi - lo) per display unit */
    double b = soft.beta, slope_soft = asinh(b) * sqrt(1.0 + b * b) / b, slope_mtf = (1.0 - mtf.mid) / mtf.mid;
    print_message("soft asinh: beta %.4g, median -> %.6f, inverse slope at white %.3g (MTF %.3g)\n", b, med,
                  slope_soft, slope_mtf);
    assert_float_equal(med, 0.25f, 1e-4f);
    assert_true(slope_soft * 10.0 < slope_mtf);
    ae_stretch_invert(&soft, img);
    double worst = 0;
    for (size_t i = 0; i < n; i++)
        if (isfinite(copy->data[i]) && copy->data[i] >= soft.lo)
            worst = fmax(worst, fabs(img->data[i] - copy->data[i]) / ((double)soft.hi - soft.lo));
    assert_true(worst < TOL_ASINH * 10);
    ae_image_free(img);
    ae_image_free(copy);
}

/* Out-of-range display values map to the clip bounds on inversion. */
static void test_invert_clips(void **s) {
    (void)s;
    ae_image *img;
    assert_int_equal(ae_image_create(&img, 4, 1, 1), AE_OK);
    const float v[4] = {-0.5f, 1.5f, NAN, 0.5f};
    memcpy(img->data, v, sizeof v);
    ae_stretch st = {.kind = AE_STRETCH_MTF, .lo = 100, .hi = 300, .beta = 10, .mid = 0.1f};
    ae_stretch_invert(&st, img);
    assert_float_equal(img->data[0], 100.0f, 0.0f);
    assert_float_equal(img->data[1], 300.0f, 0.0f);
    assert_true(isnan(img->data[2]));
    /* MTF(0.5; 1 - 0.1) = 0.1, so 0.5 -> 100 + 0.1 * 200 */
    assert_float_equal(img->data[3], 120.0f, 1e-3f);
    ae_image_free(img);
}

static void test_flat_and_empty(void **s) {
    (void)s;
    ae_image *img;
    assert_int_equal(ae_image_create(&img, 3, 3, 1), AE_OK);
    for (int i = 0; i < 9; i++) img->data[i] = 7.0f;
    ae_stretch st;
    for (int k = AE_STRETCH_LINEAR; k <= AE_STRETCH_MTF; k++) {
        assert_int_equal(ae_stretch_fit(&st, img, (ae_stretch_kind)k), AE_OK);
        assert_true(st.lo < st.hi);
        ae_image *cp;
        assert_int_equal(ae_image_clone(&cp, img), AE_OK);
        ae_stretch_apply(&st, cp);
        for (int i = 0; i < 9; i++) assert_true(isfinite(cp->data[i]));
        ae_image_free(cp);
    }
    for (int i = 0; i < 9; i++) img->data[i] = NAN;
    assert_int_equal(ae_stretch_fit(&st, img, AE_STRETCH_MTF), AE_ERR_ARG);
    assert_int_equal(ae_stretch_fit(&st, img, AE_STRETCH_NONE), AE_OK);
    ae_image_free(img);
}

static void test_parse_name(void **s) {
    (void)s;
    assert_int_equal(ae_stretch_parse("linear"), AE_STRETCH_LINEAR);
    assert_int_equal(ae_stretch_parse("ASINH"), AE_STRETCH_ASINH);
    assert_int_equal(ae_stretch_parse("auto"), AE_STRETCH_MTF);
    assert_int_equal(ae_stretch_parse("mtf"), AE_STRETCH_MTF);
    assert_int_equal(ae_stretch_parse("none"), AE_STRETCH_NONE);
    assert_int_equal((int)ae_stretch_parse("log"), -1);
    for (int k = AE_STRETCH_NONE; k <= AE_STRETCH_MTF; k++)
        assert_int_equal(ae_stretch_parse(ae_stretch_name((ae_stretch_kind)k)), k);
}

/* Real frames (tests/data/fits: DSS plate crop, DECaLS float g/r/z crop, SAAO
 * CCD crop): MTF puts the median at 0.25 (0.25 +- 1e-3: even pixel counts
 * average two neighbours), and FITS -> stretch -> 16-bit PNG -> invert comes
 * back within half a 16-bit code of the stretched value, mapped back (the
 * PNG holds a cube's planes in wavelength order, red first). */
static void test_real_frames(void **s) {
    (void)s;
    const char *names[3] = {"horsehead_crop.fits", "decals_crop.fits", "saao_crop.fits"};
    for (int f = 0; f < 3; f++) {
        char path[300], png[300];
        const char *dir = getenv("AE_TEST_DATA");
        snprintf(path, sizeof path, "%s/fits/%s", dir ? dir : "tests/data", names[f]);
        snprintf(png, sizeof png, "/tmp/ae_test_stretch_%d.png", (int)getpid());
        ae_image *img = NULL, *orig, *back = NULL;
        if (ae_image_load(&img, path) != AE_OK) fail_msg("%s: %s", path, ae_error_message());
        assert_int_equal(img->range, AE_RANGE_LINEAR);
        assert_int_equal(ae_image_clone(&orig, img), AE_OK);
        ae_stretch st;
        assert_int_equal(ae_stretch_fit(&st, img, AE_STRETCH_MTF), AE_OK);
        ae_stretch_apply(&st, img);
        size_t n = ae_image_npix(img) * img->c;
        float med, mad;
        assert_int_equal(ae_median_mad(img->data, n, &med, &mad), AE_OK);
        assert_int_equal(ae_image_save(img, png, &(ae_save_opts){.bit_depth = 16}), AE_OK);
        assert_int_equal(ae_image_load(&back, png), AE_OK);
        unlink(png);
        ae_stretch_invert(&st, back);
        double worst = 0, range = (double)st.hi - st.lo;
        int plane[3]; /* PNG colour c holds image plane plane[c] (a g/r/z cube: z is red) */
        ae_image_rgb_planes(orig, plane);
        size_t np = ae_image_npix(img);
        for (size_t i = 0; i < n; i++) {
            size_t j = (size_t)plane[i / np] * np + i % np;
            float x = orig->data[j];
            if (isnan(x) || x < st.lo) continue;
            /* the bound: half a code of y, through the inverse curve's slope at y */
            double y = img->data[j], h = 0.5 / 65535;
            double y0 = y - h < 0 ? 0 : y - h, y1 = y + h > 1 ? 1 : y + h;
            double t0 = (1 - st.mid - 1) * y0 / ((2 * (1 - st.mid) - 1) * y0 - (1 - st.mid));
            double t1 = (1 - st.mid - 1) * y1 / ((2 * (1 - st.mid) - 1) * y1 - (1 - st.mid));
            double e = fabs((double)back->data[i] - x) / range, bound = (t1 - t0) + 1e-6;
            if (e > bound) fail_msg("%s pixel %zu: error %.3g > bound %.3g", names[f], i, e, bound);
            if (e > worst) worst = e;
        }
        print_message("%s: %dx%dx%d, mtf mid %.5f, stretched median %.5f; via 16-bit PNG max rel error %.3g\n",
                      names[f], img->w, img->h, img->c, st.mid, med, worst);
        assert_float_equal(med, 0.25f, 1e-3f);
        ae_image_free(img);
        ae_image_free(orig);
        ae_image_free(back);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_median_small),      cmocka_unit_test(test_median_vs_sort),
        cmocka_unit_test(test_median_large),      cmocka_unit_test(test_round_trip_linear),
        cmocka_unit_test(test_round_trip_asinh),  cmocka_unit_test(test_round_trip_mtf),
        cmocka_unit_test(test_linear_fit),        cmocka_unit_test(test_mtf_median),
        cmocka_unit_test(test_invert_clips),      cmocka_unit_test(test_flat_and_empty),
        cmocka_unit_test(test_parse_name),        cmocka_unit_test(test_real_frames),
        cmocka_unit_test(test_soft_asinh),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
