/* vmath.c - vectorised expf and the pointwise loops built on it (SiLU,
 * sigmoid, the exp-and-sum of a softmax row).
 *
 * libm's expf is a call per element, which the compiler cannot vectorise.
 * ae_vexpf is branch-free straight-line code the compiler vectorises:
 *   x = clamp(x, -87.3, 88.3)             (2^k stays a normal float)
 *   k = round(x / ln 2)                   (adding 1.5*2^23 rounds; k is then in
 *                                          the low mantissa bits)
 *   r = x - k*ln2_hi - k*ln2_lo           (Cody-Waite: k*ln2_hi is exact)
 *   exp(r) = Taylor series to r^7 / 7!    (|r| <= ln2/2: truncation < 1e-8)
 *   exp(x) = exp(r) * 2^k                 (2^k built in the exponent bits)
 * test_ops measures its max relative error against double exp. Below -87.3
 * it returns exp(-87.3) ~ 1.2e-38 instead of a denormal or zero.
 * Each loop is compiled for AVX-512, AVX2+FMA and the baseline ISA and picked
 * at run time (GCC target_clones); -std=c11 leaves FMA contraction off, so
 * every clone computes the same float operations.
 */
#include <stdint.h>
#include <string.h>
#include "cpu_ops.h"

#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__)
#define AE_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define AE_CLONES
#endif

static inline float vexpf(float x) {
    const float shifter = 12582912.0f; /* 1.5 * 2^23: adding it rounds to an integer */
    x = x > -87.3f ? x : -87.3f;
    x = x < 88.3f ? x : 88.3f;
    float ks = x * 1.44269504088896341f + shifter, kf = ks - shifter;
    int32_t kbits; /* ks's low mantissa bits hold k: no float->int conversion, */
    memcpy(&kbits, &ks, sizeof kbits); /* which (may trap) would stop vectorisation */
    float r = x - kf * 0.693145751953125f;
    r = r - kf * 1.428606765330187045e-06f;
    float p = 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    int32_t bits = (kbits - 0x4b400000 + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

float ae_vexpf(float x) { return vexpf(x); }

AE_CLONES void ae_vexp_n(const float *x, float *y, long n) {
#pragma omp simd
    for (long i = 0; i < n; i++) y[i] = vexpf(x[i]);
}

AE_CLONES void ae_silu_n(const float *x, float *y, long n) {
#pragma omp simd
    for (long i = 0; i < n; i++) y[i] = x[i] / (1.0f + vexpf(-x[i]));
}

AE_CLONES void ae_sigmoid_n(const float *x, float *y, long n) {
#pragma omp simd
    for (long i = 0; i < n; i++) y[i] = 1.0f / (1.0f + vexpf(-x[i]));
}

/* One softmax row in place: max, exp(x - max) with its sum, scale by 1/sum. */
AE_CLONES void ae_softmax_row(float *p, long n) {
    float m = p[0], sum = 0.0f;
#pragma omp simd reduction(max : m)
    for (long j = 0; j < n; j++) m = p[j] > m ? p[j] : m;
#pragma omp simd reduction(+ : sum)
    for (long j = 0; j < n; j++) {
        p[j] = vexpf(p[j] - m);
        sum += p[j];
    }
    float inv = 1.0f / sum;
#pragma omp simd
    for (long j = 0; j < n; j++) p[j] *= inv;
}
