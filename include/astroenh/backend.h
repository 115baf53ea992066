/* backend.h - where the engine's ops run: a table of function pointers.
 *
 * Modelled on ggml's backends: the CPU backend (src/backend/cpu.c, ops in
 * src/nn/ over OpenBLAS + OpenMP) is always built and complete; a CUDA
 * backend (src/backend/cuda.c + kernels/ .cu files, under AE_HAVE_CUDA) fills the
 * same table. Every op here mirrors a PyTorch function exactly (named per
 * op); tests/test_ops.c checks the CPU backend against PyTorch goldens.
 *
 * Conventions for every op:
 * - Tensors are NCHW float32 in backend memory (ae_tensor.data); outputs are
 *   passed in with their shape already set; ops never allocate.
 * - Weights/biases/norm parameters (const float *) are HOST pointers (views
 *   into the ae_weights mmap) that stay valid and unchanged while the backend
 *   is used. A device backend uploads them on first use and caches the copy
 *   keyed by the host pointer (released by be->release()).
 * - Ops check shapes and return AE_ERR_SHAPE (message names the op and both
 *   shapes) or AE_ERR_ARG; AE_ERR_DEVICE for device failures. In-place
 *   (y == x) is allowed only where stated.
 * - Ops that need workspace report its size through *_ws() and take it as
 *   (ws, ws_bytes); ws may be NULL when the size is 0. Callers get it from
 *   the arena (nn.h's forward helpers do).
 * - Threads: the CPU backend has ONE thread pool, OpenMP's: its ops split
 *   GEMMs into work items (column tiles, query blocks) run by OpenMP threads,
 *   each calling a single-threaded OpenBLAS sgemm, so OpenBLAS's own pthread
 *   pool is never used alongside OpenMP (ops set OpenBLAS to 1 thread). The
 *   counts are set by ae_backend_set_threads only.
 */
#ifndef ASTROENH_BACKEND_H
#define ASTROENH_BACKEND_H

#include <stddef.h>
#include "astroenh/status.h"
#include "astroenh/tensor.h"

typedef struct ae_backend ae_backend;

typedef enum {
    AE_OP_CONV2D = 0,
    AE_OP_CONV_TRANSPOSE2D,
    AE_OP_LINEAR,
    AE_OP_BATCHNORM,
    AE_OP_GROUPNORM,
    AE_OP_INSTANCENORM,
    AE_OP_ACTIVATION,
    AE_OP_ADD,
    AE_OP_MUL,
    AE_OP_SCALE_SHIFT,
    AE_OP_CONCAT,
    AE_OP_UPSAMPLE,
    AE_OP_POOL,
    AE_OP_PIXEL_SHUFFLE,
    AE_OP_ATTENTION,
    AE_OP_NOISE_EMBED,
    AE_OP_COPY,
    AE_OP_COUNT
} ae_op;

const char *ae_op_name(ae_op op); /* "conv2d", ...; "?" when out of range */

/* torch.nn.Conv2d / F.conv2d. Weight [cout, cin/groups, kh, kw], bias [cout].
 * Output size: (in + 2*pad - dil*(k-1) - 1) / stride + 1 per axis. */
typedef struct {
    int cin, cout, kh, kw;
    int stride_h, stride_w, pad_h, pad_w, dil_h, dil_w;
    int groups; /* cin and cout divisible by groups */
} ae_conv2d_desc;

/* torch.nn.ConvTranspose2d / F.conv_transpose2d. Weight [cin, cout/groups, kh, kw],
 * bias [cout]. Output: (in-1)*stride - 2*pad + dil*(k-1) + out_pad + 1 per axis
 * (out_pad < stride or < dil, as PyTorch requires). */
typedef struct {
    int cin, cout, kh, kw;
    int stride_h, stride_w, pad_h, pad_w, out_pad_h, out_pad_w, dil_h, dil_w;
    int groups;
} ae_convT2d_desc;

typedef enum {
    AE_ACT_IDENTITY = 0,
    AE_ACT_RELU,
    AE_ACT_LEAKY_RELU, /* alpha = negative_slope (PyTorch default 0.01) */
    AE_ACT_SILU,       /* x * sigmoid(x) */
    AE_ACT_GELU,       /* 0.5 x (1 + erf(x / sqrt 2)), F.gelu's default (not tanh) */
    AE_ACT_TANH,
    AE_ACT_SIGMOID
} ae_act;

typedef enum { AE_UPSAMPLE_NEAREST = 0, AE_UPSAMPLE_BILINEAR } ae_upsample_mode;
typedef enum { AE_POOL_MAX = 0, AE_POOL_AVG, AE_POOL_AVG_EXCLUDE_PAD } ae_pool_kind;

/* Pooling as F.max_pool2d / F.avg_pool2d with ceil_mode=False; AE_POOL_AVG uses
 * count_include_pad=True (PyTorch's default), AE_POOL_AVG_EXCLUDE_PAD
 * count_include_pad=False (divides by the window's pixels inside the image, as
 * TensorFlow does); max pads with -inf. */
typedef struct {
    ae_pool_kind kind;
    int kh, kw, stride_h, stride_w, pad_h, pad_w;
} ae_pool_desc;

/* Multi-head attention over the h*w positions of q, k, v (all n x . x h x w,
 * same n, h, w). Head i of q reads channels q_off + i*head_stride ...
 * + head_dim - 1 of tensor q (likewise k, v), so one fused qkv tensor can be
 * passed three times:
 *   qkv.chunk(3, dim=1)                      q_off=0, k_off=C, v_off=2C, head_stride=head_dim
 *   SR3: qkv.view(b, heads, 3*d, h, w).chunk(3, dim=2)
 *                                            q_off=0, k_off=d, v_off=2d, head_stride=3d
 *   separate q, k, v tensors                 offsets 0, head_stride=head_dim
 * y[n, i*head_dim + c, p] = sum_j softmax_j(scale * <q_i[:, p], k_i[:, j]>) v_i[c, j]
 * y is n x heads*head_dim x h x w. scale is usually 1/sqrt(head_dim); SR3's
 * SelfAttention uses 1/sqrt(channels). */
typedef struct {
    int heads, head_dim;
    float scale;
    int q_off, k_off, v_off, head_stride;
} ae_attn_desc;

struct ae_backend {
    const char *name; /* "cpu", "cuda" */
    void *ctx;        /* backend-private state (CUDA handles, weight cache) */

    /* 1 if this backend implements op. */
    int (*supports)(const ae_backend *be, ae_op op);

    /* ---- memory: bytes of backend memory (64-byte aligned at least) */
    ae_status (*alloc)(const ae_backend *be, size_t bytes, void **out);
    void (*free)(const ae_backend *be, void *p); /* NULL-safe */
    ae_status (*upload)(const ae_backend *be, void *dst, const void *src_host, size_t bytes);
    ae_status (*download)(const ae_backend *be, void *dst_host, const void *src, size_t bytes);
    ae_status (*sync)(const ae_backend *be); /* wait for queued work */

    /* ---- convolution (F.conv2d, F.conv_transpose2d, F.linear) */
    size_t (*conv2d_ws)(const ae_backend *be, const ae_conv2d_desc *d, const ae_tensor *x);
    ae_status (*conv2d)(const ae_backend *be, const ae_conv2d_desc *d, const ae_tensor *x,
                        const float *w, const float *b /* NULL: no bias */, ae_tensor *y,
                        float *ws, size_t ws_bytes);
    size_t (*conv_transpose2d_ws)(const ae_backend *be, const ae_convT2d_desc *d, const ae_tensor *x);
    ae_status (*conv_transpose2d)(const ae_backend *be, const ae_convT2d_desc *d, const ae_tensor *x,
                                  const float *w, const float *b, ae_tensor *y, float *ws,
                                  size_t ws_bytes);
    /* x: n x (c*h*w = in_features), w [out, in], b [out] or NULL; y: n x out x 1 x 1. */
    ae_status (*linear)(const ae_backend *be, const ae_tensor *x, const float *w, const float *b,
                        ae_tensor *y);

    /* ---- normalisation; y may equal x */
    /* eval-mode BatchNorm2d: (x - mean) / sqrt(var + eps) * gamma + beta; gamma/beta NULL = 1/0 */
    ae_status (*batchnorm)(const ae_backend *be, const ae_tensor *x, const float *mean,
                           const float *var, const float *gamma, const float *beta, float eps,
                           ae_tensor *y);
    /* F.group_norm (biased variance per (n, group)); gamma/beta [c] or NULL */
    ae_status (*groupnorm)(const ae_backend *be, const ae_tensor *x, int groups, const float *gamma,
                           const float *beta, float eps, ae_tensor *y);
    /* F.instance_norm without running stats; gamma/beta [c] or NULL (affine=False) */
    ae_status (*instancenorm)(const ae_backend *be, const ae_tensor *x, const float *gamma,
                              const float *beta, float eps, ae_tensor *y);

    /* ---- elementwise; y may equal an input */
    ae_status (*activation)(const ae_backend *be, ae_act kind, float alpha, const ae_tensor *x,
                            ae_tensor *y);
    ae_status (*add)(const ae_backend *be, const ae_tensor *a, const ae_tensor *b, ae_tensor *y);
    ae_status (*mul)(const ae_backend *be, const ae_tensor *a, const ae_tensor *b, ae_tensor *y);
    /* y[n,c,:,:] = x[n,c,:,:] * (scale_bias + scale[n,c]) + shift[n,c] (FiLM / SR3
     * FeatureWiseAffine: scale_bias 1 for (1+gamma)*x + beta, 0 for gamma*x + beta).
     * scale/shift are tensors n x c x 1 x 1 (or 1 x c x 1 x 1, broadcast over n) in
     * backend memory, or NULL (scale -> 0 with scale_bias, shift -> 0). */
    ae_status (*scale_shift)(const ae_backend *be, const ae_tensor *x, const ae_tensor *scale,
                             float scale_bias, const ae_tensor *shift, ae_tensor *y);
    /* torch.cat(xs, dim=1); y must not alias an input. */
    ae_status (*concat)(const ae_backend *be, const ae_tensor *const *xs, int count, ae_tensor *y);
    ae_status (*copy)(const ae_backend *be, const ae_tensor *x, ae_tensor *y);

    /* ---- resampling */
    /* F.interpolate(mode="nearest" | "bilinear", align_corners=False) to y's h x w
     * (source coordinate = (dst + 0.5) * in/out - 0.5 for bilinear, floor(dst * in/out)
     * for nearest; for integer scale_factor this equals PyTorch's scale_factor path). */
    ae_status (*upsample)(const ae_backend *be, ae_upsample_mode mode, const ae_tensor *x,
                          ae_tensor *y);
    ae_status (*pool)(const ae_backend *be, const ae_pool_desc *d, const ae_tensor *x, ae_tensor *y);
    /* F.pixel_shuffle: x n x c*r*r x h x w -> y n x c x h*r x w*r */
    ae_status (*pixel_shuffle)(const ae_backend *be, int r, const ae_tensor *x, ae_tensor *y);

    /* ---- attention and embeddings */
    size_t (*attention_ws)(const ae_backend *be, const ae_attn_desc *d, const ae_tensor *q);
    ae_status (*attention)(const ae_backend *be, const ae_attn_desc *d, const ae_tensor *q,
                           const ae_tensor *k, const ae_tensor *v, ae_tensor *y, float *ws,
                           size_t ws_bytes);
    /* SR3 PositionalEncoding of the noise level: for batch item i with level
     * g = gamma[i] (HOST array of y->n floats), count = dim/2 (dim = y->c, even),
     * e_j = g * exp(-ln(1e4) * j / count), j = 0..count-1,
     * y[i, j] = sin(e_j), y[i, count + j] = cos(e_j); y is n x dim x 1 x 1. */
    ae_status (*noise_embed)(const ae_backend *be, const float *gamma, ae_tensor *y);

    /* Frees ctx and cached device weights (NULL-safe member; may be NULL). */
    void (*release)(ae_backend *be);
};

/* Returns the backend named "cpu", "cuda" or "auto" (CUDA when built and a
 * device is usable, else CPU). The CPU backend is a static table (no release
 * needed); a CUDA backend is created on first use and lives until exit.
 * Errors: AE_ERR_UNAVAILABLE "CUDA backend not built" (this build), AE_ERR_DEVICE
 * (no usable GPU), AE_ERR_ARG for an unknown name. */
ae_status ae_backend_get(const char *name, const ae_backend **out);

/* --quiet: the once-per-run "--device auto: running on the CPU" notice is not
 * printed (cron mails every line on stderr; only errors should reach it). */
void ae_backend_set_quiet(int quiet);

/* --precision: the arithmetic of the CUDA backend, "fp32" (the default; TF32
 * allowed) or "fp16"; the CPU backend is always fp32. Takes effect for a CUDA
 * backend made afterwards (ae_backend_get makes it once, on first use).
 * AE_ERR_ARG for another name. */
ae_status ae_backend_set_precision(const char *name);
const char *ae_backend_precision(void);

/* The thread rule, the one place that sets thread counts: `threads` > 0
 * (--threads N) is the count; 0 takes a Slurm task's SLURM_CPUS_PER_TASK (the
 * CPUs Slurm gave the task, which omp_get_num_procs() need not see where no
 * cgroup confines it), else OpenMP's default (OMP_NUM_THREADS, else all
 * cores). Sets the calling thread's OpenMP count to it and OpenBLAS's to 1
 * (see the threading note above). Returns the count; *source (may be NULL)
 * says where it came from: "--threads", "SLURM_CPUS_PER_TASK" or "default".
 * Once per process before any op runs, and in each --jobs worker thread
 * (OpenMP's count is per thread). */
int ae_backend_set_threads(int threads, const char **source);
int ae_backend_threads(void); /* the calling thread's OpenMP count */

/* Output sizes of conv / convT / pool for an input h x w; AE_ERR_SHAPE when
 * the result would be < 1 (message names the desc and input size). */
ae_status ae_conv2d_out_hw(const ae_conv2d_desc *d, int h, int w, int *oh, int *ow);
ae_status ae_convT2d_out_hw(const ae_convT2d_desc *d, int h, int w, int *oh, int *ow);
ae_status ae_pool_out_hw(const ae_pool_desc *d, int h, int w, int *oh, int *ow);

/* Argument checks every backend runs before an op (src/nn/opcheck.c), so both
 * refuse the same calls with the same AE_ERR_SHAPE / AE_ERR_ARG messages. */
ae_status ae_check_same(const char *op, const ae_tensor *a, const ae_tensor *b);
/* x has cin channels and y is n x cout x oh x ow (conv, convT) */
ae_status ae_check_layer_io(const char *op, const ae_tensor *x, const ae_tensor *y, int cin, int cout, int oh,
                            int ow);
ae_status ae_check_scale_shift(const ae_tensor *x, const ae_tensor *scale, const ae_tensor *shift,
                               const ae_tensor *y);
ae_status ae_check_concat(const ae_tensor *const *xs, int count, const ae_tensor *y);
ae_status ae_check_attention(const ae_attn_desc *d, const ae_tensor *q, const ae_tensor *k, const ae_tensor *v,
                             const ae_tensor *y);

/* Hook for the CUDA backend (src/backend/cuda.c, AE_HAVE_CUDA builds only):
 * creates the backend table, AE_ERR_DEVICE when no GPU is usable. */
ae_status ae_backend_cuda_create(ae_backend **out);

/* The CPU backend table (always available). */
const ae_backend *ae_backend_cpu(void);

#endif
