/* pool.cu - F.max_pool2d and F.avg_pool2d (ceil_mode=False; avg with
 * count_include_pad=True, or False for AE_POOL_AVG_EXCLUDE_PAD; max pads with -inf and propagates NaN), one thread
 * per output element. Mirrors src/nn/pool.c window for window. */
#include <math.h>
#include "ae_cuda.h"

#define NT 256

__global__ void k_pool(ae_pool_desc d, const float *x, size_t count, int H, int W, float *y, int OH, int OW) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < count; i += (size_t)gridDim.x * blockDim.x) {
        int ox = (int)(i % (size_t)OW), oy = (int)((i / (size_t)OW) % (size_t)OH);
        const float *s = x + (i / ((size_t)OW * OH)) * (size_t)H * W;
        int hs = oy * d.stride_h - d.pad_h, ws = ox * d.stride_w - d.pad_w;
        int he = hs + d.kh, we = ws + d.kw;
        int y0 = hs < 0 ? 0 : hs, y1 = he < H ? he : H, x0 = ws < 0 ? 0 : ws, x1 = we < W ? we : W;
        if (d.kind != AE_POOL_MAX) {
            int size = d.kind == AE_POOL_AVG_EXCLUDE_PAD
                           ? (y1 - y0) * (x1 - x0)
                           : ((he < H + d.pad_h ? he : H + d.pad_h) - hs) * ((we < W + d.pad_w ? we : W + d.pad_w) - ws);
            float acc = 0.0f;
            for (int yy = y0; yy < y1; yy++)
                for (int xx = x0; xx < x1; xx++) acc += s[(size_t)yy * W + xx];
            y[i] = acc / (float)size;
        } else {
            float m = -INFINITY;
            for (int yy = y0; yy < y1; yy++)
                for (int xx = x0; xx < x1; xx++) {
                    float v = s[(size_t)yy * W + xx];
                    if (v > m || isnan(v)) m = v;
                }
            y[i] = m;
        }
    }
}

extern "C" ae_status ae_cuda_pool(ae_cuda_ctx *cx, const ae_pool_desc *d, const float *x, int NC, int H,
                                  int W, float *y, int OH, int OW) {
    if (d->kind != AE_POOL_MAX && d->kind != AE_POOL_AVG && d->kind != AE_POOL_AVG_EXCLUDE_PAD)
        return ae_error_set(AE_ERR_ARG, "pool: unknown kind %d", (int)d->kind);
    size_t count = (size_t)NC * OH * OW, b = (count + NT - 1) / NT;
    size_t cap = (size_t)(cx->sm_count > 0 ? cx->sm_count : 80) * 32;
    k_pool<<<(unsigned)(b < 1 ? 1 : b > cap ? cap : b), NT, 0, cx->stream>>>(*d, x, count, H, W, y, OH, OW);
    return ae_cuda_check(cudaGetLastError(), "pool");
}
