/* fits.c - reading FITS images through cfitsio (FITS standard 4.0).
 *
 * cfitsio's int status and message stack become our ae_status + message
 * here and nowhere else. FITS stores rows bottom-first (row 1 is the bottom
 * of the picture); ae_image is top-first, so rows are flipped on read (and
 * on write, in fits_save.c). Integer data are scaled by BSCALE/BZERO to
 * physical values and BLANK pixels become NaN; NaN in float data is kept.
 * 2-D images and 3 x H x W cubes are accepted; every non-structural header
 * card is kept, in order, in img->hdr.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>
#include "astroenh/io.h"
#include "fits_internal.h"

/* A compressed HDU may expand by at most this factor (plus a floor), so a
 * tiny file cannot make us allocate gigabytes. */
#define FZ_MAX_RATIO 4096
#define FZ_MIN_LIMIT (64ll << 20)

ae_status ae_fits_error(int status, const char *path, const char *what) {
    char txt[FLEN_STATUS] = "", msg[FLEN_ERRMSG], first[FLEN_ERRMSG] = "";
    fits_get_errstatus(status, txt);
    while (fits_read_errmsg(msg))
        if (!first[0] && msg[0]) snprintf(first, sizeof first, "%s", msg);
    size_t n = strlen(first);
    while (n > 0 && (first[n - 1] == ' ' || first[n - 1] == '\n')) first[--n] = '\0';
    ae_status st;
    switch (status) {
    case MEMORY_ALLOCATION: st = AE_ERR_NOMEM; break;
    case FILE_NOT_OPENED: case FILE_NOT_CREATED: case WRITE_ERROR: case FILE_NOT_CLOSED:
    case TOO_MANY_FILES: case SEEK_ERROR: st = AE_ERR_IO; break;
    case BAD_BITPIX: st = AE_ERR_UNSUPPORTED; break;
    default: st = AE_ERR_FORMAT;
    }
    if (status == END_OF_FILE) snprintf(txt, sizeof txt, "file is truncated");
    if (status == READ_ERROR) snprintf(txt, sizeof txt, "read failed (file truncated?)");
    return ae_error_set(st, "%s: %s: %s%s%s%s", path, what, txt, first[0] ? " (cfitsio: " : "", first,
                        first[0] ? ")" : "");
}

static int key_is(const char *card, const char *key) {
    size_t n = strlen(key);
    if (strncmp(card, key, n) != 0) return 0;
    for (size_t i = n; i < 8; i++)
        if (card[i] != ' ') return 0;
    return 1;
}

/* Keyword = prefix followed by 1-3 digits only (NAXIS1, TFORM12). */
static int key_indexed(const char *card, const char *prefix) {
    size_t n = strlen(prefix), i = n;
    if (strncmp(card, prefix, n) != 0) return 0;
    while (i < 8 && card[i] >= '0' && card[i] <= '9') i++;
    if (i == n) return 0;
    for (; i < 8; i++)
        if (card[i] != ' ') return 0;
    return 1;
}

int ae_fits_card_is_structural(const char *card, int compressed) {
    static const char *const plain[] = {"SIMPLE", "XTENSION", "BITPIX", "NAXIS", "EXTEND", "PCOUNT",
                                        "GCOUNT", "END", "BZERO", "BSCALE", "BLANK", "CHECKSUM",
                                        "DATASUM"};
    static const char *const fz[] = {"TFIELDS", "THEAP", "ZIMAGE", "ZCMPTYPE", "ZBITPIX", "ZNAXIS",
                                     "ZMASKCMP", "ZSIMPLE", "ZTENSION", "ZEXTEND", "ZBLOCKED",
                                     "ZPCOUNT", "ZGCOUNT", "ZHECKSUM", "ZDATASUM", "ZQUANTIZ",
                                     "ZDITHER0", "ZBLANK", "ZSCALE", "ZZERO"};
    static const char *const fz_indexed[] = {"TTYPE", "TFORM", "TUNIT", "TDIM", "TSCAL", "TZERO",
                                             "TNULL", "ZNAXIS", "ZTILE", "ZNAME", "ZVAL"};
    for (size_t i = 0; i < sizeof plain / sizeof *plain; i++)
        if (key_is(card, plain[i])) return 1;
    if (key_indexed(card, "NAXIS")) return 1;
    if (!compressed) return 0;
    for (size_t i = 0; i < sizeof fz / sizeof *fz; i++)
        if (key_is(card, fz[i])) return 1;
    for (size_t i = 0; i < sizeof fz_indexed / sizeof *fz_indexed; i++)
        if (key_indexed(card, fz_indexed[i])) return 1;
    return key_is(card, "EXTNAME") && strstr(card, "'COMPRESSED_IMAGE'") != NULL;
}

/* Copies the HDU's non-structural cards into img->hdr and its EXTNAME. */
static ae_status read_cards(fitsfile *f, ae_image *img, const char *path) {
    int status = 0, nkeys = 0, compressed = fits_is_compressed_image(f, &status);
    if (fits_get_hdrspace(f, &nkeys, NULL, &status)) return ae_fits_error(status, path, "reading the header");
    char card[FLEN_CARD];
    for (int k = 1; k <= nkeys; k++) {
        if (fits_read_record(f, k, card, &status))
            return ae_fits_error(status, path, "reading a header card");
        if (ae_fits_card_is_structural(card, compressed)) continue;
        ae_status st = ae_header_append(&img->hdr, card);
        if (st) return st;
        if (key_is(card, "EXTNAME")) {
            char val[FLEN_VALUE] = "";
            if (fits_read_key(f, TSTRING, "EXTNAME", val, NULL, &status) == 0)
                snprintf(img->extname, sizeof img->extname, "%s", val);
            status = 0;
            fits_clear_errmsg();
        }
    }
    return AE_OK;
}

static LONGLONG elem_size(int type) {
    switch (type) {
    case TSHORT: case TUSHORT: return 2;
    case TINT32BIT: case TFLOAT: case TUINT: return 4;
    case TDOUBLE: case TLONGLONG: case TULONGLONG: case TCOMPLEX: return 8;
    case TDBLCOMPLEX: return 16;
    default: return 1;
    }
}

/* In a tile-compressed HDU every tile's (length, offset) descriptor must lie
 * inside the heap: cfitsio allocates `length` bytes before it looks. */
static ae_status check_tile_heap(fitsfile *f, const char *path) {
    int status = 0, ncols = 0;
    LONGLONG nrows = 0, pcount = 0, theap = 0, naxis1 = 0, naxis2 = 0;
    fits_get_num_rowsll(f, &nrows, &status);
    fits_get_num_cols(f, &ncols, &status);
    fits_read_key(f, TLONGLONG, "PCOUNT", &pcount, NULL, &status);
    fits_read_key(f, TLONGLONG, "NAXIS1", &naxis1, NULL, &status);
    fits_read_key(f, TLONGLONG, "NAXIS2", &naxis2, NULL, &status);
    if (status) return ae_fits_error(status, path, "reading the tile table");
    theap = naxis1 * naxis2;
    int ts = 0;
    if (fits_read_key(f, TLONGLONG, "THEAP", &theap, NULL, &ts)) fits_clear_errmsg();
    LONGLONG heap = pcount - (theap - naxis1 * naxis2);
    LONGLONG len[256], off[256];
    for (int col = 1; col <= ncols; col++) {
        int type = 0;
        LONGLONG repeat = 0, width = 0;
        if (fits_get_coltypell(f, col, &type, &repeat, &width, &status)) break;
        if (type >= 0) continue; /* only variable-length columns point into the heap */
        LONGLONG es = elem_size(-type);
        for (LONGLONG row = 1; row <= nrows && !status; row += 256) {
            LONGLONG n = nrows - row + 1 < 256 ? nrows - row + 1 : 256;
            if (fits_read_descriptsll(f, col, row, n, len, off, &status)) break;
            for (LONGLONG i = 0; i < n; i++)
                if (len[i] < 0 || off[i] < 0 || len[i] > heap / es || off[i] > heap - len[i] * es)
                    return ae_error_set(AE_ERR_FORMAT, "%s: compressed tile %lld points outside the heap", path,
                                        row + i);
        }
    }
    return status ? ae_fits_error(status, path, "reading the tile table") : AE_OK;
}

/* Inflates one GZIP tile into a scratch buffer, failing when the stream is
 * corrupt or would grow past `limit` bytes. Returns 0 when the tile is sane. */
static int gzip_tile_ok(const unsigned char *src, LONGLONG len, LONGLONG limit) {
    unsigned char out[16384];
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit2(&z, 15 + 32) != Z_OK) return 0; /* zlib or gzip header */
    z.next_in = (unsigned char *)src;
    z.avail_in = (uInt)len;
    int rc = Z_OK;
    LONGLONG total = 0;
    while (rc == Z_OK && total <= limit) {
        z.next_out = out;
        z.avail_out = sizeof out;
        rc = inflate(&z, Z_NO_FLUSH);
        total += (LONGLONG)(sizeof out - z.avail_out);
        if (rc == Z_BUF_ERROR || (rc == Z_OK && z.avail_in == 0 && z.avail_out != 0)) break;
    }
    inflateEnd(&z);
    return rc == Z_STREAM_END && total <= limit;
}

/* cfitsio's GZIP tile decoder grows its output buffer without bound on some
 * corrupt streams (found by fuzzing: minutes of realloc, gigabytes). So each
 * GZIP tile is inflated here first with a cap of the tile's pixel count times
 * 8 bytes. This costs a second inflate of GZIP-compressed .fz files, which
 * zlib does at hundreds of MB/s. */
static ae_status check_gzip_tiles(fitsfile *f, const char *path) {
    int status = 0, col = 0;
    char cmp[FLEN_VALUE] = "";
    if (fits_read_key(f, TSTRING, "ZCMPTYPE", cmp, NULL, &status) || strncmp(cmp, "GZIP", 4)) {
        fits_clear_errmsg();
        return AE_OK;
    }
    LONGLONG tile_pix = 1, nrows = 0;
    for (int i = 1; i <= 3; i++) {
        char key[32];
        LONGLONG t = 1;
        int ks = 0;
        snprintf(key, sizeof key, "ZTILE%d", i);
        if (fits_read_key(f, TLONGLONG, key, &t, NULL, &ks)) fits_clear_errmsg();
        if (t < 1 || t > AE_MAX_DIM) return ae_error_set(AE_ERR_FORMAT, "%s: %s = %lld is invalid", path, key, t);
        tile_pix *= t;
    }
    if (fits_get_colnum(f, CASEINSEN, "COMPRESSED_DATA", &col, &status) || fits_get_num_rowsll(f, &nrows, &status)) {
        fits_clear_errmsg();
        return AE_OK; /* cfitsio reports the missing column itself */
    }
    LONGLONG limit = tile_pix * 8;
    for (LONGLONG row = 1; row <= nrows; row++) {
        LONGLONG len = 0, off = 0;
        if (fits_read_descriptll(f, col, row, &len, &off, &status))
            return ae_fits_error(status, path, "reading the tile table");
        if (len == 0) continue; /* tile stored uncompressed or as a constant */
        unsigned char *buf = ae_malloc((size_t)len, "a compressed tile");
        if (!buf) return AE_ERR_NOMEM;
        int anynul = 0;
        fits_read_col(f, TBYTE, col, row, 1, len, NULL, buf, &anynul, &status);
        int ok = !status && gzip_tile_ok(buf, len, limit);
        free(buf);
        if (status) return ae_fits_error(status, path, "reading a compressed tile");
        if (!ok)
            return ae_error_set(AE_ERR_FORMAT, "%s: compressed tile %lld is not a valid GZIP stream of at most %lld bytes",
                                path, row, limit);
    }
    return AE_OK;
}

/* Moves to the first HDU holding an image with NAXIS >= 2. */
static ae_status find_image_hdu(fitsfile *f, const char *path) {
    for (int hdu = 1;; hdu++) {
        int status = 0, type = 0, naxis = 0;
        if (fits_movabs_hdu(f, hdu, &type, &status)) {
            if (status == END_OF_FILE && hdu > 1) {
                fits_clear_errmsg();
                return ae_error_set(AE_ERR_FORMAT, "%s: no HDU holds an image (NAXIS >= 2)", path);
            }
            return ae_fits_error(status, path, "moving to the next HDU");
        }
        if (type != IMAGE_HDU) continue;
        if (fits_get_img_dim(f, &naxis, &status)) return ae_fits_error(status, path, "reading NAXIS");
        if (naxis >= 2) return AE_OK;
    }
}

/* Checks the current HDU's geometry and returns its w, h, c. */
/* `filesize`: bytes the file really has; `bufsize`: for an in-memory file,
 * the size of the buffer cfitsio reads from (it trusts the header's sizes, so
 * the whole data unit must lie inside), else 0. */
static ae_status check_geometry(fitsfile *f, const char *path, LONGLONG filesize, LONGLONG bufsize, int *w,
                                int *h, int *c, int *bitpix) {
    int status = 0, naxis = 0, type = 0, hdu = 0;
    fits_get_hdu_num(f, &hdu);
    if (fits_get_hdu_type(f, &type, &status)) return ae_fits_error(status, path, "reading the HDU type");
    if (type != IMAGE_HDU)
        return ae_error_set(AE_ERR_UNSUPPORTED, "%s: HDU %d is a table, not an image", path, hdu - 1);
    if (fits_get_img_dim(f, &naxis, &status)) return ae_fits_error(status, path, "reading NAXIS");
    if (naxis < 2)
        return ae_error_set(AE_ERR_FORMAT, "%s: HDU %d holds no 2-D image (NAXIS=%d)", path, hdu - 1, naxis);
    if (naxis > 3)
        return ae_error_set(AE_ERR_UNSUPPORTED, "%s: NAXIS=%d: only 2-D images and 3-plane cubes are supported",
                            path, naxis);
    LONGLONG nx[3] = {1, 1, 1};
    if (fits_get_img_paramll(f, 3, bitpix, &naxis, nx, &status))
        return ae_fits_error(status, path, "reading the image size");
    for (int i = 0; i < naxis; i++)
        if (nx[i] <= 0)
            return ae_error_set(AE_ERR_FORMAT, "%s: NAXIS%d=%lld: the image is empty", path, i + 1, nx[i]);
    if (nx[0] > AE_MAX_DIM || nx[1] > AE_MAX_DIM)
        return ae_error_set(AE_ERR_UNSUPPORTED, "%s: image is %lld x %lld pixels; the largest side accepted is %d",
                            path, nx[0], nx[1], AE_MAX_DIM);
    if (nx[2] != 1 && nx[2] != 3)
        return ae_error_set(AE_ERR_UNSUPPORTED, "%s: NAXIS3=%lld: only cubes of 1 or 3 planes are supported",
                            path, nx[2]);
    size_t npix, bytes;
    if (ae_mul3_size((size_t)nx[0], (size_t)nx[1], (size_t)nx[2], &npix) || npix > AE_MAX_PIXELS ||
        ae_mul_size(npix, (size_t)abs(*bitpix) / 8, &bytes))
        return ae_error_set(AE_ERR_UNSUPPORTED, "%s: %lld x %lld x %lld values exceed the limit of %llu", path,
                            nx[0], nx[1], nx[2], (unsigned long long)AE_MAX_PIXELS);
    LONGLONG head = 0, data = 0, end = 0;
    int compressed = fits_is_compressed_image(f, &status);
    if (fits_get_hduaddrll(f, &head, &data, &end, &status))
        return ae_fits_error(status, path, "locating the data");
    if ((!compressed && (data > filesize || (LONGLONG)bytes > filesize - data)) || (bufsize && end > bufsize))
        return ae_error_set(AE_ERR_FORMAT,
                            "%s: file is truncated: the header declares %lld bytes of data but only %lld follow",
                            path, compressed ? end - data : (LONGLONG)bytes, data > filesize ? 0 : filesize - data);
    LONGLONG limit = filesize > FZ_MIN_LIMIT / FZ_MAX_RATIO ? filesize * FZ_MAX_RATIO : FZ_MIN_LIMIT;
    if (compressed && (LONGLONG)bytes > limit)
        return ae_error_set(AE_ERR_FORMAT, "%s: compressed HDU claims %zu bytes of pixels from a %lld-byte file",
                            path, bytes, filesize);
    if (compressed) {
        ae_status st = check_tile_heap(f, path);
        if (!st) st = check_gzip_tiles(f, path);
        if (st) return st;
    }
    *w = (int)nx[0], *h = (int)nx[1], *c = (int)nx[2];
    return AE_OK;
}

static void flip_rows(ae_image *img) {
    size_t w = (size_t)img->w;
    for (int ch = 0; ch < img->c; ch++) {
        float *p = ae_image_plane(img, ch);
        for (int y = 0, z = img->h - 1; y < z; y++, z--) {
            float *a = p + (size_t)y * w, *b = p + (size_t)z * w;
            for (size_t x = 0; x < w; x++) {
                float t = a[x];
                a[x] = b[x];
                b[x] = t;
            }
        }
    }
}

/* Records BSCALE/BZERO of integer data (fits_save.c reuses them when the
 * pixels still fit them exactly). */
static void read_scaling(fitsfile *f, ae_image *img) {
    int status = 0;
    double v, bscale = 1.0, bzero = 0.0;
    if (fits_read_key(f, TDOUBLE, "BSCALE", &v, NULL, &status) == 0) bscale = v;
    status = 0;
    if (fits_read_key(f, TDOUBLE, "BZERO", &v, NULL, &status) == 0) bzero = v;
    fits_clear_errmsg();
    img->src_scaled = (bscale != 1.0 || bzero != 0.0) && bscale != 0.0 && isfinite(bscale) && isfinite(bzero);
    img->src_bscale = bscale;
    img->src_bzero = bzero;
}

/* Reads the current HDU (or the first image HDU unless `explicit_hdu`). */
static ae_status load_open(fitsfile *f, ae_image **out, const char *path, int explicit_hdu,
                           LONGLONG filesize, LONGLONG bufsize) {
    ae_status st = explicit_hdu ? AE_OK : find_image_hdu(f, path);
    if (st) return st;
    int w = 0, h = 0, c = 0, bitpix = 0, status = 0, equiv = 0, anynul = 0;
    st = check_geometry(f, path, filesize, bufsize, &w, &h, &c, &bitpix);
    if (st) return st;
    if (fits_get_img_equivtype(f, &equiv, &status)) return ae_fits_error(status, path, "reading BZERO/BSCALE");
    ae_image *img;
    st = ae_image_create(&img, w, h, c);
    if (st) {
        ae_error_prefix("%s", path);
        return st;
    }
    /* float32 is copied as is (cfitsio's null check would turn -0, denormals
     * and Inf into 0 or NaN); integer BLANK and float64 go through it */
    float nul = NAN;
    LONGLONG first[3] = {1, 1, 1};
    fits_read_pixll(f, TFLOAT, first, (LONGLONG)ae_image_npix(img) * c, bitpix == -32 ? NULL : &nul,
                    img->data, &anynul, &status);
    if (status == NUM_OVERFLOW) { /* float64 beyond float32 range: clipped to +-FLT_MAX */
        status = 0;
        fits_clear_errmsg();
    }
    if (status) {
        ae_image_free(img);
        return ae_fits_error(status, path, "reading the pixels");
    }
    flip_rows(img);
    img->range = AE_RANGE_LINEAR;
    img->src_format = AE_FMT_FITS;
    img->src_bitdepth = bitpix;
    img->src_unsigned = equiv == USHORT_IMG || equiv == ULONG_IMG || equiv == ULONGLONG_IMG;
    if (bitpix > 0) read_scaling(f, img);
    st = read_cards(f, img, path);
    if (st) {
        ae_image_free(img);
        return st;
    }
    *out = img;
    return AE_OK;
}

/* FITS starts with "SIMPLE  ="; from disk cfitsio also opens gzip/compress/
 * bzip2-ed files. */
static ae_status check_magic(const unsigned char *p, size_t n, const char *path, int packed_ok) {
    if (n == 0) return ae_error_set(AE_ERR_FORMAT, "%s: file is empty (0 bytes), not a FITS file", path);
    if (n >= 9 && memcmp(p, "SIMPLE  =", 9) == 0) return AE_OK;
    if (packed_ok && n >= 3 && p[0] == 0x1f && (p[1] == 0x8b || p[1] == 0x9d)) return AE_OK;
    if (packed_ok && n >= 3 && memcmp(p, "BZh", 3) == 0) return AE_OK;
    return ae_error_set(AE_ERR_FORMAT, "%s: not a FITS file (it does not start with \"SIMPLE  =\")", path);
}

/* A last, partial block is zero-filled (as the in-memory copy is): cfitsio
 * still parses the cards in it. */
static int file_block(void *ctx, long long off, unsigned char *blk) {
    FILE *fp = ctx;
    if (fseeko(fp, (off_t)off, SEEK_SET) != 0) return 0;
    size_t n = fread(blk, 1, 2880, fp);
    memset(blk + n, 0, 2880 - n);
    return n > 0;
}

/* The same over the inflated stream of a gzip-ed file (cfitsio inflates it
 * whole into memory before it parses anything). */
static int gz_block(void *ctx, long long off, unsigned char *blk) {
    gzFile gz = ctx;
    if (gzseek(gz, (z_off_t)off, SEEK_SET) != (z_off_t)off) return 0;
    int n = gzread(gz, blk, 2880);
    if (n <= 0) return 0;
    memset(blk + n, 0, 2880 - (size_t)n);
    return 1;
}

typedef struct {
    const unsigned char *p;
    size_t n;
} mem_src;

static int mem_block(void *ctx, long long off, unsigned char *blk) {
    const mem_src *m = ctx;
    if (off < 0 || (size_t)off > m->n || m->n - (size_t)off < 2880) return 0;
    memcpy(blk, m->p + off, 2880);
    return 1;
}

/* A gzip-ed file must hold FITS, and its headers get the same pre-scan. */
static ae_status check_gzip_file(const char *file, const char *path) {
    gzFile gz = gzopen(file, "rb");
    if (!gz) return ae_error_set(AE_ERR_IO, "%s: %s", path, strerror(errno));
    unsigned char head[9];
    int n = gzread(gz, head, sizeof head);
    ae_status st = AE_OK;
    if (n != (int)sizeof head || memcmp(head, "SIMPLE  =", 9) != 0)
        st = ae_error_set(AE_ERR_FORMAT, "%s: gzip-compressed, but what it holds is not a FITS file", path);
    if (!st) st = ae_fits_prescan(gz_block, gz, path);
    gzclose(gz);
    return st;
}

/* Checks that `file` is a readable FITS file and pre-scans its headers. */
static ae_status check_file(const char *file, const char *path) {
    struct stat sb;
    if (stat(file, &sb) != 0) return ae_error_set(AE_ERR_IO, "%s: %s", path, strerror(errno));
    if (S_ISDIR(sb.st_mode)) return ae_error_set(AE_ERR_IO, "%s: is a directory", path);
    FILE *fp = fopen(file, "rb");
    if (!fp) return ae_error_set(AE_ERR_IO, "%s: %s", path, strerror(errno));
    unsigned char head[16];
    size_t n = fread(head, 1, sizeof head, fp);
    ae_status st = check_magic(head, n, path, 1);
    if (!st && n >= 9 && memcmp(head, "SIMPLE  =", 9) == 0) st = ae_fits_prescan(file_block, fp, path);
    fclose(fp);
    if (!st && n >= 2 && head[0] == 0x1f && head[1] == 0x8b) st = check_gzip_file(file, path);
    return st;
}

ae_status ae_fits_load(ae_image **out, const char *path) {
    *out = NULL;
    if (!path || !*path) return ae_error_set(AE_ERR_ARG, "ae_fits_load: empty file name");
    struct stat sb;
    int explicit_hdu = 0;
    if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        /* maybe "file.fits[N]": check the file part first for a clear message */
        char base[4096];
        snprintf(base, sizeof base, "%s", path);
        char *lb = strrchr(base, '[');
        size_t n = strlen(base);
        if (lb && lb != base && n > 0 && base[n - 1] == ']') {
            *lb = '\0';
            explicit_hdu = 1;
        }
        ae_status st = check_file(base, path);
        if (st) return st;
    } else {
        ae_status st = check_file(path, path);
        if (st) return st;
    }
    fitsfile *f = NULL;
    int status = 0;
    if (explicit_hdu)
        fits_open_file(&f, path, READONLY, &status);
    else
        fits_open_diskfile(&f, path, READONLY, &status);
    if (status) return ae_fits_error(status, path, "opening");
    /* the logical size: for a gzip-ed file that of the uncompressed FITS */
    ae_status st = load_open(f, out, path, explicit_hdu, f->Fptr->logfilesize, 0);
    status = 0;
    fits_close_file(f, &status);
    fits_clear_errmsg();
    return st;
}

ae_status ae_fits_load_mem(ae_image **out, const void *buf, size_t len, const char *name) {
    *out = NULL;
    if (!name) name = "(memory)";
    if (!buf && len) return ae_error_set(AE_ERR_ARG, "%s: NULL buffer", name);
    ae_status st = check_magic(buf, len, name, 0);
    if (st) return st;
    /* cfitsio's memory driver reads whole 2880-byte blocks: pad the copy with
     * zeros to a block boundary; truncation is judged against `len` below */
    size_t size = len + (2880 - len % 2880) % 2880;
    if (size < len) return ae_error_set(AE_ERR_NOMEM, "%s: buffer too large", name);
    void *copy = ae_calloc(size, 1, name);
    if (!copy) return AE_ERR_NOMEM;
    memcpy(copy, buf, len);
    mem_src src = {copy, size};
    st = ae_fits_prescan(mem_block, &src, name);
    if (st) {
        free(copy);
        return st;
    }
    fitsfile *f = NULL;
    int status = 0;
    fits_open_memfile(&f, "memory.fits", READONLY, &copy, &size, 0, NULL, &status); /* no [] parsing */
    if (status) {
        free(copy);
        return ae_fits_error(status, name, "opening");
    }
    st = load_open(f, out, name, 0, (LONGLONG)len, (LONGLONG)size);
    status = 0;
    fits_close_file(f, &status);
    fits_clear_errmsg();
    free(copy);
    return st;
}
