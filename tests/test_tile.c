/* test_tile.c - ae_tile_run against whole-image results: pointwise functions
 * (bit-exact for every tile size), a 9x9 box blur and bilinear/nearest
 * upscales (finite receptive fields, agree within 1e-5 when overlap/2 >=
 * receptive radius), a seam check with a global (tile-mean) function,
 * odd/small sizes, channel changes, errors, and a 4000x4000 run in bounded
 * memory measured with getrusage. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <cmocka.h>
#include "astroenh/tile.h"

#define TOL 1e-5f

typedef enum { F_AFFINE, F_BOX, F_BILINEAR, F_NEAREST, F_MEAN, F_TILE_ID, F_FAIL } fn_kind;

typedef struct {
    fn_kind kind;
    int radius;   /* F_BOX */
    int calls;
    double means[4096]; /* F_MEAN: tile means in call order */
} fn_ctx;

typedef struct {
    ae_image *in, *out;
} pair;

static ae_image *img_new(int w, int h, int c) {
    ae_image *im = calloc(1, sizeof *im);
    assert_non_null(im);
    im->w = w, im->h = h, im->c = c;
    im->data = calloc((size_t)w * h * c, sizeof(float));
    assert_non_null(im->data);
    return im;
}

static void img_del(ae_image *im) {
    if (im) free(im->data);
    free(im);
}

static uint32_t rng_state = 12345;
static float frand(void) {
    rng_state = rng_state * 1664525u + 1013904223u;
    return (float)(rng_state >> 8) / 16777216.0f;
}

static ae_image *img_noise(int w, int h, int c) {
    ae_image *im = img_new(w, h, c);
    for (size_t i = 0; i < (size_t)w * h * c; i++) im->data[i] = frand();
    return im;
}

static int refl(int i, int n) {
    if (n == 1) return 0;
    int p = 2 * (n - 1);
    i %= p;
    if (i < 0) i += p;
    return i < n ? i : p - i;
}

/* Output channel k mixes the input channels with weights (k + c + 1) / sum. */
static float mix(const float *in, int c_in, size_t plane, size_t at, int k) {
    float s = 0.0f, n = 0.0f;
    for (int c = 0; c < c_in; c++) {
        s += (float)(k + c + 1) * in[c * plane + at];
        n += (float)(k + c + 1);
    }
    return s / n;
}

static void box(const float *in, int c_in, int h, int w, float *out, int c_out, int r) {
    size_t plane = (size_t)h * w;
    for (int k = 0; k < c_out; k++)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                float s = 0.0f;
                for (int dy = -r; dy <= r; dy++)
                    for (int dx = -r; dx <= r; dx++)
                        s += mix(in, c_in, plane, (size_t)refl(y + dy, h) * w + refl(x + dx, w), k);
                out[k * plane + (size_t)y * w + x] = s / (float)((2 * r + 1) * (2 * r + 1));
            }
}

/* torch.nn.functional.interpolate(mode="bilinear", align_corners=False), edges clamped. */
static void bilinear(const float *in, int c_in, int h, int w, float *out, int c_out, int s) {
    size_t plane = (size_t)h * w, oplane = plane * s * s;
    for (int k = 0; k < c_out; k++)
        for (int Y = 0; Y < h * s; Y++)
            for (int X = 0; X < w * s; X++) {
                float sy = fmaxf((Y + 0.5f) / s - 0.5f, 0.0f), sx = fmaxf((X + 0.5f) / s - 0.5f, 0.0f);
                int y0 = (int)sy, x0 = (int)sx, y1 = y0 + 1 < h ? y0 + 1 : h - 1, x1 = x0 + 1 < w ? x0 + 1 : w - 1;
                float fy = sy - y0, fx = sx - x0;
                float a = mix(in, c_in, plane, (size_t)y0 * w + x0, k), b = mix(in, c_in, plane, (size_t)y0 * w + x1, k);
                float c = mix(in, c_in, plane, (size_t)y1 * w + x0, k), d = mix(in, c_in, plane, (size_t)y1 * w + x1, k);
                out[k * oplane + (size_t)Y * w * s + X] = (1 - fy) * ((1 - fx) * a + fx * b) + fy * ((1 - fx) * c + fx * d);
            }
}

static ae_status test_fn(void *vctx, const float *in, int c_in, int h, int w, float *out, int c_out, int s) {
    fn_ctx *ctx = vctx;
    size_t plane = (size_t)h * w, oplane = plane * s * s;
    ctx->calls++;
    switch (ctx->kind) {
    case F_AFFINE: /* pointwise, and nearest upscale is pointwise per output pixel */
    case F_NEAREST:
        for (int k = 0; k < c_out; k++)
            for (int Y = 0; Y < h * s; Y++)
                for (int X = 0; X < w * s; X++)
                    out[k * oplane + (size_t)Y * w * s + X] =
                        (ctx->kind == F_AFFINE ? 3.0f : 1.0f) * mix(in, c_in, plane, (size_t)(Y / s) * w + X / s, k) - 0.5f;
        return AE_OK;
    case F_BOX: box(in, c_in, h, w, out, c_out, ctx->radius); return AE_OK;
    case F_BILINEAR: bilinear(in, c_in, h, w, out, c_out, s); return AE_OK;
    case F_MEAN: {
        double m = 0;
        for (size_t i = 0; i < plane; i++) m += in[i];
        m /= (double)plane;
        if (ctx->calls <= 4096) ctx->means[ctx->calls - 1] = m;
        for (size_t i = 0; i < plane; i++) out[i] = in[i] + (float)m;
        return AE_OK;
    }
    case F_TILE_ID:
        for (size_t i = 0; i < oplane * c_out; i++) out[i] = (float)ctx->calls;
        return AE_OK;
    case F_FAIL: return ae_error_set(AE_ERR_SHAPE, "network refused the tile");
    }
    return AE_ERR_ARG;
}

/* Runs ae_tile_run into a fresh output image. */
static ae_image *run(const ae_image *in, int c_out, int s, int tile, int overlap, fn_ctx *ctx) {
    ae_image *out = img_new(in->w * s, in->h * s, c_out);
    ctx->calls = 0;
    ae_status st = ae_tile_run(in, out, s, tile, overlap, test_fn, ctx);
    if (st != AE_OK) fail_msg("ae_tile_run: %s", ae_error_message());
    return out;
}

/* Direct whole-image call (no padding), as the reference. */
static ae_image *direct(const ae_image *in, int c_out, int s, fn_ctx *ctx) {
    ae_image *out = img_new(in->w * s, in->h * s, c_out);
    assert_int_equal(test_fn(ctx, in->data, in->c, in->h, in->w, out->data, c_out, s), AE_OK);
    return out;
}

/* Max |a-b| over pixels at least `margin` (output px) from the border. */
static float max_diff(const ae_image *a, const ae_image *b, int margin) {
    float m = 0.0f;
    assert_true(a->w == b->w && a->h == b->h && a->c == b->c);
    for (int c = 0; c < a->c; c++)
        for (int y = margin; y < a->h - margin; y++)
            for (int x = margin; x < a->w - margin; x++) {
                size_t i = ((size_t)c * a->h + y) * a->w + x;
                float d = fabsf(a->data[i] - b->data[i]);
                if (!(d <= m)) m = d; /* NaN propagates */
            }
    return m;
}

static void test_pointwise_exact(void **state) {
    (void)state;
    static const int sizes[][2] = {{333, 517}, {37, 23}, {1, 1}, {1, 70}, {129, 64}};
    static const int chans[][2] = {{1, 1}, {3, 3}, {3, 1}, {1, 3}};
    fn_ctx ctx = {.kind = F_AFFINE};
    for (size_t si = 0; si < 5; si++)
        for (size_t ci = 0; ci < 4; ci++)
            for (int s = 1; s <= 4; s *= 2) {
                ae_image *in = img_noise(sizes[si][0], sizes[si][1], chans[ci][0]);
                ctx.kind = s == 1 ? F_AFFINE : F_NEAREST;
                ae_image *ref = direct(in, chans[ci][1], s, &ctx);
                const int tiles[][2] = {{64, 8}, {256, 16}, {16, 5}, {1000, 0}};
                for (int t = 0; t < 4; t++) {
                    ae_image *out = run(in, chans[ci][1], s, tiles[t][0], tiles[t][1], &ctx);
                    if (memcmp(out->data, ref->data, (size_t)out->w * out->h * out->c * sizeof(float)) != 0)
                        fail_msg("%dx%d c %d->%d scale %d tile %d: not bit-exact (max diff %g)", in->w, in->h, in->c,
                                 out->c, s, tiles[t][0], max_diff(out, ref, 0));
                    img_del(out);
                }
                img_del(ref);
                img_del(in);
            }
}

/* NaN pixels stay NaN wherever tiles blend; tiny tiles (1..3 px) with any overlap stay exact. */
static void test_nan_and_tiny_tiles(void **state) {
    (void)state;
    fn_ctx ctx = {.kind = F_AFFINE};
    ae_image *in = img_noise(7, 5, 1);
    in->data[0] = in->data[17] = in->data[34] = NAN;
    ae_image *ref = direct(in, 1, 1, &ctx);
    for (int tile = 1; tile <= 3; tile++)
        for (int ov = 0; ov <= 3; ov++) {
            ae_image *out = run(in, 1, 1, tile, ov, &ctx);
            for (int i = 0; i < 35; i++) {
                if (isnan(ref->data[i])) assert_true(isnan(out->data[i]));
                else assert_true(out->data[i] == ref->data[i]);
            }
            img_del(out);
        }
    ae_image *sm = run(in, 1, 1, 2, 2, &ctx);
    assert_int_equal(ctx.calls, 4 * 3);
    img_del(sm), img_del(ref), img_del(in);
}

/* 9x9 box blur (radius 4): overlap 8 = 2 x radius makes every tile size agree with the whole image. */
static void test_box_blur(void **state) {
    (void)state;
    static const int chans[][4] = {{1, 1, 333, 517}, {3, 3, 150, 203}, {3, 1, 150, 203}};
    fn_ctx ctx = {.kind = F_BOX, .radius = 4};
    for (int ci = 0; ci < 3; ci++) {
        ae_image *in = img_noise(chans[ci][2], chans[ci][3], chans[ci][0]);
        ae_image *ref = direct(in, chans[ci][1], 1, &ctx);
        ae_image *whole = run(in, chans[ci][1], 1, 1024, 8, &ctx);
        assert_int_equal(ctx.calls, 1);
        ae_image *t64 = run(in, chans[ci][1], 1, 64, 8, &ctx);
        assert_int_equal(ctx.calls, ((in->w + 63) / 64) * ((in->h + 63) / 64));
        ae_image *t256 = run(in, chans[ci][1], 1, 256, 8, &ctx);
        ae_image *t40 = run(in, chans[ci][1], 1, 40, 11, &ctx);
        float d_whole = max_diff(whole, ref, 0), d64 = max_diff(t64, ref, 0), d256 = max_diff(t256, ref, 0);
        float d40 = max_diff(t40, ref, 0);
        print_message("box 9x9 c %d->%d: max|diff| vs whole image: single %g, tile 64 %g, tile 256 %g, tile 40 %g\n",
                      chans[ci][0], chans[ci][1], d_whole, d64, d256, d40);
        assert_true(d_whole <= TOL && d64 <= TOL && d256 <= TOL && d40 <= TOL);
        img_del(t40);
        /* too little overlap: the tile edges show; the comparison can fail */
        ae_image *bad = run(in, chans[ci][1], 1, 64, 4, &ctx);
        assert_true(max_diff(bad, ref, 0) > 1e-3f);
        img_del(bad);
        img_del(ref), img_del(whole), img_del(t64), img_del(t256), img_del(in);
    }
}

/* Bilinear upscale reads input pixels at distance <= 1: overlap 2 suffices. */
static void test_upscale(void **state) {
    (void)state;
    fn_ctx ctx = {.kind = F_BILINEAR};
    for (int s = 2; s <= 4; s *= 2)
        for (int c = 1; c <= 3; c += 2) {
            ae_image *in = img_noise(157, 211, c);
            ae_image *ref = direct(in, c, s, &ctx);
            ae_image *whole = run(in, c, s, 512, 2, &ctx);
            ae_image *t64 = run(in, c, s, 64, 2, &ctx);
            ae_image *t32 = run(in, c, s, 32, 4, &ctx);
            /* the whole-image call clamps at the border where tiles reflect: compare inside s px */
            float dref = max_diff(whole, ref, s), d64 = max_diff(t64, whole, 0), d32 = max_diff(t32, whole, 0);
            print_message("bilinear x%d c %d: single vs direct (interior) %g, tile 64 %g, tile 32 %g\n", s, c, dref,
                          d64, d32);
            assert_true(dref <= TOL && d64 <= TOL && d32 <= TOL);
            img_del(ref), img_del(whole), img_del(t64), img_del(t32), img_del(in);
        }
}

/* Largest jump between neighbouring pixels of d = out - in along x and y. */
static double max_step(const ae_image *out, const ae_image *in) {
    double m = 0;
    for (int y = 0; y < in->h; y++)
        for (int x = 0; x < in->w; x++) {
            size_t i = (size_t)y * in->w + x;
            double d = out->data[i] - in->data[i];
            if (x + 1 < in->w) m = fmax(m, fabs(out->data[i + 1] - in->data[i + 1] - d));
            if (y + 1 < in->h) m = fmax(m, fabs(out->data[i + in->w] - in->data[i + in->w] - d));
        }
    return m;
}

/* Largest mean difference between horizontally/vertically adjacent tiles. */
static double max_mean_jump(const fn_ctx *ctx, int ny, int nx) {
    double m = 0;
    for (int ty = 0; ty < ny; ty++)
        for (int tx = 0; tx < nx; tx++) {
            double a = ctx->means[ty * nx + tx];
            if (tx + 1 < nx) m = fmax(m, fabs(ctx->means[ty * nx + tx + 1] - a));
            if (ty + 1 < ny) m = fmax(m, fabs(ctx->means[(ty + 1) * nx + tx] - a));
        }
    return m;
}

/* A global function (adds the tile's mean) differs per tile; feathering must
 * spread each jump over the 2F = overlap pixel ramp instead of a hard seam. */
static void test_no_seams(void **state) {
    (void)state;
    ae_image *in = img_new(333, 517, 1);
    for (int y = 0; y < in->h; y++)
        for (int x = 0; x < in->w; x++) in->data[(size_t)y * in->w + x] = 4.0f * x / in->w + 6.0f * y / in->h + 0.1f * frand();
    fn_ctx ctx = {.kind = F_MEAN};
    ae_image *hard = run(in, 1, 1, 64, 0, &ctx);
    double hard_jump = max_mean_jump(&ctx, 9, 6), hard_step = max_step(hard, in);
    ae_image *soft = run(in, 1, 1, 64, 16, &ctx);
    double soft_jump = max_mean_jump(&ctx, 9, 6), soft_step = max_step(soft, in);
    print_message("seams: tile means jump up to %.4f; overlap 0 step %.4f, overlap 16 step %.5f (bound %.5f)\n",
                  hard_jump, hard_step, soft_step, soft_jump / 16);
    assert_true(hard_jump > 0.3 && hard_step >= 0.99 * hard_jump);
    assert_true(soft_step <= soft_jump / 16 * 1.001 + 1e-5);
    img_del(hard), img_del(soft), img_del(in);
}

/* With no overlap every output pixel comes from the one tile whose core holds it. */
static void test_cover_once(void **state) {
    (void)state;
    ae_image *in = img_new(333, 517, 1);
    fn_ctx ctx = {.kind = F_TILE_ID};
    ae_image *out = run(in, 1, 2, 64, 0, &ctx);
    assert_int_equal(ctx.calls, 9 * 6);
    long count[9 * 6 + 1] = {0};
    for (size_t i = 0; i < (size_t)out->w * out->h; i++) {
        float v = out->data[i];
        assert_true(v >= 1 && v <= 54 && v == (int)v);
        count[(int)v]++;
    }
    for (int k = 1; k <= 54; k++) { /* cores of 55 or 56 columns x 57 or 58 rows, doubled */
        int ty = (k - 1) / 6, tx = (k - 1) % 6;
        long cw = (long)((tx + 1) * 333 / 6 - tx * 333 / 6), ch = (long)((ty + 1) * 517 / 9 - ty * 517 / 9);
        assert_int_equal(count[k], cw * ch * 4);
        assert_true(cw <= 64 && ch <= 64);
    }
    img_del(out), img_del(in);
}

static void test_errors(void **state) {
    (void)state;
    ae_image *in = img_noise(50, 40, 1), *out = img_new(100, 80, 1), *wrong = img_new(100, 81, 1);
    fn_ctx ctx = {.kind = F_FAIL};
    assert_int_equal(ae_tile_run(in, out, 2, 16, 4, test_fn, &ctx), AE_ERR_SHAPE);
    assert_non_null(strstr(ae_error_message(), "tile (0, 0) of 3x4: network refused the tile"));
    ctx.kind = F_AFFINE;
    assert_int_equal(ae_tile_run(in, wrong, 2, 16, 4, test_fn, &ctx), AE_ERR_ARG);
    assert_non_null(strstr(ae_error_message(), "expected 100x80"));
    assert_int_equal(ae_tile_run(in, out, 2, 0, 4, test_fn, &ctx), AE_ERR_ARG);
    assert_int_equal(ae_tile_run(in, out, 2, 16, -1, test_fn, &ctx), AE_ERR_ARG);
    assert_int_equal(ae_tile_run(in, out, 0, 16, 4, test_fn, &ctx), AE_ERR_ARG);
    assert_int_equal(ae_tile_run(in, out, 2, 16, 4, NULL, &ctx), AE_ERR_ARG);
    assert_int_equal(ae_tile_run(NULL, out, 2, 16, 4, test_fn, &ctx), AE_ERR_ARG);
    assert_int_equal(ae_tile_run(in, out, 2, 16, AE_MAX_DIM + 1, test_fn, &ctx), AE_ERR_ARG);
    img_del(in), img_del(out), img_del(wrong);
}

static void test_default_tile(void **state) {
    (void)state;
    int t = ae_tile_default(4096, 0);
    assert_int_equal(t, 512); /* 512^2 * 4096 = 1 GiB exactly */
    for (size_t bpp = 100; bpp < 100000; bpp = bpp * 3 + 7) {
        size_t budget = (size_t)256 << 20;
        t = ae_tile_default(bpp, budget);
        assert_true(t % 16 == 0 && t >= 32 && t <= 4096);
        if (t > 32) assert_true((size_t)t * t * bpp <= budget);
        if (t < 4096) assert_true((size_t)(t + 16) * (t + 16) * bpp > budget);
    }
    assert_int_equal(ae_tile_default(0, 0), 4096);
    assert_int_equal(ae_tile_default((size_t)1 << 40, 0), 32);
}

static long maxrss_kib(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

/* Lowers the peak-RSS mark to the current RSS (Linux >= 4.0); 0 on success. */
static int reset_peak_rss(void) {
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (!f) return -1;
    int ok = fputs("5", f) >= 0;
    return fclose(f) == 0 && ok ? 0 : -1;
}

static void test_large_bounded_memory(void **state) {
    (void)state;
    ae_image *in = img_new(4000, 4000, 1), *out = img_new(4000, 4000, 1);
    for (size_t i = 0; i < (size_t)4000 * 4000; i++) in->data[i] = (float)(i % 4099) * 0.001f;
    memset(out->data, 0, (size_t)4000 * 4000 * sizeof(float)); /* touch every page before measuring */
    if (reset_peak_rss() != 0) print_message("cannot reset peak RSS; relying on this test running first\n");
    long before = maxrss_kib();
    fn_ctx ctx = {.kind = F_AFFINE};
    assert_int_equal(ae_tile_run(in, out, 1, 512, 16, test_fn, &ctx), AE_OK);
    long growth = maxrss_kib() - before;
    print_message("4000x4000, tile 512, overlap 16: %d tiles, peak RSS before %ld KiB, growth %ld KiB "
                  "(image itself is %zu KiB)\n",
                  ctx.calls, before, growth, (size_t)4000 * 4000 * 4 / 1024);
    assert_int_equal(ctx.calls, 8 * 8);
    assert_true(growth < 16 * 1024); /* one 544x544 tile in and out is ~2.3 MiB */
    for (size_t i = 0; i < (size_t)4000 * 4000; i += 99991) assert_true(out->data[i] == 3.0f * in->data[i] - 0.5f);
    img_del(in), img_del(out);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_large_bounded_memory), cmocka_unit_test(test_pointwise_exact),
        cmocka_unit_test(test_box_blur),             cmocka_unit_test(test_upscale),
        cmocka_unit_test(test_no_seams),             cmocka_unit_test(test_cover_once),
        cmocka_unit_test(test_errors),               cmocka_unit_test(test_default_tile),
        cmocka_unit_test(test_nan_and_tiny_tiles),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
