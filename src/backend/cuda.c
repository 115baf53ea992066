/* cuda.c - the CUDA backend's host side: fills backend.h's table with the
 * launchers of kernels/ (ae_cuda.h), device memory, the device weight cache,
 * and the checks that decide whether a GPU is usable.
 *
 * Mirrors the CPU backend (src/backend/cpu.c) op for op: the same shape
 * checks and messages, then a launcher on the backend's stream. Weights and
 * norm parameters arrive as host pointers (views into the ae_weights mmap);
 * the first use uploads them and caches the device copy keyed by (pointer,
 * length, float|half) until release; 17 sampled values are compared on each
 * use, so weights freed and replaced at the same address (a model closed and
 * another loaded) are uploaded again rather than silently reused. One mutex serialises ops (cuDNN/cuBLAS
 * handles and the caches are shared by --jobs workers); transfers only use
 * the stream. Precision comes from ae_backend_set_precision (--precision:
 * fp32, the default, or fp16).
 * cuBLAS is loaded with dlopen here, not linked: libcublasLt alone costs
 * every process ~0.6 s of CPU at start-up, and most runs need no GPU.
 * Built only with AE_HAVE_CUDA (the Makefile defines it when nvcc and cuDNN
 * are found).
 */
#ifdef AE_HAVE_CUDA

#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../../kernels/ae_cuda.h"
#include "astroenh/backend.h"
#include "cuda_backend.h"

#define MIN_CC_MAJOR 8 /* the Makefile builds sm_80, sm_90 and compute_90 PTX */

#define FP_SAMPLES 17

typedef struct {
    const float *host;
    size_t count;
    int half;
    void *dev;
    float fp[FP_SAMPLES]; /* sampled host values at upload: a stale entry is re-uploaded */
} wentry;

typedef struct {
    ae_backend be; /* first: the table handed out */
    ae_cuda_ctx cx;
    pthread_mutex_t mu;
    wentry *w;     /* open addressing, host == NULL: empty */
    size_t wcap, wlen;
    char desc[512];
} cuda_backend;

#define CB(b) ((cuda_backend *)(b)->ctx)

static const char *prec_name(ae_cuda_precision p) { return p == AE_CUDA_FP16 ? "fp16" : "fp32"; }

static ae_status parse_precision(const char *s, ae_cuda_precision *out, const char *what) {
    if (!s || !*s || !strcmp(s, "fp32")) {
        *out = AE_CUDA_FP32;
        return AE_OK;
    }
    if (!strcmp(s, "fp16")) {
        *out = AE_CUDA_FP16;
        return AE_OK;
    }
    return ae_error_set(AE_ERR_ARG, "%s='%s': expected fp32 or fp16", what, s);
}

/* ---- device weight cache ------------------------------------------------ */

static size_t wslot(const cuda_backend *cb, const float *host, size_t count, int half) {
    uintptr_t h = ((uintptr_t)host >> 4) * (uintptr_t)0x9E3779B97F4A7C15ull;
    h ^= count * 31 + (size_t)half;
    return (size_t)h & (cb->wcap - 1);
}

static wentry *wfind(cuda_backend *cb, const float *host, size_t count, int half) {
    if (!cb->wcap) return NULL;
    for (size_t i = wslot(cb, host, count, half);; i = (i + 1) & (cb->wcap - 1)) {
        wentry *e = &cb->w[i];
        if (!e->host) return NULL;
        if (e->host == host && e->count == count && e->half == half) return e;
    }
}

static ae_status wgrow(cuda_backend *cb) {
    size_t ncap = cb->wcap ? cb->wcap * 2 : 256;
    wentry *nw = ae_calloc(ncap, sizeof *nw, "CUDA weight cache");
    if (!nw) return AE_ERR_NOMEM;
    wentry *old = cb->w;
    size_t ocap = cb->wcap;
    cb->w = nw;
    cb->wcap = ncap;
    for (size_t i = 0; i < ocap; i++) {
        if (!old[i].host) continue;
        size_t j = wslot(cb, old[i].host, old[i].count, old[i].half);
        while (nw[j].host) j = (j + 1) & (ncap - 1);
        nw[j] = old[i];
    }
    free(old);
    return AE_OK;
}

static void fingerprint(const float *host, size_t count, float *fp) {
    for (size_t k = 0; k < FP_SAMPLES; k++)
        fp[k] = host[k == FP_SAMPLES - 1 ? count - 1 : k * count / (FP_SAMPLES - 1)];
}

static ae_status winsert(cuda_backend *cb, const float *host, size_t count, int half, void *dev) {
    if ((cb->wlen + 1) * 2 > cb->wcap) {
        ae_status st = wgrow(cb);
        if (st) return st;
    }
    size_t j = wslot(cb, host, count, half);
    while (cb->w[j].host) j = (j + 1) & (cb->wcap - 1);
    cb->w[j] = (wentry){host, count, half, dev, {0}};
    fingerprint(host, count, cb->w[j].fp);
    cb->wlen++;
    return AE_OK;
}

static ae_status dev_param(cuda_backend *cb, const float *host, size_t count, int half, const void **out,
                           const char *what);

/* The host data behind an entry changed since upload: copy (or convert) it
 * again into the entry's device buffer. The entry is found again at the end
 * because dev_param may grow the table. */
static ae_status refresh(cuda_backend *cb, const float *host, size_t count, int half, void *dev,
                         const char *what) {
    ae_status st;
    if (half) {
        const void *f32 = NULL;
        st = dev_param(cb, host, count, 0, &f32, what);
        if (st == AE_OK) st = ae_cuda_f32_to_f16(&cb->cx, f32, dev, count);
    } else {
        st = ae_cuda_check(cudaMemcpyAsync(dev, host, count * sizeof(float), cudaMemcpyHostToDevice,
                                           cb->cx.stream), what);
    }
    wentry *e = wfind(cb, host, count, half);
    if (st == AE_OK && e) fingerprint(host, count, e->fp);
    return st;
}

/* Device copy of `count` host floats (half == 1: converted to half); NULL
 * stays NULL. Caller holds cb->mu. */
static ae_status dev_param(cuda_backend *cb, const float *host, size_t count, int half, const void **out,
                           const char *what) {
    *out = NULL;
    if (!host || !count) return AE_OK;
    wentry *e = wfind(cb, host, count, half);
    if (e) {
        float fp[FP_SAMPLES];
        fingerprint(host, count, fp);
        if (!memcmp(fp, e->fp, sizeof fp)) {
            *out = e->dev;
            return AE_OK;
        }
        void *dev = e->dev;
        ae_status st = refresh(cb, host, count, half, dev, what);
        if (st == AE_OK) *out = dev;
        return st;
    }
    const void *f32 = NULL;
    void *dev = NULL;
    ae_status st = AE_OK;
    if (half) st = dev_param(cb, host, count, 0, &f32, what);
    if (st == AE_OK)
        st = ae_cuda_check(cudaMalloc(&dev, count * (half ? sizeof(ae_half) : sizeof(float))), what);
    if (st == AE_OK && half) st = ae_cuda_f32_to_f16(&cb->cx, f32, dev, count);
    if (st == AE_OK && !half)
        st = ae_cuda_check(cudaMemcpyAsync(dev, host, count * sizeof(float), cudaMemcpyHostToDevice,
                                           cb->cx.stream), what);
    if (st == AE_OK) st = winsert(cb, host, count, half, dev);
    if (st) {
        cudaFree(dev);
        return st;
    }
    *out = dev;
    return AE_OK;
}

/* ---- memory ------------------------------------------------------------- */

static int cuda_supports(const ae_backend *be, ae_op op) {
    (void)be;
    return op >= 0 && op < AE_OP_COUNT;
}

static ae_status cuda_alloc(const ae_backend *be, size_t bytes, void **out) {
    (void)be;
    void *p = NULL;
    char what[96];
    snprintf(what, sizeof what, "CUDA: allocating %zu MiB", (bytes + (1u << 20) - 1) >> 20);
    ae_status st = ae_cuda_check(cudaMalloc(&p, bytes ? bytes : 256), what);
    if (st == AE_OK) *out = p;
    return st;
}

static void cuda_free(const ae_backend *be, void *p) {
    (void)be;
    if (p) cudaFree(p);
}

static ae_status cuda_upload(const ae_backend *be, void *dst, const void *src, size_t bytes) {
    if (!bytes) return AE_OK;
    return ae_cuda_check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, CB(be)->cx.stream),
                         "CUDA upload");
}

static ae_status cuda_download(const ae_backend *be, void *dst, const void *src, size_t bytes) {
    if (!bytes) return AE_OK;
    cudaStream_t s = CB(be)->cx.stream;
    ae_status st = ae_cuda_check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, s), "CUDA download");
    if (st == AE_OK) st = ae_cuda_check(cudaStreamSynchronize(s), "CUDA download (queued work)");
    return st;
}

static ae_status cuda_sync(const ae_backend *be) {
    return ae_cuda_check(cudaStreamSynchronize(CB(be)->cx.stream), "CUDA sync (queued work)");
}

#define LOCKED(be, expr)                                                                           \
    do {                                                                                           \
        cuda_backend *cb_ = CB(be);                                                                \
        pthread_mutex_lock(&cb_->mu);                                                              \
        ae_status st_ = (expr);                                                                    \
        pthread_mutex_unlock(&cb_->mu);                                                            \
        return st_;                                                                                \
    } while (0)

/* ---- convolution --------------------------------------------------------- */

static size_t cuda_conv2d_ws(const ae_backend *be, const ae_conv2d_desc *d, const ae_tensor *x) {
    cuda_backend *cb = CB(be);
    pthread_mutex_lock(&cb->mu);
    size_t r = ae_cuda_conv2d_ws(&cb->cx, d, x->n, x->h, x->w);
    pthread_mutex_unlock(&cb->mu);
    return r;
}

static ae_status conv2d_locked(cuda_backend *cb, const ae_conv2d_desc *d, const ae_tensor *x,
                               const float *w, const float *b, ae_tensor *y, float *ws, size_t wsb) {
    int oh, ow;
    ae_status st = ae_conv2d_out_hw(d, x->h, x->w, &oh, &ow);
    if (st == AE_OK) st = ae_check_layer_io("conv2d", x, y, d->cin, d->cout, oh, ow);
    if (st) return st;
    size_t wn = (size_t)d->cout * (d->cin / d->groups) * d->kh * d->kw;
    const void *wd, *bd;
    st = dev_param(cb, w, wn, cb->cx.prec == AE_CUDA_FP16, &wd, "conv2d weights");
    if (st == AE_OK) st = dev_param(cb, b, (size_t)d->cout, 0, &bd, "conv2d bias");
    if (st) return st;
    return ae_cuda_conv2d(&cb->cx, d, x->data, x->n, x->h, x->w, wd, bd, y->data, oh, ow, ws, wsb);
}

static ae_status cuda_conv2d(const ae_backend *be, const ae_conv2d_desc *d, const ae_tensor *x,
                             const float *w, const float *b, ae_tensor *y, float *ws, size_t wsb) {
    LOCKED(be, conv2d_locked(cb_, d, x, w, b, y, ws, wsb));
}

static size_t cuda_convT2d_ws(const ae_backend *be, const ae_convT2d_desc *d, const ae_tensor *x) {
    cuda_backend *cb = CB(be);
    pthread_mutex_lock(&cb->mu);
    size_t r = ae_cuda_convT2d_ws(&cb->cx, d, x->n, x->h, x->w);
    pthread_mutex_unlock(&cb->mu);
    return r;
}

static ae_status convT2d_locked(cuda_backend *cb, const ae_convT2d_desc *d, const ae_tensor *x,
                                const float *w, const float *b, ae_tensor *y, float *ws, size_t wsb) {
    int oh, ow;
    ae_status st = ae_convT2d_out_hw(d, x->h, x->w, &oh, &ow);
    if (st == AE_OK) st = ae_check_layer_io("conv_transpose2d", x, y, d->cin, d->cout, oh, ow);
    if (st) return st;
    /* cuDNN's backward-data needs the output to map back onto the input
     * (output_padding < stride); PyTorch also allows output_padding < dilation */
    if (d->out_pad_h >= d->stride_h || d->out_pad_w >= d->stride_w)
        return ae_error_set(AE_ERR_UNAVAILABLE, "conv_transpose2d: output_padding %dx%d >= stride %dx%d is "
                            "not implemented on CUDA", d->out_pad_h, d->out_pad_w, d->stride_h, d->stride_w);
    size_t wn = (size_t)d->cin * (d->cout / d->groups) * d->kh * d->kw;
    const void *wd, *bd;
    st = dev_param(cb, w, wn, cb->cx.prec == AE_CUDA_FP16, &wd, "conv_transpose2d weights");
    if (st == AE_OK) st = dev_param(cb, b, (size_t)d->cout, 0, &bd, "conv_transpose2d bias");
    if (st) return st;
    return ae_cuda_convT2d(&cb->cx, d, x->data, x->n, x->h, x->w, wd, bd, y->data, oh, ow, ws, wsb);
}

static ae_status cuda_convT2d(const ae_backend *be, const ae_convT2d_desc *d, const ae_tensor *x,
                              const float *w, const float *b, ae_tensor *y, float *ws, size_t wsb) {
    LOCKED(be, convT2d_locked(cb_, d, x, w, b, y, ws, wsb));
}

static ae_status linear_locked(cuda_backend *cb, const ae_tensor *x, const float *w, const float *b,
                               ae_tensor *y) {
    size_t in = (size_t)x->c * x->h * x->w;
    char s1[64], s2[64];
    if (y->n != x->n || y->h != 1 || y->w != 1 || in > (size_t)1 << 30)
        return ae_error_set(AE_ERR_SHAPE, "linear: output %s does not fit input %s",
                            ae_tensor_shape_str(y, s1, sizeof s1), ae_tensor_shape_str(x, s2, sizeof s2));
    const void *wd, *bd;
    ae_status st = dev_param(cb, w, (size_t)y->c * in, 0, &wd, "linear weights");
    if (st == AE_OK) st = dev_param(cb, b, (size_t)y->c, 0, &bd, "linear bias");
    if (st) return st;
    return ae_cuda_linear(&cb->cx, x->data, x->n, (int)in, wd, bd, y->data, y->c);
}

static ae_status cuda_linear(const ae_backend *be, const ae_tensor *x, const float *w, const float *b,
                             ae_tensor *y) {
    LOCKED(be, linear_locked(cb_, x, w, b, y));
}

/* ---- normalisation ------------------------------------------------------- */

static ae_status bn_locked(cuda_backend *cb, const ae_tensor *x, const float *mean, const float *var,
                           const float *gamma, const float *beta, float eps, ae_tensor *y) {
    ae_status st = ae_check_same("batchnorm", x, y);
    if (st) return st;
    size_t C = (size_t)x->c;
    const void *md, *vd, *gd, *bd;
    st = dev_param(cb, mean, C, 0, &md, "batchnorm running_mean");
    if (st == AE_OK) st = dev_param(cb, var, C, 0, &vd, "batchnorm running_var");
    if (st == AE_OK) st = dev_param(cb, gamma, C, 0, &gd, "batchnorm weight");
    if (st == AE_OK) st = dev_param(cb, beta, C, 0, &bd, "batchnorm bias");
    if (st) return st;
    return ae_cuda_batchnorm(&cb->cx, x->data, x->n, x->c, (size_t)x->h * x->w, md, vd, gd, bd, eps, y->data);
}

static ae_status cuda_batchnorm(const ae_backend *be, const ae_tensor *x, const float *mean,
                                const float *var, const float *gamma, const float *beta, float eps,
                                ae_tensor *y) {
    LOCKED(be, bn_locked(cb_, x, mean, var, gamma, beta, eps, y));
}

static ae_status gn_locked(cuda_backend *cb, const ae_tensor *x, int groups, const float *gamma,
                           const float *beta, float eps, ae_tensor *y) {
    ae_status st = ae_check_same("groupnorm", x, y);
    if (st) return st;
    if (groups < 1 || x->c % groups)
        return ae_error_set(AE_ERR_SHAPE, "groupnorm: %d channels are not divisible into %d groups",
                            x->c, groups);
    const void *gd, *bd;
    st = dev_param(cb, gamma, (size_t)x->c, 0, &gd, "groupnorm weight");
    if (st == AE_OK) st = dev_param(cb, beta, (size_t)x->c, 0, &bd, "groupnorm bias");
    if (st) return st;
    return ae_cuda_groupnorm(&cb->cx, x->data, x->n, x->c, (size_t)x->h * x->w, groups, gd, bd, eps, y->data);
}

static ae_status cuda_groupnorm(const ae_backend *be, const ae_tensor *x, int groups, const float *gamma,
                                const float *beta, float eps, ae_tensor *y) {
    LOCKED(be, gn_locked(cb_, x, groups, gamma, beta, eps, y));
}

static ae_status cuda_instancenorm(const ae_backend *be, const ae_tensor *x, const float *gamma,
                                   const float *beta, float eps, ae_tensor *y) {
    LOCKED(be, gn_locked(cb_, x, x->c, gamma, beta, eps, y));
}

/* ---- elementwise --------------------------------------------------------- */

static ae_status act_locked(cuda_backend *cb, ae_act kind, float alpha, const ae_tensor *x, ae_tensor *y) {
    ae_status st = ae_check_same("activation", x, y);
    if (st) return st;
    return ae_cuda_activation(&cb->cx, kind, alpha, x->data, y->data, ae_tensor_numel(x));
}

static ae_status cuda_activation(const ae_backend *be, ae_act kind, float alpha, const ae_tensor *x,
                                 ae_tensor *y) {
    LOCKED(be, act_locked(cb_, kind, alpha, x, y));
}

static ae_status binary_locked(cuda_backend *cb, int mul, const ae_tensor *a, const ae_tensor *b,
                               ae_tensor *y) {
    const char *op = mul ? "mul" : "add";
    ae_status st = ae_check_same(op, a, b);
    if (st == AE_OK) st = ae_check_same(op, a, y);
    if (st) return st;
    size_t n = ae_tensor_numel(a);
    return mul ? ae_cuda_mul(&cb->cx, a->data, b->data, y->data, n)
               : ae_cuda_add(&cb->cx, a->data, b->data, y->data, n);
}

static ae_status cuda_add(const ae_backend *be, const ae_tensor *a, const ae_tensor *b, ae_tensor *y) {
    LOCKED(be, binary_locked(cb_, 0, a, b, y));
}

static ae_status cuda_mul(const ae_backend *be, const ae_tensor *a, const ae_tensor *b, ae_tensor *y) {
    LOCKED(be, binary_locked(cb_, 1, a, b, y));
}

static ae_status ss_locked(cuda_backend *cb, const ae_tensor *x, const ae_tensor *scale, float scale_bias,
                           const ae_tensor *shift, ae_tensor *y) {
    ae_status st = ae_check_scale_shift(x, scale, shift, y);
    if (st) return st;
    return ae_cuda_scale_shift(&cb->cx, x->data, x->n, x->c, (size_t)x->h * x->w,
                               scale ? scale->data : NULL, scale ? scale->n : 1, scale_bias,
                               shift ? shift->data : NULL, shift ? shift->n : 1, y->data);
}

static ae_status cuda_scale_shift(const ae_backend *be, const ae_tensor *x, const ae_tensor *scale,
                                  float scale_bias, const ae_tensor *shift, ae_tensor *y) {
    LOCKED(be, ss_locked(cb_, x, scale, scale_bias, shift, y));
}

/* torch.cat(dim=1): per input one copy (n == 1) or one 2-D copy of n rows. */
static ae_status concat_locked(cuda_backend *cb, const ae_tensor *const *xs, int count, ae_tensor *y) {
    ae_status st = ae_check_concat(xs, count, y);
    if (st) return st;
    size_t HW = (size_t)y->h * y->w, dpitch = (size_t)y->c * HW * sizeof(float), off = 0;
    for (int i = 0; i < count; i++) {
        size_t row = (size_t)xs[i]->c * HW * sizeof(float);
        cudaError_t e = y->n == 1 ? cudaMemcpyAsync((char *)y->data + off, xs[i]->data, row,
                                                    cudaMemcpyDeviceToDevice, cb->cx.stream)
                                  : cudaMemcpy2DAsync((char *)y->data + off, dpitch, xs[i]->data, row, row,
                                                      (size_t)y->n, cudaMemcpyDeviceToDevice, cb->cx.stream);
        st = ae_cuda_check(e, "concat");
        if (st) return st;
        off += row;
    }
    return AE_OK;
}

static ae_status cuda_concat(const ae_backend *be, const ae_tensor *const *xs, int count, ae_tensor *y) {
    LOCKED(be, concat_locked(cb_, xs, count, y));
}

static ae_status copy_locked(cuda_backend *cb, const ae_tensor *x, ae_tensor *y) {
    ae_status st = ae_check_same("copy", x, y);
    if (st || x->data == y->data) return st;
    return ae_cuda_check(cudaMemcpyAsync(y->data, x->data, ae_tensor_bytes(x), cudaMemcpyDeviceToDevice,
                                         cb->cx.stream), "copy");
}

static ae_status cuda_copy(const ae_backend *be, const ae_tensor *x, ae_tensor *y) {
    LOCKED(be, copy_locked(cb_, x, y));
}

/* ---- resampling ----------------------------------------------------------- */

static ae_status up_locked(cuda_backend *cb, ae_upsample_mode mode, const ae_tensor *x, ae_tensor *y) {
    if (y->n != x->n || y->c != x->c) {
        char s1[64], s2[64];
        return ae_error_set(AE_ERR_SHAPE, "upsample: output %s does not match input %s in N, C",
                            ae_tensor_shape_str(y, s1, sizeof s1), ae_tensor_shape_str(x, s2, sizeof s2));
    }
    return ae_cuda_upsample(&cb->cx, mode, x->data, x->n * x->c, x->h, x->w, y->data, y->h, y->w);
}

static ae_status cuda_upsample(const ae_backend *be, ae_upsample_mode mode, const ae_tensor *x,
                               ae_tensor *y) {
    LOCKED(be, up_locked(cb_, mode, x, y));
}

static ae_status pool_locked(cuda_backend *cb, const ae_pool_desc *d, const ae_tensor *x, ae_tensor *y) {
    int oh, ow;
    ae_status st = ae_pool_out_hw(d, x->h, x->w, &oh, &ow);
    if (st) return st;
    if (y->n != x->n || y->c != x->c || y->h != oh || y->w != ow) {
        char s1[64], s2[64];
        return ae_error_set(AE_ERR_SHAPE, "pool: output %s, expected %dx%dx%dx%d for input %s",
                            ae_tensor_shape_str(y, s1, sizeof s1), x->n, x->c, oh, ow,
                            ae_tensor_shape_str(x, s2, sizeof s2));
    }
    return ae_cuda_pool(&cb->cx, d, x->data, x->n * x->c, x->h, x->w, y->data, oh, ow);
}

static ae_status cuda_pool(const ae_backend *be, const ae_pool_desc *d, const ae_tensor *x, ae_tensor *y) {
    LOCKED(be, pool_locked(cb_, d, x, y));
}

static ae_status ps_locked(cuda_backend *cb, int r, const ae_tensor *x, ae_tensor *y) {
    if (r < 1 || x->c % (r * r) || y->n != x->n || y->c != x->c / (r * r) || y->h != x->h * r ||
        y->w != x->w * r) {
        char s1[64], s2[64];
        return ae_error_set(AE_ERR_SHAPE, "pixel_shuffle(r=%d): input %s cannot give output %s", r,
                            ae_tensor_shape_str(x, s1, sizeof s1), ae_tensor_shape_str(y, s2, sizeof s2));
    }
    return ae_cuda_pixel_shuffle(&cb->cx, r, x->data, y->n, y->c, x->h, x->w, y->data);
}

static ae_status cuda_pixel_shuffle(const ae_backend *be, int r, const ae_tensor *x, ae_tensor *y) {
    LOCKED(be, ps_locked(cb_, r, x, y));
}

/* ---- attention and embedding ---------------------------------------------- */

static size_t cuda_attention_ws(const ae_backend *be, const ae_attn_desc *d, const ae_tensor *q) {
    (void)be;
    if (d->heads < 1) return 0;
    return ae_cuda_attention_ws(d, q->h * q->w);
}

static ae_status attn_locked(cuda_backend *cb, const ae_attn_desc *d, const ae_tensor *q,
                             const ae_tensor *k, const ae_tensor *v, ae_tensor *y, float *ws, size_t wsb) {
    ae_status st = ae_check_attention(d, q, k, v, y);
    if (st) return st;
    return ae_cuda_attention(&cb->cx, d, q->n, q->h * q->w, q->data, q->c, k->data, k->c, v->data, v->c,
                             y->data, y->c, ws, wsb);
}

static ae_status cuda_attention(const ae_backend *be, const ae_attn_desc *d, const ae_tensor *q,
                                const ae_tensor *k, const ae_tensor *v, ae_tensor *y, float *ws,
                                size_t wsb) {
    LOCKED(be, attn_locked(cb_, d, q, k, v, y, ws, wsb));
}

static ae_status embed_locked(cuda_backend *cb, const float *gamma, ae_tensor *y) {
    if (y->c < 2 || y->c % 2 || y->h != 1 || y->w != 1) {
        char s[64];
        return ae_error_set(AE_ERR_SHAPE, "noise_embed: output %s must be n x even-dim x 1 x 1",
                            ae_tensor_shape_str(y, s, sizeof s));
    }
    return ae_cuda_noise_embed(&cb->cx, gamma, y->n, y->c, y->data);
}

static ae_status cuda_noise_embed(const ae_backend *be, const float *gamma, ae_tensor *y) {
    LOCKED(be, embed_locked(cb_, gamma, y));
}

/* ---- creation ------------------------------------------------------------- */

static void cuda_release(ae_backend *be) {
    if (!be || !be->ctx) return;
    cuda_backend *cb = CB(be);
    ae_cuda_ctx *cx = &cb->cx;
    if (cx->stream) cudaStreamSynchronize(cx->stream);
    for (size_t i = 0; i < cb->wcap; i++)
        if (cb->w[i].host) cudaFree(cb->w[i].dev);
    free(cb->w);
    ae_cuda_conv_cache_free(cx->conv);
    cudaFree(cx->stats);
    cudaFree(cx->stats_f);
    cudaFree(cx->small);
    if (cx->cublas) cx->blas.destroy(cx->cublas);
    if (cx->blas.lib) dlclose(cx->blas.lib);
    if (cx->cudnn) cudnnDestroy(cx->cudnn);
    if (cx->stream) cudaStreamDestroy(cx->stream);
    pthread_mutex_destroy(&cb->mu);
    free(cb);
}

/* Driver present and new enough, a device, compute capability, kernels. */
static ae_status check_device(int *dev_out, struct cudaDeviceProp *prop, int *drv, int *rt) {
    *drv = *rt = 0;
    cudaRuntimeGetVersion(rt);
    if (cudaDriverGetVersion(drv) != cudaSuccess || *drv == 0)
        return ae_error_set(AE_ERR_DEVICE, "no NVIDIA driver found; this build needs one supporting "
                            "CUDA %d.%d or newer", *rt / 1000, *rt % 1000 / 10);
    if (*drv / 1000 < *rt / 1000)
        return ae_error_set(AE_ERR_DEVICE, "NVIDIA driver too old: it supports CUDA %d.%d, this build "
                            "needs CUDA %d.x (runtime %d.%d); update the driver", *drv / 1000,
                            *drv % 1000 / 10, *rt / 1000, *rt / 1000, *rt % 1000 / 10);
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e == cudaErrorInsufficientDriver)
        return ae_error_set(AE_ERR_DEVICE, "NVIDIA driver too old for CUDA runtime %d.%d (driver "
                            "supports %d.%d); update the driver", *rt / 1000, *rt % 1000 / 10,
                            *drv / 1000, *drv % 1000 / 10);
    if (e == cudaErrorNoDevice || (e == cudaSuccess && count == 0))
        return ae_error_set(AE_ERR_DEVICE, "no CUDA device found");
    if (e != cudaSuccess) return ae_cuda_check(e, "CUDA initialisation");
    ae_status st = ae_cuda_check(cudaSetDevice(0), "CUDA device 0");
    if (st == AE_OK) st = ae_cuda_check(cudaGetDeviceProperties(prop, 0), "CUDA device 0 properties");
    if (st) return st;
    if (prop->major < MIN_CC_MAJOR)
        return ae_error_set(AE_ERR_DEVICE, "GPU %s has compute capability %d.%d; this build needs %d.0 "
                            "or newer", prop->name, prop->major, prop->minor, MIN_CC_MAJOR);
    *dev_out = 0;
    return ae_cuda_probe();
}

static ae_status check_libs(void) {
    size_t v = cudnnGetVersion();
    if (v / 10000 != CUDNN_MAJOR)
        return ae_error_set(AE_ERR_DEVICE, "cuDNN %zu.%zu is loaded but this build needs cuDNN %d.x",
                            v / 10000, v % 10000 / 100, CUDNN_MAJOR);
    return AE_OK;
}

/* Resolves the cuBLAS functions of ae_cublas_api from libcublas.so.<major>. */
static ae_status load_cublas(ae_cublas_api *b) {
    char name[64];
    snprintf(name, sizeof name, "libcublas.so.%d", CUBLAS_VER_MAJOR);
    b->lib = dlopen(name, RTLD_NOW | RTLD_LOCAL);
    if (!b->lib) b->lib = dlopen("libcublas.so", RTLD_NOW | RTLD_LOCAL);
    if (!b->lib) return ae_error_set(AE_ERR_DEVICE, "cannot load cuBLAS (%s): %s", name, dlerror());
    b->create = dlsym(b->lib, "cublasCreate_v2");
    b->destroy = dlsym(b->lib, "cublasDestroy_v2");
    b->set_stream = dlsym(b->lib, "cublasSetStream_v2");
    b->gemm_ex = dlsym(b->lib, "cublasGemmEx");
    b->gemm_strided_batched_ex = dlsym(b->lib, "cublasGemmStridedBatchedEx");
    b->status_name = dlsym(b->lib, "cublasGetStatusName");
    b->status_string = dlsym(b->lib, "cublasGetStatusString");
    if (!b->create || !b->destroy || !b->set_stream || !b->gemm_ex || !b->gemm_strided_batched_ex ||
        !b->status_name || !b->status_string) {
        dlclose(b->lib);
        *b = (ae_cublas_api){0};
        return ae_error_set(AE_ERR_DEVICE, "%s lacks the cuBLAS functions this build uses", name);
    }
    return AE_OK;
}

static ae_status ctx_init(ae_cuda_ctx *cx, const struct cudaDeviceProp *prop) {
    cx->sm_count = prop->multiProcessorCount;
    size_t lim = prop->totalGlobalMem / 16;
    cx->conv_ws_limit = lim < ((size_t)512 << 20) ? lim : (size_t)512 << 20;
    ae_status st = ae_cuda_check(cudaStreamCreateWithFlags(&cx->stream, cudaStreamNonBlocking), "CUDA stream");
    if (st == AE_OK) st = ae_cuda_check_cudnn(cudnnCreate(&cx->cudnn), "cuDNN init");
    if (st == AE_OK) st = ae_cuda_check_cudnn(cudnnSetStream(cx->cudnn, cx->stream), "cuDNN stream");
    if (st == AE_OK) st = load_cublas(&cx->blas);
    if (st == AE_OK) st = ae_cuda_check_cublas(cx, cx->blas.create(&cx->cublas), "cuBLAS init");
    if (st == AE_OK) st = ae_cuda_check_cublas(cx, cx->blas.set_stream(cx->cublas, cx->stream), "cuBLAS stream");
    if (st == AE_OK)
        st = ae_cuda_check(cudaMalloc((void **)&cx->stats, 2 * AE_CUDA_STATS_CAP * sizeof(double)), "CUDA scratch");
    if (st == AE_OK)
        st = ae_cuda_check(cudaMalloc((void **)&cx->stats_f, 2 * AE_CUDA_STATS_CAP * sizeof(float)), "CUDA scratch");
    if (st == AE_OK)
        st = ae_cuda_check(cudaMalloc((void **)&cx->small, AE_CUDA_SMALL_CAP * sizeof(float)), "CUDA scratch");
    if (st == AE_OK) st = ae_cuda_conv_cache_create(&cx->conv);
    return st;
}

static const ae_backend g_table = {
    .name = "cuda",
    .supports = cuda_supports,
    .alloc = cuda_alloc,
    .free = cuda_free,
    .upload = cuda_upload,
    .download = cuda_download,
    .sync = cuda_sync,
    .conv2d_ws = cuda_conv2d_ws,
    .conv2d = cuda_conv2d,
    .conv_transpose2d_ws = cuda_convT2d_ws,
    .conv_transpose2d = cuda_convT2d,
    .linear = cuda_linear,
    .batchnorm = cuda_batchnorm,
    .groupnorm = cuda_groupnorm,
    .instancenorm = cuda_instancenorm,
    .activation = cuda_activation,
    .add = cuda_add,
    .mul = cuda_mul,
    .scale_shift = cuda_scale_shift,
    .concat = cuda_concat,
    .copy = cuda_copy,
    .upsample = cuda_upsample,
    .pool = cuda_pool,
    .pixel_shuffle = cuda_pixel_shuffle,
    .attention_ws = cuda_attention_ws,
    .attention = cuda_attention,
    .noise_embed = cuda_noise_embed,
    .release = cuda_release,
};

ae_status ae_backend_cuda_create(ae_backend **out) {
    ae_cuda_precision prec = AE_CUDA_FP32;
    ae_status st = parse_precision(ae_backend_precision(), &prec, "--precision");
    if (st) return st;
    struct cudaDeviceProp prop;
    int dev = 0, drv, rt;
    st = check_device(&dev, &prop, &drv, &rt);
    if (st == AE_OK) st = check_libs();
    if (st) return st;
    cuda_backend *cb = ae_calloc(1, sizeof *cb, "CUDA backend");
    if (!cb) return AE_ERR_NOMEM;
    pthread_mutex_init(&cb->mu, NULL);
    cb->be = g_table;
    cb->be.ctx = cb;
    cb->cx.device = dev;
    cb->cx.prec = prec;
    st = ctx_init(&cb->cx, &prop);
    if (st) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", ae_error_message());
        cuda_release(&cb->be);
        return ae_error_set(st, "%s", msg);
    }
    size_t dn = cudnnGetVersion();
    snprintf(cb->desc, sizeof cb->desc, "%.200s (sm_%d%d, %d SMs, %zu GiB), driver CUDA %d.%d, runtime %d.%d, "
             "cuDNN %zu", prop.name, prop.major, prop.minor, prop.multiProcessorCount,
             prop.totalGlobalMem >> 30, drv / 1000, drv % 1000 / 10, rt / 1000, rt % 1000 / 10, dn);
    *out = &cb->be;
    return AE_OK;
}

ae_status ae_backend_cuda_set_precision(ae_backend *be, const char *name) {
    if (!be || be->release != cuda_release)
        return ae_error_set(AE_ERR_ARG, "not a CUDA backend");
    ae_cuda_precision p = AE_CUDA_FP32;
    ae_status st = parse_precision(name, &p, "precision");
    if (st) return st;
    pthread_mutex_lock(&CB(be)->mu);
    CB(be)->cx.prec = p;
    pthread_mutex_unlock(&CB(be)->mu);
    return AE_OK;
}

const char *ae_backend_cuda_precision(const ae_backend *be) { return prec_name(CB(be)->cx.prec); }

const char *ae_backend_cuda_describe(const ae_backend *be) { return CB(be)->desc; }

size_t ae_backend_cuda_cached_weights(const ae_backend *be) { return CB(be)->wlen; }

#endif /* AE_HAVE_CUDA */
