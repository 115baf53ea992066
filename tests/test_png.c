/* test_png.c - PNG reader/writer (src/io/png.c): exact 8/16-bit round trips,
 * every colour type read from committed fixtures (tests/data/png/, written by
 * make_fixtures.py whose formulas are repeated here), and the error paths. */
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

static char g_tmp[256];

static int setup_tmp(void **state) {
    (void)state;
    snprintf(g_tmp, sizeof g_tmp, "/tmp/ae_test_png_XXXXXX");
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
    snprintf(buf, cap, "%s/png/%s", dir ? dir : "tests/data", name);
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

/* A display image whose every value is an exact code k/maxv (k spread over the range). */
static ae_image *code_image(int w, int h, int c, unsigned maxv) {
    ae_image *img;
    assert_int_equal(ae_image_create(&img, w, h, c), AE_OK);
    img->range = AE_RANGE_DISPLAY;
    size_t n = (size_t)w * h * c;
    for (size_t i = 0; i < n; i++) img->data[i] = (float)((i * 7919u) % (maxv + 1)) / (float)maxv;
    img->data[0] = 0.0f;
    img->data[n - 1] = 1.0f;
    return img;
}

static void round_trip(int c, int depth) {
    unsigned maxv = depth == 16 ? 65535 : 255;
    ae_image *img = code_image(37, 23, c, maxv), *back = NULL;
    char path[300];
    tmp_path(path, sizeof path, "rt.png");
    ae_save_opts opts = {.bit_depth = depth};
    assert_int_equal(ae_png_save(img, path, &opts), AE_OK);
    assert_int_equal(ae_png_load(&back, path), AE_OK);
    assert_int_equal(back->w, 37);
    assert_int_equal(back->h, 23);
    assert_int_equal(back->c, c);
    assert_int_equal(back->src_bitdepth, depth);
    assert_int_equal(back->src_format, AE_FMT_PNG);
    assert_int_equal(back->range, AE_RANGE_DISPLAY);
    size_t n = (size_t)37 * 23 * c, bad = 0;
    for (size_t i = 0; i < n; i++) bad += back->data[i] != img->data[i];
    assert_int_equal(bad, 0);
    ae_image_free(img);
    ae_image_free(back);
}

static void test_round_trip_gray8(void **s) { (void)s; round_trip(1, 8); }
static void test_round_trip_rgb8(void **s) { (void)s; round_trip(3, 8); }
static void test_round_trip_gray16(void **s) { (void)s; round_trip(1, 16); }
static void test_round_trip_rgb16(void **s) { (void)s; round_trip(3, 16); }

/* NaN -> 0, out-of-range clipped, in-between rounded to the nearest code. */
static void test_quantisation(void **s) {
    (void)s;
    const float in[6] = {NAN, -0.5f, 1.5f, 0.123f, 1.0f, 0.0f};
    const unsigned want8[6] = {0, 0, 255, 31, 255, 0};           /* 0.123*255 = 31.37 */
    const unsigned want16[6] = {0, 0, 65535, 8061, 65535, 0};    /* 0.123*65535 = 8060.8 */
    for (int d = 0; d < 2; d++) {
        int depth = d ? 16 : 8;
        ae_image *img, *back;
        assert_int_equal(ae_image_create(&img, 6, 1, 1), AE_OK);
        img->range = AE_RANGE_DISPLAY;
        memcpy(img->data, in, sizeof in);
        char path[300];
        tmp_path(path, sizeof path, "q.png");
        ae_save_opts opts = {.bit_depth = depth};
        assert_int_equal(ae_png_save(img, path, &opts), AE_OK);
        assert_int_equal(ae_png_load(&back, path), AE_OK);
        for (int i = 0; i < 6; i++) {
            float want = (float)(d ? want16[i] : want8[i]) / (d ? 65535.0f : 255.0f);
            assert_float_equal(back->data[i], want, 0.0f);
        }
        ae_image_free(img);
        ae_image_free(back);
    }
}

static unsigned f8(int x, int y, int c) { return (unsigned)(37 * x + 71 * y + 50 * c + 5) % 256; }
static unsigned f16(int x, int y, int c) { return (unsigned)(4099 * x + 13001 * y + 20000 * c + 7) % 65536; }

static ae_image *load_fixture(const char *name, int c, int depth) {
    char path[300];
    data_path(path, sizeof path, name);
    ae_image *img = NULL;
    ae_status st = ae_png_load(&img, path);
    if (st != AE_OK) fail_msg("%s: %s", path, ae_error_message());
    assert_int_equal(img->w, 5);
    assert_int_equal(img->h, 3);
    assert_int_equal(img->c, c);
    assert_int_equal(img->src_bitdepth, depth);
    assert_int_equal(img->range, AE_RANGE_DISPLAY);
    return img;
}

static void check_formula(const char *name, int c, int depth) {
    ae_image *img = load_fixture(name, c, depth);
    for (int ch = 0; ch < c; ch++)
        for (int y = 0; y < 3; y++)
            for (int x = 0; x < 5; x++) {
                float want = depth == 16 ? (float)f16(x, y, ch) / 65535.0f : (float)f8(x, y, ch) / 255.0f;
                float got = ae_image_plane(img, ch)[y * 5 + x];
                if (got != want) fail_msg("%s (%d,%d,c%d): got %.8f want %.8f", name, x, y, ch, got, want);
            }
    ae_image_free(img);
}

static void test_fixture_gray8(void **s) { (void)s; check_formula("gray8.png", 1, 8); }
static void test_fixture_gray16(void **s) { (void)s; check_formula("gray16.png", 1, 16); }
static void test_fixture_graya(void **s) { (void)s; check_formula("graya.png", 1, 8); }
static void test_fixture_rgb8(void **s) { (void)s; check_formula("rgb8.png", 3, 8); }
static void test_fixture_rgb16(void **s) { (void)s; check_formula("rgb16.png", 3, 16); }
static void test_fixture_rgba(void **s) { (void)s; check_formula("rgba.png", 3, 8); }
static void test_fixture_interlaced(void **s) { (void)s; check_formula("interlaced.png", 1, 8); }

static void test_fixture_palette(void **s) {
    (void)s;
    static const unsigned pal[4][3] = {{255, 0, 0}, {0, 255, 0}, {0, 0, 255}, {10, 20, 30}};
    ae_image *img = load_fixture("palette.png", 3, 8);
    for (int ch = 0; ch < 3; ch++)
        for (int y = 0; y < 3; y++)
            for (int x = 0; x < 5; x++)
                assert_float_equal(ae_image_plane(img, ch)[y * 5 + x], pal[(x + 2 * y) % 4][ch] / 255.0f, 0.0f);
    ae_image_free(img);
}

static void test_fixture_gray1(void **s) {
    (void)s;
    ae_image *img = load_fixture("gray1.png", 1, 8);
    for (int y = 0; y < 3; y++)
        for (int x = 0; x < 5; x++) assert_float_equal(img->data[y * 5 + x], (float)((x + y) % 2), 0.0f);
    ae_image_free(img);
}

/* With no bit depth asked for, a 16-bit source is written at 16 bits, an 8-bit one at 8. */
static void test_default_depth(void **s) {
    (void)s;
    char out[300];
    tmp_path(out, sizeof out, "def.png");
    const char *names[2] = {"gray16.png", "rgb8.png"};
    const int want[2] = {16, 8};
    for (int i = 0; i < 2; i++) {
        char in[300];
        data_path(in, sizeof in, names[i]);
        ae_image *img, *back;
        assert_int_equal(ae_png_load(&img, in), AE_OK);
        assert_int_equal(ae_png_save(img, out, NULL), AE_OK);
        size_t n;
        unsigned char *bytes = read_bytes(out, &n);
        assert_true(n > 25);
        assert_int_equal(bytes[24], want[i]); /* IHDR bit depth */
        free(bytes);
        assert_int_equal(ae_png_load(&back, out), AE_OK);
        assert_memory_equal(back->data, img->data, ae_image_npix(img) * img->c * sizeof(float));
        ae_image_free(img);
        ae_image_free(back);
    }
    ae_image *fits = code_image(3, 2, 1, 65535);
    fits->src_format = AE_FMT_FITS;
    assert_int_equal(ae_png_save(fits, out, NULL), AE_OK);
    size_t n;
    unsigned char *bytes = read_bytes(out, &n);
    assert_int_equal(bytes[24], 16);
    free(bytes);
    ae_image_free(fits);
}

static void expect_load_error(const char *path, ae_status want) {
    ae_image *img = (ae_image *)1;
    ae_status st = ae_png_load(&img, path);
    assert_int_equal(st, want);
    assert_null(img);
    if (!strstr(ae_error_message(), path)) fail_msg("message '%s' does not name %s", ae_error_message(), path);
}

static void test_bad_files(void **s) {
    (void)s;
    char path[300], fix[300];
    tmp_path(path, sizeof path, "empty.png");
    write_bytes(path, "", 0);
    expect_load_error(path, AE_ERR_FORMAT);
    assert_non_null(strstr(ae_error_message(), "empty"));
    tmp_path(path, sizeof path, "garbage.png");
    write_bytes(path, "this is not a PNG file at all", 29);
    expect_load_error(path, AE_ERR_FORMAT);
    tmp_path(path, sizeof path, "missing.png");
    expect_load_error(path, AE_ERR_IO);

    data_path(fix, sizeof fix, "rgb8.png");
    size_t n;
    unsigned char *good = read_bytes(fix, &n);
    size_t cuts[] = {8, 20, 33, n / 2, n - 13, n - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof *cuts; i++) {
        tmp_path(path, sizeof path, "truncated.png");
        write_bytes(path, good, cuts[i]);
        expect_load_error(path, AE_ERR_FORMAT);
    }
    good[40] ^= 0x55; /* inside IDAT: CRC mismatch */
    tmp_path(path, sizeof path, "corrupt.png");
    write_bytes(path, good, n);
    expect_load_error(path, AE_ERR_FORMAT);
    free(good);
}

static unsigned long crc32_of(const unsigned char *p, size_t n) {
    unsigned long c = 0xFFFFFFFFul;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xEDB88320ul & (0ul - (c & 1)));
    }
    return c ^ 0xFFFFFFFFul;
}

/* A header declaring 60000x60000 in a 100-byte file fails before allocating. */
static void test_size_lie(void **s) {
    (void)s;
    char fix[300];
    data_path(fix, sizeof fix, "gray8.png");
    size_t n;
    unsigned char *buf = read_bytes(fix, &n);
    const unsigned char dims[8] = {0, 0, 0xEA, 0x60, 0, 0, 0xEA, 0x60};
    memcpy(buf + 16, dims, 8);
    unsigned long crc = crc32_of(buf + 12, 17); /* "IHDR" + 13 data bytes */
    for (int i = 0; i < 4; i++) buf[29 + i] = (unsigned char)(crc >> (24 - 8 * i));
    ae_image *img = NULL;
    assert_int_equal(ae_png_load_mem(&img, buf, n, "lie.png"), AE_ERR_FORMAT);
    assert_null(img);
    assert_non_null(strstr(ae_error_message(), "lie.png"));
    assert_non_null(strstr(ae_error_message(), "60000x60000"));
    free(buf);
}

static void test_save_errors(void **s) {
    (void)s;
    ae_image *img = code_image(4, 4, 3, 255);
    const char *bad = "/nonexistent/dir/x.png";
    assert_int_equal(ae_png_save(img, bad, NULL), AE_ERR_IO);
    assert_non_null(strstr(ae_error_message(), bad));

    if (access("/dev/full", W_OK) == 0) { /* every write fails with ENOSPC */
        assert_int_equal(ae_png_save(img, "/dev/full", NULL), AE_ERR_IO);
        assert_non_null(strstr(ae_error_message(), "/dev/full"));
        assert_int_equal(access("/dev/full", F_OK), 0);
    }
    char path[300];
    tmp_path(path, sizeof path, "lin.png");
    img->range = AE_RANGE_LINEAR;
    assert_int_equal(ae_png_save(img, path, NULL), AE_ERR_ARG);
    assert_non_null(strstr(ae_error_message(), "stretched"));
    assert_int_equal(access(path, F_OK), -1);
    img->range = AE_RANGE_DISPLAY;
    ae_save_opts opts = {.bit_depth = 12};
    assert_int_equal(ae_png_save(img, path, &opts), AE_ERR_ARG);
    assert_non_null(strstr(ae_error_message(), "12"));
    ae_image_free(img);
}

static void test_mem_args(void **s) {
    (void)s;
    ae_image *img = NULL;
    assert_int_equal(ae_png_load_mem(&img, "", 0, NULL), AE_ERR_FORMAT);
    assert_int_equal(ae_png_load_mem(&img, NULL, 5, "x"), AE_ERR_ARG);
    assert_null(img);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_gray8), cmocka_unit_test(test_round_trip_rgb8),
        cmocka_unit_test(test_round_trip_gray16), cmocka_unit_test(test_round_trip_rgb16),
        cmocka_unit_test(test_quantisation),      cmocka_unit_test(test_fixture_gray8),
        cmocka_unit_test(test_fixture_gray16),    cmocka_unit_test(test_fixture_graya),
        cmocka_unit_test(test_fixture_rgb8),      cmocka_unit_test(test_fixture_rgb16),
        cmocka_unit_test(test_fixture_rgba),      cmocka_unit_test(test_fixture_interlaced),
        cmocka_unit_test(test_fixture_palette),
        cmocka_unit_test(test_fixture_gray1),     cmocka_unit_test(test_default_depth),
        cmocka_unit_test(test_bad_files),         cmocka_unit_test(test_size_lie),
        cmocka_unit_test(test_save_errors),       cmocka_unit_test(test_mem_args),
    };
    return cmocka_run_group_tests(tests, setup_tmp, teardown_tmp);
}
