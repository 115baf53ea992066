/* io.h - reading and writing FITS, PNG and JPEG (src/io/).
 *
 * ae_image_load picks the reader from the file's magic bytes, not its name;
 * a name like "frame.fits[2]" selects a FITS HDU. Errors name the file and
 * the problem and never leave a half-built image.
 *
 * ae_image_save picks the writer from the extension of `path`
 * (.fits/.fit/.fts/.fz, .png, .jpg/.jpeg) and writes `path` directly; the
 * batch runner is the one that writes to a temporary name and renames.
 *
 * PNG/JPEG hold display-referred data only: ae_png_save/ae_jpeg_save (and so
 * ae_image_save to .png/.jpg) fail with AE_ERR_ARG "... linear data must be
 * stretched before PNG/JPEG" when img->range is AE_RANGE_LINEAR; the CLI
 * applies a stretch (stretch.h) first. Errors of the writers name `path`.
 */
#ifndef ASTROENH_IO_H
#define ASTROENH_IO_H

#include "astroenh/image.h"

typedef struct {
    int bit_depth;        /* PNG: 8 or 16 (0 = 8, or 16 for 16-bit sources) */
    int quality;          /* JPEG: 1..100 (0 = 92) */
    int fits_bitpix;      /* FITS: 0 = keep the source's, else 8/16/32/-32/-64 */
    int compress;         /* FITS: tile-compress (implied by .fz) */
} ae_save_opts;

ae_format ae_format_from_path(const char *path);   /* by extension */
ae_format ae_format_sniff(const char *path);       /* by magic bytes */
/* The file on disk that the input name `path` reads: `path` itself when it
 * exists, else `path` without a trailing FITS HDU selector ("f.fits[1]",
 * "f.fits[SCI]" -> "f.fits"). Written to buf (truncated to cap); returns buf. */
const char *ae_path_file(const char *path, char *buf, size_t cap);
const char *ae_format_name(ae_format f);

/* Largest w * h * channels a PNG/JPEG may declare: $ASTROENH_MAX_PIXELS when
 * it is a positive integer, else AE_DEFAULT_MAX_SAMPLES (2^28 values, 1 GiB
 * as float: 16384 x 16384 mono, 9459 x 9459 RGB). */
#define AE_DEFAULT_MAX_SAMPLES (1ull << 28)
unsigned long long ae_io_max_samples(void);

/* Loads a regular file (a FIFO, socket or device is refused, AE_ERR_IO,
 * without blocking). PNG and JPEG images larger than ae_io_max_samples()
 * values (w * h * channels) are refused before their pixels are decoded. */
ae_status ae_image_load(ae_image **out, const char *path);
ae_status ae_image_save(const ae_image *img, const char *path, const ae_save_opts *opts);

/* Format-specific entry points (used by the dispatchers above and by tests). */
ae_status ae_fits_load(ae_image **out, const char *path);   /* accepts "f.fits[N]" */
ae_status ae_fits_save(const ae_image *img, const char *path, const ae_save_opts *opts);
ae_status ae_png_load(ae_image **out, const char *path);
ae_status ae_png_save(const ae_image *img, const char *path, const ae_save_opts *opts);
ae_status ae_jpeg_load(ae_image **out, const char *path);
ae_status ae_jpeg_save(const ae_image *img, const char *path, const ae_save_opts *opts);
/* In-memory readers for fuzzing. */
ae_status ae_png_load_mem(ae_image **out, const void *buf, size_t len, const char *name);
ae_status ae_jpeg_load_mem(ae_image **out, const void *buf, size_t len, const char *name);
ae_status ae_fits_load_mem(ae_image **out, const void *buf, size_t len, const char *name);

/* Which plane of img to show as red, green, blue (plane[0], [1], [2]): for
 * a 3-plane FITS cube whose header names each plane's band (BANDn/FILTERn,
 * BANDS = 'grz') or has a spectral third WCS axis, longest wavelength red;
 * else 0, 1, 2. PNG and JPEG writers use it. */
void ae_image_rgb_planes(const ae_image *img, int plane[3]);

/* ---- WCS ---- */
/* 1 if WCSLIB finds a celestial WCS in the header (any form it reads: CD,
 * PC, CDELT/CROTA, SIP, alternates, a DSS plate solution). */
int ae_wcs_present(const ae_header *h);
/* Rewrites the WCS keywords for an image resampled by `scale` (2 = twice as
 * many pixels per axis): CRPIX' = (CRPIX - 0.5) * scale + 0.5, CDELT/CD /
 * scale (CDELT = 1/scale added to a PC matrix without one), for the primary
 * and alternate descriptions; SIP coefficients; DSS CNPIX * scale and
 * X/YPIXELSZ / scale. Harmless on a header without WCS. */
ae_status ae_wcs_rescale(ae_header *h, double scale);
/* ae_wcs_rescale, then a check with WCSLIB that every celestial description
 * gives the same sky at corresponding pixels of the w x hgt input and its
 * resampled grid (within 0.001 pixel); AE_ERR_UNSUPPORTED with a message
 * when it does not (a form the rewrite does not cover), h then rewritten. */
ae_status ae_wcs_resample(ae_header *h, double scale, int w, int hgt);

/* Adds the provenance HISTORY: "astroenh <version> <stage> <params>" and,
 * if model_path is non-NULL, its SHA-256. */
ae_status ae_header_add_provenance(ae_header *h, const char *stage, const char *params,
                                   const char *model_path);

/* SHA-256 of a file as 64 hex chars + NUL. */
ae_status ae_sha256_file(const char *path, char hex[65]);

#endif
