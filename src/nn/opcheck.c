/* opcheck.c - argument checks every backend runs before an op, so that the
 * CPU and CUDA backends refuse the same calls with the same messages. */
#include "astroenh/backend.h"

ae_status ae_check_same(const char *op, const ae_tensor *a, const ae_tensor *b) {
    if (ae_tensor_same_shape(a, b)) return AE_OK;
    char s1[64], s2[64];
    return ae_error_set(AE_ERR_SHAPE, "%s: shapes differ: %s vs %s", op,
                        ae_tensor_shape_str(a, s1, sizeof s1), ae_tensor_shape_str(b, s2, sizeof s2));
}

ae_status ae_check_layer_io(const char *op, const ae_tensor *x, const ae_tensor *y, int cin, int cout, int oh,
                            int ow) {
    char a[64], b[64];
    if (x->c != cin)
        return ae_error_set(AE_ERR_SHAPE, "%s: input %s has %d channels, the layer expects %d", op,
                            ae_tensor_shape_str(x, a, sizeof a), x->c, cin);
    if (y->n != x->n || y->c != cout || y->h != oh || y->w != ow)
        return ae_error_set(AE_ERR_SHAPE, "%s: output is %s, expected %dx%dx%dx%d for input %s", op,
                            ae_tensor_shape_str(y, a, sizeof a), x->n, cout, oh, ow,
                            ae_tensor_shape_str(x, b, sizeof b));
    return AE_OK;
}

static ae_status check_vec(const char *what, const ae_tensor *v, const ae_tensor *x) {
    if (!v) return AE_OK;
    if ((v->n == x->n || v->n == 1) && v->c == x->c && v->h == 1 && v->w == 1) return AE_OK;
    char s1[64], s2[64];
    return ae_error_set(AE_ERR_SHAPE, "scale_shift: %s is %s, expected %dx%dx1x1 (or 1x%dx1x1) for %s",
                        what, ae_tensor_shape_str(v, s1, sizeof s1), x->n, x->c, x->c,
                        ae_tensor_shape_str(x, s2, sizeof s2));
}

ae_status ae_check_scale_shift(const ae_tensor *x, const ae_tensor *scale, const ae_tensor *shift,
                               const ae_tensor *y) {
    ae_status st = ae_check_same("scale_shift", x, y);
    if (st == AE_OK) st = check_vec("scale", scale, x);
    if (st == AE_OK) st = check_vec("shift", shift, x);
    return st;
}

ae_status ae_check_concat(const ae_tensor *const *xs, int count, const ae_tensor *y) {
    if (count < 1) return ae_error_set(AE_ERR_ARG, "concat: no inputs");
    long csum = 0;
    for (int i = 0; i < count; i++) {
        const ae_tensor *t = xs[i];
        if (t->n != y->n || t->h != y->h || t->w != y->w) {
            char s1[64], s2[64];
            return ae_error_set(AE_ERR_SHAPE, "concat: input %d is %s, output %s", i,
                                ae_tensor_shape_str(t, s1, sizeof s1), ae_tensor_shape_str(y, s2, sizeof s2));
        }
        csum += t->c;
    }
    if (csum != y->c)
        return ae_error_set(AE_ERR_SHAPE, "concat: inputs have %ld channels, output %d", csum, y->c);
    return AE_OK;
}

static ae_status check_part(const char *name, const ae_tensor *t, const ae_tensor *q, int off,
                            const ae_attn_desc *d) {
    long last = (long)off + (long)(d->heads - 1) * d->head_stride + d->head_dim;
    if (t->n != q->n || t->h != q->h || t->w != q->w || off < 0 || last > t->c) {
        char s1[64], s2[64];
        return ae_error_set(AE_ERR_SHAPE, "attention: %s %s does not hold %d heads of %d channels "
                            "(offset %d, head stride %d) for q %s", name,
                            ae_tensor_shape_str(t, s1, sizeof s1), d->heads, d->head_dim, off,
                            d->head_stride, ae_tensor_shape_str(q, s2, sizeof s2));
    }
    return AE_OK;
}

ae_status ae_check_attention(const ae_attn_desc *d, const ae_tensor *q, const ae_tensor *k, const ae_tensor *v,
                             const ae_tensor *y) {
    if (d->heads < 1 || d->head_dim < 1 || d->head_stride < 0)
        return ae_error_set(AE_ERR_ARG, "attention: invalid heads=%d head_dim=%d head_stride=%d",
                            d->heads, d->head_dim, d->head_stride);
    ae_status st = check_part("q", q, q, d->q_off, d);
    if (st == AE_OK) st = check_part("k", k, q, d->k_off, d);
    if (st == AE_OK) st = check_part("v", v, q, d->v_off, d);
    if (st == AE_OK) st = ae_tensor_expect(y, q->n, d->heads * d->head_dim, q->h, q->w, "attention output");
    return st;
}
