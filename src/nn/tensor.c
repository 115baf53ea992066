/* tensor.c - shape checks and formatting for ae_tensor views. */
#include <stdio.h>
#include "astroenh/tensor.h"

ae_status ae_tensor_check_shape(int n, int c, int h, int w, const char *what) {
    if (n < 1 || c < 1 || h < 1 || w < 1)
        return ae_error_set(AE_ERR_SHAPE, "%s: invalid tensor shape %dx%dx%dx%d", what, n, c, h, w);
    size_t nc = (size_t)n * (size_t)c, hw = (size_t)h * (size_t)w, all;
    if (ae_mul_size(nc, hw, &all) || all > AE_TENSOR_MAX_NUMEL)
        return ae_error_set(AE_ERR_SHAPE, "%s: tensor %dx%dx%dx%d is too large", what, n, c, h, w);
    return AE_OK;
}

const char *ae_tensor_shape_str(const ae_tensor *t, char *buf, size_t len) {
    if (len == 0) return buf;
    snprintf(buf, len, "%dx%dx%dx%d", t->n, t->c, t->h, t->w);
    return buf;
}

ae_status ae_tensor_expect(const ae_tensor *t, int n, int c, int h, int w, const char *what) {
    if ((n < 0 || t->n == n) && (c < 0 || t->c == c) && (h < 0 || t->h == h) && (w < 0 || t->w == w))
        return AE_OK;
    char got[64];
    return ae_error_set(AE_ERR_SHAPE, "%s: expected %dx%dx%dx%d, got %s", what, n, c, h, w,
                        ae_tensor_shape_str(t, got, sizeof got));
}
