/* image.c - the ae_image type and its FITS header cards (image.h).
 *
 * Cards are kept as 80-character records, blank-padded, in file order, the
 * way FITS stores them (FITS standard 4.0, section 4); the value formatting
 * follows cfitsio's free-format conventions so that a card we write reads
 * back with the same value in any FITS reader.
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "astroenh/image.h"

#define CARD_LEN 80
#define HISTORY_TEXT 72 /* columns 9..80 of a HISTORY card */

ae_status ae_image_create(ae_image **out, int w, int h, int c) {
    *out = NULL;
    if (w <= 0 || h <= 0 || (c != 1 && c != 3))
        return ae_error_set(AE_ERR_ARG, "invalid image size %dx%dx%d (need w,h > 0 and 1 or 3 channels)",
                            w, h, c);
    if (w > AE_MAX_DIM || h > AE_MAX_DIM)
        return ae_error_set(AE_ERR_UNSUPPORTED, "image %dx%d exceeds the largest side we accept (%d)",
                            w, h, AE_MAX_DIM);
    size_t n;
    if (ae_mul3_size((size_t)w, (size_t)h, (size_t)c, &n) || n > AE_MAX_PIXELS)
        return ae_error_set(AE_ERR_UNSUPPORTED, "image %dx%dx%d has more than %llu values", w, h, c,
                            (unsigned long long)AE_MAX_PIXELS);
    ae_image *img = ae_calloc(1, sizeof *img, "image");
    if (!img) return AE_ERR_NOMEM;
    img->data = ae_calloc(n, sizeof(float), "image pixels");
    if (!img->data) {
        free(img);
        return AE_ERR_NOMEM;
    }
    img->w = w;
    img->h = h;
    img->c = c;
    *out = img;
    return AE_OK;
}

void ae_image_free(ae_image *img) {
    while (img) {
        ae_image *next = img->next_hdu;
        free(img->data);
        ae_header_free(&img->hdr);
        free(img);
        img = next;
    }
}

static ae_status clone_one(ae_image **out, const ae_image *src) {
    ae_image *img;
    ae_status st = ae_image_create(&img, src->w, src->h, src->c);
    if (st) return st;
    float *data = img->data;
    ae_header hdr = img->hdr;
    *img = *src;
    img->data = data;
    img->hdr = hdr;
    img->next_hdu = NULL;
    memcpy(img->data, src->data, ae_image_npix(src) * src->c * sizeof(float));
    st = ae_header_copy(&img->hdr, &src->hdr);
    if (st) {
        ae_image_free(img);
        return st;
    }
    *out = img;
    return AE_OK;
}

ae_status ae_image_clone(ae_image **out, const ae_image *src) {
    *out = NULL;
    if (!src) return ae_error_set(AE_ERR_ARG, "ae_image_clone: no source image");
    ae_image *head = NULL, **tail = &head;
    for (const ae_image *s = src; s; s = s->next_hdu) {
        ae_status st = clone_one(tail, s);
        if (st) {
            ae_image_free(head);
            return st;
        }
        tail = &(*tail)->next_hdu;
    }
    *out = head;
    return AE_OK;
}

size_t ae_image_nan_count(const ae_image *img) {
    size_t n = ae_image_npix(img) * img->c, nan = 0;
    for (size_t i = 0; i < n; i++) nan += isnan(img->data[i]) != 0;
    return nan;
}

/* ---- header cards ---- */

void ae_header_free(ae_header *h) {
    if (!h) return;
    free(h->cards);
    h->cards = NULL;
    h->n_cards = h->cap = 0;
}

static ae_status header_reserve(ae_header *h, int need) {
    if (need <= h->cap) return AE_OK;
    if (need > 1000000) return ae_error_set(AE_ERR_NOMEM, "FITS header would exceed 1000000 cards");
    int cap = h->cap ? h->cap : 64;
    while (cap < need) cap *= 2;
    void *p = realloc(h->cards, (size_t)cap * sizeof *h->cards);
    if (!p) return ae_error_set(AE_ERR_NOMEM, "out of memory growing a FITS header to %d cards", cap);
    h->cards = p;
    h->cap = cap;
    return AE_OK;
}

ae_status ae_header_copy(ae_header *dst, const ae_header *src) {
    ae_header tmp = {0};
    ae_status st = header_reserve(&tmp, src->n_cards);
    if (st) return st;
    if (src->n_cards) memcpy(tmp.cards, src->cards, (size_t)src->n_cards * sizeof *src->cards);
    tmp.n_cards = src->n_cards;
    ae_header_free(dst);
    *dst = tmp;
    return AE_OK;
}

/* Copies `card` blank-padded to 80 columns; non-printable bytes become '?'
 * since FITS headers are restricted to ASCII 32..126. */
static void card_store(char dst[81], const char *card) {
    size_t n = strnlen(card, CARD_LEN);
    for (size_t i = 0; i < CARD_LEN; i++) {
        unsigned char ch = i < n ? (unsigned char)card[i] : ' ';
        dst[i] = (ch >= 32 && ch <= 126) ? (char)ch : '?';
    }
    dst[CARD_LEN] = '\0';
}

ae_status ae_header_append(ae_header *h, const char *card) {
    if (!card) return ae_error_set(AE_ERR_ARG, "ae_header_append: NULL card");
    if (strlen(card) > CARD_LEN)
        return ae_error_set(AE_ERR_ARG, "FITS card longer than 80 characters: '%.80s...'", card);
    ae_status st = header_reserve(h, h->n_cards + 1);
    if (st) return st;
    card_store(h->cards[h->n_cards++], card);
    return AE_OK;
}

/* Does `card` carry keyword `key`? Standard keywords occupy columns 1-8;
 * "HIERARCH A B = v" cards are matched on "HIERARCH A B" or "A B". */
static int card_is(const char *card, const char *key) {
    size_t kl = strlen(key);
    if (kl == 0) return 0;
    if (kl <= 8 && strncmp(card, key, kl) == 0) {
        for (size_t i = kl; i < 8; i++)
            if (card[i] != ' ') return 0;
        return 1;
    }
    const char *p = card;
    if (strncmp(p, "HIERARCH ", 9) == 0) {
        if (strncmp(key, "HIERARCH ", 9) == 0) key += 9, kl -= 9;
        p += 9;
        while (*p == ' ') p++;
        const char *eq = strchr(p, '=');
        if (!eq) return 0;
        const char *end = eq;
        while (end > p && end[-1] == ' ') end--;
        return (size_t)(end - p) == kl && strncmp(p, key, kl) == 0;
    }
    return 0;
}

int ae_header_find(const ae_header *h, const char *key) {
    if (!h || !key) return -1;
    for (int i = 0; i < h->n_cards; i++)
        if (card_is(h->cards[i], key)) return i;
    return -1;
}

void ae_header_remove(ae_header *h, const char *key) {
    if (!h || !key) return;
    int j = 0;
    for (int i = 0; i < h->n_cards; i++) {
        if (card_is(h->cards[i], key)) continue;
        if (i != j) memcpy(h->cards[j], h->cards[i], sizeof h->cards[i]);
        j++;
    }
    h->n_cards = j;
}

/* Writes "KEY     = value / comment" (value right-aligned in columns 11-30
 * when it fits, as cfitsio does) and replaces or appends the card. */
static ae_status set_card(ae_header *h, const char *key, const char *value, const char *comment) {
    size_t kl = strlen(key);
    if (kl == 0 || kl > 8)
        return ae_error_set(AE_ERR_ARG, "FITS keyword '%s' must be 1 to 8 characters", key);
    for (size_t i = 0; i < kl; i++)
        if (!(isupper((unsigned char)key[i]) || isdigit((unsigned char)key[i]) || key[i] == '-' ||
              key[i] == '_'))
            return ae_error_set(AE_ERR_ARG, "FITS keyword '%s' has a character other than A-Z 0-9 - _",
                                key);
    char card[128];
    int n = snprintf(card, sizeof card, "%-8s= %20s", key, value);
    if (n > CARD_LEN)
        return ae_error_set(AE_ERR_ARG, "FITS card for %s does not fit in 80 characters", key);
    if (comment && *comment && n + 3 < CARD_LEN)
        snprintf(card + n, sizeof card - (size_t)n, " / %.*s", CARD_LEN - n - 3, comment);
    int idx = ae_header_find(h, key);
    if (idx >= 0) {
        card_store(h->cards[idx], card);
        return AE_OK;
    }
    return ae_header_append(h, card);
}

/* Shortest %G form that reads back as exactly `v`, with a '.' or exponent so
 * that FITS readers take it as a real. */
static void format_double(char *buf, size_t cap, double v) {
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, cap, "%.*G", prec, v);
        if (strtod(buf, NULL) == v) break;
    }
    if (!strpbrk(buf, ".EN")) {
        size_t n = strlen(buf);
        if (n + 2 < cap) memcpy(buf + n, ".0", 3);
    }
}

ae_status ae_header_set_double(ae_header *h, const char *key, double v, const char *comment) {
    if (!isfinite(v))
        return ae_error_set(AE_ERR_ARG, "FITS keyword %s: value %g is not finite", key, v);
    char val[40];
    format_double(val, sizeof val, v);
    return set_card(h, key, val, comment);
}

ae_status ae_header_set_int(ae_header *h, const char *key, long v, const char *comment) {
    char val[32];
    snprintf(val, sizeof val, "%ld", v);
    return set_card(h, key, val, comment);
}

ae_status ae_header_set_string(ae_header *h, const char *key, const char *v, const char *comment) {
    char val[CARD_LEN + 8];
    size_t o = 0, chars = 0;
    val[o++] = '\'';
    for (const char *p = v; *p; p++, chars++) {
        if (o + 3 > 70) /* 80 - "KEY     = " */
            return ae_error_set(AE_ERR_ARG, "FITS keyword %s: string value too long: '%s'", key, v);
        if (*p == '\'') val[o++] = '\'';
        val[o++] = *p;
    }
    for (; chars < 8; chars++) val[o++] = ' '; /* strings are at least 8 characters */
    val[o++] = '\'';
    val[o] = '\0';
    char padded[CARD_LEN + 8];
    snprintf(padded, sizeof padded, "%-20s", val); /* strings start at column 11 */
    return set_card(h, key, padded, comment);
}

/* Parses the value of a "KEY = value" card as a number (FITS allows a
 * Fortran 'D' exponent). Strings, logicals and commentary cards fail. */
static int card_number(const char *card, double *v) {
    const char *p;
    if (strncmp(card, "HIERARCH ", 9) == 0) {
        p = strchr(card, '=');
        if (!p) return 0;
        p++;
    } else {
        if (card[8] != '=' || card[9] != ' ') return 0;
        p = card + 10;
    }
    char buf[CARD_LEN + 1];
    size_t n = 0;
    while (*p == ' ') p++;
    while (*p && *p != '/' && *p != ' ' && n < CARD_LEN) {
        buf[n++] = (*p == 'D' || *p == 'd') ? 'E' : *p;
        p++;
    }
    buf[n] = '\0';
    if (n == 0 || buf[0] == '\'') return 0;
    char *end;
    double d = strtod(buf, &end);
    if (*end != '\0' || !isfinite(d)) return 0;
    *v = d;
    return 1;
}

int ae_header_get_double(const ae_header *h, const char *key, double *v) {
    int i = ae_header_find(h, key);
    if (i < 0) return 0;
    return card_number(h->cards[i], v);
}

/* Length of the next HISTORY line of `text`: at most 72 columns, broken at
 * the last space when a word would be cut, or at a newline. */
static size_t history_chunk(const char *text, size_t *skip) {
    size_t n = 0;
    while (text[n] && text[n] != '\n' && n < HISTORY_TEXT) n++;
    *skip = 0;
    if (text[n] == '\n') {
        *skip = 1;
        return n;
    }
    if (text[n] == '\0' || text[n] == ' ') return n;
    size_t brk = n;
    while (brk > 0 && text[brk - 1] != ' ') brk--;
    return brk > 0 ? brk : n;
}

ae_status ae_header_add_history(ae_header *h, const char *text) {
    if (!text) text = "";
    do {
        size_t skip, n = history_chunk(text, &skip);
        char card[CARD_LEN + 1];
        snprintf(card, sizeof card, "HISTORY %.*s", (int)n, text);
        ae_status st = ae_header_append(h, card);
        if (st) return st;
        text += n + skip;
        if (!skip)
            while (*text == ' ') text++;
    } while (*text);
    return AE_OK;
}

/* Keywords that give the pixel values a physical meaning (unit, scale,
 * photometric zero point, detector limits): false once the values are
 * display values (colorize, a stretched FITS). */
static const char *const k_physical_keys[] = {
    "BUNIT",    "BSCALE",   "BZERO",    "BLANK",    "DATAMIN",  "DATAMAX",  "SATURATE", "MAGZP",
    "MAGZPT",   "MAGZERO",  "ZEROPT",   "PHOTZP",   "PHOTZPT",  "PHOTFLAM", "PHOTFNU",  "PHOTPLAM",
    "PHOTBW",   "FLUXCONV", "GAIN",     "RDNOISE",  "SKYLEVEL", "SKYSIG",   NULL};

ae_status ae_header_drop_physical(ae_header *h, const char *why) {
    char removed[256] = "";
    for (int k = 0; k_physical_keys[k]; k++) {
        if (ae_header_find(h, k_physical_keys[k]) < 0) continue;
        ae_header_remove(h, k_physical_keys[k]);
        size_t n = strlen(removed);
        snprintf(removed + n, sizeof removed - n, " %s", k_physical_keys[k]);
    }
    if (!removed[0]) return AE_OK;
    char text[512];
    snprintf(text, sizeof text, "%s; removed the physical-unit keywords%s", why, removed);
    return ae_header_add_history(h, text);
}
