/* upscale.h - the `astroenh upscale` stage and its helpers (src/upscale/).
 *
 *   resample.c  torch-compatible bicubic upsampling, box (area) downsampling
 *   flux.c      flux consistency: block means of the output = input pixels,
 *               linear data kept inside its local 3 x 3 input range
 *   stage.c     the stage (ae_stage_upscale): stretch, prefilter, fast net or
 *               SR3 sampling over tiles, flux consistency, uncertainty, WCS
 */
#ifndef ASTROENH_UPSCALE_H
#define ASTROENH_UPSCALE_H

#include <stddef.h>
#include "astroenh/stage.h"

extern const ae_stage_def ae_stage_upscale;

/* F.interpolate(x, scale_factor=s, mode="bicubic", align_corners=False) of
 * in[c][h][w] into out[c][h*s][w*s]: source coordinate (d + 0.5)/s - 0.5,
 * Keys cubic with A = -0.75, taps clamped to the border. s >= 1. */
void ae_bicubic_up(float *out, const float *in, int c, int h, int w, int s);

/* Block means: out[c][h/s][w/s] = mean of each s x s block of in[c][h][w]
 * (h, w multiples of s). NaN if any pixel of the block is NaN. */
void ae_box_down(float *out, const float *in, int c, int h, int w, int s);

/* Local range of linear data: lo/hi[c][h][w] = min/max of the finite pixels
 * of in's 3 x 3 neighbourhood (clipped at the border); NaN where none is
 * finite. */
void ae_flux_bounds(float *lo, float *hi, const float *in, int c, int h, int w);

/* Clamps each finite pixel of out[c][h*s][w*s] to lo/hi (from
 * ae_flux_bounds) of the input pixel its s x s block came from. */
void ae_flux_clamp(float *out, const float *lo, const float *hi, int c, int h, int w, int s);

/* Flux consistency: for each s x s block of out[c][h*s][w*s] whose source
 * pixel in[c][h][w] is finite, makes the block mean equal the input pixel
 * up to float rounding (means in double); a NaN source pixel makes its block
 * NaN; non-finite output pixels of a finite block are replaced by the input
 * value first. lo/hi NULL: additive, in - mean(block) added to every pixel.
 * lo/hi from ae_flux_bounds (s <= 4): each pixel is clamped to its block's
 * [lo, hi] and the block projected onto {mean = in, lo <= v <= hi}, so no
 * pixel leaves the local range (flux.c). */
void ae_flux_correct(float *out, const float *in, const float *lo, const float *hi, int c, int h, int w, int s);

/* Largest |mean(block) - in| over blocks with a finite source (double
 * sums); 0 when there is none. */
double ae_flux_max_error(const float *out, const float *in, int c, int h, int w, int s);

#endif
