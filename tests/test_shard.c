/* test_shard.c - --shard I/N: the hash that assigns files to shards (fixed,
 * in range, balanced, unmoved when files are added), the selection of a
 * collected list, and the output-directory lock of shards.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
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

static int setup(void **state) {
    (void)state;
    snprintf(g_root, sizeof g_root, "%s/ae-test-shard-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(g_root)) return -1;
    char p[512];
    snprintf(p, sizeof p, "%s/in", g_root);
    return mkdir(p, 0777);
}

static int teardown(void **state) {
    (void)state;
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_root);
    return system(cmd) == 0 ? 0 : -1;
}

/* Values from an independent Python implementation of the documented hash
 * (FNV-1a 64 + splitmix64 finaliser, mod N): every task of an array, on
 * any machine and any later version, must agree on them. */
static void test_shard_fixed_values(void **state) {
    (void)state;
    static const struct {
        const char *rel;
        int n2, n7, n1000;
    } v[] = {
        {"a.fits", 1, 4, 925},
        {"sub/c.png", 0, 1, 966},
        {"m51_B_gray.png", 0, 4, 756},
        {"night_001/frame_00042.fits", 0, 0, 746},
        {"/sub/c.png", 0, 1, 966}, /* a leading '/' is not part of the name */
        {"", 1, 5, 203},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        assert_int_equal(ae_shard_of(v[i].rel, 2), v[i].n2);
        assert_int_equal(ae_shard_of(v[i].rel, 7), v[i].n7);
        assert_int_equal(ae_shard_of(v[i].rel, 1000), v[i].n1000);
        assert_int_equal(ae_shard_of(v[i].rel, 1), 0);
    }
}

/* 10,000 names of the kind archives have (counters, nights): every shard
 * holds its share within 5 binomial standard deviations. */
static void test_shard_balanced(void **state) {
    (void)state;
    static const int counts[] = {2, 3, 4, 8, 16, 64, 100, 128};
    enum { NAMES = 10000 };
    for (size_t k = 0; k < sizeof counts / sizeof counts[0]; k++) {
        int n = counts[k];
        for (int style = 0; style < 2; style++) {
            int hist[128] = {0};
            char name[64];
            for (int i = 0; i < NAMES; i++) {
                if (style == 0) snprintf(name, sizeof name, "frame_%05d.fits", i);
                else snprintf(name, sizeof name, "night_%03d/img%d.png", i / 97, i % 97);
                int s = ae_shard_of(name, n);
                assert_true(s >= 0 && s < n);
                hist[s]++;
            }
            double mean = (double)NAMES / n, sd = sqrt(mean * (1.0 - 1.0 / n));
            for (int s = 0; s < n; s++) {
                if (fabs(hist[s] - mean) > 5 * sd)
                    fail_msg("%d shards, style %d: shard %d holds %d files, expected %.0f +- %.0f", n, style, s,
                             hist[s], mean, 5 * sd);
            }
        }
    }
}

/* Names that differ in a high bit of one character ('M'/'m', 'a'/'q') share
 * a shard by chance (1/N), not always, also for N a power of two. */
static void test_shard_mixes_high_bits(void **state) {
    (void)state;
    int same_case = 0, same_aq = 0;
    char x[32], y[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(x, sizeof x, "M51_%d.fits", i);
        snprintf(y, sizeof y, "m51_%d.fits", i);
        same_case += ae_shard_of(x, 32) == ae_shard_of(y, 32);
        snprintf(x, sizeof x, "a_%d.fits", i);
        snprintf(y, sizeof y, "q_%d.fits", i);
        same_aq += ae_shard_of(x, 16) == ae_shard_of(y, 16);
    }
    assert_in_range(same_case, 0, 1000 / 32 * 3);
    assert_in_range(same_aq, 0, 1000 / 16 * 3);
}

static int shard_of_path(const ae_batch_list *l, const char *rel, int count) {
    for (int i = 0; i < l->n; i++)
        if (!strcmp(l->items[i].rel, rel)) return ae_shard_of(l->items[i].rel, count);
    return -1;
}

/* Selecting shard I of N over the I partitions the list; files added to
 * the directory leave the old ones where they were. */
static void test_shard_select_partition_and_stable(void **state) {
    (void)state;
    char rel[64], in[300];
    snprintf(in, sizeof in, "%s/in", g_root);
    for (int i = 0; i < 40; i++) {
        snprintf(rel, sizeof rel, "in/f%02d.fits", i);
        touch(rel);
    }
    char *args[] = {in};
    ae_batch_list a = {0};
    assert_int_equal(ae_batch_collect(&a, args, 1, 0, NULL), AE_OK);
    assert_int_equal(a.n, 40);
    int total = 0, owners[40] = {0};
    for (int s = 0; s < 3; s++) {
        total += ae_batch_select_shard(&a, s, 3);
        for (int i = 0; i < a.n; i++) owners[i] += !a.items[i].other_shard;
    }
    assert_int_equal(total, 40);
    for (int i = 0; i < 40; i++) assert_int_equal(owners[i], 1);
    assert_int_equal(ae_batch_select_shard(&a, 0, 0), 40); /* not sharded: every file */

    for (int i = 40; i < 100; i++) {
        snprintf(rel, sizeof rel, "in/f%02d.fits", i);
        touch(rel);
    }
    ae_batch_list b = {0};
    assert_int_equal(ae_batch_collect(&b, args, 1, 0, NULL), AE_OK);
    assert_int_equal(b.n, 100);
    for (int i = 0; i < a.n; i++)
        assert_int_equal(shard_of_path(&b, a.items[i].rel, 3), ae_shard_of(a.items[i].rel, 3));
    ae_batch_list_free(&a);
    ae_batch_list_free(&b);
}

static int lock_exists(const char *name) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s", g_root, name);
    return access(p, F_OK) == 0;
}

/* Shards of one array lock the directory together; the same shard twice,
 * or an unsharded run beside them, is refused. (flock locks belong to open
 * files, so two locks taken here conflict as two processes' would.) */
static void test_shard_lock(void **state) {
    (void)state;
    int a[2], b[2], c[2], plain = -1;
    assert_int_equal(ae_batch_lock_shard(g_root, 0, 0, 2, a), AE_OK);
    assert_int_equal(ae_batch_lock_shard(g_root, 0, 1, 2, b), AE_OK);
    assert_int_equal(ae_batch_lock_shard(g_root, 0, 0, 2, c), AE_ERR_IO);
    char want[128];
    snprintf(want, sizeof want, "is locked by another run of shard 0/2 (pid %ld)", (long)getpid());
    assert_non_null(strstr(ae_error_message(), want));
    assert_int_equal(c[0], -1);
    assert_int_equal(c[1], -1);
    assert_int_equal(ae_batch_lock(g_root, 0, &plain), AE_ERR_IO);
    assert_non_null(strstr(ae_error_message(), "is locked by another astroenh run"));

    ae_batch_unlock_shard(g_root, 0, 2, a);
    assert_false(lock_exists(".astroenh.shard-0-of-2.lock"));
    assert_true(lock_exists(".astroenh.lock")); /* shard 1 still holds it */
    assert_int_equal(ae_batch_lock(g_root, 0, &plain), AE_ERR_IO);
    ae_batch_unlock_shard(g_root, 1, 2, b);
    assert_false(lock_exists(".astroenh.lock"));

    assert_int_equal(ae_batch_lock(g_root, 0, &plain), AE_OK);
    assert_int_equal(ae_batch_lock_shard(g_root, 0, 1, 2, c), AE_ERR_IO);
    assert_non_null(strstr(ae_error_message(), "is locked by another astroenh run"));
    assert_false(lock_exists(".astroenh.shard-1-of-2.lock"));
    ae_batch_unlock(g_root, plain);
    assert_false(lock_exists(".astroenh.lock"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shard_fixed_values),
        cmocka_unit_test(test_shard_balanced),
        cmocka_unit_test(test_shard_mixes_high_bits),
        cmocka_unit_test(test_shard_select_partition_and_stable),
        cmocka_unit_test(test_shard_lock),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
