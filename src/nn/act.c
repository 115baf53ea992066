/* act.c - pointwise activations on the CPU, as torch.nn's ReLU, LeakyReLU,
 * SiLU, GELU (exact erf form, F.gelu's default), Tanh and Sigmoid. SiLU and
 * sigmoid use the vectorised exp of vmath.c. */
#include <math.h>
#include "astroenh/backend.h"
#include "cpu_ops.h"

/* Runs a vectorised loop over chunks of 16k floats (64-byte aligned starts),
 * on the OpenMP threads when there is enough work. */
static void pointwise(void (*fn)(const float *, float *, long), const float *s, float *d, long n) {
    const long chunk = 16384;
    long chunks = (n + chunk - 1) / chunk;
#pragma omp parallel for schedule(static) if (n >= AE_PAR_MIN)
    for (long c = 0; c < chunks; c++) {
        long i0 = c * chunk;
        fn(s + i0, d + i0, n - i0 < chunk ? n - i0 : chunk);
    }
}

ae_status ae_activation_cpu(const ae_backend *be, ae_act kind, float alpha, const ae_tensor *x,
                            ae_tensor *y) {
    (void)be;
    ae_status st = ae_check_same("activation", x, y);
    if (st) return st;
    const float *s = x->data;
    float *d = y->data;
    long n = (long)ae_tensor_numel(x);
    switch (kind) {
    case AE_ACT_IDENTITY:
        if (d != s)
#pragma omp parallel for schedule(static) if (n >= AE_PAR_MIN)
            for (long i = 0; i < n; i++) d[i] = s[i];
        break;
    case AE_ACT_RELU:
#pragma omp parallel for schedule(static) if (n >= AE_PAR_MIN)
        for (long i = 0; i < n; i++) d[i] = s[i] > 0.0f ? s[i] : 0.0f;
        break;
    case AE_ACT_LEAKY_RELU:
#pragma omp parallel for schedule(static) if (n >= AE_PAR_MIN)
        for (long i = 0; i < n; i++) d[i] = s[i] > 0.0f ? s[i] : s[i] * alpha;
        break;
    case AE_ACT_SILU:
        pointwise(ae_silu_n, s, d, n);
        break;
    case AE_ACT_GELU:
#pragma omp parallel for schedule(static) if (n >= AE_PAR_MIN)
        for (long i = 0; i < n; i++) d[i] = 0.5f * s[i] * (1.0f + erff(s[i] * (float)M_SQRT1_2));
        break;
    case AE_ACT_TANH:
#pragma omp parallel for schedule(static) if (n >= AE_PAR_MIN)
        for (long i = 0; i < n; i++) d[i] = tanhf(s[i]);
        break;
    case AE_ACT_SIGMOID:
        pointwise(ae_sigmoid_n, s, d, n);
        break;
    default:
        return ae_error_set(AE_ERR_ARG, "activation: unknown kind %d", (int)kind);
    }
    return AE_OK;
}
