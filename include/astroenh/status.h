/* status.h - status codes and the error message that travels with them.
 *
 * Every function that can fail returns an ae_status and, on failure, sets a
 * message with ae_error_set() that names the file, the tensor or the value at
 * fault. The message is thread-local so --jobs workers do not clobber each
 * other. Only src/cli/ prints it and exits.
 */
#ifndef ASTROENH_STATUS_H
#define ASTROENH_STATUS_H

#include <stddef.h>

typedef enum {
    AE_OK = 0,
    AE_ERR_IO,          /* open/read/write/rename failed */
    AE_ERR_FORMAT,      /* the file is not what it claims, truncated, corrupt */
    AE_ERR_UNSUPPORTED, /* a valid file we do not handle (NAXIS>3, BITPIX 12) */
    AE_ERR_NOMEM,       /* allocation failed, or a size would overflow */
    AE_ERR_ARG,         /* a caller passed something invalid */
    AE_ERR_SHAPE,       /* tensor shape/dtype/name mismatch */
    AE_ERR_DEVICE,      /* GPU missing, driver too old, out of device memory */
    AE_ERR_UNAVAILABLE  /* not available in this build */
} ae_status;

/* Sets the calling thread's message (printf-style) and returns `st`, so that
 * `return ae_error_set(AE_ERR_IO, "%s: %s", path, strerror(errno));` reads well. */
ae_status ae_error_set(ae_status st, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Prepends "prefix: " to the current message (for adding context on the way up). */
void ae_error_prefix(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The calling thread's last message; never NULL ("" when none). */
const char *ae_error_message(void);

void ae_error_clear(void);

/* Short name of a status ("I/O error", "format error", ...). */
const char *ae_status_name(ae_status st);

/* Overflow-checked size arithmetic: return 0 and set *out on success,
 * non-zero (and leave *out untouched) on overflow. */
int ae_mul_size(size_t a, size_t b, size_t *out);
int ae_mul3_size(size_t a, size_t b, size_t c, size_t *out);

/* malloc/calloc that set AE_ERR_NOMEM's message (naming `what`) on failure. */
void *ae_malloc(size_t n, const char *what);
void *ae_calloc(size_t count, size_t size, const char *what);

#endif
