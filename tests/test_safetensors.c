/* test_safetensors.c - the safetensors reader against committed fixtures
 * (tests/data/st/, written by make_fixtures.py) and hand-made corrupt files,
 * plus exhaustive half/bfloat16 conversion checks against the IEEE formulas. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include "astroenh/safetensors.h"

static const char *fixture(const char *name) {
    static char buf[4096];
    snprintf(buf, sizeof buf, "tests/data/st/%s", name);
    if (access(buf, R_OK) == 0) return buf;
    const char *slash = strrchr(__FILE__, '/');
    snprintf(buf, sizeof buf, "%.*s/data/st/%s", slash ? (int)(slash - __FILE__) : 1, slash ? __FILE__ : ".", name);
    return buf;
}

static uint32_t fbits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

/* ---- conversions ---- */

static void test_half_exhaustive(void **state) {
    (void)state;
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        int s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
        float got = ae_half_to_float((uint16_t)h);
        if (e == 31 && m != 0) { /* NaN: sign and payload kept */
            if (!isnan(got) || (signbit(got) != 0) != s || (fbits(got) & 0x7fffff) != (uint32_t)m << 13) bad++;
            continue;
        }
        double ref = e == 31 ? INFINITY : e == 0 ? ldexp(m, -24) : ldexp(1.0 + m / 1024.0, e - 15);
        if (s) ref = -ref;
        if (fbits(got) != fbits((float)ref)) {
            if (bad++ < 5) print_error("half 0x%04x: got %a want %a\n", h, got, ref);
        }
    }
    assert_int_equal(bad, 0);
}

static void test_bf16_exhaustive(void **state) {
    (void)state;
    int bad = 0;
    for (uint32_t b = 0; b < 65536; b++) {
        int s = b >> 15, e = (b >> 7) & 255, m = b & 127;
        float got = ae_bf16_to_float((uint16_t)b);
        if (e == 255 && m != 0) {
            if (!isnan(got) || (signbit(got) != 0) != s) bad++;
            continue;
        }
        double ref = e == 255 ? INFINITY : e == 0 ? ldexp(m, -133) : ldexp(1.0 + m / 128.0, e - 127);
        if (s) ref = -ref;
        if (fbits(got) != fbits((float)ref)) bad++;
    }
    assert_int_equal(bad, 0);
}

/* ---- the committed fixtures ---- */

static void check_small_values(ae_weights *w) {
    const float *d, *d2;
    int64_t sh[4] = {-1, 3, 3, -1};
    assert_int_equal(ae_weights_get(w, "conv.weight", 4, sh, &d), AE_OK);
    assert_true(sh[0] == 4 && sh[1] == 3 && sh[2] == 3 && sh[3] == 3);
    for (int i = 0; i < 108; i++) assert_true(d[i] == (i - 50) * 0.125f);
    assert_int_equal(ae_weights_get(w, "conv.weight", 4, sh, &d2), AE_OK);
    assert_ptr_equal(d, d2);

    int64_t s1[1] = {4};
    assert_int_equal(ae_weights_get(w, "conv.bias", 1, s1, &d), AE_OK);
    assert_true(d[0] == 1.0f && d[1] == -2.5f && d[2] == 0x1p-10f && d[3] == 65504.0f);

    int64_t s8[1] = {-1};
    assert_int_equal(ae_weights_get(w, "half.special", 1, s8, &d), AE_OK);
    assert_int_equal(s8[0], 8);
    assert_true(d[0] == 0.0f && !signbit(d[0]) && d[1] == 0.0f && signbit(d[1]));
    assert_true(d[2] == 0x1p-24f && d[3] == 1023 * 0x1p-24f);
    assert_true(isinf(d[4]) && d[4] > 0 && isinf(d[5]) && d[5] < 0 && isnan(d[6]) && d[7] == 1.0f);

    int64_t s23[2] = {2, 3};
    const float bf[6] = {1.0f, -0.5f, 3.140625f, -1024.0f, 0x1p-130f, 0.0f};
    assert_int_equal(ae_weights_get(w, "bf.weight", 2, s23, &d), AE_OK);
    for (int i = 0; i < 6; i++) assert_true(d[i] == bf[i]);

    int64_t s5[1] = {5};
    assert_int_equal(ae_weights_get(w, "unaligned.f32", 1, s5, &d), AE_OK);
    assert_true(d[0] == 0.5f && d[1] == 1.5f && d[2] == -2.25f && d[3] == 1e10f && d[4] == 0.0f && signbit(d[4]));
    assert_int_equal((uintptr_t)d % 4, 0);

    int64_t s04[2] = {0, 4};
    assert_int_equal(ae_weights_get(w, "empty", 2, s04, &d), AE_OK);
    assert_int_equal(ae_weights_get(w, "scalar", 0, NULL, &d), AE_OK);
    assert_true(d[0] == 7.0f);
}

static void test_small_fixture(void **state) {
    (void)state;
    ae_weights *w = NULL;
    assert_int_equal(ae_weights_open(&w, fixture("small.safetensors")), AE_OK);
    assert_int_equal(ae_weights_count(w), 9);
    assert_string_equal(ae_weights_name(w, 0), "conv.weight");
    assert_null(ae_weights_name(w, 9));
    assert_string_equal(ae_weights_dtype(w, "steps"), "I64");
    assert_true(ae_weights_has(w, "bf.weight") && !ae_weights_has(w, "bf"));
    assert_non_null(strstr(ae_weights_path(w), "small.safetensors"));
    check_small_values(w);

    const float *d = (const float *)1;
    int64_t s2[1] = {2};
    assert_int_equal(ae_weights_get(w, "steps", 1, s2, &d), AE_ERR_FORMAT);
    assert_null(d);
    assert_non_null(strstr(ae_error_message(), "'steps'"));
    assert_non_null(strstr(ae_error_message(), "I64"));

    assert_string_equal(ae_weights_meta(w, "arch"), "unet-test");
    assert_null(ae_weights_meta(w, "nope"));
    assert_int_equal(ae_weights_meta_int(w, "base_ch", 7), 32);
    assert_int_equal(ae_weights_meta_int(w, "bad_int", 7), 7);
    assert_int_equal(ae_weights_meta_int(w, "nope", -3), -3);

    assert_int_equal(ae_weights_check_all_used(w), AE_ERR_SHAPE);
    const char *msg = ae_error_message();
    assert_non_null(strstr(msg, "'odd.u8'"));
    assert_non_null(strstr(msg, "'steps'"));
    assert_null(strstr(msg, "conv.weight"));
    ae_weights_close(w);
}

static void test_odd_header_unaligned(void **state) {
    (void)state;
    ae_weights *w = NULL;
    const float *d;
    int64_t sh[2] = {2, 3};
    assert_int_equal(ae_weights_open(&w, fixture("odd_header.safetensors")), AE_OK);
    assert_int_equal(ae_weights_get(w, "x", 2, sh, &d), AE_OK);
    assert_int_equal((uintptr_t)d % 4, 0);
    for (int i = 0; i < 6; i++) assert_true(d[i] == i * 0.5f - 1.0f);
    assert_string_equal(ae_weights_meta(w, "k"), "v");
    assert_int_equal(ae_weights_check_all_used(w), AE_OK);
    ae_weights_close(w);
}

static void test_shape_errors(void **state) {
    (void)state;
    ae_weights *w = NULL;
    const float *d;
    assert_int_equal(ae_weights_open(&w, fixture("small.safetensors")), AE_OK);
    int64_t s3[3] = {4, 3, 9};
    assert_int_equal(ae_weights_get(w, "conv.weight", 3, s3, &d), AE_ERR_SHAPE);
    assert_non_null(strstr(ae_error_message(), "'conv.weight'"));
    assert_non_null(strstr(ae_error_message(), "expected shape [4, 3, 9], found [4, 3, 3, 3]"));
    int64_t s4[4] = {-1, 3, 3, 5};
    assert_int_equal(ae_weights_get(w, "conv.weight", 4, s4, &d), AE_ERR_SHAPE);
    assert_non_null(strstr(ae_error_message(), "expected shape [?, 3, 3, 5]"));
    assert_int_equal(ae_weights_get(w, "nope.weight", 4, s4, &d), AE_ERR_SHAPE);
    assert_non_null(strstr(ae_error_message(), "tensor 'nope.weight' not found in "));
    assert_non_null(strstr(ae_error_message(), "small.safetensors"));
    assert_int_equal(ae_weights_get(w, "conv.weight", -1, s4, &d), AE_ERR_ARG);
    ae_weights_check_all_used(w);
    assert_non_null(strstr(ae_error_message(), "9 of 9 tensors never used"));
    ae_weights_close(w);
    ae_weights_close(NULL);
}

/* ---- corrupt files ---- */

static unsigned char *read_all(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc(*len);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, *len, f), *len);
    fclose(f);
    return b;
}

static void test_truncated_everywhere(void **state) {
    (void)state;
    size_t len;
    unsigned char *b = read_all(fixture("small.safetensors"), &len);
    ae_weights *w = NULL;
    assert_int_equal(ae_weights_open_mem(&w, b, len, "full"), AE_OK);
    ae_weights_close(w);
    for (size_t n = 0; n < len; n++) {
        w = (ae_weights *)1;
        ae_status st = ae_weights_open_mem(&w, b, n, "cut.safetensors");
        if (st != AE_ERR_FORMAT) print_error("length %zu: status %d\n", n, st);
        assert_int_equal(st, AE_ERR_FORMAT);
        assert_null(w);
        assert_non_null(strstr(ae_error_message(), "cut.safetensors"));
    }
    /* the same through a real file: the last tensor is cut off */
    char tmp[] = "/tmp/ae_st_XXXXXX";
    int fd = mkstemp(tmp);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, b, len - 1), (ssize_t)(len - 1));
    close(fd);
    assert_int_equal(ae_weights_open(&w, tmp), AE_ERR_FORMAT);
    assert_non_null(strstr(ae_error_message(), tmp));
    assert_non_null(strstr(ae_error_message(), "'scalar'"));
    assert_non_null(strstr(ae_error_message(), "outside the data buffer"));
    unlink(tmp);
    free(b);
}

/* Header length field `n` (or the JSON's length when n == UINT64_MAX), JSON, then `dlen` zero bytes. */
static ae_status open_crafted(uint64_t n, const char *json, size_t dlen) {
    size_t jl = strlen(json), len = 8 + jl + dlen;
    unsigned char *b = calloc(1, len);
    uint64_t hn = n == UINT64_MAX ? jl : n;
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)(hn >> (8 * i));
    memcpy(b + 8, json, jl);
    ae_weights *w = NULL;
    ae_status st = ae_weights_open_mem(&w, b, len, "crafted.safetensors");
    free(b);
    ae_weights_close(w);
    return st;
}

#define EXPECT_BAD(json, dlen, needle)                                                   \
    do {                                                                                 \
        assert_int_equal(open_crafted(UINT64_MAX, json, dlen), AE_ERR_FORMAT);           \
        if (!strstr(ae_error_message(), needle))                                         \
            fail_msg("message '%s' lacks '%s'", ae_error_message(), needle);             \
        assert_non_null(strstr(ae_error_message(), "crafted.safetensors"));              \
    } while (0)

#define T_(body) "{\"t.w\":{" body "}}"

static void test_crafted_corrupt(void **state) {
    (void)state;
    assert_int_equal(open_crafted(UINT64_MAX, "{}", 0), AE_OK);
    assert_int_equal(open_crafted(UINT64_MAX, T_("\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]"), 8), AE_OK);
    assert_int_equal(open_crafted(UINT64_MAX, "{}     \n", 0), AE_OK);
    assert_int_equal(open_crafted(1000, "{}", 10), AE_ERR_FORMAT);
    assert_non_null(strstr(ae_error_message(), "exceeds the file size"));

    EXPECT_BAD("{\"a\":", 0, "not valid JSON");
    EXPECT_BAD("{} x", 0, "not valid JSON");
    EXPECT_BAD("", 0, "not valid JSON");
    EXPECT_BAD("[1,2]", 0, "not an object");
    EXPECT_BAD("{\"t.w\":3}", 0, "'t.w': entry is not a JSON object");
    EXPECT_BAD(T_("\"shape\":[2],\"data_offsets\":[0,8]"), 8, "'t.w': missing or non-string \"dtype\"");
    EXPECT_BAD(T_("\"dtype\":\"F4\",\"shape\":[2],\"data_offsets\":[0,8]"), 8, "'t.w': unknown dtype \"F4\"");
    EXPECT_BAD(T_("\"dtype\":\"F32\",\"data_offsets\":[0,8]"), 8, "'t.w': missing or non-array \"shape\"");
    EXPECT_BAD(T_("\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]"), 8, "'t.w': shape[0] is not");
    EXPECT_BAD(T_("\"dtype\":\"F32\",\"shape\":[1,1.5],\"data_offsets\":[0,8]"), 8, "'t.w': shape[1] is not");
    EXPECT_BAD(T_("\"dtype\":\"F32\",\"shape\":[\"2\"],\"data_offsets\":[0,8]"), 8, "'t.w': shape[0] is not");
    EXPECT_BAD(T_("\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]"), 4, "9 dimensions");
    EXPECT_BAD(T_("\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,16],\"data_offsets\":[0,8]"), 8,
               "'t.w': element count overflows");
    EXPECT_BAD(T_("\"dtype\":\"F32\",\"shape\":[2251799813685248],\"data_offsets\":[0,8]"), 8,
               "'t.w': F32 [2251799813685248] needs");
    EXPECT_BAD(T_("\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,1000]"), 8,
               "'t.w': data_offsets [0, 1000] outside the data buffer of 8 bytes");
    EXPECT_BAD(T_("\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]"), 8, "'t.w': data_offsets [8, 0]");
    EXPECT_BAD(T_("\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]"), 8,
               "'t.w': F32 [3] needs 3 x 4 bytes but data_offsets span 8");
    EXPECT_BAD(T_("\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,8]"), 8, "'t.w': F16 [2] needs");
    EXPECT_BAD(T_("\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]"), 8, "'t.w': \"data_offsets\" must be");
    EXPECT_BAD(T_("\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8,9]"), 8, "\"data_offsets\" must be");
    EXPECT_BAD(T_("\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[-1,7]"), 8, "\"data_offsets\" must be");
    EXPECT_BAD(T_("\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,1e300]"), 8, "\"data_offsets\" must be");
    EXPECT_BAD("{\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]},"
               "\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}",
               4, "'a' appears twice");
    EXPECT_BAD("{\"__metadata__\":{\"k\":3}}", 0, "__metadata__ 'k' is not a string");
    EXPECT_BAD("{\"__metadata__\":[]}", 0, "\"__metadata__\" is not an object");
}

static void test_header_limit_and_io(void **state) {
    (void)state;
    char tmp[] = "/tmp/ae_st_XXXXXX";
    int fd = mkstemp(tmp);
    assert_true(fd >= 0);
    unsigned char hdr[8];
    uint64_t n = AE_WEIGHTS_MAX_HEADER + 1ull;
    for (int i = 0; i < 8; i++) hdr[i] = (unsigned char)(n >> (8 * i));
    assert_int_equal(write(fd, hdr, 8), 8);
    assert_int_equal(ftruncate(fd, (off_t)(n + 64)), 0); /* sparse: costs no disk */
    close(fd);
    ae_weights *w = NULL;
    assert_int_equal(ae_weights_open(&w, tmp), AE_ERR_FORMAT);
    assert_non_null(strstr(ae_error_message(), "exceeds the limit"));
    assert_null(w);
    unlink(tmp);

    assert_int_equal(ae_weights_open(&w, "/nonexistent/x.safetensors"), AE_ERR_IO);
    assert_non_null(strstr(ae_error_message(), "/nonexistent/x.safetensors"));
    assert_int_equal(ae_weights_open(&w, "/tmp"), AE_ERR_IO);
    char tmp2[] = "/tmp/ae_st_XXXXXX";
    fd = mkstemp(tmp2);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(ae_weights_open(&w, tmp2), AE_ERR_FORMAT); /* empty file */
    assert_non_null(strstr(ae_error_message(), "too short"));
    unlink(tmp2);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_half_exhaustive),     cmocka_unit_test(test_bf16_exhaustive),
        cmocka_unit_test(test_small_fixture),       cmocka_unit_test(test_odd_header_unaligned),
        cmocka_unit_test(test_shape_errors),        cmocka_unit_test(test_truncated_everywhere),
        cmocka_unit_test(test_crafted_corrupt),     cmocka_unit_test(test_header_limit_and_io),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
