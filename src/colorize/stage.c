/* stage.c - `astroenh colorize`: a plausible colour rendering of a
 * mono image by the pix2pix colorizer (colorizer.c).
 *
 * Per image: a grey display plane in [0,1] (linear FITS data and 16-bit
 * inputs go through a stretch, MTF by default; an RGB input is reduced to
 * its L*, and the JSON says so) -> L* of that grey (sRGB D65) -> a*b* from
 * the network, tile by tile (tile.h) with overlap -> Lab -> sRGB with the
 * input's L*: out-of-gamut chroma is scaled down towards grey so L* stays the
 * input's (--gamut clip clips sRGB instead, which can change L*).
 * --confidence-map: 1 - min(1, s / 10), s the per-pixel standard deviation
 * (Lab units) of a*b* over the 8 flips/rotations of the input (the output is
 * then the ensemble mean). The colour is learned from processed images: it is
 * NOT photometry.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "astroenh/color.h"
#include "astroenh/colorizer.h"
#include "astroenh/io.h"
#include "astroenh/stage.h"
#include "astroenh/stretch.h"
#include "astroenh/tile.h"
#include "../pipeline/options.h"

#define CONF_SCALE 10.0f /* a*b* spread (Lab units) at which confidence reaches 0 */
#define DEFAULT_TILE 512
#define DEFAULT_OVERLAP 64

typedef struct {
    const char *model;
    const char *conf_map;
    int tta, clip_gamut, overlap;
    ae_stretch_kind stretch;
} colorize_opts;

typedef struct {
    ae_colorizer *m;
    const ae_backend *be;
    pthread_mutex_t mu; /* the network is not reentrant; --jobs workers take turns */
    char path[512];
} colorize_state;

static void opts_init(void *p) {
    colorize_opts *o = p;
    memset(o, 0, sizeof *o);
    o->overlap = DEFAULT_OVERLAP;
    o->stretch = AE_STRETCH_MTF;
}

/* --colorize-model (--model), else $ASTROENH_MODELS/colorizer.safetensors, else models/ next to
 * the executable or its parent, else ./models/. */
static void default_model(char *buf, size_t cap) {
    const char *env = getenv("ASTROENH_MODELS");
    if (env && *env) {
        snprintf(buf, cap, "%s/colorizer.safetensors", env);
        return;
    }
    char exe[900];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        for (int up = 0; slash && up < 2; up++) {
            *slash = '\0';
            snprintf(buf, cap, "%.440s/models/colorizer.safetensors", exe);
            if (access(buf, R_OK) == 0) return;
            slash = strrchr(exe, '/');
        }
    }
    snprintf(buf, cap, "models/colorizer.safetensors");
}

static ae_status prepare(void *p, const ae_global_opts *g, void **state) {
    colorize_opts *o = p;
    colorize_state *s = ae_calloc(1, sizeof *s, "colorize state");
    if (!s) return AE_ERR_NOMEM;
    if (o->model && strlen(o->model) >= sizeof s->path) {
        free(s);
        return ae_error_set(AE_ERR_ARG, "--colorize-model path is longer than %zu characters", sizeof s->path - 1);
    }
    if (o->model) snprintf(s->path, sizeof s->path, "%s", o->model);
    else default_model(s->path, sizeof s->path);
    ae_status st = ae_backend_get(g && g->device ? g->device : "auto", &s->be);
    if (st == AE_OK && access(s->path, R_OK) != 0)
        st = ae_error_set(AE_ERR_IO, "model %s: %s (use --colorize-model FILE or set ASTROENH_MODELS)", s->path,
                          strerror(errno));
    if (st == AE_OK) st = ae_colorizer_load(&s->m, s->path, s->be);
    if (st != AE_OK) {
        free(s);
        return st;
    }
    pthread_mutex_init(&s->mu, NULL);
    *state = s;
    return AE_OK;
}

static void release(void *p) {
    colorize_state *s = p;
    if (!s) return;
    ae_colorizer_free(s->m);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

/* ---- per image ---------------------------------------------------------- */

/* L* (0..100, NaN kept) of the input's grey display rendering. *stretched
 * tells whether a stretch was applied (recorded in *s). */
static ae_status input_lightness(const colorize_opts *o, const ae_image *in, float *L, ae_stretch *s,
                                 int *stretched) {
    size_t n = ae_image_npix(in);
    ae_image *tmp = NULL;
    const ae_image *src = in;
    *stretched = 0;
    if ((in->range == AE_RANGE_LINEAR || in->src_bitdepth == 16) && o->stretch != AE_STRETCH_NONE) {
        ae_status st = ae_image_clone(&tmp, in);
        if (st == AE_OK) st = ae_stretch_fit(s, tmp, o->stretch);
        if (st != AE_OK) {
            ae_image_free(tmp);
            return st;
        }
        ae_stretch_apply(s, tmp);
        src = tmp;
        *stretched = 1;
    }
    const float *r = ae_image_plane(src, 0);
    const float *g = src->c == 3 ? ae_image_plane(src, 1) : r, *b = src->c == 3 ? ae_image_plane(src, 2) : r;
    for (size_t i = 0; i < n; i++) {
        float a_, b_;
        if (isnan(r[i]) || isnan(g[i]) || isnan(b[i])) L[i] = NAN;
        else if (src->c == 1) L[i] = ae_grey_to_l(r[i]);
        else ae_srgb_to_lab(r[i], g[i], b[i], &L[i], &a_, &b_);
    }
    ae_image_free(tmp);
    return AE_OK;
}

typedef struct {
    colorize_state *s;
    int tta, spread;
} tile_ctx;

/* ae_tile_fn: L* tile -> a*, b*, and the ensemble spread (0 without it). */
static ae_status tile_fn(void *p, const float *in, int c_in, int h, int w, float *out, int c_out,
                         int scale) {
    tile_ctx *t = p;
    size_t n = (size_t)h * (size_t)w;
    if (c_in != 1 || scale != 1 || c_out != 3) return ae_error_set(AE_ERR_ARG, "colorize: bad tile layout");
    pthread_mutex_lock(&t->s->mu);
    ae_status st;
    if (t->tta || t->spread)
        st = ae_colorizer_predict_ab_tta(t->s->m, in, h, w, out, out + n, t->spread ? out + 2 * n : NULL);
    else
        st = ae_colorizer_predict_ab(t->s->m, in, h, w, out, out + n);
    if (!t->spread) memset(out + 2 * n, 0, n * sizeof *out);
    pthread_mutex_unlock(&t->s->mu);
    return st;
}

/* Lab (L from the input, a*b* predicted) -> sRGB planes; returns the largest
 * |L*(output) - L*(input)| measured on the float output, and counts pixels
 * whose chroma was reduced to fit sRGB. */
static float compose_rgb(const colorize_opts *o, const float *L, const float *A, const float *B,
                         size_t n, ae_image *out, size_t *reduced) {
    float *r = ae_image_plane(out, 0), *g = ae_image_plane(out, 1), *b = ae_image_plane(out, 2);
    float max_dl = 0.0f;
    *reduced = 0;
    for (size_t i = 0; i < n; i++) {
        if (isnan(L[i])) {
            r[i] = g[i] = b[i] = NAN;
            continue;
        }
        if (o->clip_gamut) ae_lab_to_srgb(L[i], A[i], B[i], &r[i], &g[i], &b[i]);
        else *reduced += ae_lab_to_srgb_keep_l(L[i], A[i], B[i], &r[i], &g[i], &b[i]) < 1.0f;
        float l2, a2, b2;
        ae_srgb_to_lab(r[i], g[i], b[i], &l2, &a2, &b2);
        float d = fabsf(l2 - L[i]);
        if (d > max_dl) max_dl = d;
    }
    return max_dl;
}

/* `pattern` with "{}" replaced by the stem of out_path. Caller frees. */
static char *side_path(const char *pattern, const char *out_path) {
    const char *brace = strstr(pattern, "{}");
    if (!brace) return strdup(pattern);
    const char *slash = strrchr(out_path, '/'), *base = slash ? slash + 1 : out_path;
    const char *dot = strrchr(base, '.');
    size_t stem = dot && dot != base ? (size_t)(dot - base) : strlen(base);
    size_t len = strlen(pattern) + stem + 1;
    char *s = malloc(len);
    if (s) snprintf(s, len, "%.*s%.*s%s", (int)(brace - pattern), pattern, (int)stem, base, brace + 2);
    return s;
}

static ae_status write_confidence(const colorize_opts *o, const ae_image *pred, const float *L,
                                  const ae_stage_ctx *ctx, ae_result *res) {
    ae_image *c = NULL;
    char *path = side_path(o->conf_map, ctx->out_path);
    if (!path) return ae_error_set(AE_ERR_NOMEM, "out of memory");
    ae_status st = ae_image_create(&c, pred->w, pred->h, 1);
    if (st == AE_OK) {
        size_t n = ae_image_npix(pred);
        const float *spread = ae_image_plane(pred, 2);
        double sum = 0;
        for (size_t i = 0; i < n; i++) {
            float v = 1.0f - fminf(1.0f, spread[i] / CONF_SCALE);
            c->data[i] = isnan(L[i]) ? NAN : v;
            if (!isnan(L[i])) sum += v;
        }
        c->range = AE_RANGE_DISPLAY;
        c->src_bitdepth = 8;
        c->src_format = ae_format_from_path(path);
        st = ae_output_write_image(c, path, ctx->in_path);
        if (st == AE_OK) {
            ae_result_json(res, "\"confidence_map\": \"%s\"", path);
            ae_result_json(res, "\"confidence_mean\": %.4f", sum / (double)(n ? n : 1));
        }
    }
    ae_image_free(c);
    free(path);
    return st;
}

static void describe(const colorize_opts *o, const colorize_state *s, const ae_image *in, int stretched,
                     const ae_stretch *sf, int tile, int overlap, ae_result *res) {
    const char *slash = strrchr(s->path, '/');
    const char *sname = stretched ? ae_stretch_name(sf->kind) : "none";
    ae_result_json(res, "\"model\": \"%s\"", slash ? slash + 1 : s->path);
    ae_result_json(res, "\"input\": \"%s\"", in->c == 3 ? "rgb: its luminance L* was used" : "mono");
    ae_result_json(res, "\"stretch\": \"%s\"", sname);
    ae_result_json(res, "\"tta\": %d", (o->tta || o->conf_map) ? 8 : 1);
    ae_result_json(res, "\"gamut\": \"%s\"", o->clip_gamut ? "clip" : "keep-l");
    snprintf(res->history, sizeof res->history,
             "model=%.200s (%s) input=%s stretch=%s tta=%d gamut=%s tile=%d overlap=%d", slash ? slash + 1 : s->path,
             ae_colorizer_describe(s->m), in->c == 3 ? "rgb-luminance" : "mono", sname,
             (o->tta || o->conf_map) ? 8 : 1, o->clip_gamut ? "clip" : "keep-l", tile, overlap);
    memcpy(res->model_path, s->path, sizeof res->model_path < sizeof s->path ? sizeof res->model_path : sizeof s->path);
    res->model_path[sizeof res->model_path - 1] = '\0';
}

static ae_status run(void *state, const void *p, const ae_image *in, ae_image **out,
                     const ae_stage_ctx *ctx, ae_result *res) {
    colorize_state *s = state;
    const colorize_opts *o = p;
    *out = NULL;
    if (in->c != 1 && in->c != 3)
        return ae_error_set(AE_ERR_UNSUPPORTED, "colorize: %d channels (1 or 3 supported)", in->c);
    size_t n = ae_image_npix(in);
    ae_image *Limg = NULL, *pred = NULL, *rgb = NULL;
    ae_stretch sf;
    int stretched = 0, tile = ctx && ctx->g && ctx->g->tile > 0 ? ctx->g->tile : DEFAULT_TILE;
    tile_ctx tc = {s, o->tta, o->conf_map != NULL};
    ae_status st = ae_image_create(&Limg, in->w, in->h, 1);
    if (st == AE_OK) st = ae_image_create(&pred, in->w, in->h, 3); /* a*, b*, spread */
    if (st == AE_OK) st = ae_image_create(&rgb, in->w, in->h, 3);
    if (st == AE_OK) st = input_lightness(o, in, Limg->data, &sf, &stretched);
    /* An image that fits one tile goes through whole, without the tile
     * driver's mirrored context: the net's bottleneck sees the whole input,
     * and mirrored borders changed its colours (test split, Stellarium: gain
     * over grey 0.00 dB with them, 0.19 dB without, as it was trained). */
    if (st == AE_OK && in->w <= tile && in->h <= tile)
        st = tile_fn(&tc, Limg->data, 1, in->h, in->w, pred->data, 3, 1);
    else if (st == AE_OK)
        st = ae_tile_run(Limg, pred, 1, tile, o->overlap, tile_fn, &tc);
    if (st == AE_OK && o->conf_map) st = write_confidence(o, pred, Limg->data, ctx, res);
    if (st == AE_OK) {
        size_t reduced;
        float dl = compose_rgb(o, Limg->data, ae_image_plane(pred, 0), ae_image_plane(pred, 1), n, rgb,
                               &reduced);
        describe(o, s, in, stretched, &sf, tile, o->overlap, res);
        ae_result_json(res, "\"chroma_reduced_pixels\": %zu", reduced);
        ae_result_json(res, "\"max_dL\": %.4f", dl);
        rgb->range = AE_RANGE_DISPLAY;
        rgb->src_format = in->src_format;
        rgb->src_bitdepth = in->src_bitdepth == 16 ? 16 : 8;
        st = ae_header_copy(&rgb->hdr, &in->hdr);
        if (st == AE_OK)
            st = ae_header_drop_physical(&rgb->hdr, "colorize: the pixels are sRGB display values in [0,1]");
    }
    ae_image_free(Limg);
    ae_image_free(pred);
    if (st != AE_OK) {
        ae_image_free(rgb);
        return st;
    }
    *out = rgb;
    return AE_OK;
}

#define OFF(field) offsetof(colorize_opts, field)

static const ae_opt_choice k_stretches[] = {{"auto", AE_STRETCH_MTF},       {"mtf", AE_STRETCH_MTF},
                                            {"asinh", AE_STRETCH_ASINH},    {"linear", AE_STRETCH_LINEAR},
                                            {"none", AE_STRETCH_NONE},      {NULL, 0}};
static const ae_opt_choice k_gamuts[] = {{"keep-l", 0}, {"clip", 1}, {NULL, 0}};

static const ae_opt k_options[] = {
    {.name = "--colorize-model", .kind = AE_OPT_PATH, .off = OFF(model), .arg = "FILE",
     .def = "$ASTROENH_MODELS/colorizer.safetensors, else models/ beside the binary, else ./models/",
     .help = "weights"},
    {.name = "--model", .kind = AE_OPT_PATH, .off = OFF(model), .arg = "FILE", .own_command_only = 1,
     .help = "the same, in `astroenh colorize` only (in `run`, --model is upscale's fast|sr3)"},
    {.name = "--in-stretch", .kind = AE_OPT_ENUM, .off = OFF(stretch), .choices = k_stretches, .arg = "KIND",
     .help = "stretch of linear (FITS) and 16-bit inputs before the network: auto|mtf, asinh, linear, none"},
    {.name = "--tta", .kind = AE_OPT_FLAG, .off = OFF(tta), .flag_value = 1,
     .help = "average the 8 flips/rotations (8x slower)"},
    {.name = "--confidence-map", .kind = AE_OPT_PATH, .off = OFF(conf_map), .arg = "F",
     .help = "also write the chroma confidence 1 - min(1, s/10), s the std (Lab units) of a*b* over the 8 "
             "flips/rotations (implies --tta); \"{}\" in F = output name stem"},
    {.name = "--gamut", .kind = AE_OPT_ENUM, .off = OFF(clip_gamut), .choices = k_gamuts,
     .help = "out-of-sRGB colours: keep-l scales chroma keeping L*, clip clips RGB (L* may change)"},
    {.name = "--overlap", .kind = AE_OPT_INT, .off = OFF(overlap), .lo = 0, .hi = 1024, .arg = "N",
     .help = "tile overlap in pixels (--tile sets the tile)"},
    {.name = NULL}};

const ae_stage_def ae_stage_colorize = {
    .name = "colorize",
    .summary = "Colour rendering of a mono image by a pix2pix U-Net (a*b* predicted from L*;\n"
               "the output keeps the input's luminance). Plausible colour, NOT photometry.",
    .options = k_options,
    .opts_size = sizeof(colorize_opts),
    .opts_init = opts_init,
    .prepare = prepare,
    .run = run,
    .release = release,
};
