/* conv.cu - F.conv2d and F.conv_transpose2d on cuDNN (CUDA backend).
 *
 * conv2d is cudnnConvolutionForward; conv_transpose2d is, as in PyTorch,
 * cudnnConvolutionBackwardData of the convolution whose filter is the
 * transposed conv's weight [cin, cout/g, kh, kw] (its "dy" is our input, its
 * "dx" our output, output_padding being the extra rows/cols of dx). Bias is
 * added by a separate kernel (elementwise.cu). Mirrors src/nn/conv.c.
 *
 * Algorithm choice: the first time a shape (kind, precision, n, c, h, w,
 * desc) is seen, cudnnFind* times the algorithms and the fastest whose
 * workspace fits cx->conv_ws_limit is kept (with its math type) together with
 * the tensor/filter/convolution descriptors; when Find fails (e.g. out of
 * memory) the heuristic cudnnGet*_v7 list is used instead. The arena's
 * planning pass asks for the workspace size, so the search happens there.
 *
 * fp16 (cx->prec): x is converted to half in the workspace, cuDNN runs with
 * half tensors and float accumulation (PSEUDO_HALF_CONFIG) on half weights,
 * and the half output is widened into y with the bias.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ae_cuda.h"

#define KEY_INTS 19
#define WS_ALIGN 256

typedef struct conv_entry {
    int key[KEY_INTS];
    cudnnTensorDescriptor_t x, y;
    cudnnFilterDescriptor_t w;
    cudnnConvolutionDescriptor_t conv;
    int ok;                      /* 0: no usable algorithm (msg says why) */
    int algo;                    /* cudnnConvolutionFwdAlgo_t or BwdDataAlgo_t */
    size_t algo_ws;              /* bytes the algorithm needs */
    char msg[256];
    struct conv_entry *next;
} conv_entry;

struct ae_cuda_conv_cache {
    conv_entry *head;
};

enum { KIND_FWD = 0, KIND_BWD_DATA = 1 };

extern "C" ae_status ae_cuda_conv_cache_create(ae_cuda_conv_cache **out) {
    ae_cuda_conv_cache *c = (ae_cuda_conv_cache *)calloc(1, sizeof *c);
    if (!c) return ae_error_set(AE_ERR_NOMEM, "CUDA conv cache: out of memory");
    *out = c;
    return AE_OK;
}

static void entry_free(conv_entry *e) {
    if (e->x) cudnnDestroyTensorDescriptor(e->x);
    if (e->y) cudnnDestroyTensorDescriptor(e->y);
    if (e->w) cudnnDestroyFilterDescriptor(e->w);
    if (e->conv) cudnnDestroyConvolutionDescriptor(e->conv);
    free(e);
}

extern "C" void ae_cuda_conv_cache_free(ae_cuda_conv_cache *c) {
    if (!c) return;
    for (conv_entry *e = c->head, *nx; e; e = nx) {
        nx = e->next;
        entry_free(e);
    }
    free(c);
}

/* Shape of the problem in cuDNN forward terms: "in" is x (fwd) / y (bwd-data),
 * "out" the other side; filter [k_out, k_in/g, kh, kw]. */
typedef struct {
    int kind, n, cin, h, w, cout, oh, ow, kh, kw, sh, sw, ph, pw, dh, dw, groups;
} conv_problem;

static void make_key(const conv_problem *p, ae_cuda_precision prec, int *key) {
    int k[KEY_INTS] = {p->kind, (int)prec, p->n, p->cin, p->h, p->w, p->cout, p->oh, p->ow, p->kh,
                       p->kw, p->sh, p->sw, p->ph, p->pw, p->dh, p->dw, p->groups, 0};
    memcpy(key, k, sizeof k);
}

static ae_status set_descs(conv_entry *e, const conv_problem *p, ae_cuda_precision prec) {
    cudnnDataType_t dt = prec == AE_CUDA_FP16 ? CUDNN_DATA_HALF : CUDNN_DATA_FLOAT;
    const char *w = "cuDNN descriptors";
    ae_status st = ae_cuda_check_cudnn(cudnnCreateTensorDescriptor(&e->x), w);
    if (st == AE_OK) st = ae_cuda_check_cudnn(cudnnCreateTensorDescriptor(&e->y), w);
    if (st == AE_OK) st = ae_cuda_check_cudnn(cudnnCreateFilterDescriptor(&e->w), w);
    if (st == AE_OK) st = ae_cuda_check_cudnn(cudnnCreateConvolutionDescriptor(&e->conv), w);
    /* forward: x = n x cin x h x w -> y = n x cout x oh x ow, filter [cout, cin/g];
     * bwd-data: "dy" = our x (n x cin x h x w), "dx" = our y, filter [cin, cout/g] */
    int fwd = p->kind == KIND_FWD;
    if (st == AE_OK)
        st = ae_cuda_check_cudnn(cudnnSetTensor4dDescriptor(e->x, CUDNN_TENSOR_NCHW, dt, p->n, p->cin,
                                                            p->h, p->w), "conv input descriptor");
    if (st == AE_OK)
        st = ae_cuda_check_cudnn(cudnnSetTensor4dDescriptor(e->y, CUDNN_TENSOR_NCHW, dt, p->n, p->cout,
                                                            p->oh, p->ow), "conv output descriptor");
    if (st == AE_OK)
        st = ae_cuda_check_cudnn(cudnnSetFilter4dDescriptor(e->w, dt, CUDNN_TENSOR_NCHW,
                                                            fwd ? p->cout : p->cin,
                                                            (fwd ? p->cin : p->cout) / p->groups, p->kh,
                                                            p->kw), "conv filter descriptor");
    if (st == AE_OK)
        st = ae_cuda_check_cudnn(cudnnSetConvolution2dDescriptor(e->conv, p->ph, p->pw, p->sh, p->sw,
                                                                 p->dh, p->dw, CUDNN_CROSS_CORRELATION,
                                                                 CUDNN_DATA_FLOAT), "conv descriptor");
    if (st == AE_OK)
        st = ae_cuda_check_cudnn(cudnnSetConvolutionGroupCount(e->conv, p->groups), "conv groups");
    if (st == AE_OK)
        st = ae_cuda_check_cudnn(cudnnSetConvolutionMathType(e->conv, prec == AE_CUDA_FP16
                                                                          ? CUDNN_TENSOR_OP_MATH
                                                                          : CUDNN_DEFAULT_MATH),
                                 "conv math type");
    return st;
}

/* cuDNN's own output size must agree with ours (it always should). */
static ae_status check_out_dims(const conv_entry *e, const conv_problem *p) {
    int dims[4];
    /* forward maps x -> y; bwd-data's forward maps our y ("dx") -> our x ("dy") */
    const cudnnTensorDescriptor_t in = p->kind == KIND_FWD ? e->x : e->y;
    ae_status st = ae_cuda_check_cudnn(cudnnGetConvolutionNdForwardOutputDim(e->conv, in, e->w, 4, dims),
                                       "conv output size");
    if (st) return st;
    int en = p->n, ec = p->kind == KIND_FWD ? p->cout : p->cin;
    int eh = p->kind == KIND_FWD ? p->oh : p->h, ew = p->kind == KIND_FWD ? p->ow : p->w;
    if (dims[0] != en || dims[1] != ec || dims[2] != eh || dims[3] != ew)
        return ae_error_set(AE_ERR_SHAPE, "conv: cuDNN computes output %dx%dx%dx%d, expected %dx%dx%dx%d",
                            dims[0], dims[1], dims[2], dims[3], en, ec, eh, ew);
    return AE_OK;
}

#define MAX_ALGOS 16

static int pick_fwd(ae_cuda_ctx *cx, conv_entry *e) {
    cudnnConvolutionFwdAlgoPerf_t perf[MAX_ALGOS];
    int got = 0;
    cudnnStatus_t s = cudnnFindConvolutionForwardAlgorithm(cx->cudnn, e->x, e->w, e->conv, e->y, MAX_ALGOS,
                                                           &got, perf);
    if (s != CUDNN_STATUS_SUCCESS) {
        cudaGetLastError();
        got = 0;
        s = cudnnGetConvolutionForwardAlgorithm_v7(cx->cudnn, e->x, e->w, e->conv, e->y, MAX_ALGOS, &got,
                                                   perf);
        if (s != CUDNN_STATUS_SUCCESS) got = 0;
    }
    for (int i = 0; i < got; i++) {
        if (perf[i].status != CUDNN_STATUS_SUCCESS || perf[i].memory > cx->conv_ws_limit) continue;
        if (cudnnSetConvolutionMathType(e->conv, perf[i].mathType) != CUDNN_STATUS_SUCCESS) continue;
        e->algo = (int)perf[i].algo;
        e->algo_ws = perf[i].memory;
        return 1;
    }
    return 0;
}

static int pick_bwd_data(ae_cuda_ctx *cx, conv_entry *e) {
    cudnnConvolutionBwdDataAlgoPerf_t perf[MAX_ALGOS];
    int got = 0;
    cudnnStatus_t s = cudnnFindConvolutionBackwardDataAlgorithm(cx->cudnn, e->w, e->x, e->conv, e->y,
                                                                MAX_ALGOS, &got, perf);
    if (s != CUDNN_STATUS_SUCCESS) {
        cudaGetLastError();
        got = 0;
        s = cudnnGetConvolutionBackwardDataAlgorithm_v7(cx->cudnn, e->w, e->x, e->conv, e->y, MAX_ALGOS,
                                                        &got, perf);
        if (s != CUDNN_STATUS_SUCCESS) got = 0;
    }
    for (int i = 0; i < got; i++) {
        if (perf[i].status != CUDNN_STATUS_SUCCESS || perf[i].memory > cx->conv_ws_limit) continue;
        if (cudnnSetConvolutionMathType(e->conv, perf[i].mathType) != CUDNN_STATUS_SUCCESS) continue;
        e->algo = (int)perf[i].algo;
        e->algo_ws = perf[i].memory;
        return 1;
    }
    return 0;
}

/* The cached entry for p (created and searched on first use); NULL only when
 * out of host memory. A failed search is cached too (e->ok = 0, e->msg). */
static conv_entry *lookup(ae_cuda_ctx *cx, const conv_problem *p) {
    int key[KEY_INTS];
    make_key(p, cx->prec, key);
    for (conv_entry *e = cx->conv->head; e; e = e->next)
        if (!memcmp(e->key, key, sizeof key)) return e;
    conv_entry *e = (conv_entry *)calloc(1, sizeof *e);
    if (!e) return NULL;
    memcpy(e->key, key, sizeof key);
    ae_status st = set_descs(e, p, cx->prec);
    if (st == AE_OK) st = check_out_dims(e, p);
    if (st == AE_OK) {
        e->ok = p->kind == KIND_FWD ? pick_fwd(cx, e) : pick_bwd_data(cx, e);
        if (!e->ok)
            ae_error_set(AE_ERR_DEVICE, "no cuDNN algorithm within %zu MiB of workspace",
                         cx->conv_ws_limit >> 20);
    }
    if (!e->ok) snprintf(e->msg, sizeof e->msg, "%s", ae_error_message());
    e->next = cx->conv->head;
    cx->conv->head = e;
    return e;
}

static size_t align_up(size_t v) { return (v + WS_ALIGN - 1) & ~(size_t)(WS_ALIGN - 1); }

static size_t problem_ws(ae_cuda_ctx *cx, const conv_problem *p) {
    conv_entry *e = lookup(cx, p);
    if (!e || !e->ok) return 0;
    size_t ws = align_up(e->algo_ws);
    if (cx->prec == AE_CUDA_FP16) {
        size_t nx = (size_t)p->n * p->cin * p->h * p->w, ny = (size_t)p->n * p->cout * p->oh * p->ow;
        ws += align_up(nx * sizeof(__half)) + align_up(ny * sizeof(__half));
    }
    return ws;
}

static conv_problem fwd_problem(const ae_conv2d_desc *d, int n, int h, int w, int oh, int ow) {
    conv_problem p = {KIND_FWD, n, d->cin, h, w, d->cout, oh, ow, d->kh, d->kw, d->stride_h, d->stride_w,
                      d->pad_h, d->pad_w, d->dil_h, d->dil_w, d->groups};
    return p;
}

static conv_problem bwd_problem(const ae_convT2d_desc *d, int n, int h, int w, int oh, int ow) {
    conv_problem p = {KIND_BWD_DATA, n, d->cin, h, w, d->cout, oh, ow, d->kh, d->kw, d->stride_h,
                      d->stride_w, d->pad_h, d->pad_w, d->dil_h, d->dil_w, d->groups};
    return p;
}

extern "C" size_t ae_cuda_conv2d_ws(ae_cuda_ctx *cx, const ae_conv2d_desc *d, int n, int h, int w) {
    int oh, ow;
    if (ae_conv2d_out_hw(d, h, w, &oh, &ow) != AE_OK) return 0;
    conv_problem p = fwd_problem(d, n, h, w, oh, ow);
    return problem_ws(cx, &p);
}

extern "C" size_t ae_cuda_convT2d_ws(ae_cuda_ctx *cx, const ae_convT2d_desc *d, int n, int h, int w) {
    int oh, ow;
    if (ae_convT2d_out_hw(d, h, w, &oh, &ow) != AE_OK) return 0;
    conv_problem p = bwd_problem(d, n, h, w, oh, ow);
    return problem_ws(cx, &p);
}

/* Runs the cached algorithm of p: fwd y = conv(x) or bwd-data y = convT(x). */
static ae_status run_problem(ae_cuda_ctx *cx, const conv_problem *p, const char *op, const float *x,
                             const void *wt, const float *b, float *y, void *ws, size_t ws_bytes) {
    conv_entry *e = lookup(cx, p);
    if (!e) return ae_error_set(AE_ERR_NOMEM, "%s: out of host memory", op);
    if (!e->ok) return ae_error_set(AE_ERR_DEVICE, "%s: %s", op, e->msg);
    size_t need = problem_ws(cx, p);
    if (ws_bytes < need || (need && !ws))
        return ae_error_set(AE_ERR_ARG, "%s: workspace of %zu bytes, %zu needed", op, ws_bytes, need);
    char *base = (char *)ws;
    void *algo_ws = e->algo_ws ? base : NULL;
    size_t nx = (size_t)p->n * p->cin * p->h * p->w, hw_out = (size_t)p->oh * p->ow;
    const void *xin = x;
    void *yout = y;
    __half *yh = NULL;
    ae_status st = AE_OK;
    if (cx->prec == AE_CUDA_FP16) {
        __half *xh = (__half *)(base + align_up(e->algo_ws));
        yh = (__half *)((char *)xh + align_up(nx * sizeof(__half)));
        st = ae_cuda_f32_to_f16(cx, x, xh, nx);
        xin = xh;
        yout = yh;
    }
    const float one = 1.0f, zero = 0.0f;
    if (st == AE_OK && p->kind == KIND_FWD)
        st = ae_cuda_check_cudnn(cudnnConvolutionForward(cx->cudnn, &one, e->x, xin, e->w, wt, e->conv,
                                                         (cudnnConvolutionFwdAlgo_t)e->algo, algo_ws,
                                                         e->algo_ws, &zero, e->y, yout), op);
    else if (st == AE_OK)
        st = ae_cuda_check_cudnn(cudnnConvolutionBackwardData(cx->cudnn, &one, e->w, wt, e->x, xin, e->conv,
                                                              (cudnnConvolutionBwdDataAlgo_t)e->algo,
                                                              algo_ws, e->algo_ws, &zero, e->y, yout), op);
    if (st) return st;
    if (yh) return ae_cuda_f16_to_f32_bias(cx, yh, b, y, p->n, p->cout, hw_out);
    return b ? ae_cuda_bias_add(cx, y, b, p->n, p->cout, hw_out) : AE_OK;
}

extern "C" ae_status ae_cuda_conv2d(ae_cuda_ctx *cx, const ae_conv2d_desc *d, const float *x, int n, int h,
                                    int w, const void *wt, const float *b, float *y, int oh, int ow,
                                    void *ws, size_t ws_bytes) {
    conv_problem p = fwd_problem(d, n, h, w, oh, ow);
    return run_problem(cx, &p, "conv2d", x, wt, b, y, ws, ws_bytes);
}

extern "C" ae_status ae_cuda_convT2d(ae_cuda_ctx *cx, const ae_convT2d_desc *d, const float *x, int n,
                                     int h, int w, const void *wt, const float *b, float *y, int oh,
                                     int ow, void *ws, size_t ws_bytes) {
    conv_problem p = bwd_problem(d, n, h, w, oh, ow);
    return run_problem(cx, &p, "conv_transpose2d", x, wt, b, y, ws, ws_bytes);
}
