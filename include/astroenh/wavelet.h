/* wavelet.h - wavelet-shrinkage denoising (src/denoise/wavelet.c).
 *
 * Undecimated "a trous" transform with the B3-spline kernel (the starlet of
 * Starck & Murtagh), a noise sigma that depends on the local signal level
 * (measured on the image, so Poisson + read noise in linear data and the
 * stretched noise of 8-bit renders are both handled without a gain), and a
 * locally adaptive Wiener gain per coefficient. Colour images are denoised
 * in an orthonormal opponent basis (luminance, two colour differences).
 */
#ifndef ASTROENH_WAVELET_H
#define ASTROENH_WAVELET_H

#include "astroenh/status.h"

#define AE_WAVELET_MAX_SCALES 8

typedef struct {
    int scales;     /* detail scales J, 1..AE_WAVELET_MAX_SCALES (5) */
    int window;     /* odd side of the local-energy window in pixels (7) */
    float strength; /* multiplies the noise variance in the gain (1; 0 = no change) */
} ae_wavelet_opts;

void ae_wavelet_opts_default(ae_wavelet_opts *o);

/* Standard deviation of starlet detail scale j (0-based) for unit white
 * noise, j < AE_WAVELET_MAX_SCALES. */
float ae_wavelet_noise_ratio(int j);

/* Denoises img[c][h][w] (c = 1 or 3) in place. NaN pixels (in any channel)
 * are filled for the transform and stay NaN in the output. sigma_out[c]
 * (may be NULL) receives the median noise sigma per working channel
 * (opponent basis for c = 3), in image units. Allocates scratch.
 * Errors: AE_ERR_ARG for bad sizes or options, AE_ERR_NOMEM. */
ae_status ae_wavelet_denoise(float *img, int c, int h, int w, const ae_wavelet_opts *o, float *sigma_out);

#endif
