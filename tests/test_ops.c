/* test_ops.c - every CPU op against PyTorch (tests/golden/ops.safetensors,
 * written by scripts/gen_golden.py), conv/convT against a naive direct loop
 * on random shapes (both conv strategies), the arena, and error paths.
 * Tolerance: |got - ref| <= atol + rtol*|ref| with atol = 3e-5, rtol = 1e-4
 * unless stated (float32 sums of <= a few hundred products). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "astroenh/arena.h"
#include "astroenh/backend.h"
#include "astroenh/nn.h"
#include "support/golden_util.h"
#include "../src/nn/cpu_ops.h"

#define ATOL 3e-5f
#define RTOL 1e-4f

static ae_weights *G;
static const ae_backend *BE;

static int setup(void **state) {
    (void)state;
    if (ae_weights_open(&G, "tests/golden/ops.safetensors") != AE_OK) {
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

static int meta(const char *c, const char *k) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", c, k);
    return golden_int(G, key);
}

static ae_tensor gt(const char *c, const char *k) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", c, k);
    return golden_tensor(G, key);
}

static float *run_ws(size_t bytes) { return bytes ? malloc(bytes) : NULL; }

/* ---- conv / convT / linear vs PyTorch ---------------------------------- */

/* IMPLICIT runs the direct AVX-512 kernel where the CPU has it (so does AUTO
 * for stride-1 convs); IMPLICIT_SGEMM keeps the per-tap sgemm path tested. */
static const char *strategy_name(int strat) {
    switch (strat) {
    case AE_CONV_IMPLICIT: return ae_conv2d_cpu_direct_available() ? "implicit (direct)" : "implicit";
    case AE_CONV_IM2COL: return "im2col";
    case AE_CONV_IMPLICIT_SGEMM: return "implicit sgemm";
    default: return "auto";
    }
}

static const char *const CONV_CASES[] = {"conv_basic", "conv_s2", "conv_dil2", "conv_groups",
                                         "conv_depthwise", "conv_1x1", "conv_k4s2", "conv_k7"};

static void test_conv_golden(void **state) {
    (void)state;
    size_t bad = 0;
    for (int strat = AE_CONV_IMPLICIT; strat <= AE_CONV_IMPLICIT_SGEMM; strat++) {
        ae_conv2d_cpu_set_strategy(strat);
        for (size_t i = 0; i < sizeof CONV_CASES / sizeof *CONV_CASES; i++) {
            const char *c = CONV_CASES[i];
            ae_tensor x = gt(c, "x"), ref = gt(c, "y");
            int k = meta(c, "k"), s = meta(c, "stride"), p = meta(c, "pad"), d = meta(c, "dil");
            ae_conv2d_desc desc = {x.c, meta(c, "cout"), k, k, s, s, p, p, d, d, meta(c, "groups")};
            ae_tensor y = golden_alloc(ref.n, ref.c, ref.h, ref.w);
            size_t wsb = BE->conv2d_ws(BE, &desc, &x);
            float *ws = run_ws(wsb);
            assert_int_equal(BE->conv2d(BE, &desc, &x, gt(c, "weight").data,
                                        meta(c, "bias") ? gt(c, "bias").data : NULL, &y, ws, wsb),
                             AE_OK);
            char what[64];
            snprintf(what, sizeof what, "%s/%s", c, strategy_name(strat));
            bad += golden_compare(what, y.data, ref.data, ae_tensor_numel(&y), ATOL, RTOL);
            free(ws);
            free(y.data);
        }
    }
    ae_conv2d_cpu_set_strategy(AE_CONV_AUTO);
    assert_int_equal(bad, 0);
}

static void test_convT_golden(void **state) {
    (void)state;
    static const char *const cases[] = {"convT_k4s2", "convT_outpad", "convT_groups"};
    size_t bad = 0;
    for (size_t i = 0; i < 3; i++) {
        const char *c = cases[i];
        ae_tensor x = gt(c, "x"), ref = gt(c, "y");
        int k = meta(c, "k"), s = meta(c, "stride"), p = meta(c, "pad"), op = meta(c, "out_pad");
        ae_convT2d_desc d = {x.c, meta(c, "cout"), k, k, s, s, p, p, op, op, 1, 1, meta(c, "groups")};
        int oh, ow;
        assert_int_equal(ae_convT2d_out_hw(&d, x.h, x.w, &oh, &ow), AE_OK);
        assert_int_equal(oh, ref.h);
        assert_int_equal(ow, ref.w);
        ae_tensor y = golden_alloc(ref.n, ref.c, ref.h, ref.w);
        size_t wsb = BE->conv_transpose2d_ws(BE, &d, &x);
        float *ws = run_ws(wsb);
        assert_int_equal(BE->conv_transpose2d(BE, &d, &x, gt(c, "weight").data,
                                              meta(c, "bias") ? gt(c, "bias").data : NULL, &y, ws, wsb),
                         AE_OK);
        bad += golden_compare(c, y.data, ref.data, ae_tensor_numel(&y), ATOL, RTOL);
        free(ws);
        free(y.data);
    }
    assert_int_equal(bad, 0);
}

static void test_linear_golden(void **state) {
    (void)state;
    ae_tensor x = gt("linear", "x"), ref = gt("linear", "y");
    ae_tensor y = golden_alloc(ref.n, ref.c, 1, 1);
    assert_int_equal(BE->linear(BE, &x, gt("linear", "weight").data, gt("linear", "bias").data, &y), AE_OK);
    size_t bad = golden_compare("linear", y.data, ref.data, ae_tensor_numel(&y), ATOL, RTOL);
    free(y.data);
    assert_int_equal(bad, 0);
}

/* ---- norms ------------------------------------------------------------- */

static void test_norm_golden(void **state) {
    (void)state;
    size_t bad = 0;
    ae_tensor x = gt("bn", "x"), ref = gt("bn", "y"), y = golden_alloc(x.n, x.c, x.h, x.w);
    assert_int_equal(BE->batchnorm(BE, &x, gt("bn", "running_mean").data, gt("bn", "running_var").data,
                                   gt("bn", "weight").data, gt("bn", "bias").data, 1e-5f, &y), AE_OK);
    bad += golden_compare("batchnorm", y.data, ref.data, ae_tensor_numel(&y), ATOL, RTOL);
    free(y.data);

    x = gt("gn", "x"), ref = gt("gn", "y"), y = golden_alloc(x.n, x.c, x.h, x.w);
    assert_int_equal(BE->groupnorm(BE, &x, meta("gn", "groups"), gt("gn", "weight").data,
                                   gt("gn", "bias").data, 1e-5f, &y), AE_OK);
    bad += golden_compare("groupnorm(8)", y.data, ref.data, ae_tensor_numel(&y), ATOL, RTOL);
    /* in place */
    memcpy(y.data, x.data, ae_tensor_bytes(&x));
    assert_int_equal(BE->groupnorm(BE, &y, 8, gt("gn", "weight").data, gt("gn", "bias").data, 1e-5f, &y), AE_OK);
    bad += golden_compare("groupnorm in place", y.data, ref.data, ae_tensor_numel(&y), ATOL, RTOL);
    free(y.data);

    static const char *const in_cases[] = {"in_affine", "in_plain"};
    for (int i = 0; i < 2; i++) {
        const char *c = in_cases[i];
        int aff = meta(c, "affine");
        x = gt(c, "x"), ref = gt(c, "y"), y = golden_alloc(x.n, x.c, x.h, x.w);
        assert_int_equal(BE->instancenorm(BE, &x, aff ? gt(c, "weight").data : NULL,
                                          aff ? gt(c, "bias").data : NULL, 1e-5f, &y), AE_OK);
        bad += golden_compare(c, y.data, ref.data, ae_tensor_numel(&y), ATOL, RTOL);
        free(y.data);
    }
    assert_int_equal(bad, 0);
}

/* ---- activations, elementwise ------------------------------------------ */

static void test_activation_golden(void **state) {
    (void)state;
    static const struct { const char *name; ae_act kind; } acts[] = {
        {"relu", AE_ACT_RELU}, {"leaky", AE_ACT_LEAKY_RELU}, {"silu", AE_ACT_SILU},
        {"gelu", AE_ACT_GELU}, {"tanh", AE_ACT_TANH}, {"sigmoid", AE_ACT_SIGMOID}};
    ae_tensor x = gt("act", "x"), y = golden_alloc(x.n, x.c, x.h, x.w);
    const char *alpha_s = ae_weights_meta(G, "act.leaky_alpha");
    assert_non_null(alpha_s);
    float alpha = (float)atof(alpha_s);
    size_t bad = 0;
    for (size_t i = 0; i < sizeof acts / sizeof *acts; i++) {
        assert_int_equal(BE->activation(BE, acts[i].kind, alpha, &x, &y), AE_OK);
        bad += golden_compare(acts[i].name, y.data, gt("act", acts[i].name).data, ae_tensor_numel(&y),
                              ATOL, RTOL);
    }
    memcpy(y.data, x.data, ae_tensor_bytes(&x));
    assert_int_equal(BE->activation(BE, AE_ACT_SILU, 0.0f, &y, &y), AE_OK);
    bad += golden_compare("silu in place", y.data, gt("act", "silu").data, ae_tensor_numel(&y), ATOL, RTOL);
    free(y.data);
    assert_int_equal(bad, 0);
}

/* A NULL scale is a zero scale (the multiplier is scale_bias alone), a NULL
 * shift a zero shift: y = x * (scale_bias + scale) + shift as backend.h says. */
static size_t check_scale_shift_null_args(const ae_tensor *x, const ae_tensor *sc, const ae_tensor *sh,
                                          ae_tensor *y) {
    static const struct { int scale, shift; float bias; const char *what; } cases[] = {
        {0, 0, 0.25f, "scale_shift: NULL scale and shift, bias 0.25 (residual scaling)"},
        {0, 1, 1.0f, "scale_shift: NULL scale, bias 1 (shift only)"},
        {0, 1, 0.0f, "scale_shift: NULL scale, bias 0 (constant shift)"},
        {1, 0, 0.5f, "scale_shift: NULL shift, bias 0.5"}};
    size_t HW = (size_t)x->h * x->w, n = ae_tensor_numel(x), bad = 0;
    float *ref = malloc(n * sizeof *ref);
    assert_non_null(ref);
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        for (size_t i = 0; i < n; i++) {
            size_t nc = i / HW, b = nc / (size_t)x->c, c = nc % (size_t)x->c;
            float s = cases[k].scale ? sc->data[(sc->n == 1 ? 0 : b) * (size_t)x->c + c] : 0.0f;
            float t = cases[k].shift ? sh->data[(sh->n == 1 ? 0 : b) * (size_t)x->c + c] : 0.0f;
            ref[i] = x->data[i] * (cases[k].bias + s) + t;
        }
        assert_int_equal(BE->scale_shift(BE, x, cases[k].scale ? sc : NULL, cases[k].bias,
                                         cases[k].shift ? sh : NULL, y), AE_OK);
        bad += golden_compare(cases[k].what, y->data, ref, n, 1e-6f, 1e-6f);
    }
    free(ref);
    return bad;
}

static void test_elementwise_golden(void **state) {
    (void)state;
    size_t bad = 0;
    ae_tensor a = gt("ew", "a"), b = gt("ew", "b"), y = golden_alloc(a.n, a.c, a.h, a.w);
    assert_int_equal(BE->add(BE, &a, &b, &y), AE_OK);
    bad += golden_compare("add", y.data, gt("ew", "add").data, ae_tensor_numel(&y), ATOL, RTOL);
    assert_int_equal(BE->mul(BE, &a, &b, &y), AE_OK);
    bad += golden_compare("mul", y.data, gt("ew", "mul").data, ae_tensor_numel(&y), ATOL, RTOL);
    free(y.data);

    ae_tensor x = gt("film", "x"), sc = gt("film", "scale"), sh = gt("film", "shift");
    y = golden_alloc(x.n, x.c, x.h, x.w);
    assert_int_equal(BE->scale_shift(BE, &x, &sc, 1.0f, &sh, &y), AE_OK);
    bad += golden_compare("scale_shift (FiLM)", y.data, gt("film", "y").data, ae_tensor_numel(&y), ATOL, RTOL);
    bad += check_scale_shift_null_args(&x, &sc, &sh, &y);
    free(y.data);

    ae_tensor ca = gt("cat", "a"), cb = gt("cat", "b"), ref = gt("cat", "y");
    const ae_tensor *xs[2] = {&ca, &cb};
    y = golden_alloc(ref.n, ref.c, ref.h, ref.w);
    assert_int_equal(BE->concat(BE, xs, 2, &y), AE_OK);
    bad += golden_compare("concat", y.data, ref.data, ae_tensor_numel(&y), 0.0f, 0.0f);
    free(y.data);
    assert_int_equal(bad, 0);
}

/* ---- resampling ---------------------------------------------------------- */

static size_t check_upsample(const char *c, ae_upsample_mode mode) {
    ae_tensor x = gt(c, "x"), ref = gt(c, "y"), y = golden_alloc(ref.n, ref.c, ref.h, ref.w);
    assert_int_equal(BE->upsample(BE, mode, &x, &y), AE_OK);
    size_t bad = golden_compare(c, y.data, ref.data, ae_tensor_numel(&y), 1e-5f, 1e-5f);
    free(y.data);
    return bad;
}

static void test_resample_golden(void **state) {
    (void)state;
    size_t bad = check_upsample("up_nearest", AE_UPSAMPLE_NEAREST) +
                 check_upsample("up_nearest_size", AE_UPSAMPLE_NEAREST) +
                 check_upsample("up_bilinear", AE_UPSAMPLE_BILINEAR) +
                 check_upsample("up_bilinear_size", AE_UPSAMPLE_BILINEAR);
    static const char *const pools[] = {"maxpool_k2", "maxpool_k3p1", "avgpool_k2", "avgpool_k3p1"};
    for (int i = 0; i < 4; i++) {
        const char *c = pools[i];
        int k = meta(c, "k"), s = meta(c, "stride"), p = meta(c, "pad");
        ae_pool_desc d = {meta(c, "max") ? AE_POOL_MAX : AE_POOL_AVG, k, k, s, s, p, p};
        ae_tensor x = gt(c, "x"), ref = gt(c, "y"), y = golden_alloc(ref.n, ref.c, ref.h, ref.w);
        assert_int_equal(BE->pool(BE, &d, &x, &y), AE_OK);
        bad += golden_compare(c, y.data, ref.data, ae_tensor_numel(&y), 1e-6f, 1e-5f);
        free(y.data);
    }
    { /* 2x2/2 max pool (its own loop): NaN propagates as in PyTorch, -inf stays -inf, odd width */
        float xs[2 * 5] = {1, NAN, 3, 4, 9, -INFINITY, -INFINITY, 2, -5, 7}, ys[2];
        ae_tensor xt = ae_tensor_make(xs, 1, 1, 2, 5), yt = ae_tensor_make(ys, 1, 1, 1, 2);
        ae_pool_desc d = {AE_POOL_MAX, 2, 2, 2, 2, 0, 0};
        assert_int_equal(BE->pool(BE, &d, &xt, &yt), AE_OK);
        assert_true(isnan(ys[0]));
        assert_true(ys[1] == 4.0f);
        xs[1] = xs[0] = xs[5] = xs[6] = -INFINITY;
        assert_int_equal(BE->pool(BE, &d, &xt, &yt), AE_OK);
        assert_true(isinf(ys[0]) && ys[0] < 0);
    }
    ae_tensor x = gt("pixel_shuffle", "x"), ref = gt("pixel_shuffle", "y");
    ae_tensor y = golden_alloc(ref.n, ref.c, ref.h, ref.w);
    assert_int_equal(BE->pixel_shuffle(BE, meta("pixel_shuffle", "r"), &x, &y), AE_OK);
    bad += golden_compare("pixel_shuffle", y.data, ref.data, ae_tensor_numel(&y), 0.0f, 0.0f);
    free(y.data);
    assert_int_equal(bad, 0);
}

/* ---- attention, embedding ------------------------------------------------ */

static void test_attention_golden(void **state) {
    (void)state;
    ae_tensor q = gt("attn", "q"), k = gt("attn", "k"), v = gt("attn", "v"), ref = gt("attn", "y");
    int heads = meta("attn", "heads"), hd = q.c / heads;
    ae_attn_desc d = {heads, hd, 1.0f / sqrtf((float)hd), 0, 0, 0, hd};
    ae_tensor y = golden_alloc(ref.n, ref.c, ref.h, ref.w);
    size_t wsb = BE->attention_ws(BE, &d, &q);
    float *ws = run_ws(wsb);
    assert_int_equal(BE->attention(BE, &d, &q, &k, &v, &y, ws, wsb), AE_OK);
    size_t bad = golden_compare("attention 2 heads", y.data, ref.data, ae_tensor_numel(&y), ATOL, RTOL);

    /* the same through one fused qkv tensor in SR3's per-head layout */
    size_t P = (size_t)q.h * q.w;
    ae_tensor qkv = golden_alloc(q.n, 3 * q.c, q.h, q.w);
    for (int n = 0; n < q.n; n++)
        for (int h = 0; h < heads; h++)
            for (int part = 0; part < 3; part++) {
                const ae_tensor *src = part == 0 ? &q : part == 1 ? &k : &v;
                memcpy(qkv.data + ((size_t)n * qkv.c + (size_t)h * 3 * hd + (size_t)part * hd) * P,
                       src->data + ((size_t)n * q.c + (size_t)h * hd) * P, (size_t)hd * P * sizeof(float));
            }
    ae_attn_desc d2 = {heads, hd, d.scale, 0, hd, 2 * hd, 3 * hd};
    memset(y.data, 0, ae_tensor_bytes(&y));
    assert_int_equal(BE->attention(BE, &d2, &qkv, &qkv, &qkv, &y, ws, wsb), AE_OK);
    bad += golden_compare("attention fused SR3", y.data, ref.data, ae_tensor_numel(&y), ATOL, RTOL);

    /* and in qkv.chunk(3, dim=1) order (AE_ATTN_STD) */
    for (int n = 0; n < q.n; n++)
        for (int part = 0; part < 3; part++)
            memcpy(qkv.data + ((size_t)n * qkv.c + (size_t)part * q.c) * P,
                   (part == 0 ? q.data : part == 1 ? k.data : v.data) + (size_t)n * q.c * P,
                   (size_t)q.c * P * sizeof(float));
    ae_attn_desc d3 = {heads, hd, d.scale, 0, q.c, 2 * q.c, hd};
    memset(y.data, 0, ae_tensor_bytes(&y));
    assert_int_equal(BE->attention(BE, &d3, &qkv, &qkv, &qkv, &y, ws, wsb), AE_OK);
    bad += golden_compare("attention fused chunk", y.data, ref.data, ae_tensor_numel(&y), ATOL, RTOL);
    free(qkv.data);
    free(ws);
    free(y.data);
    assert_int_equal(bad, 0);
}

static void test_embed_golden(void **state) {
    (void)state;
    ae_tensor g = gt("embed", "gamma"), ref = gt("embed", "y");
    ae_tensor y = golden_alloc(g.c, meta("embed", "dim"), 1, 1);
    assert_int_equal(BE->noise_embed(BE, g.data, &y), AE_OK);
    size_t bad = golden_compare("noise_embed", y.data, ref.data, ae_tensor_numel(&y), 1e-5f, 1e-5f);
    free(y.data);
    assert_int_equal(bad, 0);
}

/* ---- conv / convT against naive loops on random shapes ------------------ */

static uint32_t g_rng = 12345u;
static uint32_t rnd_u32(void) {
    g_rng = g_rng * 1664525u + 1013904223u;
    return g_rng >> 8;
}
static int rnd_int(int lo, int hi) { return lo + (int)(rnd_u32() % (uint32_t)(hi - lo + 1)); }
static float rnd_f(void) { return (float)(rnd_u32() & 0xffff) / 32768.0f - 1.0f; }
static void fill_rand(float *p, size_t n) {
    for (size_t i = 0; i < n; i++) p[i] = rnd_f();
}

static void naive_conv(const ae_conv2d_desc *d, const ae_tensor *x, const float *w, const float *b,
                       ae_tensor *y) {
    int cin_g = d->cin / d->groups, cout_g = d->cout / d->groups;
    for (int n = 0; n < y->n; n++)
        for (int co = 0; co < y->c; co++)
            for (int oy = 0; oy < y->h; oy++)
                for (int ox = 0; ox < y->w; ox++) {
                    double acc = b ? b[co] : 0.0;
                    int g = co / cout_g;
                    for (int ci = 0; ci < cin_g; ci++)
                        for (int ky = 0; ky < d->kh; ky++)
                            for (int kx = 0; kx < d->kw; kx++) {
                                int iy = oy * d->stride_h - d->pad_h + ky * d->dil_h;
                                int ix = ox * d->stride_w - d->pad_w + kx * d->dil_w;
                                if (iy < 0 || iy >= x->h || ix < 0 || ix >= x->w) continue;
                                acc += (double)x->data[(((size_t)n * x->c + g * cin_g + ci) * x->h + iy) * x->w + ix] *
                                       w[(((size_t)co * cin_g + ci) * d->kh + ky) * d->kw + kx];
                            }
                    y->data[(((size_t)n * y->c + co) * y->h + oy) * y->w + ox] = (float)acc;
                }
}

static void naive_convT(const ae_convT2d_desc *d, const ae_tensor *x, const float *w, const float *b,
                        ae_tensor *y) {
    int cin_g = d->cin / d->groups, cout_g = d->cout / d->groups;
    size_t N = ae_tensor_numel(y);
    double *acc = calloc(N, sizeof *acc);
    assert_non_null(acc);
    for (int n = 0; n < x->n; n++)
        for (int ci = 0; ci < x->c; ci++)
            for (int iy = 0; iy < x->h; iy++)
                for (int ix = 0; ix < x->w; ix++) {
                    float xv = x->data[(((size_t)n * x->c + ci) * x->h + iy) * x->w + ix];
                    int g = ci / cin_g;
                    for (int col = 0; col < cout_g; col++)
                        for (int ky = 0; ky < d->kh; ky++)
                            for (int kx = 0; kx < d->kw; kx++) {
                                int oy = iy * d->stride_h - d->pad_h + ky * d->dil_h;
                                int ox = ix * d->stride_w - d->pad_w + kx * d->dil_w;
                                if (oy < 0 || oy >= y->h || ox < 0 || ox >= y->w) continue;
                                acc[(((size_t)n * y->c + g * cout_g + col) * y->h + oy) * y->w + ox] +=
                                    (double)xv * w[(((size_t)ci * cout_g + col) * d->kh + ky) * d->kw + kx];
                            }
                }
    for (size_t i = 0; i < N; i++) {
        int co = (int)((i / ((size_t)y->h * y->w)) % (size_t)y->c);
        y->data[i] = (float)(acc[i] + (b ? b[co] : 0.0));
    }
    free(acc);
}

static size_t conv_random_case(int big) {
    int groups = big ? 1 : rnd_int(1, 3), k = big ? 3 : rnd_int(1, 5);
    int cin = groups * (big ? 32 : rnd_int(1, 4)), cout = groups * (big ? 8 : rnd_int(1, 4));
    int s = big ? 1 : rnd_int(1, 3), dil = big ? 1 : rnd_int(1, 2), p = big ? 1 : rnd_int(0, k / 2 + 1);
    int h = big ? 128 : rnd_int(k * dil, 21), w = big ? 130 : rnd_int(k * dil, 23), n = big ? 1 : rnd_int(1, 2);
    ae_conv2d_desc d = {cin, cout, k, k, s, s, p, p, dil, dil, groups};
    int oh, ow;
    assert_int_equal(ae_conv2d_out_hw(&d, h, w, &oh, &ow), AE_OK);
    ae_tensor x = golden_alloc(n, cin, h, w), y = golden_alloc(n, cout, oh, ow), r = golden_alloc(n, cout, oh, ow);
    size_t wn = (size_t)cout * (cin / groups) * k * k, bad = 0;
    float *wt = malloc(wn * sizeof(float)), *b = malloc((size_t)cout * sizeof(float));
    fill_rand(x.data, ae_tensor_numel(&x));
    fill_rand(wt, wn);
    fill_rand(b, (size_t)cout);
    int use_bias = rnd_int(0, 1);
    naive_conv(&d, &x, wt, use_bias ? b : NULL, &r);
    for (int strat = AE_CONV_AUTO; strat <= AE_CONV_IMPLICIT_SGEMM; strat++) {
        ae_conv2d_cpu_set_strategy(strat);
        size_t wsb = BE->conv2d_ws(BE, &d, &x);
        float *ws = run_ws(wsb);
        assert_int_equal(BE->conv2d(BE, &d, &x, wt, use_bias ? b : NULL, &y, ws, wsb), AE_OK);
        char what[96];
        snprintf(what, sizeof what, "conv %dx%dx%dx%d k%d s%d p%d d%d g%d->%d%s", n, cin, h, w, k, s, p,
                 dil, groups, cout, strategy_name(strat));
        bad += golden_compare(what, y.data, r.data, ae_tensor_numel(&y), ATOL, RTOL);
        free(ws);
    }
    ae_conv2d_cpu_set_strategy(AE_CONV_AUTO);
    free(x.data), free(y.data), free(r.data), free(wt), free(b);
    return bad;
}

/* ae_vexpf against double exp over its whole range [-87.3, 88.3]: every
 * 1/4096 step plus random points; the dispatched loops (AVX-512/AVX2/baseline
 * clone) against the same double formulas. Stated bound: relative error
 * below VEXP_MAX_REL (measured max printed). */
#define VEXP_MAX_REL 3e-7
static void test_vexp(void **state) {
    (void)state;
    double worst = 0, worst_x = 0;
    long n = 0;
    for (double x = -87.3; x <= 88.3; x += 1.0 / 4096, n++) {
        double e = fabs((double)ae_vexpf((float)x) - exp((double)(float)x)) / exp((double)(float)x);
        if (e > worst) worst = e, worst_x = x;
    }
    printf("  vexpf: %ld points, max rel err %.3g at x=%.5f (bound %.1g)\n", n, worst, worst_x, VEXP_MAX_REL);
    assert_true(worst < VEXP_MAX_REL);
    enum { N = 100003 };
    float *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y);
    assert_non_null(x), assert_non_null(y);
    for (int i = 0; i < N; i++) x[i] = 40.0f * rnd_f();
    double we = 0, ws = 0, wg = 0;
    ae_vexp_n(x, y, N);
    for (int i = 0; i < N; i++) {
        double e = exp((double)x[i]);
        we = fmax(we, fabs(y[i] - e) / e);
    }
    ae_silu_n(x, y, N);
    for (int i = 0; i < N; i++) {
        double r = x[i] / (1.0 + exp(-(double)x[i]));
        ws = fmax(ws, fabs(y[i] - r) / fmax(fabs(r), 1e-30));
    }
    ae_sigmoid_n(x, y, N);
    for (int i = 0; i < N; i++) {
        double r = 1.0 / (1.0 + exp(-(double)x[i]));
        wg = fmax(wg, fabs(y[i] - r) / r);
    }
    printf("  loops on %d points in [-40, 40]: max rel err exp %.3g, silu %.3g, sigmoid %.3g\n", N, we, ws, wg);
    assert_true(we < VEXP_MAX_REL);
    assert_true(ws < 4 * VEXP_MAX_REL);
    assert_true(wg < 4 * VEXP_MAX_REL);
    free(x), free(y);
}

static void test_conv_random_naive(void **state) {
    (void)state;
    size_t bad = 0;
    for (int i = 0; i < 24; i++) bad += conv_random_case(0);
    bad += conv_random_case(1); /* several im2col chunks */
    assert_int_equal(bad, 0);
}

static void test_convT_random_naive(void **state) {
    (void)state;
    size_t bad = 0;
    for (int i = 0; i < 16; i++) {
        int groups = rnd_int(1, 2), k = rnd_int(1, 4), s = rnd_int(1, 3), dil = rnd_int(1, 2);
        int p = rnd_int(0, (k - 1) * dil / 2), op = rnd_int(0, (s > dil ? s : dil) - 1);
        int cin = groups * rnd_int(1, 4), cout = groups * rnd_int(1, 4), n = rnd_int(1, 2);
        int h = rnd_int(1, 9), w = rnd_int(1, 11);
        ae_convT2d_desc d = {cin, cout, k, k, s, s, p, p, op, op, dil, dil, groups};
        int oh, ow;
        if (ae_convT2d_out_hw(&d, h, w, &oh, &ow) != AE_OK) continue;
        ae_tensor x = golden_alloc(n, cin, h, w), y = golden_alloc(n, cout, oh, ow), r = golden_alloc(n, cout, oh, ow);
        size_t wn = (size_t)cin * (cout / groups) * k * k;
        float *wt = malloc(wn * sizeof(float)), *b = malloc((size_t)cout * sizeof(float));
        fill_rand(x.data, ae_tensor_numel(&x));
        fill_rand(wt, wn);
        fill_rand(b, (size_t)cout);
        naive_convT(&d, &x, wt, b, &r);
        size_t wsb = BE->conv_transpose2d_ws(BE, &d, &x);
        float *ws = run_ws(wsb);
        assert_int_equal(BE->conv_transpose2d(BE, &d, &x, wt, b, &y, ws, wsb), AE_OK);
        char what[96];
        snprintf(what, sizeof what, "convT %dx%dx%dx%d k%d s%d p%d op%d d%d g%d", n, cin, h, w, k, s, p, op,
                 dil, groups);
        bad += golden_compare(what, y.data, r.data, ae_tensor_numel(&y), ATOL, RTOL);
        free(ws), free(x.data), free(y.data), free(r.data), free(wt), free(b);
    }
    assert_int_equal(bad, 0);
}

/* Attention over 64x64 positions runs in several score chunks; compare with
 * a direct double-precision loop on a few query positions. */
static void test_attention_chunked(void **state) {
    (void)state;
    int C = 4, H = 64, W = 64;
    size_t P = (size_t)H * W;
    ae_tensor q = golden_alloc(1, C, H, W), y = golden_alloc(1, C, H, W);
    fill_rand(q.data, ae_tensor_numel(&q));
    ae_attn_desc d = {1, C, 0.5f, 0, 0, 0, C};
    size_t wsb = BE->attention_ws(BE, &d, &q);
    assert_true(wsb < P * P * sizeof(float));
    float *ws = run_ws(wsb);
    assert_int_equal(BE->attention(BE, &d, &q, &q, &q, &y, ws, wsb), AE_OK);
    double *s = malloc(P * sizeof *s);
    size_t bad = 0;
    for (size_t p = 0; p < P; p += 997) {
        double m = -1e300, sum = 0, ref[4] = {0};
        for (size_t j = 0; j < P; j++) {
            double dot = 0;
            for (int c = 0; c < C; c++) dot += (double)q.data[c * P + p] * q.data[c * P + j];
            s[j] = 0.5 * dot;
            m = s[j] > m ? s[j] : m;
        }
        for (size_t j = 0; j < P; j++) sum += (s[j] = exp(s[j] - m));
        for (size_t j = 0; j < P; j++)
            for (int c = 0; c < C; c++) ref[c] += s[j] / sum * q.data[c * P + j];
        for (int c = 0; c < C; c++) {
            float r = (float)ref[c], g = y.data[c * P + p];
            if (fabsf(r - g) > 1e-4f + 1e-4f * fabsf(r)) bad++;
        }
    }
    printf("  attention 64x64 chunked: %zu mismatches\n", bad);
    free(s), free(ws), free(q.data), free(y.data);
    assert_int_equal(bad, 0);
}

/* ---- arena -------------------------------------------------------------- */

static ae_status arena_pass(ae_arena *A, float **addr) {
    ae_tensor a, b, c, d;
    float *ws;
    ae_status st = ae_arena_tensor(A, &a, 1, 4, 8, 8);
    if (!st) st = ae_arena_tensor(A, &b, 1, 8, 8, 8);
    if (!st) st = ae_arena_scratch(A, 1000, &ws);
    ae_arena_release(A, &a); /* out of order: a hole before b */
    ae_arena_scratch_release(A, ws);
    if (!st) st = ae_arena_tensor(A, &c, 1, 2, 8, 8); /* fits in a's hole */
    if (!st) st = ae_arena_tensor(A, &d, 1, 16, 8, 8);
    addr[0] = b.data, addr[1] = c.data, addr[2] = d.data;
    if (!ae_arena_planning(A) && !st) { /* real memory: must be writable */
        memset(b.data, 1, ae_tensor_bytes(&b));
        memset(d.data, 2, ae_tensor_bytes(&d));
    }
    ae_arena_release(A, &b);
    ae_arena_release(A, &c);
    ae_arena_release(A, &d);
    return st;
}

static void test_arena(void **state) {
    (void)state;
    ae_arena *A;
    float *plan[3], *real[3], *again[3];
    assert_int_equal(ae_arena_create(&A, BE), AE_OK);
    assert_true(ae_arena_planning(A));
    assert_int_equal(arena_pass(A, plan), AE_OK);
    assert_int_equal(ae_arena_used_bytes(A), 0);
    assert_int_equal(ae_arena_commit(A), AE_OK);
    size_t peak = ae_arena_peak_bytes(A);
    /* the planner packs to the largest live set: b (2048 B) + c (512 B) + d (4096 B) */
    assert_int_equal(peak, 2048 + 512 + 4096);
    assert_int_equal(ae_arena_peak_live_bytes(A), peak);
    assert_false(ae_arena_planning(A));
    assert_int_equal(ae_arena_capacity(A), peak);
    assert_int_equal(arena_pass(A, real), AE_OK);
    ae_arena_reset(A);
    assert_int_equal(arena_pass(A, again), AE_OK);
    for (int i = 0; i < 3; i++) assert_ptr_equal(real[i], again[i]);
    assert_int_equal(ae_arena_peak_bytes(A), peak);
    /* a real pass asking for more than planned fails cleanly */
    ae_tensor big;
    assert_int_equal(ae_arena_tensor(A, &big, 1, 64, 64, 64), AE_ERR_NOMEM);
    assert_non_null(strstr(ae_error_message(), "planned"));
    assert_int_equal(ae_arena_tensor(A, &big, 0, 1, 1, 1), AE_ERR_SHAPE);
    ae_arena_free(A);
    ae_arena_free(NULL);

    /* a block kept past its planned release: the next request is refused */
    ae_tensor t1, t2, t3;
    assert_int_equal(ae_arena_create(&A, BE), AE_OK);
    for (int pass = 0; pass < 2; pass++) {
        assert_int_equal(ae_arena_tensor(A, &t1, 1, 1, 8, 8), AE_OK);
        assert_int_equal(ae_arena_tensor(A, &t2, 1, 1, 8, 8), AE_OK);
        if (pass == 0) {
            ae_arena_release(A, &t1);
            ae_arena_release(A, &t2);
            assert_int_equal(ae_arena_tensor(A, &t3, 1, 1, 8, 8), AE_OK);
            assert_int_equal(ae_arena_commit(A), AE_OK);
        } else {
            ae_arena_release(A, &t2);
            assert_int_equal(ae_arena_tensor(A, &t3, 1, 1, 8, 8), AE_ERR_NOMEM);
            assert_non_null(strstr(ae_error_message(), "planned"));
        }
    }
    ae_arena_free(A);
}

/* One pass of a random alloc/release program (fixed seed: the same program
 * in the planning and the real pass). In the real pass each live block holds
 * its id, checked when it is released: overlapping placements would clobber. */
static size_t arena_random_program(ae_arena *A, int real) {
    enum { STEPS = 300, SLOTS = 12 };
    ae_tensor live[SLOTS];
    int id[SLOTS], used[SLOTS] = {0};
    uint32_t r = 777u;
    size_t bad = 0;
    for (int step = 0; step < STEPS; step++) {
        r = r * 1664525u + 1013904223u;
        int k = (int)((r >> 10) % SLOTS);
        if (used[k]) {
            for (size_t i = 0; real && i < ae_tensor_numel(&live[k]); i++) bad += live[k].data[i] != (float)id[k];
            ae_arena_release(A, &live[k]);
            used[k] = 0;
        } else {
            int c = 1 + (int)((r >> 20) % 24); /* 1..24 KiB-ish blocks of mixed sizes */
            assert_int_equal(ae_arena_tensor(A, &live[k], 1, c, 16, 16), AE_OK);
            used[k] = 1;
            id[k] = step;
            for (size_t i = 0; real && i < ae_tensor_numel(&live[k]); i++) live[k].data[i] = (float)step;
        }
    }
    for (int k = 0; k < SLOTS; k++) {
        for (size_t i = 0; real && used[k] && i < ae_tensor_numel(&live[k]); i++) bad += live[k].data[i] != (float)id[k];
        if (used[k]) ae_arena_release(A, &live[k]);
    }
    return bad;
}

static void test_arena_placement(void **state) {
    (void)state;
    ae_arena *A;
    assert_int_equal(ae_arena_create(&A, BE), AE_OK);
    assert_int_equal(arena_random_program(A, 0), 0);
    assert_int_equal(ae_arena_commit(A), AE_OK);
    size_t peak = ae_arena_peak_bytes(A), live = ae_arena_peak_live_bytes(A);
    printf("  random program: planned peak %zu B, largest live set %zu B (%.3fx)\n", peak, live,
           (double)peak / (double)live);
    assert_true(peak >= live);
    assert_true(peak <= live + live / 4); /* the planner's fragmentation stays small */
    assert_int_equal(arena_random_program(A, 1), 0);
    ae_arena_free(A);
}

/* ---- errors ------------------------------------------------------------- */

static void test_errors(void **state) {
    (void)state;
    const ae_backend *be;
#ifndef AE_HAVE_CUDA /* CUDA builds: tests/test_cuda_ops.c checks cuda/auto */
    assert_int_equal(ae_backend_get("cuda", &be), AE_ERR_UNAVAILABLE);
    assert_string_equal(ae_error_message(), "CUDA backend not built");
    assert_int_equal(ae_backend_get("auto", &be), AE_OK);
    assert_string_equal(be->name, "cpu");
#endif
    assert_int_equal(ae_backend_get("tpu", &be), AE_ERR_ARG);
    assert_non_null(strstr(ae_error_message(), "tpu"));
    for (int op = 0; op < AE_OP_COUNT; op++) assert_true(BE->supports(BE, (ae_op)op));

    float buf[64] = {0};
    ae_tensor x = ae_tensor_make(buf, 1, 3, 4, 4), y = ae_tensor_make(buf, 1, 2, 4, 4);
    ae_conv2d_desc d = {4, 2, 3, 3, 1, 1, 1, 1, 1, 1, 1};
    assert_int_equal(BE->conv2d(BE, &d, &x, buf, NULL, &y, buf, sizeof buf), AE_ERR_SHAPE);
    assert_non_null(strstr(ae_error_message(), "3 channels"));
    ae_conv2d_desc bad_groups = {3, 2, 3, 3, 1, 1, 1, 1, 1, 1, 2};
    int oh, ow;
    assert_int_equal(ae_conv2d_out_hw(&bad_groups, 4, 4, &oh, &ow), AE_ERR_ARG);
    ae_conv2d_desc too_big = {3, 2, 7, 7, 1, 1, 0, 0, 1, 1, 1};
    assert_int_equal(ae_conv2d_out_hw(&too_big, 4, 4, &oh, &ow), AE_ERR_SHAPE);
    assert_int_equal(BE->add(BE, &x, &y, &y), AE_ERR_SHAPE);
    assert_int_equal(BE->groupnorm(BE, &x, 2, NULL, NULL, 1e-5f, &x), AE_ERR_SHAPE);
    assert_int_equal(BE->pixel_shuffle(BE, 2, &x, &y), AE_ERR_SHAPE);
    ae_tensor odd = ae_tensor_make(buf, 1, 3, 1, 1);
    float g = 0.5f;
    assert_int_equal(BE->noise_embed(BE, &g, &odd), AE_ERR_SHAPE);
    assert_int_equal(ae_tensor_check_shape(1 << 16, 1 << 16, 2, 2, "t"), AE_ERR_SHAPE);
    assert_string_equal(ae_op_name(AE_OP_ATTENTION), "attention");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv_golden),       cmocka_unit_test(test_convT_golden),
        cmocka_unit_test(test_linear_golden),     cmocka_unit_test(test_norm_golden),
        cmocka_unit_test(test_activation_golden), cmocka_unit_test(test_elementwise_golden),
        cmocka_unit_test(test_resample_golden),   cmocka_unit_test(test_attention_golden),
        cmocka_unit_test(test_embed_golden),      cmocka_unit_test(test_conv_random_naive),
        cmocka_unit_test(test_convT_random_naive), cmocka_unit_test(test_attention_chunked),
        cmocka_unit_test(test_arena),             cmocka_unit_test(test_errors),
        cmocka_unit_test(test_vexp), cmocka_unit_test(test_arena_placement),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
