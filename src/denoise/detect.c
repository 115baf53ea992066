/* detect.c - compact artifacts: PSF-like dots and stars, hot pixels, cosmic rays.
 *
 * The usual OpenCV recipe is matchTemplate(TM_CCOEFF_NORMED) with one
 * Gaussian and a threshold. Here, on the luminance plane:
 *  - matched filters at several Gaussian scales give, per pixel, the
 *    least-squares amplitude and correlation (ncc.c) and so a significance
 *    against a local noise map; a candidate is a local maximum of it, at
 *    least `threshold` sigma, correlating >= ncc_min with a Gaussian or a
 *    Moffat template (the latter tested at the candidate only);
 *  - larger "extended" templates and a smoothed segmentation of the central
 *    source keep galaxies whole: a candidate better explained by an extended
 *    profile, or on the central source's core, is not an artifact; on the
 *    source's outskirts a candidate must also differ in colour or be sharp;
 *  - colour (per-channel amplitude above a ring background) sorts dots into
 *    red, blue, and white-ish (stars), as in DECaLS cutouts;
 *  - hot pixels by the 8-neighbour test, cosmic rays as in L.A.Cosmic
 *    (van Dokkum 2001, PASP 113, 1420), without its iteration.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "astroenh/denoise.h"

const char *ae_art_kind_name(ae_art_kind k) {
    static const char *names[] = {"star", "red_dot", "blue_dot", "hot_pixel", "cosmic_ray"};
    return (unsigned)k < AE_ART_NKINDS ? names[k] : "unknown";
}

void ae_detect_opts_default(ae_detect_opts *o) {
    memset(o, 0, sizeof *o);
    o->threshold = 5.0f;
    o->ncc_min = 0.6f;
    o->hot_threshold = 6.0f;
    o->cr_sigclip = 5.0f;
    o->cr_objlim = 4.0f;
    o->max_scale = 3.0f;
    o->protect_core = 1;
}

void ae_detections_free(ae_detections *d) {
    if (!d) return;
    free(d->items);
    d->items = NULL;
    d->n = d->cap = 0;
}

ae_status ae_detections_push(ae_detections *d, const ae_detection *e) {
    if (d->n == d->cap) {
        size_t cap = d->cap ? 2 * d->cap : 64;
        ae_detection *p = realloc(d->items, cap * sizeof *p);
        if (!p) return ae_error_set(AE_ERR_NOMEM, "out of memory for %zu detections", cap);
        d->items = p;
        d->cap = cap;
    }
    d->items[d->n++] = *e;
    if ((unsigned)e->kind < AE_ART_NKINDS) d->count[e->kind]++;
    return AE_OK;
}

/* Median of the finite pixels of plane in the (2r+1)^2 window at (y, x);
 * buf holds (2r+1)^2 floats. NaN when none. */
static float win_median(const float *p, int h, int w, int y, int x, int r, float *buf) {
    size_t n = 0;
    for (int j = y - r; j <= y + r; j++) {
        if (j < 0 || j >= h) continue;
        for (int i = x - r; i <= x + r; i++)
            if (i >= 0 && i < w && isfinite(p[(size_t)j * w + i])) buf[n++] = p[(size_t)j * w + i];
    }
    return n ? ae_select_kth(buf, n, n / 2) : NAN;
}

/* Median of the finite pixels with r1 <= distance <= r2 from (x, y). */
float ae_ring_median(const float *p, int h, int w, float x, float y, float r1, float r2, float *buf) {
    size_t n = 0;
    int R = (int)ceilf(r2);
    int cx = (int)lrintf(x), cy = (int)lrintf(y);
    for (int j = cy - R; j <= cy + R; j++) {
        if (j < 0 || j >= h) continue;
        for (int i = cx - R; i <= cx + R; i++) {
            if (i < 0 || i >= w) continue;
            float d2 = (float)((i - cx) * (i - cx) + (j - cy) * (j - cy));
            float v = p[(size_t)j * w + i];
            if (d2 >= r1 * r1 && d2 <= r2 * r2 && isfinite(v)) buf[n++] = v;
        }
    }
    return n ? ae_select_kth(buf, n, n / 2) : NAN;
}

/* ---- hot pixels ---- */

static int psf_like(const float *p, const float *sigmap, int h, int w, int pk, const int *members, size_t n);

ae_status ae_detect_hot(const float *plane, const float *sigmap, int h, int w, float k, int spare_psf,
                        ae_detections *dets, uint8_t *mask) {
    if (!plane || !sigmap || !dets || !mask || h <= 0 || w <= 0)
        return ae_error_set(AE_ERR_ARG, "ae_detect_hot: bad arguments");
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            size_t p = (size_t)y * w + x;
            float v = plane[p], nb[8];
            if (!isfinite(v) || mask[p]) continue;
            int n = 0;
            float mx = -INFINITY;
            for (int j = -1; j <= 1; j++)
                for (int i = -1; i <= 1; i++) {
                    int yy = y + j, xx = x + i;
                    if ((i || j) && yy >= 0 && yy < h && xx >= 0 && xx < w && isfinite(plane[(size_t)yy * w + xx])) {
                        nb[n] = plane[(size_t)yy * w + xx];
                        if (nb[n] > mx) mx = nb[n];
                        n++;
                    }
                }
            if (n < 5 || v - mx <= k * sigmap[p]) continue;
            /* background from the ring at distance 2: a sampled PSF has
             * neighbours well above it, a hot pixel does not */
            float ring[16];
            int nr = 0;
            for (int j = -2; j <= 2; j++)
                for (int i = -2; i <= 2; i++) {
                    int yy = y + j, xx = x + i;
                    if ((abs(i) == 2 || abs(j) == 2) && yy >= 0 && yy < h && xx >= 0 && xx < w &&
                        isfinite(plane[(size_t)yy * w + xx]))
                        ring[nr++] = plane[(size_t)yy * w + xx];
                }
            float med = nr ? ae_select_kth(ring, (size_t)nr, (size_t)nr / 2) : ae_select_kth(nb, (size_t)n, (size_t)n / 2);
            if (mx - med > 0.3f * (v - med)) continue;
            int self = (int)p;
            if (spare_psf && psf_like(plane, sigmap, h, w, self, &self, 1)) continue; /* a star of sigma ~0.5 px */
            mask[p] = 1;
            ae_detection d = {(float)x, (float)y, 0.0f, v - med, v - med, (v - mx) / sigmap[p], 0.0f, AE_ART_HOT_PIXEL};
            ae_status st = ae_detections_push(dets, &d);
            if (st != AE_OK) return st;
        }
    return AE_OK;
}

/* ---- cosmic rays (L.A.Cosmic) ---- */

/* Rebinned positive Laplacian of the 2x subsampled image at (y, x):
 * each subpixel sees itself twice and one vertical and one horizontal
 * neighbour; kernel [0 -1 0; -1 4 -1; 0 -1 0], clipped at 0, block-averaged
 * (as astroscrappy): a hot pixel of height A gives 2A, a 1-px line A. */
static float lap_plus(const float *p, int h, int w, int y, int x) {
    float c = p[(size_t)y * w + x];
    float up = y > 0 ? p[(size_t)(y - 1) * w + x] : c, dn = y < h - 1 ? p[(size_t)(y + 1) * w + x] : c;
    float lf = x > 0 ? p[(size_t)y * w + x - 1] : c, rt = x < w - 1 ? p[(size_t)y * w + x + 1] : c;
    if (!isfinite(up)) up = c;
    if (!isfinite(dn)) dn = c;
    if (!isfinite(lf)) lf = c;
    if (!isfinite(rt)) rt = c;
    float a = 2 * c - up - lf, b = 2 * c - up - rt, d = 2 * c - dn - lf, e = 2 * c - dn - rt;
    /* clipped at 0 with comparisons: GCC calls libm for fmaxf here */
    return ((a > 0 ? a : 0.0f) + (b > 0 ? b : 0.0f) + (d > 0 ? d : 0.0f) + (e > 0 ? e : 0.0f)) / 4.0f;
}

/* S' = S - median5(S) at (y, x), S = L+ / (2 sigma); S is cached in sm. */
static float sig_prime(const float *p, const float *sigmap, float *sm, int h, int w, int y, int x, float *buf) {
    for (int j = y - 2; j <= y + 2; j++)
        for (int i = x - 2; i <= x + 2; i++) {
            if (j < 0 || j >= h || i < 0 || i >= w) continue;
            size_t q = (size_t)j * w + i;
            if (isnan(sm[q])) sm[q] = isfinite(p[q]) ? lap_plus(p, h, w, j, i) / (2.0f * sigmap[q]) : 0.0f;
        }
    return sm[(size_t)y * w + x] - win_median(sm, h, w, y, x, 2, buf);
}

/* Fine structure F = med3(I) - med7(med3(I)) at (y, x). */
static float fine_structure(const float *p, int h, int w, int y, int x, float *buf) {
    float m3[49];
    int n = 0;
    for (int j = y - 3; j <= y + 3; j++)
        for (int i = x - 3; i <= x + 3; i++)
            if (j >= 0 && j < h && i >= 0 && i < w) {
                float v = win_median(p, h, w, j, i, 1, buf);
                if (isfinite(v)) m3[n++] = v;
            }
    float c = win_median(p, h, w, y, x, 1, buf);
    if (!n || !isfinite(c)) return 0.0f;
    return c - ae_select_kth(m3, (size_t)n, (size_t)n / 2);
}

/* A seed must beat the noise map and also 5% of the local level above the
 * sky: the noise of bright, well-exposed structure (a galaxy core in
 * linear data, resampled cutouts) is more than the sky's, and without the
 * gain we cannot model its Poisson part as L.A.Cosmic does. */
static int cr_seed(const float *p, const float *sigmap, float *sm, int h, int w, int y, int x, float sigclip,
                   float objlim, float sky, float *buf) {
    size_t q = (size_t)y * w + x;
    if (!isfinite(p[q])) return 0;
    float lp = lap_plus(p, h, w, y, x);
    if (lp / (2.0f * sigmap[q]) <= sigclip) return 0;
    float level = win_median(p, h, w, y, x, 2, buf) - sky;
    if (lp / (2.0f * fmaxf(sigmap[q], 0.05f * level)) <= sigclip) return 0;
    if (sig_prime(p, sigmap, sm, h, w, y, x, buf) <= sigclip) return 0;
    float f = fmaxf(fine_structure(p, h, w, y, x, buf), 0.01f * sigmap[q]);
    return lp / f > objlim;
}

/* Grows the flagged set cr (values 1) by neighbours with S' > lim; 2 passes. */
static void cr_grow(const float *p, const float *sigmap, float *sm, uint8_t *cr, int h, int w, float lim,
                    float *buf) {
    for (int pass = 0; pass < 2; pass++)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                if (cr[(size_t)y * w + x] != 1 + pass) continue;
                for (int j = y - 1; j <= y + 1; j++)
                    for (int i = x - 1; i <= x + 1; i++) {
                        if (j < 0 || j >= h || i < 0 || i >= w) continue;
                        size_t q = (size_t)j * w + i;
                        if (cr[q] || !isfinite(p[q])) continue;
                        if (sig_prime(p, sigmap, sm, h, w, j, i, buf) > lim) cr[q] = (uint8_t)(2 + pass);
                    }
            }
}

/* ---- stars among the cosmic-ray candidates (mono, --keep-stars) ----
 * An undersampled star (PSF sigma ~0.5-0.8 px, FWHM < 2 px) passes
 * L.A.Cosmic's fine-structure test: its Laplacian is as sharp as a cosmic
 * ray's. What tells them apart is whether the flagged pixels continue the
 * profile around them: a star's peak is where its wings point, a hit sticks
 * out of whatever lies below it. Over the 7 x 7 patch at the group's peak,
 * two nested models, each with a free background: STAR, a circular Gaussian
 * (sigma 0.5..2.5 px, sub-pixel centre) through every pixel; HIT, the same
 * (or a flat sky, whichever fits better) through the pixels outside the
 * group, the k group pixels free. The group is a star when STAR wins by
 * Akaike's criterion (chi^2 + 2 per parameter): the hit model must buy its k
 * extra parameters with a chi^2 drop of more than 2k. Residuals count
 * against the noise sigma plus PSF_TOL of the pixel's height above the
 * patch's floor, since real PSFs are not Gaussian. */

#define PSF_R 3 /* patch radius: 7 x 7, room for the wings of a bright star's grown group */
#define PSF_SIDE (2 * PSF_R + 1)
#define PSF_N (PSF_SIDE * PSF_SIDE)
#ifndef PSF_TOL
#define PSF_TOL 0.05f
#endif

typedef struct {
    float cy, cx, sig;
} psf_par;

typedef struct {
    float v[PSF_N];
    uint8_t skip[PSF_N]; /* pixels left out of the fit */
    double var[PSF_N];   /* sn^2 + (PSF_TOL (v - min v))^2 */
} psf_patch;

/* chi^2 of the least-squares a * g + b over the pixels not skipped (g: the
 * Gaussian of par, or flat when par is NULL); INFINITY unless a > 0. */
static double patch_chi2(const psf_patch *pt, const psf_par *par) {
    float g[PSF_N], gy[PSF_SIDE], gx[PSF_SIDE];
    for (int j = 0; j < PSF_SIDE && par; j++) { /* the Gaussian is separable */
        float dy = (float)(j - PSF_R) - par->cy, dx = (float)(j - PSF_R) - par->cx, inv = 0.5f / (par->sig * par->sig);
        gy[j] = expf(-dy * dy * inv);
        gx[j] = expf(-dx * dx * inv);
    }
    double n = 0, sg = 0, sgg = 0, sv = 0, sgv = 0;
    for (int i = 0; i < PSF_N; i++) {
        g[i] = par ? gy[i / PSF_SIDE] * gx[i % PSF_SIDE] : 0.0f;
        if (pt->skip[i]) continue;
        n++, sg += g[i], sgg += (double)g[i] * g[i], sv += pt->v[i], sgv += (double)g[i] * pt->v[i];
    }
    double det = n * sgg - sg * sg, a = 0.0;
    if (par) {
        if (det <= 1e-12) return INFINITY;
        a = (n * sgv - sg * sv) / det;
        if (a <= 0) return INFINITY;
    }
    double b = (sv - a * sg) / n, chi2 = 0;
    for (int i = 0; i < PSF_N; i++) {
        if (pt->skip[i]) continue;
        double r = pt->v[i] - a * g[i] - b;
        chi2 += r * r / pt->var[i];
    }
    return chi2;
}

/* Best Gaussian chi^2: a grid over sigma and the sub-pixel centre, then a
 * pattern search with halving steps from the best grid point. */
static double psf_fit(const psf_patch *pt) {
    static const float sig[] = {0.5f, 0.6f, 0.7f, 0.85f, 1.0f, 1.2f, 1.5f, 2.0f};
    psf_par best = {0, 0, 1};
    double e = INFINITY;
    for (size_t k = 0; k < sizeof sig / sizeof *sig; k++)
        for (int oy = -2; oy <= 2; oy++)
            for (int ox = -2; ox <= 2; ox++) {
                psf_par p = {0.25f * (float)oy, 0.25f * (float)ox, sig[k]};
                double c = patch_chi2(pt, &p);
                if (c < e) e = c, best = p;
            }
    for (float step = 0.125f; step > 0.004f && isfinite(e); step *= 0.5f) {
        for (int moved = 1; moved;) {
            moved = 0;
            psf_par t[6] = {best, best, best, best, best, best};
            t[0].cy += step, t[1].cy -= step, t[2].cx += step, t[3].cx -= step;
            t[4].sig *= 1.0f + step, t[5].sig /= 1.0f + step;
            for (int i = 0; i < 6; i++) {
                if (fabsf(t[i].cy) > 0.75f || fabsf(t[i].cx) > 0.75f || t[i].sig < 0.5f || t[i].sig > 2.5f) continue;
                double c = patch_chi2(pt, &t[i]);
                if (c < e) e = c, best = t[i], moved = 1;
            }
        }
    }
    return e;
}

/* Whether the group members[n] (pixel indices), peak at pk, looks like a star. */
static int psf_like(const float *p, const float *sigmap, int h, int w, int pk, const int *members, size_t n) {
    int y = pk / w, x = pk % w;
    float sn = sigmap[pk];
    if (y < PSF_R || y >= h - PSF_R || x < PSF_R || x >= w - PSF_R || !(sn > 0) || !isfinite(sn)) return 0;
    psf_patch pt;
    float lowest = INFINITY;
    for (int i = 0; i < PSF_N; i++) {
        pt.v[i] = p[(size_t)(y + i / PSF_SIDE - PSF_R) * w + x + i % PSF_SIDE - PSF_R];
        if (!isfinite(pt.v[i])) return 0;
        lowest = pt.v[i] < lowest ? pt.v[i] : lowest;
    }
    for (int i = 0; i < PSF_N; i++) {
        double tol = PSF_TOL * ((double)pt.v[i] - lowest);
        pt.var[i] = (double)sn * sn + tol * tol;
        pt.skip[i] = 0;
    }
    double star = psf_fit(&pt) + 2.0 * 5;
    int k = 0;
    for (size_t m = 0; m < n; m++) {
        int dy = members[m] / w - y, dx = members[m] % w - x;
        if (abs(dy) <= PSF_R && abs(dx) <= PSF_R) pt.skip[(dy + PSF_R) * PSF_SIDE + dx + PSF_R] = 1, k++;
    }
    if ((size_t)k < n || k > PSF_N - 8) return 0; /* longer than the patch, or too little around it */
    double wings = psf_fit(&pt) + 2.0 * 5, flat = patch_chi2(&pt, NULL) + 2.0;
    double hit = (wings < flat ? wings : flat) + 2.0 * k;
    return star < hit;
}

/* One detection per 8-connected group of cr, labelled through queue (its
 * first entries hold the group's pixels afterwards). spare_psf: groups that
 * look like a star (psf_like) are left alone. */
static ae_status cr_groups(const float *p, const float *sigmap, uint8_t *cr, int h, int w, uint8_t *mask,
                           int spare_psf, ae_detections *dets, int *queue) {
    for (size_t s0 = 0; s0 < (size_t)h * w; s0++) {
        if (!cr[s0] || cr[s0] == 255) continue;
        size_t head = 0, tail = 0, old = 0;
        double sx = 0, sy = 0, flux = 0;
        float peak = -INFINITY;
        int pk = (int)s0;
        queue[tail++] = (int)s0;
        cr[s0] = 255;
        while (head < tail) {
            int q = queue[head++], y = q / w, x = q % w;
            sx += x, sy += y, flux += p[q];
            if (p[q] > peak) peak = p[q], pk = q;
            if (mask[q]) old++;
            for (int j = y - 1; j <= y + 1; j++)
                for (int i = x - 1; i <= x + 1; i++)
                    if (j >= 0 && j < h && i >= 0 && i < w && cr[(size_t)j * w + i] && cr[(size_t)j * w + i] != 255) {
                        cr[(size_t)j * w + i] = 255;
                        queue[tail++] = j * w + i;
                    }
        }
        size_t n = tail;
        if (2 * old >= n) continue; /* already masked as a star or hot pixel */
        if (spare_psf && psf_like(p, sigmap, h, w, pk, queue, n)) {
            for (size_t m = 0; m < n; m++) cr[queue[m]] = 254; /* kept: not masked below */
            continue;
        }
        ae_detection d = {(float)(sx / n), (float)(sy / n), 0.0f, peak, (float)flux, 0.0f, 0.0f, AE_ART_COSMIC_RAY};
        ae_status st = ae_detections_push(dets, &d);
        if (st != AE_OK) return st;
    }
    return AE_OK;
}

/* How much wider S = L+ / (2 sigma) is spread than for white Gaussian noise
 * (1..2): the ratio of its 99th percentile over unmasked pixels to 2.602,
 * the value for white noise (numpy simulation of this exact statistic).
 * It corrects the noise map where the MAD misleads, e.g. a sky clipped at 0
 * in 8-bit images (factor ~1.76); capped at 2 so that a few unmasked bright
 * sources in a small frame cannot blind the search. buf holds h*w floats. */
static float cr_noise_scale(const float *p, const float *sigmap, const uint8_t *mask, int h, int w, float *buf) {
    size_t hw = (size_t)h * w, step = hw > 16384 ? hw / 16384 : 1, n = 0; /* 16k samples: ~160 above the 99th percentile */
    for (size_t q = 0; q < hw; q += step) {
        int y = (int)(q / w), x = (int)(q % w);
        if (!mask[q] && isfinite(p[q]) && isfinite(sigmap[q])) buf[n++] = lap_plus(p, h, w, y, x) / (2.0f * sigmap[q]);
    }
    if (n < 256) return 1.0f;
    float q = ae_select_kth(buf, n, (size_t)(0.99 * (double)n)) / 2.602f;
    return q < 1.0f ? 1.0f : q > 2.0f ? 2.0f : q;
}

ae_status ae_detect_cosmic(const float *plane, const float *sigmap, int h, int w, float sigclip, float objlim,
                           int spare_psf, ae_detections *dets, uint8_t *mask) {
    if (!plane || !sigmap || !dets || !mask || h <= 0 || w <= 0 || !(sigclip > 0))
        return ae_error_set(AE_ERR_ARG, "ae_detect_cosmic: bad arguments");
    if ((size_t)h * w > (size_t)INT32_MAX) return ae_error_set(AE_ERR_NOMEM, "cosmic rays: image too large");
    size_t hw = (size_t)h * w;
    float *sm = ae_malloc(hw * sizeof *sm, "cosmic-ray significance");
    uint8_t *cr = sm ? ae_calloc(hw, 1, "cosmic-ray flags") : NULL;
    int *stack = cr ? ae_malloc(hw * sizeof *stack, "cosmic-ray labels") : NULL;
    if (!stack) {
        free(sm);
        free(cr);
        return AE_ERR_NOMEM;
    }
    size_t ns = 0, step = hw > 16384 ? hw / 16384 : 1; /* the sky level: 16k samples suffice */
    for (size_t q = 0; q < hw; q += step)
        if (isfinite(plane[q])) sm[ns++] = plane[q];
    float sky = ns ? ae_select_kth(sm, ns, ns / 2) : 0.0f;
    float buf[49];
    sigclip *= cr_noise_scale(plane, sigmap, mask, h, w, sm);
    for (size_t q = 0; q < hw; q++) sm[q] = NAN;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            if (!mask[(size_t)y * w + x] && cr_seed(plane, sigmap, sm, h, w, y, x, sigclip, objlim, sky, buf))
                cr[(size_t)y * w + x] = 1; /* pixels already masked (stars, hot pixels) are settled */
    cr_grow(plane, sigmap, sm, cr, h, w, 0.3f * sigclip, buf); /* sigfrac 0.3 */
    ae_status st = cr_groups(plane, sigmap, cr, h, w, mask, spare_psf, dets, stack);
    for (size_t q = 0; q < hw && st == AE_OK; q++)
        if (cr[q] == 255 && isfinite(plane[q])) mask[q] = 1;
    free(stack);
    free(cr);
    free(sm);
    return st;
}
