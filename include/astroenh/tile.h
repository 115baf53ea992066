/* tile.h - tiled inference with overlap and feathered blending over an ae_image.
 *
 * A network is run over an image of any size one tile at a time so that its
 * activation memory stays bounded. Each tile of `tile` x `tile` input pixels
 * is extended by `overlap` pixels of context on every side; context outside
 * the image is filled by reflection (mirror without repeating the edge pixel,
 * like torch's "reflect" padding). Outputs of neighbouring tiles are blended
 * with weights that ramp linearly over the overlap (feather), so the result
 * shows no seams. The ramp is `overlap` input pixels wide, centred on the
 * boundary between two tiles, so every output pixel kept from a tile has at
 * least overlap/2 pixels of context: where the network's receptive radius is
 * <= overlap/2 (its receptive field fits inside the overlap) the output
 * equals the whole-image result (up to float rounding of the blend), and a
 * pointwise network gives bit-identical results for every tile size.
 */
#ifndef ASTROENH_TILE_H
#define ASTROENH_TILE_H

#include <stddef.h>
#include "astroenh/image.h"
#include "astroenh/status.h"

/* in: c_in x h x w (CHW), out: c_out x (h*scale) x (w*scale); both buffers
 * belong to ae_tile_run and `out` must be fully written. h and w are any size
 * up to tile + 2*overlap (a network needing multiples of 2^k pads inside fn).
 * Return non-AE_OK (with ae_error_set) to abort the run; the status is passed
 * through with "tile (ty, tx) of NYxNX" prefixed to the message. */
typedef ae_status (*ae_tile_fn)(void *ctx, const float *in, int c_in, int h, int w,
                                float *out, int c_out, int scale);

/* Runs `fn` over `in` tile by tile into `out`, which is preallocated with
 * out->c channels and (in->h*scale) x (in->w*scale) pixels; c_in = in->c,
 * c_out = out->c. scale >= 1, tile >= 1, overlap >= 0 (input pixels).
 * Cores (tiles without context) have equal sizes up to one pixel, at most
 * `tile`, and partition the image; images of up to `tile` pixels per side run
 * as a single call (still reflect-padded by `overlap`). overlap is clamped to
 * the smallest core for the blend. Memory: one padded input tile, one output
 * tile and the output image; no other full-size buffer (blend weights are
 * computed analytically). NaN in a tile's output stays NaN in `out`.
 * Errors: AE_ERR_ARG (bad sizes, NULLs), AE_ERR_NOMEM, or fn's status. */
ae_status ae_tile_run(const ae_image *in, ae_image *out /* preallocated c_out x H*s x W*s */,
                      int scale, int tile, int overlap, ae_tile_fn fn, void *ctx);

#define AE_TILE_DEFAULT_BUDGET ((size_t)1 << 30) /* 1 GiB of activations */

/* Largest tile side t (a multiple of 16, in [32, 4096]) such that
 * t*t*bytes_per_input_pixel <= budget_bytes (0 -> AE_TILE_DEFAULT_BUDGET).
 * bytes_per_input_pixel is the network's peak activation bytes per input
 * pixel, overlap included by the caller if it wants it counted. */
int ae_tile_default(size_t bytes_per_input_pixel, size_t budget_bytes);

#endif
