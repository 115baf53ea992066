/* image.h - the one image type of astroenh.
 *
 * Pixels are float32 planes, channel-major (CHW), rows top-first, so that an
 * image is directly a 1xCxHxW tensor. Missing pixels (FITS BLANK or NaN) are
 * NaN in `data`; ae_image_nan_count() and friends look at them. FITS's
 * bottom-first rows are flipped in src/io and nowhere else.
 *
 * `hdr` keeps every header card of a FITS source (80-char records, in order,
 * without END) so that a written FITS keeps them; for PNG/JPEG it is empty.
 */
#ifndef ASTROENH_IMAGE_H
#define ASTROENH_IMAGE_H

#include <stddef.h>
#include <stdint.h>
#include "astroenh/status.h"

#define AE_MAX_DIM 65536        /* largest width/height we accept */
#define AE_MAX_PIXELS (1ull << 31) /* largest w*h*c we accept (8 GiB of float) */

typedef enum {
    AE_FMT_UNKNOWN = 0,
    AE_FMT_FITS,
    AE_FMT_PNG,
    AE_FMT_JPEG
} ae_format;

/* What the pixels mean, so stages know whether to stretch. */
typedef enum {
    AE_RANGE_LINEAR = 0, /* physical units (FITS); any range */
    AE_RANGE_DISPLAY     /* display-referred 0..1 (PNG/JPEG, or stretched) */
} ae_range;

typedef struct {
    char (*cards)[81]; /* n_cards NUL-terminated 80-char cards */
    int n_cards;
    int cap;
} ae_header;

typedef struct ae_image {
    int w, h, c;       /* c is 1 or 3 */
    float *data;       /* c*h*w floats, CHW, top row first; owned */
    ae_range range;
    ae_format src_format;
    int src_bitdepth;  /* 8/16 for PNG/JPEG; FITS BITPIX (8,16,32,64,-32,-64) */
    int src_unsigned;  /* FITS: BZERO made it unsigned (uint16, uint32) */
    /* FITS integer data stored with BSCALE/BZERO other than 1/0: their values,
     * so that a FITS written from unchanged pixels keeps the stored integers. */
    int src_scaled;
    double src_bscale, src_bzero;
    ae_header hdr;     /* FITS header cards, empty otherwise */
    /* Further image HDUs written after this one (e.g. the UNCERT map of
     * `upscale --samples`): a NULL-terminated list, owned, freed with it. */
    struct ae_image *next_hdu;
    char extname[72];  /* EXTNAME of this HDU when it is an extension */
} ae_image;

/* Allocates a w x h x c image of zeros (overflow-checked; limits above).
 * Free with ae_image_free. */
ae_status ae_image_create(ae_image **out, int w, int h, int c);
void ae_image_free(ae_image *img); /* NULL-safe */

/* Deep copy, header included. */
ae_status ae_image_clone(ae_image **out, const ae_image *src);

static inline float *ae_image_plane(const ae_image *img, int ch) {
    return img->data + (size_t)ch * img->w * img->h;
}
static inline size_t ae_image_npix(const ae_image *img) {
    return (size_t)img->w * img->h;
}

size_t ae_image_nan_count(const ae_image *img);

/* ---- header cards (FITS metadata) ---- */
void ae_header_free(ae_header *h);
ae_status ae_header_copy(ae_header *dst, const ae_header *src);
ae_status ae_header_append(ae_header *h, const char *card); /* card <= 80 chars */
/* Index of the first card whose keyword is `key`, or -1. */
int ae_header_find(const ae_header *h, const char *key);
/* Replace the card of `key` (or append it) with a formatted value card. */
ae_status ae_header_set_double(ae_header *h, const char *key, double v, const char *comment);
ae_status ae_header_set_int(ae_header *h, const char *key, long v, const char *comment);
ae_status ae_header_set_string(ae_header *h, const char *key, const char *v, const char *comment);
int ae_header_get_double(const ae_header *h, const char *key, double *v); /* 1 if found */
void ae_header_remove(ae_header *h, const char *key);
/* Appends HISTORY cards, wrapping `text` over as many as needed. */
ae_status ae_header_add_history(ae_header *h, const char *text);
/* For pixels that became display values: removes the keywords that give
 * values a physical meaning (BUNIT, BSCALE/BZERO, DATAMIN/DATAMAX, SATURATE,
 * zero points such as MAGZP and PHOTFLAM, GAIN, ...) and, when any was
 * there, adds a HISTORY card "<why>; removed the physical-unit keywords K..." */
ae_status ae_header_drop_physical(ae_header *h, const char *why);

#endif
