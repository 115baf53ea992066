/* inpaint.c - filling masked pixels: Telea's fast marching method, a
 * biharmonic refinement for large holes, and noise-matched texture.
 *
 * ae_inpaint_telea follows A. Telea, "An image inpainting technique based on
 * the fast marching method", J. Graphics Tools 9 (2004) - the algorithm of
 * cv::inpaint(INPAINT_TELEA): pixels are filled in order of their distance
 * T from the hole's edge, each from the known pixels within `radius` by a
 * first-order extrapolation weighted by direction, distance and level-set
 * proximity. ae_inpaint_biharmonic solves the biharmonic equation (as
 * skimage.restoration.inpaint_biharmonic) by Gauss-Seidel sweeps over the
 * 13-point stencil, starting from the Telea fill. A smooth fill has no
 * noise, so on a noisy background it shows as a smear; ae_inpaint adds
 * Gaussian noise with the sigma measured in a ring around each hole, and
 * then keeps every filled pixel inside [min, max] of the hole's 2 px ring.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "astroenh/denoise.h"

enum { KNOWN = 0, BAND = 1, INSIDE = 2, BLOCKED = 3 };

#ifndef BH_OMEGA
#define BH_OMEGA 1.6f
#endif
#ifndef BH_MAX_SWEEPS
#define BH_MAX_SWEEPS 40
#endif

void ae_inpaint_opts_default(ae_inpaint_opts *o) {
    o->radius = 5;
    o->large_area = 50;
    o->texture = 1;
    o->seed = 0x5eed;
}

/* ---- a binary min-heap of (T, pixel) ---- */
typedef struct {
    float t;
    int p;
} hnode;
typedef struct {
    hnode *a;
    size_t n, cap;
} heap;

static int heap_push(heap *h, float t, int p) {
    if (h->n == h->cap) {
        size_t cap = h->cap ? 2 * h->cap : 1024;
        hnode *a = realloc(h->a, cap * sizeof *a);
        if (!a) return -1;
        h->a = a, h->cap = cap;
    }
    size_t i = h->n++;
    while (i > 0 && h->a[(i - 1) / 2].t > t) {
        h->a[i] = h->a[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h->a[i] = (hnode){t, p};
    return 0;
}

static hnode heap_pop(heap *h) {
    hnode top = h->a[0], last = h->a[--h->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n) break;
        if (c + 1 < h->n && h->a[c + 1].t < h->a[c].t) c++;
        if (h->a[c].t >= last.t) break;
        h->a[i] = h->a[c];
        i = c;
    }
    if (h->n) h->a[i] = last;
    return top;
}

typedef struct {
    int dy, dx;
    float inv_r, inv_r2;
} disc_off;

typedef struct {
    float *img;
    int c, h, w, radius;
    uint8_t *flag;
    float *T;
    disc_off *off;
    int noff;
} fmm;

static float solve_eik(const fmm *f, int y1, int x1, int y2, int x2) {
    int h = f->h, w = f->w;
    float sol = 1e6f;
    int ok1 = y1 >= 0 && y1 < h && x1 >= 0 && x1 < w && f->flag[(size_t)y1 * w + x1] <= BAND;
    int ok2 = y2 >= 0 && y2 < h && x2 >= 0 && x2 < w && f->flag[(size_t)y2 * w + x2] <= BAND;
    float t1 = ok1 ? f->T[(size_t)y1 * w + x1] : 0, t2 = ok2 ? f->T[(size_t)y2 * w + x2] : 0;
    if (ok1 && ok2) {
        float d = 2.0f - (t1 - t2) * (t1 - t2);
        if (d > 0) {
            float r = sqrtf(d), s = (t1 + t2 - r) * 0.5f;
            if (s >= t1 && s >= t2) sol = s;
            else if ((s += r) >= t1 && s >= t2) sol = s;
        }
        else sol = 1.0f + fminf(t1, t2);
    } else if (ok1) sol = 1.0f + t1;
    else if (ok2) sol = 1.0f + t2;
    return sol;
}

/* Gradient of field v (T or a channel) at (y, x) from usable neighbours. */
static void grad_at(const fmm *f, const float *v, int y, int x, float *gy, float *gx) {
    int h = f->h, w = f->w;
    size_t p = (size_t)y * w + x;
#define USABLE(yy, xx) ((yy) >= 0 && (yy) < h && (xx) >= 0 && (xx) < w && f->flag[(size_t)(yy) * w + (xx)] <= BAND)
    int l = USABLE(y, x - 1), r = USABLE(y, x + 1), u = USABLE(y - 1, x), d = USABLE(y + 1, x);
    *gx = l && r ? 0.5f * (v[p + 1] - v[p - 1]) : r ? v[p + 1] - v[p] : l ? v[p] - v[p - 1] : 0.0f;
    *gy = u && d ? 0.5f * (v[p + w] - v[p - w]) : d ? v[p + w] - v[p] : u ? v[p] - v[p - w] : 0.0f;
#undef USABLE
}

/* Fills pixel (y, x) of every channel from usable pixels within the radius.
 * The disc's offsets come from f->off (with 1/r and 1/r^2), and the
 * neighbour's one-sided/central difference pattern is decided once for all
 * channels: the same sums as grad_at per channel, in a fraction of the time. */
static void fill_pixel(fmm *f, int y, int x) {
    int h = f->h, w = f->w;
    size_t hw = (size_t)h * w, p = (size_t)y * w + x;
    float gty, gtx;
    grad_at(f, f->T, y, x, &gty, &gtx);
    double num[3] = {0, 0, 0}, den = 0;
    const uint8_t *fl = f->flag;
    for (int k = 0; k < f->noff; k++) {
        const disc_off *o = &f->off[k];
        int j = y - o->dy, i = x - o->dx;
        if (j < 0 || j >= h || i < 0 || i >= w) continue;
        size_t q = (size_t)j * w + i;
        if (fl[q] > BAND) continue;
        float dir = (o->dy * gty + o->dx * gtx) * o->inv_r;
        if (fabsf(dir) <= 0.01f) dir = 1e-6f;
        float wt = fabsf(dir * o->inv_r2 / (1.0f + fabsf(f->T[q] - f->T[p])));
#define USABLE(yy, xx) ((yy) >= 0 && (yy) < h && (xx) >= 0 && (xx) < w && fl[(size_t)(yy) * w + (xx)] <= BAND)
        int l = USABLE(j, i - 1), r = USABLE(j, i + 1), u = USABLE(j - 1, i), d = USABLE(j + 1, i);
#undef USABLE
        /* difference weights: g = a * v[q + s1] - b * v[q - s2] style, as grad_at */
        size_t xp = r ? q + 1 : q, xm = l ? q - 1 : q, yp = d ? q + w : q, ym = u ? q - w : q;
        float kx = l && r ? 0.5f : (l || r) ? 1.0f : 0.0f, ky = u && d ? 0.5f : (u || d) ? 1.0f : 0.0f;
        for (int ch = 0; ch < f->c; ch++) {
            const float *v = f->img + ch * hw;
            float gix = kx * (v[xp] - v[xm]), giy = ky * (v[yp] - v[ym]);
            num[ch] += wt * (v[q] + giy * (float)o->dy + gix * (float)o->dx);
        }
        den += wt;
    }
    if (den > 0)
        for (int ch = 0; ch < f->c; ch++) f->img[ch * hw + p] = (float)(num[ch] / den);
}

/* The offsets (dy, dx) != 0 with dy^2 + dx^2 <= R^2, in raster order. */
static disc_off *make_disc(int R, int *n) {
    disc_off *o = ae_malloc((size_t)(2 * R + 1) * (2 * R + 1) * sizeof *o, "inpaint disc");
    *n = 0;
    if (!o) return NULL;
    for (int dy = R; dy >= -R; dy--) /* j = y - dy ascending, as the direct loop visits them */
        for (int dx = R; dx >= -R; dx--) {
            float r2 = (float)(dy * dy + dx * dx);
            if (r2 > (float)(R * R) || r2 == 0) continue;
            o[(*n)++] = (disc_off){dy, dx, 1.0f / sqrtf(r2), 1.0f / r2};
        }
    return o;
}

static ae_status fmm_init(fmm *f, const uint8_t *mask, heap *hp) {
    int h = f->h, w = f->w;
    size_t hw = (size_t)h * w;
    for (size_t p = 0; p < hw; p++) {
        int finite = 1;
        for (int ch = 0; ch < f->c; ch++) finite &= isfinite(f->img[ch * hw + p]) != 0;
        f->flag[p] = mask[p] ? INSIDE : finite ? KNOWN : BLOCKED;
        f->T[p] = mask[p] ? 1e6f : 0.0f;
    }
    /* the band: known pixels touching the hole */
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            size_t p = (size_t)y * w + x;
            if (f->flag[p] != KNOWN) continue;
            int touch = (x > 0 && mask[p - 1]) || (x < w - 1 && mask[p + 1]) || (y > 0 && mask[p - w]) ||
                        (y < h - 1 && mask[p + w]);
            if (!touch) continue;
            f->flag[p] = BAND;
            if (heap_push(hp, 0.0f, (int)p)) return ae_error_set(AE_ERR_NOMEM, "inpaint: out of memory for the band");
        }
    return AE_OK;
}

ae_status ae_inpaint_telea(float *img, int c, int h, int w, const uint8_t *mask, int radius) {
    if (!img || !mask || c < 1 || c > 3 || h <= 0 || w <= 0 || radius < 1 || radius > 64)
        return ae_error_set(AE_ERR_ARG, "ae_inpaint_telea: bad arguments (c=%d, %dx%d, radius %d)", c, w, h, radius);
    if ((size_t)h * w > (size_t)INT32_MAX) return ae_error_set(AE_ERR_NOMEM, "inpaint: image too large");
    size_t hw = (size_t)h * w;
    fmm f = {img, c, h, w, radius, ae_malloc(hw, "inpaint flags"), NULL, NULL, 0};
    f.T = f.flag ? ae_malloc(hw * sizeof *f.T, "inpaint distances") : NULL;
    f.off = f.T ? make_disc(radius, &f.noff) : NULL;
    heap hp = {0};
    ae_status st = f.off ? fmm_init(&f, mask, &hp) : AE_ERR_NOMEM;
    static const int dy[4] = {-1, 1, 0, 0}, dx[4] = {0, 0, -1, 1};
    while (st == AE_OK && hp.n) {
        hnode nd = heap_pop(&hp);
        if (f.flag[nd.p] == KNOWN) continue;
        f.flag[nd.p] = KNOWN;
        int y = nd.p / w, x = nd.p % w;
        for (int k = 0; k < 4 && st == AE_OK; k++) {
            int yy = y + dy[k], xx = x + dx[k];
            if (yy < 0 || yy >= h || xx < 0 || xx >= w) continue;
            size_t q = (size_t)yy * w + xx;
            if (f.flag[q] != INSIDE) continue;
            float t = fminf(fminf(solve_eik(&f, yy - 1, xx, yy, xx - 1), solve_eik(&f, yy + 1, xx, yy, xx - 1)),
                            fminf(solve_eik(&f, yy - 1, xx, yy, xx + 1), solve_eik(&f, yy + 1, xx, yy, xx + 1)));
            f.T[q] = t;
            fill_pixel(&f, yy, xx);
            f.flag[q] = BAND;
            if (heap_push(&hp, t, (int)q)) st = ae_error_set(AE_ERR_NOMEM, "inpaint: out of memory for the band");
        }
    }
    free(hp.a);
    free(f.off);
    free(f.T);
    free(f.flag);
    return st;
}

/* u at (y, x) for the stencil: clamped to the image; NaN neighbours that
 * are not being solved for read as the centre value `self`. */
static float bh_val(const float *v, int h, int w, int y, int x, float self) {
    y = y < 0 ? 0 : y >= h ? h - 1 : y;
    x = x < 0 ? 0 : x >= w ? w - 1 : x;
    float u = v[(size_t)y * w + x];
    return isfinite(u) ? u : self;
}

/* The stencil's update at p where all 12 neighbours are inside the image
 * and finite: no clamping, no tests. */
static inline float bh_update(const float *v, size_t p, size_t w) {
    float n4 = v[p - w] + v[p + w] + v[p - 1] + v[p + 1];
    float d4 = v[p - w - 1] + v[p - w + 1] + v[p + w - 1] + v[p + w + 1];
    float f4 = v[p - 2 * w] + v[p + 2 * w] + v[p - 2] + v[p + 2];
    return (8.0f * n4 - 2.0f * d4 - f4) / 20.0f;
}

/* Whether the 12 stencil neighbours of (y, x) are inside and finite. */
static int bh_simple(const float *v, int h, int w, int y, int x) {
    static const int oy[12] = {-1, 1, 0, 0, -1, -1, 1, 1, -2, 2, 0, 0}, ox[12] = {0, 0, -1, 1, -1, 1, -1, 1, 0, 0, -2, 2};
    if (y < 2 || y >= h - 2 || x < 2 || x >= w - 2) return 0;
    for (int k = 0; k < 12; k++)
        if (!isfinite(v[(size_t)(y + oy[k]) * w + x + ox[k]])) return 0;
    return 1;
}

/* Gauss-Seidel sweeps of the 13-point biharmonic stencil over list[n],
 * over-relaxed by `omega` (1 = plain Gauss-Seidel; the system is symmetric
 * positive definite, so any omega in (0, 2) converges, and ~1.5 needs a
 * fraction of the sweeps). Pixels away from borders and NaN take the
 * unchecked stencil (simple[], per channel; NULL: all checked). */
static void biharmonic_list(float *img, int c, int h, int w, const int *list, size_t n, int iters, float omega,
                            uint8_t *simple) {
    size_t hw = (size_t)h * w;
    for (int ch = 0; ch < c; ch++) {
        float *v = img + ch * hw;
        for (size_t k = 0; k < n; k++)
            if (!isfinite(v[list[k]])) v[list[k]] = 0.0f;
        if (simple)
            for (size_t k = 0; k < n; k++) simple[k] = (uint8_t)bh_simple(v, h, w, list[k] / w, list[k] % w);
        for (int it = 0; it < iters; it++)
            for (size_t k = 0; k < n; k++) {
                float s = v[list[k]], u;
                if (simple && simple[k]) {
                    u = bh_update(v, (size_t)list[k], (size_t)w);
                } else {
                    int y = list[k] / w, x = list[k] % w;
                    float n4 = bh_val(v, h, w, y - 1, x, s) + bh_val(v, h, w, y + 1, x, s) +
                               bh_val(v, h, w, y, x - 1, s) + bh_val(v, h, w, y, x + 1, s);
                    float d4 = bh_val(v, h, w, y - 1, x - 1, s) + bh_val(v, h, w, y - 1, x + 1, s) +
                               bh_val(v, h, w, y + 1, x - 1, s) + bh_val(v, h, w, y + 1, x + 1, s);
                    float f4 = bh_val(v, h, w, y - 2, x, s) + bh_val(v, h, w, y + 2, x, s) +
                               bh_val(v, h, w, y, x - 2, s) + bh_val(v, h, w, y, x + 2, s);
                    u = (8.0f * n4 - 2.0f * d4 - f4) / 20.0f;
                }
                v[list[k]] = s + omega * (u - s);
            }
    }
}

ae_status ae_inpaint_biharmonic(float *img, int c, int h, int w, const uint8_t *mask, int iters) {
    if (!img || !mask || c < 1 || c > 3 || h <= 0 || w <= 0 || iters < 0)
        return ae_error_set(AE_ERR_ARG, "ae_inpaint_biharmonic: bad arguments");
    if ((size_t)h * w > (size_t)INT32_MAX) return ae_error_set(AE_ERR_NOMEM, "inpaint: image too large");
    size_t hw = (size_t)h * w, n = 0;
    for (size_t p = 0; p < hw; p++) n += mask[p] != 0;
    int *list = ae_malloc(n * sizeof *list, "biharmonic pixel list");
    if (!list) return AE_ERR_NOMEM;
    n = 0;
    for (size_t p = 0; p < hw; p++)
        if (mask[p]) list[n++] = (int)p;
    uint8_t *simple = malloc(n ? n : 1); /* only a speed-up: NULL takes the checked path */
    biharmonic_list(img, c, h, w, list, n, iters, 1.0f, simple);
    free(simple);
    free(list);
    return AE_OK;
}

/* ---- holes, rings and texture ---- */

static uint64_t splitmix64(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static float gauss_rand(uint64_t *s) {
    double u1 = ((splitmix64(s) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
    double u2 = (splitmix64(s) >> 11) * (1.0 / 9007199254740992.0);
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

typedef struct {
    int y0, x0, y1, x1; /* bounding box, inclusive */
    size_t area;
    int first;          /* first pixel (raster order) */
} hole;

/* Labels 8-connected holes of mask into lab (1-based, int32) and returns
 * them in *holes. */
static ae_status label_holes(const uint8_t *mask, int h, int w, int *lab, hole **holes, size_t *nholes) {
    size_t hw = (size_t)h * w, cap = 0, n = 0;
    hole *hs = NULL;
    int *stack = ae_malloc(hw * sizeof *stack, "hole labels");
    if (!stack) return AE_ERR_NOMEM;
    memset(lab, 0, hw * sizeof *lab);
    for (size_t s0 = 0; s0 < hw; s0++) {
        if (!mask[s0] || lab[s0]) continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            hole *t = realloc(hs, cap * sizeof *t);
            if (!t) {
                free(hs);
                free(stack);
                return ae_error_set(AE_ERR_NOMEM, "inpaint: out of memory for %zu holes", cap);
            }
            hs = t;
        }
        hole *ho = &hs[n++];
        *ho = (hole){h, w, -1, -1, 0, (int)s0};
        size_t top = 0;
        stack[top++] = (int)s0;
        lab[s0] = (int)n;
        while (top) {
            int q = stack[--top], y = q / w, x = q % w;
            ho->area++;
            if (y < ho->y0) ho->y0 = y;
            if (y > ho->y1) ho->y1 = y;
            if (x < ho->x0) ho->x0 = x;
            if (x > ho->x1) ho->x1 = x;
            for (int j = y - 1; j <= y + 1; j++)
                for (int i = x - 1; i <= x + 1; i++)
                    if (j >= 0 && j < h && i >= 0 && i < w && mask[(size_t)j * w + i] && !lab[(size_t)j * w + i]) {
                        lab[(size_t)j * w + i] = (int)n;
                        stack[top++] = j * w + i;
                    }
        }
    }
    free(stack);
    *holes = hs;
    *nholes = n;
    return AE_OK;
}

/* The ring 2..6 px around hole `id`: the pixels whose Laplacian residual
 * has all 5 pixels outside every hole, in raster order, into pos (cap at
 * most); returns their count. The same for every channel. */
static size_t ring_pixels(const int *lab, int h, int w, const hole *ho, int id, int *pos, size_t cap) {
    size_t n = 0;
    const int R = 6;
    for (int y = ho->y0 - R; y <= ho->y1 + R; y++)
        for (int x = ho->x0 - R; x <= ho->x1 + R; x++) {
            if (y < 1 || y >= h - 1 || x < 1 || x >= w - 1 || n >= cap) continue;
            size_t p = (size_t)y * w + x;
            if (lab[p] || lab[p - 1] || lab[p + 1] || lab[p - w] || lab[p + w]) continue;
            /* distance to the hole: at least 2 px */
            int near = 0;
            for (int j = -1; j <= 1 && !near; j++)
                for (int i = -1; i <= 1; i++)
                    if (y + j >= 0 && y + j < h && x + i >= 0 && x + i < w && lab[(size_t)(y + j) * w + x + i] == id) near = 1;
            if (near) continue;
            pos[n++] = (int)p;
        }
    return n;
}

/* Noise sigma of channel v over the ring pixels pos[n]: MAD of their
 * Laplacian residuals; buf holds n floats. */
static float ring_sigma(const float *v, int w, const int *pos, size_t n, float *buf) {
    size_t m = 0;
    for (size_t k = 0; k < n; k++) {
        size_t p = (size_t)pos[k];
        float r = v[p] - 0.25f * (v[p - 1] + v[p + 1] + v[p - w] + v[p + w]);
        if (isfinite(r)) buf[m++] = r;
    }
    if (m < 8) return 0.0f;
    float med = ae_select_kth(buf, m, m / 2);
    for (size_t i = 0; i < m; i++) buf[i] = fabsf(buf[i] - med);
    return 1.4826f / sqrtf(1.25f) * ae_select_kth(buf, m, m / 2);
}

static ae_status add_texture(float *img, int c, int h, int w, const int *lab, const hole *hs, size_t nh,
                             unsigned long long seed) {
    size_t hw = (size_t)h * w, cap = 0;
    for (size_t k = 0; k < nh; k++) {
        size_t bw = (size_t)(hs[k].x1 - hs[k].x0 + 13), bh = (size_t)(hs[k].y1 - hs[k].y0 + 13);
        if (bw * bh > cap) cap = bw * bh;
    }
    float *buf = ae_malloc(cap * (sizeof *buf + sizeof(int)), "ring residuals");
    if (!buf) return AE_ERR_NOMEM;
    int *pos = (int *)(buf + cap);
    for (size_t k = 0; k < nh; k++) {
        const hole *ho = &hs[k];
        uint64_t s = seed ^ ((uint64_t)ho->first * 0x9e3779b97f4a7c15ull);
        size_t n = ring_pixels(lab, h, w, ho, (int)k + 1, pos, cap);
        for (int ch = 0; ch < c; ch++) {
            float *v = img + ch * hw;
            float sig = ring_sigma(v, w, pos, n, buf);
            if (!(sig > 0)) continue;
            for (int y = ho->y0; y <= ho->y1; y++)
                for (int x = ho->x0; x <= ho->x1; x++)
                    if (lab[(size_t)y * w + x] == (int)k + 1) v[(size_t)y * w + x] += sig * gauss_rand(&s);
        }
    }
    free(buf);
    return AE_OK;
}

/* Biharmonic refinement of each hole larger than `large` pixels, with
 * sweeps growing with its size (the error decays slowly on big holes). */
static ae_status refine_large(float *img, int c, int h, int w, const int *lab, const hole *hs, size_t nh,
                              int large) {
    size_t hw = (size_t)h * w, total = 0;
    size_t *start = ae_calloc(nh + 1, sizeof *start, "hole offsets");
    if (!start) return AE_ERR_NOMEM;
    for (size_t k = 0; k < nh; k++) start[k + 1] = start[k] + (hs[k].area > (size_t)large ? hs[k].area : 0);
    total = start[nh];
    int *list = total ? ae_malloc(total * sizeof *list, "hole pixel lists") : NULL;
    if (total && !list) {
        free(start);
        return AE_ERR_NOMEM;
    }
    size_t *fill = start; /* advanced while filling, then restored */
    for (size_t p = 0; p < hw && total; p++)
        if (lab[p] && hs[lab[p] - 1].area > (size_t)large) list[fill[lab[p] - 1]++] = (int)p;
    for (size_t k = nh; k > 0; k--) start[k] = start[k - 1];
    start[0] = 0;
    uint8_t *simple = total ? malloc(total) : NULL; /* only a speed-up: NULL takes the checked path */
    for (size_t k = 0; k < nh; k++) {
        if (hs[k].area <= (size_t)large) continue;
        int side = hs[k].x1 - hs[k].x0 > hs[k].y1 - hs[k].y0 ? hs[k].x1 - hs[k].x0 + 1 : hs[k].y1 - hs[k].y0 + 1;
        int iters = side * side / 4 + 20;
        biharmonic_list(img, c, h, w, list + start[k], hs[k].area, iters > BH_MAX_SWEEPS ? BH_MAX_SWEEPS : iters,
                        BH_OMEGA, simple ? simple + start[k] : NULL);
    }
    free(simple);
    free(list);
    free(start);
    return AE_OK;
}

/* Range of the known finite pixels within 2 px (Chebyshev) of hole `id`,
 * channel v; lo > hi when there is none. */
static void ring_range(const float *v, const int *lab, int h, int w, const hole *ho, int id, float *lo, float *hi) {
    float mn = INFINITY, mx = -INFINITY;
    for (int y = ho->y0; y <= ho->y1; y++)
        for (int x = ho->x0; x <= ho->x1; x++) {
            if (lab[(size_t)y * w + x] != id) continue;
            for (int j = y - 2; j <= y + 2; j++)
                for (int i = x - 2; i <= x + 2; i++) {
                    if (j < 0 || j >= h || i < 0 || i >= w || lab[(size_t)j * w + i]) continue;
                    float u = v[(size_t)j * w + i];
                    if (!isfinite(u)) continue;
                    mn = u < mn ? u : mn;
                    mx = u > mx ? u : mx;
                }
        }
    *lo = mn;
    *hi = mx;
}

/* Keeps every filled pixel inside the range of its hole's ring: Telea's
 * first-order extrapolation and the biharmonic fill overshoot on steep
 * slopes (a star's wing), and the texture adds noise on top; unclamped,
 * a hole on a low, positive background could come out negative. The ring
 * holds the same noise, so its min and max already span the sky's spread. */
static void clamp_to_rings(float *img, int c, int h, int w, const int *lab, const hole *hs, size_t nh) {
    size_t hw = (size_t)h * w;
    for (size_t k = 0; k < nh; k++) {
        const hole *ho = &hs[k];
        for (int ch = 0; ch < c; ch++) {
            float *v = img + ch * hw, lo, hi;
            ring_range(v, lab, h, w, ho, (int)k + 1, &lo, &hi);
            if (!(lo <= hi)) continue;
            for (int y = ho->y0; y <= ho->y1; y++)
                for (int x = ho->x0; x <= ho->x1; x++) {
                    size_t p = (size_t)y * w + x;
                    if (lab[p] != (int)k + 1 || !isfinite(v[p])) continue;
                    v[p] = v[p] < lo ? lo : v[p] > hi ? hi : v[p];
                }
        }
    }
}

ae_status ae_inpaint(float *img, int c, int h, int w, const uint8_t *mask, const ae_inpaint_opts *o) {
    if (!img || !mask || !o || c < 1 || c > 3 || h <= 0 || w <= 0)
        return ae_error_set(AE_ERR_ARG, "ae_inpaint: bad arguments");
    if ((size_t)h * w > (size_t)INT32_MAX) return ae_error_set(AE_ERR_NOMEM, "inpaint: image too large");
    ae_status st = ae_inpaint_telea(img, c, h, w, mask, o->radius);
    if (st != AE_OK) return st;
    size_t hw = (size_t)h * w, nh = 0;
    int *lab = ae_malloc(hw * sizeof *lab, "hole labels");
    if (!lab) return AE_ERR_NOMEM;
    hole *hs = NULL;
    st = label_holes(mask, h, w, lab, &hs, &nh);
    if (st == AE_OK) st = refine_large(img, c, h, w, lab, hs, nh, o->large_area);
    if (st == AE_OK && o->texture) st = add_texture(img, c, h, w, lab, hs, nh, o->seed);
    if (st == AE_OK) clamp_to_rings(img, c, h, w, lab, hs, nh);
    free(hs);
    free(lab);
    return st;
}
