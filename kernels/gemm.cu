/* gemm.cu - F.linear on cuBLAS (CUDA backend), mirroring ae_linear_cpu.
 *
 * Row-major y[n, out] = x[n, in] w[out, in]^T is, in cuBLAS's column-major
 * terms, Y^T (out x n) = W^T(op T of the in x out matrix w) * X^T (in x n):
 * one cublasGemmEx with float operands. fp32 computes with TF32 tensor cores
 * allowed, fp16 with CUBLAS_COMPUTE_32F_FAST_16F (operands rounded to half,
 * float accumulation). The bias is added afterwards.
 */
#include "ae_cuda.h"

extern "C" cublasComputeType_t ae_cuda_gemm_compute(const ae_cuda_ctx *cx) {
    return cx->prec == AE_CUDA_FP16 ? CUBLAS_COMPUTE_32F_FAST_16F : CUBLAS_COMPUTE_32F_FAST_TF32;
}

__global__ void k_row_bias(float *y, const float *b, int out, size_t count) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < count; i += (size_t)gridDim.x * blockDim.x)
        y[i] += b[i % (size_t)out];
}

extern "C" ae_status ae_cuda_linear(ae_cuda_ctx *cx, const float *x, int n, int in, const float *w,
                                    const float *b, float *y, int out) {
    const float one = 1.0f, zero = 0.0f;
    ae_status st = ae_cuda_check_cublas(
        cx, cx->blas.gemm_ex(cx->cublas, CUBLAS_OP_T, CUBLAS_OP_N, out, n, in, &one, w, CUDA_R_32F, in, x,
                     CUDA_R_32F, in, &zero, y, CUDA_R_32F, out, ae_cuda_gemm_compute(cx),
                     CUBLAS_GEMM_DEFAULT),
        "linear");
    if (st || !b) return st;
    size_t count = (size_t)n * out, blocks = (count + 255) / 256;
    if (blocks > 65535) blocks = 65535;
    k_row_bias<<<(unsigned)blocks, 256, 0, cx->stream>>>(y, b, out, count);
    return ae_cuda_check(cudaGetLastError(), "linear bias");
}
