/* norm.c - eval-mode BatchNorm2d, GroupNorm and InstanceNorm2d on the CPU.
 *
 * Mirrors F.batch_norm(training=False), F.group_norm and F.instance_norm
 * (no running stats): statistics per (n, group) with the biased variance
 * (two passes; float partial sums over 1024 elements added in double), then y = (x - mean) / sqrt(var + eps) * gamma + beta.
 */
#include <math.h>
#include "astroenh/backend.h"
#include "cpu_ops.h"

ae_status ae_batchnorm_cpu(const ae_backend *be, const ae_tensor *x, const float *mean,
                           const float *var, const float *gamma, const float *beta, float eps,
                           ae_tensor *y) {
    (void)be;
    ae_status st = ae_check_same("batchnorm", x, y);
    if (st) return st;
    int C = x->c, NC = x->n * x->c;
    size_t HW = (size_t)x->h * x->w;
#pragma omp parallel for schedule(static) if ((long)(NC * HW) >= AE_PAR_MIN)
    for (int nc = 0; nc < NC; nc++) {
        int c = nc % C;
        float s = (gamma ? gamma[c] : 1.0f) / sqrtf(var[c] + eps);
        float t = (beta ? beta[c] : 0.0f) - mean[c] * s;
        const float *src = x->data + (size_t)nc * HW;
        float *dst = y->data + (size_t)nc * HW;
        for (size_t i = 0; i < HW; i++) dst[i] = src[i] * s + t;
    }
    return AE_OK;
}

/* sum of x (sq = 0) or of (x - mu)^2 (sq = 1): vectorised float sums over
 * blocks of 1024, added up in double. */
static double block_sum(const float *x, size_t len, float mu, int sq) {
    double total = 0.0;
    for (size_t i0 = 0; i0 < len; i0 += 1024) {
        size_t n = len - i0 < 1024 ? len - i0 : 1024;
        float s = 0.0f;
        if (sq) {
#pragma omp simd reduction(+ : s)
            for (size_t i = 0; i < n; i++) s += (x[i0 + i] - mu) * (x[i0 + i] - mu);
        } else {
#pragma omp simd reduction(+ : s)
            for (size_t i = 0; i < n; i++) s += x[i0 + i];
        }
        total += s;
    }
    return total;
}

ae_status ae_groupnorm_cpu(const ae_backend *be, const ae_tensor *x, int groups, const float *gamma,
                           const float *beta, float eps, ae_tensor *y) {
    (void)be;
    ae_status st = ae_check_same("groupnorm", x, y);
    if (st) return st;
    if (groups < 1 || x->c % groups)
        return ae_error_set(AE_ERR_SHAPE, "groupnorm: %d channels are not divisible into %d groups",
                            x->c, groups);
    int cg = x->c / groups, NG = x->n * groups;
    size_t HW = (size_t)x->h * x->w, len = (size_t)cg * HW;
#pragma omp parallel for schedule(dynamic, 1) if ((long)(NG * len) >= AE_PAR_MIN)
    for (int ng = 0; ng < NG; ng++) {
        const float *src = x->data + (size_t)ng * len;
        float *dst = y->data + (size_t)ng * len;
        double mu = block_sum(src, len, 0.0f, 0) / (double)len;
        double var = block_sum(src, len, (float)mu, 1) / (double)len;
        float rstd = (float)(1.0 / sqrt(var + eps)), m = (float)mu;
        for (int k = 0; k < cg; k++) {
            int c = (ng % groups) * cg + k;
            float a = rstd * (gamma ? gamma[c] : 1.0f);
            float b = (beta ? beta[c] : 0.0f) - m * a;
            const float *sp = src + (size_t)k * HW;
            float *dp = dst + (size_t)k * HW;
            for (size_t i = 0; i < HW; i++) dp[i] = sp[i] * a + b;
        }
    }
    return AE_OK;
}

ae_status ae_instancenorm_cpu(const ae_backend *be, const ae_tensor *x, const float *gamma,
                              const float *beta, float eps, ae_tensor *y) {
    return ae_groupnorm_cpu(be, x, x->c, gamma, beta, eps, y);
}
