/* bilateral.c - exact edge-preserving bilateral filter (Tomasi & Manduchi 1998).
 *
 * What cv::bilateralFilter computes, with a joint range kernel on the colour
 * distance (each channel divided by its own range sigma, so linear FITS data
 * in counts and display data in 0..1 are treated alike) and NaN support.
 * Speed comes from the loop order, not from an approximation: for each output
 * row and each tap (dy,dx) of the truncated disc, one contiguous pass over x
 * that the compiler vectorises, with exp() replaced by a polynomial 2^x
 * (relative error < 3e-6, so the result is the exact filter to float
 * rounding). Rows are shared out with OpenMP.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "astroenh/denoise.h"

#define NAN_SENTINEL 1e15f

typedef float v4sf __attribute__((vector_size(16)));
typedef int32_t v4si __attribute__((vector_size(16)));

/* exp(-t) for t >= 0, W lanes at a time (GCC/Clang vector extensions, so the
 * compiler need not prove anything to vectorise): x = -t log2(e) split into
 * floor and fraction; 2^(f-0.5) by its degree-5 Taylor series times sqrt(2);
 * t >= 80 gives 0. One body for the 4-, 8- and 16-lane types, so every width
 * computes the same float operations lane for lane (bit-identical results). */
#define EXP_NEG_BODY(VF, VI, t)                                                                    \
    VF lim = (VF){0} + 80.0f;                                                                      \
    VI ok = t < lim;                                                                               \
    t = (VF)(((VI)t & ok) | ((VI)lim & ~ok));                                                      \
    VF x = -t * 1.44269504f;                                                                       \
    VI xi = __builtin_convertvector(x, VI);                                                        \
    xi += (__builtin_convertvector(xi, VF) > x);                                                   \
    VF g = x - __builtin_convertvector(xi, VF) - 0.5f;                                             \
    VF p = g * 1.3333558e-3f + 9.6181291e-3f;                                                      \
    p = p * g + 5.5504109e-2f;                                                                     \
    p = p * g + 2.4022651e-1f;                                                                     \
    p = p * g + 6.9314718e-1f;                                                                     \
    p = p * g + 1.0f;                                                                              \
    VF s = (VF)((xi + 127) << 23);                                                                 \
    return (VF)((VI)(p * s * 1.41421356f) & ok)

static inline v4sf exp_neg4(v4sf t) { EXP_NEG_BODY(v4sf, v4si, t); }

static inline v4sf ld4(const float *p) {
    v4sf v;
    memcpy(&v, p, sizeof v);
    return v;
}
static inline void st4(float *p, v4sf v) { memcpy(p, &v, sizeof v); }

typedef struct {
    int dy, dx;
    float ws;
} tap;

/* Accumulates one tap over x in [x0,x1): a = centre rows, b = shifted
 * rows (c of each), num[c][w], den[w]. The hot loop of the filter: cloned
 * for x86-64-v3 (VEX encoding and FMA where the CPU has them; the vectors
 * stay 16 bytes, whose calling convention needs no AVX). */
__attribute__((target_clones("arch=x86-64-v3", "default"))) static void row_taps(float *num, float *den, const float *const a[3], const float *const b[3], int c, int w,
                     int x0, int x1, float ws, float inv) {
    int x = x0;
    for (; x + 4 <= x1; x += 4) {
        v4sf d2 = {0, 0, 0, 0}, bv[3];
        for (int ch = 0; ch < c; ch++) {
            bv[ch] = ld4(b[ch] + x);
            v4sf d = ld4(a[ch] + x) - bv[ch];
            d2 += d * d;
        }
        v4sf wt = ws * exp_neg4(d2 * inv);
        st4(den + x, ld4(den + x) + wt);
        for (int ch = 0; ch < c; ch++) st4(num + (size_t)ch * w + x, ld4(num + (size_t)ch * w + x) + wt * bv[ch]);
    }
    for (; x < x1; x++) {
        float d2 = 0.0f;
        for (int ch = 0; ch < c; ch++) d2 += (a[ch][x] - b[ch][x]) * (a[ch][x] - b[ch][x]);
        float wt = d2 * inv < 80.0f ? ws * expf(-d2 * inv) : 0.0f;
        den[x] += wt;
        for (int ch = 0; ch < c; ch++) num[(size_t)ch * w + x] += wt * b[ch][x];
    }
}

typedef void (*row_taps_fn)(float *num, float *den, const float *const a[3], const float *const b[3], int c, int w,
                            int x0, int x1, float ws, float inv);

#if defined(__x86_64__) && defined(__GNUC__)
/* The same tap eight (AVX2) or sixteen (AVX-512F) pixels a step, for CPUs
 * that have them. The wide vectors never cross a function boundary (exp_negW
 * is always inlined into its function), so there is no ABI question for
 * either compiler. Lane for lane the arithmetic is exp_neg4's and row_taps',
 * and what is left after the wide steps goes down to the narrower versions,
 * so the output is bit-identical to row_taps'. */
typedef float v8sf __attribute__((vector_size(32)));
typedef int32_t v8si __attribute__((vector_size(32)));
/* unaligned, may-alias view for loads and stores (a 32-byte memcpy into a
 * vector array was split into two 16-byte stores and stalled the reload) */
typedef float v8sf_u __attribute__((vector_size(32), aligned(4), may_alias));
typedef float v16sf __attribute__((vector_size(64)));
typedef int32_t v16si __attribute__((vector_size(64)));
typedef float v16sf_u __attribute__((vector_size(64), aligned(4), may_alias));

/* row_taps W lanes a step for an ISA (exp_negW always inlined into it), the
 * rest handed to the next narrower version `tail`. */
#define WIDE_ROW_TAPS(W, VF, VI, VFU, ISA, tail)                                                   \
    __attribute__((target(ISA), always_inline)) static inline VF exp_neg##W(VF t) {               \
        EXP_NEG_BODY(VF, VI, t);                                                                   \
    }                                                                                              \
    __attribute__((target(ISA))) static void row_taps##W(float *num, float *den, const float *const a[3], \
                                                         const float *const b[3], int c, int w, int x0,   \
                                                         int x1, float ws, float inv) {                   \
        int x = x0;                                                                                \
        for (; x + W <= x1; x += W) {                                                              \
            VF d2 = {0};                                                                           \
            for (int ch = 0; ch < c; ch++) {                                                       \
                VF d = *(const VFU *)(a[ch] + x) - *(const VFU *)(b[ch] + x);                      \
                d2 += d * d;                                                                       \
            }                                                                                      \
            VF wt = ws * exp_neg##W(d2 * inv);                                                     \
            *(VFU *)(den + x) += wt;                                                               \
            for (int ch = 0; ch < c; ch++) *(VFU *)(num + (size_t)ch * w + x) += wt * *(const VFU *)(b[ch] + x); \
        }                                                                                          \
        if (x < x1) tail(num, den, a, b, c, w, x, x1, ws, inv);                                    \
    }

WIDE_ROW_TAPS(8, v8sf, v8si, v8sf_u, "avx2", row_taps)
/* sixteen a step (AVX-512F): on the benchmark's 40 images (1 thread) the
 * filter took 0.148 s against the 8-wide 0.211 s */
WIDE_ROW_TAPS(16, v16sf, v16si, v16sf_u, "avx512f", row_taps8)

static row_taps_fn pick_row_taps(void) {
    if (!__builtin_cpu_supports("avx2")) return row_taps;
    return __builtin_cpu_supports("avx512f") ? row_taps16 : row_taps8; /* row_taps16 ends in row_taps8 */
}
#else
static row_taps_fn pick_row_taps(void) { return row_taps; }
#endif

/* One output row y of the filter on the scaled copy s (NaN -> sentinel). */
static void filter_row(float *out, const float *in, const float *s, int c, int h, int w, int y, const tap *taps,
                       int ntaps, float inv, const float *sr, float *num, float *den, row_taps_fn row_taps) {
    size_t hw = (size_t)h * w;
    memset(num, 0, (size_t)c * w * sizeof *num);
    memset(den, 0, (size_t)w * sizeof *den);
    const float *a[3] = {0};
    for (int ch = 0; ch < c; ch++) a[ch] = s + ch * hw + (size_t)y * w;
    for (int k = 0; k < ntaps; k++) {
        int yy = y + taps[k].dy, dx = taps[k].dx;
        if (yy < 0 || yy >= h) continue;
        int x0 = dx < 0 ? -dx : 0, x1 = dx > 0 ? w - dx : w;
        if (x1 <= x0) continue;
        const float *b[3] = {0};
        for (int ch = 0; ch < c; ch++) b[ch] = s + ch * hw + (size_t)yy * w + dx;
        row_taps(num, den, a, b, c, w, x0, x1, taps[k].ws, inv);
    }
    for (int ch = 0; ch < c; ch++) {
        const float *src = in + ch * hw + (size_t)y * w;
        float *dst = out + ch * hw + (size_t)y * w;
        for (int x = 0; x < w; x++) dst[x] = isfinite(src[x]) ? num[(size_t)ch * w + x] / den[x] * sr[ch] : NAN;
    }
}

static tap *make_taps(float sigma_s, int radius, int *ntaps) {
    size_t side = (size_t)(2 * radius + 1);
    tap *t = ae_malloc(side * side * sizeof *t, "bilateral taps");
    if (!t) return NULL;
    int n = 0;
    for (int dy = -radius; dy <= radius; dy++)
        for (int dx = -radius; dx <= radius; dx++) {
            float r2 = (float)(dx * dx + dy * dy);
            if (r2 > (float)radius * radius + 0.5f) continue;
            t[n++] = (tap){dy, dx, expf(-r2 / (2.0f * sigma_s * sigma_s))};
        }
    *ntaps = n;
    return t;
}

ae_status ae_bilateral(float *out, const float *in, int c, int h, int w, float sigma_s, const float *sigma_r,
                       int radius) {
    if (!out || !in || !sigma_r || c < 1 || c > 3 || h <= 0 || w <= 0)
        return ae_error_set(AE_ERR_ARG, "ae_bilateral: bad arguments (c=%d, %dx%d)", c, w, h);
    if (!(sigma_s > 0.0f) || sigma_s > 100.0f)
        return ae_error_set(AE_ERR_ARG, "bilateral: sigma_s %g must be in (0, 100]", sigma_s);
    for (int ch = 0; ch < c; ch++)
        if (!(sigma_r[ch] > 0.0f) || !isfinite(sigma_r[ch]))
            return ae_error_set(AE_ERR_ARG, "bilateral: range sigma of channel %d is %g, must be > 0", ch,
                                sigma_r[ch]);
    if (radius <= 0) radius = (int)ceilf(2.0f * sigma_s);
    size_t n;
    if (ae_mul3_size((size_t)c, (size_t)h, (size_t)w, &n) || n > SIZE_MAX / sizeof(float))
        return ae_error_set(AE_ERR_NOMEM, "bilateral: image %dx%dx%d too large", c, h, w);
    float *s = ae_malloc(n * sizeof *s, "bilateral scaled copy");
    int ntaps = 0;
    tap *taps = s ? make_taps(sigma_s, radius, &ntaps) : NULL;
    if (!taps) {
        free(s);
        return AE_ERR_NOMEM;
    }
    size_t hw = (size_t)h * w;
    for (int ch = 0; ch < c; ch++) {
        float k = 1.0f / sigma_r[ch];
        for (size_t i = 0; i < hw; i++) {
            float v = in[ch * hw + i];
            s[ch * hw + i] = isfinite(v) ? v * k : NAN_SENTINEL;
        }
    }
    float inv = 1.0f / (2.0f * (float)c);
    row_taps_fn rt = pick_row_taps();
    int failed = 0;
#pragma omp parallel if (n * (size_t)ntaps > (1u << 26)) /* small frames: no barrier cost */
    {
        float *num = malloc(((size_t)c + 1) * w * sizeof *num);
        if (!num) {
#pragma omp atomic write
            failed = 1;
        }
#pragma omp for schedule(dynamic, 4)
        for (int y = 0; y < h; y++)
            if (num) filter_row(out, in, s, c, h, w, y, taps, ntaps, inv, sigma_r, num, num + (size_t)c * w, rt);
        free(num);
    }
    free(taps);
    free(s);
    if (failed) return ae_error_set(AE_ERR_NOMEM, "bilateral: out of memory for row buffers (width %d)", w);
    return AE_OK;
}
