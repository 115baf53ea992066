/* nn.h - layers built from named weights, and forward helpers over a backend.
 *
 * Loaders fetch PyTorch state_dict tensors (prefix.weight, prefix.bias,
 * prefix.running_mean, ...) from an ae_weights file, check their shapes
 * against the arguments (AE_ERR_SHAPE naming the tensor) and keep views into
 * the file: a layer owns nothing and needs no free, but the ae_weights must
 * outlive it. Model files (src/colorize/, src/upscale/, tools/eval/inception.c)
 * mirror the PyTorch module tree so that the names match 1:1.
 *
 * Forward helpers take (backend, arena, layer, input, output). The output
 * tensor is allocated by the caller (normally ae_arena_tensor with the shape
 * from the *_out_hw helpers); workspace comes from the arena. While the arena
 * is planning (see arena.h) helpers check shapes, book workspace and skip the
 * compute, so a model's forward runs unchanged in both passes. The ae_nn_*
 * wrappers do the same for weight-less ops. Every helper returns
 * AE_ERR_UNAVAILABLE naming the op when the backend does not support it.
 */
#ifndef ASTROENH_NN_H
#define ASTROENH_NN_H

#include "astroenh/arena.h"
#include "astroenh/backend.h"
#include "astroenh/safetensors.h"
#include "astroenh/tensor.h"

/* ---- layers ------------------------------------------------------------ */
/* Every *_load fetches its tensors by state_dict name and refuses a tensor
 * holding NaN or Inf (AE_ERR_FORMAT naming the file and the tensor). */

/* nn.Conv2d(cin, cout, k, stride, pad, dilation, groups, bias): square k/stride/pad/dil. */
typedef struct {
    const float *w; /* [cout, cin/groups, k, k] */
    const float *b; /* [cout] or NULL */
    ae_conv2d_desc d;
} ae_conv;
ae_status ae_conv_load(ae_conv *c, ae_weights *W, const char *prefix, int cin, int cout, int k,
                       int stride, int pad, int dil, int groups, int bias);
/* y must be n x cout x oh x ow with ae_conv2d_out_hw(&c->d, ...). */
ae_status ae_conv_forward(const ae_backend *be, ae_arena *A, const ae_conv *c, const ae_tensor *x,
                          ae_tensor *y);
/* Allocates y from the arena with the right shape and runs the conv. */
ae_status ae_conv_forward_new(const ae_backend *be, ae_arena *A, const ae_conv *c,
                              const ae_tensor *x, ae_tensor *y);

/* nn.ConvTranspose2d(cin, cout, k, stride, pad, output_padding, groups, bias, dilation=1). */
typedef struct {
    const float *w; /* [cin, cout/groups, k, k] */
    const float *b;
    ae_convT2d_desc d;
} ae_convT;
ae_status ae_convT_load(ae_convT *c, ae_weights *W, const char *prefix, int cin, int cout, int k,
                        int stride, int pad, int out_pad, int groups, int bias);
ae_status ae_convT_forward(const ae_backend *be, ae_arena *A, const ae_convT *c, const ae_tensor *x,
                           ae_tensor *y);
ae_status ae_convT_forward_new(const ae_backend *be, ae_arena *A, const ae_convT *c,
                               const ae_tensor *x, ae_tensor *y);

/* nn.Linear(in, out, bias): weight [out, in]. x: n x in (as c*h*w); y: n x out x 1 x 1. */
typedef struct {
    const float *w, *b;
    int in, out;
} ae_linear;
ae_status ae_linear_load(ae_linear *l, ae_weights *W, const char *prefix, int in, int out, int bias);
ae_status ae_linear_forward(const ae_backend *be, ae_arena *A, const ae_linear *l, const ae_tensor *x,
                            ae_tensor *y);

/* nn.BatchNorm2d(c, eps) in eval mode: weight, bias, running_mean, running_var
 * (weight/bias absent when affine=False: pass affine = 0). */
typedef struct {
    const float *mean, *var, *gamma, *beta;
    int c;
    float eps;
} ae_bn;
ae_status ae_bn_load(ae_bn *bn, ae_weights *W, const char *prefix, int c, float eps, int affine);
ae_status ae_bn_forward(const ae_backend *be, ae_arena *A, const ae_bn *bn, const ae_tensor *x,
                        ae_tensor *y); /* y may equal x */

/* nn.GroupNorm(groups, c, eps, affine) and nn.InstanceNorm2d(c, eps, affine)
 * (instance norm: groups == c, a separate op so backends may specialise it). */
typedef struct {
    const float *gamma, *beta; /* [c] or NULL */
    int c, groups;
    float eps;
    int instance; /* 1: InstanceNorm2d */
} ae_gn;
ae_status ae_gn_load(ae_gn *gn, ae_weights *W, const char *prefix, int groups, int c, float eps,
                     int affine);
ae_status ae_in_load(ae_gn *gn, ae_weights *W, const char *prefix, int c, float eps, int affine);
ae_status ae_gn_forward(const ae_backend *be, ae_arena *A, const ae_gn *gn, const ae_tensor *x,
                        ae_tensor *y); /* y may equal x */

/* Spatial self-attention block with residual, as in SR3/DDPM U-Nets:
 *   h = GroupNorm(x); qkv = Conv1x1(h) (3C channels); a = attention(q, k, v);
 *   y = Conv1x1_out(a) + x
 * AE_ATTN_SR3: SR3's SelfAttention (modules norm, qkv [bias=False], out;
 *   per-head interleaved q,k,v; scale 1/sqrt(C)).
 * AE_ATTN_STD: q,k,v = qkv.chunk(3, dim=1), scale 1/sqrt(C/heads); modules
 *   norm, qkv (with bias), proj_out. */
typedef enum { AE_ATTN_SR3 = 0, AE_ATTN_STD } ae_attn_style;
typedef struct {
    ae_gn norm;
    ae_conv qkv, out;
    ae_attn_desc d;
    int c;
} ae_attn_block;
ae_status ae_attn_block_load(ae_attn_block *blk, ae_weights *W, const char *prefix, int c, int heads,
                             int norm_groups, float eps, ae_attn_style style);
/* y: same shape as x; y must not alias x. */
ae_status ae_attn_block_forward(const ae_backend *be, ae_arena *A, const ae_attn_block *blk,
                                const ae_tensor *x, ae_tensor *y);

/* ---- weight-less ops: skip compute while planning, check shapes always ---- */

ae_status ae_nn_activation(const ae_backend *be, ae_arena *A, ae_act kind, float alpha,
                           const ae_tensor *x, ae_tensor *y);
ae_status ae_nn_add(const ae_backend *be, ae_arena *A, const ae_tensor *a, const ae_tensor *b,
                    ae_tensor *y);
ae_status ae_nn_mul(const ae_backend *be, ae_arena *A, const ae_tensor *a, const ae_tensor *b,
                    ae_tensor *y);
ae_status ae_nn_scale_shift(const ae_backend *be, ae_arena *A, const ae_tensor *x,
                            const ae_tensor *scale, float scale_bias, const ae_tensor *shift,
                            ae_tensor *y);
ae_status ae_nn_concat(const ae_backend *be, ae_arena *A, const ae_tensor *const *xs, int count,
                       ae_tensor *y);
ae_status ae_nn_copy(const ae_backend *be, ae_arena *A, const ae_tensor *x, ae_tensor *y);
ae_status ae_nn_upsample(const ae_backend *be, ae_arena *A, ae_upsample_mode mode, const ae_tensor *x,
                         ae_tensor *y);
ae_status ae_nn_pool(const ae_backend *be, ae_arena *A, const ae_pool_desc *d, const ae_tensor *x,
                     ae_tensor *y);
ae_status ae_nn_pixel_shuffle(const ae_backend *be, ae_arena *A, int r, const ae_tensor *x,
                              ae_tensor *y);
ae_status ae_nn_attention(const ae_backend *be, ae_arena *A, const ae_attn_desc *d,
                          const ae_tensor *q, const ae_tensor *k, const ae_tensor *v, ae_tensor *y);
ae_status ae_nn_noise_embed(const ae_backend *be, ae_arena *A, const float *gamma, ae_tensor *y);

/* Host <-> tensor transfers, skipped while planning (t->data is not real then). */
ae_status ae_nn_upload(const ae_backend *be, ae_arena *A, ae_tensor *t, const float *host);
ae_status ae_nn_download(const ae_backend *be, ae_arena *A, const ae_tensor *t, float *host);

#endif
