/* fits_save.c - writing ae_image (and its next_hdu extensions) as FITS.
 *
 * Rows are flipped back to FITS's bottom-first order. The output BITPIX is
 * opts->fits_bitpix, else the FITS source's, else -32. Integer output of a
 * source with BSCALE/BZERO keeps them (and so the stored integers) when every
 * value is exactly BZERO + BSCALE * k for an integer k of the type. Else it is
 * exact when every finite value is an integer that fits the type (uint16 and
 * uint32 via BZERO = 2^(n-1), as cfitsio and the FITS standard section 5.3
 * do); otherwise the values are mapped linearly onto the integer range with
 * BSCALE/BZERO rather than clipped or rounded to whole units. NaN becomes
 * BLANK for integer output. Tile compression (FITS standard section 10):
 * Rice for integers, GZIP without quantization for floats, so both are
 * lossless. Stored header cards are written back in order, byte for byte.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include "astroenh/io.h"
#include "fits_internal.h"

/* How one HDU's floats are stored. */
typedef struct {
    int bitpix;
    int imgtype, datatype; /* cfitsio *_IMG and the T* type of the array we hand it */
    size_t elsize;         /* bytes per element of that array */
    int scaled;            /* BSCALE/BZERO chosen here; the array holds stored values */
    double bscale, bzero, raw_lo, raw_hi;
    int has_blank;
    long long blank_raw; /* BLANK keyword (stored units) */
    double blank_phys;   /* what NaN becomes in the array we pass */
} fits_enc;

typedef struct {
    double min, max;
    size_t nnan;
    int integral;
} px_stats;

static void scan(const ae_image *img, px_stats *s) {
    size_t n = ae_image_npix(img) * img->c;
    s->min = INFINITY, s->max = -INFINITY, s->nnan = 0, s->integral = 1;
    for (size_t i = 0; i < n; i++) {
        float v = img->data[i];
        if (isnan(v)) {
            s->nnan++;
            continue;
        }
        if (v < s->min) s->min = v;
        if (v > s->max) s->max = v;
        if (s->integral && (isinf(v) || v != floorf(v))) s->integral = 0;
    }
}

/* Do the values fit [lo, hi] with, if NaNs exist, one value left for BLANK? */
static int fits_range(const px_stats *s, double lo, double hi, double *blank) {
    if (s->min > s->max) { /* nothing finite */
        *blank = lo;
        return 1;
    }
    if (s->min < lo || s->max > hi) return 0;
    if (s->min > lo) *blank = lo;
    else if (s->max < hi) *blank = hi;
    else return s->nnan == 0;
    return 1;
}

/* 1 if every finite value is BZERO + BSCALE * k (rounded to float, as the
 * reader made it) for an integer k in [lo, hi]: the source's scaling then
 * stores the pixels exactly, with the same integers as the source file. */
static int source_scaling_exact(const ae_image *img, double lo, double hi) {
    size_t n = ae_image_npix(img) * img->c;
    double bs = img->src_bscale, bz = img->src_bzero;
    for (size_t i = 0; i < n; i++) {
        float v = img->data[i];
        if (isnan(v)) continue;
        double k = nearbyint(((double)v - bz) / bs);
        if (!(k >= lo && k <= hi) || (float)(bz + bs * k) != v) return 0;
    }
    return 1;
}

static int has_nan(const ae_image *img) {
    size_t n = ae_image_npix(img) * img->c;
    for (size_t i = 0; i < n; i++)
        if (isnan(img->data[i])) return 1;
    return 0;
}

static void plan_int(const ae_image *img, int bitpix, fits_enc *e) {
    static const struct { int bitpix, simg, stype, uimg, utype; size_t size; double lo, hi; } T[] = {
        {8, BYTE_IMG, TBYTE, 0, 0, 1, 0, 255},
        {16, SHORT_IMG, TSHORT, USHORT_IMG, TUSHORT, 2, -32768.0, 32767.0},
        {32, LONG_IMG, TINT, ULONG_IMG, TUINT, 4, -2147483648.0, 2147483647.0},
        {64, LONGLONG_IMG, TLONGLONG, 0, 0, 8, -9223372036854775808.0, 9223372036854774784.0},
    };
    int t = bitpix == 8 ? 0 : bitpix == 16 ? 1 : bitpix == 32 ? 2 : 3;
    int keep = bitpix == img->src_bitdepth && img->src_scaled && !(img->src_unsigned && img->src_bscale == 1.0);
    int nan = keep && has_nan(img);
    /* NaN pixels are stored as the type's lowest value (BLANK), so no finite pixel may use it */
    if (keep && source_scaling_exact(img, T[t].lo + (nan ? 1 : 0), T[t].hi)) {
        e->scaled = 1;
        e->imgtype = T[t].simg, e->datatype = T[t].stype, e->elsize = T[t].size;
        e->bscale = img->src_bscale, e->bzero = img->src_bzero;
        e->raw_lo = T[t].lo, e->raw_hi = T[t].hi;
        e->has_blank = nan;
        e->blank_raw = (long long)T[t].lo;
        e->blank_phys = T[t].lo;
        return;
    }
    px_stats s;
    scan(img, &s);
    double blank = 0, off = T[t].uimg ? -T[t].lo : 0, uhi = T[t].hi + off;
    e->has_blank = s.nnan > 0;
    if (s.integral && T[t].uimg && (img->src_unsigned || (s.min >= 0 && s.max > T[t].hi)) &&
        fits_range(&s, 0, uhi, &blank)) {
        e->imgtype = T[t].uimg, e->datatype = T[t].utype, e->elsize = T[t].size;
        e->blank_phys = blank, e->blank_raw = (long long)(blank - off);
        return;
    }
    if (s.integral && fits_range(&s, T[t].lo, T[t].hi, &blank)) {
        e->imgtype = T[t].simg, e->datatype = T[t].stype, e->elsize = T[t].size;
        e->blank_phys = blank, e->blank_raw = (long long)blank;
        return;
    }
    double rlo = T[t].lo + (s.nnan ? 1 : 0), rhi = T[t].hi;
    if (!(s.min <= s.max)) s.min = s.max = 0;
    e->scaled = 1;
    e->imgtype = T[t].simg, e->datatype = T[t].stype, e->elsize = T[t].size;
    e->bscale = s.max > s.min ? (s.max - s.min) / (rhi - rlo) : 1.0;
    e->bzero = s.min - rlo * e->bscale;
    e->raw_lo = rlo, e->raw_hi = rhi;
    e->blank_raw = (long long)T[t].lo;
    e->blank_phys = T[t].lo;
}

static ae_status plan(const ae_image *img, int bitpix, fits_enc *e, const char *path) {
    memset(e, 0, sizeof *e);
    e->bitpix = bitpix;
    switch (bitpix) {
    case -32: e->imgtype = FLOAT_IMG, e->datatype = TFLOAT, e->elsize = sizeof(float); return AE_OK;
    case -64: e->imgtype = DOUBLE_IMG, e->datatype = TDOUBLE, e->elsize = sizeof(double); return AE_OK;
    case 8: case 16: case 32: case 64: plan_int(img, bitpix, e); return AE_OK;
    }
    return ae_error_set(AE_ERR_ARG, "%s: cannot write BITPIX %d (use 8, 16, 32, 64, -32 or -64)", path, bitpix);
}

static void put(void *buf, size_t i, const fits_enc *e, float v) {
    double d = v;
    if (isnan(v) && e->bitpix > 0) {
        d = e->blank_phys;
    } else if (e->scaled) {
        d = nearbyint((v - e->bzero) / e->bscale);
        d = d < e->raw_lo ? e->raw_lo : d > e->raw_hi ? e->raw_hi : d;
    }
    switch (e->datatype) {
    case TFLOAT: ((float *)buf)[i] = v; break;
    case TDOUBLE: ((double *)buf)[i] = d; break;
    case TBYTE: ((unsigned char *)buf)[i] = (unsigned char)d; break;
    case TSHORT: ((short *)buf)[i] = (short)d; break;
    case TUSHORT: ((unsigned short *)buf)[i] = (unsigned short)d; break;
    case TINT: ((int *)buf)[i] = (int)d; break;
    case TUINT: ((unsigned int *)buf)[i] = (unsigned int)d; break;
    case TLONGLONG: ((long long *)buf)[i] = (long long)d; break;
    }
}

/* The pixels in the array type of `e`, rows bottom-first. */
static ae_status convert(const ae_image *img, const fits_enc *e, void **out, const char *path) {
    size_t n = ae_image_npix(img) * img->c, bytes, w = (size_t)img->w;
    if (ae_mul_size(n, e->elsize, &bytes)) return ae_error_set(AE_ERR_NOMEM, "%s: image too large", path);
    void *buf = ae_malloc(bytes, "FITS output buffer");
    if (!buf) return AE_ERR_NOMEM;
    for (int ch = 0; ch < img->c; ch++) {
        const float *src = ae_image_plane(img, ch);
        size_t plane = (size_t)ch * ae_image_npix(img);
        for (int y = 0; y < img->h; y++) {
            size_t dst = plane + (size_t)(img->h - 1 - y) * w;
            for (size_t x = 0; x < w; x++) put(buf, dst + x, e, src[(size_t)y * w + x]);
        }
    }
    *out = buf;
    return AE_OK;
}

/* cfitsio puts two COMMENT cards citing the FITS paper into every primary
 * header it creates; drop them so the header is exactly the stored one. */
static void drop_auto_comments(fitsfile *f) {
    int status = 0, nkeys = 0;
    char card[FLEN_CARD];
    fits_get_hdrspace(f, &nkeys, NULL, &status);
    for (int k = nkeys; k >= 1 && !status; k--) {
        if (fits_read_record(f, k, card, &status)) break;
        if (!strncmp(card, "COMMENT   FITS (Flexible Image Transport System) format is", 58) ||
            !strncmp(card, "COMMENT   and Astrophysics', volume 376, page 359;", 50))
            fits_delete_record(f, k, &status);
    }
    if (status) fits_clear_errmsg();
}

/* Cards cfitsio refuses to write or rewrites (a spaced or lowercase keyword
 * that it read without complaint) are patched into the file, byte for byte,
 * once cfitsio has closed it. */
typedef struct {
    long long *off;
    const char **card;
    int n, cap;
} card_patches;

/* 1 if the record just written (the last one) reads back as `card`. */
static int last_card_is(fitsfile *f, const char *card) {
    int status = 0, nkeys = 0;
    char got[FLEN_CARD];
    if (fits_get_hdrspace(f, &nkeys, NULL, &status) || fits_read_record(f, nkeys, got, &status)) return 0;
    size_t n = strlen(got);
    return n <= 80 && memcmp(got, card, n) == 0 && strspn(card + n, " ") == 80 - n;
}

static ae_status write_card(fitsfile *f, const char *card, card_patches *pp, const char *path) {
    int status = 0;
    if (fits_write_record(f, card, &status) == 0 && last_card_is(f, card)) return AE_OK;
    if (status) { /* refused: put a placeholder where the card goes */
        fits_clear_errmsg();
        status = 0;
        fits_write_record(f, "COMMENT astroenh: placeholder", &status);
    }
    int nkeys = 0;
    LONGLONG head = 0, data = 0, end = 0;
    fits_get_hdrspace(f, &nkeys, NULL, &status);
    fits_get_hduaddrll(f, &head, &data, &end, &status);
    if (status) return ae_fits_error(status, path, "writing the header");
    if (pp->n == pp->cap) {
        int cap = pp->cap ? 2 * pp->cap : 16;
        long long *o = realloc(pp->off, (size_t)cap * sizeof *o);
        if (o) pp->off = o;
        const char **c = o ? realloc(pp->card, (size_t)cap * sizeof *c) : NULL;
        if (!c) return ae_error_set(AE_ERR_NOMEM, "%s: out of memory writing the header", path);
        pp->card = c, pp->cap = cap;
    }
    pp->off[pp->n] = head + 80ll * (nkeys - 1);
    pp->card[pp->n++] = card;
    return AE_OK;
}

static ae_status apply_patches(const card_patches *pp, const char *path) {
    if (!pp->n) return AE_OK;
    FILE *fp = fopen(path, "r+b");
    if (!fp) return ae_error_set(AE_ERR_IO, "%s: reopening to write header cards: %s", path, strerror(errno));
    int bad = 0;
    for (int i = 0; i < pp->n && !bad; i++)
        bad = fseeko(fp, (off_t)pp->off[i], SEEK_SET) != 0 || fwrite(pp->card[i], 1, 80, fp) != 80;
    bad |= fclose(fp) != 0;
    return bad ? ae_error_set(AE_ERR_IO, "%s: writing header cards failed", path) : AE_OK;
}

static ae_status write_keys(fitsfile *f, const ae_image *img, const fits_enc *e, int is_ext, card_patches *pp,
                            const char *path) {
    int status = 0;
    for (int i = 0; i < img->hdr.n_cards; i++) {
        if (ae_fits_card_is_structural(img->hdr.cards[i], 1)) continue;
        ae_status st = write_card(f, img->hdr.cards[i], pp, path);
        if (st) return st;
    }
    if (!status && is_ext && img->extname[0] && ae_header_find(&img->hdr, "EXTNAME") < 0)
        fits_write_key(f, TSTRING, "EXTNAME", (void *)img->extname, "name of this HDU", &status);
    if (!status && e->scaled) { /* we hand cfitsio stored values: no scaling by it */
        fits_write_key(f, TDOUBLE, "BSCALE", (void *)&e->bscale, "physical = BZERO + BSCALE * stored", &status);
        fits_write_key(f, TDOUBLE, "BZERO", (void *)&e->bzero, "physical = BZERO + BSCALE * stored", &status);
        if (!status) fits_set_bscale(f, 1.0, 0.0, &status);
    }
    if (!status && e->bitpix > 0 && e->has_blank) {
        LONGLONG b = e->blank_raw;
        fits_write_key(f, TLONGLONG, "BLANK", &b, "stored value of undefined pixels", &status);
    }
    return status ? ae_fits_error(status, path, "writing the header") : AE_OK;
}

static ae_status write_hdu(fitsfile *f, const ae_image *img, int bitpix, int compress, int is_ext,
                           card_patches *pp, const char *path) {
    fits_enc e;
    ae_status st = plan(img, bitpix, &e, path);
    if (st) return st;
    int status = 0;
    if (compress && bitpix == 64)
        return ae_error_set(AE_ERR_UNSUPPORTED, "%s: cfitsio cannot tile-compress BITPIX 64 images; "
                            "write an uncompressed .fits or another BITPIX", path);
    if (compress) {
        fits_set_compression_type(f, bitpix > 0 && bitpix < 64 ? RICE_1 : GZIP_2, &status);
        if (bitpix < 0) fits_set_quantize_level(f, 0.0f, &status); /* lossless */
    }
    LONGLONG naxes[3] = {img->w, img->h, img->c};
    if (!status) fits_create_imgll(f, e.imgtype, img->c == 3 ? 3 : 2, naxes, &status);
    if (status) return ae_fits_error(status, path, "creating the image HDU");
    if (!is_ext && !compress) drop_auto_comments(f);
    st = write_keys(f, img, &e, is_ext, pp, path);
    if (st) return st;
    void *buf = NULL;
    st = convert(img, &e, &buf, path);
    if (st) return st;
    LONGLONG first[3] = {1, 1, 1}, n = (LONGLONG)ae_image_npix(img) * img->c;
    fits_write_pixll(f, e.datatype, first, n, buf, &status);
    free(buf);
    return status ? ae_fits_error(status, path, "writing the pixels") : AE_OK;
}

static int hdu_bitpix(const ae_image *img) {
    if (img->src_format == AE_FMT_FITS)
        switch (img->src_bitdepth) {
        case 8: case 16: case 32: case 64: case -32: case -64: return img->src_bitdepth;
        }
    return -32;
}

static int ends_with_fz(const char *path) {
    size_t n = strlen(path);
    return n >= 3 && strcasecmp(path + n - 3, ".fz") == 0;
}

ae_status ae_fits_save(const ae_image *img, const char *path, const ae_save_opts *opts) {
    if (!img || !img->data || !path || !*path)
        return ae_error_set(AE_ERR_ARG, "ae_fits_save: no image or no file name");
    int compress = (opts && opts->compress) || ends_with_fz(path);
    if (unlink(path) != 0 && errno != ENOENT)
        return ae_error_set(AE_ERR_IO, "%s: cannot replace the file: %s", path, strerror(errno));
    fitsfile *f = NULL;
    int status = 0;
    if (fits_create_diskfile(&f, path, &status)) return ae_fits_error(status, path, "creating");
    ae_status st = AE_OK;
    card_patches pp = {0};
    for (const ae_image *p = img; p && !st; p = p->next_hdu) {
        int bitpix = p == img && opts && opts->fits_bitpix ? opts->fits_bitpix : hdu_bitpix(p);
        st = write_hdu(f, p, bitpix, compress, p != img, &pp, path);
    }
    status = 0;
    fits_close_file(f, &status);
    if (!st && status) st = ae_fits_error(status, path, "closing");
    fits_clear_errmsg();
    if (!st) st = apply_patches(&pp, path);
    free(pp.off);
    free(pp.card);
    if (st) unlink(path);
    return st;
}
