/* test_metrics.c - tools/eval/: SSIM, PSNR, per-channel L1/L2 (RGB, Lab) against
 * scikit-image on real images, the Frechet distance against scipy.linalg.sqrtm
 * and KID against numpy on seeded features (values in tests/data/metrics_ref.txt,
 * written once by scripts/gen_metrics_ref.py), error cases, and the feature
 * network on the shipped fast SR weights.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "astroenh/io.h"
#include "astroenh/metrics.h"

/* Tolerances. Pixels are float32 in C (u8/255), float64 in skimage: SSIM and
 * per-channel errors agree to ~1e-7; Lab in C is float32 (powf, cbrtf). */
#define TOL_SSIM 1e-5
#define TOL_PSNR 1e-4  /* dB */
#define RTOL_L 1e-5    /* relative, RGB L1/L2 */
#define TOL_LAB 2e-3   /* Lab L1, Lab units */
#define RTOL_LAB2 2e-3 /* Lab L2, relative */
#define RTOL_FID 1e-6

static const char *data_dir(void) {
    const char *d = getenv("AE_TEST_DATA");
    return d ? d : "tests/data";
}

static FILE *open_ref(void) {
    char p[512];
    snprintf(p, sizeof p, "%s/metrics_ref.txt", data_dir());
    FILE *f = fopen(p, "r");
    if (!f) fprintf(stderr, "cannot open %s\n", p);
    assert_non_null(f);
    return f;
}

static ae_image *load(const char *name) {
    char p[512];
    snprintf(p, sizeof p, "%s/metrics/%s.png", data_dir(), name);
    ae_image *img = NULL;
    if (ae_image_load(&img, p) != AE_OK) fprintf(stderr, "%s\n", ae_error_message());
    assert_non_null(img);
    return img;
}

static void near(const char *what, const char *pair, double got, double want, double atol, double rtol) {
    double err = fabs(got - want);
    if (isinf(want) && isinf(got) && (want > 0) == (got > 0)) return;
    if (!(err <= atol + rtol * fabs(want))) {
        fprintf(stderr, "%s %s: got %.10g, reference %.10g (|diff| %.3g)\n", pair, what, got, want, err);
        fail();
    }
}

static void check_pair(char *line) {
    char pn[64], tn[64];
    int c, used = 0;
    assert_int_equal(sscanf(line, "pair %63s %63s %d%n", pn, tn, &c, &used), 3);
    double v[20];
    int nv = c == 3 ? 14 : 4;
    char *s = line + used;
    for (int i = 0; i < nv; i++) v[i] = strtod(s, &s);
    ae_image *p = load(pn), *t = load(tn);
    ae_metrics m;
    assert_int_equal(ae_metrics_compare(p, t, 1.0, &m), AE_OK);
    assert_int_equal(m.c, c);
    near("ssim", pn, m.ssim, v[0], TOL_SSIM, 0);
    near("psnr", pn, m.psnr, v[1], TOL_PSNR, 0);
    for (int k = 0; k < c; k++) {
        near("l1", pn, m.l1[k], v[2 + k], 1e-9, RTOL_L);
        near("l2", pn, m.l2[k], v[2 + c + k], 1e-12, RTOL_L);
    }
    assert_int_equal(m.lab, c == 3);
    for (int k = 0; c == 3 && k < 3; k++) {
        near("lab l1", pn, m.lab_l1[k], v[8 + k], TOL_LAB, 0);
        near("lab l2", pn, m.lab_l2[k], v[11 + k], TOL_LAB, RTOL_LAB2);
    }
    printf("%s vs %s: ssim %.6f (skimage %.6f), psnr %.4f (%.4f)\n", pn, tn, m.ssim, v[0], m.psnr, v[1]);
    ae_image_free(p);
    ae_image_free(t);
}

static void test_images_vs_skimage(void **state) {
    (void)state;
    FILE *f = open_ref();
    static char line[1 << 16];
    int pairs = 0;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "pair ", 5)) check_pair(line), pairs++;
    fclose(f);
    assert_int_equal(pairs, 6);
}

/* Reads n*d floats from the next line of f. */
static float *read_floats(FILE *f, int n, int d) {
    float *x = malloc((size_t)n * d * sizeof *x);
    assert_non_null(x);
    for (int i = 0; i < n * d; i++) assert_int_equal(fscanf(f, "%f", &x[i]), 1);
    return x;
}

static void test_frechet_kid_vs_scipy(void **state) {
    (void)state;
    FILE *f = open_ref();
    char head[256];
    int sets = 0;
    while (fscanf(f, "%255s", head) == 1) {
        if (strcmp(head, "features") != 0) {
            int ch;
            while ((ch = fgetc(f)) != '\n' && ch != EOF) {
            }
            continue;
        }
        int n, d;
        double fid_ref, kid_ref;
        assert_int_equal(fscanf(f, "%d %d %lf %lf", &n, &d, &fid_ref, &kid_ref), 4);
        float *a = read_floats(f, n, d), *b = read_floats(f, n, d);
        double *mu = calloc(2 * (size_t)d + 2 * (size_t)d * d, sizeof *mu);
        assert_non_null(mu);
        double *cov1 = mu + 2 * d, *cov2 = cov1 + (size_t)d * d, fd, km, ks;
        assert_int_equal(ae_feature_stats(a, n, d, mu, cov1), AE_OK);
        assert_int_equal(ae_feature_stats(b, n, d, mu + d, cov2), AE_OK);
        assert_int_equal(ae_frechet_distance(mu, cov1, mu + d, cov2, d, &fd), AE_OK);
        near("fid", "features", fd, fid_ref, 1e-9, RTOL_FID);
        assert_int_equal(ae_kid(a, n, b, n, d, 1, n, 7, &km, &ks), AE_OK);
        near("kid (full sets)", "features", km, kid_ref, 1e-9, RTOL_FID);
        assert_true(ks == 0.0);
        printf("n %d d %d: FD %.8f (scipy %.8f), KID %.8f (numpy %.8f)\n", n, d, fd, fid_ref, km, kid_ref);
        /* the distance of a set to itself is 0; a mean shift adds |shift|^2 */
        assert_int_equal(ae_frechet_distance(mu, cov1, mu, cov1, d, &fd), AE_OK);
        near("fid(a, a)", "features", fd, 0.0, 1e-8, 0);
        for (int j = 0; j < d; j++) mu[d + j] = mu[j] + 0.5;
        assert_int_equal(ae_frechet_distance(mu, cov1, mu + d, cov1, d, &fd), AE_OK);
        near("fid(a, a + 0.5)", "features", fd, 0.25 * d, 1e-8, 0);
        free(mu);
        free(a);
        free(b);
        sets++;
    }
    fclose(f);
    assert_int_equal(sets, 2);
}

static void test_kid_subsets(void **state) {
    (void)state;
    enum { N = 40, D = 4 };
    float a[N * D], b[N * D];
    for (int i = 0; i < N * D; i++) a[i] = (float)sin(i * 0.37), b[i] = (float)cos(i * 0.11) + 0.3f;
    double m1, s1, m2, s2, m3, s3;
    assert_int_equal(ae_kid(a, N, b, N, D, 20, 10, 42, &m1, &s1), AE_OK);
    assert_int_equal(ae_kid(a, N, b, N, D, 20, 10, 42, &m2, &s2), AE_OK);
    assert_true(m1 == m2 && s1 == s2); /* seeded */
    assert_int_equal(ae_kid(a, N, b, N, D, 20, 10, 43, &m3, &s3), AE_OK);
    assert_true(m3 != m1);
    assert_true(s1 > 0.0);
    assert_int_equal(ae_kid(a, 1, b, N, D, 5, 10, 1, &m1, &s1), AE_ERR_ARG);
}

static void test_errors(void **state) {
    (void)state;
    ae_image *a = NULL, *b = NULL, *c = NULL;
    ae_metrics m;
    assert_int_equal(ae_image_create(&a, 20, 16, 3), AE_OK);
    assert_int_equal(ae_image_create(&b, 20, 17, 3), AE_OK);
    assert_int_equal(ae_metrics_compare(a, b, 1.0, &m), AE_ERR_ARG);
    assert_non_null(strstr(ae_error_message(), "20x16"));
    assert_int_equal(ae_image_create(&c, 20, 16, 1), AE_OK);
    assert_int_equal(ae_metrics_compare(c, a, 1.0, &m), AE_OK); /* grey replicated */
    assert_int_equal(m.c, 3);
    assert_true(isinf(m.psnr) && m.ssim == 1.0);
    c->data[5] = NAN;
    assert_int_equal(ae_metrics_compare(c, a, 1.0, &m), AE_ERR_ARG);
    assert_non_null(strstr(ae_error_message(), "non-finite"));
    double s;
    assert_int_equal(ae_ssim_plane(a->data, a->data, 10, 30, 1.0, &s), AE_ERR_ARG);
    assert_int_equal(ae_ssim_plane(a->data, a->data, 16, 20, 0.0, &s), AE_ERR_ARG);
    double mu[1] = {0}, cov[1] = {1}, fd;
    assert_int_equal(ae_frechet_distance(mu, cov, mu, cov, 0, &fd), AE_ERR_ARG);
    ae_image_free(a);
    ae_image_free(b);
    ae_image_free(c);
}

static void test_featnet(void **state) {
    (void)state;
    ae_backend_set_threads(1, NULL); /* tiny images: one thread is fastest on a loaded machine */
    const ae_backend *be = ae_backend_cpu();
    ae_featnet *f = NULL;
    if (ae_featnet_load(&f, "models/fast_x2_v1.safetensors", be) != AE_OK) {
        fprintf(stderr, "%s\n", ae_error_message());
        fail();
    }
    int d = ae_featnet_dim(f);
    assert_int_equal(d, 6 * 32);
    ae_image *g = load("grey_ref"), *col = load("col_ref"), *nz = load("col_noise");
    float *x = malloc(3 * (size_t)d * sizeof *x);
    assert_non_null(x);
    assert_int_equal(ae_featnet_features(f, g, x), AE_OK);
    for (int k = 0; k < d / 3; k++) { /* grey: the three planes give the same features */
        assert_true(isfinite(x[k]));
        assert_true(x[k] == x[d / 3 + k] && x[k] == x[2 * d / 3 + k]);
    }
    assert_int_equal(ae_featnet_features(f, col, x + d), AE_OK); /* another size: re-planned */
    assert_int_equal(ae_featnet_features(f, nz, x + 2 * d), AE_OK);
    double diff = 0.0;
    for (int k = 0; k < d; k++) diff += fabs(x[d + k] - x[2 * d + k]);
    assert_true(diff > 1e-3); /* noise changes the features */
    assert_int_equal(ae_featnet_features(f, col, x), AE_OK);
    assert_memory_equal(x, x + d, (size_t)d * sizeof *x); /* deterministic */
    free(x);
    ae_image_free(g);
    ae_image_free(col);
    ae_image_free(nz);
    ae_featnet_free(f);
    assert_int_equal(ae_featnet_load(&f, "tests/data/metrics/col_ref.png", be), AE_ERR_FORMAT);
    assert_non_null(strstr(ae_error_message(), "col_ref.png"));
    assert_null(f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_images_vs_skimage), cmocka_unit_test(test_frechet_kid_vs_scipy),
        cmocka_unit_test(test_kid_subsets),       cmocka_unit_test(test_errors),
        cmocka_unit_test(test_featnet),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
