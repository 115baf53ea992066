/* color.h - sRGB <-> CIE L*a*b* (D65) for the colorizer, float32.
 *
 * The formulas, matrices and constants are exactly those of
 * scripts/astrodata.py (rgb_to_lab / lab_to_rgb / grey_to_L), which the
 * networks were trained with:
 *   sRGB decode  c <= 0.04045 ? c/12.92 : ((c+0.055)/1.055)^2.4
 *   XYZ = M * rgb_linear (Lindbloom's sRGB D65 matrix), white (0.95047, 1, 1.08883)
 *   f(t) = t > (6/29)^3 ? cbrt(t) : t/(3 (6/29)^2) + 4/29
 *   L = 116 f(Y) - 16,  a = 500 (f(X) - f(Y)),  b = 200 (f(Y) - f(Z))
 * L is in [0, 100]; a*, b* are unscaled (the networks see a*b* / 110).
 * A grey value g (display-referred, [0,1]) is treated as sRGB-encoded: its
 * L* is that of the colour (g, g, g).
 */
#ifndef ASTROENH_COLOR_H
#define ASTROENH_COLOR_H

#include <stddef.h>

/* One pixel, sRGB in [0,1] (values outside are clipped first) -> Lab. */
void ae_srgb_to_lab(float r, float g, float b, float *L, float *A, float *B);

/* One pixel Lab -> sRGB, clipped to [0,1] per channel (PyTorch's lab_to_rgb).
 * Clipping an out-of-gamut colour changes its L* slightly. */
void ae_lab_to_srgb(float L, float A, float B, float *r, float *g, float *b);

/* Lab -> sRGB keeping L* exact: when (L, a, b) is outside the sRGB gamut the
 * chroma (a, b) is scaled down (bisection, 16 steps) towards the grey of the
 * same L*, which is always inside; returns the chroma factor used (1 = none).
 * The result is within ~1e-3 of [0,1] before the final clip. */
float ae_lab_to_srgb_keep_l(float L, float A, float B, float *r, float *g, float *b);

/* L* of the grey (g, g, g), g in [0,1] (clipped), and its inverse. */
float ae_grey_to_l(float g);
float ae_l_to_grey(float L);

/* Planes of n pixels (any of the outputs may alias the inputs). */
void ae_lab_from_srgb_planes(const float *r, const float *g, const float *b, size_t n, float *L,
                             float *A, float *B);

#endif
