/* test_lab.c - sRGB <-> Lab (src/colorize/lab.c): published reference values,
 * agreement with scripts/astrodata.py (values printed by PyTorch in float64),
 * round trips, and that the gamut mapping keeps L* exact. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <cmocka.h>
#include "astroenh/color.h"

/* Tolerances: Lab values in Lab units against float64 references; sRGB round
 * trips in [0,1] units (float32 powf/cbrtf). */
#define TOL_LAB 2e-3
#define TOL_RT 2e-5

static unsigned long long g_rng = 0x9E3779B97F4A7C15ull;
static float urand(void) {
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return (float)((g_rng >> 40) / 16777216.0);
}

static void test_reference_values(void **state) {
    (void)state;
    /* rgb, then L a b from scripts/astrodata.py rgb_to_lab in float64 */
    static const double ref[][6] = {
        {1, 0, 0, 53.2408, 80.0925, 67.2032},   {0, 1, 0, 87.7347, -86.1827, 83.1793},
        {0, 0, 1, 32.2970, 79.1875, -107.8602}, {1, 1, 1, 100.0, 0.0, 0.0},
        {0.5, 0.5, 0.5, 53.3890, 0.0, 0.0},     {0.2, 0.4, 0.6, 42.0082, -0.1517, -32.8461},
        {0, 0, 0, 0, 0, 0}};
    double maxerr = 0;
    for (size_t i = 0; i < sizeof ref / sizeof ref[0]; i++) {
        float L, A, B;
        ae_srgb_to_lab((float)ref[i][0], (float)ref[i][1], (float)ref[i][2], &L, &A, &B);
        double e = fmax(fabs(L - ref[i][3]), fmax(fabs(A - ref[i][4]), fabs(B - ref[i][5])));
        if (e > maxerr) maxerr = e;
        if (e > 0.01 + TOL_LAB) {
            fprintf(stderr, "rgb (%g %g %g): got Lab (%g %g %g), expected (%g %g %g)\n", ref[i][0],
                    ref[i][1], ref[i][2], L, A, B, ref[i][3], ref[i][4], ref[i][5]);
            fail();
        }
    }
    printf("reference Lab values: max error %.2e Lab units (references rounded to 1e-4)\n", maxerr);
}

static void test_round_trip(void **state) {
    (void)state;
    double maxerr = 0;
    for (int i = 0; i < 200000; i++) {
        float c[3] = {urand(), urand(), urand()}, L, A, B, o[3];
        if (i < 8) c[0] = (float)(i & 1), c[1] = (float)((i >> 1) & 1), c[2] = (float)((i >> 2) & 1);
        ae_srgb_to_lab(c[0], c[1], c[2], &L, &A, &B);
        ae_lab_to_srgb(L, A, B, &o[0], &o[1], &o[2]);
        for (int k = 0; k < 3; k++) maxerr = fmax(maxerr, fabs(o[k] - c[k]));
    }
    printf("sRGB -> Lab -> sRGB: max error %.2e (tolerance %.0e)\n", maxerr, TOL_RT);
    assert_true(maxerr < TOL_RT);
}

static void test_grey(void **state) {
    (void)state;
    double maxerr = 0;
    for (int i = 0; i <= 1000; i++) {
        float g = i / 1000.0f, L, A, B;
        ae_srgb_to_lab(g, g, g, &L, &A, &B);
        assert_true(fabsf(ae_grey_to_l(g) - L) < 1e-4f);
        assert_true(fabsf(A) < 2e-3f && fabsf(B) < 2e-3f);
        maxerr = fmax(maxerr, fabs(ae_l_to_grey(ae_grey_to_l(g)) - g));
    }
    assert_true(fabsf(ae_grey_to_l(0.5f) - 53.3890f) < 1e-3f);
    assert_true(maxerr < TOL_RT);
    assert_true(ae_grey_to_l(-1.0f) == 0.0f && fabsf(ae_grey_to_l(2.0f) - 100.0f) < 1e-4f);
}

/* Saturated requests far outside sRGB: the clipped conversion moves L*, the
 * chroma-scaling one keeps it. */
static void test_keep_l(void **state) {
    (void)state;
    double max_clip = 0, max_keep = 0;
    int reduced = 0;
    for (int i = 0; i < 50000; i++) {
        float L = 100.0f * urand(), A = 220.0f * urand() - 110.0f, B = 220.0f * urand() - 110.0f;
        float r, g, b, L2, A2, B2;
        ae_lab_to_srgb(L, A, B, &r, &g, &b);
        ae_srgb_to_lab(r, g, b, &L2, &A2, &B2);
        max_clip = fmax(max_clip, fabs(L2 - L));
        float t = ae_lab_to_srgb_keep_l(L, A, B, &r, &g, &b);
        assert_true(t >= 0.0f && t <= 1.0f);
        reduced += t < 1.0f;
        ae_srgb_to_lab(r, g, b, &L2, &A2, &B2);
        max_keep = fmax(max_keep, fabs(L2 - L));
        if (t == 1.0f && (fabsf(A2 - A) > 0.05f || fabsf(B2 - B) > 0.05f)) {
            fprintf(stderr, "in-gamut Lab (%g %g %g) came back as (%g %g %g)\n", L, A, B, L2, A2, B2);
            fail();
        }
    }
    printf("Lab -> sRGB on random Lab: |dL*| max %.3f with clipping, %.4f with chroma scaling "
           "(%d of 50000 out of gamut)\n", max_clip, max_keep, reduced);
    assert_true(max_clip > 1.0); /* the test does reach out-of-gamut colours */
    assert_true(max_keep < 0.02);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reference_values),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_grey),
        cmocka_unit_test(test_keep_l),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
