/* drive.c - runs the SR networks over whole images for the upscale stage.
 *
 * Fast net: ae_tile_run over the input with an overlap of twice the
 * network's receptive radius (so tiling gives the whole-image result), each
 * channel through the 1-plane network. SR3: the sampler's state x_t is a
 * global image; at every step eps = UNet(concat(base, x_t), gamma) (base:
 * bicubic(LR), or the fast network's output for base=fast models) is
 * evaluated tile by tile at output resolution and the DDPM/DDIM update is
 * applied pixelwise, with noise from ae_noise_fill keyed by the global pixel
 * coordinate, so the noise never depends on the tiling. Residual-target
 * models (SRDiff) sample x = (HR - base) * c and return base + x / c.
 * The arena is planned
 * for the first tile shape and re-planned when a tile of another shape comes.
 */
#include <stdlib.h>
#include <string.h>
#include "astroenh/tile.h"
#include "astroenh/upscale.h"
#include "upscale_internal.h"

/* SR3's GroupNorm statistics and lowest-resolution attention span a tile, so
 * its output depends on the tiling (eval/sr_metrics.md, "SR3 and the tile
 * size"). The tiling is therefore part of how SR3 runs, not a user setting:
 * --tile does not apply to it, so that a seed gives the same image whatever
 * --tile says (the reproducibility promise). An output of up to
 * SR3_WHOLE_MAX px per side runs as one tile, the sizes the models were
 * trained and evaluated on; larger outputs are cut into SR3_TILE_DEFAULT
 * tiles on a grid anchored at the origin, because the attention's cost grows
 * with the square of the tile's pixels (measured, 1 thread, 2 DDIM steps: a
 * 512x512 output takes 26 CPU s per step whole against 12 s in 256 px tiles;
 * whole-image peak RSS 377 MB against 139 MB, inside the 1 GiB activation
 * budget of tile.h). */
#define SR3_WHOLE_MAX 512    /* output pixels */
#define SR3_TILE_DEFAULT 256 /* output pixels */
#define SR3_OVERLAP 32

typedef ae_status (*pass_fn)(up_state *s, void *args);

/* Runs pass once for real, planning the arena first if the shape or the
 * network (net: 0 fast, 1 SR3; an SR3 that refines a fast net runs both) is
 * new. */
static ae_status with_arena(up_state *s, int net, int h, int w, pass_fn pass, void *args) {
    ae_status st = AE_OK;
    if (h != s->plan_h || w != s->plan_w || net != s->plan_net) {
        if (s->plan_h) ae_arena_replan(s->A);
        s->plan_h = s->plan_w = 0;
        st = pass(s, args);
        if (st == AE_OK) st = ae_arena_commit(s->A);
        if (st != AE_OK) return st;
        s->plan_h = h;
        s->plan_w = w;
        s->plan_net = net;
    }
    ae_arena_reset(s->A);
    st = pass(s, args);
    ae_arena_reset(s->A);
    return st;
}

/* ---- fast ---- */

typedef struct {
    const float *in; /* h x w in [-1,1] */
    float *out;      /* h*s x w*s */
    int h, w;
} fast_args;

static ae_status fast_pass(up_state *s, void *p) {
    fast_args *a = p;
    ae_tensor x = {0}, y = {0};
    ae_status st = ae_arena_tensor(s->A, &x, 1, 1, a->h, a->w);
    if (st == AE_OK) st = ae_arena_tensor(s->A, &y, 1, 1, a->h * s->net_scale, a->w * s->net_scale);
    if (st == AE_OK) st = ae_nn_upload(s->be, s->A, &x, a->in);
    if (st == AE_OK)
        st = s->rdn ? ae_rdn_forward(s->rdn, s->be, s->A, &x, &y) : ae_srfast_forward(&s->fast, s->be, s->A, &x, &y);
    if (st == AE_OK) st = ae_nn_download(s->be, s->A, &y, a->out);
    return st;
}

static ae_status fast_tile(void *ctx, const float *in, int c_in, int h, int w, float *out, int c_out,
                           int scale) {
    up_state *s = ctx;
    size_t n = (size_t)h * w, N = n * scale * scale;
    float *buf = ae_malloc(n * sizeof *buf, "fast tile");
    if (!buf) return AE_ERR_NOMEM;
    ae_status st = AE_OK;
    for (int ch = 0; ch < c_in && ch < c_out && st == AE_OK; ch++) {
        for (size_t i = 0; i < n; i++) buf[i] = in[ch * n + i] * 2.0f - 1.0f;
        fast_args a = {buf, out + ch * N, h, w};
        st = with_arena(s, 0, h, w, fast_pass, &a);
        for (size_t i = 0; st == AE_OK && i < N; i++) out[ch * N + i] = (out[ch * N + i] + 1.0f) * 0.5f;
    }
    free(buf);
    return st;
}

/* One pass of the fast network at its own scale. */
static ae_status fast_once(up_state *s, const ae_image *disp, ae_image *out) {
    int overlap = 2 * (s->rdn ? ae_rdn_radius(s->rdn) : ae_srfast_radius(&s->fast));
    int tile = s->tile > 0 ? s->tile : 128;
    return ae_tile_run(disp, out, s->net_scale, tile, overlap, fast_tile, s);
}

typedef ae_status (*once_fn)(up_state *s, const ae_image *in, ae_image *out, void *arg, int pass);

/* A 2x network run twice for 4x (stage.c fast_scale says why); the second
 * pass sees what a saved 2x result would hold: display values in [0,1], as
 * the networks were trained on. */
static ae_status twice(up_state *s, const ae_image *disp, ae_image *out, once_fn once, void *arg) {
    ae_image *mid = NULL;
    ae_status st = ae_image_create(&mid, disp->w * 2, disp->h * 2, disp->c);
    if (st == AE_OK) st = once(s, disp, mid, arg, 0);
    for (size_t i = 0, n = st == AE_OK ? ae_image_npix(mid) * mid->c : 0; i < n; i++)
        mid->data[i] = mid->data[i] < 0.0f ? 0.0f : mid->data[i] > 1.0f ? 1.0f : mid->data[i];
    if (st == AE_OK) st = once(s, mid, out, arg, 1);
    ae_image_free(mid);
    return st;
}

static ae_status fast_pass_fn(up_state *s, const ae_image *in, ae_image *out, void *arg, int pass) {
    (void)arg;
    (void)pass;
    return fast_once(s, in, out);
}

ae_status up_run_fast(up_state *s, const ae_image *disp, ae_image *out) {
    if (s->net_scale == s->scale) return fast_once(s, disp, out);
    return twice(s, disp, out, fast_pass_fn, NULL);
}

/* ---- SR3 ---- */

typedef struct {
    const float *in; /* 2k x h x w: k conditioning planes, then k x_t planes */
    float *eps;      /* k x h x w */
    int k, h, w;
    float gamma;
} sr3_args;

static ae_status sr3_pass(up_state *s, void *p) {
    sr3_args *a = p;
    ae_tensor x = {0}, y = {0};
    ae_status st = ae_arena_tensor(s->A, &x, 1, 2 * a->k, a->h, a->w);
    if (st == AE_OK) st = ae_arena_tensor(s->A, &y, 1, a->k, a->h, a->w);
    if (st == AE_OK) st = ae_nn_upload(s->be, s->A, &x, a->in);
    if (st == AE_OK) st = ae_sr3_forward(s->sr3, s->be, s->A, &x, a->gamma, &y);
    if (st == AE_OK) st = ae_nn_download(s->be, s->A, &y, a->eps);
    return st;
}

static inline int reflect(int i, int n) {
    if (n == 1) return 0;
    while (i < 0 || i >= n) i = i < 0 ? -i : 2 * (n - 1) - i;
    return i;
}

typedef struct {
    up_state *s;
    float gamma;
} sr3_ctx;

int up_sr3_tile(int out_h, int out_w) {
    /* AE_SR3_TILE (output px) forces a tile, only so that scripts/eval_sr.py
     * can measure how much the tiling matters; users get the fixed rule. */
    const char *force = getenv("AE_SR3_TILE");
    if (force && atoi(force) > 0) return atoi(force);
    int side = out_h > out_w ? out_h : out_w;
    return side <= SR3_WHOLE_MAX ? side : SR3_TILE_DEFAULT;
}

/* in: 2c x h x w ([base c planes][x_t c planes]), out: c x h x w. A 1-plane
 * model runs plane by plane, a colour one (out_channel 3 = c) on all planes
 * at once. Pads to the U-Net's multiple by reflection and crops back. */
static ae_status sr3_tile(void *ctx, const float *in, int c_in, int h, int w, float *out, int c_out,
                          int scale) {
    sr3_ctx *k = ctx;
    int m = ae_sr3_multiple(k->s->sr3), c = c_out, K = k->s->sr3->out_channel;
    int ph = (h + m - 1) / m * m, pw = (w + m - 1) / m * m;
    size_t n = (size_t)ph * pw;
    float *buf = ae_malloc(3 * (size_t)K * n * sizeof *buf, "sr3 tile");
    if (!buf) return AE_ERR_NOMEM;
    ae_status st = AE_OK;
    for (int g = 0; g < c / K && st == AE_OK; g++) {
        for (int p = 0; p < 2; p++)
            for (int j = 0; j < K; j++) {
                const float *src = in + ((size_t)p * c + g * K + j) * h * w;
                float *dst = buf + ((size_t)p * K + j) * n;
                for (int y = 0; y < ph; y++)
                    for (int x = 0; x < pw; x++)
                        dst[(size_t)y * pw + x] = src[(size_t)reflect(y, h) * w + reflect(x, w)];
            }
        float *eps = buf + 2 * (size_t)K * n;
        sr3_args a = {buf, eps, K, ph, pw, k->gamma};
        st = with_arena(k->s, 1, ph, pw, sr3_pass, &a);
        for (int j = 0; j < K && st == AE_OK; j++)
            for (int y = 0; y < h; y++)
                memcpy(out + (((size_t)g * K + j) * h + y) * w, eps + j * n + (size_t)y * pw, (size_t)w * sizeof *out);
    }
    free(buf);
    (void)c_in;
    (void)scale;
    return st;
}

/* The prediction the model refines, in [-1,1], into base (c x H x W): the
 * fast network's output clamped to [-1,1] as a saved result would be
 * (base=fast), else bicubic of the LR (lr_buf: scratch of the LR's size). */
static ae_status sr3_base(up_state *s, const ae_image *disp, float *base, int H, int W, float *lr_buf) {
    int c = disp->c;
    size_t n = (size_t)H * W * c;
    if (s->sr3->base_fast) {
        ae_image img = {.w = W, .h = H, .c = c, .data = base};
        ae_status st = fast_once(s, disp, &img);
        for (size_t i = 0; st == AE_OK && i < n; i++)
            base[i] = base[i] < 0.0f ? -1.0f : base[i] > 1.0f ? 1.0f : base[i] * 2.0f - 1.0f;
        return st;
    }
    size_t nl = ae_image_npix(disp) * c;
    for (size_t i = 0; i < nl; i++) lr_buf[i] = disp->data[i] * 2.0f - 1.0f;
    ae_bicubic_up(base, lr_buf, c, disp->h, disp->w, s->sr3->scale);
    return AE_OK;
}

/* One sample over disp, whose plane count the model takes (any with a
 * 1-plane model, 3 with a colour one). */
static ae_status sample_planes(up_state *s, const ae_image *disp, ae_image *out, int sample,
                               unsigned long long seed) {
    int c = disp->c, H = out->h, W = out->w;
    size_t np = (size_t)H * W, n = np * c;
    float *pair = ae_malloc(2 * n * sizeof *pair, "sr3 state");
    float *eps = pair ? ae_malloc(2 * n * sizeof *eps, "sr3 eps") : NULL;
    if (!eps) {
        free(pair);
        return AE_ERR_NOMEM;
    }
    float *noise = eps + n, *x = pair + n;
    ae_status st = sr3_base(s, disp, pair, H, W, noise); /* the LR borrows the noise buffer */
    ae_noise_fill(x, c, H, W, 0, 0, seed, ae_noise_stream(sample, 0));
    const float *up = s->sr3->residual ? pair : NULL; /* base planes */
    ae_schedule_start(&s->sched, x, up ? NULL : pair, n); /* a truncated start: around the base */
    float c_res = s->sr3->residual_scale;
    ae_image pair_img = {.w = W, .h = H, .c = 2 * c, .data = pair};
    ae_image eps_img = {.w = W, .h = H, .c = c, .data = eps};
    int tile = up_sr3_tile(H, W);
    for (int i = s->sched.steps - 1; i >= 0 && st == AE_OK; i--) {
        sr3_ctx k = {s, ae_schedule_gamma(&s->sched, i)};
        st = ae_tile_run(&pair_img, &eps_img, 1, tile, SR3_OVERLAP, sr3_tile, &k);
        if (st != AE_OK) break;
        if (s->sched.kind == AE_SAMPLER_DDPM && i > 0)
            ae_noise_fill(noise, c, H, W, 0, 0, seed, ae_noise_stream(sample, s->sched.steps - i));
        ae_sampler_step(&s->sched, i, x, eps, noise, up, c_res, n);
    }
    for (size_t i = 0; st == AE_OK && i < n; i++) {
        float hr = up ? up[i] + x[i] / c_res : x[i];
        out->data[i] = (hr + 1.0f) * 0.5f;
    }
    free(pair);
    free(eps);
    return st;
}

/* A colour model on an image without 3 planes (a grey PNG, one FITS band, a
 * cube): each plane runs as a grey colour image (the plane in all three
 * channels, plane p with seed + p) and gets the mean of the three outputs. */
static ae_status sample_grey_planes(up_state *s, const ae_image *disp, ae_image *out, int sample,
                                    unsigned long long seed) {
    size_t nl = ae_image_npix(disp), nh = ae_image_npix(out);
    ae_image *d3 = NULL, *o3 = NULL;
    ae_status st = ae_image_create(&d3, disp->w, disp->h, 3);
    if (st == AE_OK) st = ae_image_create(&o3, out->w, out->h, 3);
    for (int p = 0; p < disp->c && st == AE_OK; p++) {
        for (int j = 0; j < 3; j++) memcpy(d3->data + j * nl, disp->data + p * nl, nl * sizeof *d3->data);
        st = sample_planes(s, d3, o3, sample, seed + (unsigned long long)p);
        float *o = out->data + p * nh;
        for (size_t i = 0; st == AE_OK && i < nh; i++)
            o[i] = (o3->data[i] + o3->data[nh + i] + o3->data[2 * nh + i]) / 3.0f;
    }
    ae_image_free(d3);
    ae_image_free(o3);
    return st;
}

/* One pass of the SR3 model at its own scale; pass 1 of a 4x run of a 2x
 * model draws its noise with another seed, so that the two passes' noises
 * are unrelated. */
static ae_status sr3_once(up_state *s, const ae_image *disp, ae_image *out, void *arg, int pass) {
    int sample = *(const int *)arg;
    unsigned long long seed = pass ? s->seed ^ 0x5851F42D4C957F2Dull : s->seed;
    if (s->sr3->out_channel == 1 || disp->c == s->sr3->out_channel) return sample_planes(s, disp, out, sample, seed);
    return sample_grey_planes(s, disp, out, sample, seed);
}

ae_status up_run_sr3(up_state *s, const ae_image *disp, ae_image *out, int sample) {
    if (s->sr3->scale == s->scale) return sr3_once(s, disp, out, &sample, 0);
    return twice(s, disp, out, sr3_once, &sample);
}
