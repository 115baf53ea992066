/* features.c - image features for FID/KID.
 *
 * With pytorch-fid's InceptionV3 weights (--inception, tools/eval/inception.c)
 * the features are its 2048-d pool3 of the image quantised to 8 bits, as
 * pytorch-fid loads PNGs (PIL -> uint8 -> /255): FIDs from them are the
 * published kind. Without them (they cannot be downloaded on every machine),
 * the feature network is the body of the shipped fast SR model (sr_models.SRFast:
 * head conv, residual blocks, body conv + long skip; the same layers and
 * order as src/upscale/srfast.c up to the upsampler). Each colour plane is run
 * on its own; the per-channel spatial mean and standard deviation of the body
 * output form the features. Distances from these features are labelled "not
 * comparable with published FID" wherever they are reported.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "astroenh/arena.h"
#include "astroenh/inception.h"
#include "astroenh/metrics.h"
#include "astroenh/nn.h"
#include "astroenh/srfast.h"

struct ae_featnet {
    ae_inception *inc; /* set: InceptionV3 features; NULL: fast SR body */
    ae_weights *W;
    const ae_backend *be;
    ae_arena *A;
    ae_srfast net;
    int plan_h, plan_w;
    float *host; /* channels x h x w body output of the planned size */
    char desc[160];
};

ae_status ae_featnet_load(ae_featnet **out, const char *path, const ae_backend *be) {
    *out = NULL;
    ae_featnet *f = ae_calloc(1, sizeof *f, "feature network");
    if (!f) return AE_ERR_NOMEM;
    f->be = be;
    ae_status st = ae_weights_open(&f->W, path);
    if (st == AE_OK) st = ae_srfast_load(&f->net, f->W);
    if (st == AE_OK) st = ae_arena_create(&f->A, be);
    if (st != AE_OK) {
        ae_error_prefix("feature network");
        ae_featnet_free(f);
        return st;
    }
    snprintf(f->desc, sizeof f->desc, "fast SR body (%d ch, %d blocks) of %s, mean+std per channel",
             f->net.channels, f->net.n_blocks, path);
    *out = f;
    return AE_OK;
}

ae_status ae_featnet_load_inception(ae_featnet **out, const char *path, const ae_backend *be) {
    *out = NULL;
    ae_featnet *f = ae_calloc(1, sizeof *f, "feature network");
    if (!f) return AE_ERR_NOMEM;
    f->be = be;
    ae_status st = ae_inception_load(&f->inc, path, be);
    if (st != AE_OK) {
        ae_featnet_free(f);
        return st;
    }
    *out = f;
    return AE_OK;
}

void ae_featnet_free(ae_featnet *f) {
    if (!f) return;
    ae_inception_free(f->inc);
    ae_arena_free(f->A);
    ae_weights_close(f->W);
    free(f->host);
    free(f);
}

int ae_featnet_dim(const ae_featnet *f) { return f->inc ? ae_inception_dim(f->inc) : 6 * f->net.channels; }
const char *ae_featnet_describe(const ae_featnet *f) {
    return f->inc ? ae_inception_describe(f->inc) : f->desc;
}
int ae_featnet_comparable(const ae_featnet *f) { return f->inc && ae_inception_is_pytorch_fid(f->inc); }
int ae_featnet_is_inception(const ae_featnet *f) { return f->inc != NULL; }

/* pool3 features of img as pytorch-fid computes them for an 8-bit RGB file. */
static ae_status inception_features(ae_featnet *f, const ae_image *img, float *out) {
    size_t np = (size_t)img->w * img->h;
    float *x = ae_malloc(3 * np * sizeof *x, "inception input");
    if (!x) return AE_ERR_NOMEM;
    for (int c = 0; c < 3; c++) {
        const float *p = ae_image_plane(img, img->c == 1 ? 0 : c);
        for (size_t i = 0; i < np; i++) {
            float v = isfinite(p[i]) ? p[i] : 0.0f;
            v = v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v;
            x[(size_t)c * np + i] = roundf(v * 255.0f) / 255.0f;
        }
    }
    ae_status st = ae_inception_forward(f->inc, x, img->h, img->w, out, NULL);
    free(x);
    return st;
}

/* head -> blocks -> body_end + head, downloaded to f->host (both arena passes). */
static ae_status body(ae_featnet *f, const float *xh, int h, int w) {
    const ae_srfast *m = &f->net;
    const ae_backend *be = f->be;
    ae_arena *A = f->A;
    ae_tensor x = {0}, hd = {0}, r = {0}, t1 = {0}, t2 = {0};
    ae_status st = ae_arena_tensor(A, &x, 1, 1, h, w);
    if (st == AE_OK) st = ae_nn_upload(be, A, &x, xh);
    if (st == AE_OK) st = ae_conv_forward_new(be, A, &m->head, &x, &hd);
    if (st == AE_OK) st = ae_arena_tensor(A, &r, 1, m->channels, h, w);
    if (st == AE_OK) st = ae_nn_copy(be, A, &hd, &r);
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
    if (st == AE_OK) st = ae_nn_add(be, A, &hd, &t1, &hd);
    if (st == AE_OK) st = ae_nn_download(be, A, &hd, f->host);
    if (st == AE_OK && !ae_arena_planning(A)) st = be->sync(be);
    ae_arena_reset(A);
    return st;
}

static ae_status plan(ae_featnet *f, int h, int w) {
    if (h == f->plan_h && w == f->plan_w) return AE_OK;
    size_t n;
    if (ae_mul3_size((size_t)f->net.channels, (size_t)h, (size_t)w, &n))
        return ae_error_set(AE_ERR_NOMEM, "features: image %dx%d too large", w, h);
    free(f->host);
    f->plan_h = f->plan_w = 0;
    f->host = ae_malloc(n * sizeof *f->host, "feature maps");
    if (!f->host) return AE_ERR_NOMEM;
    ae_arena_replan(f->A);
    ae_status st = body(f, NULL, h, w);
    if (st == AE_OK) st = ae_arena_commit(f->A);
    if (st == AE_OK) f->plan_h = h, f->plan_w = w;
    return st;
}

/* Block means of k x k blocks of plane [h][w] into out[h/k][w/k] (NaN as 0),
 * mapped to [-1, 1]. */
static void pool_plane(const float *p, int h, int w, int k, float *out) {
    int oh = h / k, ow = w / k;
    for (int y = 0; y < oh; y++)
        for (int x = 0; x < ow; x++) {
            double s = 0.0;
            for (int i = 0; i < k; i++)
                for (int j = 0; j < k; j++) {
                    float v = p[(size_t)(y * k + i) * w + x * k + j];
                    s += isfinite(v) ? v : 0.0f;
                }
            out[(size_t)y * ow + x] = (float)(2.0 * s / ((double)k * k) - 1.0);
        }
}

ae_status ae_featnet_features(ae_featnet *f, const ae_image *img, float *out) {
    if (img->c != 1 && img->c != 3)
        return ae_error_set(AE_ERR_ARG, "features: %d channels (1 or 3)", img->c);
    if (f->inc) return inception_features(f, img, out);
    int big = img->w > img->h ? img->w : img->h;
    int k = (big + AE_FEATNET_SIDE - 1) / AE_FEATNET_SIDE;
    int h = img->h / k, w = img->w / k;
    if (w < 4 || h < 4) return ae_error_set(AE_ERR_ARG, "features: image %dx%d too small", img->w, img->h);
    size_t np = (size_t)h * w;
    float *x = ae_malloc(np * sizeof *x, "feature input");
    if (!x) return AE_ERR_NOMEM;
    ae_status st = plan(f, h, w);
    int ch = f->net.channels;
    for (int c = 0; c < 3 && st == AE_OK; c++) {
        pool_plane(ae_image_plane(img, img->c == 1 ? 0 : c), img->h, img->w, k, x);
        st = body(f, x, h, w);
        for (int q = 0; q < ch && st == AE_OK; q++) {
            const float *v = f->host + (size_t)q * np;
            double s = 0.0, s2 = 0.0;
            for (size_t i = 0; i < np; i++) s += v[i], s2 += (double)v[i] * v[i];
            double mean = s / np, var = s2 / np - mean * mean;
            out[(size_t)c * 2 * ch + q] = (float)mean;
            out[(size_t)c * 2 * ch + ch + q] = (float)sqrt(var > 0.0 ? var : 0.0);
        }
    }
    free(x);
    return st;
}
