/* embed.cu - SR3's PositionalEncoding of the noise level (CUDA), as
 * src/nn/embed.c: count = dim/2, e_j = gamma * exp(-ln(1e4) * j/count),
 * y[n] = cat(sin(e), cos(e)), in float. The host noise levels are copied into
 * cx->small (AE_CUDA_SMALL_CAP at a time) before the kernel reads them. */
#include <math.h>
#include "ae_cuda.h"

__global__ void k_noise_embed(const float *gamma, int N, int count, float ln1e4, float *y) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= N * count) return;
    int n = i / count, j = i % count;
    float step = __fdiv_rn((float)j, (float)count);
    float e = __fmul_rn(gamma[n], expf(__fmul_rn(-ln1e4, step)));
    float *o = y + (size_t)n * 2 * count;
    o[j] = sinf(e);
    o[count + j] = cosf(e);
}

extern "C" ae_status ae_cuda_noise_embed(ae_cuda_ctx *cx, const float *gamma_host, int N, int dim, float *y) {
    int count = dim / 2;
    const float ln1e4 = (float)log(1e4);
    for (int n0 = 0; n0 < N; n0 += AE_CUDA_SMALL_CAP) {
        int nn = N - n0 < AE_CUDA_SMALL_CAP ? N - n0 : AE_CUDA_SMALL_CAP;
        ae_status st = ae_cuda_check(cudaMemcpyAsync(cx->small, gamma_host + n0, (size_t)nn * sizeof(float),
                                                     cudaMemcpyHostToDevice, cx->stream),
                                     "noise_embed upload");
        if (st) return st;
        long total = (long)nn * count;
        k_noise_embed<<<(unsigned)((total + 255) / 256), 256, 0, cx->stream>>>(cx->small, nn, count, ln1e4,
                                                                               y + (size_t)n0 * dim);
        st = ae_cuda_check(cudaGetLastError(), "noise_embed");
        if (st) return st;
    }
    return AE_OK;
}
