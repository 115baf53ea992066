/* wcs.c - keeping a linear celestial WCS (FITS WCS paper II, Calabretta &
 * Greisen 2002) valid when an image is resampled by an integer factor.
 *
 * Pixel centre p (1-based) of the old grid covers [p-0.5, p+0.5]; on a grid
 * `s` times finer the same sky point sits at p' = (p-0.5)*s + 0.5, so
 * CRPIX scales that way and the per-pixel increments (CDELT, or the CD
 * matrix) shrink by s. A PC matrix is dimensionless and stays. SIP
 * distortion coefficients (Shupe et al. 2005) are in pixel units:
 * A_p_q' = A_p_q * s^(1-p-q). A Digitized Sky Survey plate solution (which
 * WCSLIB prefers to CD when present) places pixel p at plate position
 * (CNPIX + p - 0.5) * PIXELSZ, so CNPIX' = CNPIX * s and PIXELSZ' = PIXELSZ / s.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "astroenh/io.h"

int ae_wcs_present(const ae_header *h) {
    double v;
    if (!h || ae_header_find(h, "CTYPE1") < 0) return 0;
    if (!ae_header_get_double(h, "CRPIX1", &v) || !ae_header_get_double(h, "CRVAL1", &v)) return 0;
    return ae_header_get_double(h, "CDELT1", &v) || ae_header_get_double(h, "CD1_1", &v);
}

/* Replaces the value v of `key` (if present) by (v - off) * f + off,
 * keeping the card's comment. */
static ae_status scale_key(ae_header *h, const char *key, double f, double off) {
    double v;
    int i = ae_header_find(h, key);
    if (i < 0 || !ae_header_get_double(h, key, &v)) return AE_OK;
    char comment[80] = "";
    const char *slash = strstr(h->cards[i] + 10, " /");
    if (slash) snprintf(comment, sizeof comment, "%s", slash + 2 + (slash[2] == ' '));
    size_t n = strlen(comment);
    while (n > 0 && comment[n - 1] == ' ') comment[--n] = '\0';
    return ae_header_set_double(h, key, (v - off) * f + off, comment);
}

static ae_status rescale_sip(ae_header *h, double s) {
    static const char *const pre[] = {"A", "B", "AP", "BP"};
    char key[32];
    for (int k = 0; k < 4; k++)
        for (int p = 0; p <= 9; p++)
            for (int q = 0; p + q <= 9; q++) {
                snprintf(key, sizeof key, "%s_%d_%d", pre[k], p, q);
                ae_status st = scale_key(h, key, pow(s, 1 - p - q), 0.0);
                if (st) return st;
            }
    return AE_OK;
}

ae_status ae_wcs_rescale(ae_header *h, double scale) {
    if (!h || !(scale > 0) || !isfinite(scale))
        return ae_error_set(AE_ERR_ARG, "ae_wcs_rescale: invalid scale %g", scale);
    char key[32];
    ae_status st = AE_OK;
    int have_cd = ae_header_find(h, "CD1_1") >= 0 || ae_header_find(h, "CD2_2") >= 0;
    int have_pc = ae_header_find(h, "PC1_1") >= 0 || ae_header_find(h, "PC2_2") >= 0;
    for (int i = 1; i <= 2 && !st; i++) {
        snprintf(key, sizeof key, "CRPIX%d", i);
        st = scale_key(h, key, scale, 0.5);
        snprintf(key, sizeof key, "CDELT%d", i);
        if (!st && ae_header_find(h, key) >= 0)
            st = scale_key(h, key, 1.0 / scale, 0.0);
        else if (!st && have_pc && !have_cd) /* PC without CDELT means CDELT = 1 */
            st = ae_header_set_double(h, key, 1.0 / scale, "coordinate increment (rescaled)");
        for (int j = 1; j <= 2 && !st; j++) {
            snprintf(key, sizeof key, "CD%d_%d", i, j);
            st = scale_key(h, key, 1.0 / scale, 0.0);
        }
    }
    if (!st && ae_header_find(h, "CNPIX1") >= 0 && ae_header_find(h, "XPIXELSZ") >= 0) {
        static const char *const dss[][2] = {{"CNPIX1", "XPIXELSZ"}, {"CNPIX2", "YPIXELSZ"}};
        for (int i = 0; i < 2 && !st; i++) {
            st = scale_key(h, dss[i][0], scale, 0.0);
            if (!st) st = scale_key(h, dss[i][1], 1.0 / scale, 0.0);
        }
    }
    int ct = ae_header_find(h, "CTYPE1");
    if (!st && ct >= 0 && strstr(h->cards[ct], "-SIP")) st = rescale_sip(h, scale);
    return st;
}
