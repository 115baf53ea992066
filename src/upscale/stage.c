/* stage.c - `astroenh upscale`: super-resolution by 2x or 4x.
 *
 * Per image: linear (FITS) data is stretched to display values (the soft
 * asinh stretch, stretch.h) for the network and the result is inverted back,
 * then kept inside the local 3 x 3 input range of each pixel (flux.c);
 * missing (NaN) pixels are filled with the channel median for the network
 * and their output blocks are NaN again; optional bilateral pre-filter
 * (denoise.h) against the noise the network would otherwise amplify; the fast
 * EDSR-like network or SR3 sampling (drive.c); flux consistency in the
 * linear domain (flux.c); with --samples N (SR3) the mean of N samples and
 * their per-pixel standard deviation (UNCERT extension or side file); the
 * WCS is rescaled. The batch runner adds the HISTORY provenance.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "astroenh/batch.h"
#include "astroenh/denoise.h"
#include "astroenh/io.h"
#include "astroenh/stretch.h"
#include "astroenh/upscale.h"
#include "upscale_internal.h"
#include "../pipeline/options.h"

#define DEFAULT_STEPS_DDPM 100
#define DEFAULT_STEPS_DDIM 50
#define PREFILTER_SIGMA_S 1.0f
#define PREFILTER_K 2.0f /* range sigma = K x measured noise sigma */

static void opts_init(void *p) {
    up_opts *o = p;
    memset(o, 0, sizeof *o);
    o->scale = 2;
    o->model = UP_MODEL_FAST;
    o->sampler = -1;
    o->samples = 1;
    o->flux = -1;
}

/* models/<name> in $ASTROENH_MODELS, ./models, <exe dir>/models, <exe dir>/../models. */
static ae_status find_model(const char *name, char *out, size_t len) {
    char exe[PATH_MAX] = "", dir[PATH_MAX] = "";
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) *slash = '\0';
        snprintf(dir, sizeof dir, "%s", exe);
    }
    const char *env = getenv("ASTROENH_MODELS");
    const char *fmt[4] = {"%s/%s", "models/%s", "%s/models/%s", "%s/../models/%s"};
    for (int i = 0; i < 4; i++) {
        if (i == 0 && (!env || !*env)) continue;
        if ((i >= 2) && !dir[0]) continue;
        if (i == 1) snprintf(out, len, fmt[i], name);
        else snprintf(out, len, fmt[i], i == 0 ? env : dir, name);
        if (access(out, R_OK) == 0) return AE_OK;
    }
    return ae_error_set(AE_ERR_IO, "model file %s not found (looked in $ASTROENH_MODELS, ./models, %s/models; "
                                   "use --weights PATH)", name, dir[0] ? dir : "<exe dir>");
}

static void release(void *p) {
    up_state *s = p;
    if (!s) return;
    ae_arena_free(s->A);
    ae_weights_close(s->W);
    ae_weights_close(s->Wbase);
    ae_schedule_free(&s->sched);
    free(s->sr3);
    free(s->rdn);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

static ae_status check_opts(up_opts *o) {
    if (o->model == UP_MODEL_FAST) {
        if (o->samples > 1) return ae_error_set(AE_ERR_ARG, "--samples needs --model sr3 (the fast net is deterministic)");
        if (o->steps || o->sampler >= 0 || o->start_step)
            return ae_error_set(AE_ERR_ARG, "--steps/--sampler/--start-step need --model sr3");
    }
    return AE_OK;
}

/* --sampler / --steps, else the SR3 file's "sampler" / "steps" metadata (the
 * settings its validation chose), else DDPM with 100 steps (DDIM: 50). */
static ae_status sampler_defaults(up_state *s, up_opts *o) {
    const char *m = ae_weights_meta(s->W, "sampler");
    if (o->sampler < 0 && m && strcmp(m, "ddpm") && strcmp(m, "ddim"))
        return ae_error_set(AE_ERR_FORMAT, "%s: metadata \"sampler\" is \"%s\", want ddpm or ddim", s->path, m);
    if (o->sampler < 0) o->sampler = m && !strcmp(m, "ddim") ? AE_SAMPLER_DDIM : AE_SAMPLER_DDPM;
    if (o->steps) return AE_OK;
    if (ae_weights_meta(s->W, "steps")) {
        o->steps = ae_weights_meta_int(s->W, "steps", -1);
        if (o->steps < 1 || o->steps > AE_SR3_T)
            return ae_error_set(AE_ERR_FORMAT, "%s: metadata \"steps\" is \"%s\", want 1..%d", s->path,
                                ae_weights_meta(s->W, "steps"), AE_SR3_T);
        return AE_OK;
    }
    o->steps = o->sampler == AE_SAMPLER_DDIM ? DEFAULT_STEPS_DDIM : DEFAULT_STEPS_DDPM;
    return AE_OK;
}

/* A fast network is run at its own scale, or twice for 4x when it is a 2x
 * network (box-downsampling by 4 is box-downsampling by 2 twice; measured
 * better than the 4x networks trained here, eval/sr_metrics.md). */
static ae_status fast_scale(up_state *s, int net_scale, int scale) {
    s->net_scale = net_scale;
    if (net_scale == scale || (net_scale == 2 && scale == 4)) return AE_OK;
    return ae_error_set(AE_ERR_ARG, "%s: model is for scale %d, not %d", s->path, net_scale, scale);
}

/* The fast path with an RDN file (metadata arch=rdn): the stage works plane
 * by plane, so the file must be the 1-plane form (convert_upscalerjs.py
 * --planes mean|luma, or a train_rdn.py export). */
static ae_status load_rdn(up_state *s, ae_weights *W, const up_opts *o) {
    s->rdn = ae_malloc(sizeof *s->rdn, "rdn model");
    if (!s->rdn) return AE_ERR_NOMEM;
    ae_status st = ae_rdn_load(s->rdn, W);
    if (st == AE_OK && (s->rdn->cin != 1 || s->rdn->cout != 1))
        st = ae_error_set(AE_ERR_FORMAT, "%s: RDN with %d input / %d output channels; the upscale stage runs "
                                         "one plane at a time and needs the 1-plane form (convert with --planes mean)",
                          s->path, s->rdn->cin, s->rdn->cout);
    if (st == AE_OK) st = fast_scale(s, s->rdn->scale, o->scale);
    return st;
}

/* The fast network of W (EDSR-like or RDN) into s->fast / s->rdn. */
static ae_status load_fast(up_state *s, ae_weights *W, const up_opts *o) {
    if (ae_rdn_is(W)) return load_rdn(s, W, o);
    ae_status st = ae_srfast_load(&s->fast, W);
    if (st == AE_OK) st = fast_scale(s, s->fast.scale, o->scale);
    return st;
}

/* An SR3 file that refines a fast network (metadata base=fast) brings that
 * network along: base_file beside the SR3 file, else where the shipped
 * models are, and only the very file it was trained over (by SHA-256): its
 * residual over any other network would be noise added to a wrong image. */
static ae_status load_sr3_base(up_state *s, const up_opts *o) {
    const ae_sr3 *m = s->sr3;
    char path[640], hex[65];
    const char *slash = strrchr(s->path, '/');
    int beside = slash ? snprintf(path, sizeof path, "%.*s/%s", (int)(slash - s->path), s->path, m->base_file)
                       : snprintf(path, sizeof path, "%s", m->base_file);
    ae_status st = AE_OK;
    if (beside >= (int)sizeof path || access(path, R_OK) != 0) st = find_model(m->base_file, path, sizeof path);
    if (st == AE_OK) st = ae_sha256_file(path, hex);
    if (st != AE_OK) {
        ae_error_prefix("%s: its base network", s->path);
        return st;
    }
    if (strcmp(hex, m->base_sha256) != 0)
        return ae_error_set(AE_ERR_FORMAT, "%s: refines the fast net %s with SHA-256 %.16s..., but %s has "
                                           "%.16s... (not the network it was trained over)",
                            s->path, m->base_file, m->base_sha256, path, hex);
    st = ae_weights_open(&s->Wbase, path);
    if (st == AE_OK) st = load_fast(s, s->Wbase, o);
    return st;
}

/* --start-step, else the file's metadata "start_step" (the setting its
 * validation chose), else the whole schedule. */
static ae_status start_step(up_state *s, const up_opts *o) {
    s->start_step = o->start_step;
    if (s->start_step) return AE_OK;
    const char *m = ae_weights_meta(s->W, "start_step");
    s->start_step = m ? ae_weights_meta_int(s->W, "start_step", -1) : AE_SR3_T;
    if (s->start_step < 1 || s->start_step > AE_SR3_T)
        return ae_error_set(AE_ERR_FORMAT, "%s: metadata \"start_step\" is \"%s\", want 1..%d", s->path, m,
                            AE_SR3_T);
    return AE_OK;
}

static ae_status load_model(up_state *s, up_opts *o) {
    ae_status st = ae_weights_open(&s->W, s->path);
    if (st != AE_OK) return st;
    if (o->model == UP_MODEL_FAST) return load_fast(s, s->W, o);
    s->sr3 = ae_malloc(sizeof *s->sr3, "sr3 model");
    if (!s->sr3) return AE_ERR_NOMEM;
    st = ae_sr3_load(s->sr3, s->W);
    /* a 2x SR3 file runs twice for 4x, as the fast network does */
    if (st == AE_OK && s->sr3->scale != o->scale && !(s->sr3->scale == 2 && o->scale == 4))
        st = ae_error_set(AE_ERR_ARG, "%s: model is for scale %d, not %d", s->path, s->sr3->scale, o->scale);
    if (st == AE_OK && s->sr3->base_fast) st = load_sr3_base(s, o);
    if (st == AE_OK) st = sampler_defaults(s, o);
    if (st == AE_OK) st = start_step(s, o);
    if (st == AE_OK && o->steps > s->start_step)
        st = ae_error_set(AE_ERR_ARG, "--steps %d exceeds the start step %d (at most one step per training step)",
                          o->steps, s->start_step);
    if (st == AE_OK)
        st = ae_schedule_create_from(&s->sched, (ae_sampler_kind)o->sampler, o->steps, s->start_step - 1,
                                     AE_SR3_T, AE_SR3_BETA0, AE_SR3_BETA1);
    return st;
}

static ae_status prepare(void *p, const ae_global_opts *g, void **state) {
    up_opts *o = p;
    *state = NULL;
    ae_status st = check_opts(o);
    if (st != AE_OK) return st;
    up_state *s = ae_calloc(1, sizeof *s, "upscale state");
    if (!s) return AE_ERR_NOMEM;
    pthread_mutex_init(&s->mu, NULL);
    s->model = o->model;
    s->scale = s->net_scale = o->scale;
    s->tile = g->tile;
    if (o->model == UP_MODEL_SR3 && g->tile > 0 && !g->quiet)
        fprintf(stderr, "astroenh: upscale: --tile does not apply to --model sr3 (its tiling is fixed so "
                        "that a seed gives the same image whatever --tile says)\n");
    s->seed = g->seed;
    if (o->weights) snprintf(s->path, sizeof s->path, "%s", o->weights);
    else {
        char name[64];
        snprintf(name, sizeof name, "%s_x%d.safetensors", o->model == UP_MODEL_SR3 ? "sr3" : "fast", o->scale);
        st = find_model(name, s->path, sizeof s->path);
        if (st != AE_OK && o->scale == 4) {
            /* no 4x file shipped: the 2x network runs twice (fast_scale, drive.c twice) */
            ae_error_clear();
            snprintf(name, sizeof name, "%s_x2.safetensors", o->model == UP_MODEL_SR3 ? "sr3" : "fast");
            st = find_model(name, s->path, sizeof s->path);
        }
    }
    if (st == AE_OK) st = ae_backend_get(g->device ? g->device : "auto", &s->be);
    if (st == AE_OK) st = load_model(s, o);
    if (st == AE_OK) st = ae_arena_create(&s->A, s->be);
    if (st != AE_OK) {
        release(s);
        return st;
    }
    *state = s;
    return AE_OK;
}

/* Fills NaN with the channel median (for the network) and applies the
 * optional bilateral pre-filter, on disp in place. */
static ae_status condition_input(ae_image *disp, int prefilter) {
    size_t np = ae_image_npix(disp);
    ae_status st = AE_OK;
    for (int ch = 0; ch < disp->c && st == AE_OK; ch++) {
        float *pl = ae_image_plane(disp, ch), med = 0.0f, mad = 0.0f;
        size_t nan = 0;
        for (size_t i = 0; i < np; i++) nan += !isfinite(pl[i]);
        if (!nan) continue;
        if (nan < np) st = ae_median_mad(pl, np, &med, &mad);
        for (size_t i = 0; i < np; i++)
            if (!isfinite(pl[i])) pl[i] = med;
    }
    if (st != AE_OK || !prefilter) return st;
    float sig[3];
    for (int ch = 0; ch < disp->c && st == AE_OK; ch++) {
        st = ae_noise_sigma(ae_image_plane(disp, ch), disp->h, disp->w, &sig[ch]);
        sig[ch] = sig[ch] > 1e-6f ? PREFILTER_K * sig[ch] : 1e-6f;
    }
    float *tmp = st == AE_OK ? ae_malloc(np * disp->c * sizeof *tmp, "prefilter") : NULL;
    if (st == AE_OK && !tmp) st = AE_ERR_NOMEM;
    if (st == AE_OK) st = ae_bilateral(tmp, disp->data, disp->c, disp->h, disp->w, PREFILTER_SIGMA_S, sig, 0);
    if (st == AE_OK) memcpy(disp->data, tmp, np * disp->c * sizeof *tmp);
    free(tmp);
    return st;
}

/* Output blocks of missing input pixels are missing too. */
static void nan_blocks(float *out, const float *in, int c, int h, int w, int s) {
    size_t W = (size_t)w * s;
    for (int ch = 0; ch < c; ch++)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                if (isfinite(in[((size_t)ch * h + y) * w + x])) continue;
                float *o = out + ((size_t)ch * h * s + (size_t)y * s) * W + (size_t)x * s;
                for (int dy = 0; dy < s; dy++)
                    for (int dx = 0; dx < s; dx++) o[dy * W + dx] = NAN;
            }
}

/* The network's input: display data as it is, linear data through the soft
 * asinh stretch (stretch.h), whose inverse does not blow up the network's
 * errors at the bright end as MTF's does. */
static ae_status soft_display(const ae_image *in, ae_image **out, ae_stretch *str) {
    *out = NULL;
    memset(str, 0, sizeof *str);
    str->kind = AE_STRETCH_NONE;
    ae_status st = ae_image_clone(out, in);
    if (st != AE_OK || in->range != AE_RANGE_LINEAR) return st;
    st = ae_stretch_fit_soft(str, *out);
    if (st != AE_OK) {
        ae_image_free(*out);
        *out = NULL;
        return st;
    }
    ae_stretch_apply(str, *out);
    return AE_OK;
}

/* lo then hi planes (2 x c x h x w) of in's local 3 x 3 range. */
static ae_status local_range(const ae_image *in, float **range) {
    size_t n = ae_image_npix(in) * in->c, bytes;
    if (ae_mul_size(n, 2 * sizeof **range, &bytes)) return ae_error_set(AE_ERR_NOMEM, "local range: too many pixels");
    *range = ae_malloc(bytes, "upscale local range");
    if (!*range) return AE_ERR_NOMEM;
    ae_flux_bounds(*range, *range + n, in->data, in->c, in->h, in->w);
    return AE_OK;
}

/* One upscaled sample of `in` into hr (in's units). range: lo/hi planes
 * (ae_flux_bounds) for linear data, which keep every pixel inside its local
 * input range; NULL for display data. */
static ae_status upscale_one(up_state *s, const ae_image *disp, const ae_stretch *str, const ae_image *in,
                             const float *range, int flux, int sample, ae_image *hr) {
    ae_status st = s->model == UP_MODEL_FAST ? up_run_fast(s, disp, hr) : up_run_sr3(s, disp, hr, sample);
    if (st != AE_OK) return st;
    if (str->kind != AE_STRETCH_NONE) ae_stretch_invert(str, hr);
    size_t n = ae_image_npix(in) * in->c;
    const float *lo = range, *hi = range ? range + n : NULL;
    if (flux) ae_flux_correct(hr->data, in->data, lo, hi, in->c, in->h, in->w, s->scale);
    else if (range) ae_flux_clamp(hr->data, lo, hi, in->c, in->h, in->w, s->scale);
    nan_blocks(hr->data, in->data, in->c, in->h, in->w, s->scale);
    return AE_OK;
}

/* mean/m2: Welford running mean and sum of squared deviations over samples. */
static void welford(float *mean, float *m2, const float *x, size_t n, int k) {
    for (size_t i = 0; i < n; i++) {
        float d = x[i] - mean[i];
        mean[i] += d / (float)(k + 1);
        m2[i] += d * (x[i] - mean[i]);
    }
}

/* Pixel values keep surface brightness (block means = input pixels, as
 * SWarp and reproject resample), so sums over an aperture grow by s^2: the
 * zero points that turn aperture sums into magnitudes gain 5 log10(s), and
 * the flux-per-count keywords shrink by s^2. Surface-brightness units (BUNIT
 * MJy/sr, ...) stay right as they are. */
static const char *const zp_keys[] = {"MAGZP", "MAGZPT", "MAGZERO", "PHOTZP"};
static const char *const per_count_keys[] = {"PHOTFLAM", "PHOTFNU"};

static ae_status adjust_photometry(ae_header *h, int scale) {
    double v, s2 = (double)scale * scale, dm = 5.0 * log10((double)scale);
    char msg[160];
    ae_status st = AE_OK;
    for (size_t i = 0; i < sizeof zp_keys / sizeof *zp_keys && st == AE_OK; i++) {
        if (!ae_header_get_double(h, zp_keys[i], &v)) continue;
        st = ae_header_set_double(h, zp_keys[i], v + dm, "zero point for sums of upscaled pixels");
        snprintf(msg, sizeof msg, "upscale: %s %.6g -> %.6g (+5 log10 %d)", zp_keys[i], v, v + dm, scale);
        if (st == AE_OK) st = ae_header_add_history(h, msg);
    }
    for (size_t i = 0; i < sizeof per_count_keys / sizeof *per_count_keys && st == AE_OK; i++) {
        if (!ae_header_get_double(h, per_count_keys[i], &v)) continue;
        st = ae_header_set_double(h, per_count_keys[i], v / s2, "per count of the upscaled pixels");
        snprintf(msg, sizeof msg, "upscale: %s %.6g -> %.6g (/ %d)", per_count_keys[i], v, v / s2, scale * scale);
        if (st == AE_OK) st = ae_header_add_history(h, msg);
    }
    if (st == AE_OK)
        st = ae_header_set_string(h, "FLUXCONS", "SURFBRI", "pixel values keep surface brightness, sums x s^2");
    if (st == AE_OK) st = ae_header_set_int(h, "UPSCALE", scale, "pixel side divided by this factor");
    snprintf(msg, sizeof msg, "upscale: pixel values keep surface brightness (input units per input-pixel "
                              "area); aperture sums grow by %d", scale * scale);
    if (st == AE_OK) st = ae_header_add_history(h, msg);
    return st;
}

static ae_status finish_header(ae_image *out, const ae_image *in, int scale) {
    out->range = in->range;
    out->src_format = in->src_format;
    out->src_bitdepth = in->src_format == AE_FMT_FITS ? -32 : in->src_bitdepth;
    out->src_unsigned = 0;
    ae_status st = ae_header_copy(&out->hdr, &in->hdr);
    if (st == AE_OK) st = ae_wcs_resample(&out->hdr, (double)scale, in->w, in->h);
    if (st == AE_OK && in->range == AE_RANGE_LINEAR) st = adjust_photometry(&out->hdr, scale);
    return st;
}

static ae_status attach_uncert(ae_image *out, ae_image *unc, int samples, const ae_stage_ctx *ctx) {
    snprintf(unc->extname, sizeof unc->extname, "UNCERT");
    unc->range = out->range;
    unc->src_format = AE_FMT_FITS;
    unc->src_bitdepth = -32;
    ae_status st = ae_header_copy(&unc->hdr, &out->hdr);
    if (st == AE_OK) st = ae_header_set_string(&unc->hdr, "UNCTYPE", "STD", "per-pixel std (ddof 0) of the samples");
    if (st == AE_OK) st = ae_header_set_int(&unc->hdr, "NSAMPLES", samples, "upscale samples averaged");
    if (st != AE_OK) {
        ae_image_free(unc);
        return st;
    }
    if (ae_format_from_path(ctx->out_path) == AE_FMT_FITS) {
        out->next_hdu = unc;
        return AE_OK;
    }
    char path[4096];
    const char *dot = strrchr(ctx->out_path, '.'), *slash = strrchr(ctx->out_path, '/');
    int stem = dot && (!slash || dot > slash) ? (int)(dot - ctx->out_path) : (int)strlen(ctx->out_path);
    if (snprintf(path, sizeof path, "%.*s_uncert.fits", stem, ctx->out_path) >= (int)sizeof path)
        st = ae_error_set(AE_ERR_ARG, "%s: output path too long", ctx->out_path);
    if (st == AE_OK) st = ae_output_guard_check(path, 1);
    if (st == AE_OK) st = ae_output_write_image(unc, path, ctx->in_path);
    ae_image_free(unc);
    return st;
}

static void report(const up_state *s, const up_opts *o, const ae_image *res_img, const ae_image *in, int flux,
                   ae_result *res) {
    double err = ae_flux_max_error(res_img->data, in->data, in->c, in->h, in->w, o->scale);
    const char *model = o->model == UP_MODEL_SR3 ? "sr3" : "fast";
    const char *smp = o->sampler == AE_SAMPLER_DDIM ? "ddim" : "ddpm";
    char start[32] = "";
    if (o->model == UP_MODEL_SR3 && s->start_step < AE_SR3_T) snprintf(start, sizeof start, " start=%d", s->start_step);
    ae_result_json(res, "\"scale\": %d, \"model\": \"%s\"", o->scale, model);
    if (o->model == UP_MODEL_SR3)
        ae_result_json(res, "\"steps\": %d, \"sampler\": \"%s\", \"samples\": %d, \"seed\": %llu, \"start_step\": %d",
                       o->steps, smp, o->samples, s->seed, s->start_step);
    ae_result_json(res, "\"prefilter\": %s, \"flux_consistency\": %s", o->prefilter ? "true" : "false",
                   flux ? "true" : "false");
    if (isfinite(err)) ae_result_json(res, "\"flux_max_block_err\": %.3g", err);
    else ae_result_json(res, "\"flux_max_block_err\": null");
    if (o->model == UP_MODEL_SR3)
        snprintf(res->history, sizeof res->history,
                 "scale=%d model=sr3%s steps=%d%s sampler=%s samples=%d seed=%llu flux=%s prefilter=%s", o->scale,
                 s->sr3->base_fast   ? (s->sr3->scale != o->scale ? " (refines the fast net; 2x twice)"
                                                                  : " (refines the fast net)")
                 : s->sr3->scale != o->scale ? " (2x twice)"
                                             : "",
                 o->steps, start, smp, o->samples, s->seed,
                 flux ? "on" : "off", o->prefilter ? "on" : "off");
    else
        snprintf(res->history, sizeof res->history, "scale=%d model=fast%s flux=%s prefilter=%s", o->scale,
                 s->net_scale != o->scale ? " (2x net twice)" : "", flux ? "on" : "off", o->prefilter ? "on" : "off");
    snprintf(res->model_path, sizeof res->model_path, "%s", s->path);
}

static ae_status run(void *state, const void *opts, const ae_image *in, ae_image **out, const ae_stage_ctx *ctx,
                     ae_result *res) {
    up_state *s = state;
    const up_opts *o = opts;
    *out = NULL;
    int S = o->scale, flux = o->flux >= 0 ? o->flux : in->range == AE_RANGE_LINEAR;
    if ((long long)in->w * S > AE_MAX_DIM || (long long)in->h * S > AE_MAX_DIM)
        return ae_error_set(AE_ERR_ARG, "%s: %dx%d upscaled by %d exceeds %d pixels per side", ctx->in_path,
                            in->w, in->h, S, AE_MAX_DIM);
    ae_stretch str;
    ae_image *disp = NULL, *hr = NULL, *mean = NULL, *m2 = NULL;
    float *range = NULL;
    ae_status st = soft_display(in, &disp, &str);
    if (st == AE_OK && in->range == AE_RANGE_LINEAR) st = local_range(in, &range);
    if (st == AE_OK) st = condition_input(disp, o->prefilter);
    if (st == AE_OK) st = ae_image_create(&hr, in->w * S, in->h * S, in->c);
    if (st == AE_OK && o->samples > 1) st = ae_image_create(&mean, hr->w, hr->h, hr->c);
    if (st == AE_OK && o->samples > 1) st = ae_image_create(&m2, hr->w, hr->h, hr->c);
    size_t n = hr ? ae_image_npix(hr) * hr->c : 0;
    pthread_mutex_lock(&s->mu);
    for (int k = 0; k < o->samples && st == AE_OK; k++) {
        st = upscale_one(s, disp, &str, in, range, flux, k, hr);
        if (st == AE_OK && mean) welford(mean->data, m2->data, hr->data, n, k);
    }
    pthread_mutex_unlock(&s->mu);
    ae_image_free(disp);
    free(range);
    ae_image *result = mean ? mean : hr;
    if (mean) {
        ae_image_free(hr);
        for (size_t i = 0; i < n; i++) m2->data[i] = sqrtf(m2->data[i] / (float)o->samples);
    }
    if (st == AE_OK) st = finish_header(result, in, S);
    if (st == AE_OK) report(s, o, result, in, flux, res);
    if (st == AE_OK && m2) {
        st = attach_uncert(result, m2, o->samples, ctx);
        m2 = NULL; /* owned by result or freed */
    }
    ae_image_free(m2);
    if (st != AE_OK) {
        ae_image_free(result);
        return st;
    }
    *out = result;
    return AE_OK;
}

#define OFF(field) offsetof(up_opts, field)

static const ae_opt_choice k_scales[] = {{"2", 2}, {"4", 4}, {NULL, 0}};
static const ae_opt_choice k_models[] = {{"fast", UP_MODEL_FAST}, {"sr3", UP_MODEL_SR3}, {NULL, 0}};
static const ae_opt_choice k_samplers[] = {{"ddpm", AE_SAMPLER_DDPM}, {"ddim", AE_SAMPLER_DDIM}, {NULL, 0}};

static const ae_opt k_options[] = {
    {.name = "--scale", .kind = AE_OPT_ENUM, .off = OFF(scale), .choices = k_scales,
     .help = "magnification per axis"},
    {.name = "--model", .kind = AE_OPT_ENUM, .off = OFF(model), .choices = k_models,
     .help = "fast feed-forward net or SR3 diffusion"},
    {.name = "--steps", .kind = AE_OPT_INT, .off = OFF(steps), .lo = 1, .hi = AE_SR3_T, .arg = "N",
     .def = "the model file's steps, else 100 ddpm, 50 ddim", .help = "SR3 sampling steps"},
    {.name = "--sampler", .kind = AE_OPT_ENUM, .off = OFF(sampler), .choices = k_samplers,
     .def = "the model file's sampler, else ddpm", .help = "SR3 sampler (ddim is deterministic)"},
    {.name = "--start-step", .kind = AE_OPT_INT, .off = OFF(start_step), .lo = 1, .hi = AE_SR3_T, .arg = "N",
     .def = "the model file's start_step, else 2000",
     .help = "SR3: start the reverse process at training step N of 2000 around the base prediction instead "
             "of from pure noise (less invented detail)"},
    {.name = "--samples", .kind = AE_OPT_INT, .off = OFF(samples), .lo = 1, .hi = 1000, .arg = "N",
     .help = "SR3: average N samples, write their per-pixel std (FITS: UNCERT extension; else OUT_uncert.fits)"},
    {.name = "--no-flux-consistency", .kind = AE_OPT_FLAG, .off = OFF(flux), .flag_value = 0,
     .help = "do not force s x s block means to the input pixels (on by default for FITS)"},
    {.name = "--flux-consistency", .kind = AE_OPT_FLAG, .off = OFF(flux), .flag_value = 1,
     .help = "force them also for PNG/JPEG inputs"},
    {.name = "--prefilter", .kind = AE_OPT_FLAG, .off = OFF(prefilter), .flag_value = 1,
     .help = "bilateral pre-filter (sigma_s 1 px, range 2 x noise)"},
    {.name = "--weights", .kind = AE_OPT_PATH, .off = OFF(weights), .arg = "PATH",
     .def = "models/<model>_x<scale>.safetensors, searched in $ASTROENH_MODELS, ./models, <exe dir>/models",
     .help = "model file; --scale 4 without a <model>_x4 file: the 2x network run twice, as also with "
             "--weights of a 2x file (fast or SR3)"},
    {.name = NULL}};

const ae_stage_def ae_stage_upscale = {
    .name = "upscale",
    .summary = "super-resolution by 2x or 4x (fast EDSR-like net, or SR3 diffusion)",
    .options = k_options,
    .opts_size = sizeof(up_opts),
    .opts_init = opts_init,
    .prepare = prepare,
    .run = run,
    .release = release,
};
