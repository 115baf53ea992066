/* denoise.h - the denoise stage's building blocks (src/denoise/).
 *
 * All functions work on float planes, channel-major [c][h][w], rows
 * top-first, in whatever units the image has (linear FITS counts or display
 * 0..1): every threshold is expressed in units of the measured noise sigma.
 * NaN marks a missing pixel: it never contributes to a neighbour's value and
 * is never produced where the input was finite.
 *
 *   noise.c    noise sigma from the MAD of a Laplacian residual
 *   bilateral.c  exact bilateral filter (truncated window, joint colour range)
 *   ncc.c      normalised cross-correlation and least-squares amplitude maps
 *   detect.c   compact artifacts: PSF-like sources, hot pixels, cosmic rays
 *   inpaint.c  Telea fast marching, biharmonic fill, noise-matched texture
 *   stage.c    the `astroenh denoise` stage (ae_stage_denoise)
 */
#ifndef ASTROENH_DENOISE_H
#define ASTROENH_DENOISE_H

#include <stddef.h>
#include <stdint.h>
#include "astroenh/status.h"

/* ---- noise ---- */

/* Gaussian-equivalent noise sigma of one plane [h][w]: 1.4826 * MAD of the
 * residual r = x - mean(4 neighbours), divided by sqrt(1.25) (the residual's
 * variance for white noise). NaN pixels and their neighbours are skipped.
 * Falls back to the residual's RMS when the MAD is 0 (quantised, flat data).
 * *sigma = 0 when fewer than 16 residuals exist. Allocates scratch. */
ae_status ae_noise_sigma(const float *plane, int h, int w, float *sigma);

/* Local noise map: the estimate above in blocks of `block` pixels (from
 * every other row and column of the block), written to map[h][w] (nearest
 * block), never below `floor_sigma`. */
ae_status ae_noise_map(float *map, const float *plane, int h, int w, int block, float floor_sigma);

/* k-th smallest of x[0..n-1] (reorders x). n > 0. */
float ae_select_kth(float *x, size_t n, size_t k);

/* ---- bilateral filter ---- */

/* Exact bilateral filter of in[c][h][w] into out[c][h][w] (must not alias):
 *   out(p) = sum_q ws(|p-q|) wr(p,q) in(q) / sum_q ws wr
 *   ws = exp(-|p-q|^2 / (2 sigma_s^2)) over the disc |p-q| <= radius,
 *   wr = exp(-(1/c) sum_ch (in_ch(p)-in_ch(q))^2 / (2 sigma_r[ch]^2))
 * i.e. one joint range kernel on colour distance, each channel scaled by its
 * own range sigma. radius <= 0 picks ceil(2 sigma_s). Taps outside the image
 * or NaN (in any channel) are skipped; a NaN channel stays NaN and the other
 * channels of that pixel keep their values. Uses OpenMP over rows.
 * Errors: AE_ERR_ARG for c not 1..3, sigma_s <= 0 or any sigma_r <= 0. */
ae_status ae_bilateral(float *out, const float *in, int c, int h, int w, float sigma_s,
                       const float *sigma_r, int radius);

/* ---- normalised cross-correlation ---- */

/* For every pixel p, fits in(window around p) = a*T + b by least squares
 * over the th x tw window centred on p (th, tw odd) and writes
 *   ncc[p] = Pearson correlation of window and template (0 where undefined:
 *            flat window, window leaving the image, NaN inside),
 *   amp[p] = a (may be NULL), the template amplitude above the local mean.
 * img [h][w], tmpl [th][tw], ncc/amp [h][w]. Allocates scratch. */
ae_status ae_ncc_map(float *ncc, float *amp, const float *img, int h, int w, const float *tmpl, int th,
                     int tw);

/* The same at one pixel (y, x) only. */
void ae_ncc_at(const float *img, int h, int w, int y, int x, const float *tmpl, int th, int tw, float *ncc,
               float *amp);

/* The same for the separable template outer(k, k), k[2r+1] (r <= 64), in
 * O(r) per pixel; sums in float after subtracting the image mean. */
ae_status ae_ncc_map_sep(float *ncc, float *amp, const float *img, int h, int w, const float *k, int r);
/* The same with caller-provided scratch of ae_ncc_sep_scratch_size(h, w)
 * bytes (0 on overflow), for repeated calls on one frame: the scratch must
 * have been set up for img by ae_ncc_sep_prepare (the per-image planes are
 * kept there for all calls with that img, unchanged, and that h, w). */
size_t ae_ncc_sep_scratch_size(int h, int w);
ae_status ae_ncc_sep_prepare(const float *img, int h, int w, void *work);
ae_status ae_ncc_map_sep_ws(float *ncc, float *amp, const float *img, int h, int w, const float *k, int r,
                            void *work);

/* Fills t[(2r+1)^2] with a PSF template: a circular Gaussian of `sigma`, or
 * (beta > 0) a Moffat of the same FWHM with index beta. */
void ae_psf_template(float *t, int r, float sigma, float beta);

/* ---- artifact detection ---- */

typedef enum {
    AE_ART_STAR = 0,      /* compact, colour like the neighbourhood or white */
    AE_ART_RED_DOT,       /* compact and redder than its surroundings */
    AE_ART_BLUE_DOT,      /* compact and bluer than its surroundings */
    AE_ART_HOT_PIXEL,     /* one pixel far above all 8 neighbours */
    AE_ART_COSMIC_RAY,    /* sharp-edged track or blob (L.A.Cosmic test) */
    AE_ART_NKINDS
} ae_art_kind;

const char *ae_art_kind_name(ae_art_kind k);

typedef struct {
    float x, y;      /* pixel position, 0-based, top-left origin */
    float scale;     /* template sigma in pixels (0 for hot pixels, cosmic rays) */
    float peak;      /* peak value above local background (luminance units) */
    float flux;      /* template amplitude * template sum, or masked sum for CRs */
    float snr;       /* detection significance in noise sigmas */
    float radius;    /* radius of the masked disc (0: mask follows the pixels) */
    ae_art_kind kind;
} ae_detection;

typedef struct {
    float threshold;     /* significance in sigma for PSF-like sources (5) */
    float ncc_min;       /* minimum correlation with a template (0.6) */
    float hot_threshold; /* hot pixel: sigmas above the brightest neighbour (6) */
    float cr_sigclip;    /* L.A.Cosmic sigma limit (5), 0 disables CR search */
    float cr_objlim;     /* L.A.Cosmic contrast limit vs fine structure (4) */
    float max_scale;     /* largest artifact template sigma in px (3) */
    int protect_core;    /* 1: never flag the central extended source's core */
    int keep_stars;      /* 1: leave white-ish PSF sources (kind star) alone: only coloured
                            dots, hot pixels and cosmic rays are detected and masked; on
                            mono data hot-pixel and cosmic-ray candidates shaped like a
                            PSF are kept too (spare_psf of ae_detect_hot/_cosmic) */
    float sigma[3];      /* noise sigma per channel (required, > 0) */
} ae_detect_opts;

void ae_detect_opts_default(ae_detect_opts *o);

typedef struct {
    ae_detection *items;
    size_t n, cap;
    size_t count[AE_ART_NKINDS];
    float core_x, core_y, core_r; /* protected core (r = 0: none) */
} ae_detections;

void ae_detections_free(ae_detections *d); /* frees items, NULL-safe, keeps d */
/* Appends a copy of *e and counts its kind; AE_ERR_NOMEM on failure. */
ae_status ae_detections_push(ae_detections *d, const ae_detection *e);

/* Finds compact artifacts in img[c][h][w] (c = 1 or 3). Writes mask[h][w]
 * (1 = pixel to replace, 0 = keep; NaN pixels are never set) and appends to
 * *dets (zero it before the first call). Allocates scratch. */
ae_status ae_detect_artifacts(const float *img, int c, int h, int w, const ae_detect_opts *o,
                              ae_detections *dets, uint8_t *mask);

/* Median of the finite pixels of plane[h][w] at distance r1..r2 from
 * (x, y); buf must hold (2 ceil(r2) + 1)^2 floats. NaN when none. */
float ae_ring_median(const float *plane, int h, int w, float x, float y, float r1, float r2, float *buf);

/* Hot pixels only (used by ae_detect_artifacts; exposed for tests): sets
 * mask and appends a detection for each pixel of `plane` more than
 * k * sigmap[p] above all 8 finite neighbours and with every neighbour below
 * 0.3 of its height above the background (median of the ring at distance 2),
 * which a sampled PSF does not satisfy. spare_psf: as for ae_detect_cosmic,
 * a pixel better fitted by a PSF (an undersampled star) is kept. */
ae_status ae_detect_hot(const float *plane, const float *sigmap, int h, int w, float k, int spare_psf,
                        ae_detections *dets, uint8_t *mask);

/* Cosmic rays only, in the manner of L.A.Cosmic (van Dokkum 2001): 2x
 * subsample, Laplacian, clip < 0, rebin; significance against the noise
 * map and against 5% of the local level above the median (sky: bright
 * structure is noisier than the sky), sigclip scaled up when the statistic
 * is wider spread than for white noise; fine-structure contrast to spare
 * PSF-sampled stars; growth to neighbours above sigfrac * sigclip. Sets mask, appends one detection per
 * connected group. spare_psf: a group better fitted by a Gaussian PSF
 * (sigma 0.5..2 px) than by its own pixels, by Akaike's criterion on the
 * 7 x 7 patch at its peak, is a star and left alone (undersampled stars pass
 * the fine-structure test; used for mono frames with keep_stars). */
ae_status ae_detect_cosmic(const float *plane, const float *sigmap, int h, int w, float sigclip,
                           float objlim, int spare_psf, ae_detections *dets, uint8_t *mask);

/* ---- inpainting ---- */

typedef struct {
    int radius;           /* Telea neighbourhood radius (5) */
    int large_area;       /* holes with more pixels use the biharmonic fill (50) */
    int texture;          /* 1: add noise with the ring's sigma */
    unsigned long long seed;
} ae_inpaint_opts;

void ae_inpaint_opts_default(ae_inpaint_opts *o);

/* Telea (2004) fast-marching fill of the pixels with mask != 0 in
 * img[c][h][w], in place. NaN pixels outside the mask are treated as
 * unknown and never filled. Holes with no known neighbour stay as they are. */
ae_status ae_inpaint_telea(float *img, int c, int h, int w, const uint8_t *mask, int radius);

/* Biharmonic fill (solves laplacian^2 u = 0 in the hole, known pixels as
 * boundary) by SOR, starting from the current values; `iters` sweeps. */
ae_status ae_inpaint_biharmonic(float *img, int c, int h, int w, const uint8_t *mask, int iters);

/* The full fill: Telea for every hole, biharmonic refinement of holes larger
 * than o->large_area, then (o->texture) Gaussian noise whose sigma is
 * measured in a ring 2..6 px around each hole (Laplacian-residual MAD),
 * seeded from o->seed and the hole's position (deterministic). */
ae_status ae_inpaint(float *img, int c, int h, int w, const uint8_t *mask, const ae_inpaint_opts *o);

#endif
