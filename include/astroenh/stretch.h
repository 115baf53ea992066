/* stretch.h - display stretches for linear data, and their inverses.
 *
 * Networks see display-referred data in [0,1]. A stretch is fitted to an
 * image (ae_stretch_fit) and recorded in an ae_stretch so the exact inverse
 * can bring a stage's output back to the linear domain. NaN stays NaN.
 *
 * - LINEAR: (x - lo) / (hi - lo), clipped to [0,1]  (inverse exact inside)
 * - ASINH:  asinh((x - lo)/(hi - lo) * beta) / asinh(beta)
 * - MTF:    the automatic midtones transfer of PixInsight's STF:
 *           shadows clip c0 = median - 2.8 * 1.4826 * MAD, midtones m chosen
 *           so that the median maps to 0.25, highlights at the max.
 */
#ifndef ASTROENH_STRETCH_H
#define ASTROENH_STRETCH_H

#include "astroenh/image.h"

typedef enum { AE_STRETCH_NONE = 0, AE_STRETCH_LINEAR, AE_STRETCH_ASINH, AE_STRETCH_MTF } ae_stretch_kind;

typedef struct {
    ae_stretch_kind kind;
    float lo, hi;   /* input range mapped to [0,1] before the curve */
    float beta;     /* ASINH softening */
    float mid;      /* MTF midtones balance in (0,1) */
} ae_stretch;

/* Fits `kind` to all channels of img together (one stretch, so colour ratios
 * are kept). NaN ignored. */
ae_status ae_stretch_fit(ae_stretch *s, const ae_image *img, ae_stretch_kind kind);
/* ASINH with MTF's lo/hi and the beta that maps the median to 0.25, as MTF
 * does: the same look in the shadows, an inverse that is not steep at white
 * (for networks whose output is brought back to linear units). */
ae_status ae_stretch_fit_soft(ae_stretch *s, const ae_image *img);
/* The same for a picture that is only looked at (PNG/JPEG output, convert
 * --stretch): the exact zeros of a plane where they are at least a quarter
 * of its pixels (no coverage in a survey cube) are no data for the
 * statistics too, and show black. Not for a stretch that is inverted
 * afterwards: values below the fitted black point come back as it. */
ae_status ae_stretch_fit_display(ae_stretch *s, const ae_image *img, ae_stretch_kind kind);
void ae_stretch_apply(const ae_stretch *s, ae_image *img);   /* in place -> [0,1] */
void ae_stretch_invert(const ae_stretch *s, ae_image *img);  /* in place -> linear */
/* "linear"|"asinh"|"auto"|"mtf"|"none" (case-insensitive; auto = mtf);
 * (ae_stretch_kind)-1 for anything else. */
ae_stretch_kind ae_stretch_parse(const char *name);
const char *ae_stretch_name(ae_stretch_kind k);

/* Median and MAD of the finite values of n floats (copies; O(n)). */
ae_status ae_median_mad(const float *x, size_t n, float *median, float *mad);

#endif
