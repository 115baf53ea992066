/* inception.c - pytorch-fid's FID InceptionV3 (pytorch_fid/inception.py: torchvision's
 * Inception3 with FIDInceptionA/C/E_1/E_2) on the engine's ops, up to pool3.
 *
 * Every BasicConv2d (conv without bias, BatchNorm eps 0.001, ReLU) becomes one conv with
 * bias: the eval-mode BatchNorm is folded into the weights at load time
 * (w' = w g / sqrt(v + eps), b' = beta - mean g / sqrt(v + eps)), which is exact up to
 * rounding and halves the passes over the activations. Branches are concatenated in
 * torchvision's order. The [0,1] -> [-1,1] scaling is done on the host before the bilinear
 * resize (the two commute: bilinear weights sum to 1). Checked against
 * scripts/fid_inception.py by tests/test_inception.c.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "astroenh/arena.h"
#include "astroenh/inception.h"
#include "astroenh/nn.h"
#include "astroenh/safetensors.h"

#define BN_EPS 0.001
#define N_CONVS 94

typedef struct { ae_conv b1, b5[2], dbl[3], pool; } block_a;     /* FIDInceptionA */
typedef struct { ae_conv b3, dbl[3]; } block_b;                  /* InceptionB */
typedef struct { ae_conv b1, b7[3], dbl[5], pool; } block_c;     /* FIDInceptionC */
typedef struct { ae_conv b3[2], b7[4]; } block_d;                /* InceptionD */
typedef struct { ae_conv b1, b3, b3a, b3b, dbl[2], dbla, dblb, pool; } block_e; /* FIDInceptionE */

struct ae_inception {
    ae_weights *W;
    const ae_backend *be;
    ae_arena *A;
    ae_conv stem[5]; /* Conv2d_1a_3x3 2a 2b (maxpool) 3b 4a (maxpool) */
    block_a a[3];    /* Mixed_5b..5d */
    block_b b;       /* Mixed_6a */
    block_c c[4];    /* Mixed_6b..6e */
    block_d d;       /* Mixed_7a */
    block_e e[2];    /* Mixed_7b (avg pool branch), Mixed_7c (max pool branch) */
    int dim, c5d, c6e, pytorch_fid;
    float *folded[N_CONVS];
    int n_folded;
    int plan_h, plan_w;
    float *xs; /* the input scaled to [-1,1], 3 x plan_h x plan_w */
    char desc[256];
};

/* ---- loading ------------------------------------------------------------ */

/* BasicConv2d `prefix` (prefix.conv.weight [cout, cin, kh, kw], prefix.bn.*) with BN folded;
 * cout is read from the file. */
static ae_status basic_load(ae_inception *m, const char *prefix, int cin, int kh, int kw, int stride,
                            int ph, int pw, ae_conv *c) {
    char name[128];
    int64_t s[4];
    snprintf(name, sizeof name, "%s.conv.weight", prefix);
    if (ae_weights_shape(m->W, name, s, 4) != 4 || s[0] < 1 || s[0] > 65536)
        return ae_error_set(AE_ERR_SHAPE, "%s: tensor %s missing or not a 4-d conv weight",
                            ae_weights_path(m->W), name);
    int cout = (int)s[0];
    const float *w;
    s[1] = cin, s[2] = kh, s[3] = kw;
    ae_status st = ae_weights_get(m->W, name, 4, s, &w);
    ae_bn bn;
    snprintf(name, sizeof name, "%s.bn", prefix);
    if (st == AE_OK) st = ae_bn_load(&bn, m->W, name, cout, (float)BN_EPS, 1);
    if (st != AE_OK) return st;
    size_t per = (size_t)cin * kh * kw;
    if (m->n_folded >= N_CONVS) return ae_error_set(AE_ERR_FORMAT, "inception: more than %d convs", N_CONVS);
    float *f = ae_malloc(((size_t)cout * per + cout) * sizeof *f, "folded inception conv");
    if (!f) return AE_ERR_NOMEM;
    m->folded[m->n_folded++] = f;
    for (int o = 0; o < cout; o++) {
        double g = bn.gamma[o] / sqrt((double)bn.var[o] + BN_EPS);
        for (size_t i = 0; i < per; i++) f[(size_t)o * per + i] = (float)(w[(size_t)o * per + i] * g);
        f[(size_t)cout * per + o] = (float)(bn.beta[o] - bn.mean[o] * g);
    }
    c->w = f;
    c->b = f + (size_t)cout * per;
    c->d = (ae_conv2d_desc){cin, cout, kh, kw, stride, stride, ph, pw, 1, 1, 1};
    return AE_OK;
}

/* Square kernel k, padding k/2 when `same`, else 0. */
static ae_status sq(ae_inception *m, const char *blk, const char *leaf, int cin, int k, int stride,
                    int same, ae_conv *c) {
    char p[96];
    snprintf(p, sizeof p, "%s%s%s", blk, *blk ? "." : "", leaf);
    return basic_load(m, p, cin, k, k, stride, same ? k / 2 : 0, same ? k / 2 : 0, c);
}

/* 1 x k (horizontal, 0) or k x 1 (vertical, 1) kernel with "same" padding. */
static ae_status line(ae_inception *m, const char *blk, const char *leaf, int cin, int k, int vertical,
                      ae_conv *c) {
    char p[96];
    snprintf(p, sizeof p, "%s.%s", blk, leaf);
    return vertical ? basic_load(m, p, cin, k, 1, 1, k / 2, 0, c) : basic_load(m, p, cin, 1, k, 1, 0, k / 2, c);
}

#define CO(conv) ((conv).d.cout)

static ae_status load_a(ae_inception *m, const char *n, int cin, block_a *b, int *cout) {
    ae_status st = sq(m, n, "branch1x1", cin, 1, 1, 0, &b->b1);
    if (!st) st = sq(m, n, "branch5x5_1", cin, 1, 1, 0, &b->b5[0]);
    if (!st) st = sq(m, n, "branch5x5_2", CO(b->b5[0]), 5, 1, 1, &b->b5[1]);
    if (!st) st = sq(m, n, "branch3x3dbl_1", cin, 1, 1, 0, &b->dbl[0]);
    if (!st) st = sq(m, n, "branch3x3dbl_2", CO(b->dbl[0]), 3, 1, 1, &b->dbl[1]);
    if (!st) st = sq(m, n, "branch3x3dbl_3", CO(b->dbl[1]), 3, 1, 1, &b->dbl[2]);
    if (!st) st = sq(m, n, "branch_pool", cin, 1, 1, 0, &b->pool);
    if (!st) *cout = CO(b->b1) + CO(b->b5[1]) + CO(b->dbl[2]) + CO(b->pool);
    return st;
}

static ae_status load_b(ae_inception *m, const char *n, int cin, block_b *b, int *cout) {
    ae_status st = sq(m, n, "branch3x3", cin, 3, 2, 0, &b->b3);
    if (!st) st = sq(m, n, "branch3x3dbl_1", cin, 1, 1, 0, &b->dbl[0]);
    if (!st) st = sq(m, n, "branch3x3dbl_2", CO(b->dbl[0]), 3, 1, 1, &b->dbl[1]);
    if (!st) st = sq(m, n, "branch3x3dbl_3", CO(b->dbl[1]), 3, 2, 0, &b->dbl[2]);
    if (!st) *cout = CO(b->b3) + CO(b->dbl[2]) + cin;
    return st;
}

static ae_status load_c(ae_inception *m, const char *n, int cin, block_c *b, int *cout) {
    ae_status st = sq(m, n, "branch1x1", cin, 1, 1, 0, &b->b1);
    if (!st) st = sq(m, n, "branch7x7_1", cin, 1, 1, 0, &b->b7[0]);
    if (!st) st = line(m, n, "branch7x7_2", CO(b->b7[0]), 7, 0, &b->b7[1]);
    if (!st) st = line(m, n, "branch7x7_3", CO(b->b7[1]), 7, 1, &b->b7[2]);
    if (!st) st = sq(m, n, "branch7x7dbl_1", cin, 1, 1, 0, &b->dbl[0]);
    for (int i = 1; i < 5 && !st; i++) {
        char leaf[32];
        snprintf(leaf, sizeof leaf, "branch7x7dbl_%d", i + 1);
        st = line(m, n, leaf, CO(b->dbl[i - 1]), 7, i % 2, &b->dbl[i]); /* 7x1, 1x7, 7x1, 1x7 */
    }
    if (!st) st = sq(m, n, "branch_pool", cin, 1, 1, 0, &b->pool);
    if (!st) *cout = CO(b->b1) + CO(b->b7[2]) + CO(b->dbl[4]) + CO(b->pool);
    return st;
}

static ae_status load_d(ae_inception *m, const char *n, int cin, block_d *b, int *cout) {
    ae_status st = sq(m, n, "branch3x3_1", cin, 1, 1, 0, &b->b3[0]);
    if (!st) st = sq(m, n, "branch3x3_2", CO(b->b3[0]), 3, 2, 0, &b->b3[1]);
    if (!st) st = sq(m, n, "branch7x7x3_1", cin, 1, 1, 0, &b->b7[0]);
    if (!st) st = line(m, n, "branch7x7x3_2", CO(b->b7[0]), 7, 0, &b->b7[1]);
    if (!st) st = line(m, n, "branch7x7x3_3", CO(b->b7[1]), 7, 1, &b->b7[2]);
    if (!st) st = sq(m, n, "branch7x7x3_4", CO(b->b7[2]), 3, 2, 0, &b->b7[3]);
    if (!st) *cout = CO(b->b3[1]) + CO(b->b7[3]) + cin;
    return st;
}

static ae_status load_e(ae_inception *m, const char *n, int cin, block_e *b, int *cout) {
    ae_status st = sq(m, n, "branch1x1", cin, 1, 1, 0, &b->b1);
    if (!st) st = sq(m, n, "branch3x3_1", cin, 1, 1, 0, &b->b3);
    if (!st) st = line(m, n, "branch3x3_2a", CO(b->b3), 3, 0, &b->b3a);
    if (!st) st = line(m, n, "branch3x3_2b", CO(b->b3), 3, 1, &b->b3b);
    if (!st) st = sq(m, n, "branch3x3dbl_1", cin, 1, 1, 0, &b->dbl[0]);
    if (!st) st = sq(m, n, "branch3x3dbl_2", CO(b->dbl[0]), 3, 1, 1, &b->dbl[1]);
    if (!st) st = line(m, n, "branch3x3dbl_3a", CO(b->dbl[1]), 3, 0, &b->dbla);
    if (!st) st = line(m, n, "branch3x3dbl_3b", CO(b->dbl[1]), 3, 1, &b->dblb);
    if (!st) st = sq(m, n, "branch_pool", cin, 1, 1, 0, &b->pool);
    if (!st)
        *cout = CO(b->b1) + CO(b->b3a) + CO(b->b3b) + CO(b->dbla) + CO(b->dblb) + CO(b->pool);
    return st;
}

static ae_status load_all(ae_inception *m) {
    static const char *stem[5] = {"Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "Conv2d_3b_1x1",
                                  "Conv2d_4a_3x3"};
    static const int k[5] = {3, 3, 3, 1, 3}, stride[5] = {2, 1, 1, 1, 1}, same[5] = {0, 0, 1, 0, 0};
    int c = 3;
    ae_status st = AE_OK;
    for (int i = 0; i < 5 && !st; i++) {
        st = sq(m, "", stem[i], c, k[i], stride[i], same[i], &m->stem[i]);
        if (!st) c = CO(m->stem[i]);
    }
    static const char *an[3] = {"Mixed_5b", "Mixed_5c", "Mixed_5d"};
    static const char *cn[4] = {"Mixed_6b", "Mixed_6c", "Mixed_6d", "Mixed_6e"};
    for (int i = 0; i < 3 && !st; i++) st = load_a(m, an[i], c, &m->a[i], &c);
    m->c5d = c;
    if (!st) st = load_b(m, "Mixed_6a", c, &m->b, &c);
    for (int i = 0; i < 4 && !st; i++) st = load_c(m, cn[i], c, &m->c[i], &c);
    m->c6e = c;
    if (!st) st = load_d(m, "Mixed_7a", c, &m->d, &c);
    if (!st) st = load_e(m, "Mixed_7b", c, &m->e[0], &c);
    if (!st) st = load_e(m, "Mixed_7c", c, &m->e[1], &c);
    m->dim = c;
    return st;
}

/* A PyTorch checkpoint is a zip (torch.save since 1.6) or a raw pickle (older): refuse it
 * with the way out rather than a confusing safetensors header error. A safetensors file
 * (u64 header length, then '{') is never refused, whatever its name: its length bytes may
 * look like a pickle's. */
static ae_status refuse_torch_file(const char *path) {
    size_t n = strlen(path);
    int ext = (n > 4 && !strcmp(path + n - 4, ".pth")) || (n > 3 && !strcmp(path + n - 3, ".pt"));
    unsigned char head[9] = {0};
    FILE *f = fopen(path, "rb");
    if (!f) return AE_OK; /* ae_weights_open reports it */
    size_t got = fread(head, 1, sizeof head, f);
    fclose(f);
    if (got == 9 && head[8] == '{') return AE_OK;
    int zip = got >= 4 && !memcmp(head, "PK\x03\x04", 4), pickle = got >= 1 && head[0] == 0x80;
    if (ext || zip || pickle)
        return ae_error_set(AE_ERR_FORMAT,
                            "%s is a PyTorch file, not .safetensors: convert it first with "
                            "/usr/bin/python3 scripts/convert_inception.py %s OUT.safetensors, then pass "
                            "--inception OUT.safetensors",
                            path, path);
    return AE_OK;
}

ae_status ae_inception_load(ae_inception **out, const char *path, const ae_backend *be) {
    *out = NULL;
    ae_status st = refuse_torch_file(path);
    if (st) return st;
    ae_inception *m = ae_calloc(1, sizeof *m, "inception network");
    if (!m) return AE_ERR_NOMEM;
    m->be = be;
    st = ae_weights_open(&m->W, path);
    const char *arch = st ? NULL : ae_weights_meta(m->W, "arch");
    if (!st && (!arch || strcmp(arch, "fid_inception_v3")))
        st = ae_error_set(AE_ERR_FORMAT,
                          "%s: not an InceptionV3 for FID (metadata arch=%s; expected fid_inception_v3 "
                          "from scripts/convert_inception.py)",
                          path, arch ? arch : "(none)");
    if (!st) st = load_all(m);
    if (!st) st = ae_arena_create(&m->A, be);
    if (st) {
        ae_inception_free(m);
        return st;
    }
    const char *pf = ae_weights_meta(m->W, "pytorch_fid_weights"), *sha = ae_weights_meta(m->W, "source_sha256");
    m->pytorch_fid = pf && !strcmp(pf, "true");
    snprintf(m->desc, sizeof m->desc, "InceptionV3 pool3 (pytorch-fid layout, %d-d) from %s, weights %s (sha256 %.12s)",
             m->dim, path, m->pytorch_fid ? "pytorch-fid's" : "NOT pytorch-fid's", sha ? sha : "unknown");
    *out = m;
    return AE_OK;
}

void ae_inception_free(ae_inception *m) {
    if (!m) return;
    ae_arena_free(m->A);
    for (int i = 0; i < m->n_folded; i++) free(m->folded[i]);
    ae_weights_close(m->W);
    free(m->xs);
    free(m);
}

int ae_inception_dim(const ae_inception *m) { return m->dim; }
int ae_inception_is_pytorch_fid(const ae_inception *m) { return m->pytorch_fid; }
const char *ae_inception_describe(const ae_inception *m) { return m->desc; }
void ae_inception_block_channels(const ae_inception *m, int *c5d, int *c6e) {
    *c5d = m->c5d;
    *c6e = m->c6e;
}

/* ---- forward ------------------------------------------------------------ */

/* y = ReLU(conv(x)) (BN folded), y allocated from the arena. */
static ae_status cbr(ae_inception *m, const ae_conv *c, const ae_tensor *x, ae_tensor *y) {
    ae_status st = ae_conv_forward_new(m->be, m->A, c, x, y);
    if (st == AE_OK) st = ae_nn_activation(m->be, m->A, AE_ACT_RELU, 0.0f, y, y);
    return st;
}

/* n BasicConv2d in sequence; intermediates released. */
static ae_status chain(ae_inception *m, const ae_conv *cs, int n, const ae_tensor *x, ae_tensor *y) {
    ae_tensor cur = {0}, nxt = {0};
    ae_status st = cbr(m, &cs[0], x, &cur);
    for (int i = 1; i < n && st == AE_OK; i++) {
        st = cbr(m, &cs[i], &cur, &nxt);
        ae_arena_release(m->A, &cur);
        cur = nxt;
    }
    *y = cur;
    return st;
}

static ae_status pool(ae_inception *m, ae_pool_kind kind, int k, int stride, int pad, const ae_tensor *x,
                      ae_tensor *y) {
    ae_pool_desc d = {kind, k, k, stride, stride, pad, pad};
    int oh, ow;
    ae_status st = ae_pool_out_hw(&d, x->h, x->w, &oh, &ow);
    if (st == AE_OK) st = ae_arena_tensor(m->A, y, x->n, x->c, oh, ow);
    if (st == AE_OK) st = ae_nn_pool(m->be, m->A, &d, x, y);
    return st;
}

/* torch.cat(parts, 1) into a new y; the parts are released. */
static ae_status cat(ae_inception *m, ae_tensor *parts, int n, ae_tensor *y) {
    const ae_tensor *xs[6];
    int c = 0;
    for (int i = 0; i < n; i++) xs[i] = &parts[i], c += parts[i].c;
    ae_status st = ae_arena_tensor(m->A, y, parts[0].n, c, parts[0].h, parts[0].w);
    if (st == AE_OK) st = ae_nn_concat(m->be, m->A, xs, n, y);
    for (int i = 0; i < n; i++) ae_arena_release(m->A, &parts[i]);
    return st;
}

/* Pool branch of the FID blocks: pool 3x3 stride 1 pad 1, then the 1x1 BasicConv2d. The
 * average pools ignore the padded zeros (TensorFlow's behaviour, kept by pytorch-fid). */
static ae_status pool_branch(ae_inception *m, ae_pool_kind kind, const ae_conv *c, const ae_tensor *x,
                             ae_tensor *y) {
    ae_tensor t = {0};
    ae_status st = pool(m, kind, 3, 1, 1, x, &t);
    if (st == AE_OK) st = cbr(m, c, &t, y);
    ae_arena_release(m->A, &t);
    return st;
}

static ae_status fwd_a(ae_inception *m, const block_a *b, const ae_tensor *x, ae_tensor *y) {
    ae_tensor p[4] = {{0}};
    ae_status st = cbr(m, &b->b1, x, &p[0]);
    if (st == AE_OK) st = chain(m, b->b5, 2, x, &p[1]);
    if (st == AE_OK) st = chain(m, b->dbl, 3, x, &p[2]);
    if (st == AE_OK) st = pool_branch(m, AE_POOL_AVG_EXCLUDE_PAD, &b->pool, x, &p[3]);
    return st == AE_OK ? cat(m, p, 4, y) : st;
}

static ae_status fwd_b(ae_inception *m, const block_b *b, const ae_tensor *x, ae_tensor *y) {
    ae_tensor p[3] = {{0}};
    ae_status st = cbr(m, &b->b3, x, &p[0]);
    if (st == AE_OK) st = chain(m, b->dbl, 3, x, &p[1]);
    if (st == AE_OK) st = pool(m, AE_POOL_MAX, 3, 2, 0, x, &p[2]);
    return st == AE_OK ? cat(m, p, 3, y) : st;
}

static ae_status fwd_c(ae_inception *m, const block_c *b, const ae_tensor *x, ae_tensor *y) {
    ae_tensor p[4] = {{0}};
    ae_status st = cbr(m, &b->b1, x, &p[0]);
    if (st == AE_OK) st = chain(m, b->b7, 3, x, &p[1]);
    if (st == AE_OK) st = chain(m, b->dbl, 5, x, &p[2]);
    if (st == AE_OK) st = pool_branch(m, AE_POOL_AVG_EXCLUDE_PAD, &b->pool, x, &p[3]);
    return st == AE_OK ? cat(m, p, 4, y) : st;
}

static ae_status fwd_d(ae_inception *m, const block_d *b, const ae_tensor *x, ae_tensor *y) {
    ae_tensor p[3] = {{0}};
    ae_status st = chain(m, b->b3, 2, x, &p[0]);
    if (st == AE_OK) st = chain(m, b->b7, 4, x, &p[1]);
    if (st == AE_OK) st = pool(m, AE_POOL_MAX, 3, 2, 0, x, &p[2]);
    return st == AE_OK ? cat(m, p, 3, y) : st;
}

/* torch.cat([b1, cat([3a, 3b]), cat([dbl_3a, dbl_3b]), pool]) is one flat 6-way cat. */
static ae_status fwd_e(ae_inception *m, const block_e *b, ae_pool_kind pool_kind, const ae_tensor *x,
                       ae_tensor *y) {
    ae_tensor p[6] = {{0}}, t = {0};
    ae_status st = cbr(m, &b->b1, x, &p[0]);
    if (st == AE_OK) st = cbr(m, &b->b3, x, &t);
    if (st == AE_OK) st = cbr(m, &b->b3a, &t, &p[1]);
    if (st == AE_OK) st = cbr(m, &b->b3b, &t, &p[2]);
    ae_arena_release(m->A, &t);
    if (st == AE_OK) st = chain(m, b->dbl, 2, x, &t);
    if (st == AE_OK) st = cbr(m, &b->dbla, &t, &p[3]);
    if (st == AE_OK) st = cbr(m, &b->dblb, &t, &p[4]);
    ae_arena_release(m->A, &t);
    if (st == AE_OK) st = pool_branch(m, pool_kind, &b->pool, x, &p[5]);
    return st == AE_OK ? cat(m, p, 6, y) : st;
}

/* Replaces *cur by the result of the step that wrote nxt. */
static void advance(ae_inception *m, ae_tensor *cur, ae_tensor *nxt) {
    ae_arena_release(m->A, cur);
    *cur = *nxt;
    *nxt = (ae_tensor){0};
}

/* The whole network on m->xs (h x w, already in [-1,1]); works in both arena passes. */
static ae_status net(ae_inception *m, int h, int w, float *feat, const ae_inception_taps *taps) {
    const ae_backend *be = m->be;
    ae_arena *A = m->A;
    ae_tensor in = {0}, cur = {0}, nxt = {0};
    ae_status st = ae_arena_tensor(A, &in, 1, 3, h, w);
    if (st == AE_OK) st = ae_nn_upload(be, A, &in, m->xs);
    if (st == AE_OK) st = ae_arena_tensor(A, &cur, 1, 3, AE_INCEPTION_SIZE, AE_INCEPTION_SIZE);
    if (st == AE_OK) st = ae_nn_upsample(be, A, AE_UPSAMPLE_BILINEAR, &in, &cur);
    ae_arena_release(A, &in);
    for (int i = 0; i < 5 && st == AE_OK; i++) {
        st = cbr(m, &m->stem[i], &cur, &nxt);
        if (st == AE_OK) advance(m, &cur, &nxt);
        if (st == AE_OK && (i == 2 || i == 4)) st = pool(m, AE_POOL_MAX, 3, 2, 0, &cur, &nxt);
        if (st == AE_OK && (i == 2 || i == 4)) advance(m, &cur, &nxt);
    }
    for (int i = 0; i < 3 && st == AE_OK; i++)
        if ((st = fwd_a(m, &m->a[i], &cur, &nxt)) == AE_OK) advance(m, &cur, &nxt);
    if (st == AE_OK && taps && taps->mixed_5d) st = ae_nn_download(be, A, &cur, taps->mixed_5d);
    if (st == AE_OK && (st = fwd_b(m, &m->b, &cur, &nxt)) == AE_OK) advance(m, &cur, &nxt);
    for (int i = 0; i < 4 && st == AE_OK; i++)
        if ((st = fwd_c(m, &m->c[i], &cur, &nxt)) == AE_OK) advance(m, &cur, &nxt);
    if (st == AE_OK && taps && taps->mixed_6e) st = ae_nn_download(be, A, &cur, taps->mixed_6e);
    if (st == AE_OK && (st = fwd_d(m, &m->d, &cur, &nxt)) == AE_OK) advance(m, &cur, &nxt);
    for (int i = 0; i < 2 && st == AE_OK; i++)
        if ((st = fwd_e(m, &m->e[i], i ? AE_POOL_MAX : AE_POOL_AVG_EXCLUDE_PAD, &cur, &nxt)) == AE_OK)
            advance(m, &cur, &nxt);
    if (st == AE_OK) { /* AdaptiveAvgPool2d(1): one window over the whole map */
        ae_pool_desc gap = {AE_POOL_AVG, cur.h, cur.w, cur.h, cur.w, 0, 0};
        st = ae_arena_tensor(A, &nxt, 1, cur.c, 1, 1);
        if (st == AE_OK) st = ae_nn_pool(be, A, &gap, &cur, &nxt);
        if (st == AE_OK) st = ae_nn_download(be, A, &nxt, feat);
    }
    if (st == AE_OK && !ae_arena_planning(A)) st = be->sync(be);
    ae_arena_reset(A);
    return st;
}

static ae_status plan(ae_inception *m, int h, int w) {
    if (h == m->plan_h && w == m->plan_w) return AE_OK;
    size_t n;
    if (ae_mul3_size(3, (size_t)h, (size_t)w, &n))
        return ae_error_set(AE_ERR_NOMEM, "inception: image %dx%d too large", w, h);
    free(m->xs);
    m->plan_h = m->plan_w = 0;
    m->xs = ae_malloc(n * sizeof *m->xs, "inception input");
    if (!m->xs) return AE_ERR_NOMEM;
    ae_arena_replan(m->A);
    ae_status st = net(m, h, w, NULL, NULL);
    if (st == AE_OK) st = ae_arena_commit(m->A);
    if (st == AE_OK) m->plan_h = h, m->plan_w = w;
    return st;
}

ae_status ae_inception_forward(ae_inception *m, const float *x, int h, int w, float *feat,
                               const ae_inception_taps *taps) {
    if (h < 2 || w < 2) return ae_error_set(AE_ERR_ARG, "inception: image %dx%d too small", w, h);
    ae_status st = plan(m, h, w);
    if (st != AE_OK) return st;
    size_t n = (size_t)3 * h * w;
    for (size_t i = 0; i < n; i++) m->xs[i] = 2.0f * x[i] - 1.0f;
    return net(m, h, w, feat, taps);
}
