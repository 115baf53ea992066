/* png.c - PNG reading and writing through libpng.
 *
 * Reads every PNG colour type at 1..16 bits: palette and colour become 3
 * channels, gray 1 channel, alpha and tRNS transparency are dropped; samples
 * are scaled to [0,1] (v / 255 or v / 65535) and the image is marked
 * AE_RANGE_DISPLAY. Writes 8- or 16-bit gray/RGB, NaN as 0, values clipped to
 * [0,1] and rounded to the nearest code, so 8/16-bit round trips are exact.
 *
 * libpng reports errors by longjmp: every allocation that must outlive a
 * possible longjmp lives in a reader/writer struct owned by the caller of the
 * setjmp function, which frees it whichever way the decode ended.
 */
#include <errno.h>
#include <math.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "astroenh/io.h"
#include "io_internal.h"

/* Deflate expands at most 1032:1, so a PNG whose raw rows exceed this many
 * times its size cannot hold them: it is truncated or lying about its size. */
#define PNG_MAX_INFLATE 1032
/* zlib level for writing: on a noisy 4000x4000x3 frame level 3 saved 2.7-3.2x
 * faster than the default 6 (8-bit 1.8 s vs 5.9 s CPU) for files 2-11% larger. */
#define PNG_ZLIB_LEVEL 3

typedef struct {
    png_structp png;
    png_infop info;
    const unsigned char *buf;
    size_t len, pos;
    const char *name;
    unsigned char *raw;  /* decoded rows */
    png_bytep *rows;
    ae_image *img;
    int src_depth;       /* bit depth in the file, 8 (for 1..8) or 16 */
    char msg[256];       /* libpng's error text */
} png_reader;

static void on_error(png_structp png, png_const_charp msg) {
    char *dst = png_get_error_ptr(png);
    snprintf(dst, 256, "%s", msg);
    png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp msg) {
    (void)png;
    (void)msg;
}

static void read_cb(png_structp png, png_bytep out, size_t n) {
    png_reader *r = png_get_io_ptr(png);
    if (n > r->len - r->pos) png_error(png, "unexpected end of file (truncated)");
    memcpy(out, r->buf + r->pos, n);
    r->pos += n;
}

/* Converts the decoded rows (ch interleaved samples of `depth` bits) into
 * r->img's planes, taking the first r->img->c samples of each pixel. */
static void rows_to_planes(png_reader *r, int ch, int depth) {
    ae_image *img = r->img;
    size_t npix = ae_image_npix(img);
    for (int y = 0; y < img->h; y++) {
        const unsigned char *row = r->rows[y];
        for (int c = 0; c < img->c; c++) {
            float *dst = img->data + (size_t)c * npix + (size_t)y * img->w;
            if (depth == 16)
                for (int x = 0; x < img->w; x++) {
                    const unsigned char *s = row + ((size_t)x * ch + c) * 2;
                    dst[x] = (float)((s[0] << 8) | s[1]) / 65535.0f;
                }
            else
                for (int x = 0; x < img->w; x++) dst[x] = (float)row[(size_t)x * ch + c] / 255.0f;
        }
    }
}

/* Allocates r->raw/r->rows for h rows of `rowbytes` (sizes overflow-checked). */
static ae_status alloc_rows(png_reader *r, size_t rowbytes, int h) {
    size_t total;
    if (ae_mul_size(rowbytes, (size_t)h, &total))
        return ae_error_set(AE_ERR_NOMEM, "%s: image too large", r->name);
    r->raw = ae_malloc(total, r->name);
    r->rows = r->raw ? ae_calloc((size_t)h, sizeof *r->rows, r->name) : NULL;
    if (!r->rows) return AE_ERR_NOMEM;
    for (int y = 0; y < h; y++) r->rows[y] = r->raw + (size_t)y * rowbytes;
    return AE_OK;
}

/* Reads the header, sets up the transforms and checks the declared size
 * against the data available. Must be called inside png_decode's setjmp. */
static ae_status read_header(png_reader *r, png_uint_32 *w, png_uint_32 *h) {
    int depth, color, interlace;
    png_read_info(r->png, r->info);
    png_get_IHDR(r->png, r->info, w, h, &depth, &color, &interlace, NULL, NULL);
    size_t raw_rowbytes = png_get_rowbytes(r->png, r->info);
    if (raw_rowbytes == 0 || (size_t)*h * raw_rowbytes / PNG_MAX_INFLATE > r->len)
        return ae_error_set(AE_ERR_FORMAT, "%s: declares %ux%u pixels but holds only %zu bytes (truncated or corrupt)",
                            r->name, (unsigned)*w, (unsigned)*h, r->len);
    ae_status st = ae_io_check_samples(r->name, *w, *h, color & PNG_COLOR_MASK_COLOR ? 3 : 1);
    if (st != AE_OK) return st;
    r->src_depth = depth == 16 ? 16 : 8;
    if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(r->png);
    if (color == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(r->png);
    if (interlace != PNG_INTERLACE_NONE) png_set_interlace_handling(r->png);
    png_read_update_info(r->png, r->info);
    return AE_OK;
}

static ae_status png_decode(png_reader *r) {
    if (setjmp(png_jmpbuf(r->png)))
        return ae_error_set(AE_ERR_FORMAT, "%s: invalid PNG: %s", r->name, r->msg);
    png_uint_32 w, h;
    png_set_read_fn(r->png, r, read_cb);
    png_set_user_limits(r->png, AE_MAX_DIM, AE_MAX_DIM);
    ae_status st = read_header(r, &w, &h);
    if (st != AE_OK) return st;
    int ch = png_get_channels(r->png, r->info);
    int depth = png_get_bit_depth(r->png, r->info);
    if ((ch < 1 || ch > 4) || (depth != 8 && depth != 16))
        return ae_error_set(AE_ERR_UNSUPPORTED, "%s: unexpected PNG layout (%d channels, %d bits)", r->name, ch, depth);
    if ((st = alloc_rows(r, png_get_rowbytes(r->png, r->info), (int)h)) != AE_OK) return st;
    png_read_image(r->png, r->rows);
    png_read_end(r->png, NULL);
    if ((st = ae_image_create(&r->img, (int)w, (int)h, ch >= 3 ? 3 : 1)) != AE_OK) {
        ae_error_prefix("%s", r->name);
        return st;
    }
    r->img->range = AE_RANGE_DISPLAY;
    r->img->src_format = AE_FMT_PNG;
    r->img->src_bitdepth = r->src_depth;
    rows_to_planes(r, ch, depth);
    return AE_OK;
}

ae_status ae_png_load_mem(ae_image **out, const void *buf, size_t len, const char *name) {
    if (!out || (!buf && len)) return ae_error_set(AE_ERR_ARG, "ae_png_load_mem: NULL argument");
    *out = NULL;
    if (!name) name = "<memory>";
    if (len < 8 || png_sig_cmp(buf, 0, 8))
        return ae_error_set(AE_ERR_FORMAT, "%s: %s", name, len == 0 ? "empty file" : "not a PNG file");
    png_reader r = {.buf = buf, .len = len, .name = name};
    r.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, r.msg, on_error, on_warning);
    r.info = r.png ? png_create_info_struct(r.png) : NULL;
    ae_status st = r.info ? png_decode(&r) : ae_error_set(AE_ERR_NOMEM, "%s: cannot create PNG decoder", name);
    png_destroy_read_struct(r.png ? &r.png : NULL, r.info ? &r.info : NULL, NULL);
    free(r.rows);
    free(r.raw);
    if (st != AE_OK) {
        ae_image_free(r.img);
        return st;
    }
    *out = r.img;
    return AE_OK;
}

ae_status ae_png_load(ae_image **out, const char *path) {
    if (!out || !path) return ae_error_set(AE_ERR_ARG, "ae_png_load: NULL argument");
    *out = NULL;
    unsigned char *buf;
    size_t len;
    ae_status st = ae_io_read_file(path, &buf, &len);
    if (st != AE_OK) return st;
    st = ae_png_load_mem(out, buf, len, path);
    free(buf);
    return st;
}

/* ---- writing ---- */

typedef struct {
    png_structp png;
    png_infop info;
    FILE *f;
    unsigned char *row;
    char msg[256];
} png_writer;

static unsigned quantise(float v, unsigned maxv) {
    if (!(v > 0.0f)) return 0; /* NaN and negatives */
    if (v >= 1.0f) return maxv;
    return (unsigned)(v * (float)maxv + 0.5f);
}

/* plane[c]: the image plane written as colour c (ae_image_rgb_planes). */
static void fill_row(const ae_image *img, const int plane[3], int y, int depth, unsigned char *row) {
    size_t npix = ae_image_npix(img);
    for (int x = 0; x < img->w; x++)
        for (int c = 0; c < img->c; c++) {
            float v = img->data[(size_t)plane[c] * npix + (size_t)y * img->w + x];
            size_t i = (size_t)x * img->c + c;
            if (depth == 16) {
                unsigned q = quantise(v, 65535);
                row[2 * i] = (unsigned char)(q >> 8);
                row[2 * i + 1] = (unsigned char)(q & 0xFF);
            } else {
                row[i] = (unsigned char)quantise(v, 255);
            }
        }
}

static ae_status png_encode(png_writer *wr, const ae_image *img, int depth, const char *path) {
    if (setjmp(png_jmpbuf(wr->png))) return ae_error_set(AE_ERR_IO, "%s: cannot write PNG: %s", path, wr->msg);
    png_init_io(wr->png, wr->f);
    png_set_compression_level(wr->png, PNG_ZLIB_LEVEL);
    png_set_IHDR(wr->png, wr->info, (png_uint_32)img->w, (png_uint_32)img->h, depth,
                 img->c == 3 ? PNG_COLOR_TYPE_RGB : PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(wr->png, wr->info);
    int plane[3];
    ae_image_rgb_planes(img, plane);
    for (int y = 0; y < img->h; y++) {
        fill_row(img, plane, y, depth, wr->row);
        png_write_row(wr->png, wr->row);
    }
    png_write_end(wr->png, NULL);
    return AE_OK;
}

/* The bit depth to write: opts' choice, else 16 for 16-bit PNG and FITS sources. */
static int png_out_depth(const ae_image *img, const ae_save_opts *opts) {
    if (opts && opts->bit_depth) return opts->bit_depth;
    if (img->src_format == AE_FMT_FITS || (img->src_format == AE_FMT_PNG && img->src_bitdepth == 16)) return 16;
    return 8;
}

ae_status ae_png_save(const ae_image *img, const char *path, const ae_save_opts *opts) {
    if (!img || !path || !img->data) return ae_error_set(AE_ERR_ARG, "ae_png_save: NULL argument");
    int depth = png_out_depth(img, opts);
    if (depth != 8 && depth != 16)
        return ae_error_set(AE_ERR_ARG, "%s: PNG bit depth must be 8 or 16, not %d", path, depth);
    if (img->c != 1 && img->c != 3)
        return ae_error_set(AE_ERR_ARG, "%s: PNG needs 1 or 3 channels, image has %d", path, img->c);
    if (img->w < 1 || img->h < 1)
        return ae_error_set(AE_ERR_ARG, "%s: empty image (%dx%d)", path, img->w, img->h);
    if (img->range == AE_RANGE_LINEAR)
        return ae_error_set(AE_ERR_ARG, "%s: linear data must be stretched before PNG/JPEG", path);
    png_writer wr = {0};
    wr.row = ae_malloc((size_t)img->w * img->c * (depth / 8), path);
    if (!wr.row) return AE_ERR_NOMEM;
    wr.f = fopen(path, "wb");
    if (!wr.f) {
        int e = errno;
        free(wr.row);
        return ae_error_set(AE_ERR_IO, "%s: %s", path, strerror(e));
    }
    wr.png = png_create_write_struct(PNG_LIBPNG_VER_STRING, wr.msg, on_error, on_warning);
    wr.info = wr.png ? png_create_info_struct(wr.png) : NULL;
    ae_status st = wr.info ? png_encode(&wr, img, depth, path)
                           : ae_error_set(AE_ERR_NOMEM, "%s: cannot create PNG encoder", path);
    png_destroy_write_struct(wr.png ? &wr.png : NULL, wr.info ? &wr.info : NULL);
    free(wr.row);
    errno = 0;
    int bad = ferror(wr.f) | fflush(wr.f);
    int e = errno;
    if (fclose(wr.f) != 0 && !bad) {
        bad = 1;
        e = errno;
    }
    if (st == AE_OK && bad) st = ae_error_set(AE_ERR_IO, "%s: write failed: %s", path, strerror(e ? e : EIO));
    if (st != AE_OK) ae_io_remove_partial(path);
    return st;
}
