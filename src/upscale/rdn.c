/* rdn.c - the Residual Dense Network (UpscalerJS esrgan-* port), forward in C.
 *
 * Mirrors scripts/rdn.py RDN: names sfe1, sfe2, rdbs.d.layers.c, rdbs.d.lff,
 * gff.{0,1}, upn.{0,2,4}, sr. The dense concatenations are channel views of
 * one buffer per block (the conv of layer c reads channels [0, G0 + c*G) and
 * writes [G0 + c*G, G0 + (c+1)*G)), and each block writes its output straight
 * into its slice of the buffer gff.0 reads, so no concat copies are made.
 */
#include <stdio.h>
#include <string.h>
#include "astroenh/rdn.h"

static ae_status meta_int(ae_weights *W, const char *key, int lo, int hi, int *v) {
    *v = ae_weights_meta_int(W, key, -1);
    if (*v < lo || *v > hi)
        return ae_error_set(AE_ERR_FORMAT, "%s: metadata \"%s\" missing or outside %d..%d",
                            ae_weights_path(W), key, lo, hi);
    return AE_OK;
}

int ae_rdn_is(ae_weights *W) {
    const char *arch = ae_weights_meta(W, "arch");
    return arch && strcmp(arch, "rdn") == 0;
}

static ae_status load_meta(ae_rdn *m, ae_weights *W) {
    if (!ae_rdn_is(W))
        return ae_error_set(AE_ERR_FORMAT, "%s: not an RDN model (metadata arch=%s)", ae_weights_path(W),
                            ae_weights_meta(W, "arch") ? ae_weights_meta(W, "arch") : "none");
    ae_status st = meta_int(W, "scale", 2, 8, &m->scale);
    if (st == AE_OK) st = meta_int(W, "C", 1, AE_RDN_MAX_C, &m->C);
    if (st == AE_OK) st = meta_int(W, "D", 1, AE_RDN_MAX_D, &m->D);
    if (st == AE_OK) st = meta_int(W, "G", 1, 1024, &m->G);
    if (st == AE_OK) st = meta_int(W, "G0", 1, 1024, &m->G0);
    if (st == AE_OK) st = meta_int(W, "in_channels", 1, 3, &m->cin);
    if (st == AE_OK) st = meta_int(W, "out_channels", 1, 3, &m->cout);
    if (st == AE_OK) st = meta_int(W, "up_channels", 1, 64, &m->up_ch);
    if (st != AE_OK) return st;
    const char *mid = ae_weights_meta(W, "up_mid");
    char tail;
    if (!mid || sscanf(mid, "%d,%d%c", &m->up_mid[0], &m->up_mid[1], &tail) != 2 || m->up_mid[0] < 1 ||
        m->up_mid[0] > 1024 || m->up_mid[1] < 1 || m->up_mid[1] > 1024)
        return ae_error_set(AE_ERR_FORMAT, "%s: metadata \"up_mid\" missing or not two widths \"a,b\"",
                            ae_weights_path(W));
    return AE_OK;
}

ae_status ae_rdn_load(ae_rdn *m, ae_weights *W) {
    memset(m, 0, sizeof *m);
    ae_status st = load_meta(m, W);
    if (st != AE_OK) return st;
    int g0 = m->G0, g = m->G, s2 = m->scale * m->scale;
    char name[64];
    st = ae_conv_load(&m->sfe1, W, "sfe1", m->cin, g0, 3, 1, 1, 1, 1, 1);
    if (st == AE_OK) st = ae_conv_load(&m->sfe2, W, "sfe2", g0, g0, 3, 1, 1, 1, 1, 1);
    for (int d = 0; d < m->D && st == AE_OK; d++) {
        for (int c = 0; c < m->C && st == AE_OK; c++) {
            snprintf(name, sizeof name, "rdbs.%d.layers.%d", d, c);
            st = ae_conv_load(&m->dense[d][c], W, name, g0 + c * g, g, 3, 1, 1, 1, 1, 1);
        }
        snprintf(name, sizeof name, "rdbs.%d.lff", d);
        if (st == AE_OK) st = ae_conv_load(&m->lff[d], W, name, g0 + m->C * g, g0, 1, 1, 0, 1, 1, 1);
    }
    if (st == AE_OK) st = ae_conv_load(&m->gff[0], W, "gff.0", m->D * g0, g0, 1, 1, 0, 1, 1, 1);
    if (st == AE_OK) st = ae_conv_load(&m->gff[1], W, "gff.1", g0, g0, 3, 1, 1, 1, 1, 1);
    if (st == AE_OK) st = ae_conv_load(&m->upn[0], W, "upn.0", g0, m->up_mid[0], 5, 1, 2, 1, 1, 1);
    if (st == AE_OK) st = ae_conv_load(&m->upn[1], W, "upn.2", m->up_mid[0], m->up_mid[1], 3, 1, 1, 1, 1, 1);
    if (st == AE_OK) st = ae_conv_load(&m->upn[2], W, "upn.4", m->up_mid[1], m->up_ch * s2, 3, 1, 1, 1, 1, 1);
    if (st == AE_OK) st = ae_conv_load(&m->sr, W, "sr", m->up_ch * s2, m->cout, 3, 1, 1, 1, 1, 1);
    if (st == AE_OK) st = ae_weights_check_all_used(W);
    return st;
}

int ae_rdn_radius(const ae_rdn *m) {
    /* sfe1, sfe2, C 3x3 per block, gff.1, upn 5x5 + 3x3 + 3x3, sr (at most 1 input px) */
    return 1 + 1 + m->D * m->C + 1 + 2 + 1 + 1 + 1;
}

/* Channels [c0, c0 + n) of a 1 x C x h x w tensor, sharing its memory. */
static ae_tensor channels(const ae_tensor *t, int c0, int n) {
    ae_tensor v = *t;
    v.data = t->data + (size_t)c0 * t->h * t->w;
    v.c = n;
    return v;
}

/* y = x * a + b on every channel (b through a 1 x C x 1 x 1 tensor). */
static ae_status affine(const ae_backend *be, ae_arena *A, const ae_tensor *x, float a, float b, ae_tensor *y) {
    ae_tensor shift = {0};
    float host[3] = {b, b, b};
    ae_status st = ae_arena_tensor(A, &shift, 1, x->c, 1, 1);
    if (st == AE_OK) st = ae_nn_upload(be, A, &shift, host);
    if (st == AE_OK) st = ae_nn_scale_shift(be, A, x, NULL, a, &shift, y);
    ae_arena_release(A, &shift);
    return st;
}

/* Dense block d: in (G0 channels) -> out (a G0-channel view). */
static ae_status dense_block(const ae_rdn *m, int d, const ae_backend *be, ae_arena *A, const ae_tensor *in,
                             ae_tensor *out) {
    ae_tensor buf = {0};
    ae_status st = ae_arena_tensor(A, &buf, 1, m->G0 + m->C * m->G, in->h, in->w);
    ae_tensor head = channels(&buf, 0, m->G0);
    if (st == AE_OK) st = ae_nn_copy(be, A, in, &head);
    for (int c = 0; c < m->C && st == AE_OK; c++) {
        ae_tensor src = channels(&buf, 0, m->G0 + c * m->G), dst = channels(&buf, m->G0 + c * m->G, m->G);
        st = ae_conv_forward(be, A, &m->dense[d][c], &src, &dst);
        if (st == AE_OK) st = ae_nn_activation(be, A, AE_ACT_RELU, 0.0f, &dst, &dst);
    }
    if (st == AE_OK) st = ae_conv_forward(be, A, &m->lff[d], &buf, out);
    if (st == AE_OK) st = ae_nn_add(be, A, out, in, out);
    ae_arena_release(A, &buf);
    return st;
}

/* sfe1 -> sfe2 -> dense blocks -> gff + sfe1: the G0-channel features at input size. */
static ae_status features(const ae_rdn *m, const ae_backend *be, ae_arena *A, const ae_tensor *x255,
                          ae_tensor *f) {
    ae_tensor f1 = {0}, h = {0}, all = {0}, g = {0};
    ae_status st = ae_conv_forward_new(be, A, &m->sfe1, x255, &f1);
    if (st == AE_OK) st = ae_conv_forward_new(be, A, &m->sfe2, &f1, &h);
    if (st == AE_OK) st = ae_arena_tensor(A, &all, 1, m->D * m->G0, x255->h, x255->w);
    for (int d = 0; d < m->D && st == AE_OK; d++) {
        ae_tensor in = d ? channels(&all, (d - 1) * m->G0, m->G0) : h;
        ae_tensor out = channels(&all, d * m->G0, m->G0);
        st = dense_block(m, d, be, A, &in, &out);
    }
    ae_arena_release(A, &h);
    if (st == AE_OK) st = ae_conv_forward_new(be, A, &m->gff[0], &all, &g);
    ae_arena_release(A, &all);
    if (st == AE_OK) st = ae_conv_forward_new(be, A, &m->gff[1], &g, f);
    if (st == AE_OK) st = ae_nn_add(be, A, f, &f1, f);
    ae_arena_release(A, &g);
    ae_arena_release(A, &f1);
    return st;
}

ae_status ae_rdn_forward(const ae_rdn *m, const ae_backend *be, ae_arena *A, const ae_tensor *x,
                         ae_tensor *y) {
    ae_status st = ae_tensor_expect(x, 1, m->cin, -1, -1, "rdn input");
    if (st == AE_OK) st = ae_tensor_expect(y, 1, m->cout, x->h * m->scale, x->w * m->scale, "rdn output");
    if (st != AE_OK) return st;
    ae_tensor x255 = {0}, f = {0}, u1 = {0}, u2 = {0}, u3 = {0}, up = {0};
    st = ae_arena_tensor(A, &x255, 1, m->cin, x->h, x->w);
    if (st == AE_OK) st = affine(be, A, x, 127.5f, 127.5f, &x255);
    if (st == AE_OK) st = features(m, be, A, &x255, &f);
    ae_arena_release(A, &x255);
    if (st == AE_OK) st = ae_conv_forward_new(be, A, &m->upn[0], &f, &u1);
    ae_arena_release(A, &f);
    if (st == AE_OK) st = ae_nn_activation(be, A, AE_ACT_RELU, 0.0f, &u1, &u1);
    if (st == AE_OK) st = ae_conv_forward_new(be, A, &m->upn[1], &u1, &u2);
    ae_arena_release(A, &u1);
    if (st == AE_OK) st = ae_nn_activation(be, A, AE_ACT_RELU, 0.0f, &u2, &u2);
    if (st == AE_OK) st = ae_conv_forward_new(be, A, &m->upn[2], &u2, &u3);
    ae_arena_release(A, &u2);
    if (st == AE_OK) st = ae_arena_tensor(A, &up, 1, u3.c, y->h, y->w);
    if (st == AE_OK) st = ae_nn_upsample(be, A, AE_UPSAMPLE_NEAREST, &u3, &up);
    ae_arena_release(A, &u3);
    if (st == AE_OK) st = ae_conv_forward(be, A, &m->sr, &up, y);
    ae_arena_release(A, &up);
    if (st == AE_OK) st = affine(be, A, y, 1.0f / 127.5f, -1.0f, y);
    return st;
}
