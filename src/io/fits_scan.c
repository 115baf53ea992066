/* fits_scan.c - a pass over the raw FITS headers before cfitsio parses them.
 *
 * cfitsio 4.2 trusts some header values when it opens an HDU: a
 * tile-compressed HDU with ZTILEn = 0 divides by zero (SIGFPE) inside
 * imcomp_get_compressed_image_par, and a huge TFIELDS becomes a huge calloc
 * a ZTILEn beyond the image a huge tile buffer, and ZBITPIX = -16 an endless
 * decompression loop (all found by
 * tests/fuzz/fuzz_fits.c). This
 * walks every header (FITS standard 4.0 sections 3-4, 10.1) and rejects such
 * values with a message, so a corrupt file is an error and not a crash.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fits_internal.h"

#define BLOCK 2880
#define MAX_HEADER_BLOCKS 10000 /* 360000 cards */
#define MAX_HDUS 1000

typedef struct {
    long long bitpix, naxis, pcount, gcount, nax[999];
    int zimage;
    long long znaxis, znax[6], ztile[6];
    int bad_tfields;   /* TFIELDS outside 0..999 (cfitsio allocates that many columns) */
    char bad_string[81]; /* a table keyword whose string value is malformed */
    char zname[10][12];  /* ZNAMEn (n < 10): compression parameter names ... */
    long long zval[10];  /* ... and their ZVALn when a plain integer */
    int zval_int[10];
    int rice;            /* ZCMPTYPE = 'RICE_1' */
    char zval_card[10][81];
    int bad;           /* a bad compression keyword was seen */
    char bad_card[81]; /* that card */
    char tile_card[6][80];
} hdr_info;

static int key_eq(const char *c, const char *key) {
    size_t n = strlen(key);
    if (strncmp(c, key, n) != 0) return 0;
    for (size_t i = n; i < 8; i++)
        if (c[i] != ' ') return 0;
    return 1;
}

/* Integer value of a "KEY     = n" card; 0 if it is not a plain integer. */
static int card_int(const char *c, long long *v) {
    /* the value indicator is "= " (FITS 4.0 section 4.1.2.2); cfitsio reads
     * "=" followed by another byte differently from this scan (a ZTILE2 of 1
     * here was a zero tile to it: division by zero, found by fuzz_fits) */
    if (c[8] != '=' || c[9] != ' ') return 0;
    char buf[72];
    memcpy(buf, c + 10, 70);
    buf[70] = '\0';
    char *p = buf, *end;
    while (*p == ' ') p++;
    long long x = strtoll(p, &end, 10);
    if (end == p) return 0;
    while (*end == ' ') end++;
    if (*end && *end != '/') return 0;
    *v = x;
    return 1;
}

/* Index n of KEYn (1..999), or 0. */
static int key_index(const char *c, const char *prefix) {
    size_t n = strlen(prefix), i = n;
    if (strncmp(c, prefix, n) != 0) return 0;
    int k = 0;
    while (i < 8 && c[i] >= '0' && c[i] <= '9') k = k * 10 + (c[i++] - '0');
    if (i == n) return 0;
    for (; i < 8; i++)
        if (c[i] != ' ') return 0;
    return k >= 1 && k <= 999 ? k : 0;
}

static void mark_bad(hdr_info *h, const char *c) {
    if (h->bad) return;
    h->bad = 1;
    memcpy(h->bad_card, c, 80);
    h->bad_card[80] = '\0';
    for (int i = 79; i >= 0 && h->bad_card[i] == ' '; i--) h->bad_card[i] = '\0';
}

/* 1 when the card's value is a well-formed quoted string: '...' with ''
 * for a quote inside, closed within the card (FITS 4.0 section 4.2.1). */
static int card_string_ok(const char *c) {
    if (c[8] != '=') return 0;
    int i = 10;
    while (i < 80 && c[i] == ' ') i++;
    if (i >= 80 || c[i] != '\'') return 0;
    for (i++; i < 80; i++) {
        if (c[i] != '\'') continue;
        if (i + 1 < 80 && c[i + 1] == '\'') i++;
        else return 1;
    }
    return 0;
}

/* cfitsio copies table-column strings with strcpy into fixed buffers and
 * aborts (fortify) on the long value a malformed card parses to (fuzzing). */
static int is_column_string_key(const char *c) {
    return key_index(c, "TTYPE") || key_index(c, "TFORM") || key_index(c, "TUNIT") || key_index(c, "TDIM") ||
           key_index(c, "TDISP");
}

/* RICE's BLOCKSIZE and BYTEPIX become divisors and shift counts inside
 * cfitsio (a ZVAL of .2 is a division by zero, found by fuzzing). */
static void check_zvals(hdr_info *h) {
    for (int k = 1; k < 10; k++) {
        /* cfitsio takes RICE's ZVAL1 as the block size and ZVAL2 as the
         * bytes per pixel whatever ZNAMEn say; other ZVALn (astropy writes
         * NOISEBIT = 16.0 as ZVAL3) are not divisors */
        int positional = h->rice && h->zval_card[k][0];
        int bytepix = !strcmp(h->zname[k], "BYTEPIX") || (positional && k == 2);
        int blocksize = !strcmp(h->zname[k], "BLOCKSIZE") || (positional && k == 1);
        if (!blocksize && !bytepix) continue;
        long long v = h->zval[k];
        int ok = h->zval_int[k] && (blocksize ? v >= 1 && v <= 65536 : v == 1 || v == 2 || v == 4 || v == 8);
        if (!ok && !h->zval_card[k][0]) snprintf(h->zval_card[k], sizeof h->zval_card[k], "%-80s", "(ZVALn missing)");
        if (!ok) mark_bad(h, h->zval_card[k]);
    }
}

static void scan_card(hdr_info *h, const char *c) {
    if (key_eq(c, "ZCMPTYPE") && c[8] == '=') h->rice = memmem(c + 10, 70, "'RICE_1", 7) != NULL;
    int zk = key_index(c, "ZNAME");
    if (zk && zk < 10 && c[8] == '=') {
        const char *q = memchr(c + 10, '\'', 70);
        size_t n = 0;
        if (q)
            while (q + 1 + n < c + 80 && q[1 + n] != '\'' && q[1 + n] != ' ' && n < sizeof h->zname[0] - 1) n++;
        if (q) memcpy(h->zname[zk], q + 1, n);
        h->zname[zk][n] = '\0';
    }
    if ((zk = key_index(c, "ZVAL")) && zk < 10) {
        h->zval_int[zk] = card_int(c, &h->zval[zk]);
        memcpy(h->zval_card[zk], c, 80);
        h->zval_card[zk][80] = '\0';
    }
    if (!h->bad_string[0] && is_column_string_key(c) && !card_string_ok(c)) {
        memcpy(h->bad_string, c, 80);
        h->bad_string[80] = '\0';
    }
    long long v = 0;
    int k, ok = card_int(c, &v);
    if (key_eq(c, "BITPIX") && ok) h->bitpix = v;
    else if (key_eq(c, "NAXIS") && ok) h->naxis = v;
    else if (key_eq(c, "PCOUNT") && ok) h->pcount = v;
    else if (key_eq(c, "GCOUNT") && ok) h->gcount = v;
    else if ((k = key_index(c, "NAXIS")) && ok) h->nax[k - 1] = v;
    else if (key_eq(c, "ZIMAGE")) h->zimage = c[8] == '=' && memchr(c + 10, 'T', 70) != NULL;
    else if (key_eq(c, "ZBITPIX") && (!ok || (v != 8 && v != 16 && v != 32 && v != 64 && v != -32 && v != -64)))
        mark_bad(h, c);
    else if (key_eq(c, "TFIELDS") && (!ok || v < 0 || v > 999)) h->bad_tfields = 1;
    else if (key_eq(c, "ZNAXIS") && (!ok || v < 1 || v > 6)) mark_bad(h, c);
    else if (key_eq(c, "ZNAXIS")) h->znaxis = v;
    else if ((key_index(c, "ZNAXIS") || key_index(c, "ZTILE")) && (!ok || v < 1 || v > 2147483647))
        mark_bad(h, c);
    else if ((k = key_index(c, "ZNAXIS")) && k <= 6) h->znax[k - 1] = v;
    else if ((k = key_index(c, "ZTILE")) && k <= 6) {
        h->ztile[k - 1] = v;
        memcpy(h->tile_card[k - 1], c, 80);
    }
}

/* A tile larger than the image only makes cfitsio allocate a huge tile
 * buffer (fpack and cfitsio never write one). */
static void check_tiles(hdr_info *h) {
    for (int i = 0; i < h->znaxis && i < 6; i++)
        if (h->ztile[i] > h->znax[i]) {
            char c[81];
            memcpy(c, h->tile_card[i], 80);
            c[80] = '\0';
            mark_bad(h, c);
        }
}

/* Bytes in the data unit, unpadded; -1 when the sizes overflow. */
static long long data_bytes(const hdr_info *h) {
    if (h->naxis < 0 || h->naxis > 999 || h->pcount < 0 || h->gcount < 0) return -1;
    long long n = h->naxis ? 1 : 0;
    for (int i = 0; i < h->naxis; i++) {
        if (h->nax[i] < 0 || (h->nax[i] && n > (1ll << 62) / h->nax[i])) return -1;
        n *= h->nax[i];
    }
    long long b = h->bitpix < 0 ? -h->bitpix / 8 : h->bitpix / 8;
    if (n > (1ll << 62) - h->pcount) return -1;
    n += h->pcount;
    if (h->gcount > 1 && n > (1ll << 62) / h->gcount) return -1;
    if (h->gcount > 1) n *= h->gcount;
    if (b > 8 || n > (1ll << 62) / (b ? b : 1)) return -1;
    return n * b;
}

ae_status ae_fits_prescan(ae_fits_block_fn get, void *ctx, const char *path) {
    unsigned char blk[BLOCK];
    long long off = 0;
    for (int hdu = 0; hdu < MAX_HDUS; hdu++) {
        hdr_info *h = calloc(1, sizeof *h);
        if (!h) return ae_error_set(AE_ERR_NOMEM, "%s: out of memory scanning the headers", path);
        h->gcount = 1;
        int end = 0, nblk = 0;
        while (!end && nblk < MAX_HEADER_BLOCKS && get(ctx, off, blk)) {
            for (int k = 0; k < 36 && !end; k++) {
                const char *c = (const char *)blk + 80 * k;
                if (key_eq(c, "END")) end = 1;
                else scan_card(h, c);
            }
            off += BLOCK, nblk++;
        }
        long long n = data_bytes(h);
        if (h->zimage) check_tiles(h), check_zvals(h);
        ae_status st = AE_OK;
        /* checked also when no END was found at a card boundary: cfitsio
         * may still find one and go on to use these values */
        if (h->zimage && h->bad)
            st = ae_error_set(AE_ERR_FORMAT, "%s: HDU %d: invalid tile-compression keyword: %s", path, hdu,
                              h->bad_card);
        else if (h->bad_string[0])
            st = ae_error_set(AE_ERR_FORMAT, "%s: HDU %d: malformed string value: %.20s...", path, hdu, h->bad_string);
        else if (h->bad_tfields)
            st = ae_error_set(AE_ERR_FORMAT, "%s: HDU %d: TFIELDS is not in 0..999", path, hdu);
        else if (end && n < 0)
            st = ae_error_set(AE_ERR_FORMAT, "%s: HDU %d: the header declares an impossible data size", path, hdu);
        free(h);
        if (st || !end) return st; /* unreadable rest: cfitsio reports it */
        off += (n + BLOCK - 1) / BLOCK * BLOCK;
    }
    return AE_OK;
}
