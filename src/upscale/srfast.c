/* srfast.c - the fast EDSR-like super-resolution network, forward in C.
 *
 * Mirrors scripts/sr_models.py SRFast: head -> [ResBlock x n] -> body conv
 * (+ head, long skip) -> [conv ch->4ch, PixelShuffle(2)] x log2(scale) ->
 * tail, plus bicubic(x) (src/upscale/resample.c, torch's bicubic). Names:
 * head, body.i.body.{0,2}, body.n, up.{0,2}, tail.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "astroenh/srfast.h"
#include "astroenh/upscale.h"

static ae_status meta_int(ae_weights *W, const char *key, int lo, int hi, int *v) {
    *v = ae_weights_meta_int(W, key, -1);
    if (*v < lo || *v > hi)
        return ae_error_set(AE_ERR_FORMAT, "%s: metadata \"%s\" missing or outside %d..%d",
                            ae_weights_path(W), key, lo, hi);
    return AE_OK;
}

ae_status ae_srfast_load(ae_srfast *m, ae_weights *W) {
    memset(m, 0, sizeof *m);
    const char *arch = ae_weights_meta(W, "arch");
    if (!arch || strcmp(arch, "srfast") != 0)
        return ae_error_set(AE_ERR_FORMAT, "%s: not a fast SR model (metadata arch=%s)",
                            ae_weights_path(W), arch ? arch : "none");
    ae_status st = meta_int(W, "scale", 2, 4, &m->scale);
    if (st == AE_OK && m->scale != 2 && m->scale != 4)
        st = ae_error_set(AE_ERR_FORMAT, "%s: scale %d (2 or 4)", ae_weights_path(W), m->scale);
    if (st == AE_OK) st = meta_int(W, "channels", 1, 1024, &m->channels);
    if (st == AE_OK) st = meta_int(W, "n_blocks", 0, AE_SRFAST_MAX_BLOCKS, &m->n_blocks);
    const char *rs = ae_weights_meta(W, "res_scale");
    char *end = NULL;
    m->res_scale = rs ? strtof(rs, &end) : 0.0f;
    if (st == AE_OK && (!rs || !end || *end || !(m->res_scale > 0.0f)))
        st = ae_error_set(AE_ERR_FORMAT, "%s: metadata \"res_scale\" missing or bad", ae_weights_path(W));
    if (st != AE_OK) return st;
    int ch = m->channels;
    char name[64];
    st = ae_conv_load(&m->head, W, "head", 1, ch, 3, 1, 1, 1, 1, 1);
    for (int i = 0; i < m->n_blocks && st == AE_OK; i++) {
        snprintf(name, sizeof name, "body.%d.body.0", i);
        st = ae_conv_load(&m->body[i][0], W, name, ch, ch, 3, 1, 1, 1, 1, 1);
        snprintf(name, sizeof name, "body.%d.body.2", i);
        if (st == AE_OK) st = ae_conv_load(&m->body[i][1], W, name, ch, ch, 3, 1, 1, 1, 1, 1);
    }
    snprintf(name, sizeof name, "body.%d", m->n_blocks);
    if (st == AE_OK) st = ae_conv_load(&m->body_end, W, name, ch, ch, 3, 1, 1, 1, 1, 1);
    int stages = m->scale == 4 ? 2 : 1;
    for (int i = 0; i < stages && st == AE_OK; i++) {
        snprintf(name, sizeof name, "up.%d", 2 * i);
        st = ae_conv_load(&m->up[i], W, name, ch, 4 * ch, 3, 1, 1, 1, 1, 1);
    }
    if (st == AE_OK) st = ae_conv_load(&m->tail, W, "tail", ch, 1, 3, 1, 1, 1, 1, 1);
    if (st == AE_OK) st = ae_weights_check_all_used(W);
    return st;
}

int ae_srfast_radius(const ae_srfast *m) {
    /* 3x3 convs at input resolution, plus the upsampler/tail/bicubic at most 2 more */
    return 3 + 2 * m->n_blocks + 4;
}

/* y = bicubic(x) added into out (host round trip; skipped while planning). */
static ae_status add_bicubic(const ae_backend *be, ae_arena *A, const ae_tensor *x, int s,
                             ae_tensor *out) {
    if (ae_arena_planning(A)) return AE_OK;
    size_t nx = ae_tensor_numel(x), ny = ae_tensor_numel(out);
    float *hx = ae_malloc(nx * sizeof *hx, "srfast bicubic input");
    float *hy = hx ? ae_malloc(ny * sizeof *hy, "srfast bicubic output") : NULL;
    float *ho = hy ? ae_malloc(ny * sizeof *ho, "srfast output") : NULL;
    ae_status st = ho ? AE_OK : AE_ERR_NOMEM;
    if (st == AE_OK) st = ae_nn_download(be, A, x, hx);
    if (st == AE_OK) st = ae_nn_download(be, A, out, ho);
    if (st == AE_OK) {
        ae_bicubic_up(hy, hx, x->c, x->h, x->w, s);
        for (size_t i = 0; i < ny; i++) ho[i] += hy[i];
        st = ae_nn_upload(be, A, out, ho);
    }
    free(hx);
    free(hy);
    free(ho);
    return st;
}

ae_status ae_srfast_forward(const ae_srfast *m, const ae_backend *be, ae_arena *A, const ae_tensor *x,
                            ae_tensor *y) {
    ae_status st = ae_tensor_expect(x, 1, 1, -1, -1, "srfast input");
    if (st == AE_OK) st = ae_tensor_expect(y, 1, 1, x->h * m->scale, x->w * m->scale, "srfast output");
    if (st != AE_OK) return st;
    ae_tensor h = {0}, r = {0}, t1 = {0}, t2 = {0}, u = {0}, p = {0};
    st = ae_conv_forward_new(be, A, &m->head, x, &h);
    if (st == AE_OK) st = ae_arena_tensor(A, &r, 1, m->channels, x->h, x->w);
    if (st == AE_OK) st = ae_nn_copy(be, A, &h, &r);
    for (int i = 0; i < m->n_blocks && st == AE_OK; i++) {
        st = ae_conv_forward_new(be, A, &m->body[i][0], &r, &t1);
        if (st == AE_OK) st = ae_nn_activation(be, A, AE_ACT_RELU, 0.0f, &t1, &t1);
        if (st == AE_OK) st = ae_conv_forward_new(be, A, &m->body[i][1], &t1, &t2);
        if (st == AE_OK) st = ae_nn_scale_shift(be, A, &t2, NULL, m->res_scale, NULL, &t2);
        if (st == AE_OK) st = ae_nn_add(be, A, &r, &t2, &r);
        ae_arena_release(A, &t1);
        ae_arena_release(A, &t2);
    }
    if (st == AE_OK) st = ae_conv_forward_new(be, A, &m->body_end, &r, &t1);
    if (st == AE_OK) st = ae_nn_add(be, A, &h, &t1, &h);
    ae_arena_release(A, &r);
    ae_arena_release(A, &t1);
    int stages = m->scale == 4 ? 2 : 1;
    for (int i = 0; i < stages && st == AE_OK; i++) {
        st = ae_conv_forward_new(be, A, &m->up[i], &h, &u);
        if (st == AE_OK) st = ae_arena_tensor(A, &p, 1, m->channels, u.h * 2, u.w * 2);
        if (st == AE_OK) st = ae_nn_pixel_shuffle(be, A, 2, &u, &p);
        ae_arena_release(A, &u);
        ae_arena_release(A, &h);
        h = p;
        memset(&p, 0, sizeof p);
    }
    if (st == AE_OK) st = ae_conv_forward(be, A, &m->tail, &h, y);
    ae_arena_release(A, &h);
    if (st == AE_OK) st = add_bicubic(be, A, x, m->scale, y);
    return st;
}
