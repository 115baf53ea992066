/* colorizer.c - the pix2pix colorizer generator built from named weights.
 *
 * Mirrors scripts/colornet.py (Generator) module for module: encoder
 * enc.stem/enc.layer1..4 (ResNet-18 BasicBlocks with downsample.0/.1, or
 * plain conv1/bn1/conv2/bn2 levels), decoder dec.up4..up0 (nearest x2,
 * conv1-bn1-relu, concat skip, conv2-bn2-relu) and dec.out (1x1) + tanh.
 * BatchNorm runs in eval mode (running statistics). Also the pre/post
 * processing around the network: reflect padding to a multiple of 32,
 * Lab scaling, and the 8-fold flip/rotation ensemble.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "astroenh/arena.h"
#include "astroenh/color.h"
#include "astroenh/colorizer.h"
#include "astroenh/nn.h"

#define L_SCALE 50.0f
#define AB_SCALE 110.0f
#define AE_MAX_DIM_COLORIZE 65536

typedef struct {
    ae_conv conv1, conv2, ds;
    ae_bn bn1, bn2, ds_bn;
    int residual, has_ds;
} enc_block;

typedef struct {
    ae_conv conv1, conv2;
    ae_bn bn1, bn2;
} up_block;

struct ae_colorizer {
    ae_weights *W;
    const ae_backend *be;
    ae_arena *A;
    int resnet, base, out_ch;
    int ab_down; /* the net runs on L* averaged over ab_down^2 blocks; a*b* upsampled bilinearly */
    float eps;
    ae_colorizer_space space;
    ae_conv stem;
    ae_bn stem_bn;
    enc_block enc[4][2]; /* resnet: layerN.0/.1; plain: layerN in [N][0] */
    up_block up[5];      /* up4, up3, up2, up1, up0 */
    ae_conv out;
    int plan_h, plan_w;
    size_t bytes_per_px;
    char desc[96];
};

/* ---- loading ----------------------------------------------------------- */

static ae_status load_cbn(ae_colorizer *m, ae_conv *c, ae_bn *bn, const char *cname,
                          const char *bname, int cin, int cout, int k, int stride) {
    ae_status st = ae_conv_load(c, m->W, cname, cin, cout, k, stride, k / 2, 1, 1, 0);
    if (st == AE_OK) st = ae_bn_load(bn, m->W, bname, cout, m->eps, 1);
    return st;
}

static ae_status load_block(ae_colorizer *m, enc_block *b, const char *p, int cin, int cout,
                            int stride, int residual) {
    char n1[96], n2[96];
    b->residual = residual;
    b->has_ds = residual && (stride != 1 || cin != cout);
    snprintf(n1, sizeof n1, "%s.conv1", p), snprintf(n2, sizeof n2, "%s.bn1", p);
    ae_status st = load_cbn(m, &b->conv1, &b->bn1, n1, n2, cin, cout, 3, stride);
    snprintf(n1, sizeof n1, "%s.conv2", p), snprintf(n2, sizeof n2, "%s.bn2", p);
    if (st == AE_OK) st = load_cbn(m, &b->conv2, &b->bn2, n1, n2, cout, cout, 3, 1);
    if (st == AE_OK && b->has_ds) {
        snprintf(n1, sizeof n1, "%s.downsample.0", p), snprintf(n2, sizeof n2, "%s.downsample.1", p);
        st = ae_conv_load(&b->ds, m->W, n1, cin, cout, 1, stride, 0, 1, 1, 0);
        if (st == AE_OK) st = ae_bn_load(&b->ds_bn, m->W, n2, cout, m->eps, 1);
    }
    return st;
}

static ae_status load_encoder(ae_colorizer *m) {
    int b = m->base, w[5] = {b, b, 2 * b, 4 * b, 8 * b};
    char p[64];
    ae_status st = load_cbn(m, &m->stem, &m->stem_bn, "enc.stem.conv", "enc.stem.bn", 1, b,
                            m->resnet ? 7 : 3, 2);
    for (int l = 0; l < 4 && st == AE_OK; l++) {
        int stride = (m->resnet && l == 0) ? 1 : 2;
        if (m->resnet) {
            snprintf(p, sizeof p, "enc.layer%d.0", l + 1);
            st = load_block(m, &m->enc[l][0], p, w[l], w[l + 1], stride, 1);
            snprintf(p, sizeof p, "enc.layer%d.1", l + 1);
            if (st == AE_OK) st = load_block(m, &m->enc[l][1], p, w[l + 1], w[l + 1], 1, 1);
        } else {
            snprintf(p, sizeof p, "enc.layer%d", l + 1);
            st = load_block(m, &m->enc[l][0], p, w[l], w[l + 1], 2, 0);
        }
    }
    return st;
}

static ae_status load_decoder(ae_colorizer *m) {
    int b = m->base;
    /* cin, cskip, cout of up4..up0 (colornet.Decoder) */
    const int dims[5][3] = {{8 * b, 4 * b, 4 * b}, {4 * b, 2 * b, 2 * b}, {2 * b, b, b},
                            {b, b, b},             {b, 1, b / 2}};
    ae_status st = AE_OK;
    for (int i = 0; i < 5 && st == AE_OK; i++) {
        char c1[48], b1[48], c2[48], b2[48];
        int k = 4 - i;
        snprintf(c1, sizeof c1, "dec.up%d.conv1", k), snprintf(b1, sizeof b1, "dec.up%d.bn1", k);
        snprintf(c2, sizeof c2, "dec.up%d.conv2", k), snprintf(b2, sizeof b2, "dec.up%d.bn2", k);
        st = load_cbn(m, &m->up[i].conv1, &m->up[i].bn1, c1, b1, dims[i][0], dims[i][2], 3, 1);
        if (st == AE_OK)
            st = load_cbn(m, &m->up[i].conv2, &m->up[i].bn2, c2, b2, dims[i][2] + dims[i][1],
                          dims[i][2], 3, 1);
    }
    if (st == AE_OK) st = ae_conv_load(&m->out, m->W, "dec.out", b / 2, m->out_ch, 1, 1, 0, 1, 1, 1);
    return st;
}

static ae_status read_meta(ae_colorizer *m) {
    const ae_weights *W = m->W;
    const char *path = ae_weights_path(W);
    const char *arch = ae_weights_meta(W, "architecture");
    const char *enc = ae_weights_meta(W, "encoder");
    const char *space = ae_weights_meta(W, "space");
    const char *eps = ae_weights_meta(W, "bn_eps");
    if (!arch || strcmp(arch, "colorizer_unet") != 0)
        return ae_error_set(AE_ERR_FORMAT, "%s: __metadata__ architecture is '%s', expected 'colorizer_unet'",
                            path, arch ? arch : "(missing)");
    if (!enc || (strcmp(enc, "resnet18") != 0 && strcmp(enc, "plain") != 0))
        return ae_error_set(AE_ERR_FORMAT, "%s: __metadata__ encoder is '%s', expected resnet18 or plain",
                            path, enc ? enc : "(missing)");
    m->resnet = strcmp(enc, "resnet18") == 0;
    m->base = ae_weights_meta_int(W, "base", -1);
    m->out_ch = ae_weights_meta_int(W, "out_ch", -1);
    if (m->base < 2 || m->base > 1024 || m->base % 2)
        return ae_error_set(AE_ERR_FORMAT, "%s: __metadata__ base must be an even int in [2, 1024], got '%s'",
                            path, ae_weights_meta(W, "base") ? ae_weights_meta(W, "base") : "(missing)");
    if (ae_weights_meta_int(W, "in_ch", -1) != 1)
        return ae_error_set(AE_ERR_FORMAT, "%s: __metadata__ in_ch must be 1", path);
    if (!space || (strcmp(space, "lab") && strcmp(space, "rgb")))
        return ae_error_set(AE_ERR_FORMAT, "%s: __metadata__ space is '%s', expected lab or rgb", path,
                            space ? space : "(missing)");
    m->space = strcmp(space, "lab") == 0 ? AE_COLORIZER_LAB : AE_COLORIZER_RGB;
    if (m->out_ch != (m->space == AE_COLORIZER_LAB ? 2 : 3))
        return ae_error_set(AE_ERR_FORMAT, "%s: __metadata__ out_ch %d does not fit space %s", path,
                            m->out_ch, space);
    m->ab_down = ae_weights_meta_int(W, "ab_down", 1);
    if (m->ab_down != 1 && m->ab_down != 2 && m->ab_down != 4 && m->ab_down != 8)
        return ae_error_set(AE_ERR_FORMAT, "%s: __metadata__ ab_down must be 1, 2, 4 or 8, got '%s'", path,
                            ae_weights_meta(W, "ab_down"));
    if (m->ab_down > 1 && m->space != AE_COLORIZER_LAB)
        return ae_error_set(AE_ERR_FORMAT, "%s: __metadata__ ab_down > 1 needs space lab", path);
    char *end = NULL;
    m->eps = eps ? strtof(eps, &end) : 1e-5f;
    if (eps && (end == eps || *end || !(m->eps > 0.0f) || m->eps > 1.0f))
        return ae_error_set(AE_ERR_FORMAT, "%s: __metadata__ bn_eps '%s' is not a positive float", path, eps);
    if (m->ab_down > 1)
        snprintf(m->desc, sizeof m->desc, "%s base %d, %s at 1/%d", enc, m->base, space, m->ab_down);
    else
        snprintf(m->desc, sizeof m->desc, "%s base %d, %s", enc, m->base, space);
    return AE_OK;
}

ae_status ae_colorizer_load(ae_colorizer **out, const char *path, const ae_backend *be) {
    *out = NULL;
    ae_colorizer *m = ae_calloc(1, sizeof *m, "colorizer");
    if (!m) return AE_ERR_NOMEM;
    m->be = be;
    ae_status st = ae_weights_open(&m->W, path);
    if (st == AE_OK) st = read_meta(m);
    if (st == AE_OK) st = load_encoder(m);
    if (st == AE_OK) st = load_decoder(m);
    if (st == AE_OK) st = ae_weights_check_all_used(m->W);
    if (st == AE_OK) st = ae_arena_create(&m->A, be);
    if (st != AE_OK) {
        if (strstr(ae_error_message(), path) == NULL) ae_error_prefix("%s", path);
        ae_colorizer_free(m);
        return st;
    }
    *out = m;
    return AE_OK;
}

void ae_colorizer_free(ae_colorizer *m) {
    if (!m) return;
    ae_arena_free(m->A);
    ae_weights_close(m->W);
    free(m);
}

ae_colorizer_space ae_colorizer_get_space(const ae_colorizer *m) { return m->space; }
int ae_colorizer_out_channels(const ae_colorizer *m) { return m->out_ch; }
const ae_weights *ae_colorizer_weights(const ae_colorizer *m) { return m->W; }
const char *ae_colorizer_describe(const ae_colorizer *m) { return m->desc; }
size_t ae_colorizer_bytes_per_pixel(const ae_colorizer *m) { return m->bytes_per_px; }

/* ---- forward ------------------------------------------------------------ */

/* y = relu?(bn(conv(x))), y allocated from the arena. */
static ae_status cbn(ae_colorizer *m, const ae_conv *c, const ae_bn *bn, const ae_tensor *x,
                     ae_tensor *y, int relu) {
    ae_status st = ae_conv_forward_new(m->be, m->A, c, x, y);
    if (st == AE_OK) st = ae_bn_forward(m->be, m->A, bn, y, y);
    if (st == AE_OK && relu) st = ae_nn_activation(m->be, m->A, AE_ACT_RELU, 0.0f, y, y);
    return st;
}

/* BasicBlock (residual) or plain level; x is kept. */
static ae_status block_fwd(ae_colorizer *m, const enc_block *b, const ae_tensor *x, ae_tensor *y) {
    ae_tensor t = {0}, d = {0};
    ae_status st = cbn(m, &b->conv1, &b->bn1, x, &t, 1);
    if (st == AE_OK) st = cbn(m, &b->conv2, &b->bn2, &t, y, !b->residual);
    ae_arena_release(m->A, &t);
    if (st != AE_OK || !b->residual) return st;
    if (b->has_ds) {
        st = ae_conv_forward_new(m->be, m->A, &b->ds, x, &d);
        if (st == AE_OK) st = ae_bn_forward(m->be, m->A, &b->ds_bn, &d, &d);
        if (st == AE_OK) st = ae_nn_add(m->be, m->A, y, &d, y);
        ae_arena_release(m->A, &d);
    } else {
        st = ae_nn_add(m->be, m->A, y, x, y);
    }
    if (st == AE_OK) st = ae_nn_activation(m->be, m->A, AE_ACT_RELU, 0.0f, y, y);
    return st;
}

/* One encoder level: layerN.0 then layerN.1 (resnet) or layerN (plain). */
static ae_status level_fwd(ae_colorizer *m, int l, const ae_tensor *x, ae_tensor *y) {
    if (!m->resnet) return block_fwd(m, &m->enc[l][0], x, y);
    ae_tensor t = {0};
    ae_status st = block_fwd(m, &m->enc[l][0], x, &t);
    if (st == AE_OK) st = block_fwd(m, &m->enc[l][1], &t, y);
    ae_arena_release(m->A, &t);
    return st;
}

static ae_status up_fwd(ae_colorizer *m, const up_block *u, const ae_tensor *x, const ae_tensor *skip,
                        ae_tensor *y) {
    ae_tensor us = {0}, c1 = {0}, cat = {0};
    ae_status st = ae_arena_tensor(m->A, &us, x->n, x->c, 2 * x->h, 2 * x->w);
    if (st == AE_OK) st = ae_nn_upsample(m->be, m->A, AE_UPSAMPLE_NEAREST, x, &us);
    if (st == AE_OK) st = cbn(m, &u->conv1, &u->bn1, &us, &c1, 1);
    ae_arena_release(m->A, &us);
    if (st == AE_OK) st = ae_arena_tensor(m->A, &cat, x->n, c1.c + skip->c, c1.h, c1.w);
    if (st == AE_OK) {
        const ae_tensor *parts[2] = {&c1, skip};
        st = ae_nn_concat(m->be, m->A, parts, 2, &cat);
    }
    ae_arena_release(m->A, &c1);
    if (st == AE_OK) st = cbn(m, &u->conv2, &u->bn2, &cat, y, 1);
    ae_arena_release(m->A, &cat);
    return st;
}

/* The whole graph over arena tensors; x uploaded from host, y downloaded. */
static ae_status graph(ae_colorizer *m, const float *xh, int h, int w, float *yh) {
    ae_tensor x = {0}, s[5] = {{0}}, p = {0}, y = {0}, o = {0};
    ae_status st = ae_arena_tensor(m->A, &x, 1, 1, h, w);
    if (st == AE_OK) st = ae_nn_upload(m->be, m->A, &x, xh);
    if (st == AE_OK) st = cbn(m, &m->stem, &m->stem_bn, &x, &s[0], 1);
    if (st == AE_OK && m->resnet) {
        ae_pool_desc pd = {AE_POOL_MAX, 3, 3, 2, 2, 1, 1};
        int ph, pw;
        st = ae_pool_out_hw(&pd, s[0].h, s[0].w, &ph, &pw);
        if (st == AE_OK) st = ae_arena_tensor(m->A, &p, 1, m->base, ph, pw);
        if (st == AE_OK) st = ae_nn_pool(m->be, m->A, &pd, &s[0], &p);
        if (st == AE_OK) st = level_fwd(m, 0, &p, &s[1]);
        ae_arena_release(m->A, &p);
    } else if (st == AE_OK) {
        st = level_fwd(m, 0, &s[0], &s[1]);
    }
    for (int l = 1; l < 4 && st == AE_OK; l++) st = level_fwd(m, l, &s[l], &s[l + 1]);
    /* decoder: y = up4(s5, s4), up3(., s3), up2(., s2), up1(., s1), up0(., x) */
    ae_tensor cur = s[4];
    for (int i = 0; i < 5 && st == AE_OK; i++) {
        const ae_tensor *skip = i < 4 ? &s[3 - i] : &x;
        st = up_fwd(m, &m->up[i], &cur, skip, &y);
        ae_arena_release(m->A, &cur);
        if (i < 4) ae_arena_release(m->A, &s[3 - i]);
        cur = y;
        memset(&y, 0, sizeof y);
    }
    if (st == AE_OK) st = ae_conv_forward_new(m->be, m->A, &m->out, &cur, &o);
    if (st == AE_OK) st = ae_nn_activation(m->be, m->A, AE_ACT_TANH, 0.0f, &o, &o);
    if (st == AE_OK) st = ae_nn_download(m->be, m->A, &o, yh);
    if (st == AE_OK && !ae_arena_planning(m->A)) st = m->be->sync(m->be);
    ae_arena_reset(m->A);
    return st;
}

ae_status ae_colorizer_forward(ae_colorizer *m, const float *x, int h, int w, float *y) {
    if (h < AE_COLORIZER_MULTIPLE || w < AE_COLORIZER_MULTIPLE || h % AE_COLORIZER_MULTIPLE ||
        w % AE_COLORIZER_MULTIPLE)
        return ae_error_set(AE_ERR_ARG, "colorizer input %dx%d: sides must be positive multiples of %d",
                            h, w, AE_COLORIZER_MULTIPLE);
    ae_status st;
    if (h != m->plan_h || w != m->plan_w) {
        m->plan_h = m->plan_w = 0;
        ae_arena_replan(m->A);
        st = graph(m, NULL, h, w, NULL);
        if (st == AE_OK) st = ae_arena_commit(m->A);
        if (st != AE_OK) return st;
        m->plan_h = h, m->plan_w = w;
        m->bytes_per_px = ae_arena_peak_bytes(m->A) / ((size_t)h * (size_t)w);
    }
    return graph(m, x, h, w, y);
}

/* ---- pre/post processing ---------------------------------------------- */

/* Mirror index (like torch "reflect", folded again for pads longer than n). */
static int reflect(int i, int n) {
    if (n == 1) return 0;
    int period = 2 * (n - 1);
    i %= period;
    if (i < 0) i += period;
    return i < n ? i : period - i;
}

static int round_up(int v, int m) { return (v + m - 1) / m * m; }

/* a, b of the network output at position at, in Lab units. */
static void out_ab(const ae_colorizer *m, const float *y, size_t plane, size_t at, float *a, float *b) {
    if (m->space == AE_COLORIZER_LAB) {
        *a = y[at] * AB_SCALE;
        *b = y[plane + at] * AB_SCALE;
    } else {
        float L;
        ae_srgb_to_lab((y[at] + 1.0f) * 0.5f, (y[plane + at] + 1.0f) * 0.5f,
                       (y[2 * plane + at] + 1.0f) * 0.5f, &L, a, b);
    }
}

/* Source index and weight of output position i when n samples are enlarged
 * f times by linear interpolation with half-pixel centres (torch's
 * align_corners=False: negative positions clamp to 0, the last sample
 * repeats past the end). */
static void lin_tap(int i, int f, int n, int *i0, int *i1, float *t) {
    float src = ((float)i + 0.5f) / (float)f - 0.5f;
    if (src < 0.0f) src = 0.0f;
    *i0 = (int)src;
    *i1 = *i0 + (*i0 < n - 1);
    *t = src - (float)*i0;
}

/* Network input: L* reflect-padded to hp x wp, averaged over f x f blocks,
 * scaled to [-1, 1]; NaN counts as black. */
static void net_input(const float *L, int h, int w, int hp, int wp, int f, float *x) {
    int top = (hp - h) / 2, left = (wp - w) / 2, hl = hp / f, wl = wp / f;
    float inv = 1.0f / (float)(f * f);
    for (int i = 0; i < hl; i++)
        for (int j = 0; j < wl; j++) {
            float s = 0.0f;
            for (int di = 0; di < f; di++) {
                const float *row = L + (size_t)reflect(i * f + di - top, h) * w;
                for (int dj = 0; dj < f; dj++) {
                    float v = row[reflect(j * f + dj - left, w)];
                    s += isnan(v) ? 0.0f : v;
                }
            }
            x[(size_t)i * wl + j] = s * inv / L_SCALE - 1.0f;
        }
}

ae_status ae_colorizer_predict_ab(ae_colorizer *m, const float *L, int h, int w, float *a, float *b) {
    if (h < 1 || w < 1 || h > AE_MAX_DIM_COLORIZE || w > AE_MAX_DIM_COLORIZE)
        return ae_error_set(AE_ERR_ARG, "colorizer: bad image size %dx%d", w, h);
    int f = m->ab_down, mult = AE_COLORIZER_MULTIPLE * f;
    int hp = round_up(h, mult), wp = round_up(w, mult), top = (hp - h) / 2, left = (wp - w) / 2;
    int hl = hp / f, wl = wp / f;
    size_t plane = (size_t)hl * (size_t)wl;
    float *x = ae_malloc(plane * sizeof *x, "colorizer input");
    float *y = x ? ae_malloc(plane * (size_t)m->out_ch * sizeof *y, "colorizer output") : NULL;
    if (!x || !y) {
        free(x);
        return AE_ERR_NOMEM;
    }
    net_input(L, h, w, hp, wp, f, x);
    ae_status st = ae_colorizer_forward(m, x, hl, wl, y);
    for (int i = 0; st == AE_OK && i < h; i++) {
        int y0, y1;
        float ty;
        lin_tap(i + top, f, hl, &y0, &y1, &ty);
        for (int j = 0; j < w; j++) {
            size_t o = (size_t)i * w + j;
            if (f == 1) {
                out_ab(m, y, plane, (size_t)(i + top) * wl + (j + left), &a[o], &b[o]);
                continue;
            }
            int x0, x1;
            float tx, v[2];
            lin_tap(j + left, f, wl, &x0, &x1, &tx);
            for (int c = 0; c < 2; c++) {
                const float *p = y + (size_t)c * plane;
                float r0 = p[(size_t)y0 * wl + x0] + tx * (p[(size_t)y0 * wl + x1] - p[(size_t)y0 * wl + x0]);
                float r1 = p[(size_t)y1 * wl + x0] + tx * (p[(size_t)y1 * wl + x1] - p[(size_t)y1 * wl + x0]);
                v[c] = (r0 + ty * (r1 - r0)) * AB_SCALE;
            }
            a[o] = v[0], b[o] = v[1];
        }
    }
    free(x);
    free(y);
    return st;
}

/* Source pixel of position (i, j) of dihedral transform k (numpy rot90 k&3
 * times, then fliplr when k & 4) of an h x w image. */
static void dihedral(int k, int h, int w, int i, int j, int *y, int *x) {
    int r = k & 3, tw = (r & 1) ? h : w;
    if (k & 4) j = tw - 1 - j;
    switch (r) {
    case 0: *y = i, *x = j; break;
    case 1: *y = j, *x = w - 1 - i; break;
    case 2: *y = h - 1 - i, *x = w - 1 - j; break;
    default: *y = h - 1 - j, *x = i; break;
    }
}

ae_status ae_colorizer_predict_ab_tta(ae_colorizer *m, const float *L, int h, int w, float *a,
                                      float *b, float *spread) {
    size_t n = (size_t)h * (size_t)w;
    if (h < 1 || w < 1 || h > AE_MAX_DIM_COLORIZE || w > AE_MAX_DIM_COLORIZE)
        return ae_error_set(AE_ERR_ARG, "colorizer: bad image size %dx%d", w, h);
    float *buf = ae_malloc(n * 4 * sizeof *buf, "colorizer ensemble");
    if (!buf) return AE_ERR_NOMEM;
    float *t = buf, *ta = buf + n, *tb = buf + 2 * n, *sq = buf + 3 * n;
    memset(a, 0, n * sizeof *a), memset(b, 0, n * sizeof *b), memset(sq, 0, n * sizeof *sq);
    ae_status st = AE_OK;
    for (int k = 0; k < AE_COLORIZER_TTA && st == AE_OK; k++) {
        int th = (k & 1) ? w : h, tw = (k & 1) ? h : w, y, x;
        for (int i = 0; i < th; i++)
            for (int j = 0; j < tw; j++) {
                dihedral(k, h, w, i, j, &y, &x);
                t[(size_t)i * tw + j] = L[(size_t)y * w + x];
            }
        st = ae_colorizer_predict_ab(m, t, th, tw, ta, tb);
        for (int i = 0; st == AE_OK && i < th; i++)
            for (int j = 0; j < tw; j++) {
                dihedral(k, h, w, i, j, &y, &x);
                size_t o = (size_t)y * w + x, q = (size_t)i * tw + j;
                a[o] += ta[q], b[o] += tb[q], sq[o] += ta[q] * ta[q] + tb[q] * tb[q];
            }
    }
    for (size_t i = 0; st == AE_OK && i < n; i++) {
        a[i] /= AE_COLORIZER_TTA, b[i] /= AE_COLORIZER_TTA;
        float var = sq[i] / AE_COLORIZER_TTA - (a[i] * a[i] + b[i] * b[i]);
        if (spread) spread[i] = sqrtf(var > 0.0f ? var : 0.0f);
    }
    free(buf);
    return st;
}
