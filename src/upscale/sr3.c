/* sr3.c - the SR3 denoising U-Net, forward in C.
 *
 * Mirrors scripts/sr_models.py SR3UNet (itself SR3's unet.py): noise level
 * embedding (PositionalEncoding -> Linear -> SiLU -> Linear), down path of
 * ResnetBlocWithAttn and stride-2 conv Downsample, two middle blocks (the
 * first with attention), up path concatenating the saved down features,
 * nearest x2 + conv Upsample, final GroupNorm-SiLU-conv. FiLM is
 * FeatureWiseAffine with affine level: (1 + scale) * h + shift.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "astroenh/sr3.h"

#define GN_EPS 1e-5f

static ae_status meta_int(ae_weights *W, const char *key, int lo, int hi, int *v) {
    *v = ae_weights_meta_int(W, key, -1);
    if (*v < lo || *v > hi)
        return ae_error_set(AE_ERR_FORMAT, "%s: metadata \"%s\" missing or outside %d..%d",
                            ae_weights_path(W), key, lo, hi);
    return AE_OK;
}

static ae_status parse_mults(ae_sr3 *m, ae_weights *W) {
    const char *s = ae_weights_meta(W, "channel_mults");
    m->n_levels = 0;
    while (s) {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s || v < 1 || v > 64) break;
        m->mults[m->n_levels++] = (int)v;
        if (*end == '\0') return AE_OK;
        if (*end != ',' || m->n_levels == AE_SR3_MAX_LEVELS) break;
        s = end + 1;
    }
    return ae_error_set(AE_ERR_FORMAT, "%s: metadata \"channel_mults\" missing or bad (want e.g. \"1,2,4\")",
                        ae_weights_path(W));
}

static ae_status res_load(ae_sr3_layer *L, ae_weights *W, const char *pfx, int cin, int cout, int emb,
                          int groups, int with_attn) {
    char n[160];
    ae_sr3_res *r = &L->res;
    L->kind = AE_SR3_RES;
    L->cout = cout;
    r->cin = cin;
    r->cout = cout;
    r->with_attn = with_attn;
    snprintf(n, sizeof n, "%s.res_block.block1.block.0", pfx);
    ae_status st = ae_gn_load(&r->gn1, W, n, groups, cin, GN_EPS, 1);
    snprintf(n, sizeof n, "%s.res_block.block1.block.3", pfx);
    if (st == AE_OK) st = ae_conv_load(&r->conv1, W, n, cin, cout, 3, 1, 1, 1, 1, 1);
    snprintf(n, sizeof n, "%s.res_block.noise_func.noise_func.0", pfx);
    if (st == AE_OK) st = ae_linear_load(&r->film, W, n, emb, 2 * cout, 1);
    snprintf(n, sizeof n, "%s.res_block.block2.block.0", pfx);
    if (st == AE_OK) st = ae_gn_load(&r->gn2, W, n, groups, cout, GN_EPS, 1);
    snprintf(n, sizeof n, "%s.res_block.block2.block.3", pfx);
    if (st == AE_OK) st = ae_conv_load(&r->conv2, W, n, cout, cout, 3, 1, 1, 1, 1, 1);
    if (st == AE_OK && cin != cout) {
        snprintf(n, sizeof n, "%s.res_block.res_conv", pfx);
        st = ae_conv_load(&r->res_conv, W, n, cin, cout, 1, 1, 0, 1, 1, 1);
    }
    if (st == AE_OK && with_attn) {
        snprintf(n, sizeof n, "%s.attn", pfx);
        st = ae_attn_block_load(&r->attn, W, n, cout, 1, groups, GN_EPS, AE_ATTN_SR3);
    }
    return st;
}

static ae_status conv_layer(ae_sr3_layer *L, ae_sr3_kind kind, ae_weights *W, const char *pfx, int cin,
                            int cout, int stride) {
    L->kind = kind;
    L->cout = cout;
    return ae_conv_load(&L->conv, W, pfx, cin, cout, 3, stride, 1, 1, 1, 1);
}

/* "target" = image (default, older files) | residual + "residual_scale". */
static ae_status load_target(ae_sr3 *m, ae_weights *W) {
    const char *t = ae_weights_meta(W, "target"), *c = ae_weights_meta(W, "residual_scale");
    m->residual = 0;
    m->residual_scale = 1.0f;
    if (!t || !strcmp(t, "image")) return AE_OK;
    if (strcmp(t, "residual") != 0)
        return ae_error_set(AE_ERR_FORMAT, "%s: metadata \"target\" is \"%s\", want image or residual",
                            ae_weights_path(W), t);
    char *end = NULL;
    double v = c ? strtod(c, &end) : 0.0;
    if (!c || end == c || *end != '\0' || !isfinite(v) || v <= 0.0 || v > 1e6)
        return ae_error_set(AE_ERR_FORMAT, "%s: target=residual needs metadata \"residual_scale\" > 0, got %s",
                            ae_weights_path(W), c ? c : "none");
    m->residual = 1;
    m->residual_scale = (float)v;
    return AE_OK;
}

/* "base" = bicubic (default) | fast + "base_file" + "base_sha256". */
static ae_status load_base(ae_sr3 *m, ae_weights *W) {
    const char *b = ae_weights_meta(W, "base"), *f = ae_weights_meta(W, "base_file");
    const char *h = ae_weights_meta(W, "base_sha256");
    m->base_fast = 0;
    if (!b || !strcmp(b, "bicubic")) return AE_OK;
    if (strcmp(b, "fast") != 0)
        return ae_error_set(AE_ERR_FORMAT, "%s: metadata \"base\" is \"%s\", want bicubic or fast",
                            ae_weights_path(W), b);
    if (!m->residual)
        return ae_error_set(AE_ERR_FORMAT, "%s: base=fast needs target=residual", ae_weights_path(W));
    int hex = h && strlen(h) == 64;
    for (int i = 0; hex && i < 64; i++) hex = (h[i] >= '0' && h[i] <= '9') || (h[i] >= 'a' && h[i] <= 'f');
    if (!f || !*f || strlen(f) >= sizeof m->base_file || strchr(f, '/') || !hex)
        return ae_error_set(AE_ERR_FORMAT, "%s: base=fast needs metadata \"base_file\" (a file name) and "
                                           "\"base_sha256\" (64 hex digits)", ae_weights_path(W));
    snprintf(m->base_file, sizeof m->base_file, "%s", f);
    memcpy(m->base_sha256, h, 65);
    m->base_fast = 1;
    return AE_OK;
}

static ae_status load_meta(ae_sr3 *m, ae_weights *W) {
    const char *arch = ae_weights_meta(W, "arch");
    if (!arch || strcmp(arch, "sr3") != 0)
        return ae_error_set(AE_ERR_FORMAT, "%s: not an SR3 model (metadata arch=%s)", ae_weights_path(W),
                            arch ? arch : "none");
    ae_status st = meta_int(W, "scale", 1, 16, &m->scale);
    if (st == AE_OK) st = meta_int(W, "out_channel", 1, 3, &m->out_channel);
    if (st == AE_OK && m->out_channel == 2)
        st = ae_error_set(AE_ERR_FORMAT, "%s: out_channel 2; want 1 (planes) or 3 (colour)", ae_weights_path(W));
    if (st == AE_OK) st = meta_int(W, "in_channel", 2 * m->out_channel, 2 * m->out_channel, &m->in_channel);
    if (st == AE_OK) st = meta_int(W, "inner_channel", 2, 1024, &m->inner);
    if (st == AE_OK) st = meta_int(W, "res_blocks", 1, 8, &m->res_blocks);
    if (st == AE_OK) st = meta_int(W, "norm_groups", 1, 1024, &m->groups);
    if (st == AE_OK) st = parse_mults(m, W);
    if (st == AE_OK) st = load_target(m, W);
    if (st == AE_OK) st = load_base(m, W);
    if (st == AE_OK && m->inner % 2)
        st = ae_error_set(AE_ERR_FORMAT, "%s: inner_channel %d must be even", ae_weights_path(W), m->inner);
    if (st == AE_OK && (m->n_levels * (m->res_blocks + 1) + 1 > AE_SR3_MAX_LAYERS ||
                        m->n_levels * (m->res_blocks + 2) > AE_SR3_MAX_LAYERS))
        st = ae_error_set(AE_ERR_FORMAT, "%s: too many layers", ae_weights_path(W));
    return st;
}

ae_status ae_sr3_load(ae_sr3 *m, ae_weights *W) {
    memset(m, 0, sizeof *m);
    ae_status st = load_meta(m, W);
    if (st != AE_OK) return st;
    int E = m->inner, G = m->groups, feat[AE_SR3_MAX_LAYERS], nf = 0, pre = E;
    char n[96];
    st = ae_linear_load(&m->mlp1, W, "noise_level_mlp.1", E, 4 * E, 1);
    if (st == AE_OK) st = ae_linear_load(&m->mlp2, W, "noise_level_mlp.3", 4 * E, E, 1);
    if (st == AE_OK) st = conv_layer(&m->downs[m->n_downs++], AE_SR3_CONV, W, "downs.0", m->in_channel, E, 1);
    feat[nf++] = E;
    for (int lv = 0; lv < m->n_levels && st == AE_OK; lv++) {
        int last = lv == m->n_levels - 1, ch = E * m->mults[lv];
        for (int b = 0; b < m->res_blocks && st == AE_OK; b++) {
            snprintf(n, sizeof n, "downs.%d", m->n_downs);
            st = res_load(&m->downs[m->n_downs++], W, n, pre, ch, E, G, last);
            feat[nf++] = pre = ch;
        }
        if (!last && st == AE_OK) {
            snprintf(n, sizeof n, "downs.%d.conv", m->n_downs);
            st = conv_layer(&m->downs[m->n_downs++], AE_SR3_DOWN, W, n, pre, pre, 2);
            feat[nf++] = pre;
        }
    }
    if (st == AE_OK) st = res_load(&m->mid[0], W, "mid.0", pre, pre, E, G, 1);
    if (st == AE_OK) st = res_load(&m->mid[1], W, "mid.1", pre, pre, E, G, 0);
    for (int lv = m->n_levels - 1; lv >= 0 && st == AE_OK; lv--) {
        int last = lv == m->n_levels - 1, ch = E * m->mults[lv];
        for (int b = 0; b < m->res_blocks + 1 && st == AE_OK; b++) {
            snprintf(n, sizeof n, "ups.%d", m->n_ups);
            st = res_load(&m->ups[m->n_ups++], W, n, pre + feat[--nf], ch, E, G, last);
            pre = ch;
        }
        if (lv != 0 && st == AE_OK) {
            snprintf(n, sizeof n, "ups.%d.conv", m->n_ups);
            st = conv_layer(&m->ups[m->n_ups++], AE_SR3_UP, W, n, pre, pre, 1);
        }
    }
    if (st == AE_OK) st = ae_gn_load(&m->final_gn, W, "final_conv.block.0", G, pre, GN_EPS, 1);
    if (st == AE_OK) st = ae_conv_load(&m->final_conv, W, "final_conv.block.3", pre, m->out_channel, 3, 1, 1, 1, 1, 1);
    if (st == AE_OK) st = ae_weights_check_all_used(W);
    if (st != AE_OK) ae_error_prefix("%s", ae_weights_path(W));
    return st;
}

int ae_sr3_multiple(const ae_sr3 *m) { return 1 << (m->n_levels - 1); }

/* GroupNorm -> SiLU -> conv into a new tensor *y. */
static ae_status gn_silu_conv(const ae_backend *be, ae_arena *A, const ae_gn *gn, const ae_conv *cv,
                              const ae_tensor *x, ae_tensor *y) {
    ae_tensor a = {0};
    ae_status st = ae_arena_tensor(A, &a, x->n, x->c, x->h, x->w);
    if (st == AE_OK) st = ae_gn_forward(be, A, gn, x, &a);
    if (st == AE_OK) st = ae_nn_activation(be, A, AE_ACT_SILU, 0.0f, &a, &a);
    if (st == AE_OK) st = ae_conv_forward_new(be, A, cv, &a, y);
    ae_arena_release(A, &a);
    return st;
}

/* ResnetBlocWithAttn: new tensor *y from x and the embedding t. */
static ae_status res_forward(const ae_backend *be, ae_arena *A, const ae_sr3_res *r, const ae_tensor *x,
                             const ae_tensor *t, ae_tensor *y) {
    ae_tensor h1 = {0}, h2 = {0}, f = {0}, sk = {0};
    ae_status st = gn_silu_conv(be, A, &r->gn1, &r->conv1, x, &h1);
    if (st == AE_OK) st = ae_arena_tensor(A, &f, 1, 2 * r->cout, 1, 1);
    if (st == AE_OK) st = ae_linear_forward(be, A, &r->film, t, &f);
    if (st == AE_OK) {
        ae_tensor scale = ae_tensor_make(f.data, 1, r->cout, 1, 1);
        ae_tensor shift = ae_tensor_make(f.data + r->cout, 1, r->cout, 1, 1);
        st = ae_nn_scale_shift(be, A, &h1, &scale, 1.0f, &shift, &h1);
    }
    ae_arena_release(A, &f);
    if (st == AE_OK) st = gn_silu_conv(be, A, &r->gn2, &r->conv2, &h1, &h2);
    ae_arena_release(A, &h1);
    if (st == AE_OK && r->res_conv.w) {
        st = ae_conv_forward_new(be, A, &r->res_conv, x, &sk);
        if (st == AE_OK) st = ae_nn_add(be, A, &h2, &sk, &h2);
        ae_arena_release(A, &sk);
    } else if (st == AE_OK) {
        st = ae_nn_add(be, A, &h2, x, &h2);
    }
    if (st == AE_OK && r->with_attn) {
        st = ae_arena_tensor(A, y, h2.n, h2.c, h2.h, h2.w);
        if (st == AE_OK) st = ae_attn_block_forward(be, A, &r->attn, &h2, y);
        ae_arena_release(A, &h2);
    } else {
        *y = h2;
    }
    return st;
}

/* Any non-res layer: conv (CONV, DOWN) or nearest x2 + conv (UP). */
static ae_status layer_forward(const ae_backend *be, ae_arena *A, const ae_sr3_layer *L, const ae_tensor *x,
                               const ae_tensor *t, ae_tensor *y) {
    if (L->kind == AE_SR3_RES) return res_forward(be, A, &L->res, x, t, y);
    if (L->kind != AE_SR3_UP) return ae_conv_forward_new(be, A, &L->conv, x, y);
    ae_tensor u = {0};
    ae_status st = ae_arena_tensor(A, &u, x->n, x->c, x->h * 2, x->w * 2);
    if (st == AE_OK) st = ae_nn_upsample(be, A, AE_UPSAMPLE_NEAREST, x, &u);
    if (st == AE_OK) st = ae_conv_forward_new(be, A, &L->conv, &u, y);
    ae_arena_release(A, &u);
    return st;
}

static ae_status embed(const ae_sr3 *m, const ae_backend *be, ae_arena *A, float gamma, ae_tensor *t) {
    ae_tensor e = {0}, h = {0};
    ae_status st = ae_arena_tensor(A, &e, 1, m->inner, 1, 1);
    if (st == AE_OK) st = ae_nn_noise_embed(be, A, &gamma, &e);
    if (st == AE_OK) st = ae_arena_tensor(A, &h, 1, 4 * m->inner, 1, 1);
    if (st == AE_OK) st = ae_linear_forward(be, A, &m->mlp1, &e, &h);
    if (st == AE_OK) st = ae_nn_activation(be, A, AE_ACT_SILU, 0.0f, &h, &h);
    if (st == AE_OK) st = ae_arena_tensor(A, t, 1, m->inner, 1, 1);
    if (st == AE_OK) st = ae_linear_forward(be, A, &m->mlp2, &h, t);
    ae_arena_release(A, &e);
    ae_arena_release(A, &h);
    return st;
}

ae_status ae_sr3_forward(const ae_sr3 *m, const ae_backend *be, ae_arena *A, const ae_tensor *x,
                         float gamma, ae_tensor *eps) {
    int mul = ae_sr3_multiple(m);
    ae_status st = ae_tensor_expect(x, 1, m->in_channel, -1, -1, "sr3 input");
    if (st == AE_OK && (x->h % mul || x->w % mul))
        st = ae_error_set(AE_ERR_SHAPE, "sr3 input: %dx%d is not a multiple of %d", x->h, x->w, mul);
    if (st == AE_OK) st = ae_tensor_expect(eps, 1, m->out_channel, x->h, x->w, "sr3 output");
    if (st != AE_OK) return st;
    ae_tensor t = {0}, feats[AE_SR3_MAX_LAYERS], cur = *x, nx, cat;
    int nf = 0;
    st = embed(m, be, A, gamma, &t);
    for (int i = 0; i < m->n_downs && st == AE_OK; i++) {
        memset(&nx, 0, sizeof nx);
        st = layer_forward(be, A, &m->downs[i], &cur, &t, &nx);
        feats[nf++] = cur = nx;
    }
    for (int i = 0; i < 2 && st == AE_OK; i++) {
        memset(&nx, 0, sizeof nx);
        st = layer_forward(be, A, &m->mid[i], &cur, &t, &nx);
        if (i == 1) ae_arena_release(A, &cur); /* mid.0's output; the input is a feature */
        cur = nx;
    }
    for (int i = 0; i < m->n_ups && st == AE_OK; i++) {
        const ae_sr3_layer *L = &m->ups[i];
        memset(&nx, 0, sizeof nx);
        memset(&cat, 0, sizeof cat);
        if (L->kind == AE_SR3_RES) {
            ae_tensor *skip = &feats[--nf];
            const ae_tensor *parts[2] = {&cur, skip};
            st = ae_arena_tensor(A, &cat, 1, cur.c + skip->c, cur.h, cur.w);
            if (st == AE_OK) st = ae_nn_concat(be, A, parts, 2, &cat);
            ae_arena_release(A, &cur);
            ae_arena_release(A, skip);
            if (st == AE_OK) st = layer_forward(be, A, L, &cat, &t, &nx);
            ae_arena_release(A, &cat);
        } else {
            st = layer_forward(be, A, L, &cur, &t, &nx);
            ae_arena_release(A, &cur);
        }
        cur = nx;
    }
    if (st == AE_OK) {
        ae_tensor a = {0};
        st = ae_arena_tensor(A, &a, cur.n, cur.c, cur.h, cur.w);
        if (st == AE_OK) st = ae_gn_forward(be, A, &m->final_gn, &cur, &a);
        if (st == AE_OK) st = ae_nn_activation(be, A, AE_ACT_SILU, 0.0f, &a, &a);
        if (st == AE_OK) st = ae_conv_forward(be, A, &m->final_conv, &a, eps);
        ae_arena_release(A, &a);
    }
    ae_arena_release(A, &cur);
    ae_arena_release(A, &t);
    return st;
}
