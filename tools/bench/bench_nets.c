/* bench_nets.c - the benchmark networks of scripts/bench_engine.py in C.
 *
 * UNet: enc[i] = DoubleConv (conv3x3-BN-ReLU x2, no conv bias) at 256/2^i px
 * with max-pool 2 between levels, up[i] = ConvTranspose2d k2 s2, dec[i] =
 * DoubleConv on cat(up, skip), out = conv1x1 + tanh.
 * SR3Lite: SR3's UNet with inner 32, mults (1,2,4,4), one ResnetBlock per
 * level, self-attention at 16 px, GroupNorm(16), noise-level MLP.
 * Layer order and names follow the PyTorch modules exactly.
 */
#include <stdio.h>
#include <stdlib.h>
#include "astroenh/nn.h"
#include "bench_nets.h"

/* ---- counting wrappers -------------------------------------------------- */

static void note_layer(ae_arena *A, bench_stats *s, const ae_tensor *x, const ae_tensor *y, double flops) {
    if (!ae_arena_planning(A) || !s) return;
    size_t b = ae_tensor_bytes(x) + ae_tensor_bytes(y);
    if (b > s->max_layer_bytes) s->max_layer_bytes = b;
    s->flops += flops;
}

static ae_status conv(const ae_backend *be, ae_arena *A, bench_stats *s, const ae_conv *c,
                      const ae_tensor *x, ae_tensor *y) {
    ae_status st = ae_conv_forward_new(be, A, c, x, y);
    if (st == AE_OK)
        note_layer(A, s, x, y, 2.0 * y->n * y->c * y->h * y->w * (double)(c->d.cin / c->d.groups) * c->d.kh * c->d.kw);
    return st;
}

static ae_status linear(const ae_backend *be, ae_arena *A, bench_stats *s, const ae_linear *l,
                        const ae_tensor *x, ae_tensor *y) {
    ae_status st = ae_arena_tensor(A, y, x->n, l->out, 1, 1);
    if (st == AE_OK) st = ae_linear_forward(be, A, l, x, y);
    if (st == AE_OK) note_layer(A, s, x, y, 2.0 * x->n * l->in * l->out);
    return st;
}

static ae_status tensor_like(ae_arena *A, ae_tensor *t, const ae_tensor *x) {
    return ae_arena_tensor(A, t, x->n, x->c, x->h, x->w);
}

static ae_status cat2(const ae_backend *be, ae_arena *A, ae_tensor *a, ae_tensor *b, ae_tensor *y) {
    const ae_tensor *xs[2] = {a, b};
    ae_status st = ae_arena_tensor(A, y, a->n, a->c + b->c, a->h, a->w);
    if (st == AE_OK) st = ae_nn_concat(be, A, xs, 2, y);
    ae_arena_release(A, a);
    ae_arena_release(A, b);
    return st;
}

/* ---- UNet --------------------------------------------------------------- */

#define UNET_LEVELS 5
static const int k_unet_chans[UNET_LEVELS] = {32, 64, 128, 256, 512};

typedef struct {
    ae_conv c1, c2;
    ae_bn b1, b2;
} dconv;

struct bench_unet {
    dconv enc[UNET_LEVELS], dec[UNET_LEVELS - 1];
    ae_convT up[UNET_LEVELS - 1];
    ae_conv out;
};

static ae_status dconv_load(dconv *d, ae_weights *W, const char *p, int cin, int cout) {
    char n[128];
    ae_status st;
    snprintf(n, sizeof n, "%s.conv1", p);
    if ((st = ae_conv_load(&d->c1, W, n, cin, cout, 3, 1, 1, 1, 1, 0))) return st;
    snprintf(n, sizeof n, "%s.bn1", p);
    if ((st = ae_bn_load(&d->b1, W, n, cout, 1e-5f, 1))) return st;
    snprintf(n, sizeof n, "%s.conv2", p);
    if ((st = ae_conv_load(&d->c2, W, n, cout, cout, 3, 1, 1, 1, 1, 0))) return st;
    snprintf(n, sizeof n, "%s.bn2", p);
    return ae_bn_load(&d->b2, W, n, cout, 1e-5f, 1);
}

ae_status bench_unet_load(bench_unet **out, ae_weights *W) {
    bench_unet *u = ae_calloc(1, sizeof *u, "benchmark U-Net");
    if (!u) return AE_ERR_NOMEM;
    char n[128];
    ae_status st = AE_OK;
    int c = 1;
    for (int i = 0; i < UNET_LEVELS && !st; i++) {
        snprintf(n, sizeof n, "unet.enc.%d", i);
        st = dconv_load(&u->enc[i], W, n, c, k_unet_chans[i]);
        c = k_unet_chans[i];
    }
    for (int j = 0; j < UNET_LEVELS - 1 && !st; j++) {
        int ch = k_unet_chans[UNET_LEVELS - 2 - j];
        snprintf(n, sizeof n, "unet.up.%d", j);
        st = ae_convT_load(&u->up[j], W, n, c, ch, 2, 2, 0, 0, 1, 1);
        snprintf(n, sizeof n, "unet.dec.%d", j);
        if (!st) st = dconv_load(&u->dec[j], W, n, 2 * ch, ch);
        c = ch;
    }
    if (!st) st = ae_conv_load(&u->out, W, "unet.out", c, 2, 1, 1, 0, 1, 1, 1);
    if (st) {
        free(u);
        return st;
    }
    *out = u;
    return AE_OK;
}

void bench_unet_free(bench_unet *u) { free(u); }

static ae_status conv_bn_relu(const ae_backend *be, ae_arena *A, bench_stats *s, const ae_conv *c,
                              const ae_bn *bn, const ae_tensor *x, ae_tensor *y) {
    ae_status st = conv(be, A, s, c, x, y);
    if (!st) st = ae_bn_forward(be, A, bn, y, y);
    if (!st) st = ae_nn_activation(be, A, AE_ACT_RELU, 0.0f, y, y);
    return st;
}

static ae_status dconv_forward(const ae_backend *be, ae_arena *A, bench_stats *s, const dconv *d,
                               const ae_tensor *x, ae_tensor *y) {
    ae_tensor t;
    ae_status st = conv_bn_relu(be, A, s, &d->c1, &d->b1, x, &t);
    if (!st) st = conv_bn_relu(be, A, s, &d->c2, &d->b2, &t, y);
    ae_arena_release(A, &t);
    return st;
}

ae_status bench_unet_forward(const ae_backend *be, ae_arena *A, const bench_unet *u,
                             const ae_tensor *x, ae_tensor *y, bench_stats *s) {
    ae_tensor skips[UNET_LEVELS], cur = *x, p, up, cat;
    ae_pool_desc pool = {AE_POOL_MAX, 2, 2, 2, 2, 0, 0};
    ae_status st = AE_OK;
    for (int i = 0; i < UNET_LEVELS && !st; i++) {
        if (i) {
            st = ae_arena_tensor(A, &p, cur.n, cur.c, cur.h / 2, cur.w / 2);
            if (!st) st = ae_nn_pool(be, A, &pool, &cur, &p);
            if (st) return st;
            st = dconv_forward(be, A, s, &u->enc[i], &p, &skips[i]);
            ae_arena_release(A, &p);
        } else {
            st = dconv_forward(be, A, s, &u->enc[i], x, &skips[i]);
        }
        cur = skips[i];
    }
    for (int j = 0; j < UNET_LEVELS - 1 && !st; j++) {
        st = ae_convT_forward_new(be, A, &u->up[j], &cur, &up);
        if (!st) note_layer(A, s, &cur, &up, 2.0 * cur.h * cur.w * (double)cur.c * up.c * 4);
        ae_arena_release(A, &cur);
        if (!st) st = cat2(be, A, &up, &skips[UNET_LEVELS - 2 - j], &cat);
        if (!st) st = dconv_forward(be, A, s, &u->dec[j], &cat, &cur);
        ae_arena_release(A, &cat);
    }
    if (!st) st = conv(be, A, s, &u->out, &cur, y);
    if (!st) st = ae_nn_activation(be, A, AE_ACT_TANH, 0.0f, y, y);
    ae_arena_release(A, &cur);
    return st;
}

/* ---- SR3Lite -------------------------------------------------------------- */

#define SR3_INNER 32
#define SR3_GROUPS 16
#define SR3_LEVELS 4
#define SR3_MAX_BLOCKS 16
static const int k_sr3_mults[SR3_LEVELS] = {1, 2, 4, 4};

typedef struct {
    ae_gn n1, n2;
    ae_conv c1, c2, skip;
    ae_linear emb;
    ae_attn_block attn;
    int has_skip, has_attn;
} rblock;

typedef struct {
    int is_res; /* else a plain conv (downsample, or upsample's conv) */
    rblock r;
    ae_conv c;
} sr3_layer;

struct bench_sr3 {
    ae_linear noise1, noise2;
    ae_conv conv_in, conv_out;
    sr3_layer downs[SR3_MAX_BLOCKS], ups[SR3_MAX_BLOCKS];
    int n_downs, n_ups;
    rblock mid1, mid2;
    ae_gn norm_out;
};

static ae_status rblock_load(rblock *r, ae_weights *W, const char *p, int cin, int cout, int attn) {
    char n[128];
    ae_status st;
    snprintf(n, sizeof n, "%s.norm1", p);
    if ((st = ae_gn_load(&r->n1, W, n, SR3_GROUPS, cin, 1e-5f, 1))) return st;
    snprintf(n, sizeof n, "%s.conv1", p);
    if ((st = ae_conv_load(&r->c1, W, n, cin, cout, 3, 1, 1, 1, 1, 1))) return st;
    snprintf(n, sizeof n, "%s.emb", p);
    if ((st = ae_linear_load(&r->emb, W, n, SR3_INNER, cout, 1))) return st;
    snprintf(n, sizeof n, "%s.norm2", p);
    if ((st = ae_gn_load(&r->n2, W, n, SR3_GROUPS, cout, 1e-5f, 1))) return st;
    snprintf(n, sizeof n, "%s.conv2", p);
    if ((st = ae_conv_load(&r->c2, W, n, cout, cout, 3, 1, 1, 1, 1, 1))) return st;
    r->has_skip = cin != cout;
    r->has_attn = attn;
    snprintf(n, sizeof n, "%s.skip", p);
    if (r->has_skip && (st = ae_conv_load(&r->skip, W, n, cin, cout, 1, 1, 0, 1, 1, 1))) return st;
    snprintf(n, sizeof n, "%s.attn", p);
    if (attn) st = ae_attn_block_load(&r->attn, W, n, cout, 1, SR3_GROUPS, 1e-5f, AE_ATTN_SR3);
    return st;
}

/* Mirrors SR3Lite.__init__: the channel bookkeeping decides every shape. */
static ae_status sr3_build(bench_sr3 *m, ae_weights *W) {
    int feat[2 * SR3_MAX_BLOCKS], nf = 0, c = SR3_INNER, res = 128;
    char n[128];
    ae_status st = AE_OK;
    feat[nf++] = SR3_INNER;
    for (int i = 0; i < SR3_LEVELS && !st; i++) {
        int co = SR3_INNER * k_sr3_mults[i];
        sr3_layer *l = &m->downs[m->n_downs];
        snprintf(n, sizeof n, "sr3.downs.%d", m->n_downs++);
        l->is_res = 1;
        st = rblock_load(&l->r, W, n, c, co, res == 16);
        feat[nf++] = c = co;
        if (st || i == SR3_LEVELS - 1) continue;
        l = &m->downs[m->n_downs];
        snprintf(n, sizeof n, "sr3.downs.%d", m->n_downs++);
        st = ae_conv_load(&l->c, W, n, c, c, 3, 2, 1, 1, 1, 1);
        feat[nf++] = c;
        res /= 2;
    }
    if (!st) st = rblock_load(&m->mid1, W, "sr3.mid1", c, c, 1);
    if (!st) st = rblock_load(&m->mid2, W, "sr3.mid2", c, c, 0);
    for (int i = SR3_LEVELS - 1; i >= 0 && !st; i--) {
        int co = SR3_INNER * k_sr3_mults[i];
        for (int r = 0; r < 2 && !st; r++) {
            sr3_layer *l = &m->ups[m->n_ups];
            snprintf(n, sizeof n, "sr3.ups.%d", m->n_ups++);
            l->is_res = 1;
            st = rblock_load(&l->r, W, n, c + feat[--nf], co, res == 16);
            c = co;
        }
        if (st || i == 0) continue;
        sr3_layer *l = &m->ups[m->n_ups];
        snprintf(n, sizeof n, "sr3.ups.%d", m->n_ups++);
        st = ae_conv_load(&l->c, W, n, c, c, 3, 1, 1, 1, 1, 1);
        res *= 2;
    }
    if (!st) st = ae_gn_load(&m->norm_out, W, "sr3.norm_out", SR3_GROUPS, c, 1e-5f, 1);
    if (!st) st = ae_conv_load(&m->conv_out, W, "sr3.conv_out", c, 3, 3, 1, 1, 1, 1, 1);
    return st;
}

ae_status bench_sr3_load(bench_sr3 **out, ae_weights *W) {
    bench_sr3 *m = ae_calloc(1, sizeof *m, "benchmark SR3 net");
    if (!m) return AE_ERR_NOMEM;
    ae_status st = ae_linear_load(&m->noise1, W, "sr3.noise1", SR3_INNER, 4 * SR3_INNER, 1);
    if (!st) st = ae_linear_load(&m->noise2, W, "sr3.noise2", 4 * SR3_INNER, SR3_INNER, 1);
    if (!st) st = ae_conv_load(&m->conv_in, W, "sr3.conv_in", 6, SR3_INNER, 3, 1, 1, 1, 1, 1);
    if (!st) st = sr3_build(m, W);
    if (st) {
        free(m);
        return st;
    }
    *out = m;
    return AE_OK;
}

void bench_sr3_free(bench_sr3 *m) { free(m); }

static ae_status gn_silu(const ae_backend *be, ae_arena *A, const ae_gn *gn, const ae_tensor *x, ae_tensor *y) {
    ae_status st = ae_gn_forward(be, A, gn, x, y);
    if (!st) st = ae_nn_activation(be, A, AE_ACT_SILU, 0.0f, y, y);
    return st;
}

/* SR3 ResnetBlock + optional SelfAttention; *y is new. With `consume` the
 * block may overwrite and releases *x: the residual branch is computed first
 * so GroupNorm can run in place on x, which keeps one block-input-sized
 * tensor fewer alive (the up path's concatenated inputs are the largest),
 * and x is released as soon as conv1 has read it. */
static ae_status rblock_forward(const ae_backend *be, ae_arena *A, bench_stats *s, const rblock *r,
                                ae_tensor *x, int consume, const ae_tensor *e, ae_tensor *y) {
    ae_tensor h, t, ev, res = {0};
    ae_status st = AE_OK;
    if (r->has_skip) st = conv(be, A, s, &r->skip, x, &res);
    if (!st && consume && r->has_skip) h = *x;
    else if (!st) st = tensor_like(A, &h, x);
    if (!st) st = gn_silu(be, A, &r->n1, x, &h);
    if (!st) st = conv(be, A, s, &r->c1, &h, &t);
    if (h.data != x->data) ae_arena_release(A, &h);
    int x_dead = consume && r->has_skip; /* the residual branch already read x */
    if (x_dead) ae_arena_release(A, x);
    if (!st) st = linear(be, A, s, &r->emb, e, &ev);
    if (!st) st = ae_nn_scale_shift(be, A, &t, NULL, 1.0f, &ev, &t);
    ae_arena_release(A, &ev);
    if (!st) st = gn_silu(be, A, &r->n2, &t, &t);
    if (!st) st = conv(be, A, s, &r->c2, &t, y);
    ae_arena_release(A, &t);
    if (!st) st = ae_nn_add(be, A, y, r->has_skip ? &res : x, y);
    ae_arena_release(A, &res);
    if (consume && !x_dead) ae_arena_release(A, x);
    if (st || !r->has_attn) return st;
    ae_tensor a;
    st = tensor_like(A, &a, y);
    if (!st) st = ae_attn_block_forward(be, A, &r->attn, y, &a);
    if (!st) note_layer(A, s, y, &a, 2.0 * 4 * y->c * (double)y->c * y->h * y->w +
                                         4.0 * y->c * (double)y->h * y->w * y->h * y->w);
    ae_arena_release(A, y);
    *y = a;
    return st;
}

static ae_status sr3_embed(const ae_backend *be, ae_arena *A, bench_stats *s, const bench_sr3 *m,
                           const float *gamma, int n, ae_tensor *e) {
    ae_tensor e0, e1;
    ae_status st = ae_arena_tensor(A, &e0, n, SR3_INNER, 1, 1);
    if (!st) st = ae_nn_noise_embed(be, A, gamma, &e0);
    if (!st) st = linear(be, A, s, &m->noise1, &e0, &e1);
    ae_arena_release(A, &e0);
    if (!st) st = ae_nn_activation(be, A, AE_ACT_SILU, 0.0f, &e1, &e1);
    if (!st) st = linear(be, A, s, &m->noise2, &e1, e);
    ae_arena_release(A, &e1);
    return st;
}

ae_status bench_sr3_forward(const ae_backend *be, ae_arena *A, const bench_sr3 *m,
                            const ae_tensor *x, const float *gamma, ae_tensor *y, bench_stats *s) {
    ae_tensor e, feats[2 * SR3_MAX_BLOCKS], cur, t;
    int nf = 0;
    ae_status st = sr3_embed(be, A, s, m, gamma, x->n, &e);
    if (!st) st = conv(be, A, s, &m->conv_in, x, &cur);
    if (st) return st;
    feats[nf++] = cur;
    for (int i = 0; i < m->n_downs && !st; i++) {
        const sr3_layer *l = &m->downs[i];
        st = l->is_res ? rblock_forward(be, A, s, &l->r, &cur, 0, &e, &t) : conv(be, A, s, &l->c, &cur, &t);
        feats[nf++] = cur = t;
    }
    if (!st) st = rblock_forward(be, A, s, &m->mid1, &cur, 0, &e, &t);
    if (!st) {
        cur = t;
        st = rblock_forward(be, A, s, &m->mid2, &cur, 1, &e, &t);
        cur = t;
    }
    for (int i = 0; i < m->n_ups && !st; i++) {
        const sr3_layer *l = &m->ups[i];
        ae_tensor in;
        if (l->is_res) {
            st = cat2(be, A, &cur, &feats[--nf], &in);
            if (!st) st = rblock_forward(be, A, s, &l->r, &in, 1, &e, &cur);
        } else {
            st = ae_arena_tensor(A, &in, cur.n, cur.c, cur.h * 2, cur.w * 2);
            if (!st) st = ae_nn_upsample(be, A, AE_UPSAMPLE_NEAREST, &cur, &in);
            ae_arena_release(A, &cur);
            if (!st) st = conv(be, A, s, &l->c, &in, &cur);
        }
        ae_arena_release(A, &in);
    }
    if (!st) st = gn_silu(be, A, &m->norm_out, &cur, &cur);
    if (!st) st = conv(be, A, s, &m->conv_out, &cur, y);
    ae_arena_release(A, &cur);
    ae_arena_release(A, &e);
    return st;
}
