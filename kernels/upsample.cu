/* upsample.cu - F.interpolate(nearest | bilinear, align_corners=False) and
 * F.pixel_shuffle (CUDA), one thread per output element.
 *
 * Index rules exactly as src/nn/upsample.c (ATen's UpSample.h): nearest takes
 * floor(dst * (in/out)) (dst/2 when out == 2*in); bilinear samples at
 * max(0, (dst + 0.5) * (in/out) - 0.5) and clamps the upper neighbour. The
 * float arithmetic uses explicit round-to-nearest intrinsics so that nvcc
 * does not contract it into FMAs the CPU build does not use.
 */
#include <math.h>
#include "ae_cuda.h"

#define NT 256

__device__ __forceinline__ int nearest_idx(int dst, int in, int out) {
    if (out == in) return dst;
    if (out == 2 * in) return dst >> 1;
    int i = (int)floorf(__fmul_rn((float)dst, __fdiv_rn((float)in, (float)out)));
    return i < in - 1 ? i : in - 1;
}

__device__ __forceinline__ void bilinear_coef(int dst, int in, int out, int *i0, int *i1, float *l1) {
    float scale = __fdiv_rn((float)in, (float)out);
    float src = __fsub_rn(__fmul_rn(scale, __fadd_rn((float)dst, 0.5f)), 0.5f);
    if (src < 0.0f) src = 0.0f;
    int i = (int)src;
    *i0 = i;
    *i1 = i < in - 1 ? i + 1 : i;
    *l1 = src - (float)i;
}

__global__ void k_upsample(int bilinear, const float *x, size_t count, int H, int W, float *y, int OH, int OW) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < count; i += (size_t)gridDim.x * blockDim.x) {
        int ox = (int)(i % (size_t)OW), oy = (int)((i / (size_t)OW) % (size_t)OH);
        const float *s = x + (i / ((size_t)OW * OH)) * (size_t)H * W;
        if (!bilinear) {
            y[i] = s[(size_t)nearest_idx(oy, H, OH) * W + nearest_idx(ox, W, OW)];
            continue;
        }
        int y0, y1, x0, x1;
        float ly, lx;
        bilinear_coef(oy, H, OH, &y0, &y1, &ly);
        bilinear_coef(ox, W, OW, &x0, &x1, &lx);
        const float *r0 = s + (size_t)y0 * W, *r1 = s + (size_t)y1 * W;
        float top = __fadd_rn(__fmul_rn(1.0f - lx, r0[x0]), __fmul_rn(lx, r0[x1]));
        float bot = __fadd_rn(__fmul_rn(1.0f - lx, r1[x0]), __fmul_rn(lx, r1[x1]));
        y[i] = __fadd_rn(__fmul_rn(1.0f - ly, top), __fmul_rn(ly, bot));
    }
}

static unsigned blocks_for(const ae_cuda_ctx *cx, size_t count) {
    size_t b = (count + NT - 1) / NT, cap = (size_t)(cx->sm_count > 0 ? cx->sm_count : 80) * 32;
    return (unsigned)(b < 1 ? 1 : b > cap ? cap : b);
}

extern "C" ae_status ae_cuda_upsample(ae_cuda_ctx *cx, ae_upsample_mode mode, const float *x, int NC, int H,
                                      int W, float *y, int OH, int OW) {
    if (mode != AE_UPSAMPLE_NEAREST && mode != AE_UPSAMPLE_BILINEAR)
        return ae_error_set(AE_ERR_ARG, "upsample: unknown mode %d", (int)mode);
    size_t count = (size_t)NC * OH * OW;
    k_upsample<<<blocks_for(cx, count), NT, 0, cx->stream>>>(mode == AE_UPSAMPLE_BILINEAR, x, count, H, W,
                                                              y, OH, OW);
    return ae_cuda_check(cudaGetLastError(), "upsample");
}

/* y[n, c, h*r + i, w*r + j] = x[n, c*r*r + i*r + j, h, w] */
__global__ void k_pixel_shuffle(int r, const float *x, size_t count, int H, int W, float *y) {
    size_t OW = (size_t)W * r, OH = (size_t)H * r;
    for (size_t k = blockIdx.x * (size_t)blockDim.x + threadIdx.x; k < count; k += (size_t)gridDim.x * blockDim.x) {
        size_t ox = k % OW, oy = (k / OW) % OH, nc = k / (OW * OH);
        size_t i = oy % r, j = ox % r;
        y[k] = x[((nc * r * r + i * r + j) * H + oy / r) * W + ox / r];
    }
}

extern "C" ae_status ae_cuda_pixel_shuffle(ae_cuda_ctx *cx, int r, const float *x, int N, int C_out, int H,
                                           int W, float *y) {
    size_t count = (size_t)N * C_out * H * r * W * r;
    k_pixel_shuffle<<<blocks_for(cx, count), NT, 0, cx->stream>>>(r, x, count, H, W, y);
    return ae_cuda_check(cudaGetLastError(), "pixel_shuffle");
}
