/* test_io.c - format detection and the load/save dispatchers (src/io/io.c). */
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
    snprintf(g_tmp, sizeof g_tmp, "/tmp/ae_test_io_XXXXXX");
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
    snprintf(buf, cap, "%s/%s", dir ? dir : "tests/data", name);
}

static void write_bytes(const char *path, const void *buf, size_t n) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(buf, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

static void copy_file(const char *from, const char *to) {
    FILE *f = fopen(from, "rb");
    assert_non_null(f);
    static unsigned char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    write_bytes(to, buf, n);
}

static ae_image *display_image(int c) {
    ae_image *img;
    assert_int_equal(ae_image_create(&img, 8, 6, c), AE_OK);
    img->range = AE_RANGE_DISPLAY;
    for (size_t i = 0; i < (size_t)48 * c; i++) img->data[i] = (float)(i % 256) / 255.0f;
    return img;
}

static void test_from_path(void **s) {
    (void)s;
    assert_int_equal(ae_format_from_path("a.fits"), AE_FMT_FITS);
    assert_int_equal(ae_format_from_path("dir.v2/A.FIT"), AE_FMT_FITS);
    assert_int_equal(ae_format_from_path("a.fts"), AE_FMT_FITS);
    assert_int_equal(ae_format_from_path("a.fits.fz"), AE_FMT_FITS);
    assert_int_equal(ae_format_from_path("a.fits[2]"), AE_FMT_FITS);
    assert_int_equal(ae_format_from_path("a.Png"), AE_FMT_PNG);
    assert_int_equal(ae_format_from_path("a.jpg"), AE_FMT_JPEG);
    assert_int_equal(ae_format_from_path("a.JPEG"), AE_FMT_JPEG);
    assert_int_equal(ae_format_from_path("a.tiff"), AE_FMT_UNKNOWN);
    assert_int_equal(ae_format_from_path("fits"), AE_FMT_UNKNOWN);
    assert_int_equal(ae_format_from_path("dir.png/file"), AE_FMT_UNKNOWN);
    assert_int_equal(ae_format_from_path(NULL), AE_FMT_UNKNOWN);
    assert_string_equal(ae_format_name(AE_FMT_FITS), "FITS");
    assert_string_equal(ae_format_name(AE_FMT_PNG), "PNG");
    assert_string_equal(ae_format_name(AE_FMT_JPEG), "JPEG");
    assert_string_equal(ae_format_name(AE_FMT_UNKNOWN), "unknown");
}

/* Sniffing reads magic bytes, whatever the name says, and strips "[N]". */
static void test_sniff(void **s) {
    (void)s;
    char src[300], p[300];
    data_path(src, sizeof src, "png/rgb8.png");
    tmp_path(p, sizeof p, "png_named.fits");
    copy_file(src, p);
    assert_int_equal(ae_format_sniff(p), AE_FMT_PNG);
    data_path(src, sizeof src, "jpeg/rgb.jpg");
    tmp_path(p, sizeof p, "jpeg_named.png");
    copy_file(src, p);
    assert_int_equal(ae_format_sniff(p), AE_FMT_JPEG);
    tmp_path(p, sizeof p, "head.fits");
    char card[81];
    snprintf(card, sizeof card, "%-80s", "SIMPLE  =                    T");
    write_bytes(p, card, 80);
    assert_int_equal(ae_format_sniff(p), AE_FMT_FITS);
    char hdu[320];
    snprintf(hdu, sizeof hdu, "%s[1]", p);
    assert_int_equal(ae_format_sniff(hdu), AE_FMT_FITS);
    tmp_path(p, sizeof p, "text.fits");
    write_bytes(p, "SIMPLE = T", 10); /* not the FITS spelling */
    assert_int_equal(ae_format_sniff(p), AE_FMT_UNKNOWN);
    tmp_path(p, sizeof p, "empty.png");
    write_bytes(p, "", 0);
    assert_int_equal(ae_format_sniff(p), AE_FMT_UNKNOWN);
    tmp_path(p, sizeof p, "missing.png");
    assert_int_equal(ae_format_sniff(p), AE_FMT_UNKNOWN);
}

/* ae_image_load picks the reader from the bytes: a PNG named .fits loads as PNG. */
static void test_load_dispatch(void **s) {
    (void)s;
    char src[300], p[300];
    ae_image *img = NULL;
    data_path(src, sizeof src, "png/rgb8.png");
    tmp_path(p, sizeof p, "png_named.fits");
    copy_file(src, p);
    assert_int_equal(ae_image_load(&img, p), AE_OK);
    assert_int_equal(img->src_format, AE_FMT_PNG);
    assert_int_equal(img->c, 3);
    ae_image_free(img);
    data_path(src, sizeof src, "jpeg/gray.jpg");
    tmp_path(p, sizeof p, "jpeg_named.png");
    copy_file(src, p);
    assert_int_equal(ae_image_load(&img, p), AE_OK);
    assert_int_equal(img->src_format, AE_FMT_JPEG);
    assert_int_equal(img->c, 1);
    ae_image_free(img);
}

static void expect_load_error(const char *path, ae_status want, const char *words) {
    ae_image *img = (ae_image *)1;
    ae_status st = ae_image_load(&img, path);
    if (st != want) fail_msg("%s: status %d (%s), want %d", path, st, ae_error_message(), want);
    assert_null(img);
    const char *msg = ae_error_message();
    if (!strstr(msg, path) || !strstr(msg, words)) fail_msg("message '%s' lacks '%s' or '%s'", msg, path, words);
}

static void test_load_errors(void **s) {
    (void)s;
    char p[300];
    tmp_path(p, sizeof p, "zero.fits");
    write_bytes(p, "", 0);
    expect_load_error(p, AE_ERR_FORMAT, "empty file");
    tmp_path(p, sizeof p, "garbage.png");
    write_bytes(p, "GIF89a not ours", 15);
    expect_load_error(p, AE_ERR_FORMAT, "not a FITS, PNG or JPEG file");
    tmp_path(p, sizeof p, "missing.jpg");
    expect_load_error(p, AE_ERR_IO, "No such file");
    expect_load_error(g_tmp, AE_ERR_IO, "directory");
    char src[300];
    data_path(src, sizeof src, "png/rgb8.png");
    FILE *f = fopen(src, "rb");
    assert_non_null(f);
    unsigned char buf[40];
    assert_int_equal(fread(buf, 1, sizeof buf, f), sizeof buf);
    fclose(f);
    tmp_path(p, sizeof p, "cut.png");
    write_bytes(p, buf, sizeof buf);
    expect_load_error(p, AE_ERR_FORMAT, "cut.png");
}

static void test_save_dispatch(void **s) {
    (void)s;
    const char *names[4] = {"out.png", "out.JPG", "out.jpeg", "out.fits"};
    const ae_format want[4] = {AE_FMT_PNG, AE_FMT_JPEG, AE_FMT_JPEG, AE_FMT_FITS};
    for (int i = 0; i < 4; i++) {
        ae_image *img = display_image(3), *back = NULL;
        char p[300];
        tmp_path(p, sizeof p, names[i]);
        ae_status st = ae_image_save(img, p, NULL);
        if (st != AE_OK) fail_msg("%s: %s", p, ae_error_message());
        assert_int_equal(ae_format_sniff(p), want[i]);
        st = ae_image_load(&back, p);
        if (st != AE_OK) fail_msg("%s: %s", p, ae_error_message());
        assert_int_equal(back->src_format, want[i]);
        assert_int_equal(back->w, 8);
        assert_int_equal(back->h, 6);
        ae_image_free(back);
        ae_image_free(img);
    }
}

static void test_save_errors(void **s) {
    (void)s;
    ae_image *img = display_image(1);
    char p[300];
    tmp_path(p, sizeof p, "out.tiff");
    assert_int_equal(ae_image_save(img, p, NULL), AE_ERR_ARG);
    assert_non_null(strstr(ae_error_message(), ".tiff"));
    assert_non_null(strstr(ae_error_message(), p));
    assert_int_equal(access(p, F_OK), -1);
    tmp_path(p, sizeof p, "noext");
    assert_int_equal(ae_image_save(img, p, NULL), AE_ERR_ARG);
    assert_non_null(strstr(ae_error_message(), "extension"));
    const char *bad[2] = {"/nonexistent/dir/x.png", "/nonexistent/dir/x.jpg"};
    for (int i = 0; i < 2; i++) {
        assert_int_equal(ae_image_save(img, bad[i], NULL), AE_ERR_IO);
        assert_non_null(strstr(ae_error_message(), bad[i]));
    }
    ae_image_free(img);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_from_path),     cmocka_unit_test(test_sniff),
        cmocka_unit_test(test_load_dispatch), cmocka_unit_test(test_load_errors),
        cmocka_unit_test(test_save_dispatch), cmocka_unit_test(test_save_errors),
    };
    return cmocka_run_group_tests(tests, setup_tmp, teardown_tmp);
}
