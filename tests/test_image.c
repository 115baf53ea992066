/* test_image.c - ae_image (src/core/image.c), header cards, HISTORY wrapping,
 * SHA-256 (src/core/sha256.c, FIPS 180-4 / NIST CAVP vectors) and the
 * provenance HISTORY of src/io/provenance.c. */
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
#include "astroenh/sha256.h"

static void test_create_limits(void **state) {
    (void)state;
    ae_image *img = (ae_image *)1;
    assert_int_equal(ae_image_create(&img, 0, 5, 1), AE_ERR_ARG);
    assert_null(img);
    assert_int_equal(ae_image_create(&img, 5, 5, 2), AE_ERR_ARG);
    assert_int_equal(ae_image_create(&img, AE_MAX_DIM + 1, 1, 1), AE_ERR_UNSUPPORTED);
    assert_non_null(strstr(ae_error_message(), "65537"));
    assert_int_equal(ae_image_create(&img, AE_MAX_DIM, AE_MAX_DIM, 3), AE_ERR_UNSUPPORTED);
    assert_int_equal(ae_image_create(&img, 7, 5, 3), AE_OK);
    assert_int_equal(img->w, 7);
    assert_int_equal(img->h, 5);
    assert_int_equal(img->c, 3);
    for (size_t i = 0; i < 7 * 5 * 3; i++) assert_true(img->data[i] == 0.0f);
    assert_null(img->next_hdu);
    assert_int_equal(img->hdr.n_cards, 0);
    ae_image_free(img);
    ae_image_free(NULL);
}

static void test_clone_and_nan(void **state) {
    (void)state;
    ae_image *a, *b;
    assert_int_equal(ae_image_create(&a, 4, 3, 1), AE_OK);
    for (int i = 0; i < 12; i++) a->data[i] = (float)i;
    a->data[5] = NAN;
    a->data[7] = NAN;
    a->src_format = AE_FMT_FITS;
    a->src_bitdepth = 16;
    assert_int_equal(ae_header_append(&a->hdr, "OBJECT  = 'M51     '"), AE_OK);
    assert_int_equal(ae_image_create(&a->next_hdu, 2, 2, 1), AE_OK);
    snprintf(a->next_hdu->extname, sizeof a->next_hdu->extname, "UNCERT");
    a->next_hdu->data[3] = 9.0f;
    assert_int_equal(ae_image_nan_count(a), 2);
    assert_int_equal(ae_image_clone(&b, a), AE_OK);
    assert_ptr_not_equal(b->data, a->data);
    assert_ptr_not_equal(b->hdr.cards, a->hdr.cards);
    assert_int_equal(b->src_bitdepth, 16);
    assert_int_equal(b->hdr.n_cards, 1);
    assert_string_equal(b->hdr.cards[0], a->hdr.cards[0]);
    assert_int_equal(ae_image_nan_count(b), 2);
    assert_true(b->data[11] == 11.0f);
    assert_non_null(b->next_hdu);
    assert_ptr_not_equal(b->next_hdu, a->next_hdu);
    assert_string_equal(b->next_hdu->extname, "UNCERT");
    assert_true(b->next_hdu->data[3] == 9.0f);
    b->data[0] = 42.0f;
    assert_true(a->data[0] == 0.0f);
    ae_image_free(a);
    ae_image_free(b);
}

static void test_header_cards(void **state) {
    (void)state;
    ae_header h = {0};
    assert_int_equal(ae_header_append(&h, "EXPTIME =                150.0 / integration time in secs"), AE_OK);
    assert_int_equal(strlen(h.cards[0]), 80);
    assert_int_equal(ae_header_find(&h, "EXPTIME"), 0);
    assert_int_equal(ae_header_find(&h, "EXPTIM"), -1);
    double v = 0;
    assert_int_equal(ae_header_get_double(&h, "EXPTIME", &v), 1);
    assert_true(v == 150.0);

    assert_int_equal(ae_header_set_double(&h, "CD1_1", -2.77777777777778E-05, "CD matrix"), AE_OK);
    assert_int_equal(ae_header_get_double(&h, "CD1_1", &v), 1);
    assert_true(v == -2.77777777777778E-05);
    double third = 1.0 / 3.0;
    assert_int_equal(ae_header_set_double(&h, "CD1_1", third, NULL), AE_OK); /* replaces */
    assert_int_equal(h.n_cards, 2);
    assert_int_equal(ae_header_get_double(&h, "CD1_1", &v), 1);
    assert_true(v == third); /* 17 digits when needed: exact */
    assert_int_equal(ae_header_set_double(&h, "CRPIX1", 212.0, "Reference x"), AE_OK);
    assert_string_equal(h.cards[2], "CRPIX1  =                212.0 / Reference x"
                                    "                                    ");
    assert_int_equal(ae_header_set_int(&h, "NCOMBINE", -7, NULL), AE_OK);
    assert_int_equal(ae_header_get_double(&h, "NCOMBINE", &v), 1);
    assert_true(v == -7.0);
    assert_int_equal(ae_header_set_string(&h, "OBSERVER", "O'Hara", "who"), AE_OK);
    int i = ae_header_find(&h, "OBSERVER");
    assert_true(i >= 0);
    assert_memory_equal(h.cards[i], "OBSERVER= 'O''Hara  '          / who ", 36);
    assert_int_equal(ae_header_get_double(&h, "OBSERVER", &v), 0); /* a string is no number */

    /* Fortran exponents, and errors for bad keys / values */
    assert_int_equal(ae_header_append(&h, "GAIN    =              1.9D+00"), AE_OK);
    assert_int_equal(ae_header_get_double(&h, "GAIN", &v), 1);
    assert_true(v == 1.9);
    assert_int_equal(ae_header_set_double(&h, "lower", 1.0, NULL), AE_ERR_ARG);
    assert_int_equal(ae_header_set_double(&h, "TOOLONGKEY", 1.0, NULL), AE_ERR_ARG);
    assert_int_equal(ae_header_set_double(&h, "BAD", NAN, NULL), AE_ERR_ARG);
    char longs[100];
    memset(longs, 'x', 99);
    longs[99] = '\0';
    assert_int_equal(ae_header_set_string(&h, "LONGSTR", longs, NULL), AE_ERR_ARG);
    assert_int_equal(ae_header_append(&h, longs), AE_ERR_ARG);

    /* HIERARCH keys */
    assert_int_equal(ae_header_append(&h, "HIERARCH ESO DET GAIN = 2.5 / gain"), AE_OK);
    assert_int_equal(ae_header_get_double(&h, "ESO DET GAIN", &v), 1);
    assert_true(v == 2.5);

    ae_header copy = {0};
    assert_int_equal(ae_header_copy(&copy, &h), AE_OK);
    assert_int_equal(copy.n_cards, h.n_cards);
    assert_int_equal(ae_header_append(&h, "COMMENT a"), AE_OK);
    assert_int_equal(ae_header_append(&h, "COMMENT b"), AE_OK);
    int n = h.n_cards;
    ae_header_remove(&h, "COMMENT");
    assert_int_equal(h.n_cards, n - 2);
    ae_header_remove(&h, "CD1_1");
    assert_int_equal(ae_header_find(&h, "CD1_1"), -1);
    assert_int_equal(ae_header_find(&h, "CRPIX1"), 1); /* order of the rest kept */
    assert_int_equal(ae_header_find(&copy, "CD1_1"), 1);
    ae_header_free(&copy);
    ae_header_free(&h);
    ae_header_free(&h);
}

static void test_history_wrap(void **state) {
    (void)state;
    ae_header h = {0};
    assert_int_equal(ae_header_add_history(&h, "short line"), AE_OK);
    assert_int_equal(h.n_cards, 1);
    assert_memory_equal(h.cards[0], "HISTORY short line ", 19);

    /* 30 words of 9 chars + spaces = 299 chars: breaks at spaces, no word cut */
    char text[400] = "";
    for (int i = 0; i < 30; i++) {
        char w[16];
        snprintf(w, sizeof w, "%sword%05d", i ? " " : "", i);
        strcat(text, w);
    }
    ae_header_free(&h);
    assert_int_equal(ae_header_add_history(&h, text), AE_OK);
    assert_true(h.n_cards >= 5);
    char joined[800] = "";
    for (int i = 0; i < h.n_cards; i++) {
        assert_memory_equal(h.cards[i], "HISTORY ", 8);
        assert_int_equal(strlen(h.cards[i]), 80);
        char body[73];
        memcpy(body, h.cards[i] + 8, 72);
        body[72] = '\0';
        size_t n = strlen(body);
        while (n && body[n - 1] == ' ') body[--n] = '\0';
        assert_true(body[0] == 'w');          /* starts on a word */
        assert_true(n % 10 == 9);              /* whole words only */
        if (i) strcat(joined, " ");
        strcat(joined, body);
    }
    assert_string_equal(joined, text);

    /* a single 150-char token is hard-broken at 72; newlines break too */
    ae_header_free(&h);
    char tok[151];
    memset(tok, 'a', 150);
    tok[150] = '\0';
    assert_int_equal(ae_header_add_history(&h, tok), AE_OK);
    assert_int_equal(h.n_cards, 3);
    assert_int_equal(h.cards[2][8 + 5], 'a');
    assert_int_equal(h.cards[2][8 + 6], ' ');
    ae_header_free(&h);
    assert_int_equal(ae_header_add_history(&h, "one\ntwo"), AE_OK);
    assert_int_equal(h.n_cards, 2);
    assert_memory_equal(h.cards[1], "HISTORY two ", 12);
    ae_header_free(&h);
}

static void sha_hex(const void *data, size_t len, char hex[65]) {
    ae_sha256_ctx c;
    unsigned char d[32];
    ae_sha256_init(&c);
    ae_sha256_update(&c, data, len);
    ae_sha256_final(&c, d);
    ae_sha256_hex(d, hex);
}

static void test_sha256_vectors(void **state) {
    (void)state;
    char hex[65];
    sha_hex("", 0, hex);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    sha_hex("abc", 3, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    sha_hex(m, strlen(m), hex);
    assert_string_equal(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    /* one million 'a', fed in uneven pieces to exercise the block buffer */
    char *a = malloc(1000000);
    assert_non_null(a);
    memset(a, 'a', 1000000);
    ae_sha256_ctx c;
    unsigned char d[32];
    ae_sha256_init(&c);
    size_t off = 0, step = 1;
    while (off < 1000000) {
        size_t n = step < 1000000 - off ? step : 1000000 - off;
        ae_sha256_update(&c, a + off, n);
        off += n;
        step = step * 3 % 1000 + 1;
    }
    ae_sha256_final(&c, d);
    ae_sha256_hex(d, hex);
    assert_string_equal(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    free(a);
    /* 55, 56 and 64 bytes: the padding boundaries */
    char buf[64];
    memset(buf, 'a', sizeof buf);
    sha_hex(buf, 55, hex);
    assert_string_equal(hex, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318");
    sha_hex(buf, 56, hex);
    assert_string_equal(hex, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a");
    sha_hex(buf, 64, hex);
    assert_string_equal(hex, "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb");
}

static void test_provenance(void **state) {
    (void)state;
    char dir[] = "/tmp/ae_test_image_XXXXXX", path[300];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/colorizer.safetensors", dir);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs("abc", f);
    fclose(f);
    char hex[65];
    assert_int_equal(ae_sha256_file(path, hex), AE_OK);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");

    ae_header h = {0};
    assert_int_equal(ae_header_add_provenance(&h, "colorize", "strength=0.8", path), AE_OK);
    assert_int_equal(h.n_cards, 3); /* the model line is wrapped before "sha256=" */
    char want[81];
    snprintf(want, sizeof want, "HISTORY astroenh %s colorize strength=0.8", AE_VERSION);
    assert_memory_equal(h.cards[0], want, strlen(want));
    assert_memory_equal(h.cards[1], "HISTORY model colorizer.safetensors ", 36);
    assert_memory_equal(h.cards[2],
                        "HISTORY sha256=ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad ",
                        80);
    ae_header_free(&h);
    assert_int_equal(ae_header_add_provenance(&h, "denoise", NULL, NULL), AE_OK);
    assert_int_equal(h.n_cards, 1);
    ae_header_free(&h);

    char missing[320];
    snprintf(missing, sizeof missing, "%s/nope.safetensors", dir);
    assert_int_equal(ae_sha256_file(missing, hex), AE_ERR_IO);
    assert_non_null(strstr(ae_error_message(), "nope.safetensors"));
    assert_int_equal(ae_header_add_provenance(&h, "upscale", "x=2", missing), AE_ERR_IO);
    assert_non_null(strstr(ae_error_message(), "nope.safetensors"));
    ae_header_free(&h);
    assert_int_equal(ae_sha256_file(dir, hex), AE_ERR_IO); /* a directory */
    unlink(path);
    rmdir(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_limits), cmocka_unit_test(test_clone_and_nan),
        cmocka_unit_test(test_header_cards),  cmocka_unit_test(test_history_wrap),
        cmocka_unit_test(test_sha256_vectors), cmocka_unit_test(test_provenance),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
