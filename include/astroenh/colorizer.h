/* colorizer.h - the pix2pix colorizer generator (src/colorize/colorizer.c).
 *
 * A U-Net predicting the chroma of an image from its L* (CIE Lab): encoder
 * ResNet-18-shaped ("resnet18") or plain ("plain"), five nearest-upsampling
 * decoder blocks with skips, tanh output; see scripts/colornet.py, which it
 * mirrors module for module (weights are fetched by their state_dict names).
 * Architecture hyperparameters come from the weight file's __metadata__:
 *   architecture=colorizer_unet, encoder=resnet18|plain, base=<int>,
 *   in_ch=1, out_ch=2|3, space=lab|rgb, bn_eps=<float>
 * Network input: L* / 50 - 1; output: a*b* / 110 (space lab) or sRGB*2-1 (rgb).
 */
#ifndef ASTROENH_COLORIZER_H
#define ASTROENH_COLORIZER_H

#include "astroenh/backend.h"
#include "astroenh/safetensors.h"
#include "astroenh/status.h"

typedef struct ae_colorizer ae_colorizer;

typedef enum { AE_COLORIZER_LAB = 0, AE_COLORIZER_RGB } ae_colorizer_space;

#define AE_COLORIZER_MULTIPLE 32 /* network input sides must be multiples of this */
#define AE_COLORIZER_TTA 8       /* flips/rotations of the test-time ensemble */

/* Loads the generator from a .safetensors file (kept open, mmapped) to run on
 * backend `be` (which must outlive the model). Errors: AE_ERR_IO/FORMAT from
 * the file, AE_ERR_FORMAT for missing/invalid metadata (names the key and
 * value), AE_ERR_SHAPE naming a missing or mis-shaped tensor, or a tensor the
 * architecture does not use. Free with ae_colorizer_free. */
ae_status ae_colorizer_load(ae_colorizer **out, const char *path, const ae_backend *be);
void ae_colorizer_free(ae_colorizer *m); /* NULL-safe */

ae_colorizer_space ae_colorizer_get_space(const ae_colorizer *m);
int ae_colorizer_out_channels(const ae_colorizer *m);         /* 2 (lab) or 3 (rgb) */
const ae_weights *ae_colorizer_weights(const ae_colorizer *m); /* for metadata */
/* e.g. "resnet18 base 32, lab" */
const char *ae_colorizer_describe(const ae_colorizer *m);
/* Peak activation bytes per input pixel of the last planned forward (0 before any). */
size_t ae_colorizer_bytes_per_pixel(const ae_colorizer *m);

/* The raw network on one image: x is 1 x h x w host floats (L* / 50 - 1), h and
 * w multiples of AE_COLORIZER_MULTIPLE; y receives out_channels x h x w host
 * floats (tanh outputs). Activation memory is planned on the first call of a
 * size and reused. Errors: AE_ERR_ARG (sizes), backend errors. Not reentrant. */
ae_status ae_colorizer_forward(ae_colorizer *m, const float *x, int h, int w, float *y);

/* a*, b* (Lab units) predicted for an L* plane (0..100) of any size >= 1:
 * reflect-padded to a multiple of 32, run, cropped; the rgb variant's sRGB
 * output is converted to Lab and only its a*b* kept. NaN in L is read as 0. */
ae_status ae_colorizer_predict_ab(ae_colorizer *m, const float *L, int h, int w, float *a, float *b);

/* Test-time ensemble: the same over the 8 flips/rotations of L (each mapped
 * back); a, b get the mean and spread (may be NULL) the per-pixel standard
 * deviation of the 8 (a*, b*) vectors, sqrt(mean |ab_i - mean|^2), Lab units. */
ae_status ae_colorizer_predict_ab_tta(ae_colorizer *m, const float *L, int h, int w, float *a,
                                      float *b, float *spread);

#endif
