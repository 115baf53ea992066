/* inception.h - the InceptionV3 that pytorch-fid computes FID with (tools/eval/inception.c).
 *
 * torchvision's Inception3 layout with pytorch-fid's FID blocks (FIDInceptionA/C/E_1: pool
 * branch = 3x3 average, stride 1, pad 1, count_include_pad=False; FIDInceptionE_2: 3x3 max
 * pool), BasicConv2d = conv (no bias) + BatchNorm(eps 0.001) + ReLU, the BatchNorm folded
 * into the conv at load time. Input resized to 299x299 (bilinear, align_corners=False) and
 * scaled from [0,1] to [-1,1]; output the global average pool of Mixed_7c (2048 values,
 * "pool3"). Weights by pytorch-fid's state_dict names from a .safetensors file written by
 * scripts/convert_inception.py (metadata arch=fid_inception_v3). Channel counts are read
 * from the tensor shapes, so width-reduced test networks (every count / div) load too.
 */
#ifndef ASTROENH_INCEPTION_H
#define ASTROENH_INCEPTION_H

#include "astroenh/backend.h"
#include "astroenh/status.h"

#define AE_INCEPTION_SIZE 299

typedef struct ae_inception ae_inception;

/* Loads and folds the weights of `path` for backend `be`. A PyTorch file (.pth/.pt, or a
 * zip/pickle header) is refused with a message naming scripts/convert_inception.py.
 * Errors: AE_ERR_IO, AE_ERR_FORMAT (not a converted InceptionV3), AE_ERR_SHAPE (a tensor,
 * named), AE_ERR_NOMEM. Free with ae_inception_free. */
ae_status ae_inception_load(ae_inception **out, const char *path, const ae_backend *be);
void ae_inception_free(ae_inception *m); /* NULL-safe */

int ae_inception_dim(const ae_inception *m); /* feature length: 2048 for the real network */
/* 1 when the file's metadata says it was converted from pytorch-fid's published weights
 * (sha256 prefix 6726825d): only then is an FID from it comparable with published FIDs. */
int ae_inception_is_pytorch_fid(const ae_inception *m);
const char *ae_inception_describe(const ae_inception *m);

/* Optional block outputs (host buffers of c x h x w floats, NULL to skip): Mixed_5d is
 * c5d x 35 x 35, Mixed_6e is c6e x 17 x 17 (channels from ae_inception_block_channels). */
typedef struct {
    float *mixed_5d, *mixed_6e;
} ae_inception_taps;
void ae_inception_block_channels(const ae_inception *m, int *c5d, int *c6e);

/* Features of one image x (host, 3 x h x w, values in [0,1], h and w >= 2) into
 * feat[ae_inception_dim()]. taps may be NULL. */
ae_status ae_inception_forward(ae_inception *m, const float *x, int h, int w, float *feat,
                               const ae_inception_taps *taps);

#endif
