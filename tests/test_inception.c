/* test_inception.c - pytorch-fid's InceptionV3 in C (tools/eval/inception.c) against torch.
 *
 * tests/golden/inception_tiny.safetensors (scripts/inception_golden.py --div 8): a random
 * InceptionV3 with every channel count / 8, converted by scripts/convert_inception.py, plus
 * a 64x64 input and torch's Mixed_5d, Mixed_6e and pool3 outputs (input resized to 299 as
 * in the full pipeline). The same comparison runs on a full-size file when
 * AE_INCEPTION_GOLDEN names one (written by the same script with --div 1; ~100 MB, not
 * committed), printing seconds per image. Also: the count_include_pad=False average pool,
 * and the refusal of a .pth and of a safetensors file that is not an InceptionV3.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "astroenh/backend.h"
#include "astroenh/inception.h"
#include "support/golden_util.h"

#define TINY "tests/golden/inception_tiny.safetensors"

/* float32 through ~94 conv layers (sums of up to 2048*9 terms) against torch's own
 * float32 order of summation: errors grow with depth, so the tolerance is relative to
 * O(1) activations. Measured max errors are printed. */
#define ATOL 2e-4f
#define RTOL 2e-4f

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

static void check_file(const char *path) {
    ae_inception *m = NULL;
    ae_weights *G = NULL;
    ae_status st = ae_inception_load(&m, path, ae_backend_cpu());
    if (st != AE_OK) fail_msg("%s: %s", path, ae_error_message());
    assert_int_equal(ae_weights_open(&G, path), AE_OK);
    int n = golden_int(G, "golden_n"), c5d, c6e, dim = ae_inception_dim(m);
    ae_inception_block_channels(m, &c5d, &c6e);
    ae_tensor x = golden_tensor(G, "golden.input"), f = golden_tensor(G, "golden.features");
    ae_tensor t5 = golden_tensor(G, "golden.Mixed_5d"), t6 = golden_tensor(G, "golden.Mixed_6e");
    assert_int_equal(x.n, n);
    assert_int_equal(f.c, dim); /* 2048 / width_div, inferred from the shapes */
    assert_int_equal(t5.c, c5d);
    assert_int_equal(t6.c, c6e);
    assert_int_equal(t5.h, 35);
    assert_int_equal(t6.h, 17);
    float *feat = malloc(sizeof(float) * dim);
    float *g5 = malloc(sizeof(float) * c5d * 35 * 35), *g6 = malloc(sizeof(float) * c6e * 17 * 17);
    assert_non_null(feat);
    assert_non_null(g5);
    assert_non_null(g6);
    ae_inception_taps taps = {g5, g6};
    double t0 = now();
    for (int i = 0; i < n; i++) {
        size_t plane = (size_t)3 * x.h * x.w;
        st = ae_inception_forward(m, x.data + i * plane, x.h, x.w, feat, &taps);
        if (st != AE_OK) fail_msg("forward: %s", ae_error_message());
        char what[64];
        snprintf(what, sizeof what, "image %d Mixed_5d", i);
        assert_int_equal(golden_compare(what, g5, t5.data + (size_t)i * c5d * 35 * 35, (size_t)c5d * 35 * 35,
                                        ATOL, RTOL), 0);
        snprintf(what, sizeof what, "image %d Mixed_6e", i);
        assert_int_equal(golden_compare(what, g6, t6.data + (size_t)i * c6e * 17 * 17, (size_t)c6e * 17 * 17,
                                        ATOL, RTOL), 0);
        snprintf(what, sizeof what, "image %d pool3 features", i);
        assert_int_equal(golden_compare(what, feat, f.data + (size_t)i * dim, dim, ATOL, RTOL), 0);
    }
    printf("%s: %d-d features, %d image(s) %dx%d, %.3f s per image (with 2 taps; the first includes "
           "planning)\n", path, dim, n, x.w, x.h, (now() - t0) / n);
    printf("  %s\n", ae_inception_describe(m));
    assert_false(ae_inception_is_pytorch_fid(m)); /* random weights are never labelled standard */
    free(feat);
    free(g5);
    free(g6);
    ae_weights_close(G);
    ae_inception_free(m);
}

static void test_tiny(void **state) {
    (void)state;
    check_file(TINY);
}

static void test_full_optional(void **state) {
    (void)state;
    const char *p = getenv("AE_INCEPTION_GOLDEN");
    if (!p || !*p) {
        printf("AE_INCEPTION_GOLDEN not set: full-size check skipped (scripts/inception_golden.py --div 1)\n");
        skip();
    }
    check_file(p);
}

/* F.avg_pool2d(k=3, s=1, p=1, count_include_pad=False) of a 3x3 ramp 0..8: the corner
 * averages 4 pixels (0,1,3,4 -> 2), the edge 6, the centre 9; with padded zeros counted
 * the corner would be 8/9. */
static void test_avg_pool_exclude_pad(void **state) {
    (void)state;
    float xin[9], out[9];
    for (int i = 0; i < 9; i++) xin[i] = (float)i;
    ae_tensor x = ae_tensor_make(xin, 1, 1, 3, 3), y = ae_tensor_make(out, 1, 1, 3, 3);
    ae_pool_desc d = {AE_POOL_AVG_EXCLUDE_PAD, 3, 3, 1, 1, 1, 1};
    const ae_backend *be = ae_backend_cpu();
    assert_int_equal(be->pool(be, &d, &x, &y), AE_OK);
    assert_float_equal(out[0], 2.0f, 1e-6f);             /* (0+1+3+4)/4 */
    assert_float_equal(out[1], 15.0f / 6.0f, 1e-6f);     /* (0+1+2+3+4+5)/6 */
    assert_float_equal(out[4], 4.0f, 1e-6f);             /* 36/9 */
    assert_float_equal(out[8], 6.0f, 1e-6f);             /* (4+5+7+8)/4 */
    d.kind = AE_POOL_AVG;
    assert_int_equal(be->pool(be, &d, &x, &y), AE_OK);
    assert_float_equal(out[0], 8.0f / 9.0f, 1e-6f);
}

static void write_bytes(const char *path, const void *b, size_t n) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b, 1, n, f), n);
    fclose(f);
}

static void test_refuses_pth_and_other_models(void **state) {
    (void)state;
    char dir[] = "/tmp/ae_incXXXXXX", path[64];
    assert_non_null(mkdtemp(dir));
    ae_inception *m = NULL;
    /* torch.save's zip container, whatever the file is called */
    snprintf(path, sizeof path, "%s/weights.bin", dir);
    write_bytes(path, "PK\x03\x04rest", 8);
    assert_int_equal(ae_inception_load(&m, path, ae_backend_cpu()), AE_ERR_FORMAT);
    assert_non_null(strstr(ae_error_message(), "convert_inception.py"));
    assert_null(m);
    remove(path);
    snprintf(path, sizeof path, "%s/pt_inception.pth", dir);
    write_bytes(path, "\x80\x02}q", 4); /* an old pickle checkpoint */
    assert_int_equal(ae_inception_load(&m, path, ae_backend_cpu()), AE_ERR_FORMAT);
    assert_non_null(strstr(ae_error_message(), "PyTorch file"));
    remove(path);
    /* the content decides: a converted file named .pth loads */
    char real[4096];
    assert_non_null(realpath(TINY, real));
    assert_int_equal(symlink(real, path), 0);
    if (ae_inception_load(&m, path, ae_backend_cpu()) != AE_OK) fail_msg("%s", ae_error_message());
    ae_inception_free(m);
    m = NULL;
    remove(path);
    rmdir(dir);
    /* a valid safetensors file of another network */
    assert_int_equal(ae_inception_load(&m, "tests/golden/sr_tiny_fast.safetensors", ae_backend_cpu()),
                     AE_ERR_FORMAT);
    assert_non_null(strstr(ae_error_message(), "not an InceptionV3"));
    assert_null(m);
    ae_inception_free(NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_avg_pool_exclude_pad),
        cmocka_unit_test(test_tiny),
        cmocka_unit_test(test_refuses_pth_and_other_models),
        cmocka_unit_test(test_full_optional),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
