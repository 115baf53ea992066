/* test_batch.c - the batch runner's pure logic: which files a directory
 * gives, where each output goes, temp names, the lock, atomic text outputs,
 * JSON escaping, the stage table and the display round trip.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "astroenh/batch.h"

static char g_root[256];

static void touch(const char *rel) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s", g_root, rel);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs("x", f);
    fclose(f);
}

static void mkd(const char *rel) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s", g_root, rel);
    assert_int_equal(mkdir(p, 0777), 0);
}

static int setup_tree(void **state) {
    (void)state;
    snprintf(g_root, sizeof g_root, "%s/ae-test-batch-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(g_root)) return -1;
    mkd("in");
    mkd("in/sub");
    mkd("in/sub/deep");
    mkd("in/.hidden");
    mkd("in/out");
    touch("in/b.fits");
    touch("in/a.PNG");
    touch("in/c.jpeg");
    touch("in/notes.txt");
    touch("in/.a.tmp-1-1.png");
    touch("in/sub/z.fit");
    touch("in/sub/deep/y.fz");
    touch("in/.hidden/h.png");
    touch("in/out/o.png");
    return 0;
}

static int teardown_tree(void **state) {
    (void)state;
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_root);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_is_image(void **state) {
    (void)state;
    assert_true(ae_path_is_image("x.fits"));
    assert_true(ae_path_is_image("dir/x.FIT"));
    assert_true(ae_path_is_image("x.fits.fz"));
    assert_true(ae_path_is_image("a.jpeg"));
    assert_false(ae_path_is_image("x.txt"));
    assert_false(ae_path_is_image("fits"));
    assert_false(ae_path_is_image("a.png/readme"));
}

static void collect(ae_batch_list *l, const char *rel, int recursive, const char *skip) {
    char arg[512], sk[512];
    snprintf(arg, sizeof arg, "%s/%s", g_root, rel);
    if (skip) snprintf(sk, sizeof sk, "%s/%s", g_root, skip);
    char *args[] = {arg};
    memset(l, 0, sizeof *l);
    assert_int_equal(ae_batch_collect(l, args, 1, recursive, skip ? sk : NULL), AE_OK);
}

static void test_collect_flat_sorted(void **state) {
    (void)state;
    ae_batch_list l;
    collect(&l, "in", 0, NULL);
    assert_int_equal(l.n, 3); /* a.PNG b.fits c.jpeg; not notes.txt, dot-files or subdirs */
    assert_string_equal(l.items[0].rel, "a.PNG");
    assert_string_equal(l.items[1].rel, "b.fits");
    assert_string_equal(l.items[2].rel, "c.jpeg");
    assert_true(l.items[0].from_dir);
    assert_int_equal(l.n_dirs, 1);
    char want[512];
    snprintf(want, sizeof want, "%s/in/b.fits", g_root);
    assert_string_equal(l.items[1].path, want);
    ae_batch_list_free(&l);
}

static void test_collect_recursive_skips_output(void **state) {
    (void)state;
    ae_batch_list l;
    collect(&l, "in", 1, "in/out");
    assert_int_equal(l.n, 5);
    assert_string_equal(l.items[0].rel, "a.PNG");
    assert_string_equal(l.items[3].rel, "sub/deep/y.fz");
    assert_string_equal(l.items[4].rel, "sub/z.fit");
    ae_batch_list_free(&l);
    collect(&l, "in", 1, NULL);
    assert_int_equal(l.n, 6); /* out/o.png too when it is not the output directory */
    ae_batch_list_free(&l);
}

static void test_collect_files_and_missing(void **state) {
    (void)state;
    char a[512], b[512];
    snprintf(a, sizeof a, "%s/in/sub/z.fit", g_root);
    snprintf(b, sizeof b, "%s/in/nope.png", g_root);
    char *args[] = {a, b};
    ae_batch_list l = {0};
    assert_int_equal(ae_batch_collect(&l, args, 2, 0, NULL), AE_OK);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.items[0].rel, "z.fit");
    assert_false(l.items[0].missing);
    assert_true(l.items[1].missing);
    assert_int_equal(l.n_dirs, 0);
    assert_true(ae_batch_dir_mode(&l, "whatever"));
    ae_batch_list_free(&l);
    char *one[] = {a};
    assert_int_equal(ae_batch_collect(&l, one, 1, 0, NULL), AE_OK);
    assert_false(ae_batch_dir_mode(&l, "x.png"));
    assert_true(ae_batch_dir_mode(&l, g_root)); /* an existing directory */
    ae_batch_list_free(&l);
}

static void test_output_path(void **state) {
    (void)state;
    ae_batch_item it = {.path = "in/sub/x.fits", .rel = "sub/x.fits", .from_dir = 1};
    char *p = NULL;
    assert_int_equal(ae_batch_output_path(&it, "out/", 1, NULL, &p), AE_OK);
    assert_string_equal(p, "out/sub/x.fits");
    free(p);
    assert_int_equal(ae_batch_output_path(&it, "out", 1, "png", &p), AE_OK);
    assert_string_equal(p, "out/sub/x.png");
    free(p);
    assert_int_equal(ae_batch_output_path(&it, "out", 1, "jpeg", &p), AE_OK);
    assert_string_equal(p, "out/sub/x.jpg");
    free(p);
    assert_int_equal(ae_batch_output_path(&it, "single.png", 0, NULL, &p), AE_OK);
    assert_string_equal(p, "single.png");
    free(p);
    ae_batch_item dotted = {.path = "d/v1.2/frame", .rel = "v1.2/frame", .from_dir = 1};
    assert_int_equal(ae_batch_output_path(&dotted, "o", 1, "fits", &p), AE_OK);
    assert_string_equal(p, "o/v1.2/frame.fits");
    free(p);
    ae_batch_item two = {.path = "a.fits.fz", .rel = "a.fits.fz"};
    assert_int_equal(ae_batch_output_path(&two, "o", 1, "png", &p), AE_OK);
    assert_string_equal(p, "o/a.fits.png");
    free(p);
    p = NULL;
    assert_int_equal(ae_batch_output_path(&it, "out", 1, "tiff", &p), AE_ERR_ARG);
    assert_null(p);
    assert_non_null(strstr(ae_error_message(), "tiff"));
}

static void test_map_outputs_duplicates(void **state) {
    (void)state;
    char *args[] = {"x1/same.png", "x2/same.png", "x3/other.png"};
    ae_batch_list l = {0};
    assert_int_equal(ae_batch_collect(&l, args, 3, 0, NULL), AE_OK);
    assert_int_equal(ae_batch_map_outputs(&l, "o", 1, NULL), AE_OK);
    assert_string_equal(l.items[0].out, "o/same.png");
    assert_null(l.items[0].error);
    assert_non_null(l.items[1].error);
    assert_non_null(strstr(l.items[1].error, "x1/same.png"));
    assert_null(l.items[2].error);
    ae_batch_list_free(&l);
}

static void test_temp_path(void **state) {
    (void)state;
    char *a = ae_output_temp_path("dir/sub/name.fits");
    char *b = ae_output_temp_path("dir/sub/name.fits");
    char pre[64];
    snprintf(pre, sizeof pre, "dir/sub/.name.tmp-%ld-", (long)getpid());
    assert_int_equal(strncmp(a, pre, strlen(pre)), 0);
    assert_string_equal(a + strlen(a) - 5, ".fits");
    assert_string_not_equal(a, b);
    assert_int_equal(ae_format_from_path(a), AE_FMT_FITS);
    free(a);
    free(b);
    char *c = ae_output_temp_path("plain");
    assert_int_equal(strncmp(c, ".plain.tmp-", 11), 0);
    free(c);
}

/* A target name of 255 bytes (NAME_MAX) still gets a temp name that fits. */
static void test_temp_path_long_name(void **state) {
    (void)state;
    char name[300] = "d/";
    memset(name + 2, 'n', 250);
    strcpy(name + 252, ".fits"); /* base: 255 bytes */
    char *t = ae_output_temp_path(name);
    assert_non_null(t);
    const char *base = strrchr(t, '/') + 1;
    assert_true(strlen(base) <= NAME_MAX);
    assert_int_equal(strncmp(t, "d/.nnn", 6), 0);
    assert_string_equal(t + strlen(t) - 5, ".fits");
    assert_non_null(strstr(base, ".tmp-"));
    free(t);
}

/* An output folder reached through a link inside the output directory is
 * refused; OUT itself may be a link, and folders still to be made are fine. */
static void test_check_inside(void **state) {
    (void)state;
    char out[512], away[512], link[1024], p[1024], outlink[512];
    snprintf(out, sizeof out, "%s/inside_out", g_root);
    snprintf(away, sizeof away, "%s/inside_away", g_root);
    snprintf(link, sizeof link, "%s/sub", out);
    snprintf(outlink, sizeof outlink, "%s/inside_outlink", g_root);
    assert_int_equal(ae_output_make_dir(out), AE_OK);
    assert_int_equal(ae_output_make_dir(away), AE_OK);
    assert_int_equal(symlink(away, link), 0);
    assert_int_equal(symlink(out, outlink), 0);
    snprintf(p, sizeof p, "%s/a.fits", out);
    assert_int_equal(ae_output_check_inside(out, p), AE_OK);
    snprintf(p, sizeof p, "%s/new/deeper/a.fits", out);
    assert_int_equal(ae_output_check_inside(out, p), AE_OK);
    snprintf(p, sizeof p, "%s/sub/a.fits", out);
    assert_int_equal(ae_output_check_inside(out, p), AE_ERR_ARG);
    assert_non_null(strstr(ae_error_message(), "symbolic link"));
    snprintf(p, sizeof p, "%s/sub/new/a.fits", out);
    assert_int_equal(ae_output_check_inside(out, p), AE_ERR_ARG);
    snprintf(p, sizeof p, "%s/x/a.fits", outlink);
    assert_int_equal(ae_output_check_inside(outlink, p), AE_OK);
}

static void test_write_text_atomic_and_protected(void **state) {
    (void)state;
    char p[512], q[512];
    snprintf(p, sizeof p, "%s/t.txt", g_root);
    snprintf(q, sizeof q, "%s/in/notes.txt", g_root);
    assert_int_equal(ae_output_write_text("hello\n", 6, p, NULL), AE_OK);
    FILE *f = fopen(p, "r");
    char buf[16] = {0};
    assert_non_null(f);
    assert_int_equal(fread(buf, 1, sizeof buf, f), 6);
    fclose(f);
    assert_string_equal(buf, "hello\n");
    assert_int_equal(ae_output_write_text("x", 1, q, q), AE_ERR_ARG);
    assert_non_null(strstr(ae_error_message(), "refusing"));
    assert_true(ae_path_same_file(q, q));
    assert_false(ae_path_same_file(p, q));
    char bad[512];
    snprintf(bad, sizeof bad, "%s/t.txt/below.txt", g_root);
    assert_int_equal(ae_output_write_text("x", 1, bad, NULL), AE_ERR_IO);
    assert_non_null(strstr(ae_error_message(), "below.txt"));
    assert_null(strstr(ae_error_message(), ".tmp-")); /* the message names the final file */
}

static void test_lock(void **state) {
    (void)state;
    int fd1 = -1, fd2 = -1;
    assert_int_equal(ae_batch_lock(g_root, 0, &fd1), AE_OK);
    assert_true(fd1 >= 0);
    assert_int_equal(ae_batch_lock(g_root, 0, &fd2), AE_ERR_IO);
    char want[128];
    snprintf(want, sizeof want, "is locked by another astroenh run (pid %ld)", (long)getpid());
    assert_non_null(strstr(ae_error_message(), want));
    assert_int_equal(fd2, -1);
    ae_batch_unlock(g_root, fd1);
    assert_int_equal(ae_batch_lock(g_root, 0, &fd2), AE_OK);
    ae_batch_unlock(g_root, fd2);
    char lock[512];
    snprintf(lock, sizeof lock, "%s/.astroenh.lock", g_root);
    assert_int_not_equal(access(lock, F_OK), 0);
}

static void test_json_escape(void **state) {
    (void)state;
    char buf[64] = "x=";
    ae_json_append_string(buf, sizeof buf, "a\"b\\c\nd");
    assert_string_equal(buf, "x=\"a\\\"b\\\\c\\u000ad\"");
    char small[8] = "";
    ae_json_append_string(small, sizeof small, "abcdefghijkl");
    assert_true(strlen(small) < sizeof small);
    char n[8] = "";
    ae_json_append_string(n, sizeof n, NULL);
    assert_string_equal(n, "null");
    ae_result r;
    memset(&r, 0, sizeof r);
    ae_result_json(&r, "\"a\": %d", 1);
    ae_result_json(&r, "\"b\": \"%s\"", "x");
    assert_string_equal(r.json, "\"a\": 1, \"b\": \"x\"");
}

static void test_stage_table(void **state) {
    (void)state;
    int n = 0;
    for (; ae_stages[n]; n++) assert_ptr_equal(ae_stage_find(ae_stages[n]->name), ae_stages[n]);
    assert_true(n <= 3);
    assert_null(ae_stage_find("no-such-stage"));
}

static void test_display_round_trip(void **state) {
    (void)state;
    ae_image *img = NULL, *d = NULL, *back = NULL;
    assert_int_equal(ae_image_create(&img, 8, 4, 1), AE_OK);
    for (int i = 0; i < 32; i++) img->data[i] = 100.0f + 3.0f * (float)i + (i % 5 == 0 ? 50.0f : 0.0f);
    img->range = AE_RANGE_LINEAR;
    ae_stretch s;
    assert_int_equal(ae_to_display(img, &d, &s, AE_STRETCH_LINEAR), AE_OK);
    assert_int_equal(d->range, AE_RANGE_DISPLAY);
    assert_int_equal(s.kind, AE_STRETCH_LINEAR);
    for (int i = 0; i < 32; i++) assert_true(d->data[i] >= 0.0f && d->data[i] <= 1.0f);
    assert_int_equal(ae_from_display(d, &back, &s), AE_OK);
    assert_int_equal(back->range, AE_RANGE_LINEAR);
    for (int i = 0; i < 32; i++) assert_true(fabsf(back->data[i] - img->data[i]) <= 1e-3f * fabsf(img->data[i]));
    ae_image_free(back);
    ae_image_free(d);
    /* display data passes through untouched */
    img->range = AE_RANGE_DISPLAY;
    for (int i = 0; i < 32; i++) img->data[i] = (float)i / 31.0f;
    assert_int_equal(ae_to_display(img, &d, &s, AE_STRETCH_MTF), AE_OK);
    assert_int_equal(s.kind, AE_STRETCH_NONE);
    assert_memory_equal(d->data, img->data, 32 * sizeof(float));
    ae_image_free(d);
    ae_image_free(img);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_is_image),
        cmocka_unit_test(test_collect_flat_sorted),
        cmocka_unit_test(test_collect_recursive_skips_output),
        cmocka_unit_test(test_collect_files_and_missing),
        cmocka_unit_test(test_output_path),
        cmocka_unit_test(test_map_outputs_duplicates),
        cmocka_unit_test(test_temp_path),
        cmocka_unit_test(test_temp_path_long_name),
        cmocka_unit_test(test_check_inside),
        cmocka_unit_test(test_write_text_atomic_and_protected),
        cmocka_unit_test(test_lock),
        cmocka_unit_test(test_json_escape),
        cmocka_unit_test(test_stage_table),
        cmocka_unit_test(test_display_round_trip),
    };
    return cmocka_run_group_tests(tests, setup_tree, teardown_tree);
}
