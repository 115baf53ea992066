/* test_nn_golden.c - nn.h layers and the arena on tiny U-Net blocks against
 * PyTorch (tests/golden/blocks.safetensors from scripts/gen_golden.py):
 *   res:  conv3x3 -> GroupNorm -> SiLU -> + Linear(noise embedding) -> conv3x3, + 1x1 skip
 *   attn: SR3 SelfAttention (GroupNorm, qkv 1x1, 2 heads, out 1x1, residual)
 * Each block runs twice through the same code: a planning pass of the arena,
 * then the real pass, whose intermediate tensors are compared with the
 * PyTorch taps (atol 3e-5, rtol 1e-4). Also the BatchNorm, InstanceNorm,
 * ConvTranspose and dilated-conv loaders on ops.safetensors. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "astroenh/nn.h"
#include "support/golden_util.h"

#define ATOL 3e-5f
#define RTOL 1e-4f

static ae_weights *G;
static const ae_backend *BE;
static size_t g_bad;

static int setup(void **state) {
    (void)state;
    if (ae_weights_open(&G, "tests/golden/blocks.safetensors") != AE_OK) {
        printf("%s\n", ae_error_message());
        return -1;
    }
    return ae_backend_get("cpu", &BE) == AE_OK ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    ae_weights_close(G);
    return 0;
}

static void tap(ae_arena *A, const char *name, const ae_tensor *t) {
    if (ae_arena_planning(A)) return;
    ae_tensor ref = golden_tensor(G, name);
    assert_true(ae_tensor_same_shape(&ref, t));
    g_bad += golden_compare(name, t->data, ref.data, ae_tensor_numel(t), ATOL, RTOL);
}

typedef struct {
    ae_conv conv1, conv2, skip;
    ae_gn norm1;
    ae_linear noise;
    int cout, emb_dim;
} res_block;

static ae_status res_load(res_block *r, int cin, int cout, int emb, int groups) {
    ae_status st = ae_conv_load(&r->conv1, G, "res.conv1", cin, cout, 3, 1, 1, 1, 1, 1);
    if (!st) st = ae_gn_load(&r->norm1, G, "res.norm1", groups, cout, 1e-5f, 1);
    if (!st) st = ae_linear_load(&r->noise, G, "res.noise", emb, cout, 1);
    if (!st) st = ae_conv_load(&r->conv2, G, "res.conv2", cout, cout, 3, 1, 1, 1, 1, 1);
    if (!st) st = ae_conv_load(&r->skip, G, "res.skip", cin, cout, 1, 1, 0, 1, 1, 1);
    r->cout = cout;
    r->emb_dim = emb;
    return st;
}

/* Reads like TinyResBlock.forward in gen_golden.py. */
static ae_status res_forward(ae_arena *A, const res_block *r, const ae_tensor *xh, const float *gamma,
                             ae_tensor *y) {
    ae_tensor x, h, e, t, s;
    ae_status st = ae_arena_tensor(A, &x, xh->n, xh->c, xh->h, xh->w);
    if (!st) st = ae_nn_upload(BE, A, &x, xh->data);
    if (!st) st = ae_conv_forward_new(BE, A, &r->conv1, &x, &h);
    if (st) return st;
    tap(A, "res.h1", &h);
    st = ae_gn_forward(BE, A, &r->norm1, &h, &h);
    if (!st) st = ae_nn_activation(BE, A, AE_ACT_SILU, 0.0f, &h, &h);
    if (st) return st;
    tap(A, "res.h2", &h);
    st = ae_arena_tensor(A, &e, x.n, r->emb_dim, 1, 1);
    if (!st) st = ae_nn_noise_embed(BE, A, gamma, &e);
    if (!st) tap(A, "res.emb", &e);
    if (!st) st = ae_arena_tensor(A, &t, x.n, r->cout, 1, 1);
    if (!st) st = ae_linear_forward(BE, A, &r->noise, &e, &t);
    if (!st) st = ae_nn_scale_shift(BE, A, &h, NULL, 1.0f, &t, &h);
    ae_arena_release(A, &e);
    ae_arena_release(A, &t);
    if (st) return st;
    tap(A, "res.h3", &h);
    st = ae_arena_tensor(A, y, x.n, r->cout, x.h, x.w);
    if (!st) st = ae_conv_forward(BE, A, &r->conv2, &h, y);
    ae_arena_release(A, &h);
    if (st) return st;
    tap(A, "res.h4", y);
    st = ae_conv_forward_new(BE, A, &r->skip, &x, &s);
    if (!st) st = ae_nn_add(BE, A, y, &s, y);
    ae_arena_release(A, &s);
    ae_arena_release(A, &x);
    return st;
}

static void test_res_block(void **state) {
    (void)state;
    res_block r;
    assert_int_equal(res_load(&r, golden_int(G, "res.cin"), golden_int(G, "res.cout"),
                              golden_int(G, "res.emb_dim"), golden_int(G, "res.groups")), AE_OK);
    ae_tensor x = golden_tensor(G, "res.x"), gamma = golden_tensor(G, "res.gamma"), y;
    ae_arena *A;
    assert_int_equal(ae_arena_create(&A, BE), AE_OK);
    g_bad = 0;
    for (int pass = 0; pass < 3; pass++) { /* plan, real, real again after reset */
        assert_int_equal(res_forward(A, &r, &x, gamma.data, &y), AE_OK);
        tap(A, "res.y", &y);
        ae_arena_release(A, &y);
        assert_int_equal(ae_arena_used_bytes(A), 0);
        if (pass == 0) {
            printf("  res block: planned peak %zu bytes\n", ae_arena_peak_bytes(A));
            assert_int_equal(ae_arena_commit(A), AE_OK);
        } else {
            ae_arena_reset(A);
        }
    }
    /* peak: x, h, y and one scratch/skip at most (4 block-sized tensors + im2col) */
    size_t blk = ae_tensor_bytes(&(ae_tensor){NULL, x.n, 16, x.h, x.w});
    assert_true(ae_arena_peak_bytes(A) <= 4 * blk + 9 * 16 * 120 * 4 + 4096);
    ae_arena_free(A);
    assert_int_equal(g_bad, 0);
}

static void test_attn_block(void **state) {
    (void)state;
    ae_attn_block blk;
    int c = golden_int(G, "attn.c");
    assert_int_equal(ae_attn_block_load(&blk, G, "attn", c, golden_int(G, "attn.heads"),
                                        golden_int(G, "attn.groups"), 1e-5f, AE_ATTN_SR3), AE_OK);
    ae_tensor xh = golden_tensor(G, "attn.x"), x, y;
    ae_arena *A;
    assert_int_equal(ae_arena_create(&A, BE), AE_OK);
    g_bad = 0;
    for (int pass = 0; pass < 2; pass++) {
        assert_int_equal(ae_arena_tensor(A, &x, xh.n, xh.c, xh.h, xh.w), AE_OK);
        assert_int_equal(ae_nn_upload(BE, A, &x, xh.data), AE_OK);
        assert_int_equal(ae_arena_tensor(A, &y, xh.n, xh.c, xh.h, xh.w), AE_OK);
        assert_int_equal(ae_attn_block_forward(BE, A, &blk, &x, &y), AE_OK);
        tap(A, "attn.y", &y);
        ae_arena_release(A, &x);
        ae_arena_release(A, &y);
        if (pass == 0) assert_int_equal(ae_arena_commit(A), AE_OK);
    }
    ae_arena_free(A);
    assert_int_equal(g_bad, 0);
}

/* Loaders of nn.h for the layers the blocks do not use, on ops.safetensors. */
static void test_other_layers(void **state) {
    (void)state;
    ae_weights *W;
    assert_int_equal(ae_weights_open(&W, "tests/golden/ops.safetensors"), AE_OK);
    ae_bn bn;
    ae_gn in;
    ae_convT ct;
    ae_conv cv;
    assert_int_equal(ae_bn_load(&bn, W, "bn", 5, 1e-5f, 1), AE_OK);
    assert_int_equal(ae_in_load(&in, W, "in_affine", 5, 1e-5f, 1), AE_OK);
    assert_int_equal(ae_convT_load(&ct, W, "convT_outpad", 4, 3, 3, 2, 1, 1, 1, 1), AE_OK);
    assert_int_equal(ae_conv_load(&cv, W, "conv_dil2", 4, 5, 3, 1, 2, 2, 1, 1), AE_OK);
    static const char *const names[] = {"bn", "in_affine", "convT_outpad", "conv_dil2"};
    ae_arena *A;
    assert_int_equal(ae_arena_create(&A, BE), AE_OK);
    size_t bad = 0;
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < 4; i++) {
            char key[64];
            snprintf(key, sizeof key, "%s.x", names[i]);
            ae_tensor xh = golden_tensor(W, key), x, y;
            assert_int_equal(ae_arena_tensor(A, &x, xh.n, xh.c, xh.h, xh.w), AE_OK);
            assert_int_equal(ae_nn_upload(BE, A, &x, xh.data), AE_OK);
            if (i == 0) {
                y = x;
                assert_int_equal(ae_bn_forward(BE, A, &bn, &x, &y), AE_OK);
            } else if (i == 1) {
                y = x;
                assert_int_equal(ae_gn_forward(BE, A, &in, &x, &y), AE_OK);
            } else if (i == 2) {
                assert_int_equal(ae_convT_forward_new(BE, A, &ct, &x, &y), AE_OK);
            } else {
                assert_int_equal(ae_conv_forward_new(BE, A, &cv, &x, &y), AE_OK);
            }
            snprintf(key, sizeof key, "%s.y", names[i]);
            ae_tensor ref = golden_tensor(W, key);
            if (!ae_arena_planning(A))
                bad += golden_compare(key, y.data, ref.data, ae_tensor_numel(&ref), ATOL, RTOL);
            if (y.data != x.data) ae_arena_release(A, &y);
            ae_arena_release(A, &x);
        }
        if (pass == 0) assert_int_equal(ae_arena_commit(A), AE_OK);
    }
    ae_arena_free(A);
    ae_weights_close(W);
    assert_int_equal(bad, 0);
}

static void test_load_errors(void **state) {
    (void)state;
    ae_conv c;
    assert_int_equal(ae_conv_load(&c, G, "res.conv1", 9, 16, 3, 1, 1, 1, 1, 1), AE_ERR_SHAPE);
    assert_non_null(strstr(ae_error_message(), "res.conv1.weight"));
    assert_int_equal(ae_conv_load(&c, G, "res.nothere", 8, 16, 3, 1, 1, 1, 1, 1), AE_ERR_SHAPE);
    assert_non_null(strstr(ae_error_message(), "res.nothere.weight"));
    assert_int_equal(ae_conv_load(&c, G, "res.conv1", 8, 16, 3, 1, 1, 1, 3, 1), AE_ERR_ARG);
    ae_gn gn;
    assert_int_equal(ae_gn_load(&gn, G, "res.norm1", 5, 16, 1e-5f, 1), AE_ERR_ARG);
    ae_linear l;
    assert_int_equal(ae_linear_load(&l, G, "res.noise", 8, 15, 1), AE_ERR_SHAPE);
    /* a forward with the wrong input channels fails in the planning pass */
    assert_int_equal(ae_conv_load(&c, G, "res.conv1", 8, 16, 3, 1, 1, 1, 1, 1), AE_OK);
    ae_arena *A;
    ae_tensor x, y;
    assert_int_equal(ae_arena_create(&A, BE), AE_OK);
    assert_int_equal(ae_arena_tensor(A, &x, 1, 7, 8, 8), AE_OK);
    assert_int_equal(ae_conv_forward_new(BE, A, &c, &x, &y), AE_ERR_SHAPE);
    assert_non_null(strstr(ae_error_message(), "conv2d input"));
    ae_arena_free(A);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_res_block),
        cmocka_unit_test(test_attn_block),
        cmocka_unit_test(test_other_layers),
        cmocka_unit_test(test_load_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
