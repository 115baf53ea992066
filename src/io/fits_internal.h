/* fits_internal.h - what src/io/fits.c and src/io/fits_save.c share (not public). */
#ifndef ASTROENH_FITS_INTERNAL_H
#define ASTROENH_FITS_INTERNAL_H

#include <fitsio.h>
#include "astroenh/image.h"

/* Turns cfitsio's `status` and its message stack into our error (naming
 * `path` and what we were doing), clears the stack and returns the status:
 * AE_ERR_IO for open/read/write failures, AE_ERR_NOMEM, AE_ERR_UNSUPPORTED
 * for an illegal BITPIX, AE_ERR_FORMAT otherwise. */
ae_status ae_fits_error(int status, const char *path, const char *what);

/* 1 if the 80-char `card` is one that the writer regenerates (SIMPLE,
 * XTENSION, BITPIX, NAXISn, EXTEND, PCOUNT, GCOUNT, END, BZERO, BSCALE,
 * BLANK, CHECKSUM, DATASUM) and so is not kept in ae_image.hdr. With
 * `compressed`, also the binary-table and Z* keywords of a tile-compressed
 * HDU (FITS standard 4.0 section 10). */
int ae_fits_card_is_structural(const char *card, int compressed);

/* Reads the 2880-byte block at byte offset `off`; 1 if it was all there. */
typedef int (*ae_fits_block_fn)(void *ctx, long long off, unsigned char *blk);

/* Walks the raw headers of every HDU (through `get`) before cfitsio opens
 * them and rejects values that cfitsio 4.2 would crash on (ZTILEn = 0, ...)
 * or data sizes that overflow: AE_ERR_FORMAT naming `path`. Stops quietly
 * where the file ends; cfitsio reports truncation itself. */
ae_status ae_fits_prescan(ae_fits_block_fn get, void *ctx, const char *path);

#endif
