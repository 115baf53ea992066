/* stage.c - `astroenh denoise`: noise reduction and artifact removal.
 *
 * Order per image, in the image's own units (linear FITS stays linear):
 * noise sigma per channel (noise.c); with --method wavelet (the default),
 * wavelet shrinkage (wavelet.c) whose strength, unless given, follows the
 * noise gate below; with --method artifacts|all, detect
 * compact artifacts (detect.c, points.c) and inpaint them (inpaint.c), plus
 * the NaN pixels when --fill-nan; with --method bilateral|all, the bilateral
 * filter (bilateral.c) with range sigma = strength * (--sigma-r, or the noise
 * sigma: 1x was best on the validation split in scripts/bench_denoise.py).
 * Side outputs: --mask-out (PNG/FITS by extension) and --catalog (FITS
 * binary table for .fits/.fit/.fts names, CSV otherwise).
 * A "{}" in either name is replaced by the output file's stem, for batches.
 */
#include <errno.h>
#include <fitsio.h>
#include <stddef.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "astroenh/batch.h"
#include "astroenh/denoise.h"
#include "astroenh/io.h"
#include "astroenh/stage.h"
#include "astroenh/wavelet.h"
#include "../pipeline/options.h"

enum { M_BILATERAL = 1, M_ARTIFACTS = 2, M_ALL = 3, M_WAVELET = 4 };

/* Noise gate of the default (--strength auto) on display data (PNG/JPEG, 0..1):
 * an image whose largest per-channel noise sigma is at most GATE_SIGMA comes
 * back unchanged; above it the wavelet runs at strength 1. (Removing only
 * the variance above the gate was tried: it left most of the injected noise,
 * 2.6 dB below strength 1 on two DECaLS images at the benchmark's heaviest
 * render level.)
 * The clean test-split images, at full size, measure up to 11.3/255 (DECaLS),
 * 12.3/255 (NASA) and 16.9/255 (Stellarium) with this estimator (the largest
 * channel's): their grain is part of the picture, and smoothing it lowers
 * PSNR and SSIM against them (scripts/bench_noise.py, "clean" rows). Linear
 * data (FITS) carries measurement noise and no clean reference: there auto
 * means strength 1. */
#define GATE_SIGMA (18.0f / 255.0f)

typedef struct {
    int method;
    float strength, sigma_s, sigma_r, threshold; /* strength < 0: auto */
    int scales;
    int fill_nan, texture, keep_stars;
    const char *mask_out, *catalog;
} denoise_opts;

static void opts_init(void *p) {
    denoise_opts *o = p;
    memset(o, 0, sizeof *o);
    o->method = M_WAVELET;
    o->strength = -1.0f;
    o->scales = 5;
    o->keep_stars = 1; /* removing real stars is an explicit choice: --remove-stars */
    o->sigma_s = 2.0f;
    o->sigma_r = 0.0f; /* 0: from the noise */
    o->threshold = 7.0f;
    o->texture = 1;
}

/* The stage allocates and frees a few dozen frame-sized buffers per image.
 * glibc serves those above its mmap threshold with fresh mappings, and on
 * cutouts the page faults cost as much as the computation (measured: 40 %
 * of the template-matching time on the benchmark's 256-384 px images).
 * Keeping them in the heap (up to 32 MB each, 256 MB retained) removes
 * that; it is process-wide, which is harmless for a CLI run. */
static void keep_buffers_in_heap(void) {
#ifdef __GLIBC__
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 256 << 20);
#endif
}

static ae_status prepare(void *p, const ae_global_opts *g, void **state) {
    denoise_opts *o = p;
    *state = NULL;
    keep_buffers_in_heap();
    if ((o->mask_out || o->catalog) && !(o->method & M_ARTIFACTS))
        return ae_error_set(AE_ERR_ARG, "--mask-out and --catalog need --method artifacts or all");
    return AE_OK;
}

/* Noise sigma per channel, floored at the quantisation step of integer
 * sources (and at 1e-6 of the data range) so flat images do not give 0. */
static ae_status channel_sigmas(const ae_image *in, float *sig) {
    size_t hw = ae_image_npix(in);
    for (int ch = 0; ch < in->c; ch++) {
        const float *p = ae_image_plane(in, ch);
        ae_status st = ae_noise_sigma(p, in->h, in->w, &sig[ch]);
        if (st != AE_OK) return st;
        /* comparisons, not fminf/fmaxf, which GCC calls in libm here; only
         * the sign of a zero extreme could differ, and hi - lo does not see it */
        float lo = INFINITY, hi = -INFINITY;
        for (size_t q = 0; q < hw; q++) {
            float v = isfinite(p[q]) ? p[q] : lo;
            lo = v < lo ? v : lo;
            v = isfinite(p[q]) ? p[q] : hi;
            hi = v > hi ? v : hi;
        }
        float fl = hi > lo ? 1e-6f * (hi - lo) : 1e-6f;
        if (in->range == AE_RANGE_DISPLAY && in->src_bitdepth == 8) fl = fmaxf(fl, 1.0f / 255.0f / 3.4641f);
        if (in->range == AE_RANGE_DISPLAY && in->src_bitdepth == 16) fl = fmaxf(fl, 1.0f / 65535.0f / 3.4641f);
        if (!(sig[ch] > fl)) sig[ch] = fl;
    }
    return AE_OK;
}

/* ---- side outputs ---- */

/* `pattern` with "{}" replaced by the stem of out_path. Caller frees. */
static char *side_path(const char *pattern, const char *out_path) {
    const char *brace = strstr(pattern, "{}");
    if (!brace) return strdup(pattern);
    const char *slash = strrchr(out_path, '/'), *base = slash ? slash + 1 : out_path;
    const char *dot = strrchr(base, '.');
    size_t stem = dot && dot != base ? (size_t)(dot - base) : strlen(base);
    size_t n = strlen(pattern) + stem + 1;
    char *s = malloc(n);
    if (s) snprintf(s, n, "%.*s%.*s%s", (int)(brace - pattern), pattern, (int)stem, base, brace + 2);
    return s;
}

static ae_status write_mask(const uint8_t *mask, const ae_image *in, const char *path, const char *protect) {
    ae_image *m = NULL;
    ae_status st = ae_image_create(&m, in->w, in->h, 1);
    if (st != AE_OK) return st;
    size_t hw = ae_image_npix(in);
    for (size_t q = 0; q < hw; q++) m->data[q] = mask[q] ? 1.0f : 0.0f;
    m->range = AE_RANGE_DISPLAY;
    m->src_bitdepth = 8;
    m->src_format = ae_format_from_path(path);
    st = ae_output_write_image(m, path, protect);
    ae_image_free(m);
    return st;
}

static ae_status write_csv(const ae_detections *d, const char *path, const char *protect) {
    size_t cap = 128 + d->n * 160, len = 0; /* a row is at most ~110 chars with these formats */
    char *t = ae_malloc(cap, "catalogue text");
    if (!t) return AE_ERR_NOMEM;
    len += (size_t)snprintf(t, cap, "x,y,scale,peak,flux,snr,radius,kind\n");
    for (size_t k = 0; k < d->n && len < cap; k++) {
        const ae_detection *e = &d->items[k];
        len += (size_t)snprintf(t + len, cap - len, "%.2f,%.2f,%.2f,%.6g,%.6g,%.5g,%.2f,%s\n", e->x, e->y, e->scale,
                                e->peak, e->flux, e->snr, e->radius, ae_art_kind_name(e->kind));
    }
    ae_status st = ae_output_write_text(t, len < cap ? len : cap - 1, path, protect);
    free(t);
    return st;
}

/* cfitsio's status to ours, naming the file. */
static ae_status fits_fail(int status, const char *path) {
    char msg[FLEN_STATUS];
    fits_get_errstatus(status, msg);
    return ae_error_set(AE_ERR_IO, "%s: cannot write catalogue: %s", path, msg);
}

static ae_status write_fits_table(const ae_detections *d, int h, const char *path, const char *protect) {
    if (protect && ae_path_same_file(path, protect))
        return ae_error_set(AE_ERR_ARG, "%s: the catalogue would overwrite the input", path);
    char *tmp = ae_output_temp_path(path);
    if (!tmp) return AE_ERR_NOMEM;
    char *ttype[] = {"X", "Y", "SCALE", "PEAK", "FLUX", "SNR", "RADIUS", "KIND", "X_FITS", "Y_FITS"};
    char *tform[] = {"1E", "1E", "1E", "1E", "1E", "1E", "1E", "12A", "1E", "1E"};
    char *tunit[] = {"pix", "pix", "pix", "", "", "sigma", "pix", "", "pix", "pix"};
    fitsfile *f = NULL;
    int status = 0;
    char name[4096];
    snprintf(name, sizeof name, "!%s", tmp);
    fits_create_file(&f, name, &status);
    fits_create_tbl(f, BINARY_TBL, (LONGLONG)d->n, 10, ttype, tform, tunit, "DETECTIONS", &status);
    fits_write_key_str(f, "ORIGIN", "astroenh denoise", "X,Y: 0-based, top row first", &status);
    fits_write_comment(f, "X_FITS, Y_FITS: FITS pixel coordinates (1-based, bottom row first)", &status);
    for (size_t k = 0; k < d->n && !status; k++) {
        const ae_detection *e = &d->items[k];
        float v[7] = {e->x, e->y, e->scale, e->peak, e->flux, e->snr, e->radius};
        for (int col = 0; col < 7; col++) fits_write_col(f, TFLOAT, col + 1, (LONGLONG)k + 1, 1, 1, &v[col], &status);
        char *kind = (char *)ae_art_kind_name(e->kind);
        fits_write_col(f, TSTRING, 8, (LONGLONG)k + 1, 1, 1, &kind, &status);
        float fx = e->x + 1.0f, fy = (float)h - e->y;
        fits_write_col(f, TFLOAT, 9, (LONGLONG)k + 1, 1, 1, &fx, &status);
        fits_write_col(f, TFLOAT, 10, (LONGLONG)k + 1, 1, 1, &fy, &status);
    }
    int cst = 0;
    if (f) fits_close_file(f, &cst);
    ae_status st = AE_OK;
    if (status || cst) st = fits_fail(status ? status : cst, path);
    else if (rename(tmp, path) != 0) st = ae_error_set(AE_ERR_IO, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
    if (st != AE_OK) unlink(tmp);
    free(tmp);
    return st;
}

static ae_status write_catalog(const ae_detections *d, int h, const char *path, const char *protect) {
    if (ae_format_from_path(path) == AE_FMT_FITS) return write_fits_table(d, h, path, protect);
    return write_csv(d, path, protect);
}

/* ---- the run ---- */

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static ae_status remove_artifacts(const denoise_opts *o, const ae_global_opts *g, const ae_image *in, ae_image *out,
                                  const float *sig, ae_detections *dets, uint8_t *mask, double *times) {
    ae_detect_opts dop;
    ae_detect_opts_default(&dop);
    dop.threshold = o->threshold;
    dop.keep_stars = o->keep_stars;
    for (int ch = 0; ch < in->c; ch++) dop.sigma[ch] = sig[ch];
    double t0 = now_s();
    ae_status st = ae_detect_artifacts(in->data, in->c, in->h, in->w, &dop, dets, mask);
    if (st != AE_OK) return st;
    times[0] = now_s() - t0;
    size_t hw = ae_image_npix(in);
    if (o->fill_nan)
        for (size_t q = 0; q < hw; q++)
            for (int ch = 0; ch < in->c; ch++)
                if (isnan(in->data[ch * hw + q])) mask[q] = 1;
    ae_inpaint_opts iop;
    ae_inpaint_opts_default(&iop);
    iop.texture = o->texture;
    if (g) iop.seed ^= g->seed;
    t0 = now_s();
    st = ae_inpaint(out->data, in->c, in->h, in->w, mask, &iop);
    times[1] = now_s() - t0;
    return st;
}

static ae_status smooth(const denoise_opts *o, ae_image *out, const float *sig, float *sr) {
    for (int ch = 0; ch < out->c; ch++) sr[ch] = o->strength * (o->sigma_r > 0 ? o->sigma_r : sig[ch]);
    if (!(o->strength > 0)) return AE_OK;
    size_t n = (size_t)out->c * ae_image_npix(out);
    float *src = ae_malloc(n * sizeof *src, "bilateral input");
    if (!src) return AE_ERR_NOMEM;
    memcpy(src, out->data, n * sizeof *src);
    ae_status st = ae_bilateral(out->data, src, out->c, out->h, out->w, o->sigma_s, sr, 0);
    free(src);
    return st;
}

/* --strength auto: 1, except for wavelet shrinkage on display data at or
 * below the noise gate: 0. */
static float resolve_strength(const denoise_opts *o, const ae_image *in, const float *sig) {
    if (o->strength >= 0.0f) return o->strength;
    if (!(o->method & M_WAVELET) || in->range != AE_RANGE_DISPLAY) return 1.0f;
    float smax = 0.0f;
    for (int ch = 0; ch < in->c; ch++) smax = sig[ch] > smax ? sig[ch] : smax;
    return smax > GATE_SIGMA ? 1.0f : 0.0f;
}

static ae_status shrink(const denoise_opts *o, ae_image *img) {
    if (!(o->strength > 0)) return AE_OK;
    ae_wavelet_opts wo;
    ae_wavelet_opts_default(&wo);
    wo.scales = o->scales;
    wo.strength = o->strength;
    return ae_wavelet_denoise(img->data, img->c, img->h, img->w, &wo, NULL);
}

static ae_status side_outputs(const denoise_opts *o, const ae_image *in, const ae_stage_ctx *ctx,
                              const ae_detections *dets, const uint8_t *mask) {
    ae_status st = AE_OK;
    const char *out_path = ctx && ctx->out_path ? ctx->out_path : "out";
    const char *protect = ctx ? ctx->in_path : NULL;
    /* both side names are checked before either is written: a mask or a
     * catalogue may not replace an input or an output of the run */
    char *mp = o->mask_out ? side_path(o->mask_out, out_path) : NULL;
    char *cp = o->catalog ? side_path(o->catalog, out_path) : NULL;
    if ((o->mask_out && !mp) || (o->catalog && !cp)) st = ae_error_set(AE_ERR_NOMEM, "out of memory");
    if (st == AE_OK && mp) st = ae_output_guard_check(mp, 1);
    if (st == AE_OK && cp) st = ae_output_guard_check(cp, 1);
    /* a '{}' name may point into a folder of its own; create it as -o does */
    if (st == AE_OK && mp) st = ae_output_make_parent(mp);
    if (st == AE_OK && cp) st = ae_output_make_parent(cp);
    if (st == AE_OK && mp) st = write_mask(mask, in, mp, protect);
    if (st == AE_OK && cp) st = write_catalog(dets, in->h, cp, protect);
    free(mp);
    free(cp);
    return st;
}

static void report(const denoise_opts *o, const ae_image *in, const float *sig, const float *sr,
                   const ae_detections *d, size_t masked, ae_result *res) {
    static const char *mnames[] = {"", "bilateral", "artifacts", "all", "wavelet"};
    char sigs[96] = "", srs[96] = "";
    for (int ch = 0; ch < in->c; ch++) {
        size_t a = strlen(sigs), b = strlen(srs);
        snprintf(sigs + a, sizeof sigs - a, "%s%.4g", ch ? "," : "", sig[ch]);
        snprintf(srs + b, sizeof srs - b, "%s%.4g", ch ? "," : "", sr[ch]);
    }
    ae_result_json(res, "\"method\": \"%s\"", mnames[o->method]);
    ae_result_json(res, "\"noise_sigma\": [%s]", sigs);
    if (o->method & M_BILATERAL) ae_result_json(res, "\"sigma_s\": %.3g, \"sigma_r\": [%s]", o->sigma_s, srs);
    if (o->method & M_WAVELET) ae_result_json(res, "\"scales\": %d, \"strength\": %.4g", o->scales, o->strength);
    if (o->method & M_ARTIFACTS) {
        ae_result_json(res, "\"detections\": {\"star\": %zu, \"red_dot\": %zu, \"blue_dot\": %zu, "
                            "\"hot_pixel\": %zu, \"cosmic_ray\": %zu}, \"masked_pixels\": %zu",
                       d->count[AE_ART_STAR], d->count[AE_ART_RED_DOT], d->count[AE_ART_BLUE_DOT],
                       d->count[AE_ART_HOT_PIXEL], d->count[AE_ART_COSMIC_RAY], masked);
        if (d->core_r > 0)
            ae_result_json(res, "\"protected_core\": [%.1f, %.1f, %.1f]", d->core_x, d->core_y, d->core_r);
    }
    snprintf(res->history, sizeof res->history, "method=%s noise_sigma=%s", mnames[o->method], sigs);
    size_t n = strlen(res->history);
    if (o->method & M_BILATERAL)
        n += (size_t)snprintf(res->history + n, sizeof res->history - n, " sigma_s=%.3g sigma_r=%s strength=%.3g",
                              o->sigma_s, srs, o->strength);
    if ((o->method & M_WAVELET) && n < sizeof res->history)
        n += (size_t)snprintf(res->history + n, sizeof res->history - n, " scales=%d strength=%.4g", o->scales,
                              o->strength);
    if ((o->method & M_ARTIFACTS) && n < sizeof res->history)
        snprintf(res->history + n, sizeof res->history - n,
                 " threshold=%.3g detections=%zu (star %zu red %zu blue %zu hot %zu cr %zu)%s%s", o->threshold, d->n,
                 d->count[AE_ART_STAR], d->count[AE_ART_RED_DOT], d->count[AE_ART_BLUE_DOT],
                 d->count[AE_ART_HOT_PIXEL], d->count[AE_ART_COSMIC_RAY], o->fill_nan ? " fill_nan" : "",
                 o->keep_stars ? "" : " remove_stars");
}

static ae_status run(void *state, const void *p, const ae_image *in, ae_image **out, const ae_stage_ctx *ctx,
                     ae_result *res) {
    denoise_opts eo = *(const denoise_opts *)p, *o = &eo;
    *out = NULL;
    if (in->c != 1 && in->c != 3)
        return ae_error_set(AE_ERR_UNSUPPORTED, "denoise: %d channels (1 or 3 supported)", in->c);
    float sig[3] = {0, 0, 0}, sr[3] = {0, 0, 0};
    double times[4] = {0, 0, 0, 0}; /* detect, inpaint, bilateral, wavelet */
    ae_image *img = NULL;
    ae_detections dets = {0};
    uint8_t *mask = NULL;
    size_t masked = 0, hw = ae_image_npix(in);
    ae_status st = channel_sigmas(in, sig);
    eo.strength = resolve_strength(o, in, sig);
    if (st == AE_OK) st = ae_image_clone(&img, in);
    if (st == AE_OK && (o->method & M_ARTIFACTS)) {
        mask = ae_calloc(hw, 1, "artifact mask");
        st = mask ? remove_artifacts(o, ctx ? ctx->g : NULL, in, img, sig, &dets, mask, times) : AE_ERR_NOMEM;
        for (size_t q = 0; st == AE_OK && q < hw; q++) masked += mask[q] != 0;
    }
    if (st == AE_OK && (o->method & M_BILATERAL)) {
        double t0 = now_s();
        st = smooth(o, img, sig, sr);
        times[2] = now_s() - t0;
    }
    if (st == AE_OK && (o->method & M_WAVELET)) {
        double t0 = now_s();
        st = shrink(o, img);
        times[3] = now_s() - t0;
    }
    if (st == AE_OK && mask) st = side_outputs(o, in, ctx, &dets, mask);
    if (st == AE_OK) {
        report(o, in, sig, sr, &dets, masked, res);
        ae_result_json(res, "\"time_detect\": %.4f, \"time_inpaint\": %.4f, \"time_bilateral\": %.4f, "
                            "\"time_wavelet\": %.4f", times[0], times[1], times[2], times[3]);
    }
    free(mask);
    ae_detections_free(&dets);
    if (st != AE_OK) {
        ae_image_free(img);
        return st;
    }
    *out = img;
    return AE_OK;
}

#define OFF(field) offsetof(denoise_opts, field)

static const ae_opt_choice k_methods[] = {
    {"wavelet", M_WAVELET}, {"bilateral", M_BILATERAL}, {"artifacts", M_ARTIFACTS}, {"all", M_ALL}, {NULL, 0}};

static const ae_opt k_options[] = {
    {.name = "--method", .kind = AE_OPT_ENUM, .off = OFF(method), .choices = k_methods, .arg = "M",
     .help = "wavelet: wavelet shrinkage of the noise; bilateral: the bilateral filter; artifacts: remove "
             "artifacts; all: remove artifacts, then bilateral"},
    {.name = "--strength", .kind = AE_OPT_FLOAT, .off = OFF(strength), .lo = 0, .hi = 100, .word = "auto",
     .word_value = -1, .arg = "K|auto", .def = "auto",
     .help = "scales the noise variance removed (wavelet) or the bilateral range sigma; 0 = no smoothing. "
             "auto: 1, except wavelet on PNG/JPEG data whose noise sigma is at most 18/255: 0 (clean renders "
             "unchanged)"},
    {.name = "--scales", .kind = AE_OPT_INT, .off = OFF(scales), .lo = 1, .hi = AE_WAVELET_MAX_SCALES, .arg = "J",
     .help = "wavelet detail scales"},
    {.name = "--sigma-s", .kind = AE_OPT_FLOAT, .off = OFF(sigma_s), .lo = 0.1f, .hi = 50, .arg = "PX",
     .help = "bilateral spatial sigma in pixels"},
    {.name = "--sigma-r", .kind = AE_OPT_FLOAT, .off = OFF(sigma_r), .lo = 0, .hi = 3e38f, .arg = "V",
     .def = "the measured noise sigma", .help = "bilateral range sigma in data units"},
    {.name = "--threshold", .kind = AE_OPT_FLOAT, .off = OFF(threshold), .lo = 1, .hi = 1000, .arg = "K",
     .help = "detection significance in noise sigmas"},
    {.name = "--fill-nan", .kind = AE_OPT_FLAG, .off = OFF(fill_nan), .flag_value = 1,
     .help = "inpaint NaN (blank) pixels too (default: they stay NaN)"},
    {.name = "--no-texture", .kind = AE_OPT_FLAG, .off = OFF(texture), .flag_value = 0,
     .help = "fill holes smoothly, without noise matched to their surroundings"},
    {.name = "--remove-stars", .kind = AE_OPT_FLAG, .off = OFF(keep_stars), .flag_value = 0,
     .help = "artifacts/all: remove white-ish stars too (the DECaLS use case); by default only defects go "
             "(red/blue dots, hot pixels, cosmic rays), as stars are usually real sources"},
    {.name = "--keep-stars", .kind = AE_OPT_FLAG, .off = OFF(keep_stars), .flag_value = 1,
     .help = "the default, accepted for old scripts"},
    {.name = "--mask-out", .kind = AE_OPT_PATH, .off = OFF(mask_out), .arg = "FILE",
     .help = "write the artifact mask (PNG or FITS by extension; {} = output stem)"},
    {.name = "--catalog", .kind = AE_OPT_PATH, .off = OFF(catalog), .arg = "FILE",
     .help = "write the detections: FITS table for .fits names, CSV otherwise (x, y 0-based from the top-left; "
             "the FITS table adds X_FITS, Y_FITS)"},
    {.name = NULL}};

const ae_stage_def ae_stage_denoise = {
    .name = "denoise",
    .summary = "reduce noise (wavelet shrinkage); optionally remove hot pixels, cosmic rays, dots",
    .options = k_options,
    .opts_size = sizeof(denoise_opts),
    .opts_init = opts_init,
    .prepare = prepare,
    .run = run,
    .release = NULL,
};
