/* norm.cu - eval-mode BatchNorm2d, GroupNorm and InstanceNorm2d (CUDA).
 *
 * Mirrors src/nn/norm.c. Batch norm: per element y = x * s + t with
 * s = gamma / sqrt(var + eps), t = beta - mean * s. Group norm (instance norm
 * is groups == C): statistics per (n, group) with the biased variance in
 * double: several blocks per group add sum and sum of squares into
 * cx->stats (atomicAdd on doubles), a small kernel turns them into float
 * mean / rstd, and a pointwise kernel applies them with gamma/beta.
 * At most AE_CUDA_STATS_CAP groups per pass, so no op allocates.
 */
#include <math.h>
#include "ae_cuda.h"

#define NT 256

__global__ void k_batchnorm(const float *x, int C, size_t HW, size_t count, const float *mean,
                            const float *var, const float *gamma, const float *beta, float eps, float *y) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < count; i += (size_t)gridDim.x * blockDim.x) {
        int c = (int)((i / HW) % (size_t)C);
        float s = (gamma ? gamma[c] : 1.0f) / sqrtf(var[c] + eps);
        float t = (beta ? beta[c] : 0.0f) - mean[c] * s;
        y[i] = x[i] * s + t;
    }
}

static unsigned blocks_for(const ae_cuda_ctx *cx, size_t count) {
    size_t b = (count + NT - 1) / NT, cap = (size_t)(cx->sm_count > 0 ? cx->sm_count : 80) * 32;
    return (unsigned)(b < 1 ? 1 : b > cap ? cap : b);
}

extern "C" ae_status ae_cuda_batchnorm(ae_cuda_ctx *cx, const float *x, int N, int C, size_t HW,
                                       const float *mean, const float *var, const float *gamma,
                                       const float *beta, float eps, float *y) {
    size_t count = (size_t)N * C * HW;
    k_batchnorm<<<blocks_for(cx, count), NT, 0, cx->stream>>>(x, C, HW, count, mean, var, gamma, beta,
                                                                eps, y);
    return ae_cuda_check(cudaGetLastError(), "batchnorm");
}

__device__ __forceinline__ double warp_sum_d(double v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

/* grid (bpg, groups): block bx of group g sums its slice of the group's len values */
__global__ void k_gn_sums(const float *x, size_t len, size_t slice, double *stats) {
    __shared__ double sh[2][NT / 32];
    size_t g = blockIdx.y, lo = blockIdx.x * slice, hi = lo + slice < len ? lo + slice : len;
    const float *p = x + g * len;
    double s = 0.0, s2 = 0.0;
    for (size_t i = lo + threadIdx.x; i < hi; i += blockDim.x) {
        double v = p[i];
        s += v;
        s2 += v * v;
    }
    s = warp_sum_d(s);
    s2 = warp_sum_d(s2);
    int lane = threadIdx.x & 31, wid = threadIdx.x >> 5;
    if (lane == 0) {
        sh[0][wid] = s;
        sh[1][wid] = s2;
    }
    __syncthreads();
    if (threadIdx.x == 0) {
        double a = 0.0, b = 0.0;
        for (int w = 0; w < NT / 32; w++) {
            a += sh[0][w];
            b += sh[1][w];
        }
        atomicAdd(&stats[2 * g], a);
        atomicAdd(&stats[2 * g + 1], b);
    }
}

__global__ void k_gn_finish(const double *stats, int groups_n, size_t len, float eps, float *mr) {
    int g = blockIdx.x * blockDim.x + threadIdx.x;
    if (g >= groups_n) return;
    double mu = stats[2 * g] / (double)len, var = stats[2 * g + 1] / (double)len - mu * mu;
    if (var < 0.0) var = 0.0;
    mr[2 * g] = (float)mu;
    mr[2 * g + 1] = (float)(1.0 / sqrt(var + (double)eps));
}

/* x, y start at group g0; channel of element i: ((g0 + i/len) % groups)*cg + (i % len)/HW */
__global__ void k_gn_apply(const float *x, size_t count, size_t len, size_t HW, int groups, int cg, int g0,
                           const float *mr, const float *gamma, const float *beta, float *y) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < count; i += (size_t)gridDim.x * blockDim.x) {
        size_t gl = i / len;
        int c = (int)(((size_t)g0 + gl) % (size_t)groups) * cg + (int)((i % len) / HW);
        float a = mr[2 * gl + 1] * (gamma ? gamma[c] : 1.0f);
        float b = (beta ? beta[c] : 0.0f) - mr[2 * gl] * a;
        y[i] = x[i] * a + b;
    }
}

extern "C" ae_status ae_cuda_groupnorm(ae_cuda_ctx *cx, const float *x, int N, int C, size_t HW,
                                       int groups, const float *gamma, const float *beta, float eps,
                                       float *y) {
    int cg = C / groups;
    size_t len = (size_t)cg * HW, total = (size_t)N * groups;
    size_t want = (size_t)(cx->sm_count > 0 ? cx->sm_count : 80) * 4;
    for (size_t g0 = 0; g0 < total; g0 += AE_CUDA_STATS_CAP) {
        size_t ng = total - g0 < AE_CUDA_STATS_CAP ? total - g0 : AE_CUDA_STATS_CAP;
        size_t bpg = (want + ng - 1) / ng, maxb = (len + 2047) / 2048;
        if (bpg > maxb) bpg = maxb;
        if (bpg < 1) bpg = 1;
        if (bpg > 65535) bpg = 65535;
        size_t slice = (len + bpg - 1) / bpg;
        const float *xs = x + g0 * len;
        float *ys = y + g0 * len;
        ae_status st = ae_cuda_check(cudaMemsetAsync(cx->stats, 0, 2 * ng * sizeof(double), cx->stream),
                                     "groupnorm");
        if (st) return st;
        for (size_t c0 = 0; c0 < ng; c0 += 65535) { /* gridDim.y <= 65535 */
            size_t nc = ng - c0 < 65535 ? ng - c0 : 65535;
            dim3 grid((unsigned)bpg, (unsigned)nc);
            k_gn_sums<<<grid, NT, 0, cx->stream>>>(xs + c0 * len, len, slice, cx->stats + 2 * c0);
        }
        k_gn_finish<<<(unsigned)((ng + NT - 1) / NT), NT, 0, cx->stream>>>(cx->stats, (int)ng, len, eps,
                                                                          cx->stats_f);
        size_t count = ng * len;
        k_gn_apply<<<blocks_for(cx, count), NT, 0, cx->stream>>>(xs, count, len, HW, groups, cg, (int)g0,
                                                                 cx->stats_f, gamma, beta, ys);
        st = ae_cuda_check(cudaGetLastError(), "groupnorm");
        if (st) return st;
    }
    return AE_OK;
}
