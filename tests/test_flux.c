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
        ae_flux_correct(out, in, NULL, NULL, c, h, w, s);
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
    assert_int_equal(ae_stage_parse_opt(d, opts, argc, argv, 0), 2);
    if (extra) assert_int_equal(ae_stage_parse_opt(d, opts, argc, argv, 2), 1);
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

/* A wild block over a compact star: bounded correction keeps the mean and
 * every pixel inside the 3 x 3 input range; the additive one does not. */
static void test_bounded(void **st) {
    (void)st;
    int h = 5, w = 5;
    float in[25];
    for (int i = 0; i < 25; i++) in[i] = 2.0f + 0.1f * (float)(i % 3);
    in[12] = 367.0f; /* the star pixel */
    in[11] = 40.0f;
    for (int s = 2; s <= 4; s += 2) {
        int H = h * s, W = w * s;
        float *out = malloc(sizeof(float) * H * W), *add = malloc(sizeof(float) * H * W);
        float lo[25], hi[25];
        unsigned seed = 7;
        for (int i = 0; i < H * W; i++) out[i] = 2.0f + 3000.0f * (frand(&seed) - 0.5f); /* ringing */
        memcpy(add, out, sizeof(float) * H * W);
        ae_flux_bounds(lo, hi, in, 1, h, w);
        assert_true(lo[12] == 2.0f && hi[12] == 367.0f);
        ae_flux_correct(out, in, lo, hi, 1, h, w, s);
        ae_flux_correct(add, in, NULL, NULL, 1, h, w, s);
        int outside = 0, outside_add = 0;
        for (int Y = 0; Y < H; Y++)
            for (int X = 0; X < W; X++) {
                int i = (Y / s) * w + X / s;
                outside += out[Y * W + X] < lo[i] || out[Y * W + X] > hi[i];
                outside_add += add[Y * W + X] < lo[i] || add[Y * W + X] > hi[i];
            }
        double err = ae_flux_max_error(out, in, 1, h, w, s);
        printf("  bounded, scale %d: %d pixels outside the local range (additive: %d), block error %.3g\n", s,
               outside, outside_add, err);
        assert_int_equal(outside, 0);
        assert_true(outside_add > 0);
        assert_true(err <= 367.0 * 2e-7);
        free(out);
        free(add);
    }
}

/* A Spitzer-like frame: float32, a low background of ~1-3 with noise, bright
 * compact (sigma 0.7 px, undersampled) stars up to ~4000. */
static ae_image *spitzer_like(int w, int h) {
    ae_image *in = NULL;
    assert_int_equal(ae_image_create(&in, w, h, 1), AE_OK);
    in->range = AE_RANGE_LINEAR;
    in->src_format = AE_FMT_FITS;
    in->src_bitdepth = -32;
    unsigned seed = 11;
    for (int i = 0; i < w * h; i++) in->data[i] = 1.5f + 0.6f * frand(&seed);
    for (int k = 0; k < 12; k++) {
        float cx = 4.0f + (float)(w - 8) * frand(&seed), cy = 4.0f + (float)(h - 8) * frand(&seed);
        float amp = powf(10.0f, 0.7f + 2.9f * frand(&seed));
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                float d2 = ((float)x - cx) * ((float)x - cx) + ((float)y - cy) * ((float)y - cy);
                in->data[y * w + x] += amp * expf(-d2 / (2.0f * 0.49f));
            }
    }
    return in;
}

static ae_status run_on(ae_image *in, const char *extra, ae_image **out) {
    const ae_stage_def *d = &ae_stage_upscale;
    void *opts = calloc(1, d->opts_size), *state = NULL;
    d->opts_init(opts);
    char *argv[] = {"--weights", "tests/golden/sr_tiny_fast.safetensors", (char *)extra};
    int argc = extra ? 3 : 2;
    assert_int_equal(ae_stage_parse_opt(d, opts, argc, argv, 0), 2);
    if (extra) assert_int_equal(ae_stage_parse_opt(d, opts, argc, argv, 2), 1);
    ae_global_opts g = {.device = "cpu", .seed = 1};
    ae_result res;
    memset(&res, 0, sizeof res);
    ae_stage_ctx ctx = {"in.fits", "out.fits", &g};
    ae_status st = d->prepare(opts, &g, &state);
    if (st == AE_OK) st = d->run(state, opts, in, out, &ctx, &res);
    if (state) d->release(state);
    free(opts);
    return st;
}

/* Output pixels outside [min, max] of the 3 x 3 input pixels around their
 * source (float rounding allowed), and new negatives. */
static void range_check(const ae_image *in, const ae_image *out, int s, int *outside, int *neg) {
    float *lo = malloc(sizeof(float) * in->w * in->h), *hi = malloc(sizeof(float) * in->w * in->h);
    ae_flux_bounds(lo, hi, in->data, 1, in->h, in->w);
    *outside = *neg = 0;
    for (int Y = 0; Y < out->h; Y++)
        for (int X = 0; X < out->w; X++) {
            int i = (Y / s) * in->w + X / s;
            float v = out->data[Y * out->w + X], tol = 1e-6f * fabsf(hi[i]);
            *outside += v < lo[i] - tol || v > hi[i] + tol;
            *neg += v < 0.0f;
        }
    free(lo);
    free(hi);
}

static void test_linear_range(void **st) {
    (void)st;
    ae_image *in = spitzer_like(48, 40), *a = NULL, *b = NULL;
    float mn = INFINITY, mx = -INFINITY;
    for (int i = 0; i < 48 * 40; i++) mn = fminf(mn, in->data[i]), mx = fmaxf(mx, in->data[i]);
    assert_int_equal(run_on(in, NULL, &a), AE_OK);
    assert_int_equal(run_on(in, "--no-flux-consistency", &b), AE_OK);
    int out_a, neg_a, out_b, neg_b;
    range_check(in, a, 2, &out_a, &neg_a);
    range_check(in, b, 2, &out_b, &neg_b);
    double err = ae_flux_max_error(a->data, in->data, 1, 40, 48, 2), tot_in = 0, tot_out = 0;
    for (int i = 0; i < 48 * 40; i++) tot_in += in->data[i];
    for (int i = 0; i < 96 * 80; i++) tot_out += a->data[i];
    printf("  Spitzer-like %.3g..%.3g: outside the local range %d (flux on), %d (off); negatives %d, %d; "
           "block error %.3g; sum ratio %.6f\n", mn, mx, out_a, out_b, neg_a, neg_b, err, tot_out / tot_in);
    assert_int_equal(out_a, 0);
    assert_int_equal(out_b, 0);
    assert_int_equal(neg_a, 0);
    assert_int_equal(neg_b, 0);
    assert_true(err <= mx * 2e-7);
    assert_true(fabs(tot_out / tot_in - 4.0) < 1e-5); /* block means kept: sums x s^2 */
    ae_image_free(in);
    ae_image_free(a);
    ae_image_free(b);
}

/* Surface brightness is kept, so zero points for sums move by 5 log10 s. */
static void test_photometry_keywords(void **st) {
    (void)st;
    ae_image *in = spitzer_like(24, 20), *out = NULL;
    ae_header_set_double(&in->hdr, "MAGZP", 20.0, NULL);
    ae_header_set_double(&in->hdr, "PHOTFLAM", 4e-18, NULL);
    ae_header_set_string(&in->hdr, "BUNIT", "MJy/sr", NULL);
    assert_int_equal(run_on(in, NULL, &out), AE_OK);
    double v;
    assert_true(ae_header_get_double(&out->hdr, "MAGZP", &v));
    printf("  MAGZP 20 -> %.6f at 2x\n", v);
    assert_true(fabs(v - (20.0 + 5.0 * log10(2.0))) < 1e-9);
    assert_true(ae_header_get_double(&out->hdr, "PHOTFLAM", &v) && fabs(v - 1e-18) < 1e-27);
    assert_true(ae_header_get_double(&out->hdr, "UPSCALE", &v) && v == 2.0);
    assert_true(ae_header_find(&out->hdr, "FLUXCONS") >= 0);
    assert_true(ae_header_find(&out->hdr, "BUNIT") >= 0);
    /* the input's sum over a block equals the output's over its s x s pixels / s^2 */
    double si = 0, so = 0;
    for (int i = 0; i < 24 * 20; i++) si += in->data[i];
    for (int i = 0; i < 48 * 40; i++) so += out->data[i];
    assert_true(fabs(so / si - 4.0) < 1e-5);
    ae_image_free(in);
    ae_image_free(out);
}

static void test_bad_options(void **st) {
    (void)st;
    const ae_stage_def *d = &ae_stage_upscale;
    void *opts = calloc(1, d->opts_size), *state = NULL;
    d->opts_init(opts);
    char *bad_scale[] = {"--scale", "3"}, *bad_steps[] = {"--steps", "0"}, *samples[] = {"--samples", "4"};
    assert_int_equal(ae_stage_parse_opt(d, opts, 2, bad_scale, 0), -1);
    assert_non_null(strstr(ae_error_message(), "--scale"));
    assert_int_equal(ae_stage_parse_opt(d, opts, 2, bad_steps, 0), -1);
    assert_int_equal(ae_stage_parse_opt(d, opts, 2, samples, 0), 2);
    ae_global_opts g = {.device = "cpu"};
    assert_int_equal(d->prepare(opts, &g, &state), AE_ERR_ARG); /* --samples with the fast net */
    assert_null(state);
    d->opts_init(opts);
    char *missing[] = {"--weights", "/nonexistent/m.safetensors"};
    assert_int_equal(ae_stage_parse_opt(d, opts, 2, missing, 0), 2);
    assert_int_not_equal(d->prepare(opts, &g, &state), AE_OK);
    assert_non_null(strstr(ae_error_message(), "/nonexistent/m.safetensors"));
    d->opts_init(opts);
    char *twice[] = {"--scale", "4", "--weights", "tests/golden/sr_tiny_fast.safetensors"};
    assert_int_equal(ae_stage_parse_opt(d, opts, 4, twice, 0), 2);
    assert_int_equal(ae_stage_parse_opt(d, opts, 4, twice, 2), 2);
    assert_int_equal(d->prepare(opts, &g, &state), AE_OK); /* a 2x model asked for 4x runs twice */
    d->release(state);
    state = NULL;
    d->opts_init(opts);
    char *wrong[] = {"--scale", "2", "--weights", "models/fast_x4_v1.safetensors"};
    assert_int_equal(ae_stage_parse_opt(d, opts, 4, wrong, 0), 2);
    assert_int_equal(ae_stage_parse_opt(d, opts, 4, wrong, 2), 2);
    assert_int_equal(d->prepare(opts, &g, &state), AE_ERR_ARG); /* a 4x model asked for 2x */
    assert_non_null(strstr(ae_error_message(), "scale 4"));
    free(opts);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_correct),
        cmocka_unit_test(test_stage),
        cmocka_unit_test(test_bounded),
        cmocka_unit_test(test_linear_range),
        cmocka_unit_test(test_photometry_keywords),
        cmocka_unit_test(test_bad_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
