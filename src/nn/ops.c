/* ops.c - nn.h's wrappers for weight-less ops: check the backend supports
 * the op and the shapes fit, book workspace, and skip compute while the
 * arena is planning. */
#include "astroenh/nn.h"

static ae_status gate(const ae_backend *be, ae_op op) {
    if (be->supports(be, op)) return AE_OK;
    return ae_error_set(AE_ERR_UNAVAILABLE, "backend %s does not implement %s", be->name, ae_op_name(op));
}

static ae_status same(const char *op, const ae_tensor *a, const ae_tensor *b) {
    char s1[64], s2[64];
    if (ae_tensor_same_shape(a, b)) return AE_OK;
    return ae_error_set(AE_ERR_SHAPE, "%s: shapes differ: %s vs %s", op,
                        ae_tensor_shape_str(a, s1, sizeof s1), ae_tensor_shape_str(b, s2, sizeof s2));
}

ae_status ae_nn_activation(const ae_backend *be, ae_arena *A, ae_act kind, float alpha,
                           const ae_tensor *x, ae_tensor *y) {
    ae_status st = gate(be, AE_OP_ACTIVATION);
    if (st == AE_OK) st = same("activation", x, y);
    if (st || ae_arena_planning(A)) return st;
    return be->activation(be, kind, alpha, x, y);
}

ae_status ae_nn_add(const ae_backend *be, ae_arena *A, const ae_tensor *a, const ae_tensor *b,
                    ae_tensor *y) {
    ae_status st = gate(be, AE_OP_ADD);
    if (st == AE_OK) st = same("add", a, b);
    if (st == AE_OK) st = same("add", a, y);
    if (st || ae_arena_planning(A)) return st;
    return be->add(be, a, b, y);
}

ae_status ae_nn_mul(const ae_backend *be, ae_arena *A, const ae_tensor *a, const ae_tensor *b,
                    ae_tensor *y) {
    ae_status st = gate(be, AE_OP_MUL);
    if (st == AE_OK) st = same("mul", a, b);
    if (st == AE_OK) st = same("mul", a, y);
    if (st || ae_arena_planning(A)) return st;
    return be->mul(be, a, b, y);
}

ae_status ae_nn_scale_shift(const ae_backend *be, ae_arena *A, const ae_tensor *x,
                            const ae_tensor *scale, float scale_bias, const ae_tensor *shift,
                            ae_tensor *y) {
    ae_status st = gate(be, AE_OP_SCALE_SHIFT);
    if (st == AE_OK) st = same("scale_shift", x, y);
    for (int i = 0; i < 2 && st == AE_OK; i++) {
        const ae_tensor *v = i ? shift : scale;
        if (v && ((v->n != x->n && v->n != 1) || v->c != x->c || v->h != 1 || v->w != 1))
            st = ae_tensor_expect(v, x->n, x->c, 1, 1, i ? "scale_shift shift" : "scale_shift scale");
    }
    if (st || ae_arena_planning(A)) return st;
    return be->scale_shift(be, x, scale, scale_bias, shift, y);
}

ae_status ae_nn_concat(const ae_backend *be, ae_arena *A, const ae_tensor *const *xs, int count,
                       ae_tensor *y) {
    ae_status st = gate(be, AE_OP_CONCAT);
    long c = 0;
    for (int i = 0; i < count && st == AE_OK; i++) {
        st = ae_tensor_expect(xs[i], y->n, -1, y->h, y->w, "concat input");
        c += xs[i]->c;
    }
    if (st == AE_OK && (count < 1 || c != y->c))
        st = ae_error_set(AE_ERR_SHAPE, "concat: %d inputs with %ld channels, output has %d", count, c, y->c);
    if (st || ae_arena_planning(A)) return st;
    return be->concat(be, xs, count, y);
}

ae_status ae_nn_copy(const ae_backend *be, ae_arena *A, const ae_tensor *x, ae_tensor *y) {
    ae_status st = gate(be, AE_OP_COPY);
    if (st == AE_OK) st = same("copy", x, y);
    if (st || ae_arena_planning(A)) return st;
    return be->copy(be, x, y);
}

ae_status ae_nn_upsample(const ae_backend *be, ae_arena *A, ae_upsample_mode mode, const ae_tensor *x,
                         ae_tensor *y) {
    ae_status st = gate(be, AE_OP_UPSAMPLE);
    if (st == AE_OK) st = ae_tensor_expect(y, x->n, x->c, -1, -1, "upsample output");
    if (st || ae_arena_planning(A)) return st;
    return be->upsample(be, mode, x, y);
}

ae_status ae_nn_pool(const ae_backend *be, ae_arena *A, const ae_pool_desc *d, const ae_tensor *x,
                     ae_tensor *y) {
    int oh, ow;
    ae_status st = gate(be, AE_OP_POOL);
    if (st == AE_OK) st = ae_pool_out_hw(d, x->h, x->w, &oh, &ow);
    if (st == AE_OK) st = ae_tensor_expect(y, x->n, x->c, oh, ow, "pool output");
    if (st || ae_arena_planning(A)) return st;
    return be->pool(be, d, x, y);
}

ae_status ae_nn_pixel_shuffle(const ae_backend *be, ae_arena *A, int r, const ae_tensor *x,
                              ae_tensor *y) {
    ae_status st = gate(be, AE_OP_PIXEL_SHUFFLE);
    if (st == AE_OK && (r < 1 || x->c % (r * r)))
        st = ae_error_set(AE_ERR_SHAPE, "pixel_shuffle: %d channels are not a multiple of %d", x->c, r * r);
    if (st == AE_OK) st = ae_tensor_expect(y, x->n, x->c / (r * r), x->h * r, x->w * r, "pixel_shuffle output");
    if (st || ae_arena_planning(A)) return st;
    return be->pixel_shuffle(be, r, x, y);
}

ae_status ae_nn_attention(const ae_backend *be, ae_arena *A, const ae_attn_desc *d,
                          const ae_tensor *q, const ae_tensor *k, const ae_tensor *v, ae_tensor *y) {
    ae_status st = gate(be, AE_OP_ATTENTION);
    if (st == AE_OK) st = ae_tensor_expect(y, q->n, d->heads * d->head_dim, q->h, q->w, "attention output");
    if (st) return st;
    size_t wsb = be->attention_ws(be, d, q);
    float *ws;
    st = ae_arena_scratch(A, wsb, &ws);
    if (st) return st;
    if (!ae_arena_planning(A)) st = be->attention(be, d, q, k, v, y, ws, wsb);
    ae_arena_scratch_release(A, ws);
    return st;
}

ae_status ae_nn_noise_embed(const ae_backend *be, ae_arena *A, const float *gamma, ae_tensor *y) {
    ae_status st = gate(be, AE_OP_NOISE_EMBED);
    if (st == AE_OK && (y->c % 2 || y->h != 1 || y->w != 1))
        st = ae_tensor_expect(y, y->n, y->c + (y->c & 1), 1, 1, "noise_embed output");
    if (st || ae_arena_planning(A)) return st;
    return be->noise_embed(be, gamma, y);
}

ae_status ae_nn_upload(const ae_backend *be, ae_arena *A, ae_tensor *t, const float *host) {
    if (ae_arena_planning(A)) return AE_OK;
    return be->upload(be, t->data, host, ae_tensor_bytes(t));
}

ae_status ae_nn_download(const ae_backend *be, ae_arena *A, const ae_tensor *t, float *host) {
    if (ae_arena_planning(A)) return AE_OK;
    return be->download(be, host, t->data, ae_tensor_bytes(t));
}
