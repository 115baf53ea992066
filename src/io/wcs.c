/* wcs.c - keeping a celestial WCS valid when an image is resampled by an
 * integer factor. WCSLIB (Calabretta & Greisen; wcspih) reads the header,
 * so every form it knows counts: CD, PC + CDELT, PC alone (CDELT = 1),
 * CDELT + CROTA, TAN-SIP, alternate descriptions 'A'..'Z', and Digitized Sky
 * Survey plate solutions (PLTRAH/AMDXn..., FITS WCS paper IV section 5.2).
 *
 * Pixel centre p (1-based) of the old grid covers [p-0.5, p+0.5]; on a grid
 * `s` times finer the same sky point sits at p' = (p-0.5)*s + 0.5, so
 * CRPIX scales that way and the per-pixel increments (CDELT, or the CD
 * matrix) shrink by s. A PC matrix is dimensionless and stays; without a
 * CDELT it carries the scale itself, so CDELT = 1/s is added. SIP
 * distortion coefficients (Shupe et al. 2005) are in pixel units:
 * A_p_q' = A_p_q * s^(1-p-q). A DSS plate solution places pixel p at plate
 * position (CNPIX + p - 0.5) * PIXELSZ, so CNPIX' = CNPIX * s and
 * PIXELSZ' = PIXELSZ / s: the keywords stay what DSS readers expect and the
 * result is exact. ae_wcs_resample then checks the rewritten header with
 * WCSLIB against the original at points across the image.
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wcslib/wcs.h>
#include <wcslib/wcsfix.h>
#include <wcslib/wcshdr.h>
#include "astroenh/io.h"

#define WCS_CHECK_TOL 1e-3 /* largest sky shift a resampled WCS may show, in input pixels */
#define WCS_CHECK_N 7      /* check points per axis */

/* wcspih's Flex scanner is not known to be reentrant in every WCSLIB build
 * (batches run several files at once) */
static pthread_mutex_t g_wcslib_mu = PTHREAD_MUTEX_INITIALIZER;

/* The fixes of wcsfix() that astropy's WCS() also applies, one by one:
 * WCSLIB 7.12's celfix() leaks its linprm when the description it is
 * given cannot be set up (a half-written DSS header does that), and wcsset()
 * translates NCP and GLS itself, so celfix is not needed. cylfix() is left
 * out as wcsfix() leaves it out without image axis lengths. Returns wcsset's
 * status. */
static int wcs_fix_and_set(struct wcsprm *w) {
    cdfix(w);
    datfix(w);
    obsfix(0, w);
    unitfix(1, w);
    spcfix(w);
    return wcsset(w);
}

/* Whether c is a keyword = value card whose value is well formed (FITS 4.0
 * section 4.2: a string, logical, integer, real or complex number, then
 * blanks or a comment). WCSLIB's scanner dereferences NULL on some
 * malformed values (a DSS CNPIX1 = 10.0 followed by junk, found by
 * fuzz_fits), and it needs no other card, so nothing else is shown to it. */
static int card_wellformed(const char *c) {
    size_t len = strlen(c);
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)c[i] < 32 || (unsigned char)c[i] > 126) return 0;
    if (len < 11 || c[8] != '=' || c[9] != ' ') return 0;
    for (int i = 0; i < 8; i++) {
        char k = c[i];
        if (!((k >= 'A' && k <= 'Z') || (k >= '0' && k <= '9') || k == '_' || k == '-' || k == ' ')) return 0;
    }
    const char *p = c + 10;
    while (*p == ' ') p++;
    if (*p == '\'') {
        for (p++;; p++) {
            if (!*p) return 0;
            if (*p == '\'' && p[1] == '\'') p++;
            else if (*p == '\'') break;
        }
        p++;
    } else if (*p == 'T' || *p == 'F') {
        p++;
    } else if (*p == '(') {
        if (!strchr(p, ')')) return 0;
        p = strchr(p, ')') + 1;
    } else {
        int digits = 0;
        if (*p == '+' || *p == '-') p++;
        while (*p >= '0' && *p <= '9') p++, digits++;
        if (*p == '.')
            for (p++; *p >= '0' && *p <= '9'; p++) digits++;
        if (!digits) return 0;
        if (*p == 'E' || *p == 'D' || *p == 'e' || *p == 'd') {
            p++;
            if (*p == '+' || *p == '-') p++;
            if (!(*p >= '0' && *p <= '9')) return 0;
            while (*p >= '0' && *p <= '9') p++;
        }
    }
    while (*p == ' ') p++;
    return *p == '\0' || *p == '/';
}

/* The celestial descriptions WCSLIB reads from h, set up (wcsset); *n of
 * them in *out (free with wcsvfree), 0 when there is none. */
static int wcs_read(const ae_header *h, int *n, struct wcsprm **out) {
    *n = 0;
    *out = NULL;
    if (!h || h->n_cards <= 0) return 0;
    /* The header keeps no structural keywords, so NAXIS goes first: without
     * it wcspih takes the axis count from the keywords it sees, and its DSS
     * translation writes a second axis into a one-axis struct (heap
     * corruption, found by fuzz_fits on CTYPE1 + CNPIX1). Every image here
     * has two axes; a cube's third shows in its keywords. */
    char *text = malloc((size_t)(h->n_cards + 1) * 80 + 1);
    if (!text) return 0;
    snprintf(text, 81, "%-80.80s", "NAXIS   =                    2");
    int nkeys = 1;
    for (int i = 0; i < h->n_cards; i++)
        if (card_wellformed(h->cards[i]))
            snprintf(text + (size_t)nkeys++ * 80, 81, "%-80.80s", h->cards[i]);
    int nrej = 0, nw = 0, ncel = 0;
    struct wcsprm *w = NULL;
    pthread_mutex_lock(&g_wcslib_mu);
    int rc = wcspih(text, nkeys, WCSHDR_all, 0, &nrej, &nw, &w);
    pthread_mutex_unlock(&g_wcslib_mu);
    free(text);
    if (rc != 0) return 0;
    for (int i = 0; i < nw; i++) {
        if (w[i].naxis >= 2 && wcs_fix_and_set(&w[i]) == 0 && w[i].lng >= 0 && w[i].lat >= 0) ncel++;
        else w[i].lng = -1; /* marks it unusable below */
    }
    *n = nw;
    *out = w;
    return ncel;
}

/* Sky position (unit vector) of 1-based pixel (x, y) under w (plane 1 of a
 * cube); 0 on failure. Only axes 1 and 2 are resampled. */
static int sky_at(struct wcsprm *w, double x, double y, double v[3]) {
    double pix[8], img[8], phi, theta, world[8];
    int stat = 0;
    if (w->naxis < 2 || w->naxis > 8 || w->lng > 1 || w->lat > 1) return 0;
    for (int k = 0; k < w->naxis; k++) pix[k] = 1.0;
    pix[0] = x, pix[1] = y;
    if (wcsp2s(w, 1, w->naxis, pix, img, &phi, &theta, world, &stat) != 0 || stat) return 0;
    double lng = world[w->lng] * M_PI / 180.0, lat = world[w->lat] * M_PI / 180.0;
    v[0] = cos(lat) * cos(lng), v[1] = cos(lat) * sin(lng), v[2] = sin(lat);
    return 1;
}

static double angle(const double a[3], const double b[3]) {
    double c[3] = {a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]};
    return atan2(sqrt(c[0] * c[0] + c[1] * c[1] + c[2] * c[2]), a[0] * b[0] + a[1] * b[1] + a[2] * b[2]);
}

int ae_wcs_present(const ae_header *h) {
    int n = 0;
    struct wcsprm *w = NULL;
    int ncel = wcs_read(h, &n, &w);
    wcsvfree(&n, &w);
    return ncel > 0;
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

/* The linear part of description `alt` ("" for the primary, "A".."Z"). */
static ae_status rescale_linear(ae_header *h, double scale, const char *alt) {
    char key[32];
    ae_status st = AE_OK;
    int have_cd = 0, have_pc = 0;
    for (int i = 1; i <= 2; i++)
        for (int j = 1; j <= 2; j++) {
            snprintf(key, sizeof key, "CD%d_%d%s", i, j, alt);
            have_cd |= ae_header_find(h, key) >= 0;
            snprintf(key, sizeof key, "PC%d_%d%s", i, j, alt);
            have_pc |= ae_header_find(h, key) >= 0;
        }
    for (int i = 1; i <= 2 && !st; i++) {
        snprintf(key, sizeof key, "CRPIX%d%s", i, alt);
        st = scale_key(h, key, scale, 0.5);
        snprintf(key, sizeof key, "CDELT%d%s", i, alt);
        if (!st && ae_header_find(h, key) >= 0)
            st = scale_key(h, key, 1.0 / scale, 0.0);
        else if (!st && have_pc && !have_cd) /* PC without CDELT means CDELT = 1 */
            st = ae_header_set_double(h, key, 1.0 / scale, "coordinate increment (rescaled)");
        for (int j = 1; j <= 2 && !st; j++) {
            snprintf(key, sizeof key, "CD%d_%d%s", i, j, alt);
            st = scale_key(h, key, 1.0 / scale, 0.0);
        }
    }
    return st;
}

ae_status ae_wcs_rescale(ae_header *h, double scale) {
    if (!h || !(scale > 0) || !isfinite(scale))
        return ae_error_set(AE_ERR_ARG, "ae_wcs_rescale: invalid scale %g", scale);
    ae_status st = rescale_linear(h, scale, "");
    for (char a = 'A'; a <= 'Z' && !st; a++) {
        char alt[2] = {a, '\0'}, key[16];
        snprintf(key, sizeof key, "CRPIX1%s", alt);
        if (ae_header_find(h, key) >= 0) st = rescale_linear(h, scale, alt);
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

/* Largest sky shift (in old pixels) between old pixel positions and the new
 * header's pixels over a w x h image; -1 when a point cannot be evaluated. */
static double worst_shift(struct wcsprm *a, struct wcsprm *b, double s, int w, int h) {
    double worst = 0.0, p0[3], p1[3];
    double cx = (w + 1) / 2.0, cy = (h + 1) / 2.0;
    if (!sky_at(a, cx, cy, p0) || !sky_at(a, cx + 1.0, cy, p1)) return -1.0;
    double pixel = angle(p0, p1);
    if (!(pixel > 0)) return -1.0;
    for (int iy = 0; iy < WCS_CHECK_N; iy++)
        for (int ix = 0; ix < WCS_CHECK_N; ix++) {
            /* output pixel centres from the first to the last, in new 1-based pixels */
            double nx = 1.0 + (w * s - 1.0) * ix / (WCS_CHECK_N - 1), ny = 1.0 + (h * s - 1.0) * iy / (WCS_CHECK_N - 1);
            double ox = (nx - 0.5) / s + 0.5, oy = (ny - 0.5) / s + 0.5;
            if (!sky_at(a, ox, oy, p0) || !sky_at(b, nx, ny, p1)) return -1.0;
            double d = angle(p0, p1) / pixel;
            worst = d > worst ? d : worst;
        }
    return worst;
}

/* Every celestial description of `old` must reappear in `now` with the same
 * sky at corresponding pixels. */
static ae_status check_resampled(const ae_header *old, const ae_header *now, double s, int w, int h) {
    int na = 0, nb = 0;
    struct wcsprm *a = NULL, *b = NULL;
    wcs_read(old, &na, &a);
    wcs_read(now, &nb, &b);
    ae_status st = AE_OK;
    for (int i = 0; i < na && !st; i++) {
        if (a[i].lng < 0) continue;
        struct wcsprm *m = NULL;
        for (int j = 0; j < nb && !m; j++)
            if (!strcmp(a[i].alt, b[j].alt) && b[j].lng >= 0) m = &b[j];
        double d = m ? worst_shift(&a[i], m, s, w, h) : -1.0;
        char why[96];
        if (d < 0) snprintf(why, sizeof why, "WCSLIB cannot evaluate it at every pixel");
        else snprintf(why, sizeof why, "the sky would move by %.3g pixels", d);
        if (d < 0 || d > WCS_CHECK_TOL)
            st = ae_error_set(AE_ERR_UNSUPPORTED,
                              "the WCS%s%s cannot be carried over the %gx resampling (%s); write a copy without it "
                              "to upscale",
                              a[i].alt[0] != ' ' ? " " : "", a[i].alt[0] != ' ' ? a[i].alt : "", s, why);
    }
    wcsvfree(&na, &a);
    wcsvfree(&nb, &b);
    return st;
}

ae_status ae_wcs_resample(ae_header *h, double scale, int w, int hgt) {
    ae_header old = {0};
    ae_status st = ae_header_copy(&old, h);
    if (!st) st = ae_wcs_rescale(h, scale);
    if (!st) st = check_resampled(&old, h, scale, w, hgt);
    ae_header_free(&old);
    return st;
}
