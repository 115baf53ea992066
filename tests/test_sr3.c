/* test_sr3.c - the SR3 U-Net in C against PyTorch.
 *
 * One denoising network evaluation eps = UNet(concat(bicubic(LR), x_t), gamma)
 * on a tiny random-weight model (tests/golden/sr_tiny_sr3.safetensors) and
 * on the shipped models/sr3_x{2,4}.safetensors, with x_t built in
 * scripts/sr_golden.py from the counter-based noise (not torch's generator);
 * references in tests/golden/sr_io.safetensors. Also: the C bicubic that
 * makes the conditioning image equals torch's, bad inputs are refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "astroenh/arena.h"
#include "astroenh/backend.h"
#include "astroenh/sr3.h"
#include "astroenh/upscale.h"
#include "support/golden_util.h"

static ae_weights *IO;

static int setup(void **st) {
    (void)st;
    return ae_weights_open(&IO, "tests/golden/sr_io.safetensors") == AE_OK ? 0 : -1;
}
static int teardown(void **st) {
    (void)st;
    ae_weights_close(IO);
    return 0;
}

static ae_status run_sr3(const ae_sr3 *m, const float *x, int h, int w, float gamma, float *eps) {
    const ae_backend *be = ae_backend_cpu();
    ae_arena *A = NULL;
    ae_status st = ae_arena_create(&A, be);
    for (int pass = 0; pass < 2 && st == AE_OK; pass++) {
        ae_tensor tx = {0}, ty = {0};
        st = ae_arena_tensor(A, &tx, 1, m->in_channel, h, w);
        if (st == AE_OK) st = ae_arena_tensor(A, &ty, 1, m->out_channel, h, w);
        if (st == AE_OK) st = ae_nn_upload(be, A, &tx, x);
        if (st == AE_OK) st = ae_sr3_forward(m, be, A, &tx, gamma, &ty);
        if (st == AE_OK) st = ae_nn_download(be, A, &ty, eps);
        if (st == AE_OK && pass == 0) st = ae_arena_commit(A);
    }
    ae_arena_free(A);
    return st;
}

static const float *io(const char *name, const char *field, ae_tensor *t) {
    char key[96];
    snprintf(key, sizeof key, "%s.%s", name, field);
    *t = golden_tensor(IO, key);
    return t->data;
}

/* A colour model's case: <name>.x (1 x 6 x h x w) -> <name>.eps. */
static void check_colour(const ae_sr3 *m, const char *name, float atol, float rtol) {
    ae_tensor x, ref;
    io(name, "x", &x);
    io(name, "eps", &ref);
    char key[96];
    snprintf(key, sizeof key, "%s.gamma", name);
    assert_non_null(ae_weights_meta(IO, key));
    size_t n = ae_tensor_numel(&ref);
    float *eps = malloc(n * sizeof *eps);
    assert_int_equal(run_sr3(m, x.data, x.h, x.w, strtof(ae_weights_meta(IO, key), NULL), eps), AE_OK);
    assert_int_equal(golden_compare(name, eps, ref.data, n, atol, rtol), 0);
    free(eps);
}

static void check_case(const char *model_path, const char *name, float atol, float rtol) {
    ae_weights *W = NULL;
    ae_sr3 *m = calloc(1, sizeof *m);
    assert_int_equal(ae_weights_open(&W, model_path), AE_OK);
    ae_status st = ae_sr3_load(m, W);
    if (st != AE_OK) fprintf(stderr, "%s\n", ae_error_message());
    assert_int_equal(st, AE_OK);
    if (m->out_channel == 3) {
        check_colour(m, name, atol, rtol);
        free(m);
        ae_weights_close(W);
        return;
    }
    ae_tensor lr, up, xt, ref;
    io(name, "lr", &lr);
    io(name, "up", &up);
    io(name, "xt", &xt);
    io(name, "eps", &ref);
    size_t n = ae_tensor_numel(&up);
    float *x = malloc(2 * n * sizeof *x), *eps = malloc(n * sizeof *eps);
    /* the conditioning image from the C bicubic, checked against torch's */
    ae_bicubic_up(x, lr.data, 1, lr.h, lr.w, up.h / lr.h);
    assert_int_equal(golden_compare("bicubic", x, up.data, n, 1e-6f, 1e-5f), 0);
    memcpy(x + n, xt.data, n * sizeof *x);
    char key[96];
    snprintf(key, sizeof key, "%s.gamma", name);
    const char *g = ae_weights_meta(IO, key);
    assert_non_null(g);
    st = run_sr3(m, x, up.h, up.w, strtof(g, NULL), eps);
    if (st != AE_OK) fprintf(stderr, "%s\n", ae_error_message());
    assert_int_equal(st, AE_OK);
    assert_int_equal(golden_compare(name, eps, ref.data, n, atol, rtol), 0);
    free(x);
    free(eps);
    free(m);
    ae_weights_close(W);
}

static void test_tiny(void **st) {
    (void)st;
    check_case("tests/golden/sr_tiny_sr3.safetensors", "tiny_sr3", 1e-4f, 1e-4f);
}

static void test_shipped(void **st) {
    (void)st;
    int n = 0;
    const char *names[3] = {"sr3_x2", "sr3_x2_v1", "sr3_x4"};
    for (int i = 0; i < 3; i++) {
        char key[64], path[128];
        snprintf(key, sizeof key, "%s.eps", names[i]);
        if (!ae_weights_has(IO, key)) continue;
        snprintf(path, sizeof path, "models/%s.safetensors", names[i]);
        check_case(path, names[i], 2e-4f, 1e-3f);
        n++;
    }
    if (n == 0) skip();
}

static void test_bad_input(void **st) {
    (void)st;
    ae_weights *W = NULL;
    ae_sr3 *m = calloc(1, sizeof *m);
    assert_int_equal(ae_weights_open(&W, "tests/golden/sr_tiny_fast.safetensors"), AE_OK);
    assert_int_equal(ae_sr3_load(m, W), AE_ERR_FORMAT);
    ae_weights_close(W);
    assert_int_equal(ae_weights_open(&W, "tests/golden/sr_tiny_sr3.safetensors"), AE_OK);
    assert_int_equal(ae_sr3_load(m, W), AE_OK);
    assert_int_equal(ae_sr3_multiple(m), 2);
    float x[2 * 5 * 6] = {0}, eps[5 * 6];
    assert_int_equal(run_sr3(m, x, 5, 6, 0.5f, eps), AE_ERR_SHAPE); /* 5 is not a multiple of 2 */
    assert_non_null(strstr(ae_error_message(), "multiple"));
    ae_weights_close(W);
    free(m);
}

/* metadata target: absent = image; residual needs a residual_scale > 0. */
static void test_target_meta(void **st) {
    (void)st;
    ae_weights *W = NULL;
    ae_sr3 *m = calloc(1, sizeof *m);
    assert_int_equal(ae_weights_open(&W, "tests/golden/sr_tiny_sr3.safetensors"), AE_OK);
    assert_int_equal(ae_sr3_load(m, W), AE_OK);
    assert_int_equal(m->residual, 0);
    assert_true(m->residual_scale == 1.0f);
    ae_weights_close(W);
    assert_int_equal(ae_weights_open(&W, "tests/golden/sr_tiny_sr3_res.safetensors"), AE_OK);
    assert_int_equal(ae_sr3_load(m, W), AE_OK);
    assert_int_equal(m->residual, 1);
    assert_true(m->residual_scale == strtof(ae_weights_meta(W, "residual_scale"), NULL));
    ae_weights_close(W);
    assert_int_equal(ae_weights_open(&W, "tests/golden/sr_bad_sr3_res.safetensors"), AE_OK);
    assert_int_equal(ae_sr3_load(m, W), AE_ERR_FORMAT);
    assert_non_null(strstr(ae_error_message(), "residual_scale"));
    assert_non_null(strstr(ae_error_message(), "sr_bad_sr3_res"));
    ae_weights_close(W);
    free(m);
}

/* The colour model that refines a fast net: 6 planes in (3 base, 3 x_t), 3
 * out, base metadata read; the network evaluation against PyTorch. The whole
 * sampling run through the stage is tests/cli/test_sr3_base.sh. */
static void test_colour_base(void **st) {
    (void)st;
    ae_weights *W = NULL, *R = NULL;
    ae_sr3 *m = calloc(1, sizeof *m);
    assert_int_equal(ae_weights_open(&W, "tests/golden/sr_tiny_sr3_rgb.safetensors"), AE_OK);
    ae_status s = ae_sr3_load(m, W);
    if (s != AE_OK) fprintf(stderr, "%s\n", ae_error_message());
    assert_int_equal(s, AE_OK);
    assert_int_equal(m->in_channel, 6);
    assert_int_equal(m->out_channel, 3);
    assert_int_equal(m->base_fast, 1);
    assert_string_equal(m->base_file, "sr_tiny_fast.safetensors");
    assert_int_equal(strlen(m->base_sha256), 64);
    assert_int_equal(ae_weights_open(&R, "tests/golden/sr_rgb_io.safetensors"), AE_OK);
    ae_tensor x = golden_tensor(R, "tiny_rgb.x"), ref = golden_tensor(R, "tiny_rgb.eps");
    size_t n = ae_tensor_numel(&ref);
    float *eps = malloc(n * sizeof *eps);
    s = run_sr3(m, x.data, x.h, x.w, strtof(ae_weights_meta(R, "gamma"), NULL), eps);
    assert_int_equal(s, AE_OK);
    assert_int_equal(golden_compare("tiny_rgb", eps, ref.data, n, 1e-4f, 1e-4f), 0);
    free(eps);
    ae_weights_close(R);
    ae_weights_close(W);
    free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tiny),
        cmocka_unit_test(test_shipped),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_target_meta),
        cmocka_unit_test(test_colour_base),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
