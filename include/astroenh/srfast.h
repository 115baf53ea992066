/* srfast.h - the fast feed-forward super-resolution network (src/upscale/srfast.c).
 *
 * A small EDSR (Lim et al. 2017) on one plane: head conv, n_blocks residual
 * blocks (conv-ReLU-conv scaled by res_scale), body conv with a long skip,
 * log2(scale) stages of conv(ch -> 4ch) + PixelShuffle(2), tail conv, plus
 * the bicubic upsampling of the input. Mirrors sr_models.SRFast; weights by
 * state_dict name, hyperparameters from the file's __metadata__
 * ("arch" = "srfast", "scale", "channels", "n_blocks", "res_scale").
 * Values are display-referred and mapped to [-1, 1] by the caller.
 */
#ifndef ASTROENH_SRFAST_H
#define ASTROENH_SRFAST_H

#include "astroenh/arena.h"
#include "astroenh/backend.h"
#include "astroenh/nn.h"
#include "astroenh/safetensors.h"

#define AE_SRFAST_MAX_BLOCKS 64

typedef struct {
    int scale, channels, n_blocks;
    float res_scale;
    ae_conv head, body_end, tail;
    ae_conv body[AE_SRFAST_MAX_BLOCKS][2];
    ae_conv up[2]; /* one per x2 stage */
} ae_srfast;

/* Loads the layers from W (which must outlive m) using its metadata; checks
 * that every tensor was used. Errors: AE_ERR_FORMAT (metadata missing or
 * not srfast), AE_ERR_SHAPE (a tensor), naming the file. */
ae_status ae_srfast_load(ae_srfast *m, ae_weights *W);

/* x: 1 x 1 x h x w in [-1,1] (backend memory), y: 1 x 1 x h*s x w*s
 * (allocated by the caller, e.g. from A). Works in both arena passes. */
ae_status ae_srfast_forward(const ae_srfast *m, const ae_backend *be, ae_arena *A, const ae_tensor *x,
                            ae_tensor *y);

/* Receptive radius in input pixels (for the tile overlap). */
int ae_srfast_radius(const ae_srfast *m);

#endif
