/* elementwise.c - add, mul, per-channel scale+shift (FiLM, SR3's
 * FeatureWiseAffine), torch.cat along channels, and copy, on the CPU. */
#include <string.h>
#include "astroenh/backend.h"
#include "cpu_ops.h"

ae_status ae_add_cpu(const ae_backend *be, const ae_tensor *a, const ae_tensor *b, ae_tensor *y) {
    (void)be;
    ae_status st = ae_check_same("add", a, b);
    if (st == AE_OK) st = ae_check_same("add", a, y);
    if (st) return st;
    long n = (long)ae_tensor_numel(a);
    const float *p = a->data, *q = b->data;
    float *d = y->data;
#pragma omp parallel for schedule(static) if (n >= AE_PAR_MIN)
    for (long i = 0; i < n; i++) d[i] = p[i] + q[i];
    return AE_OK;
}

ae_status ae_mul_cpu(const ae_backend *be, const ae_tensor *a, const ae_tensor *b, ae_tensor *y) {
    (void)be;
    ae_status st = ae_check_same("mul", a, b);
    if (st == AE_OK) st = ae_check_same("mul", a, y);
    if (st) return st;
    long n = (long)ae_tensor_numel(a);
    const float *p = a->data, *q = b->data;
    float *d = y->data;
#pragma omp parallel for schedule(static) if (n >= AE_PAR_MIN)
    for (long i = 0; i < n; i++) d[i] = p[i] * q[i];
    return AE_OK;
}

ae_status ae_scale_shift_cpu(const ae_backend *be, const ae_tensor *x, const ae_tensor *scale,
                             float scale_bias, const ae_tensor *shift, ae_tensor *y) {
    (void)be;
    ae_status st = ae_check_scale_shift(x, scale, shift, y);
    if (st) return st;
    int C = x->c, NC = x->n * C;
    size_t HW = (size_t)x->h * x->w;
#pragma omp parallel for schedule(static) if ((long)(NC * HW) >= AE_PAR_MIN)
    for (int nc = 0; nc < NC; nc++) {
        int n = nc / C, c = nc % C;
        float s = scale_bias + (scale ? scale->data[(scale->n == 1 ? 0 : n) * C + c] : 0.0f);
        float t = shift ? shift->data[(shift->n == 1 ? 0 : n) * C + c] : 0.0f;
        const float *src = x->data + (size_t)nc * HW;
        float *dst = y->data + (size_t)nc * HW;
        for (size_t i = 0; i < HW; i++) dst[i] = src[i] * s + t;
    }
    return AE_OK;
}

ae_status ae_concat_cpu(const ae_backend *be, const ae_tensor *const *xs, int count, ae_tensor *y) {
    (void)be;
    ae_status st = ae_check_concat(xs, count, y);
    if (st) return st;
    size_t HW = (size_t)y->h * y->w;
    for (int n = 0; n < y->n; n++) {
        float *dst = y->data + (size_t)n * y->c * HW;
        for (int i = 0; i < count; i++) {
            size_t len = (size_t)xs[i]->c * HW;
            memcpy(dst, xs[i]->data + (size_t)n * len, len * sizeof(float));
            dst += len;
        }
    }
    return AE_OK;
}

ae_status ae_copy_cpu(const ae_backend *be, const ae_tensor *x, ae_tensor *y) {
    (void)be;
    ae_status st = ae_check_same("copy", x, y);
    if (st) return st;
    if (x->data != y->data) memmove(y->data, x->data, ae_tensor_bytes(x));
    return AE_OK;
}
