/* test_jpeg.c - JPEG reader/writer (src/io/jpeg.c): lossy round trip within a
 * stated tolerance, committed fixtures (tests/data/jpeg/, make_fixtures.py)
 * with known flat colours, CMYK refused, and the error paths. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include "astroenh/io.h"

/* Stated tolerances for a smooth 96x64 image: mean |error| < 2/255 at quality
 * 95 (measured about 0.5/255), and no value off by more than 8/255. */
#define RT_MEAN_TOL (2.0 / 255.0)
#define RT_MAX_TOL (8.0 / 255.0)

static char g_tmp[256];

static int setup_tmp(void **state) {
    (void)state;
    snprintf(g_tmp, sizeof g_tmp, "/tmp/ae_test_jpeg_XXXXXX");
    return mkdtemp(g_tmp) ? 0 : -1;
}

static int teardown_tmp(void **state) {
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_tmp);
    return system(cmd) == 0 ? 0 : -1;
}

static void tmp_path(char *buf, size_t cap, const char *name) { snprintf(buf, cap, "%s/%s", g_tmp, name); }

static void data_path(char *buf, size_t cap, const char *name) {
    const char *dir = getenv("AE_TEST_DATA");
    snprintf(buf, cap, "%s/jpeg/%s", dir ? dir : "tests/data", name);
}

static void write_bytes(const char *path, const void *buf, size_t n) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(buf, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

static unsigned char *read_bytes(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    unsigned char *buf = malloc(1 << 20);
    assert_non_null(buf);
    *n = fread(buf, 1, 1 << 20, f);
    fclose(f);
    return buf;
}

static long file_size(const char *path) {
    size_t n;
    unsigned char *b = read_bytes(path, &n);
    free(b);
    return (long)n;
}

static ae_image *smooth_image(int c) {
    ae_image *img;
    assert_int_equal(ae_image_create(&img, 96, 64, c), AE_OK);
    img->range = AE_RANGE_DISPLAY;
    for (int ch = 0; ch < c; ch++)
        for (int y = 0; y < 64; y++)
            for (int x = 0; x < 96; x++)
                ae_image_plane(img, ch)[y * 96 + x] =
                    0.5f + 0.4f * sinf(0.07f * x + 0.9f * ch) * cosf(0.05f * y - 0.4f * ch);
    return img;
}

static void round_trip(int c) {
    ae_image *img = smooth_image(c), *back = NULL;
    char path[300];
    tmp_path(path, sizeof path, "rt.jpg");
    ae_save_opts opts = {.quality = 95};
    assert_int_equal(ae_jpeg_save(img, path, &opts), AE_OK);
    assert_int_equal(ae_jpeg_load(&back, path), AE_OK);
    assert_int_equal(back->w, 96);
    assert_int_equal(back->h, 64);
    assert_int_equal(back->c, c);
    assert_int_equal(back->src_format, AE_FMT_JPEG);
    assert_int_equal(back->src_bitdepth, 8);
    assert_int_equal(back->range, AE_RANGE_DISPLAY);
    size_t n = (size_t)96 * 64 * c;
    double sum = 0, mx = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)back->data[i] - img->data[i]);
        sum += e;
        if (e > mx) mx = e;
    }
    print_message("jpeg q95 c=%d: mean |err| %.3f/255, max %.3f/255\n", c, sum / n * 255, mx * 255);
    assert_true(sum / n < RT_MEAN_TOL);
    assert_true(mx < RT_MAX_TOL);
    ae_image_free(img);
    ae_image_free(back);
}

static void test_round_trip_gray(void **s) { (void)s; round_trip(1); }
static void test_round_trip_rgb(void **s) { (void)s; round_trip(3); }

/* opts->quality is honoured (a lower quality gives a smaller file), 0 means 92, 101 is refused. */
static void test_quality(void **s) {
    (void)s;
    ae_image *img = smooth_image(3);
    char p10[300], p95[300], pdef[300], p92[300];
    tmp_path(p10, sizeof p10, "q10.jpg");
    tmp_path(p95, sizeof p95, "q95.jpg");
    tmp_path(pdef, sizeof pdef, "qdef.jpg");
    tmp_path(p92, sizeof p92, "q92.jpg");
    ae_save_opts o10 = {.quality = 10}, o95 = {.quality = 95}, o92 = {.quality = 92}, bad = {.quality = 101};
    assert_int_equal(ae_jpeg_save(img, p10, &o10), AE_OK);
    assert_int_equal(ae_jpeg_save(img, p95, &o95), AE_OK);
    assert_int_equal(ae_jpeg_save(img, pdef, NULL), AE_OK);
    assert_int_equal(ae_jpeg_save(img, p92, &o92), AE_OK);
    assert_true(file_size(p10) < file_size(p95));
    size_t na, nb;
    unsigned char *a = read_bytes(pdef, &na), *b = read_bytes(p92, &nb);
    assert_int_equal(na, nb);
    assert_memory_equal(a, b, na);
    free(a);
    free(b);
    assert_int_equal(ae_jpeg_save(img, p10, &bad), AE_ERR_ARG);
    assert_non_null(strstr(ae_error_message(), "101"));
    ae_image_free(img);
}

static ae_image *load_fixture(const char *name, int c) {
    char path[300];
    data_path(path, sizeof path, name);
    ae_image *img = NULL;
    if (ae_jpeg_load(&img, path) != AE_OK) fail_msg("%s: %s", path, ae_error_message());
    assert_int_equal(img->w, 16);
    assert_int_equal(img->h, 16);
    assert_int_equal(img->c, c);
    return img;
}

/* Every pixel within 2 codes of its flat half's colour (quality 100 JPEG of flat areas). */
static void check_halves(const ae_image *img, const int *left, const int *right) {
    for (int c = 0; c < img->c; c++)
        for (int y = 0; y < 16; y++)
            for (int x = 0; x < 16; x++) {
                float want = (x < 8 ? left[c] : right[c]) / 255.0f;
                float got = ae_image_plane(img, c)[y * 16 + x];
                if (fabsf(got - want) > 2.0f / 255.0f)
                    fail_msg("(%d,%d,c%d): got %.1f want %.1f (x255)", x, y, c, got * 255, want * 255);
            }
}

static void test_fixture_gray(void **s) {
    (void)s;
    ae_image *img = load_fixture("gray.jpg", 1);
    check_halves(img, (const int[]){30}, (const int[]){220});
    ae_image_free(img);
}

static void test_fixture_rgb(void **s) {
    (void)s;
    const char *names[2] = {"rgb.jpg", "prog.jpg"};
    for (int i = 0; i < 2; i++) {
        ae_image *img = load_fixture(names[i], 3);
        check_halves(img, (const int[]){200, 100, 50}, (const int[]){20, 180, 240});
        ae_image_free(img);
    }
}

static void test_cmyk_unsupported(void **s) {
    (void)s;
    char path[300];
    data_path(path, sizeof path, "cmyk.jpg");
    ae_image *img = NULL;
    assert_int_equal(ae_jpeg_load(&img, path), AE_ERR_UNSUPPORTED);
    assert_null(img);
    assert_non_null(strstr(ae_error_message(), path));
    assert_non_null(strstr(ae_error_message(), "CMYK"));
}

static void expect_load_error(const char *path, ae_status want) {
    ae_image *img = (ae_image *)1;
    ae_status st = ae_jpeg_load(&img, path);
    if (st != want) fail_msg("%s: status %d (%s), want %d", path, st, ae_error_message(), want);
    assert_null(img);
    if (!strstr(ae_error_message(), path)) fail_msg("message '%s' does not name %s", ae_error_message(), path);
}

static void test_bad_files(void **s) {
    (void)s;
    char path[300], fix[300];
    tmp_path(path, sizeof path, "empty.jpg");
    write_bytes(path, "", 0);
    expect_load_error(path, AE_ERR_FORMAT);
    tmp_path(path, sizeof path, "garbage.jpg");
    write_bytes(path, "\xFF\xD8\xFFgarbage garbage garbage", 26);
    expect_load_error(path, AE_ERR_FORMAT);
    tmp_path(path, sizeof path, "missing.jpg");
    expect_load_error(path, AE_ERR_IO);
    const char *names[2] = {"rgb.jpg", "prog.jpg"};
    for (int f = 0; f < 2; f++) {
        data_path(fix, sizeof fix, names[f]);
        size_t n;
        unsigned char *good = read_bytes(fix, &n);
        size_t cuts[] = {3, 30, n / 2, n - 40, n - 2};
        for (size_t i = 0; i < sizeof cuts / sizeof *cuts; i++) {
            tmp_path(path, sizeof path, "truncated.jpg");
            write_bytes(path, good, cuts[i]);
            expect_load_error(path, AE_ERR_FORMAT);
        }
        free(good);
    }
}

/* A SOF declaring 60000x60000 in a few hundred bytes fails before allocating. */
static void test_size_lie(void **s) {
    (void)s;
    char fix[300];
    data_path(fix, sizeof fix, "rgb.jpg");
    size_t n, sof = 0;
    unsigned char *buf = read_bytes(fix, &n);
    for (size_t i = 2; i + 9 < n && !sof; i++)
        if (buf[i] == 0xFF && buf[i + 1] == 0xC0) sof = i;
    assert_true(sof > 0);
    const unsigned char dims[4] = {0xEA, 0x60, 0xEA, 0x60};
    memcpy(buf + sof + 5, dims, 4);
    ae_image *img = NULL;
    assert_int_equal(ae_jpeg_load_mem(&img, buf, n, "lie.jpg"), AE_ERR_FORMAT);
    assert_null(img);
    assert_non_null(strstr(ae_error_message(), "lie.jpg"));
    assert_non_null(strstr(ae_error_message(), "60000x60000"));
    free(buf);
}

/* A 12-bit SOF is a valid JPEG we do not read: unsupported, not corrupt. */
static void test_12bit_unsupported(void **s) {
    (void)s;
    char fix[300];
    data_path(fix, sizeof fix, "gray.jpg");
    size_t n, sof = 0;
    unsigned char *buf = read_bytes(fix, &n);
    for (size_t i = 2; i + 9 < n && !sof; i++)
        if (buf[i] == 0xFF && buf[i + 1] == 0xC0) sof = i;
    assert_true(sof > 0);
    buf[sof + 1] = 0xC1; /* extended sequential, which allows 12 bits */
    buf[sof + 4] = 12;
    ae_image *img = NULL;
    ae_status st = ae_jpeg_load_mem(&img, buf, n, "deep.jpg");
    if (st != AE_ERR_UNSUPPORTED) fail_msg("status %d: %s", st, ae_error_message());
    assert_null(img);
    assert_non_null(strstr(ae_error_message(), "deep.jpg"));
    free(buf);
}

static void test_save_errors(void **s) {
    (void)s;
    ae_image *img = smooth_image(3);
    const char *bad = "/nonexistent/dir/x.jpg";
    assert_int_equal(ae_jpeg_save(img, bad, NULL), AE_ERR_IO);
    assert_non_null(strstr(ae_error_message(), bad));
    if (access("/dev/full", W_OK) == 0) { /* every write fails with ENOSPC */
        assert_int_equal(ae_jpeg_save(img, "/dev/full", NULL), AE_ERR_IO);
        assert_non_null(strstr(ae_error_message(), "/dev/full"));
        assert_int_equal(access("/dev/full", F_OK), 0);
    }
    char path[300];
    tmp_path(path, sizeof path, "lin.jpg");
    img->range = AE_RANGE_LINEAR;
    assert_int_equal(ae_jpeg_save(img, path, NULL), AE_ERR_ARG);
    assert_non_null(strstr(ae_error_message(), "stretched"));
    assert_int_equal(access(path, F_OK), -1);
    ae_image_free(img);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_gray), cmocka_unit_test(test_round_trip_rgb),
        cmocka_unit_test(test_quality),         cmocka_unit_test(test_fixture_gray),
        cmocka_unit_test(test_fixture_rgb),     cmocka_unit_test(test_cmyk_unsupported),
        cmocka_unit_test(test_bad_files),       cmocka_unit_test(test_size_lie),
        cmocka_unit_test(test_12bit_unsupported), cmocka_unit_test(test_save_errors),
    };
    return cmocka_run_group_tests(tests, setup_tmp, teardown_tmp);
}
