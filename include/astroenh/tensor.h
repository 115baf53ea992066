/* tensor.h - the engine's tensor: a view of NCHW float32 data.
 *
 * A tensor never owns its data: `data` points into backend memory (host
 * memory for the CPU backend, device memory for CUDA), normally a slice of
 * an ae_arena. Dimensions follow PyTorch's order; vectors and linear-layer
 * activations are n x c x 1 x 1. During an arena's planning pass tensors
 * carry their shape with data == NULL.
 */
#ifndef ASTROENH_TENSOR_H
#define ASTROENH_TENSOR_H

#include <stddef.h>
#include "astroenh/status.h"

typedef struct {
    float *data; /* n*c*h*w floats, NCHW, row-major; not owned */
    int n, c, h, w;
} ae_tensor;

/* Largest element count of one tensor we accept (2^31 floats = 8 GiB). */
#define AE_TENSOR_MAX_NUMEL (1ull << 31)

/* A tensor view over `data` (may be NULL). */
static inline ae_tensor ae_tensor_make(float *data, int n, int c, int h, int w) {
    ae_tensor t = {data, n, c, h, w};
    return t;
}

/* n*c*h*w; the shape must have passed ae_tensor_check_shape (no overflow). */
static inline size_t ae_tensor_numel(const ae_tensor *t) {
    return (size_t)t->n * (size_t)t->c * (size_t)t->h * (size_t)t->w;
}

static inline size_t ae_tensor_bytes(const ae_tensor *t) {
    return ae_tensor_numel(t) * sizeof(float);
}

static inline int ae_tensor_same_shape(const ae_tensor *a, const ae_tensor *b) {
    return a->n == b->n && a->c == b->c && a->h == b->h && a->w == b->w;
}

/* AE_OK when all dims are >= 1 and numel <= AE_TENSOR_MAX_NUMEL, else
 * AE_ERR_SHAPE naming `what` and the shape. */
ae_status ae_tensor_check_shape(int n, int c, int h, int w, const char *what);

/* AE_OK when t has exactly the shape n x c x h x w (a dim < 0 matches any),
 * else AE_ERR_SHAPE "<what>: expected 1x64x32x32, got 1x32x32x32". */
ae_status ae_tensor_expect(const ae_tensor *t, int n, int c, int h, int w, const char *what);

/* Writes "NxCxHxW" into buf (always NUL-terminated); returns buf. */
const char *ae_tensor_shape_str(const ae_tensor *t, char *buf, size_t len);

#endif
