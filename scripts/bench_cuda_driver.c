/* bench_cuda_driver.c - the C side of scripts/bench_cuda.py: times astroenh's
 * own inference path (colorizer forward, SR3 sampling, a batch of
 * colorizations) on one backend and prints one JSON object per measurement.
 * Built by bench_cuda.py against the objects of build/ (not part of the
 * library or the test suite). Benchmarks print times; they assert nothing.
 *
 *   bench_cuda_driver --device cuda|cpu --precision fp32|fp16
 *       --colorizer FILE --size 256 --reps 20 --batch 64
 *       --sr3 FILE --sr-size 128 --steps 100
 *
 * colorizer: ae_colorizer_forward on a size x size L plane (host in, host
 *   out: the upload/download are part of the path), warm (planned arena,
 *   cuDNN algorithms found), median and min of reps.
 * batch: `batch` forwards back to back (the C API takes one image at a time).
 * sr3: one DDPM sampling of `steps` steps at sr-size x sr-size output as
 *   src/upscale/drive.c does it on one tile: per step upload (LR, x_t),
 *   U-Net on the backend, download eps, noise and update on the host.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "astroenh/arena.h"
#include "astroenh/backend.h"
#include "astroenh/colorizer.h"
#include "astroenh/sampler.h"
#include "astroenh/sr3.h"
#include "astroenh/upscale.h"
#ifdef AE_HAVE_CUDA
#include "../src/backend/cuda_backend.h"
#endif

typedef struct {
    const char *device, *precision, *colorizer, *sr3;
    int size, reps, batch, sr_size, steps;
} opts;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static float *rand_plane(size_t n, uint64_t seed) {
    float *p = malloc(n * sizeof *p);
    for (size_t i = 0; p && i < n; i++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        p[i] = (float)((seed >> 40) * (1.0 / 16777216.0)) * 2.0f - 1.0f;
    }
    return p;
}

static int fail(const char *what) {
    fprintf(stderr, "bench_cuda_driver: %s: %s\n", what, ae_error_message());
    return 1;
}

static int bench_colorizer(const ae_backend *be, const opts *o) {
    ae_colorizer *m = NULL;
    if (ae_colorizer_load(&m, o->colorizer, be)) return fail(o->colorizer);
    int n = o->size, oc = ae_colorizer_out_channels(m);
    float *x = rand_plane((size_t)n * n, 1), *y = malloc((size_t)oc * n * n * sizeof *y);
    double *t = malloc((size_t)o->reps * sizeof *t);
    int rc = !x || !y || !t;
    for (int i = 0; i < 3 && !rc; i++) rc = ae_colorizer_forward(m, x, n, n, y) ? fail("colorizer warm-up") : 0;
    for (int i = 0; i < o->reps && !rc; i++) {
        double t0 = now_s();
        rc = ae_colorizer_forward(m, x, n, n, y) ? fail("colorizer") : 0;
        t[i] = now_s() - t0;
    }
    if (!rc) {
        qsort(t, (size_t)o->reps, sizeof *t, cmp_d);
        printf("{\"what\": \"colorizer\", \"model\": \"%s\", \"size\": %d, \"reps\": %d, \"median_ms\": %.3f, "
               "\"min_ms\": %.3f}\n", ae_colorizer_describe(m), n, o->reps, 1e3 * t[o->reps / 2], 1e3 * t[0]);
        double t0 = now_s();
        for (int i = 0; i < o->batch && !rc; i++) rc = ae_colorizer_forward(m, x, n, n, y) ? fail("batch") : 0;
        double dt = now_s() - t0;
        if (!rc)
            printf("{\"what\": \"colorizer_batch\", \"size\": %d, \"batch\": %d, \"total_s\": %.4f, "
                   "\"images_per_s\": %.2f}\n", n, o->batch, dt, o->batch / dt);
    }
    free(x);
    free(y);
    free(t);
    ae_colorizer_free(m);
    return rc;
}

/* One U-Net evaluation: pair (2 x H x W host) -> eps (host), arena planned on first use. */
static ae_status sr3_eval(const ae_backend *be, ae_arena *A, const ae_sr3 *m, const float *pair, int H, int W,
                          float gamma, float *eps) {
    ae_status st = AE_OK;
    for (int pass = ae_arena_planning(A) ? 0 : 1; pass < 2 && st == AE_OK; pass++) {
        ae_tensor x = {0}, e = {0};
        ae_arena_reset(A);
        st = ae_arena_tensor(A, &x, 1, m->in_channel, H, W);
        if (st == AE_OK) st = ae_arena_tensor(A, &e, 1, m->out_channel, H, W);
        if (st == AE_OK) st = ae_nn_upload(be, A, &x, pair);
        if (st == AE_OK) st = ae_sr3_forward(m, be, A, &x, gamma, &e);
        if (st == AE_OK) st = ae_nn_download(be, A, &e, eps);
        if (st == AE_OK && pass == 0) st = ae_arena_commit(A);
    }
    return st;
}

static int bench_sr3(const ae_backend *be, const opts *o) {
    ae_weights *Wt = NULL;
    static ae_sr3 m;
    if (ae_weights_open(&Wt, o->sr3) || ae_sr3_load(&m, Wt)) return fail(o->sr3);
    int H = o->sr_size, W = o->sr_size, s = m.scale;
    size_t n = (size_t)H * W;
    ae_schedule sch = {0};
    ae_arena *A = NULL;
    float *lr = rand_plane(n / ((size_t)s * s), 7), *pair = malloc(2 * n * sizeof(float));
    float *eps = malloc(n * sizeof(float)), *noise = malloc(n * sizeof(float));
    int rc = !lr || !pair || !eps || !noise || m.in_channel != 2 || m.out_channel != 1 || H % s;
    if (rc) fprintf(stderr, "bench_cuda_driver: SR3 setup failed (memory, or not a 2-in/1-out model)\n");
    if (!rc && (ae_schedule_create(&sch, AE_SAMPLER_DDPM, o->steps, AE_SR3_T, AE_SR3_BETA0, AE_SR3_BETA1) ||
                ae_arena_create(&A, be)))
        rc = fail("SR3 schedule/arena");
    float *x = pair + n;
    if (!rc) {
        ae_bicubic_up(pair, lr, 1, H / s, W / s, s);
        ae_noise_fill(x, 1, H, W, 0, 0, 1, ae_noise_stream(0, 0));
        for (int i = 0; i < 2 && !rc; i++) /* warm-up: plan, find algorithms */
            rc = sr3_eval(be, A, &m, pair, H, W, 0.5f, eps) ? fail("SR3 warm-up") : 0;
    }
    double t0 = now_s();
    for (int i = sch.steps - 1; i >= 0 && !rc; i--) {
        rc = sr3_eval(be, A, &m, pair, H, W, ae_schedule_gamma(&sch, i), eps) ? fail("SR3 step") : 0;
        if (i > 0) ae_noise_fill(noise, 1, H, W, 0, 0, 1, ae_noise_stream(0, sch.steps - i));
        if (!rc) ae_sampler_step(&sch, i, x, eps, noise, m.residual ? pair : NULL, m.residual_scale, n);
    }
    double dt = now_s() - t0;
    if (!rc)
        printf("{\"what\": \"sr3\", \"out\": %d, \"scale\": %d, \"steps\": %d, \"total_s\": %.4f, "
               "\"ms_per_step\": %.3f}\n", H, s, o->steps, dt, 1e3 * dt / o->steps);
    ae_arena_free(A);
    ae_schedule_free(&sch);
    free(lr);
    free(pair);
    free(eps);
    free(noise);
    ae_weights_close(Wt);
    return rc;
}

static int parse(int argc, char **argv, opts *o) {
    *o = (opts){"cuda", "fp32", NULL, NULL, 256, 20, 64, 128, 100};
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];
        if (!strcmp(k, "--device")) o->device = v;
        else if (!strcmp(k, "--precision")) o->precision = v;
        else if (!strcmp(k, "--colorizer")) o->colorizer = v;
        else if (!strcmp(k, "--sr3")) o->sr3 = v;
        else if (!strcmp(k, "--size")) o->size = atoi(v);
        else if (!strcmp(k, "--reps")) o->reps = atoi(v);
        else if (!strcmp(k, "--batch")) o->batch = atoi(v);
        else if (!strcmp(k, "--sr-size")) o->sr_size = atoi(v);
        else if (!strcmp(k, "--steps")) o->steps = atoi(v);
        else return fprintf(stderr, "bench_cuda_driver: unknown option %s\n", k), 2;
    }
    if (argc % 2 == 0 || o->size < 32 || o->size % 32 || o->reps < 1 || o->batch < 1 || o->sr_size < 8 ||
        o->steps < 1)
        return fprintf(stderr, "bench_cuda_driver: bad arguments (size: multiple of 32)\n"), 2;
    return 0;
}

int main(int argc, char **argv) {
    opts o;
    int rc = parse(argc, argv, &o);
    if (rc) return rc;
    if (ae_backend_set_precision(o.precision)) return fail("--precision");
    const ae_backend *be = NULL;
    if (ae_backend_get(o.device, &be)) return fail(o.device);
    const char *desc = "cpu";
#ifdef AE_HAVE_CUDA
    if (!strcmp(be->name, "cuda")) desc = ae_backend_cuda_describe(be);
#endif
    printf("{\"what\": \"device\", \"backend\": \"%s\", \"precision\": \"%s\", \"describe\": \"%s\"}\n", be->name,
           o.precision, desc);
    fflush(stdout);
    if (o.colorizer) rc |= bench_colorizer(be, &o);
    fflush(stdout);
    if (o.sr3) rc |= bench_sr3(be, &o);
    return rc;
}
