/* test_rdn.c - the RDN super-resolution network in C against PyTorch.
 *
 * tests/golden/rdn_tiny_x{2,4}.safetensors: random-weight RDNs (x2: 1 plane,
 * C=2 dense layers per block, D=3; x4: RGB, C=1, D=2) and their outputs on
 * fixed inputs in tests/golden/rdn_io.safetensors, written by
 * scripts/rdn_golden.py from scripts/rdn.py. Also: metadata that is not an
 * RDN, or out of range, is refused; tiled inference equals the whole image.
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
#include "astroenh/arena.h"
#include "astroenh/backend.h"
#include "astroenh/rdn.h"
#include "astroenh/tile.h"
#include "support/golden_util.h"

static ae_weights *IO;

static int setup(void **st) {
    (void)st;
    return ae_weights_open(&IO, "tests/golden/rdn_io.safetensors") == AE_OK ? 0 : -1;
}
static int teardown(void **st) {
    (void)st;
    ae_weights_close(IO);
    return 0;
}

/* Plans the arena, then runs the model on host x (1 x cin x h x w) into host y. */
static ae_status run_rdn(const ae_rdn *m, const float *x, int h, int w, float *y) {
    const ae_backend *be = ae_backend_cpu();
    ae_arena *A = NULL;
    ae_status st = ae_arena_create(&A, be);
    for (int pass = 0; pass < 2 && st == AE_OK; pass++) {
        ae_tensor tx = {0}, ty = {0};
        st = ae_arena_tensor(A, &tx, 1, m->cin, h, w);
        if (st == AE_OK) st = ae_arena_tensor(A, &ty, 1, m->cout, h * m->scale, w * m->scale);
        if (st == AE_OK) st = ae_nn_upload(be, A, &tx, x);
        if (st == AE_OK) st = ae_rdn_forward(m, be, A, &tx, &ty);
        if (st == AE_OK) st = ae_nn_download(be, A, &ty, y);
        if (st == AE_OK && pass == 0) st = ae_arena_commit(A);
        ae_arena_reset(A);
    }
    ae_arena_free(A);
    return st;
}

static void check_case(const char *name, int scale, int cin) {
    char key[64], path[128];
    ae_weights *W = NULL;
    ae_rdn m;
    snprintf(path, sizeof path, "tests/golden/rdn_%s.safetensors", name);
    assert_int_equal(ae_weights_open(&W, path), AE_OK);
    assert_true(ae_rdn_is(W));
    ae_status st = ae_rdn_load(&m, W);
    if (st != AE_OK) fprintf(stderr, "%s\n", ae_error_message());
    assert_int_equal(st, AE_OK);
    assert_int_equal(m.scale, scale);
    assert_int_equal(m.cin, cin);
    snprintf(key, sizeof key, "%s.x", name);
    ae_tensor x = golden_tensor(IO, key);
    snprintf(key, sizeof key, "%s.y", name);
    ae_tensor ref = golden_tensor(IO, key);
    assert_int_equal(ref.h, x.h * scale);
    float *y = calloc(ae_tensor_numel(&ref), sizeof *y);
    st = run_rdn(&m, x.data, x.h, x.w, y);
    if (st != AE_OK) fprintf(stderr, "%s\n", ae_error_message());
    assert_int_equal(st, AE_OK);
    assert_int_equal(golden_compare(name, y, ref.data, ae_tensor_numel(&ref), 1e-4f, 1e-4f), 0);
    free(y);
    ae_weights_close(W);
}

static void test_tiny_x2(void **st) {
    (void)st;
    check_case("tiny_x2", 2, 1);
}

static void test_tiny_x4_rgb(void **st) {
    (void)st;
    check_case("tiny_x4", 4, 3);
}

/* The shipped models/fast_x2 when it is an RDN, against PyTorch on the same
 * fp16 weights (scripts/rdn_golden.py --shipped; tests/test_srfast.c does
 * the EDSR-like case); the golden names the model's SHA-256, so a new model
 * without a new golden fails here. */
static void test_shipped(void **st) {
    (void)st;
    ae_weights *W = NULL, *G = NULL;
    if (ae_weights_open(&W, "models/fast_x2.safetensors") != AE_OK || !ae_rdn_is(W)) {
        ae_weights_close(W);
        skip();
    }
    G = golden_for_model("tests/golden/fast_shipped_io.safetensors", "models/fast_x2.safetensors",
                         "scripts/rdn_golden.py --shipped");
    ae_rdn m;
    assert_int_equal(ae_rdn_load(&m, W), AE_OK);
    ae_tensor x = golden_tensor(G, "fast_x2.x"), ref = golden_tensor(G, "fast_x2.y");
    float *y = calloc(ae_tensor_numel(&ref), sizeof *y);
    assert_int_equal(run_rdn(&m, x.data, x.h, x.w, y), AE_OK);
    assert_int_equal(golden_compare("shipped fast_x2", y, ref.data, ae_tensor_numel(&ref), 1e-4f, 1e-4f), 0);
    free(y);
    ae_weights_close(G);
    ae_weights_close(W);
}

static void test_bad_metadata(void **st) {
    (void)st;
    ae_weights *W = NULL;
    ae_rdn m;
    assert_int_equal(ae_weights_open(&W, "tests/golden/sr_tiny_fast.safetensors"), AE_OK);
    assert_false(ae_rdn_is(W));
    assert_int_equal(ae_rdn_load(&m, W), AE_ERR_FORMAT);
    assert_non_null(strstr(ae_error_message(), "arch"));
    ae_weights_close(W);
    /* rdn_io has no RDN metadata at all */
    assert_int_equal(ae_rdn_load(&m, IO), AE_ERR_FORMAT);
}

typedef struct {
    const ae_rdn *m;
} tile_ctx;

static ae_status tile_fn(void *ctx, const float *in, int c_in, int h, int w, float *out, int c_out, int s) {
    (void)c_in;
    (void)c_out;
    (void)s;
    return run_rdn(((tile_ctx *)ctx)->m, in, h, w, out);
}

/* Tiles with overlap = 2 x receptive radius reproduce the whole-image result. */
static void test_tiling(void **st) {
    (void)st;
    ae_weights *W = NULL;
    ae_rdn m;
    assert_int_equal(ae_weights_open(&W, "tests/golden/rdn_tiny_x2.safetensors"), AE_OK);
    assert_int_equal(ae_rdn_load(&m, W), AE_OK);
    int h = 37, w = 45, ov = 2 * ae_rdn_radius(&m);
    ae_image in = {.w = w, .h = h, .c = 1}, a = {.w = 2 * w, .h = 2 * h, .c = 1}, b = a;
    in.data = malloc(sizeof(float) * h * w);
    a.data = malloc(sizeof(float) * 4 * h * w);
    b.data = malloc(sizeof(float) * 4 * h * w);
    for (int i = 0; i < h * w; i++) in.data[i] = sinf(0.37f * i) * 0.8f;
    tile_ctx c = {&m};
    assert_int_equal(ae_tile_run(&in, &a, 2, 4096, ov, tile_fn, &c), AE_OK);
    assert_int_equal(ae_tile_run(&in, &b, 2, 24, ov, tile_fn, &c), AE_OK);
    assert_int_equal(golden_compare("tiled vs whole", b.data, a.data, (size_t)4 * h * w, 1e-4f, 1e-5f), 0);
    free(in.data);
    free(a.data);
    free(b.data);
    ae_weights_close(W);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tiny_x2),
        cmocka_unit_test(test_tiny_x4_rgb),
        cmocka_unit_test(test_shipped),
        cmocka_unit_test(test_bad_metadata),
        cmocka_unit_test(test_tiling),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
