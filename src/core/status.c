/* status.c - thread-local error messages and checked allocation. */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "astroenh/status.h"

static _Thread_local char g_msg[2048];

ae_status ae_error_set(ae_status st, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_msg, sizeof g_msg, fmt, ap);
    va_end(ap);
    return st;
}

void ae_error_prefix(const char *fmt, ...) {
    char pre[512], old[sizeof g_msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(pre, sizeof pre, fmt, ap);
    va_end(ap);
    memcpy(old, g_msg, sizeof old);
    /* Long context is cut at the buffer's end; the return value is checked
     * only to tell gcc the truncation is intended. */
    if (snprintf(g_msg, sizeof g_msg, "%s: %s", pre, old) < 0) g_msg[0] = '\0';
}

const char *ae_error_message(void) { return g_msg; }
void ae_error_clear(void) { g_msg[0] = '\0'; }

const char *ae_status_name(ae_status st) {
    switch (st) {
    case AE_OK: return "ok";
    case AE_ERR_IO: return "I/O error";
    case AE_ERR_FORMAT: return "format error";
    case AE_ERR_UNSUPPORTED: return "unsupported";
    case AE_ERR_NOMEM: return "out of memory";
    case AE_ERR_ARG: return "invalid argument";
    case AE_ERR_SHAPE: return "shape mismatch";
    case AE_ERR_DEVICE: return "device error";
    case AE_ERR_UNAVAILABLE: return "not available in this build";
    }
    return "unknown error";
}

int ae_mul_size(size_t a, size_t b, size_t *out) {
    if (a != 0 && b > SIZE_MAX / a) return 1;
    *out = a * b;
    return 0;
}

int ae_mul3_size(size_t a, size_t b, size_t c, size_t *out) {
    size_t ab;
    if (ae_mul_size(a, b, &ab)) return 1;
    return ae_mul_size(ab, c, out);
}

void *ae_malloc(size_t n, const char *what) {
    void *p = malloc(n ? n : 1);
    if (!p) ae_error_set(AE_ERR_NOMEM, "out of memory allocating %zu bytes for %s", n, what);
    return p;
}

void *ae_calloc(size_t count, size_t size, const char *what) {
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p) ae_error_set(AE_ERR_NOMEM, "out of memory allocating %zu x %zu bytes for %s", count, size, what);
    return p;
}
