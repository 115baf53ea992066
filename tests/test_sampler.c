/* test_sampler.c - SR3 schedules, reverse steps, counter-based noise, and the
 * determinism of `upscale --model sr3` for a seed.
 *
 * References from scripts/sr_golden.py (tests/golden/sr_io.safetensors): one
 * DDPM and one DDIM step of the 100-step re-spaced schedule computed in
 * float64 by PyTorch, and the numpy twin of the counter-based noise. The
 * stage runs use the tiny random-weight SR3 model of the golden set.
 * The residual-target (SRDiff) steps clamp x0 per pixel to c (+-1 - up)
 * (tiny_sr3.x_*_res, and the shipped models when they are residual ones).
 * Tile invariance of the noise is checked here; that of the whole result
 * only holds for the fast net (test_srfast.c): SR3's GroupNorm statistics
 * and attention span the tile.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "astroenh/backend.h"
#include "astroenh/sampler.h"
#include "astroenh/upscale.h"
#include "support/golden_util.h"
#include "../src/upscale/upscale_internal.h"

static ae_weights *IO;

static int setup(void **st) {
    (void)st;
    return ae_weights_open(&IO, "tests/golden/sr_io.safetensors") == AE_OK ? 0 : -1;
}
static int teardown(void **st) {
    (void)st;
    ae_weights_close(IO);
    return 0;
}

static void test_schedule(void **st) {
    (void)st;
    ae_schedule s;
    assert_int_equal(ae_schedule_create(&s, AE_SAMPLER_DDPM, AE_SR3_T, AE_SR3_T, AE_SR3_BETA0, AE_SR3_BETA1), AE_OK);
    double prod = 1.0;
    for (int t = 0; t < AE_SR3_T; t++) {
        prod *= 1.0 - (AE_SR3_BETA0 + t * (AE_SR3_BETA1 - AE_SR3_BETA0) / (AE_SR3_T - 1));
        assert_true(fabs(s.ab[t] - prod) <= 1e-12 * prod);
    }
    ae_schedule_free(&s);
    int steps[4] = {1000, 500, 100, 50};
    for (int k = 0; k < 4; k++) {
        assert_int_equal(ae_schedule_create(&s, AE_SAMPLER_DDIM, steps[k], AE_SR3_T, AE_SR3_BETA0, AE_SR3_BETA1),
                         AE_OK);
        assert_true(s.ab[0] > 0.999998 && s.ab[0] < 1.0); /* first training step kept */
        assert_true(fabs(s.ab[steps[k] - 1] - prod) < 1e-15);  /* last training step kept */
        for (int i = 1; i < steps[k]; i++) assert_true(ae_schedule_gamma(&s, i) < ae_schedule_gamma(&s, i - 1));
        ae_schedule_free(&s);
    }
    assert_int_equal(ae_schedule_create(&s, AE_SAMPLER_DDPM, 0, AE_SR3_T, AE_SR3_BETA0, AE_SR3_BETA1), AE_ERR_ARG);
    assert_int_equal(ae_schedule_create(&s, AE_SAMPLER_DDPM, 2001, AE_SR3_T, AE_SR3_BETA0, AE_SR3_BETA1),
                     AE_ERR_ARG);
    assert_non_null(strstr(ae_error_message(), "2001"));
}

static ae_tensor field(const char *name, const char *f) {
    char key[96];
    snprintf(key, sizeof key, "%s.%s", name, f);
    return golden_tensor(IO, key);
}

/* One step of case `name` (xt, eps, z, up) against the reference `ref`;
 * c > 0: residual target with scale c, c == 0: image target. */
static void check_step(ae_sampler_kind kind, const char *name, const char *ref, float c) {
    ae_schedule s;
    assert_int_equal(ae_schedule_create(&s, kind, golden_int(IO, "steps"), AE_SR3_T, AE_SR3_BETA0, AE_SR3_BETA1),
                     AE_OK);
    ae_tensor xt = field(name, "xt"), eps = field(name, "eps"), z = field(name, "z"), up = field(name, "up");
    ae_tensor want = field(name, ref);
    size_t n = ae_tensor_numel(&xt);
    float *x = malloc(n * sizeof *x);
    memcpy(x, xt.data, n * sizeof *x);
    ae_sampler_step(&s, golden_int(IO, "step_i"), x, eps.data, z.data, c > 0 ? up.data : NULL, c > 0 ? c : 1.0f, n);
    assert_int_equal(golden_compare(ref, x, want.data, n, 1e-6f, 1e-5f), 0);
    free(x);
    ae_schedule_free(&s);
}

static void test_step_ddpm(void **st) {
    (void)st;
    check_step(AE_SAMPLER_DDPM, "tiny_sr3", "x_ddpm", 0.0f);
}

static void test_step_ddim(void **st) {
    (void)st;
    check_step(AE_SAMPLER_DDIM, "tiny_sr3", "x_ddim", 0.0f);
}

/* Residual target: the same x_t/eps, x0 clamped to c (+-1 - up). The
 * references differ from the image-target ones on most pixels, so a sampler
 * that ignored up/c would fail here. Shipped residual models too. */
static void test_step_residual(void **st) {
    (void)st;
    float c = strtof(ae_weights_meta(IO, "tiny_sr3.res_c"), NULL);
    assert_true(c > 0);
    ae_tensor a = field("tiny_sr3", "x_ddpm"), b = field("tiny_sr3", "x_ddpm_res");
    size_t differ = 0;
    for (size_t k = 0; k < ae_tensor_numel(&a); k++) differ += fabsf(a.data[k] - b.data[k]) > 1e-3f;
    assert_true(differ > ae_tensor_numel(&a) / 2);
    check_step(AE_SAMPLER_DDPM, "tiny_sr3", "x_ddpm_res", c);
    check_step(AE_SAMPLER_DDIM, "tiny_sr3", "x_ddim_res", c);
    const char *shipped[2] = {"sr3_x2", "sr3_x4"};
    for (int i = 0; i < 2; i++) {
        char key[64];
        snprintf(key, sizeof key, "%s.residual_scale", shipped[i]);
        const char *v = ae_weights_meta(IO, key);
        if (!v) continue;
        check_step(AE_SAMPLER_DDPM, shipped[i], "x_ddpm", strtof(v, NULL));
        check_step(AE_SAMPLER_DDIM, shipped[i], "x_ddim", strtof(v, NULL));
    }
}

/* The same noise as the numpy twin; windows equal crops of the global field. */
static void test_noise(void **st) {
    (void)st;
    ae_tensor ref = golden_tensor(IO, "noise.field"); /* 2 x 5 x 6 at (3, 1000) */
    uint64_t seed = strtoull(ae_weights_meta(IO, "noise.seed"), NULL, 10);
    uint64_t stream = strtoull(ae_weights_meta(IO, "noise.stream"), NULL, 10);
    assert_int_equal(stream, ae_noise_stream(2, 7));
    float got[60];
    ae_noise_fill(got, 2, 5, 6, 3, 1000, seed, stream);
    assert_int_equal(golden_compare("noise vs numpy", got, ref.data, 60, 1e-6f, 1e-6f), 0);

    int C = 2, H = 40, W = 50;
    float *g = malloc(sizeof(float) * C * H * W), win[2 * 9 * 11];
    ae_noise_fill(g, C, H, W, 0, 0, 7, 3);
    ae_noise_fill(win, C, 9, 11, 13, 17, 7, 3);
    for (int c = 0; c < C; c++)
        for (int y = 0; y < 9; y++)
            for (int x = 0; x < 11; x++) {
                float v = g[((size_t)c * H + 13 + y) * W + 17 + x];
                assert_true(win[(c * 9 + y) * 11 + x] == v);
                assert_true(ae_noise_at(7, 3, c, 13 + y, 17 + x) == v);
            }
    double m = 0, v2 = 0;
    for (int i = 0; i < C * H * W; i++) m += g[i], v2 += (double)g[i] * g[i];
    m /= C * H * W;
    v2 = v2 / (C * H * W) - m * m;
    assert_true(fabs(m) < 0.05 && fabs(sqrt(v2) - 1.0) < 0.05);
    ae_noise_fill(win, C, 9, 11, 13, 17, 8, 3); /* another seed: other noise */
    assert_true(win[0] != g[13 * W + 17]);
    free(g);
}

/* Runs `upscale --model sr3` with a tiny model on a fixed 14 x 10 image. */
static ae_status run_stage_with(const char *weights, unsigned long long seed, int threads, int tile,
                                const char *sampler, int steps, ae_image **out) {
    const ae_stage_def *d = &ae_stage_upscale;
    void *opts = calloc(1, d->opts_size), *state = NULL;
    d->opts_init(opts);
    char stp[16];
    snprintf(stp, sizeof stp, "%d", steps);
    char *argv[] = {"--model", "sr3", "--sampler", (char *)sampler, "--steps", stp, "--weights", (char *)weights};
    for (int i = 0; i < 8; i += 2) assert_int_equal(ae_stage_parse_opt(d, opts, 8, argv, i), 2);
    ae_global_opts g = {.device = "cpu", .threads = threads, .seed = seed, .tile = tile};
    ae_backend_set_threads(threads, NULL);
    ae_status st = d->prepare(opts, &g, &state);
    ae_image *in = NULL;
    if (st == AE_OK) st = ae_image_create(&in, 14, 10, 1);
    if (st == AE_OK) {
        in->range = AE_RANGE_DISPLAY;
        for (int i = 0; i < 140; i++) in->data[i] = 0.5f + 0.4f * sinf(0.3f * i);
        ae_stage_ctx ctx = {"in.png", "out.png", &g};
        ae_result res;
        memset(&res, 0, sizeof res);
        st = d->run(state, opts, in, out, &ctx, &res);
    }
    ae_image_free(in);
    if (state) d->release(state);
    free(opts);
    return st;
}

static ae_status run_stage(unsigned long long seed, int threads, int tile, const char *sampler, int steps,
                           ae_image **out) {
    return run_stage_with("tests/golden/sr_tiny_sr3.safetensors", seed, threads, tile, sampler, steps, out);
}

static size_t count_diff(const ae_image *a, const ae_image *b) {
    size_t n = 0, N = ae_image_npix(a) * a->c;
    for (size_t i = 0; i < N; i++) n += memcmp(&a->data[i], &b->data[i], sizeof(float)) != 0;
    return n;
}

static void test_stage_determinism(void **st) {
    (void)st;
    const char *samplers[2] = {"ddpm", "ddim"};
    for (int k = 0; k < 2; k++) {
        ae_image *a = NULL, *b = NULL, *c = NULL, *d = NULL;
        assert_int_equal(run_stage(5, 1, 0, samplers[k], 8, &a), AE_OK);
        assert_int_equal(run_stage(5, 1, 0, samplers[k], 8, &b), AE_OK);
        assert_int_equal(run_stage(5, 2, 0, samplers[k], 8, &c), AE_OK);
        assert_int_equal(run_stage(6, 1, 0, samplers[k], 8, &d), AE_OK);
        assert_int_equal(a->w, 28);
        assert_int_equal(a->h, 20);
        assert_int_equal(count_diff(a, b), 0); /* same seed: bit-identical */
        /* 2 threads: ops split their work into a fixed number of items
         * (AE_SPLIT_ITEMS), never by thread count, so bit-identical too */
        assert_int_equal(count_diff(a, c), 0);
        assert_true(count_diff(a, d) > 100);   /* another seed: another sample */
        ae_image_free(a);
        ae_image_free(b);
        ae_image_free(c);
        ae_image_free(d);
    }
    ae_backend_set_threads(0, NULL);
}

/* The residual-target twin of the tiny model: deterministic for a seed, a
 * different function from the image-target one, and its output stays in
 * [0,1] because the last step returns bicubic + clamped x0 / c. */
static void test_stage_residual(void **st) {
    (void)st;
    const char *samplers[2] = {"ddpm", "ddim"};
    for (int k = 0; k < 2; k++) {
        ae_image *a = NULL, *b = NULL, *img = NULL;
        assert_int_equal(run_stage_with("tests/golden/sr_tiny_sr3_res.safetensors", 5, 1, 0, samplers[k], 8, &a),
                         AE_OK);
        assert_int_equal(run_stage_with("tests/golden/sr_tiny_sr3_res.safetensors", 5, 1, 0, samplers[k], 8, &b),
                         AE_OK);
        assert_int_equal(run_stage(5, 1, 0, samplers[k], 8, &img), AE_OK);
        assert_int_equal(count_diff(a, b), 0);
        assert_true(count_diff(a, img) > 100);
        for (size_t i = 0; i < ae_image_npix(a); i++) assert_true(a->data[i] >= -1e-6f && a->data[i] <= 1 + 1e-6f);
        ae_image_free(a);
        ae_image_free(b);
        ae_image_free(img);
    }
    ae_backend_set_threads(0, NULL);
}

/* SR3's tiling is fixed (whole output up to 512 px per side, 256 px tiles
 * beyond) and --tile does not reach it, so a seed gives the same image
 * whatever --tile says: --tile 3 would cut the 14 x 10 input's 28 x 20 output
 * into 6 px tiles if it applied. */
static void test_default_tile(void **st) {
    (void)st;
    assert_int_equal(up_sr3_tile(512, 300), 512);
    assert_int_equal(up_sr3_tile(20, 28), 28);
    assert_int_equal(up_sr3_tile(514, 100), 256);
    ae_image *a = NULL, *b = NULL;
    assert_int_equal(run_stage(5, 1, 0, "ddim", 4, &a), AE_OK);
    assert_int_equal(run_stage(5, 1, 3, "ddim", 4, &b), AE_OK);
    assert_int_equal(count_diff(a, b), 0);
    ae_image_free(a);
    ae_image_free(b);
    ae_backend_set_threads(0, NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_schedule),
        cmocka_unit_test(test_step_ddpm),
        cmocka_unit_test(test_step_ddim),
        cmocka_unit_test(test_step_residual),
        cmocka_unit_test(test_noise),
        cmocka_unit_test(test_stage_determinism),
        cmocka_unit_test(test_stage_residual),
        cmocka_unit_test(test_default_tile),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
