/* sr3.h - the SR3 denoising U-Net (src/upscale/sr3.c).
 *
 * SR3 (Saharia et al. 2021): eps = UNet(concat(bicubic(LR), x_t), gamma)
 * with gamma = sqrt(alpha_bar) fed through SR3's PositionalEncoding and an
 * MLP; BigGAN-style residual blocks (GroupNorm, SiLU, conv, FiLM scale+shift
 * from the noise embedding, conv, skip) and single-head self-attention at the
 * lowest resolution. Mirrors sr_models.SR3UNet module by module (state_dict
 * names downs.N..., mid.N..., ups.N..., final_conv...). Hyperparameters come
 * from __metadata__: "arch" = "sr3", "scale", "inner_channel",
 * "channel_mults" ("1,2,4"), "res_blocks", "norm_groups", "in_channel",
 * "out_channel".
 *
 * "target" says what the model diffuses: "image" (or absent: SR3, x0 = HR)
 * or "residual" (SRDiff, Li et al. 2022: x0 = (HR - bicubic(LR)) * c with
 * c = "residual_scale", a finite number > 0); the sampler then returns
 * bicubic + x0 / c (ae_sampler_step, src/upscale/drive.c).
 *
 * "base" says what the residual is taken over: "bicubic" (or absent) or
 * "fast" (ResDiff-style: the residual over a fast network's output, clamped
 * to [-1, 1]); then "base_file" names that network's file (found like the
 * shipped models) and "base_sha256" its SHA-256, which the upscale stage
 * checks, because a residual over another network is meaningless.
 * in_channel = 2 * out_channel: out_channel 1 (one plane at a time) or 3
 * (a colour image in one pass).
 */
#ifndef ASTROENH_SR3_H
#define ASTROENH_SR3_H

#include "astroenh/arena.h"
#include "astroenh/backend.h"
#include "astroenh/nn.h"
#include "astroenh/safetensors.h"

#define AE_SR3_MAX_LAYERS 64
#define AE_SR3_MAX_LEVELS 6

typedef enum { AE_SR3_CONV = 0, AE_SR3_RES, AE_SR3_DOWN, AE_SR3_UP } ae_sr3_kind;

typedef struct {
    ae_gn gn1, gn2;
    ae_conv conv1, conv2, res_conv; /* res_conv.w == NULL: identity skip */
    ae_linear film;                 /* emb -> 2*cout: (1+scale), shift */
    int cin, cout, with_attn;
    ae_attn_block attn;
} ae_sr3_res;

typedef struct {
    ae_sr3_kind kind;
    ae_conv conv;   /* CONV, DOWN (stride 2), UP (after nearest x2) */
    ae_sr3_res res; /* RES */
    int cout;
} ae_sr3_layer;

typedef struct ae_sr3 {
    int scale, in_channel, out_channel, inner, groups, res_blocks, n_levels;
    int mults[AE_SR3_MAX_LEVELS];
    int residual;         /* 1: target=residual, 0: target=image */
    float residual_scale; /* c of the residual target; 1 for image */
    int base_fast;        /* 1: the residual is over a fast net's output (base_file) */
    char base_file[128];  /* file name of that net, e.g. fast_x2.safetensors */
    char base_sha256[65]; /* its SHA-256, lowercase hex */
    ae_linear mlp1, mlp2;
    ae_sr3_layer downs[AE_SR3_MAX_LAYERS], mid[2], ups[AE_SR3_MAX_LAYERS];
    int n_downs, n_ups;
    ae_gn final_gn;
    ae_conv final_conv;
} ae_sr3;

/* Loads the U-Net from W (which must outlive m); checks every tensor was
 * used. Errors: AE_ERR_FORMAT (metadata), AE_ERR_SHAPE (a tensor). */
ae_status ae_sr3_load(ae_sr3 *m, ae_weights *W);

/* Input sides must be multiples of this (2^(levels-1)). */
int ae_sr3_multiple(const ae_sr3 *m);

/* x: 1 x in_channel x h x w (bicubic LR and x_t, in [-1,1]), gamma: the
 * noise level (host float), eps: 1 x out_channel x h x w from the caller.
 * Works in both arena passes. */
ae_status ae_sr3_forward(const ae_sr3 *m, const ae_backend *be, ae_arena *A, const ae_tensor *x,
                         float gamma, ae_tensor *eps);

#endif
