/* tile.c - tiled inference with overlap and feathered blending.
 *
 * Along each axis the image is cut into n = ceil(len/tile) cores of nearly
 * equal size (they partition the image). A tile's input is its core plus
 * `overlap` pixels of context per side, reflected at the image border. Its
 * output is used over the core widened by F = overlap*scale/2 output pixels
 * at inner boundaries, where a linear ramp of width 2F hands over to the
 * neighbour (the 1-D ramps of both sides sum to 1, so the separable 2-D
 * weights form a partition of unity and no weight-sum plane is needed).
 * Used output pixels lie at least overlap/2 input pixels inside the tile's
 * input, so a network with receptive radius <= overlap/2 gives the
 * whole-image result. Blending is a running weighted mean,
 * out += w/(S+w) * (v - out) with S the analytic weight of earlier tiles, so
 * equal contributions (any pointwise network) reproduce values bit-exactly.
 * This is the overlap-tile scheme of U-Net (Ronneberger 2015) with the
 * linear feathering used by Real-ESRGAN / SwinIR tiled inference.
 */
#include <stdlib.h>
#include <string.h>
#include "astroenh/tile.h"

typedef struct {
    int len, n, scale, overlap, feather; /* feather: F in output pixels */
} tile_axis;

typedef struct {
    int in_lo, in_hi;   /* input range incl. context (may leave the image) */
    int use_lo, use_hi; /* output range written */
    float *w, *before;  /* per used output pixel: own weight, sum of earlier tiles' */
} tile_span;

static int axis_start(const tile_axis *a, int i) { return (int)((long long)i * a->len / a->n); }

static void axis_init(tile_axis *a, int len, int tile, int overlap, int scale) {
    a->len = len;
    a->n = (len + tile - 1) / tile;
    a->scale = scale;
    a->overlap = overlap;
    int min_core = len / a->n; /* bands of neighbouring boundaries must not meet */
    int f = overlap < min_core ? overlap : min_core;
    a->feather = (int)((long long)f * scale / 2);
}

/* Weight of tile i at output coordinate y (0 outside its used range). */
static float axis_weight(const tile_axis *a, int i, int y) {
    int F = a->feather, lo = axis_start(a, i) * a->scale, hi = axis_start(a, i + 1) * a->scale;
    float w = 1.0f;
    if (i > 0) {
        if (y < lo - F) return 0.0f;
        if (y < lo + F) w = (float)(y - (lo - F) + 0.5) / (float)(2 * F);
    }
    if (i < a->n - 1) {
        if (y >= hi + F) return 0.0f;
        if (y >= hi - F) w *= (float)((hi + F) - y - 0.5) / (float)(2 * F);
    }
    return w;
}

/* Fills span for tile i; w/before must hold (core + 2*overlap)*scale floats. */
static void axis_span(const tile_axis *a, int i, tile_span *s) {
    int lo = axis_start(a, i), hi = axis_start(a, i + 1), F = a->feather;
    s->in_lo = lo - a->overlap;
    s->in_hi = hi + a->overlap;
    s->use_lo = i > 0 ? lo * a->scale - F : 0;
    s->use_hi = i < a->n - 1 ? hi * a->scale + F : a->len * a->scale;
    for (int y = s->use_lo; y < s->use_hi; y++) {
        float b = 0.0f;
        for (int j = i - 1; j >= 0; j--) {
            float wj = axis_weight(a, j, y);
            if (wj == 0.0f) break;
            b += wj;
        }
        s->w[y - s->use_lo] = axis_weight(a, i, y);
        s->before[y - s->use_lo] = b;
    }
}

/* Mirror index into [0, n) without repeating the edge (torch "reflect"). */
static int reflect(int i, int n) {
    if (n == 1) return 0;
    int p = 2 * (n - 1);
    i %= p;
    if (i < 0) i += p;
    return i < n ? i : p - i;
}

static void gather(const ae_image *in, const tile_span *sy, const tile_span *sx, float *buf) {
    int th = sy->in_hi - sy->in_lo, tw = sx->in_hi - sx->in_lo;
    for (int c = 0; c < in->c; c++) {
        const float *plane = ae_image_plane(in, c);
        for (int y = 0; y < th; y++) {
            const float *row = plane + (size_t)reflect(sy->in_lo + y, in->h) * in->w;
            float *dst = buf + ((size_t)c * th + y) * tw;
            int x = 0;
            for (; x < tw && sx->in_lo + x < 0; x++) dst[x] = row[reflect(sx->in_lo + x, in->w)];
            for (; x < tw && sx->in_lo + x < in->w; x++) dst[x] = row[sx->in_lo + x];
            for (; x < tw; x++) dst[x] = row[reflect(sx->in_lo + x, in->w)];
        }
    }
}

static void blend(ae_image *out, const float *tout, int scale, const tile_span *sy, const tile_span *sx) {
    int tw = (sx->in_hi - sx->in_lo) * scale, th = (sy->in_hi - sy->in_lo) * scale;
    for (int c = 0; c < out->c; c++) {
        float *plane = ae_image_plane(out, c);
        for (int y = sy->use_lo; y < sy->use_hi; y++) {
            float wy = sy->w[y - sy->use_lo], by = sy->before[y - sy->use_lo];
            const float *src = tout + ((size_t)c * th + (y - sy->in_lo * scale)) * tw;
            float *dst = plane + (size_t)y * out->w;
            int x0 = sx->in_lo * scale;
            for (int x = sx->use_lo; x < sx->use_hi; x++) {
                float wk = wy * sx->w[x - sx->use_lo], S = by + wy * sx->before[x - sx->use_lo];
                float v = src[x - x0];
                if (S <= 0.0f) dst[x] = v;
                else if (v != dst[x]) dst[x] += wk / (S + wk) * (v - dst[x]);
            }
        }
    }
}

static ae_status check_args(const ae_image *in, const ae_image *out, int scale, int tile, int overlap,
                            ae_tile_fn fn) {
    if (!in || !out || !fn || !in->data || !out->data)
        return ae_error_set(AE_ERR_ARG, "ae_tile_run: NULL image or function");
    if (scale < 1 || scale > 16 || tile < 1 || overlap < 0 || in->w < 1 || in->h < 1 || in->c < 1 || out->c < 1)
        return ae_error_set(AE_ERR_ARG, "ae_tile_run: bad arguments (scale %d, tile %d, overlap %d, image %dx%dx%d)",
                            scale, tile, overlap, in->w, in->h, in->c);
    if (tile > AE_MAX_DIM || overlap > AE_MAX_DIM || in->w > AE_MAX_DIM || in->h > AE_MAX_DIM)
        return ae_error_set(AE_ERR_ARG, "ae_tile_run: tile %d / overlap %d / image %dx%d exceed %d", tile, overlap,
                            in->w, in->h, AE_MAX_DIM);
    if ((long long)out->w != (long long)in->w * scale || (long long)out->h != (long long)in->h * scale)
        return ae_error_set(AE_ERR_ARG, "ae_tile_run: output is %dx%d, expected %lldx%lld (input %dx%d, scale %d)",
                            out->w, out->h, (long long)in->w * scale, (long long)in->h * scale, in->w, in->h,
                            scale);
    return AE_OK;
}

typedef struct {
    float *in, *out, *wy, *by, *wx, *bx;
} tile_bufs;

static void bufs_free(tile_bufs *b) {
    free(b->in);
    free(b->out);
    free(b->wy);
    free(b->by);
    free(b->wx);
    free(b->bx);
}

static ae_status bufs_alloc(tile_bufs *b, const ae_image *in, const ae_image *out, const tile_axis *ay,
                            const tile_axis *ax) {
    /* the largest core is ceil(len/n); its padded side */
    size_t ph = (size_t)(ay->len + ay->n - 1) / ay->n + 2 * (size_t)ay->overlap;
    size_t pw = (size_t)(ax->len + ax->n - 1) / ax->n + 2 * (size_t)ax->overlap;
    size_t s = (size_t)ay->scale, nin, nout, sh, sw;
    memset(b, 0, sizeof *b);
    if (ae_mul3_size(ph, pw, (size_t)in->c, &nin) || ae_mul3_size(ph * s, pw * s, (size_t)out->c, &nout) ||
        ae_mul_size(nin, sizeof(float), &nin) || ae_mul_size(nout, sizeof(float), &nout))
        return ae_error_set(AE_ERR_NOMEM, "ae_tile_run: tile of %zux%zu (scale %zu) overflows", ph, pw, s);
    sh = ph * s * sizeof(float);
    sw = pw * s * sizeof(float);
    b->in = ae_malloc(nin, "tile input");
    b->out = b->in ? ae_calloc(1, nout, "tile output") : NULL;
    b->wy = b->out ? ae_malloc(sh, "tile weights") : NULL;
    b->by = b->wy ? ae_malloc(sh, "tile weights") : NULL;
    b->wx = b->by ? ae_malloc(sw, "tile weights") : NULL;
    b->bx = b->wx ? ae_malloc(sw, "tile weights") : NULL;
    if (!b->bx) {
        bufs_free(b);
        return AE_ERR_NOMEM;
    }
    return AE_OK;
}

ae_status ae_tile_run(const ae_image *in, ae_image *out, int scale, int tile, int overlap, ae_tile_fn fn,
                      void *ctx) {
    tile_axis ay, ax;
    tile_bufs b;
    ae_status st = check_args(in, out, scale, tile, overlap, fn);
    if (st != AE_OK) return st;
    axis_init(&ay, in->h, tile, overlap, scale);
    axis_init(&ax, in->w, tile, overlap, scale);
    if ((st = bufs_alloc(&b, in, out, &ay, &ax)) != AE_OK) return st;
    for (int ty = 0; ty < ay.n && st == AE_OK; ty++) {
        tile_span sy = {.w = b.wy, .before = b.by};
        axis_span(&ay, ty, &sy);
        for (int tx = 0; tx < ax.n && st == AE_OK; tx++) {
            tile_span sx = {.w = b.wx, .before = b.bx};
            axis_span(&ax, tx, &sx);
            int th = sy.in_hi - sy.in_lo, tw = sx.in_hi - sx.in_lo;
            gather(in, &sy, &sx, b.in);
            st = fn(ctx, b.in, in->c, th, tw, b.out, out->c, scale);
            if (st == AE_OK) blend(out, b.out, scale, &sy, &sx);
            else ae_error_prefix("tile (%d, %d) of %dx%d", ty, tx, ay.n, ax.n);
        }
    }
    bufs_free(&b);
    return st;
}

int ae_tile_default(size_t bytes_per_input_pixel, size_t budget_bytes) {
    size_t budget = budget_bytes ? budget_bytes : AE_TILE_DEFAULT_BUDGET;
    if (bytes_per_input_pixel == 0) return 4096;
    size_t px = budget / bytes_per_input_pixel, t = 32;
    while (t + 16 <= 4096 && (t + 16) * (t + 16) <= px) t += 16;
    return (int)t;
}
