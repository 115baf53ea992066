/* test_colorizer.c - the colorizer generator (src/colorize/colorizer.c) against
 * PyTorch (scripts/colornet.py), goldens written by scripts/gen_golden.py:
 *  - tests/golden/colorizer_tiny.safetensors: two tiny random generators
 *    (resnet18/lab and plain/rgb, base 4, random BatchNorm statistics), the
 *    raw network on 64x96 and predict_ab (reflect padding) on 45x70;
 *  - tests/golden/colorizer_tiny_down.safetensors: a tiny resnet18/lab net
 *    with __metadata__ ab_down=4 (runs on L* averaged over 4x4 blocks, a*b*
 *    upsampled bilinearly), predict_ab on 45x70 and 130x200;
 *  - tests/golden/colorizer_shipped.safetensors: models/colorizer.safetensors
 *    (fp16) on crops of a real test-split image (stellarium n7293, Helix).
 * Also the test-time ensemble against explicit rotations, and load errors. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "astroenh/colorizer.h"
#include "support/golden_util.h"

/* Tolerances: float32 vs PyTorch float32, differing only in summation order.
 * Raw outputs are tanh values in [-1, 1]; a*b* are in Lab units (x110). */
#define ATOL_NET 2e-4f
#define RTOL_NET 1e-3f
#define ATOL_AB 2e-2f
#define RTOL_AB 1e-3f
/* Shipped net (base 32): outputs up to ~0.2, a*b* up to ~20 Lab units on the sample. */
#define ATOL_SHIP 1e-4f
#define ATOL_SHIP_AB 1e-2f

static const ae_backend *cpu(void) {
    const ae_backend *be = NULL;
    assert_int_equal(ae_backend_get("cpu", &be), AE_OK);
    return be;
}

static ae_colorizer *load(const char *path) {
    ae_colorizer *m = NULL;
    ae_status st = ae_colorizer_load(&m, path, cpu());
    if (st != AE_OK) fprintf(stderr, "%s: %s\n", path, ae_error_message());
    assert_int_equal(st, AE_OK);
    return m;
}

/* Runs the raw net on <tag>.x and predict_ab on <tag>.pad_L; compares. */
static void check_model(ae_colorizer *m, ae_weights *G, const char *tag, float atol, float atol_ab) {
    char name[64];
    snprintf(name, sizeof name, "%s%sx", tag, *tag ? "." : "");
    ae_tensor x = golden_tensor(G, name);
    snprintf(name, sizeof name, "%s%sy", tag, *tag ? "." : "");
    ae_tensor ref = golden_tensor(G, name);
    assert_int_equal(ref.c, ae_colorizer_out_channels(m));
    ae_tensor y = golden_alloc(1, ref.c, ref.h, ref.w);
    assert_int_equal(ae_colorizer_forward(m, x.data, x.h, x.w, y.data), AE_OK);
    char what[96];
    snprintf(what, sizeof what, "%s network %dx%d (%s)", *tag ? tag : "shipped", x.h, x.w,
             ae_colorizer_describe(m));
    assert_int_equal(golden_compare(what, y.data, ref.data, ae_tensor_numel(&ref), atol, RTOL_NET), 0);
    /* a second run reuses the planned arena and must give the same result */
    assert_int_equal(ae_colorizer_forward(m, x.data, x.h, x.w, y.data), AE_OK);
    assert_int_equal(golden_compare("  same, second run", y.data, ref.data, ae_tensor_numel(&ref), atol,
                                    RTOL_NET), 0);
    free(y.data);

    snprintf(name, sizeof name, "%s%spad_L", tag, *tag ? "." : "");
    ae_tensor L = golden_tensor(G, name);
    snprintf(name, sizeof name, "%s%spad_ab", tag, *tag ? "." : "");
    ae_tensor ab = golden_tensor(G, name);
    ae_tensor got = golden_alloc(1, 2, L.h, L.w);
    size_t n = (size_t)L.h * L.w;
    assert_int_equal(ae_colorizer_predict_ab(m, L.data, L.h, L.w, got.data, got.data + n), AE_OK);
    snprintf(what, sizeof what, "%s predict_ab %dx%d (padded)", *tag ? tag : "shipped", L.h, L.w);
    assert_int_equal(golden_compare(what, got.data, ab.data, 2 * n, atol_ab, RTOL_AB), 0);
    free(got.data);
}

static ae_weights *open_golden(const char *path) {
    ae_weights *G = NULL;
    if (ae_weights_open(&G, path) != AE_OK) {
        fprintf(stderr, "%s: %s (run scripts/gen_golden.py)\n", path, ae_error_message());
        fail();
    }
    return G;
}

static void test_tiny_resnet_lab(void **state) {
    (void)state;
    ae_weights *G = open_golden("tests/golden/colorizer_tiny.safetensors");
    ae_colorizer *m = load("tests/golden/colorizer_tiny_resnet18_lab.safetensors");
    assert_int_equal(ae_colorizer_get_space(m), AE_COLORIZER_LAB);
    check_model(m, G, "resnet", ATOL_NET, ATOL_AB);
    ae_colorizer_free(m);
    ae_weights_close(G);
}

static void test_tiny_plain_rgb(void **state) {
    (void)state;
    ae_weights *G = open_golden("tests/golden/colorizer_tiny.safetensors");
    ae_colorizer *m = load("tests/golden/colorizer_tiny_plain_rgb.safetensors");
    assert_int_equal(ae_colorizer_get_space(m), AE_COLORIZER_RGB);
    check_model(m, G, "plain", ATOL_NET, ATOL_AB);
    ae_colorizer_free(m);
    ae_weights_close(G);
}

/* Reduced-resolution prediction: block averaging, padding to multiples of
 * 128 and the bilinear (half-pixel) upsampling against torch. */
static void test_tiny_down(void **state) {
    (void)state;
    ae_weights *G = open_golden("tests/golden/colorizer_tiny_down.safetensors");
    ae_colorizer *m = load("tests/golden/colorizer_tiny_down4.safetensors");
    assert_non_null(strstr(ae_colorizer_describe(m), "at 1/4"));
    const char *tags[2] = {"small", "large"};
    for (int t = 0; t < 2; t++) {
        char name[64], what[96];
        snprintf(name, sizeof name, "%s.pad_L", tags[t]);
        ae_tensor L = golden_tensor(G, name);
        snprintf(name, sizeof name, "%s.pad_ab", tags[t]);
        ae_tensor ab = golden_tensor(G, name);
        size_t n = (size_t)L.h * L.w;
        ae_tensor got = golden_alloc(1, 2, L.h, L.w);
        assert_int_equal(ae_colorizer_predict_ab(m, L.data, L.h, L.w, got.data, got.data + n), AE_OK);
        snprintf(what, sizeof what, "ab_down 4 predict_ab %dx%d", L.h, L.w);
        assert_int_equal(golden_compare(what, got.data, ab.data, 2 * n, ATOL_AB, RTOL_AB), 0);
        free(got.data);
    }
    ae_colorizer_free(m);
    ae_weights_close(G);
}

static void test_shipped(void **state) {
    (void)state;
    ae_weights *G = open_golden("tests/golden/colorizer_shipped.safetensors");
    ae_colorizer *m = load("models/colorizer.safetensors");
    check_model(m, G, "", ATOL_SHIP, ATOL_SHIP_AB);
    ae_colorizer_free(m);
    ae_weights_close(G);
}

/* The ensemble's mean and spread against explicit calls on the 8 dihedral
 * transforms, written here independently (numpy's rot90, then fliplr). */
static void test_tta(void **state) {
    (void)state;
    ae_colorizer *m = load("tests/golden/colorizer_tiny_resnet18_lab.safetensors");
    enum { H = 21, W = 34, N = H * W };
    static float L[N], a[N], b[N], sp[N], t[N], ta[N], tb[N], sa[N], sb[N], sq[N];
    for (int i = 0; i < N; i++) L[i] = (float)(50.0 + 45.0 * sin(0.37 * i) * cos(0.05 * i));
    memset(sa, 0, sizeof sa), memset(sb, 0, sizeof sb), memset(sq, 0, sizeof sq);
    for (int k = 0; k < 8; k++) {
        int r = k & 3, th = (r & 1) ? W : H, tw = (r & 1) ? H : W;
        int src[N];
        for (int i = 0; i < th; i++)
            for (int j = 0; j < tw; j++) {
                int jj = (k & 4) ? tw - 1 - j : j, y, x;
                if (r == 0) y = i, x = jj;
                else if (r == 1) y = jj, x = W - 1 - i;
                else if (r == 2) y = H - 1 - i, x = W - 1 - jj;
                else y = H - 1 - jj, x = i;
                src[i * tw + j] = y * W + x;
                t[i * tw + j] = L[y * W + x];
            }
        assert_int_equal(ae_colorizer_predict_ab(m, t, th, tw, ta, tb), AE_OK);
        for (int q = 0; q < N; q++) {
            sa[src[q]] += ta[q] / 8, sb[src[q]] += tb[q] / 8;
            sq[src[q]] += (ta[q] * ta[q] + tb[q] * tb[q]) / 8;
        }
    }
    for (int q = 0; q < N; q++) sq[q] = sqrtf(fmaxf(0.0f, sq[q] - sa[q] * sa[q] - sb[q] * sb[q]));
    assert_int_equal(ae_colorizer_predict_ab_tta(m, L, H, W, a, b, sp), AE_OK);
    assert_int_equal(golden_compare("tta mean a*", a, sa, N, 1e-3f, 1e-4f), 0);
    assert_int_equal(golden_compare("tta mean b*", b, sb, N, 1e-3f, 1e-4f), 0);
    assert_int_equal(golden_compare("tta spread", sp, sq, N, 2e-2f, 1e-3f), 0);
    double mean_sp = 0;
    for (int q = 0; q < N; q++) mean_sp += sp[q] / N;
    assert_true(mean_sp > 0.0); /* the 8 predictions do differ */
    ae_colorizer_free(m);
}

static void test_errors(void **state) {
    (void)state;
    ae_colorizer *m = NULL;
    /* a golden I/O file is not a colorizer: no architecture metadata */
    assert_int_equal(ae_colorizer_load(&m, "tests/golden/colorizer_tiny.safetensors", cpu()), AE_ERR_FORMAT);
    assert_null(m);
    assert_non_null(strstr(ae_error_message(), "architecture"));
    assert_int_not_equal(ae_colorizer_load(&m, "tests/golden/no_such_file.safetensors", cpu()), AE_OK);
    assert_null(m);
    m = load("tests/golden/colorizer_tiny_resnet18_lab.safetensors");
    float x[40 * 32], y[2 * 40 * 32];
    memset(x, 0, sizeof x);
    assert_int_equal(ae_colorizer_forward(m, x, 40, 32, y), AE_ERR_ARG);
    assert_non_null(strstr(ae_error_message(), "multiples of 32"));
    float one = 50.0f, a1, b1;
    assert_int_equal(ae_colorizer_predict_ab(m, &one, 1, 1, &a1, &b1), AE_OK); /* 1x1 pads fine */
    assert_true(isfinite(a1) && isfinite(b1));
    ae_colorizer_free(m);
    ae_colorizer_free(NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tiny_resnet_lab), cmocka_unit_test(test_tiny_plain_rgb),
        cmocka_unit_test(test_tiny_down),       cmocka_unit_test(test_shipped),
        cmocka_unit_test(test_tta),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
