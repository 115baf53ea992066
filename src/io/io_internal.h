/* io_internal.h - helpers shared by the readers/writers in src/io/ (not public). */
#ifndef ASTROENH_IO_INTERNAL_H
#define ASTROENH_IO_INTERNAL_H

#include <stddef.h>
#include "astroenh/status.h"

/* Reads the whole file into a new malloc'd buffer (*buf, *len; free() it).
 * Errors: AE_ERR_IO naming `path` (open/read failure, directory). */
ae_status ae_io_read_file(const char *path, unsigned char **buf, size_t *len);

/* Removes a half-written output after a failed save, if it is a regular file
 * (never a device such as /dev/full or a FIFO). */
void ae_io_remove_partial(const char *path);

/* Decoders of compressed formats (PNG, JPEG) call this with the declared
 * size before allocating: a small file can declare a huge image (a
 * "decompression bomb"). AE_ERR_UNSUPPORTED naming the file, the size and
 * the limit when w * h * c is over ae_io_max_samples(). */
ae_status ae_io_check_samples(const char *name, unsigned long long w, unsigned long long h, int c);

#endif
