/* test_flux.c - flux consistency of `upscale`: every s x s output block
 * averages to the input pixel it came from, to float precision.
 *
 * ae_flux_correct on synthetic data (offsets of 1e4 counts, NaN inputs and
 * outputs), ae_box_down, and the stage on a linear (FITS-like) image with the
 * tiny fast model: correction on by default, off with --no-flux-consistency,
 * NaN blocks, WCS rescaled, the JSON member flux_max_block_err.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "astroenh/io.h"
#include "astroenh/upscale.h"

static float frand(unsigned *s) {
    *s = *s * 1664525u + 1013904223u;
    return (float)(*s >> 8) / 16777216.0f;
}

static void test_correct(void **st) {
    (void)st;
    int scales[2] = {2, 4};
    unsigned seed = 1;
    for (int k = 0; k < 2; k++) {
        int s = scales[k], c = 3, h = 9, w = 7, H = h * s, W = w * s;
        float *in = malloc(sizeof(float) * c * h * w), *out = malloc(sizeof(float) * c * H * W);
        float *back = malloc(sizeof(float) * c * h * w);
        for (int i = 0; i < c * h * w; i++) in[i] = 1e4f + 300.0f * frand(&seed);
        for (int i = 0; i < c * H * W; i++) out[i] = 1e4f + 500.0f * frand(&seed);
        in[5] = NAN;    /* missing input pixel -> NaN block */
        out[W * s + 3 * s] = NAN; /* a NaN output pixel in a finite block is repaired */
        double before = ae_flux_max_error(out, in, c, h, w, s);
        ae_flux_correct(out, in, c, h, w, s);
        double after = ae_flux_max_error(out, in, c, h, w, s);
        assert_true(isinf(before) || before > 1.0);
        assert_true(after <= 1e4 * 2e-7); /* float rounding of values near 1e4 */
        ae_box_down(back, out, c, H, W, s);
        for (int i = 0; i < c * h * w; i++) {
            if (i == 5) {
                assert_true(isnan(back[i]));
                continue;
            }
            assert_true(fabsf(back[i] - in[i]) <= 1e4f * 2e-7f);
        }
        for (int dy = 0; dy < s; dy++)
            for (int dx = 0; dx < s; dx++) assert_true(isnan(out[(size_t)dy * W + 5 * s + dx]));
        printf("  scale %d: max block error %.3g before, %.3g after (values ~1e4)\n", s, before, after);
        free(in);
        free(out);
        free(back);
    }
}

/* The stage on a 1-channel linear image with a WCS, tiny fast model. */
static ae_status run_stage(const char *extra, ae_image **out, ae_result *res) {
    const ae_stage_def *d = &ae_stage_upscale;
    void *opts = calloc(1, d->opts_size), *state = NULL;
    d->opts_init(opts);
    char *argv[] = {"--weights", "tests/golden/sr_tiny_fast.safetensors", (char *)extra};
    int argc = extra ? 3 : 2;
    assert_int_equal(d->parse_opt(opts, argc, argv, 0), 2);
    if (extra) assert_int_equal(d->parse_opt(opts, argc, argv, 2), 1);
    ae_global_opts g = {.device = "cpu", .seed = 1};
    ae_status st = d->prepare(opts, &g, &state);
    ae_image *in = NULL;
    if (st == AE_OK) st = ae_image_create(&in, 20, 16, 1);
    if (st == AE_OK) {
        in->range = AE_RANGE_LINEAR;
        in->src_format = AE_FMT_FITS;
        in->src_bitdepth = 16;
        for (int i = 0; i < 320; i++) in->data[i] = 1000.0f + 800.0f * expf(-(float)((i % 20 - 9) * (i % 20 - 9) + (i / 20 - 7) * (i / 20 - 7)) / 8.0f) + (float)(i % 7);
        in->data[33] = NAN;
        ae_header_append(&in->hdr, "CTYPE1  = 'RA---TAN'");
        ae_header_append(&in->hdr, "CTYPE2  = 'DEC--TAN'");
        ae_header_set_double(&in->hdr, "CRPIX1", 10.5, NULL);
        ae_header_set_double(&in->hdr, "CRPIX2", 8.0, NULL);
        ae_header_set_double(&in->hdr, "CRVAL1", 83.8, NULL);
        ae_header_set_double(&in->hdr, "CRVAL2", -5.4, NULL);
        ae_header_set_double(&in->hdr, "CDELT1", -0.001, NULL);
        ae_header_set_double(&in->hdr, "CDELT2", 0.001, NULL);
        ae_stage_ctx ctx = {"in.fits", "out.fits", &g};
        memset(res, 0, sizeof *res);
        st = d->run(state, opts, in, out, &ctx, res);
        if (st == AE_OK) {
            double err = ae_flux_max_error((*out)->data, in->data, 1, 16, 20, 2);
            printf("  stage %s: max block error %.3g (values ~1e3); json: %s\n", extra ? extra : "(default)", err,
                   res->json);
        }
    }
    ae_image_free(in);
    if (state) d->release(state);
    free(opts);
    return st;
}

static void test_stage(void **st) {
    (void)st;
    ae_image *a = NULL, *b = NULL;
    ae_result ra, rb;
    assert_int_equal(run_stage(NULL, &a, &ra), AE_OK);
    assert_int_equal(run_stage("--no-flux-consistency", &b, &rb), AE_OK);
    assert_int_equal(a->w, 40);
    assert_int_equal(a->h, 32);
    assert_non_null(strstr(ra.json, "\"flux_consistency\": true"));
    assert_non_null(strstr(rb.json, "\"flux_consistency\": false"));
    const char *e = strstr(ra.json, "flux_max_block_err\": ");
    assert_non_null(e);
    double err_on = strtod(e + 21, NULL);
    e = strstr(rb.json, "flux_max_block_err\": ");
    assert_non_null(e);
    double err_off = strtod(e + 21, NULL);
    assert_true(err_on <= 1800.0 * 2e-7); /* float rounding of the ~1e3 values */
    assert_true(err_off > 10 * err_on);
    /* NaN input pixel 33 = (y 1, x 13) -> output block rows 2-3, cols 26-27 */
    assert_true(isnan(a->data[2 * 40 + 26]) && isnan(a->data[3 * 40 + 27]));
    assert_true(isfinite(a->data[2 * 40 + 25]));
    double v;
    assert_true(ae_header_get_double(&a->hdr, "CRPIX1", &v) && fabs(v - 20.5) < 1e-9);
    assert_true(ae_header_get_double(&a->hdr, "CRPIX2", &v) && fabs(v - 15.5) < 1e-9);
    assert_true(ae_header_get_double(&a->hdr, "CDELT1", &v) && fabs(v + 0.0005) < 1e-12);
    assert_int_equal(a->src_bitdepth, -32);
    assert_non_null(strstr(ra.history, "flux=on"));
    assert_non_null(strstr(ra.model_path, "sr_tiny_fast"));
    ae_image_free(a);
    ae_image_free(b);
}

static void test_bad_options(void **st) {
    (void)st;
    const ae_stage_def *d = &ae_stage_upscale;
    void *opts = calloc(1, d->opts_size), *state = NULL;
    d->opts_init(opts);
    char *bad_scale[] = {"--scale", "3"}, *bad_steps[] = {"--steps", "0"}, *samples[] = {"--samples", "4"};
    assert_int_equal(d->parse_opt(opts, 2, bad_scale, 0), -1);
    assert_non_null(strstr(ae_error_message(), "--scale"));
    assert_int_equal(d->parse_opt(opts, 2, bad_steps, 0), -1);
    assert_int_equal(d->parse_opt(opts, 2, samples, 0), 2);
    ae_global_opts g = {.device = "cpu"};
    assert_int_equal(d->prepare(opts, &g, &state), AE_ERR_ARG); /* --samples with the fast net */
    assert_null(state);
    d->opts_init(opts);
    char *missing[] = {"--weights", "/nonexistent/m.safetensors"};
    assert_int_equal(d->parse_opt(opts, 2, missing, 0), 2);
    assert_int_not_equal(d->prepare(opts, &g, &state), AE_OK);
    assert_non_null(strstr(ae_error_message(), "/nonexistent/m.safetensors"));
    d->opts_init(opts);
    char *wrong[] = {"--scale", "4", "--weights", "tests/golden/sr_tiny_fast.safetensors"};
    assert_int_equal(d->parse_opt(opts, 4, wrong, 0), 2);
    assert_int_equal(d->parse_opt(opts, 4, wrong, 2), 2);
    assert_int_equal(d->prepare(opts, &g, &state), AE_ERR_ARG); /* a 2x model asked for 4x */
    assert_non_null(strstr(ae_error_message(), "scale 2"));
    free(opts);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_correct),
        cmocka_unit_test(test_stage),
        cmocka_unit_test(test_bad_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
