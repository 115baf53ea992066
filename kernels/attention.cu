/* attention.cu - multi-head softmax attention over spatial positions (CUDA).
 *
 * Mirrors src/nn/attention.c: per (batch, head) with P = h*w positions,
 *   S = scale * Q^T K (a chunk of query rows), S = softmax(S, rows), Y = V S^T,
 * with Q, K, V the head_dim x P channel slices of NCHW tensors read in place.
 * The heads of one batch item go through cublasGemmStridedBatchedEx together
 * (heads are head_stride*P floats apart) when their scores fit the
 * workspace, else one head at a time; the softmax is one block per row.
 * GEMM precision follows cx->prec (gemm.cu); the softmax is float.
 */
#include <float.h>
#include <stdint.h>
#include <math.h>
#include "ae_cuda.h"

#define ATTN_WS_FLOATS ((size_t)1 << 24) /* 64 MiB of scores per chunk */
#define SM_THREADS 256

/* Heads per batched GEMM (hb) and query rows per chunk (rc) for P positions. */
static void attn_plan(const ae_attn_desc *d, size_t P, size_t *hb, size_t *rc) {
    size_t h = (size_t)d->heads, r;
    if (h * P <= ATTN_WS_FLOATS) {
        *hb = h;
        r = ATTN_WS_FLOATS / (h * P);
    } else {
        *hb = 1;
        r = ATTN_WS_FLOATS / (P ? P : 1);
    }
    if (r < 1) r = 1;
    *rc = r < P ? r : P;
}

extern "C" size_t ae_cuda_attention_ws(const ae_attn_desc *d, int P) {
    size_t hb, rc;
    attn_plan(d, (size_t)P, &hb, &rc);
    return hb * rc * (size_t)P * sizeof(float);
}

__device__ __forceinline__ float warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

__device__ __forceinline__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

/* block-wide reduction (max when is_max, else sum); every thread gets the result */
__device__ float block_reduce(float v, int is_max, float *sh) {
    int lane = threadIdx.x & 31, wid = threadIdx.x >> 5, nw = (blockDim.x + 31) >> 5;
    v = is_max ? warp_max(v) : warp_sum(v);
    __syncthreads();
    if (lane == 0) sh[wid] = v;
    __syncthreads();
    float r = threadIdx.x < nw ? sh[threadIdx.x] : (is_max ? -INFINITY : 0.0f);
    if (wid == 0) r = is_max ? warp_max(r) : warp_sum(r);
    if (threadIdx.x == 0) sh[32] = r;
    __syncthreads();
    return sh[32];
}

__global__ void k_softmax_rows(float *s, size_t P) {
    __shared__ float sh[33];
    float *p = s + (size_t)blockIdx.x * P;
    float m = -INFINITY;
    for (size_t j = threadIdx.x; j < P; j += blockDim.x) m = fmaxf(m, p[j]);
    m = block_reduce(m, 1, sh);
    float sum = 0.0f;
    for (size_t j = threadIdx.x; j < P; j += blockDim.x) {
        float e = expf(p[j] - m);
        p[j] = e;
        sum += e;
    }
    sum = block_reduce(sum, 0, sh);
    float inv = 1.0f / sum;
    for (size_t j = threadIdx.x; j < P; j += blockDim.x) p[j] *= inv;
}

/* One chunk: hbc heads starting at Q/K/V/Y, query rows p0 .. p0+m-1. */
static ae_status attn_chunk(ae_cuda_ctx *cx, const ae_attn_desc *d, size_t P, int hbc, const float *Q,
                            const float *K, const float *V, float *Y, size_t p0, size_t m, float *S) {
    long long hs = (long long)d->head_stride * (long long)P, sS = (long long)(m * P);
    long long sY = (long long)d->head_dim * (long long)P;
    const float one = 1.0f, zero = 0.0f;
    int iP = (int)P, im = (int)m;
    ae_status st = ae_cuda_check_cublas(
        cx, cx->blas.gemm_strided_batched_ex(cx->cublas, CUBLAS_OP_N, CUBLAS_OP_T, iP, im, d->head_dim, &d->scale,
                                   K, CUDA_R_32F, iP, hs, Q + p0, CUDA_R_32F, iP, hs, &zero, S,
                                   CUDA_R_32F, iP, sS, hbc, ae_cuda_gemm_compute(cx), CUBLAS_GEMM_DEFAULT),
        "attention scores");
    if (st) return st;
    k_softmax_rows<<<(unsigned)((size_t)hbc * m), SM_THREADS, 0, cx->stream>>>(S, P);
    st = ae_cuda_check(cudaGetLastError(), "attention softmax");
    if (st) return st;
    return ae_cuda_check_cublas(
        cx, cx->blas.gemm_strided_batched_ex(cx->cublas, CUBLAS_OP_T, CUBLAS_OP_N, im, d->head_dim, iP, &one, S,
                                   CUDA_R_32F, iP, sS, V, CUDA_R_32F, iP, hs, &zero, Y + p0, CUDA_R_32F,
                                   iP, sY, hbc, ae_cuda_gemm_compute(cx), CUBLAS_GEMM_DEFAULT),
        "attention values");
}

extern "C" ae_status ae_cuda_attention(ae_cuda_ctx *cx, const ae_attn_desc *d, int n, int P,
                                       const float *q, int cq, const float *k, int ck, const float *v,
                                       int cv, float *y, int cy, float *ws, size_t ws_bytes) {
    size_t hb, rc, need = ae_cuda_attention_ws(d, P), uP = (size_t)P;
    if (!ws || ws_bytes < need)
        return ae_error_set(AE_ERR_ARG, "attention: workspace of %zu bytes, %zu needed", ws_bytes, need);
    if (uP > (size_t)INT32_MAX / 2)
        return ae_error_set(AE_ERR_SHAPE, "attention: %d positions are too many", P);
    attn_plan(d, uP, &hb, &rc);
    for (int b = 0; b < n; b++)
        for (int h0 = 0; h0 < d->heads; h0 += (int)hb) {
            int hbc = d->heads - h0 < (int)hb ? d->heads - h0 : (int)hb;
            const float *Q = q + ((size_t)b * cq + d->q_off + (size_t)h0 * d->head_stride) * uP;
            const float *K = k + ((size_t)b * ck + d->k_off + (size_t)h0 * d->head_stride) * uP;
            const float *V = v + ((size_t)b * cv + d->v_off + (size_t)h0 * d->head_stride) * uP;
            float *Y = y + ((size_t)b * cy + (size_t)h0 * d->head_dim) * uP;
            for (size_t p0 = 0; p0 < uP; p0 += rc) {
                size_t m = uP - p0 < rc ? uP - p0 : rc;
                ae_status st = attn_chunk(cx, d, uP, hbc, Q, K, V, Y, p0, m, ws);
                if (st) return st;
            }
        }
    return AE_OK;
}
