/* rdn.h - the Residual Dense Network super-resolution model (src/upscale/rdn.c).
 *
 * RDN (Zhang et al. 2018) as UpscalerJS's esrgan-slim/medium ship it and
 * scripts/rdn.py ports it: sfe1, sfe2 (3x3), D dense blocks (C x [3x3 conv
 * to G channels + ReLU, concatenated], 1x1 lff back to G0, + block input),
 * gff.0 (1x1 over all block outputs), gff.1 (3x3) + sfe1, upn.0 (5x5) ReLU
 * upn.2 (3x3) ReLU upn.4 (3x3, up_channels*s*s), nearest upsampling by s,
 * sr (3x3) -> out_channels. Hyperparameters from the file's __metadata__
 * (arch = "rdn", scale, C, D, G, G0, in_channels, out_channels, up_mid,
 * up_channels). The network works in 0..255: the input in [-1,1] is mapped
 * to (x+1)*127.5 and the output y back to y/127.5-1, as RDN.forward does.
 */
#ifndef ASTROENH_RDN_H
#define ASTROENH_RDN_H

#include "astroenh/arena.h"
#include "astroenh/backend.h"
#include "astroenh/nn.h"
#include "astroenh/safetensors.h"

#define AE_RDN_MAX_D 32
#define AE_RDN_MAX_C 16

typedef struct {
    int scale, C, D, G, G0, cin, cout, up_mid[2], up_ch;
    ae_conv sfe1, sfe2, gff[2], upn[3], sr;
    ae_conv dense[AE_RDN_MAX_D][AE_RDN_MAX_C], lff[AE_RDN_MAX_D];
} ae_rdn;

/* 1 when W's metadata says arch=rdn (so a caller can pick the loader). */
int ae_rdn_is(ae_weights *W);

/* Loads the layers from W (which must outlive m) using its metadata; checks
 * that every tensor was used. Errors: AE_ERR_FORMAT (metadata missing, out
 * of range or not rdn), AE_ERR_SHAPE (a tensor), naming the file. */
ae_status ae_rdn_load(ae_rdn *m, ae_weights *W);

/* x: 1 x cin x h x w in [-1,1] (backend memory), y: 1 x cout x h*s x w*s
 * (allocated by the caller). Works in both arena passes. */
ae_status ae_rdn_forward(const ae_rdn *m, const ae_backend *be, ae_arena *A, const ae_tensor *x,
                         ae_tensor *y);

/* Receptive radius in input pixels (for the tile overlap). */
int ae_rdn_radius(const ae_rdn *m);

#endif
