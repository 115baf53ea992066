/* elementwise.cu - pointwise ops of the CUDA backend and its error helpers.
 *
 * Mirrors src/nn/act.c and src/nn/elementwise.c: torch.nn's ReLU, LeakyReLU,
 * SiLU, GELU (erf form), Tanh, Sigmoid; add, mul, FiLM scale+shift; plus the
 * per-channel bias add and float <-> half conversions used by conv.cu and
 * gemm.cu. Grid-stride loops over size_t indices, 256 threads per block.
 */
#include <math.h>
#include "ae_cuda.h"

#define EW_THREADS 256

static unsigned ew_blocks(const ae_cuda_ctx *cx, size_t count) {
    size_t b = (count + EW_THREADS - 1) / EW_THREADS, cap = (size_t)(cx->sm_count > 0 ? cx->sm_count : 80) * 32;
    if (b > cap) b = cap;
    return (unsigned)(b ? b : 1);
}

static ae_status launched(const char *what) { return ae_cuda_check(cudaGetLastError(), what); }

/* ---- errors ------------------------------------------------------------- */

extern "C" ae_status ae_cuda_check(cudaError_t e, const char *what) {
    if (e == cudaSuccess) return AE_OK;
    if (e == cudaErrorMemoryAllocation) {
        size_t fr = 0, tot = 0;
        cudaGetLastError();
        if (cudaMemGetInfo(&fr, &tot) != cudaSuccess) fr = tot = 0;
        return ae_error_set(AE_ERR_DEVICE, "%s: out of device memory (%zu of %zu MiB free); try a "
                            "smaller --tile", what, fr >> 20, tot >> 20);
    }
    return ae_error_set(AE_ERR_DEVICE, "%s: CUDA error %s (%s)", what, cudaGetErrorName(e),
                        cudaGetErrorString(e));
}

extern "C" ae_status ae_cuda_check_cudnn(cudnnStatus_t s, const char *what) {
    if (s == CUDNN_STATUS_SUCCESS) return AE_OK;
    if (s == CUDNN_STATUS_ALLOC_FAILED)
        return ae_error_set(AE_ERR_DEVICE, "%s: cuDNN ran out of memory; try a smaller --tile", what);
    return ae_error_set(AE_ERR_DEVICE, "%s: cuDNN error %s", what, cudnnGetErrorString(s));
}

extern "C" ae_status ae_cuda_check_cublas(const ae_cuda_ctx *cx, cublasStatus_t s, const char *what) {
    if (s == CUBLAS_STATUS_SUCCESS) return AE_OK;
    if (s == CUBLAS_STATUS_ALLOC_FAILED)
        return ae_error_set(AE_ERR_DEVICE, "%s: cuBLAS ran out of memory; try a smaller --tile", what);
    if (!cx->blas.status_name || !cx->blas.status_string)
        return ae_error_set(AE_ERR_DEVICE, "%s: cuBLAS error %d", what, (int)s);
    return ae_error_set(AE_ERR_DEVICE, "%s: cuBLAS error %s (%s)", what, cx->blas.status_name(s),
                        cx->blas.status_string(s));
}

__global__ void k_probe(int *p) {
    if (p) *p = 1;
}

extern "C" ae_status ae_cuda_probe(void) {
    cudaFuncAttributes fa;
    cudaError_t e = cudaFuncGetAttributes(&fa, k_probe);
    if (e == cudaErrorNoKernelImageForDevice || e == cudaErrorInvalidDeviceFunction)
        return ae_error_set(AE_ERR_DEVICE, "this build has no CUDA kernels for the GPU's architecture "
                            "(built for sm_80, sm_90 and compute_90 PTX)");
    if (e == cudaErrorUnsupportedPtxVersion || e == cudaErrorInsufficientDriver)
        return ae_error_set(AE_ERR_DEVICE, "the NVIDIA driver is too old for this build's CUDA "
                            "kernels (%s); update the driver", cudaGetErrorString(e));
    return ae_cuda_check(e, "CUDA kernel probe");
}

/* ---- activations -------------------------------------------------------- */

__device__ __forceinline__ float act_one(ae_act kind, float alpha, float s) {
    switch (kind) {
    case AE_ACT_RELU: return s > 0.0f ? s : 0.0f;
    case AE_ACT_LEAKY_RELU: return s > 0.0f ? s : s * alpha;
    case AE_ACT_SILU: return s / (1.0f + expf(-s));
    case AE_ACT_GELU: return 0.5f * s * (1.0f + erff(s * 0.70710678118654752440f));
    case AE_ACT_TANH: return tanhf(s);
    case AE_ACT_SIGMOID: return 1.0f / (1.0f + expf(-s));
    default: return s;
    }
}

__global__ void k_activation(ae_act kind, float alpha, const float *__restrict__ x, float *y, size_t n) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        y[i] = act_one(kind, alpha, x[i]);
}

extern "C" ae_status ae_cuda_activation(ae_cuda_ctx *cx, ae_act kind, float alpha, const float *x,
                                        float *y, size_t count) {
    if (kind < AE_ACT_IDENTITY || kind > AE_ACT_SIGMOID)
        return ae_error_set(AE_ERR_ARG, "activation: unknown kind %d", (int)kind);
    if (kind == AE_ACT_IDENTITY) {
        if (x == y) return AE_OK;
        return ae_cuda_check(cudaMemcpyAsync(y, x, count * sizeof(float), cudaMemcpyDeviceToDevice,
                                             cx->stream), "activation (identity copy)");
    }
    k_activation<<<ew_blocks(cx, count), EW_THREADS, 0, cx->stream>>>(kind, alpha, x, y, count);
    return launched("activation");
}

/* ---- add, mul, scale/shift, bias ---------------------------------------- */

__global__ void k_add(const float *a, const float *b, float *y, size_t n) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        y[i] = a[i] + b[i];
}

__global__ void k_mul(const float *a, const float *b, float *y, size_t n) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        y[i] = a[i] * b[i];
}

extern "C" ae_status ae_cuda_add(ae_cuda_ctx *cx, const float *a, const float *b, float *y, size_t count) {
    k_add<<<ew_blocks(cx, count), EW_THREADS, 0, cx->stream>>>(a, b, y, count);
    return launched("add");
}

extern "C" ae_status ae_cuda_mul(ae_cuda_ctx *cx, const float *a, const float *b, float *y, size_t count) {
    k_mul<<<ew_blocks(cx, count), EW_THREADS, 0, cx->stream>>>(a, b, y, count);
    return launched("mul");
}

/* one block row per (n, c) plane: blockIdx.y = plane, x-blocks stride over HW */
__global__ void k_scale_shift(const float *x, int C, size_t HW, const float *scale, int sn,
                              float scale_bias, const float *shift, int tn, float *y) {
    size_t nc = blockIdx.y;
    int n = (int)(nc / C), c = (int)(nc % C);
    float s = scale_bias + (scale ? scale[(size_t)(sn == 1 ? 0 : n) * C + c] : 0.0f);
    float t = shift ? shift[(size_t)(tn == 1 ? 0 : n) * C + c] : 0.0f;
    const float *src = x + nc * HW;
    float *dst = y + nc * HW;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < HW; i += (size_t)gridDim.x * blockDim.x)
        dst[i] = src[i] * s + t;
}

__global__ void k_bias_add(float *y, const float *b, int C, size_t HW) {
    size_t nc = blockIdx.y;
    float v = b[nc % C];
    float *dst = y + nc * HW;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < HW; i += (size_t)gridDim.x * blockDim.x)
        dst[i] += v;
}

/* grid for per-plane kernels: y = planes (chunked below 65535), x = blocks over HW */
static unsigned plane_xblocks(const ae_cuda_ctx *cx, size_t HW, size_t planes) {
    size_t want = (size_t)(cx->sm_count > 0 ? cx->sm_count : 80) * 8;
    size_t per = (want + planes - 1) / planes, need = (HW + EW_THREADS - 1) / EW_THREADS;
    if (per > need) per = need;
    return (unsigned)(per ? per : 1);
}

#define PLANE_CHUNK 65535

extern "C" ae_status ae_cuda_scale_shift(ae_cuda_ctx *cx, const float *x, int N, int C, size_t HW,
                                         const float *scale, int sn, float scale_bias,
                                         const float *shift, int tn, float *y) {
    size_t planes = (size_t)N * C;
    /* chunks start at a multiple of C so n, c stay derivable from blockIdx.y */
    size_t chunk = PLANE_CHUNK / (size_t)C * (size_t)C;
    if (chunk == 0) return ae_error_set(AE_ERR_ARG, "scale_shift: %d channels are too many", C);
    for (size_t p0 = 0; p0 < planes; p0 += chunk) {
        size_t np = planes - p0 < chunk ? planes - p0 : chunk;
        int n0 = (int)(p0 / C);
        dim3 grid(plane_xblocks(cx, HW, np), (unsigned)np);
        k_scale_shift<<<grid, EW_THREADS, 0, cx->stream>>>(
            x + p0 * HW, C, HW, scale ? scale + (size_t)(sn == 1 ? 0 : n0) * C : NULL, sn, scale_bias,
            shift ? shift + (size_t)(tn == 1 ? 0 : n0) * C : NULL, tn, y + p0 * HW);
        ae_status st = launched("scale_shift");
        if (st) return st;
    }
    return AE_OK;
}

extern "C" ae_status ae_cuda_bias_add(ae_cuda_ctx *cx, float *y, const float *b, int N, int C, size_t HW) {
    size_t planes = (size_t)N * C, chunk = PLANE_CHUNK / (size_t)C * (size_t)C;
    if (chunk == 0) return ae_error_set(AE_ERR_ARG, "bias: %d channels are too many", C);
    for (size_t p0 = 0; p0 < planes; p0 += chunk) {
        size_t np = planes - p0 < chunk ? planes - p0 : chunk;
        dim3 grid(plane_xblocks(cx, HW, np), (unsigned)np);
        k_bias_add<<<grid, EW_THREADS, 0, cx->stream>>>(y + p0 * HW, b, C, HW);
        ae_status st = launched("bias add");
        if (st) return st;
    }
    return AE_OK;
}

/* ---- float <-> half ----------------------------------------------------- */

__global__ void k_f32_to_f16(const float *x, __half *y, size_t n) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        y[i] = __float2half_rn(x[i]);
}

__global__ void k_f16_to_f32_bias(const __half *x, const float *b, float *y, int C, size_t HW) {
    size_t nc = blockIdx.y;
    float v = b ? b[nc % C] : 0.0f;
    const __half *src = x + nc * HW;
    float *dst = y + nc * HW;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < HW; i += (size_t)gridDim.x * blockDim.x)
        dst[i] = __half2float(src[i]) + v;
}

extern "C" ae_status ae_cuda_f32_to_f16(ae_cuda_ctx *cx, const float *x, __half *y, size_t count) {
    k_f32_to_f16<<<ew_blocks(cx, count), EW_THREADS, 0, cx->stream>>>(x, y, count);
    return launched("float to half");
}

extern "C" ae_status ae_cuda_f16_to_f32_bias(ae_cuda_ctx *cx, const __half *x, const float *b, float *y,
                                             int N, int C, size_t HW) {
    size_t planes = (size_t)N * C, chunk = PLANE_CHUNK / (size_t)C * (size_t)C;
    if (chunk == 0) return ae_error_set(AE_ERR_ARG, "half to float: %d channels are too many", C);
    for (size_t p0 = 0; p0 < planes; p0 += chunk) {
        size_t np = planes - p0 < chunk ? planes - p0 : chunk;
        dim3 grid(plane_xblocks(cx, HW, np), (unsigned)np);
        k_f16_to_f32_bias<<<grid, EW_THREADS, 0, cx->stream>>>(x + p0 * HW, b, y + p0 * HW, C, HW);
        ae_status st = launched("half to float");
        if (st) return st;
    }
    return AE_OK;
}
