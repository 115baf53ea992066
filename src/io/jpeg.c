/* jpeg.c - JPEG reading and writing through libjpeg(-turbo).
 *
 * Reads 8-bit gray and colour (YCbCr/RGB) JPEGs into [0,1] floats (1 or 3
 * channels, AE_RANGE_DISPLAY); CMYK/YCCK and 12-bit files are refused as
 * unsupported. Data that libjpeg only warns about but fills with grey
 * (premature end of file, bad Huffman code, lost sync) is an error here: an
 * archive pipeline must not turn a truncated frame into a plausible image.
 * Writes 8-bit baseline JPEG, quality opts->quality (default 92), with 4:4:4
 * chroma at quality >= 90 and libjpeg's 4:2:0 below.
 *
 * libjpeg reports errors through error_exit, which we turn into a longjmp
 * back to the decode/encode function and then into an ae_status; everything
 * allocated lives in a reader/writer struct that the caller frees.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jpeglib.h>
#include <jerror.h>
#include "astroenh/io.h"
#include "io_internal.h"

/* Every 8x8 block of a Huffman-coded JPEG costs at least one bit (its DC
 * code), so a file of n bytes holds at most 8n blocks; a larger declared size
 * means a truncated or lying file. Arithmetic coding has no such floor; we
 * require 1/8 bit per block there, which only perfectly flat images beat. */
#define JPEG_BLOCKS_PER_BYTE_HUFF 8
#define JPEG_BLOCKS_PER_BYTE_ARITH 64
#define JPEG_MAX_SCANS 1000 /* progressive files with more scans are refused (DoS) */

typedef struct {
    struct jpeg_error_mgr pub;
    jmp_buf jb;
    char msg[JMSG_LENGTH_MAX];
} jpeg_err;

static void on_error_exit(j_common_ptr cinfo) {
    jpeg_err *e = (jpeg_err *)cinfo->err;
    (*cinfo->err->format_message)(cinfo, e->msg);
    longjmp(e->jb, 1);
}

/* Warnings about corrupt data become errors; the rest are counted, never printed. */
static void on_message(j_common_ptr cinfo, int level) {
    if (level >= 0) return;
    int code = cinfo->err->msg_code;
    if (code == JWRN_JPEG_EOF || code == JWRN_HIT_MARKER || code == JWRN_HUFF_BAD_CODE || code == JWRN_MUST_RESYNC)
        on_error_exit(cinfo);
    cinfo->err->num_warnings++;
}

static void on_progress(j_common_ptr cinfo) {
    j_decompress_ptr d = (j_decompress_ptr)cinfo;
    if (d->input_scan_number > JPEG_MAX_SCANS) {
        cinfo->err->msg_code = JERR_NOTIMPL;
        snprintf(((jpeg_err *)cinfo->err)->msg, JMSG_LENGTH_MAX, "more than %d scans", JPEG_MAX_SCANS);
        longjmp(((jpeg_err *)cinfo->err)->jb, 1);
    }
}

static void err_init(jpeg_err *e) {
    jpeg_std_error(&e->pub);
    e->pub.error_exit = on_error_exit;
    e->pub.emit_message = on_message;
    e->msg[0] = '\0';
}

typedef struct {
    struct jpeg_decompress_struct cinfo;
    jpeg_err err;
    struct jpeg_progress_mgr progress;
    const char *name;
    unsigned char *row;
    ae_image *img;
} jpeg_reader;

/* Picks the output colour space; AE_OK or AE_ERR_UNSUPPORTED/FORMAT. */
static ae_status check_header(jpeg_reader *r, size_t len) {
    struct jpeg_decompress_struct *ci = &r->cinfo;
    if (ci->jpeg_color_space == JCS_GRAYSCALE) ci->out_color_space = JCS_GRAYSCALE;
    else if (ci->jpeg_color_space == JCS_YCbCr || ci->jpeg_color_space == JCS_RGB) ci->out_color_space = JCS_RGB;
    else
        return ae_error_set(AE_ERR_UNSUPPORTED, "%s: JPEG colour space %s is not supported (gray or RGB only)",
                            r->name,
                            ci->jpeg_color_space == JCS_CMYK || ci->jpeg_color_space == JCS_YCCK ? "CMYK/YCCK"
                                                                                                 : "unknown");
    unsigned long long blocks = (unsigned long long)(ci->image_width + 7) / 8 * ((ci->image_height + 7) / 8);
    unsigned long long cap =
        (unsigned long long)len * (ci->arith_code ? JPEG_BLOCKS_PER_BYTE_ARITH : JPEG_BLOCKS_PER_BYTE_HUFF);
    if (blocks > cap)
        return ae_error_set(AE_ERR_FORMAT, "%s: declares %ux%u pixels but holds only %zu bytes (truncated or corrupt)",
                            r->name, ci->image_width, ci->image_height, len);
    if (ci->image_width > AE_MAX_DIM || ci->image_height > AE_MAX_DIM)
        return ae_error_set(AE_ERR_UNSUPPORTED, "%s: %ux%u pixels is larger than we handle", r->name,
                            ci->image_width, ci->image_height);
    return ae_io_check_samples(r->name, ci->image_width, ci->image_height,
                               ci->out_color_space == JCS_GRAYSCALE ? 1 : 3);
}

static void row_to_planes(ae_image *img, const unsigned char *row, int y) {
    size_t npix = ae_image_npix(img);
    for (int c = 0; c < img->c; c++) {
        float *dst = img->data + (size_t)c * npix + (size_t)y * img->w;
        for (int x = 0; x < img->w; x++) dst[x] = (float)row[(size_t)x * img->c + c] / 255.0f;
    }
}

static ae_status jpeg_decode(jpeg_reader *r, const unsigned char *buf, size_t len) {
    if (setjmp(r->err.jb)) {
        int code = r->err.pub.msg_code;
        ae_status st = code == JERR_BAD_PRECISION || code == JERR_CONVERSION_NOTIMPL ? AE_ERR_UNSUPPORTED
                                                                                     : AE_ERR_FORMAT;
        return ae_error_set(st, "%s: invalid JPEG: %s", r->name, r->err.msg);
    }
    jpeg_create_decompress(&r->cinfo);
    r->cinfo.progress = &r->progress;
    jpeg_mem_src(&r->cinfo, buf, (unsigned long)len);
    jpeg_read_header(&r->cinfo, TRUE);
    ae_status st = check_header(r, len);
    if (st != AE_OK) return st;
    jpeg_start_decompress(&r->cinfo);
    int c = r->cinfo.out_color_space == JCS_GRAYSCALE ? 1 : 3;
    if (r->cinfo.output_components != c)
        return ae_error_set(AE_ERR_UNSUPPORTED, "%s: JPEG decodes to %d components", r->name,
                            r->cinfo.output_components);
    if ((st = ae_image_create(&r->img, (int)r->cinfo.output_width, (int)r->cinfo.output_height, c)) != AE_OK) {
        ae_error_prefix("%s", r->name);
        return st;
    }
    r->img->range = AE_RANGE_DISPLAY;
    r->img->src_format = AE_FMT_JPEG;
    r->img->src_bitdepth = 8;
    if (!(r->row = ae_malloc((size_t)r->img->w * c, r->name))) return AE_ERR_NOMEM;
    while (r->cinfo.output_scanline < r->cinfo.output_height) {
        int y = (int)r->cinfo.output_scanline;
        JSAMPROW rp = r->row;
        if (jpeg_read_scanlines(&r->cinfo, &rp, 1) != 1)
            return ae_error_set(AE_ERR_FORMAT, "%s: JPEG data ended at row %d", r->name, y);
        row_to_planes(r->img, r->row, y);
    }
    jpeg_finish_decompress(&r->cinfo);
    return AE_OK;
}

ae_status ae_jpeg_load_mem(ae_image **out, const void *buf, size_t len, const char *name) {
    if (!out || (!buf && len)) return ae_error_set(AE_ERR_ARG, "ae_jpeg_load_mem: NULL argument");
    *out = NULL;
    if (!name) name = "<memory>";
    const unsigned char *b = buf;
    if (len < 3 || b[0] != 0xFF || b[1] != 0xD8 || b[2] != 0xFF)
        return ae_error_set(AE_ERR_FORMAT, "%s: %s", name, len == 0 ? "empty file" : "not a JPEG file");
    jpeg_reader *r = ae_calloc(1, sizeof *r, name);
    if (!r) return AE_ERR_NOMEM;
    r->name = name;
    err_init(&r->err);
    r->cinfo.err = &r->err.pub;
    r->progress.progress_monitor = on_progress;
    ae_status st = jpeg_decode(r, b, len);
    jpeg_destroy_decompress(&r->cinfo);
    free(r->row);
    if (st != AE_OK) ae_image_free(r->img);
    else *out = r->img;
    free(r);
    return st;
}

ae_status ae_jpeg_load(ae_image **out, const char *path) {
    if (!out || !path) return ae_error_set(AE_ERR_ARG, "ae_jpeg_load: NULL argument");
    *out = NULL;
    unsigned char *buf;
    size_t len;
    ae_status st = ae_io_read_file(path, &buf, &len);
    if (st != AE_OK) return st;
    st = ae_jpeg_load_mem(out, buf, len, path);
    free(buf);
    return st;
}

/* ---- writing ---- */

typedef struct {
    struct jpeg_compress_struct cinfo;
    jpeg_err err;
    FILE *f;
    unsigned char *row;
} jpeg_writer;

static unsigned char quantise8(float v) {
    if (!(v > 0.0f)) return 0; /* NaN and negatives */
    if (v >= 1.0f) return 255;
    return (unsigned char)(v * 255.0f + 0.5f);
}

static ae_status jpeg_encode(jpeg_writer *wr, const ae_image *img, int quality, const char *path) {
    if (setjmp(wr->err.jb)) return ae_error_set(AE_ERR_IO, "%s: cannot write JPEG: %s", path, wr->err.msg);
    struct jpeg_compress_struct *ci = &wr->cinfo;
    jpeg_create_compress(ci);
    jpeg_stdio_dest(ci, wr->f);
    ci->image_width = (JDIMENSION)img->w;
    ci->image_height = (JDIMENSION)img->h;
    ci->input_components = img->c;
    ci->in_color_space = img->c == 3 ? JCS_RGB : JCS_GRAYSCALE;
    jpeg_set_defaults(ci);
    jpeg_set_quality(ci, quality, TRUE);
    if (img->c == 3 && quality >= 90) ci->comp_info[0].h_samp_factor = ci->comp_info[0].v_samp_factor = 1;
    jpeg_start_compress(ci, TRUE);
    size_t npix = ae_image_npix(img);
    int plane[3];
    ae_image_rgb_planes(img, plane);
    for (int y = 0; y < img->h; y++) {
        for (int x = 0; x < img->w; x++)
            for (int c = 0; c < img->c; c++)
                wr->row[(size_t)x * img->c + c] =
                    quantise8(img->data[(size_t)plane[c] * npix + (size_t)y * img->w + x]);
        JSAMPROW rp = wr->row;
        jpeg_write_scanlines(ci, &rp, 1);
    }
    jpeg_finish_compress(ci);
    return AE_OK;
}

static ae_status check_save_args(const ae_image *img, const char *path, int quality) {
    if (quality < 1 || quality > 100)
        return ae_error_set(AE_ERR_ARG, "%s: JPEG quality must be 1..100, not %d", path, quality);
    if (img->c != 1 && img->c != 3)
        return ae_error_set(AE_ERR_ARG, "%s: JPEG needs 1 or 3 channels, image has %d", path, img->c);
    if (img->w < 1 || img->h < 1 || img->w > 65500 || img->h > 65500)
        return ae_error_set(AE_ERR_ARG, "%s: JPEG cannot hold a %dx%d image", path, img->w, img->h);
    if (img->range == AE_RANGE_LINEAR)
        return ae_error_set(AE_ERR_ARG, "%s: linear data must be stretched before PNG/JPEG", path);
    return AE_OK;
}

ae_status ae_jpeg_save(const ae_image *img, const char *path, const ae_save_opts *opts) {
    if (!img || !path || !img->data) return ae_error_set(AE_ERR_ARG, "ae_jpeg_save: NULL argument");
    int quality = opts && opts->quality ? opts->quality : 92;
    ae_status st = check_save_args(img, path, quality);
    if (st != AE_OK) return st;
    jpeg_writer *wr = ae_calloc(1, sizeof *wr, path);
    if (!wr) return AE_ERR_NOMEM;
    if (!(wr->row = ae_malloc((size_t)img->w * img->c, path))) {
        free(wr);
        return AE_ERR_NOMEM;
    }
    if (!(wr->f = fopen(path, "wb"))) {
        st = ae_error_set(AE_ERR_IO, "%s: %s", path, strerror(errno));
        free(wr->row);
        free(wr);
        return st;
    }
    err_init(&wr->err);
    wr->cinfo.err = &wr->err.pub;
    st = jpeg_encode(wr, img, quality, path);
    jpeg_destroy_compress(&wr->cinfo);
    errno = 0;
    if (fclose(wr->f) != 0 && st == AE_OK) st = ae_error_set(AE_ERR_IO, "%s: write failed: %s", path, strerror(errno));
    if (st != AE_OK) ae_io_remove_partial(path);
    free(wr->row);
    free(wr);
    return st;
}
