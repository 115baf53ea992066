/* layers.c - nn.h: layers loaded by PyTorch state_dict name, and forward
 * helpers that run a backend op (or only book its workspace while the arena
 * is planning). Mirrors torch.nn Conv2d, ConvTranspose2d, Linear,
 * BatchNorm2d, GroupNorm, InstanceNorm2d and SR3's SelfAttention block.
 */
#include <math.h>
#include <stdio.h>
#include "astroenh/nn.h"

static ae_status need_op(const ae_backend *be, ae_op op) {
    if (be->supports(be, op)) return AE_OK;
    return ae_error_set(AE_ERR_UNAVAILABLE, "backend %s does not implement %s", be->name, ae_op_name(op));
}

/* A NaN or Inf parameter (a diverged training run, a damaged file) would
 * give black or NaN images with exit status 0: refuse the model at load. */
static ae_status check_finite(const ae_weights *W, const char *name, const float *p, int ndim,
                              const int64_t *shape) {
    size_t n = 1;
    for (int i = 0; i < ndim; i++) n *= (size_t)shape[i];
    for (size_t i = 0; i < n; i++)
        if (!isfinite(p[i]))
            return ae_error_set(AE_ERR_FORMAT, "%s: tensor '%s' holds a non-finite value (%s at element %zu of %zu)",
                                ae_weights_path(W), name, isnan(p[i]) ? "NaN" : "Inf", i, n);
    return AE_OK;
}

static ae_status get_param(ae_weights *W, const char *prefix, const char *leaf, int ndim,
                           const int64_t *shape, const float **out) {
    char name[512];
    int64_t s[4];
    if (snprintf(name, sizeof name, "%s%s%s", prefix, *prefix ? "." : "", leaf) >= (int)sizeof name)
        return ae_error_set(AE_ERR_ARG, "tensor name '%s.%s' is too long", prefix, leaf);
    for (int i = 0; i < ndim; i++) s[i] = shape[i];
    ae_status st = ae_weights_get(W, name, ndim, s, out);
    return st == AE_OK ? check_finite(W, name, *out, ndim, s) : st;
}

/* ---- conv / convT / linear -------------------------------------------- */

ae_status ae_conv_load(ae_conv *c, ae_weights *W, const char *prefix, int cin, int cout, int k,
                       int stride, int pad, int dil, int groups, int bias) {
    ae_conv2d_desc d = {cin, cout, k, k, stride, stride, pad, pad, dil, dil, groups};
    int oh, ow;
    ae_status st = ae_conv2d_out_hw(&d, 1 + dil * (k - 1), 1 + dil * (k - 1), &oh, &ow);
    if (st) {
        ae_error_prefix("%s", prefix);
        return st;
    }
    c->d = d;
    c->b = NULL;
    st = get_param(W, prefix, "weight", 4, (int64_t[]){cout, cin / groups, k, k}, &c->w);
    if (st == AE_OK && bias) st = get_param(W, prefix, "bias", 1, (int64_t[]){cout}, &c->b);
    return st;
}

ae_status ae_conv_forward(const ae_backend *be, ae_arena *A, const ae_conv *c, const ae_tensor *x,
                          ae_tensor *y) {
    int oh, ow;
    ae_status st = need_op(be, AE_OP_CONV2D);
    if (st == AE_OK) st = ae_conv2d_out_hw(&c->d, x->h, x->w, &oh, &ow);
    if (st == AE_OK) st = ae_tensor_expect(x, -1, c->d.cin, -1, -1, "conv2d input");
    if (st == AE_OK) st = ae_tensor_expect(y, x->n, c->d.cout, oh, ow, "conv2d output");
    if (st) return st;
    size_t wsb = be->conv2d_ws(be, &c->d, x);
    float *ws;
    st = ae_arena_scratch(A, wsb, &ws);
    if (st) return st;
    if (!ae_arena_planning(A)) st = be->conv2d(be, &c->d, x, c->w, c->b, y, ws, wsb);
    ae_arena_scratch_release(A, ws);
    return st;
}

ae_status ae_conv_forward_new(const ae_backend *be, ae_arena *A, const ae_conv *c,
                              const ae_tensor *x, ae_tensor *y) {
    int oh, ow;
    ae_status st = ae_conv2d_out_hw(&c->d, x->h, x->w, &oh, &ow);
    if (st == AE_OK) st = ae_arena_tensor(A, y, x->n, c->d.cout, oh, ow);
    if (st == AE_OK) st = ae_conv_forward(be, A, c, x, y);
    return st;
}

ae_status ae_convT_load(ae_convT *c, ae_weights *W, const char *prefix, int cin, int cout, int k,
                        int stride, int pad, int out_pad, int groups, int bias) {
    ae_convT2d_desc d = {cin, cout, k, k, stride, stride, pad, pad, out_pad, out_pad, 1, 1, groups};
    int oh, ow;
    ae_status st = ae_convT2d_out_hw(&d, k + 2 * pad, k + 2 * pad, &oh, &ow);
    if (st) {
        ae_error_prefix("%s", prefix);
        return st;
    }
    c->d = d;
    c->b = NULL;
    st = get_param(W, prefix, "weight", 4, (int64_t[]){cin, cout / groups, k, k}, &c->w);
    if (st == AE_OK && bias) st = get_param(W, prefix, "bias", 1, (int64_t[]){cout}, &c->b);
    return st;
}

ae_status ae_convT_forward(const ae_backend *be, ae_arena *A, const ae_convT *c, const ae_tensor *x,
                           ae_tensor *y) {
    int oh, ow;
    ae_status st = need_op(be, AE_OP_CONV_TRANSPOSE2D);
    if (st == AE_OK) st = ae_convT2d_out_hw(&c->d, x->h, x->w, &oh, &ow);
    if (st == AE_OK) st = ae_tensor_expect(x, -1, c->d.cin, -1, -1, "conv_transpose2d input");
    if (st == AE_OK) st = ae_tensor_expect(y, x->n, c->d.cout, oh, ow, "conv_transpose2d output");
    if (st) return st;
    size_t wsb = be->conv_transpose2d_ws(be, &c->d, x);
    float *ws;
    st = ae_arena_scratch(A, wsb, &ws);
    if (st) return st;
    if (!ae_arena_planning(A)) st = be->conv_transpose2d(be, &c->d, x, c->w, c->b, y, ws, wsb);
    ae_arena_scratch_release(A, ws);
    return st;
}

ae_status ae_convT_forward_new(const ae_backend *be, ae_arena *A, const ae_convT *c,
                               const ae_tensor *x, ae_tensor *y) {
    int oh, ow;
    ae_status st = ae_convT2d_out_hw(&c->d, x->h, x->w, &oh, &ow);
    if (st == AE_OK) st = ae_arena_tensor(A, y, x->n, c->d.cout, oh, ow);
    if (st == AE_OK) st = ae_convT_forward(be, A, c, x, y);
    return st;
}

ae_status ae_linear_load(ae_linear *l, ae_weights *W, const char *prefix, int in, int out, int bias) {
    if (in < 1 || out < 1)
        return ae_error_set(AE_ERR_ARG, "%s: invalid linear layer %d -> %d", prefix, in, out);
    l->in = in;
    l->out = out;
    l->b = NULL;
    ae_status st = get_param(W, prefix, "weight", 2, (int64_t[]){out, in}, &l->w);
    if (st == AE_OK && bias) st = get_param(W, prefix, "bias", 1, (int64_t[]){out}, &l->b);
    return st;
}

ae_status ae_linear_forward(const ae_backend *be, ae_arena *A, const ae_linear *l, const ae_tensor *x,
                            ae_tensor *y) {
    ae_status st = need_op(be, AE_OP_LINEAR);
    if (st) return st;
    if ((size_t)x->c * x->h * x->w != (size_t)l->in) {
        char s[64];
        return ae_error_set(AE_ERR_SHAPE, "linear: input %s has %zu features, the layer expects %d",
                            ae_tensor_shape_str(x, s, sizeof s), (size_t)x->c * x->h * x->w, l->in);
    }
    st = ae_tensor_expect(y, x->n, l->out, 1, 1, "linear output");
    if (st || ae_arena_planning(A)) return st;
    return be->linear(be, x, l->w, l->b, y);
}

/* ---- normalisation ----------------------------------------------------- */

ae_status ae_bn_load(ae_bn *bn, ae_weights *W, const char *prefix, int c, float eps, int affine) {
    if (c < 1 || !(eps > 0.0f))
        return ae_error_set(AE_ERR_ARG, "%s: invalid batch norm c=%d eps=%g", prefix, c, (double)eps);
    bn->c = c;
    bn->eps = eps;
    bn->gamma = bn->beta = NULL;
    int64_t s[1] = {c};
    ae_status st = get_param(W, prefix, "running_mean", 1, s, &bn->mean);
    if (st == AE_OK) st = get_param(W, prefix, "running_var", 1, s, &bn->var);
    if (st == AE_OK && affine) st = get_param(W, prefix, "weight", 1, s, &bn->gamma);
    if (st == AE_OK && affine) st = get_param(W, prefix, "bias", 1, s, &bn->beta);
    return st;
}

ae_status ae_bn_forward(const ae_backend *be, ae_arena *A, const ae_bn *bn, const ae_tensor *x,
                        ae_tensor *y) {
    ae_status st = need_op(be, AE_OP_BATCHNORM);
    if (st == AE_OK) st = ae_tensor_expect(x, -1, bn->c, -1, -1, "batchnorm input");
    if (st == AE_OK) st = ae_tensor_expect(y, x->n, x->c, x->h, x->w, "batchnorm output");
    if (st || ae_arena_planning(A)) return st;
    return be->batchnorm(be, x, bn->mean, bn->var, bn->gamma, bn->beta, bn->eps, y);
}

ae_status ae_gn_load(ae_gn *gn, ae_weights *W, const char *prefix, int groups, int c, float eps,
                     int affine) {
    if (c < 1 || groups < 1 || c % groups || !(eps > 0.0f))
        return ae_error_set(AE_ERR_ARG, "%s: invalid group norm: %d channels, %d groups, eps %g", prefix,
                            c, groups, (double)eps);
    gn->c = c;
    gn->groups = groups;
    gn->eps = eps;
    gn->instance = 0;
    gn->gamma = gn->beta = NULL;
    int64_t s[1] = {c};
    ae_status st = AE_OK;
    if (affine) st = get_param(W, prefix, "weight", 1, s, &gn->gamma);
    if (st == AE_OK && affine) st = get_param(W, prefix, "bias", 1, s, &gn->beta);
    return st;
}

ae_status ae_in_load(ae_gn *gn, ae_weights *W, const char *prefix, int c, float eps, int affine) {
    ae_status st = ae_gn_load(gn, W, prefix, c, c, eps, affine);
    gn->instance = 1;
    return st;
}

ae_status ae_gn_forward(const ae_backend *be, ae_arena *A, const ae_gn *gn, const ae_tensor *x,
                        ae_tensor *y) {
    ae_status st = need_op(be, gn->instance ? AE_OP_INSTANCENORM : AE_OP_GROUPNORM);
    if (st == AE_OK) st = ae_tensor_expect(x, -1, gn->c, -1, -1, "groupnorm input");
    if (st == AE_OK) st = ae_tensor_expect(y, x->n, x->c, x->h, x->w, "groupnorm output");
    if (st || ae_arena_planning(A)) return st;
    if (gn->instance) return be->instancenorm(be, x, gn->gamma, gn->beta, gn->eps, y);
    return be->groupnorm(be, x, gn->groups, gn->gamma, gn->beta, gn->eps, y);
}

/* ---- attention block --------------------------------------------------- */

ae_status ae_attn_block_load(ae_attn_block *blk, ae_weights *W, const char *prefix, int c, int heads,
                             int norm_groups, float eps, ae_attn_style style) {
    char n1[512], n2[512], n3[512];
    if (heads < 1 || c % heads)
        return ae_error_set(AE_ERR_ARG, "%s: %d channels do not split into %d heads", prefix, c, heads);
    int d = c / heads, sr3 = style == AE_ATTN_SR3;
    snprintf(n1, sizeof n1, "%s.norm", prefix);
    snprintf(n2, sizeof n2, "%s.qkv", prefix);
    snprintf(n3, sizeof n3, "%s.%s", prefix, sr3 ? "out" : "proj_out");
    ae_status st = ae_gn_load(&blk->norm, W, n1, norm_groups, c, eps, 1);
    if (st == AE_OK) st = ae_conv_load(&blk->qkv, W, n2, c, 3 * c, 1, 1, 0, 1, 1, !sr3);
    if (st == AE_OK) st = ae_conv_load(&blk->out, W, n3, c, c, 1, 1, 0, 1, 1, 1);
    blk->c = c;
    blk->d.heads = heads;
    blk->d.head_dim = d;
    blk->d.scale = 1.0f / sqrtf((float)(sr3 ? c : d));
    blk->d.q_off = 0;
    blk->d.k_off = sr3 ? d : c;
    blk->d.v_off = sr3 ? 2 * d : 2 * c;
    blk->d.head_stride = sr3 ? 3 * d : d;
    return st;
}

ae_status ae_attn_block_forward(const ae_backend *be, ae_arena *A, const ae_attn_block *blk,
                                const ae_tensor *x, ae_tensor *y) {
    ae_tensor h = {0}, qkv = {0}, a = {0};
    ae_status st = ae_tensor_expect(y, x->n, blk->c, x->h, x->w, "attention block output");
    if (st == AE_OK) st = ae_arena_tensor(A, &h, x->n, x->c, x->h, x->w);
    if (st == AE_OK) st = ae_gn_forward(be, A, &blk->norm, x, &h);
    if (st == AE_OK) st = ae_conv_forward_new(be, A, &blk->qkv, &h, &qkv);
    ae_arena_release(A, &h);
    if (st == AE_OK) st = ae_arena_tensor(A, &a, x->n, x->c, x->h, x->w);
    if (st == AE_OK) st = ae_nn_attention(be, A, &blk->d, &qkv, &qkv, &qkv, &a);
    ae_arena_release(A, &qkv);
    if (st == AE_OK) st = ae_conv_forward(be, A, &blk->out, &a, y);
    ae_arena_release(A, &a);
    if (st == AE_OK) st = ae_nn_add(be, A, y, x, y);
    return st;
}
