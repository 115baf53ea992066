/* test_cuda_ops.c - every op of the CUDA backend against the CPU backend
 * (the reference, itself checked against PyTorch by test_ops.c), at odd
 * shapes, in both precisions of the CUDA backend.
 *
 * Inputs are uniform random in [-1, 1] (fixed seed). Tolerances, per element
 * |gpu - cpu| <= atol + rtol*|cpu|, with rms = the RMS of the CPU output:
 *   pointwise, resampling, pool, embedding, concat/copy (float in both modes):
 *        atol = 1e-5 * max(1, rms), rtol = 1e-5
 *   batch/group/instance norm:  atol = 1e-4, rtol = 1e-4
 *   conv, conv_transpose, linear, attention (GEMMs):
 *        fp32 (TF32 tensor cores, 10-bit mantissa): atol = 5e-3 * rms, rtol = 5e-3
 *        fp16 (half operands/outputs, float sums):  atol = 1e-2 * rms, rtol = 1e-2
 *   and for GEMMs also the NMSE sum|d|^2 / sum|ref|^2 <= 1e-5 (fp32), 1e-4 (fp16).
 * Without a usable GPU (or without the CUDA build) every GPU test calls
 * skip(), so it is reported as SKIPPED. test_select (backend choice, the
 * precision name check, the --device auto fallback) runs everywhere.
 * NOTE: written on a machine without a GPU; never run on one so far.
 */
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
#ifdef AE_HAVE_CUDA
#include "../src/backend/cuda_backend.h"
#endif

static const ae_backend *CPU;
static ae_backend *GPU[2]; /* [0] fp32, [1] fp16 */
static char g_why[512] = "CUDA backend not built";
static const char *const PREC[2] = {"fp32", "fp16"};

/* Host weight arrays live until teardown: the CUDA backend caches device
 * copies by host pointer, so a freed-and-reused address must not occur. */
static void **g_keep;
static size_t g_nkeep, g_capkeep;

static float *keep(float *p) {
    if (g_nkeep == g_capkeep) {
        g_capkeep = g_capkeep ? 2 * g_capkeep : 64;
        g_keep = realloc(g_keep, g_capkeep * sizeof *g_keep);
        assert_non_null(g_keep);
    }
    g_keep[g_nkeep++] = p;
    return p;
}

static uint64_t g_rng = 0x9E3779B97F4A7C15ull;

static float frand(void) {
    g_rng = g_rng * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((g_rng >> 40) * (1.0 / 16777216.0)) * 2.0f - 1.0f;
}

static float *rand_host(size_t n, float scale, float offset) {
    float *p = malloc((n ? n : 1) * sizeof *p);
    assert_non_null(p);
    for (size_t i = 0; i < n; i++) p[i] = frand() * scale + offset;
    return p;
}

static float *weights(size_t n, float scale) { return keep(rand_host(n, scale, 0.0f)); }

static int setup(void **state) {
    (void)state;
    CPU = ae_backend_cpu();
#ifdef AE_HAVE_CUDA
    for (int p = 0; p < 2; p++) {
        if (ae_backend_cuda_create(&GPU[p]) != AE_OK) {
            snprintf(g_why, sizeof g_why, "%s", ae_error_message());
            GPU[p] = NULL;
            break;
        }
        assert_int_equal(ae_backend_cuda_set_precision(GPU[p], PREC[p]), AE_OK);
    }
    if (GPU[0] && GPU[1]) printf("# CUDA device: %s\n", ae_backend_cuda_describe(GPU[0]));
#endif
    if (!GPU[0] || !GPU[1]) printf("# CUDA tests skipped: %s\n", g_why);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    for (int p = 0; p < 2; p++)
        if (GPU[p]) GPU[p]->release(GPU[p]);
    for (size_t i = 0; i < g_nkeep; i++) free(g_keep[i]);
    free(g_keep);
    return 0;
}

#define NEED_GPU()                                                                                 \
    do {                                                                                           \
        if (!GPU[0] || !GPU[1]) skip();                                                            \
    } while (0)

/* ---- tensors on any backend --------------------------------------------- */

static ae_tensor tnew(const ae_backend *be, const float *host, int n, int c, int h, int w) {
    ae_tensor t = ae_tensor_make(NULL, n, c, h, w);
    size_t bytes = ae_tensor_bytes(&t);
    void *p = NULL;
    assert_int_equal(be->alloc(be, bytes, &p), AE_OK);
    t.data = p;
    float *z = host ? NULL : calloc(ae_tensor_numel(&t), sizeof(float));
    assert_int_equal(be->upload(be, t.data, host ? host : z, bytes), AE_OK);
    free(z);
    return t;
}

static float *tread(const ae_backend *be, const ae_tensor *t) {
    float *h = malloc(ae_tensor_bytes(t));
    assert_non_null(h);
    assert_int_equal(be->download(be, h, t->data, ae_tensor_bytes(t)), AE_OK);
    return h;
}

static void tfree(const ae_backend *be, ae_tensor *t) {
    be->free(be, t->data);
    t->data = NULL;
}

static void *wsnew(const ae_backend *be, size_t bytes) {
    void *p = NULL;
    if (bytes) assert_int_equal(be->alloc(be, bytes, &p), AE_OK);
    return p;
}

/* ---- comparison ----------------------------------------------------------- */

typedef enum { TOL_EXACT = 0, TOL_NORM, TOL_GEMM } tol_kind;

/* Number of elements outside tolerance (NaN == NaN); prints one line. */
static size_t compare(const char *what, int prec, tol_kind k, const float *got, const float *ref, size_t n) {
    double ss = 0.0, se = 0.0, maxerr = 0.0;
    for (size_t i = 0; i < n; i++)
        if (isfinite(ref[i])) ss += (double)ref[i] * ref[i];
    double rms = n ? sqrt(ss / (double)n) : 0.0, atol, rtol;
    if (k == TOL_GEMM) {
        rtol = prec ? 1e-2 : 5e-3;
        atol = rtol * rms;
    } else if (k == TOL_NORM) {
        atol = rtol = 1e-4;
    } else {
        atol = 1e-5 * (rms > 1.0 ? rms : 1.0);
        rtol = 1e-5;
    }
    size_t bad = 0, first = 0;
    for (size_t i = 0; i < n; i++) {
        if (isnan(ref[i]) && isnan(got[i])) continue;
        double e = fabs((double)got[i] - (double)ref[i]);
        if (isfinite(e)) se += e * e;
        if (!(e <= atol + rtol * fabs((double)ref[i]))) {
            if (!bad) first = i;
            bad++;
        }
        if (e > maxerr || isnan(e)) maxerr = e;
    }
    double nmse = ss > 0.0 ? se / ss : se;
    int nmse_bad = k == TOL_GEMM && !(nmse <= (prec ? 1e-4 : 1e-5));
    printf("  %-34s %s %s n=%zu max|err| %.3g (atol %.3g rtol %.3g) nmse %.3g\n", what, PREC[prec],
           bad || nmse_bad ? "FAIL" : "ok  ", n, maxerr, atol, rtol, nmse);
    if (bad)
        printf("    %zu outside, first at %zu: gpu %.8g cpu %.8g\n", bad, first, (double)got[first],
               (double)ref[first]);
    return bad + (size_t)nmse_bad;
}

/* y on the CPU (host) vs y on the GPU (device): compare and free both. */
static size_t finish(const char *what, int prec, tol_kind k, ae_tensor *yc, ae_tensor *yg) {
    float *g = tread(GPU[prec], yg);
    size_t bad = compare(what, prec, k, g, yc->data, ae_tensor_numel(yc));
    free(g);
    tfree(CPU, yc);
    tfree(GPU[prec], yg);
    return bad;
}

/* ---- backend choice (runs with or without a GPU) -------------------------- */

static void test_select(void **state) {
    (void)state;
    const ae_backend *be = NULL;
    ae_status st = ae_backend_get("cuda", &be);
#ifdef AE_HAVE_CUDA
    if (GPU[0]) {
        assert_int_equal(st, AE_OK);
        assert_string_equal(be->name, "cuda");
    } else {
        assert_int_equal(st, AE_ERR_DEVICE);
        assert_true(strlen(ae_error_message()) > 0);
        printf("  cuda unavailable: %s\n", ae_error_message());
    }
    if (GPU[0]) { /* --precision reaches a backend made afterwards */
        ae_backend *tmp = NULL;
        assert_int_equal(ae_backend_set_precision("fp16"), AE_OK);
        assert_int_equal(ae_backend_cuda_create(&tmp), AE_OK);
        assert_string_equal(ae_backend_cuda_precision(tmp), "fp16");
        tmp->release(tmp);
        assert_int_equal(ae_backend_set_precision("fp32"), AE_OK);
    }
#else
    assert_int_equal(st, AE_ERR_UNAVAILABLE);
#endif
    assert_int_equal(ae_backend_set_precision("fp8"), AE_ERR_ARG);
    assert_non_null(strstr(ae_error_message(), "precision 'fp8'"));
    assert_string_equal(ae_backend_precision(), "fp32");
    assert_int_equal(ae_backend_get("auto", &be), AE_OK);
    assert_string_equal(be->name, GPU[0] ? "cuda" : "cpu");
}

/* ---- convolution ---------------------------------------------------------- */

typedef struct {
    int n, cin, h, w, cout, k, stride, pad, dil, groups, bias;
} conv_case;

static size_t run_conv(const conv_case *c, int prec) {
    ae_conv2d_desc d = {c->cin, c->cout, c->k, c->k, c->stride, c->stride, c->pad, c->pad, c->dil, c->dil,
                        c->groups};
    int oh, ow;
    assert_int_equal(ae_conv2d_out_hw(&d, c->h, c->w, &oh, &ow), AE_OK);
    size_t nx = (size_t)c->n * c->cin * c->h * c->w, nw = (size_t)c->cout * (c->cin / c->groups) * c->k * c->k;
    float *x = rand_host(nx, 1.0f, 0.0f), *w = weights(nw, 0.5f), *b = c->bias ? weights(c->cout, 1.0f) : NULL;
    ae_tensor y[2];
    const ae_backend *bes[2] = {CPU, GPU[prec]};
    for (int i = 0; i < 2; i++) {
        const ae_backend *be = bes[i];
        ae_tensor xt = tnew(be, x, c->n, c->cin, c->h, c->w);
        y[i] = tnew(be, NULL, c->n, c->cout, oh, ow);
        size_t wsb = be->conv2d_ws(be, &d, &xt);
        void *ws = wsnew(be, wsb);
        assert_int_equal(be->conv2d(be, &d, &xt, w, b, &y[i], ws, wsb), AE_OK);
        be->free(be, ws);
        tfree(be, &xt);
    }
    free(x);
    char what[96];
    snprintf(what, sizeof what, "conv2d %dx%dx%dx%d k%d s%d p%d d%d g%d%s", c->n, c->cin, c->h, c->w, c->k,
             c->stride, c->pad, c->dil, c->groups, c->bias ? " +b" : "");
    return finish(what, prec, TOL_GEMM, &y[0], &y[1]);
}

static void test_conv2d(void **state) {
    (void)state;
    NEED_GPU();
    static const conv_case cases[] = {
        {2, 3, 13, 17, 5, 3, 1, 1, 1, 1, 1}, {1, 8, 9, 11, 6, 3, 2, 1, 1, 2, 0},
        {1, 4, 15, 7, 4, 3, 1, 2, 2, 4, 1},  {3, 5, 6, 5, 7, 1, 1, 0, 1, 1, 1},
        {1, 3, 31, 29, 8, 7, 2, 3, 1, 1, 1}, {1, 6, 10, 10, 4, 4, 2, 1, 1, 1, 1},
        {1, 64, 33, 35, 96, 3, 1, 1, 1, 1, 1},
    };
    size_t bad = 0;
    for (int p = 0; p < 2; p++)
        for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) bad += run_conv(&cases[i], p);
    assert_int_equal(bad, 0);
}

typedef struct {
    int n, cin, h, w, cout, k, stride, pad, out_pad, dil, groups, bias;
} convT_case;

static size_t run_convT(const convT_case *c, int prec) {
    ae_convT2d_desc d = {c->cin, c->cout, c->k, c->k, c->stride, c->stride, c->pad, c->pad,
                         c->out_pad, c->out_pad, c->dil, c->dil, c->groups};
    int oh, ow;
    assert_int_equal(ae_convT2d_out_hw(&d, c->h, c->w, &oh, &ow), AE_OK);
    size_t nx = (size_t)c->n * c->cin * c->h * c->w, nw = (size_t)c->cin * (c->cout / c->groups) * c->k * c->k;
    float *x = rand_host(nx, 1.0f, 0.0f), *w = weights(nw, 0.5f), *b = c->bias ? weights(c->cout, 1.0f) : NULL;
    ae_tensor y[2];
    const ae_backend *bes[2] = {CPU, GPU[prec]};
    for (int i = 0; i < 2; i++) {
        const ae_backend *be = bes[i];
        ae_tensor xt = tnew(be, x, c->n, c->cin, c->h, c->w);
        y[i] = tnew(be, NULL, c->n, c->cout, oh, ow);
        size_t wsb = be->conv_transpose2d_ws(be, &d, &xt);
        void *ws = wsnew(be, wsb);
        assert_int_equal(be->conv_transpose2d(be, &d, &xt, w, b, &y[i], ws, wsb), AE_OK);
        be->free(be, ws);
        tfree(be, &xt);
    }
    free(x);
    char what[96];
    snprintf(what, sizeof what, "convT %dx%dx%dx%d k%d s%d p%d op%d d%d g%d", c->n, c->cin, c->h, c->w, c->k,
             c->stride, c->pad, c->out_pad, c->dil, c->groups);
    return finish(what, prec, TOL_GEMM, &y[0], &y[1]);
}

static void test_conv_transpose2d(void **state) {
    (void)state;
    NEED_GPU();
    static const convT_case cases[] = {
        {2, 4, 7, 5, 3, 4, 2, 1, 0, 1, 1, 1}, {1, 6, 5, 9, 4, 3, 2, 1, 1, 1, 2, 1},
        {1, 3, 4, 6, 5, 3, 2, 0, 1, 2, 1, 0}, {1, 8, 3, 3, 8, 2, 2, 0, 0, 1, 8, 1},
        {1, 3, 4, 6, 5, 3, 1, 0, 0, 2, 1, 1},
    };
    size_t bad = 0;
    for (int p = 0; p < 2; p++)
        for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) bad += run_convT(&cases[i], p);
    assert_int_equal(bad, 0);
    /* output_padding >= stride (allowed by PyTorch when < dilation): not on CUDA, said so */
    ae_convT2d_desc d = {3, 5, 3, 3, 1, 1, 0, 0, 1, 1, 2, 2, 1};
    ae_tensor x = tnew(GPU[0], NULL, 1, 3, 4, 6), y = tnew(GPU[0], NULL, 1, 5, 9, 11);
    assert_int_equal(GPU[0]->conv_transpose2d(GPU[0], &d, &x, weights(3 * 5 * 9, 1.0f), NULL, &y, NULL, 0),
                     AE_ERR_UNAVAILABLE);
    assert_non_null(strstr(ae_error_message(), "output_padding"));
    tfree(GPU[0], &x);
    tfree(GPU[0], &y);
}

static void test_linear(void **state) {
    (void)state;
    NEED_GPU();
    size_t bad = 0;
    for (int p = 0; p < 2; p++)
        for (int bias = 0; bias < 2; bias++) {
            int n = bias ? 3 : 1, in_c = 37, out = 19;
            float *x = rand_host((size_t)n * in_c, 1.0f, 0.0f), *w = weights((size_t)out * in_c, 0.3f);
            float *b = bias ? weights(out, 1.0f) : NULL;
            ae_tensor y[2];
            const ae_backend *bes[2] = {CPU, GPU[p]};
            for (int i = 0; i < 2; i++) {
                ae_tensor xt = tnew(bes[i], x, n, in_c, 1, 1);
                y[i] = tnew(bes[i], NULL, n, out, 1, 1);
                assert_int_equal(bes[i]->linear(bes[i], &xt, w, b, &y[i]), AE_OK);
                tfree(bes[i], &xt);
            }
            free(x);
            bad += finish(bias ? "linear 3x37 -> 19 +b" : "linear 1x37 -> 19", p, TOL_GEMM, &y[0], &y[1]);
        }
    assert_int_equal(bad, 0);
}

/* ---- normalisation ---------------------------------------------------------- */

static void test_batchnorm(void **state) {
    (void)state;
    NEED_GPU();
    int N = 2, C = 5, H = 9, W = 13;
    size_t nx = (size_t)N * C * H * W, bad = 0;
    float *mean = weights(C, 1.0f), *var = keep(rand_host(C, 0.4f, 0.6f));
    float *gamma = weights(C, 1.0f), *beta = weights(C, 1.0f);
    for (int affine = 0; affine < 2; affine++)
        for (int inplace = 0; inplace < 2; inplace++) {
            float *x = rand_host(nx, 2.0f, 0.5f);
            ae_tensor y[2];
            const ae_backend *bes[2] = {CPU, GPU[0]};
            for (int i = 0; i < 2; i++) {
                ae_tensor xt = tnew(bes[i], x, N, C, H, W);
                y[i] = inplace ? xt : tnew(bes[i], NULL, N, C, H, W);
                assert_int_equal(bes[i]->batchnorm(bes[i], &xt, mean, var, affine ? gamma : NULL,
                                                   affine ? beta : NULL, 1e-5f, &y[i]), AE_OK);
                if (!inplace) tfree(bes[i], &xt);
            }
            free(x);
            char what[64];
            snprintf(what, sizeof what, "batchnorm%s%s", affine ? " affine" : "", inplace ? " in place" : "");
            bad += finish(what, 0, TOL_NORM, &y[0], &y[1]);
        }
    assert_int_equal(bad, 0);
}

typedef struct {
    int n, c, h, w, groups, affine, inplace;
    float offset;
} gn_case;

static void test_groupnorm(void **state) {
    (void)state;
    NEED_GPU();
    static const gn_case cases[] = {
        {2, 12, 7, 9, 4, 1, 0, 0.0f},  {2, 12, 7, 9, 3, 0, 1, 0.0f},   {1, 12, 5, 3, 12, 1, 0, 0.0f},
        {3, 6, 11, 13, 1, 1, 0, 0.0f}, {1, 32, 67, 71, 2, 1, 0, 0.0f}, {1, 8, 31, 33, 4, 1, 1, 100.0f},
    };
    size_t bad = 0;
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        const gn_case *c = &cases[k];
        size_t nx = (size_t)c->n * c->c * c->h * c->w;
        float *x = rand_host(nx, 1.0f, c->offset);
        float *g = c->affine ? weights(c->c, 1.0f) : NULL, *b = c->affine ? weights(c->c, 1.0f) : NULL;
        ae_tensor y[2];
        const ae_backend *bes[2] = {CPU, GPU[0]};
        for (int i = 0; i < 2; i++) {
            ae_tensor xt = tnew(bes[i], x, c->n, c->c, c->h, c->w);
            y[i] = c->inplace ? xt : tnew(bes[i], NULL, c->n, c->c, c->h, c->w);
            ae_status st = c->groups == c->c ? bes[i]->instancenorm(bes[i], &xt, g, b, 1e-5f, &y[i])
                                             : bes[i]->groupnorm(bes[i], &xt, c->groups, g, b, 1e-5f, &y[i]);
            assert_int_equal(st, AE_OK);
            if (!c->inplace) tfree(bes[i], &xt);
        }
        free(x);
        char what[96];
        snprintf(what, sizeof what, "%s %dx%dx%dx%d g%d%s%s", c->groups == c->c ? "instancenorm" : "groupnorm",
                 c->n, c->c, c->h, c->w, c->groups, c->affine ? " affine" : "", c->offset ? " offset" : "");
        bad += finish(what, 0, TOL_NORM, &y[0], &y[1]);
    }
    assert_int_equal(bad, 0);
}

/* ---- pointwise -------------------------------------------------------------- */

static void test_activation(void **state) {
    (void)state;
    NEED_GPU();
    static const char *const names[] = {"identity", "relu", "leaky_relu", "silu", "gelu", "tanh", "sigmoid"};
    int N = 1, C = 3, H = 13, W = 17;
    size_t bad = 0;
    for (int kind = AE_ACT_IDENTITY; kind <= AE_ACT_SIGMOID; kind++)
        for (int inplace = 0; inplace < 2; inplace++) {
            float *x = rand_host((size_t)N * C * H * W, 4.0f, 0.0f);
            ae_tensor y[2];
            const ae_backend *bes[2] = {CPU, GPU[0]};
            for (int i = 0; i < 2; i++) {
                ae_tensor xt = tnew(bes[i], x, N, C, H, W);
                y[i] = inplace ? xt : tnew(bes[i], NULL, N, C, H, W);
                assert_int_equal(bes[i]->activation(bes[i], (ae_act)kind, 0.2f, &xt, &y[i]), AE_OK);
                if (!inplace) tfree(bes[i], &xt);
            }
            free(x);
            char what[64];
            snprintf(what, sizeof what, "activation %s%s", names[kind], inplace ? " in place" : "");
            bad += finish(what, 0, TOL_EXACT, &y[0], &y[1]);
        }
    assert_int_equal(bad, 0);
}

static void test_add_mul_copy(void **state) {
    (void)state;
    NEED_GPU();
    int N = 2, C = 3, H = 11, W = 7;
    size_t n = (size_t)N * C * H * W, bad = 0;
    float *a = rand_host(n, 1.0f, 0.0f), *b = rand_host(n, 1.0f, 0.0f);
    for (int op = 0; op < 3; op++) {
        ae_tensor y[2];
        const ae_backend *bes[2] = {CPU, GPU[0]};
        for (int i = 0; i < 2; i++) {
            const ae_backend *be = bes[i];
            ae_tensor at = tnew(be, a, N, C, H, W), bt = tnew(be, b, N, C, H, W);
            y[i] = tnew(be, NULL, N, C, H, W);
            ae_status st = op == 0 ? be->add(be, &at, &bt, &y[i])
                         : op == 1 ? be->mul(be, &at, &bt, &at) /* in place */
                                   : be->copy(be, &bt, &y[i]);
            assert_int_equal(st, AE_OK);
            if (op == 1) {
                tfree(be, &y[i]);
                y[i] = at;
            } else {
                tfree(be, &at);
            }
            tfree(be, &bt);
        }
        bad += finish(op == 0 ? "add" : op == 1 ? "mul in place" : "copy", 0, TOL_EXACT, &y[0], &y[1]);
    }
    free(a);
    free(b);
    assert_int_equal(bad, 0);
}

static void test_scale_shift(void **state) {
    (void)state;
    NEED_GPU();
    int N = 3, C = 5, H = 7, W = 9;
    size_t bad = 0;
    float *x = rand_host((size_t)N * C * H * W, 1.0f, 0.0f);
    float *sv = rand_host((size_t)N * C, 1.0f, 0.0f), *tv = rand_host((size_t)N * C, 1.0f, 0.0f);
    for (int mode = 0; mode < 5; mode++) {
        /* 0: both per item, bias 1; 1: both broadcast, bias 0; 2: no scale; 3: no shift; 4: mixed */
        int sn = mode == 1 || mode == 4 ? 1 : N, tn = mode == 1 ? 1 : N;
        float sb = mode == 1 ? 0.0f : 1.0f;
        ae_tensor y[2];
        const ae_backend *bes[2] = {CPU, GPU[0]};
        for (int i = 0; i < 2; i++) {
            const ae_backend *be = bes[i];
            ae_tensor xt = tnew(be, x, N, C, H, W), st_ = tnew(be, sv, sn, C, 1, 1), tt = tnew(be, tv, tn, C, 1, 1);
            y[i] = tnew(be, NULL, N, C, H, W);
            assert_int_equal(be->scale_shift(be, &xt, mode == 2 ? NULL : &st_, sb, mode == 3 ? NULL : &tt, &y[i]),
                             AE_OK);
            tfree(be, &xt);
            tfree(be, &st_);
            tfree(be, &tt);
        }
        char what[64];
        snprintf(what, sizeof what, "scale_shift mode %d", mode);
        bad += finish(what, 0, TOL_EXACT, &y[0], &y[1]);
    }
    free(x);
    free(sv);
    free(tv);
    assert_int_equal(bad, 0);
}

static void test_concat(void **state) {
    (void)state;
    NEED_GPU();
    int N = 2, H = 5, W = 7, cs[3] = {3, 1, 4};
    float *h[3];
    for (int k = 0; k < 3; k++) h[k] = rand_host((size_t)N * cs[k] * H * W, 1.0f, 0.0f);
    ae_tensor y[2];
    const ae_backend *bes[2] = {CPU, GPU[0]};
    for (int i = 0; i < 2; i++) {
        ae_tensor t[3];
        const ae_tensor *xs[3] = {&t[0], &t[1], &t[2]};
        for (int k = 0; k < 3; k++) t[k] = tnew(bes[i], h[k], N, cs[k], H, W);
        y[i] = tnew(bes[i], NULL, N, 8, H, W);
        assert_int_equal(bes[i]->concat(bes[i], xs, 3, &y[i]), AE_OK);
        for (int k = 0; k < 3; k++) tfree(bes[i], &t[k]);
    }
    for (int k = 0; k < 3; k++) free(h[k]);
    assert_int_equal(finish("concat 3+1+4 channels, n=2", 0, TOL_EXACT, &y[0], &y[1]), 0);
}

/* ---- resampling -------------------------------------------------------------- */

static void test_upsample(void **state) {
    (void)state;
    NEED_GPU();
    static const int sz[][4] = {{5, 7, 10, 14}, {7, 5, 13, 11}, {13, 9, 6, 4}, {4, 4, 4, 4}};
    size_t bad = 0;
    for (int mode = 0; mode < 2; mode++)
        for (size_t k = 0; k < sizeof sz / sizeof *sz; k++) {
            int N = 2, C = 3, H = sz[k][0], W = sz[k][1], OH = sz[k][2], OW = sz[k][3];
            float *x = rand_host((size_t)N * C * H * W, 1.0f, 0.0f);
            ae_tensor y[2];
            const ae_backend *bes[2] = {CPU, GPU[0]};
            for (int i = 0; i < 2; i++) {
                ae_tensor xt = tnew(bes[i], x, N, C, H, W);
                y[i] = tnew(bes[i], NULL, N, C, OH, OW);
                assert_int_equal(bes[i]->upsample(bes[i], (ae_upsample_mode)mode, &xt, &y[i]), AE_OK);
                tfree(bes[i], &xt);
            }
            free(x);
            char what[64];
            snprintf(what, sizeof what, "upsample %s %dx%d -> %dx%d", mode ? "bilinear" : "nearest", H, W, OH, OW);
            bad += finish(what, 0, TOL_EXACT, &y[0], &y[1]);
        }
    assert_int_equal(bad, 0);
}

static void test_pixel_shuffle(void **state) {
    (void)state;
    NEED_GPU();
    size_t bad = 0;
    for (int r = 2; r <= 3; r++) {
        int N = 2, C = 3 * r * r, H = 5, W = 7;
        float *x = rand_host((size_t)N * C * H * W, 1.0f, 0.0f);
        ae_tensor y[2];
        const ae_backend *bes[2] = {CPU, GPU[0]};
        for (int i = 0; i < 2; i++) {
            ae_tensor xt = tnew(bes[i], x, N, C, H, W);
            y[i] = tnew(bes[i], NULL, N, 3, H * r, W * r);
            assert_int_equal(bes[i]->pixel_shuffle(bes[i], r, &xt, &y[i]), AE_OK);
            tfree(bes[i], &xt);
        }
        free(x);
        bad += finish(r == 2 ? "pixel_shuffle r=2" : "pixel_shuffle r=3", 0, TOL_EXACT, &y[0], &y[1]);
    }
    assert_int_equal(bad, 0);
}

static void test_pool(void **state) {
    (void)state;
    NEED_GPU();
    static const ae_pool_desc ds[] = {
        {AE_POOL_MAX, 3, 3, 2, 2, 1, 1}, {AE_POOL_AVG, 3, 3, 2, 2, 1, 1},
        {AE_POOL_MAX, 2, 2, 2, 2, 0, 0}, {AE_POOL_AVG, 2, 3, 1, 2, 1, 0},
        {AE_POOL_AVG_EXCLUDE_PAD, 3, 3, 1, 1, 1, 1},
    };
    int N = 2, C = 3, H = 11, W = 13;
    size_t bad = 0;
    for (size_t k = 0; k < sizeof ds / sizeof *ds; k++) {
        int oh, ow;
        assert_int_equal(ae_pool_out_hw(&ds[k], H, W, &oh, &ow), AE_OK);
        float *x = rand_host((size_t)N * C * H * W, 1.0f, 0.0f);
        x[17] = NAN; /* max pooling propagates NaN like PyTorch */
        ae_tensor y[2];
        const ae_backend *bes[2] = {CPU, GPU[0]};
        for (int i = 0; i < 2; i++) {
            ae_tensor xt = tnew(bes[i], x, N, C, H, W);
            y[i] = tnew(bes[i], NULL, N, C, oh, ow);
            assert_int_equal(bes[i]->pool(bes[i], &ds[k], &xt, &y[i]), AE_OK);
            tfree(bes[i], &xt);
        }
        free(x);
        char what[64];
        snprintf(what, sizeof what, "%s pool k%dx%d s%d p%d", ds[k].kind == AE_POOL_MAX ? "max" : "avg", ds[k].kh,
                 ds[k].kw, ds[k].stride_h, ds[k].pad_h);
        bad += finish(what, 0, TOL_EXACT, &y[0], &y[1]);
    }
    assert_int_equal(bad, 0);
}

/* ---- attention and embedding ---------------------------------------------------- */

typedef struct {
    const char *name;
    int n, h, w, heads, head_dim, fused, sr3;
} attn_case;

static size_t run_attention(const attn_case *a, int prec) {
    int C = a->heads * a->head_dim, cq = a->fused ? 3 * C : C;
    ae_attn_desc d = {a->heads, a->head_dim, 1.0f / sqrtf((float)(a->sr3 ? C : a->head_dim)), 0, 0, 0,
                      a->head_dim};
    if (a->fused && a->sr3) d = (ae_attn_desc){a->heads, a->head_dim, d.scale, 0, a->head_dim,
                                               2 * a->head_dim, 3 * a->head_dim};
    else if (a->fused) d.k_off = C, d.v_off = 2 * C;
    size_t nq = (size_t)a->n * cq * a->h * a->w;
    float *hq = rand_host(nq, 1.0f, 0.0f), *hk = a->fused ? NULL : rand_host(nq, 1.0f, 0.0f);
    float *hv = a->fused ? NULL : rand_host(nq, 1.0f, 0.0f);
    ae_tensor y[2];
    const ae_backend *bes[2] = {CPU, GPU[prec]};
    for (int i = 0; i < 2; i++) {
        const ae_backend *be = bes[i];
        ae_tensor q = tnew(be, hq, a->n, cq, a->h, a->w), k = q, v = q;
        if (!a->fused) {
            k = tnew(be, hk, a->n, cq, a->h, a->w);
            v = tnew(be, hv, a->n, cq, a->h, a->w);
        }
        y[i] = tnew(be, NULL, a->n, C, a->h, a->w);
        size_t wsb = be->attention_ws(be, &d, &q);
        void *ws = wsnew(be, wsb);
        assert_int_equal(be->attention(be, &d, &q, &k, &v, &y[i], ws, wsb), AE_OK);
        be->free(be, ws);
        if (!a->fused) {
            tfree(be, &k);
            tfree(be, &v);
        }
        tfree(be, &q);
    }
    free(hq);
    free(hk);
    free(hv);
    return finish(a->name, prec, TOL_GEMM, &y[0], &y[1]);
}

static void test_attention(void **state) {
    (void)state;
    NEED_GPU();
    static const attn_case cases[] = {
        {"attention chunk(3) 2 heads 13x11", 2, 13, 11, 2, 8, 1, 0},
        {"attention SR3 interleaved 9x7", 1, 9, 7, 1, 12, 1, 1},
        {"attention SR3 4 heads 6x5", 2, 6, 5, 4, 4, 1, 1},
        {"attention separate q,k,v 5x3", 1, 5, 3, 3, 5, 0, 0},
        {"attention 4097 positions (chunked)", 1, 17, 241, 1, 8, 1, 0},
    };
    size_t bad = 0;
    for (int p = 0; p < 2; p++)
        for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) bad += run_attention(&cases[i], p);
    assert_int_equal(bad, 0);
}

static void test_noise_embed(void **state) {
    (void)state;
    NEED_GPU();
    float gamma[5] = {0.0f, 0.01f, 0.5f, 0.999f, 1.0f};
    ae_tensor y[2];
    const ae_backend *bes[2] = {CPU, GPU[0]};
    for (int i = 0; i < 2; i++) {
        y[i] = tnew(bes[i], NULL, 5, 32, 1, 1);
        assert_int_equal(bes[i]->noise_embed(bes[i], gamma, &y[i]), AE_OK);
    }
    assert_int_equal(finish("noise_embed 5 x 32", 0, TOL_EXACT, &y[0], &y[1]), 0);
}

/* ---- arena, weight cache, errors -------------------------------------------------- */

/* A conv + GN + SiLU + attention-free block through nn.h with a planned arena,
 * so the workspace sizes of the dry pass are the ones the GPU ops get. */
static void test_arena_layers(void **state) {
    (void)state;
    NEED_GPU();
    ae_conv cv = {weights(16 * 3 * 9, 0.5f), weights(16, 1.0f), {3, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1}};
    ae_convT ct = {weights(16 * 8 * 16, 0.3f), weights(8, 1.0f), {16, 8, 4, 4, 2, 2, 1, 1, 0, 0, 1, 1, 1}};
    ae_gn gn = {weights(16, 1.0f), weights(16, 1.0f), 16, 4, 1e-5f, 0};
    float *x = rand_host(2 * 3 * 19 * 23, 1.0f, 0.0f), *out[2];
    const ae_backend *bes[2] = {CPU, GPU[0]};
    for (int i = 0; i < 2; i++) {
        ae_arena *A;
        assert_int_equal(ae_arena_create(&A, bes[i]), AE_OK);
        for (int pass = 0; pass < 2; pass++) {
            ae_tensor xt = {0}, h = {0}, y = {0};
            assert_int_equal(ae_arena_tensor(A, &xt, 2, 3, 19, 23), AE_OK);
            assert_int_equal(ae_nn_upload(bes[i], A, &xt, x), AE_OK);
            assert_int_equal(ae_conv_forward_new(bes[i], A, &cv, &xt, &h), AE_OK);
            assert_int_equal(ae_gn_forward(bes[i], A, &gn, &h, &h), AE_OK);
            assert_int_equal(ae_nn_activation(bes[i], A, AE_ACT_SILU, 0.0f, &h, &h), AE_OK);
            assert_int_equal(ae_convT_forward_new(bes[i], A, &ct, &h, &y), AE_OK);
            if (pass == 1) {
                out[i] = malloc(ae_tensor_bytes(&y));
                assert_int_equal(ae_nn_download(bes[i], A, &y, out[i]), AE_OK);
            }
            if (pass == 0) assert_int_equal(ae_arena_commit(A), AE_OK);
        }
        ae_arena_free(A);
    }
    size_t bad = compare("arena: conv-GN-SiLU-convT 2x3x19x23", 0, TOL_GEMM, out[1], out[0], 2 * 8 * 38 * 46);
    free(out[0]);
    free(out[1]);
    free(x);
    assert_int_equal(bad, 0);
}

static void test_weight_cache_and_errors(void **state) {
    (void)state;
    NEED_GPU();
#ifdef AE_HAVE_CUDA
    ae_backend *be = GPU[1];
    conv_case c = {1, 4, 8, 8, 4, 3, 1, 1, 1, 1, 1};
    size_t before = ae_backend_cuda_cached_weights(be);
    assert_int_equal(run_conv(&c, 1), 0); /* fp16: float weight + half copy + bias */
    assert_int_equal(ae_backend_cuda_cached_weights(be), before + 3);
    /* the same host weights again: no new uploads */
    float *w = g_keep[g_nkeep - 2], *b = g_keep[g_nkeep - 1];
    ae_conv2d_desc d = {4, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1};
    ae_tensor x = tnew(be, NULL, 1, 4, 8, 8), y = tnew(be, NULL, 1, 4, 8, 8), bad = tnew(be, NULL, 1, 3, 8, 8);
    size_t wsb = be->conv2d_ws(be, &d, &x);
    void *ws = wsnew(be, wsb);
    assert_int_equal(be->conv2d(be, &d, &x, w, b, &y, ws, wsb), AE_OK);
    assert_int_equal(ae_backend_cuda_cached_weights(be), before + 3);
    /* shape errors are the CPU backend's */
    assert_int_equal(be->conv2d(be, &d, &bad, w, b, &y, ws, wsb), AE_ERR_SHAPE);
    assert_non_null(strstr(ae_error_message(), "3 channels"));
    if (wsb) assert_int_equal(be->conv2d(be, &d, &x, w, b, &y, ws, 0), AE_ERR_ARG);
    assert_int_equal(be->add(be, &x, &bad, &y), AE_ERR_SHAPE);
    assert_int_equal(be->groupnorm(be, &bad, 2, NULL, NULL, 1e-5f, &bad), AE_ERR_SHAPE);
    /* out of device memory is AE_ERR_DEVICE, so callers can retry smaller tiles */
    void *huge = NULL;
    assert_int_equal(be->alloc(be, (size_t)1 << 50, &huge), AE_ERR_DEVICE);
    assert_non_null(strstr(ae_error_message(), "out of device memory"));
    assert_int_equal(be->sync(be), AE_OK);
    be->free(be, ws);
    tfree(be, &x);
    tfree(be, &y);
    tfree(be, &bad);
#endif
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_select),           cmocka_unit_test(test_conv2d),
        cmocka_unit_test(test_conv_transpose2d), cmocka_unit_test(test_linear),
        cmocka_unit_test(test_batchnorm),        cmocka_unit_test(test_groupnorm),
        cmocka_unit_test(test_activation),       cmocka_unit_test(test_add_mul_copy),
        cmocka_unit_test(test_scale_shift),      cmocka_unit_test(test_concat),
        cmocka_unit_test(test_upsample),         cmocka_unit_test(test_pixel_shuffle),
        cmocka_unit_test(test_pool),             cmocka_unit_test(test_attention),
        cmocka_unit_test(test_noise_embed),      cmocka_unit_test(test_arena_layers),
        cmocka_unit_test(test_weight_cache_and_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
