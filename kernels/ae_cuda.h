/* ae_cuda.h - C-callable launchers of the CUDA backend (the .cu files here).
 *
 * The host side (src/backend/cuda.c) owns an ae_cuda_ctx (stream, cuDNN and
 * cuBLAS handles, precision, scratch) and calls these launchers with DEVICE
 * pointers only: activations from the arena, weights already uploaded by its
 * weight cache. Launchers mirror the CPU ops of src/nn/ (same formulas, same
 * index rules); shape checks are done by the caller, so launchers assume
 * valid, non-empty shapes. Every launcher queues work on cx->stream and
 * returns AE_OK or AE_ERR_DEVICE with a message naming the op and the CUDA /
 * cuDNN / cuBLAS error ("out of device memory" for allocation failures, so a
 * caller can retry with smaller tiles). Launch errors are caught at once;
 * errors of the running kernels surface at the next synchronisation.
 *
 * One file per op family: conv.cu (cuDNN), gemm.cu (cuBLAS linear),
 * attention.cu (cuBLAS + softmax), elementwise.cu (activations, add, mul,
 * scale/shift, concat, bias, fp16 conversion, error helpers), norm.cu,
 * upsample.cu (interpolate, pixel shuffle), pool.cu, embed.cu.
 */
#ifndef ASTROENH_AE_CUDA_H
#define ASTROENH_AE_CUDA_H

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>
#include <stddef.h>

#ifdef __cplusplus
#include <cuda_fp16.h>
typedef __half ae_half;
#else
typedef unsigned short ae_half; /* the storage of a CUDA __half, for C callers */
#endif

#ifdef __cplusplus
extern "C" {
#endif

#include "astroenh/backend.h"

/* --precision fp32 (default): float storage, TF32 tensor cores allowed in
 * convolutions and GEMMs. fp16: convolutions run on half copies of the input,
 * output and weights (float accumulation); GEMMs take float operands rounded
 * to half on the tensor cores (CUBLAS_COMPUTE_32F_FAST_16F); everything else
 * stays float. */
typedef enum { AE_CUDA_FP32 = 0, AE_CUDA_FP16 } ae_cuda_precision;

typedef struct ae_cuda_conv_cache ae_cuda_conv_cache; /* conv.cu */

/* cuBLAS entry points, resolved with dlopen when the backend is created
 * (src/backend/cuda.c): linking libcublas makes every astroenh process,
 * GPU or not, spend ~0.6 s of CPU at start-up on libcublasLt. */
typedef struct {
    void *lib; /* dlopen handle */
    cublasStatus_t (*create)(cublasHandle_t *h);
    cublasStatus_t (*destroy)(cublasHandle_t h);
    cublasStatus_t (*set_stream)(cublasHandle_t h, cudaStream_t s);
    cublasStatus_t (*gemm_ex)(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n,
                              int k, const void *alpha, const void *A, cudaDataType at, int lda,
                              const void *B, cudaDataType bt, int ldb, const void *beta, void *C,
                              cudaDataType ct, int ldc, cublasComputeType_t comp, cublasGemmAlgo_t algo);
    cublasStatus_t (*gemm_strided_batched_ex)(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb,
                                              int m, int n, int k, const void *alpha, const void *A,
                                              cudaDataType at, int lda, long long sa, const void *B,
                                              cudaDataType bt, int ldb, long long sb, const void *beta,
                                              void *C, cudaDataType ct, int ldc, long long sc, int batch,
                                              cublasComputeType_t comp, cublasGemmAlgo_t algo);
    const char *(*status_name)(cublasStatus_t s);
    const char *(*status_string)(cublasStatus_t s);
} ae_cublas_api;

#define AE_CUDA_STATS_CAP 65536 /* norm groups handled per statistics pass */
#define AE_CUDA_SMALL_CAP 4096  /* floats of cx->small (noise levels) */

typedef struct {
    int device;
    int sm_count;
    cudaStream_t stream;
    cudnnHandle_t cudnn;
    cublasHandle_t cublas;
    ae_cublas_api blas;
    ae_cuda_precision prec;
    size_t conv_ws_limit;     /* largest cuDNN workspace an algorithm may ask for */
    ae_cuda_conv_cache *conv; /* algorithm chosen per shape (conv.cu) */
    double *stats;            /* device: 2 * AE_CUDA_STATS_CAP sums */
    float *stats_f;           /* device: 2 * AE_CUDA_STATS_CAP mean / rstd */
    float *small;             /* device: AE_CUDA_SMALL_CAP floats */
} ae_cuda_ctx;

/* ---- errors (elementwise.cu) */
ae_status ae_cuda_check(cudaError_t e, const char *what);
ae_status ae_cuda_check_cudnn(cudnnStatus_t s, const char *what);
ae_status ae_cuda_check_cublas(const ae_cuda_ctx *cx, cublasStatus_t s, const char *what);
/* AE_OK when this binary holds kernel code the current device can run, else
 * AE_ERR_DEVICE saying why (no image for its architecture, PTX too new for
 * the driver). */
ae_status ae_cuda_probe(void);

/* ---- convolution (conv.cu): cuDNN, algorithm found once per shape and
 * precision with cudnnFind*, cached in cx->conv. Workspace = the algorithm's
 * workspace + (fp16) half copies of x and y. */
ae_status ae_cuda_conv_cache_create(ae_cuda_conv_cache **out);
void ae_cuda_conv_cache_free(ae_cuda_conv_cache *c); /* NULL-safe */
/* Bytes of workspace; 0 when the shape cannot be planned (the op then reports why). */
size_t ae_cuda_conv2d_ws(ae_cuda_ctx *cx, const ae_conv2d_desc *d, int n, int h, int w);
/* x: n x cin x h x w; wt: [cout, cin/g, kh, kw] (half when cx->prec is fp16);
 * b: [cout] float or NULL; y: n x cout x oh x ow. */
ae_status ae_cuda_conv2d(ae_cuda_ctx *cx, const ae_conv2d_desc *d, const float *x, int n, int h,
                         int w, const void *wt, const float *b, float *y, int oh, int ow,
                         void *ws, size_t ws_bytes);
size_t ae_cuda_convT2d_ws(ae_cuda_ctx *cx, const ae_convT2d_desc *d, int n, int h, int w);
/* F.conv_transpose2d as cuDNN backward-data; wt: [cin, cout/g, kh, kw]. */
ae_status ae_cuda_convT2d(ae_cuda_ctx *cx, const ae_convT2d_desc *d, const float *x, int n, int h,
                          int w, const void *wt, const float *b, float *y, int oh, int ow,
                          void *ws, size_t ws_bytes);

/* ---- GEMM (gemm.cu): y[n, out] = x[n, in] w[out, in]^T + b */
/* cuBLAS compute type for float operands at cx->prec (FAST_TF32 / FAST_16F). */
cublasComputeType_t ae_cuda_gemm_compute(const ae_cuda_ctx *cx);
ae_status ae_cuda_linear(ae_cuda_ctx *cx, const float *x, int n, int in, const float *w,
                         const float *b, float *y, int out);

/* ---- attention (attention.cu); pointers are the tensors' bases, offsets as
 * in ae_attn_desc; cq/ck/cv/cy are the tensors' channel counts, P = h*w. */
size_t ae_cuda_attention_ws(const ae_attn_desc *d, int P);
ae_status ae_cuda_attention(ae_cuda_ctx *cx, const ae_attn_desc *d, int n, int P, const float *q,
                            int cq, const float *k, int ck, const float *v, int cv, float *y,
                            int cy, float *ws, size_t ws_bytes);

/* ---- elementwise (elementwise.cu); count = number of floats */
ae_status ae_cuda_activation(ae_cuda_ctx *cx, ae_act kind, float alpha, const float *x, float *y,
                             size_t count);
ae_status ae_cuda_add(ae_cuda_ctx *cx, const float *a, const float *b, float *y, size_t count);
ae_status ae_cuda_mul(ae_cuda_ctx *cx, const float *a, const float *b, float *y, size_t count);
/* scale / shift: device vectors with sn / tn rows of C (sn, tn = 1 or N), or NULL */
ae_status ae_cuda_scale_shift(ae_cuda_ctx *cx, const float *x, int N, int C, size_t HW,
                              const float *scale, int sn, float scale_bias, const float *shift,
                              int tn, float *y);
/* y[n, c, :] += b[c] over N x C planes of HW */
ae_status ae_cuda_bias_add(ae_cuda_ctx *cx, float *y, const float *b, int N, int C, size_t HW);
ae_status ae_cuda_f32_to_f16(ae_cuda_ctx *cx, const float *x, ae_half *y, size_t count);
/* y = float(x) + b[c] (b may be NULL) over N x C planes of HW */
ae_status ae_cuda_f16_to_f32_bias(ae_cuda_ctx *cx, const ae_half *x, const float *b, float *y,
                                  int N, int C, size_t HW);

/* ---- normalisation (norm.cu) */
ae_status ae_cuda_batchnorm(ae_cuda_ctx *cx, const float *x, int N, int C, size_t HW,
                            const float *mean, const float *var, const float *gamma,
                            const float *beta, float eps, float *y);
/* groups == C is instance norm; gamma/beta [C] device or NULL */
ae_status ae_cuda_groupnorm(ae_cuda_ctx *cx, const float *x, int N, int C, size_t HW, int groups,
                            const float *gamma, const float *beta, float eps, float *y);

/* ---- resampling (upsample.cu, pool.cu) */
ae_status ae_cuda_upsample(ae_cuda_ctx *cx, ae_upsample_mode mode, const float *x, int NC, int H,
                           int W, float *y, int OH, int OW);
ae_status ae_cuda_pixel_shuffle(ae_cuda_ctx *cx, int r, const float *x, int N, int C_out, int H,
                                int W, float *y);
ae_status ae_cuda_pool(ae_cuda_ctx *cx, const ae_pool_desc *d, const float *x, int NC, int H, int W,
                       float *y, int OH, int OW);

/* ---- noise-level embedding (embed.cu); gamma: HOST array of N floats */
ae_status ae_cuda_noise_embed(ae_cuda_ctx *cx, const float *gamma_host, int N, int dim, float *y);

#ifdef __cplusplus
}
#endif

#endif
