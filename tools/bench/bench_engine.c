/* bench_engine.c - `astroenh bench`: the inference engine against PyTorch.
 *
 * In one run: (1) scripts/bench_engine.py (PyTorch on the CPU, same thread
 * count) writes the benchmark networks' weights, input and output to
 * build/bench_engine.safetensors and prints its timings; (2) OpenBLAS's sgemm
 * peak is measured on a large square product; (3) each op and both networks
 * run here, the networks' outputs are checked against PyTorch's, and a table
 * prints ms, GFLOP/s, % of the sgemm peak and the speed ratio (PyTorch time /
 * engine time, > 1 = faster than PyTorch). The shipped upscaling networks
 * (models/fast_x2, fast_x4: srfast or rdn, run by their own model code) get
 * a line of milliseconds per output megapixel on both sides as well.
 * PyTorch and the engine take
 * turns for --rounds rounds and each figure is the best of all its runs, so
 * on a shared machine both sides sample the load alike.
 * Benchmarks report; they assert nothing.
 */
#include <cblas.h>
#include <cjson/cJSON.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "astroenh/batch.h"
#include "astroenh/nn.h"
#include "astroenh/rdn.h"
#include "astroenh/srfast.h"
#include "../../src/nn/cpu_ops.h"
#include "bench_nets.h"
#include "../tools.h"

#define MAX_TORCH 64
#define MAX_ROWS 32

/* One line of the engine's table: best time over all rounds. */
typedef struct {
    char name[80], torch_label[80], note[512];
    double ms, alt_ms, gflop, cpu_ms;
    double out_mp; /* output megapixels of a shipped network's row, else 0 */
} eng_row;

typedef struct {
    int threads, reps, net_reps, torch, sgemm_n, rounds;
    const char *python, *weights, *models;
    int fast_px;
    char torch_names[MAX_TORCH][64];
    double torch_ms[MAX_TORCH], torch_cpu_ms[MAX_TORCH];
    int n_torch;
    double peak_gflops;
    eng_row rows[MAX_ROWS];
    int n_rows;
} bench;

static double min_pos(double a, double b) { return a <= 0 ? b : b <= 0 ? a : a < b ? a : b; }

static eng_row *eng_record(bench *b, const char *name, const char *torch_label, double ms, double cpu_ms,
                       double alt, double gflop, const char *note) {
    eng_row *r = NULL;
    for (int i = 0; i < b->n_rows && !r; i++)
        if (!strcmp(b->rows[i].name, name)) r = &b->rows[i];
    if (!r) {
        if (b->n_rows == MAX_ROWS) return NULL;
        r = &b->rows[b->n_rows++];
        snprintf(r->name, sizeof r->name, "%s", name);
        snprintf(r->torch_label, sizeof r->torch_label, "%s", torch_label);
        r->ms = r->alt_ms = r->cpu_ms = -1;
    }
    r->ms = min_pos(r->ms, ms);
    r->cpu_ms = min_pos(r->cpu_ms, cpu_ms);
    r->alt_ms = min_pos(r->alt_ms, alt);
    r->gflop = gflop;
    if (note) snprintf(r->note, sizeof r->note, "%s", note);
    return r;
}

static double clock_s(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
static double now_s(void) { return clock_s(CLOCK_MONOTONIC); }

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef ae_status (*bench_fn)(void *ctx);

/* Best (minimum) wall-clock milliseconds of `reps` runs after one warm-up,
 * -1 on error: on a shared machine the minimum is the least disturbed run.
 * *cpu_ms (if not NULL): the minimum process CPU time (all threads), which
 * does not count time preempted by other processes. The PyTorch script
 * reports the same two statistics. */
static double time_ms2(bench_fn fn, void *ctx, int reps, double *cpu_ms) {
    double t[64], c = -1;
    if (reps > 64) reps = 64;
    if (fn(ctx) != AE_OK) return -1.0;
    for (int i = 0; i < reps; i++) {
        double t0 = now_s(), c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
        if (fn(ctx) != AE_OK) return -1.0;
        t[i] = (now_s() - t0) * 1e3;
        c = min_pos(c, (clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0) * 1e3);
    }
    if (cpu_ms) *cpu_ms = c;
    qsort(t, (size_t)reps, sizeof *t, cmp_double);
    return t[0];
}

static double time_ms(bench_fn fn, void *ctx, int reps) { return time_ms2(fn, ctx, reps, NULL); }

static double torch_ms(const bench *b, const char *name, int cpu) {
    for (int i = 0; i < b->n_torch; i++)
        if (!strcmp(b->torch_names[i], name)) return cpu ? b->torch_cpu_ms[i] : b->torch_ms[i];
    return -1.0;
}

static void run_python(bench *b, int write, int no_ops) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s scripts/bench_engine.py --threads %d --reps %d --net-reps %d --out %s "
             "--models %s --fast-px %d%s%s", b->python, b->threads, b->reps, b->net_reps, b->weights, b->models,
             b->fast_px, write ? "" : " --no-write", no_ops ? " --no-ops" : "");
    printf("PyTorch side: %s\n", cmd);
    fflush(stdout);
    FILE *p = popen(cmd, "r");
    char line[1024];
    if (!p) {
        printf("  could not start it; engine numbers only\n");
        return;
    }
    while (fgets(line, sizeof line, p)) {
        cJSON *j = cJSON_Parse(line);
        const cJSON *n = cJSON_GetObjectItem(j, "name"), *ms = cJSON_GetObjectItem(j, "ms");
        const cJSON *cms = cJSON_GetObjectItem(j, "cpu_ms");
        if (cJSON_IsString(n) && !strcmp(n->valuestring, "info"))
            printf("  torch %s, %d threads\n", cJSON_GetStringValue(cJSON_GetObjectItem(j, "torch")),
                   (int)cJSON_GetNumberValue(cJSON_GetObjectItem(j, "threads")));
        if (cJSON_IsString(n) && cJSON_IsNumber(ms)) {
            int i = 0;
            while (i < b->n_torch && strcmp(b->torch_names[i], n->valuestring)) i++;
            if (i == b->n_torch && b->n_torch < MAX_TORCH) {
                snprintf(b->torch_names[i], sizeof b->torch_names[0], "%s", n->valuestring);
                b->torch_ms[b->n_torch] = b->torch_cpu_ms[b->n_torch] = -1;
                b->n_torch++;
            }
            if (i < b->n_torch) b->torch_ms[i] = min_pos(b->torch_ms[i], ms->valuedouble);
            if (i < b->n_torch && cJSON_IsNumber(cms))
                b->torch_cpu_ms[i] = min_pos(b->torch_cpu_ms[i], cms->valuedouble);
        }
        cJSON_Delete(j);
    }
    int rc = pclose(p);
    if (rc) printf("  the PyTorch script failed (status %d); missing figures are shown as '-'\n", rc);
}

/* ---- sgemm peak ------------------------------------------------------------ */

typedef struct {
    int n;
    float *a, *b, *c;
} gemm_ctx;

static ae_status gemm_run(void *p) {
    gemm_ctx *g = p;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, g->n, g->n, g->n, 1.0f, g->a, g->n, g->b,
                g->n, 0.0f, g->c, g->n);
    return AE_OK;
}

/* OpenBLAS with its own pool of b->threads threads on one large square
 * product (the peak the table refers to), and single-threaded for scale.
 * Leaves OpenBLAS at 1 thread, as the engine runs it. */
static void measure_peak(bench *b) {
    size_t nn = (size_t)b->sgemm_n * b->sgemm_n;
    gemm_ctx g = {b->sgemm_n, calloc(nn, 4), calloc(nn, 4), calloc(nn, 4)};
    double gf[2] = {0, 0};
    if (g.a && g.b && g.c) {
        for (size_t i = 0; i < nn; i++) g.a[i] = g.b[i] = (float)(i % 17) * 0.01f;
        for (int k = 0; k < 2; k++) {
            openblas_set_num_threads(k ? 1 : b->threads);
            gf[k] = 2.0 * pow(b->sgemm_n, 3) / (time_ms(gemm_run, &g, 3) * 1e6);
        }
        if (gf[0] > b->peak_gflops) b->peak_gflops = gf[0];
        printf("  OpenBLAS sgemm %dx%dx%d: %.1f GFLOP/s with %d threads, %.1f GFLOP/s with 1\n",
               b->sgemm_n, b->sgemm_n, b->sgemm_n, gf[0], b->threads, gf[1]);
    }
    openblas_set_num_threads(1);
    free(g.a), free(g.b), free(g.c);
}

static void print_row(const bench *b, const char *name, double ms, double ms_alt, double torch, double gflop,
                      double cpu, double torch_cpu) {
    char t[32] = "-", r[32] = "-", gf[32] = "-", pk[32] = "-", alt[32] = "-", c[32] = "-", tc[32] = "-", rc[32] = "-";
    if (cpu > 0) snprintf(c, sizeof c, "%.2f", cpu);
    if (torch_cpu > 0) snprintf(tc, sizeof tc, "%.2f", torch_cpu);
    if (cpu > 0 && torch_cpu > 0) snprintf(rc, sizeof rc, "%.2fx", torch_cpu / cpu);
    if (torch > 0) snprintf(t, sizeof t, "%.2f", torch);
    if (torch > 0 && ms > 0) snprintf(r, sizeof r, "%.2fx", torch / ms);
    if (gflop > 0 && ms > 0) snprintf(gf, sizeof gf, "%.1f", gflop / (ms * 1e-3));
    if (gflop > 0 && ms > 0 && b->peak_gflops > 0)
        snprintf(pk, sizeof pk, "%.0f%%", 100.0 * gflop / (ms * 1e-3) / b->peak_gflops);
    if (ms_alt > 0) snprintf(alt, sizeof alt, "%.2f", ms_alt);
    printf("%-28s %10.2f %10s %10s %9s %8s %7s %9s %9s %8s\n", name, ms, alt, t, r, gf, pk, c, tc, rc);
}

/* ---- single ops (shapes match op_benches() in scripts/bench_engine.py) ---- */

typedef enum { OP_CONV, OP_CONVT, OP_GN, OP_SILU, OP_ATTN, OP_UP, OP_POOL } op_kind;

typedef struct {
    const char *name;
    op_kind kind;
    int cin, cout, k, px, stride;
} op_spec;

static const op_spec k_ops[] = {
    {"conv3x3_32_256px", OP_CONV, 32, 32, 3, 256, 1},
    {"conv3x3_64_256px", OP_CONV, 64, 64, 3, 256, 1},
    {"conv3x3_128_128px", OP_CONV, 128, 128, 3, 128, 1},
    {"conv3x3_256_64px", OP_CONV, 256, 256, 3, 64, 1},
    {"conv3x3_256_32px", OP_CONV, 256, 256, 3, 32, 1},
    {"conv3x3_64_32px", OP_CONV, 64, 64, 3, 32, 1},
    {"conv3x3s2_128_128px", OP_CONV, 128, 128, 3, 128, 2},
    {"conv1x1_256_64px", OP_CONV, 256, 256, 1, 64, 1},
    {"convT4x4s2_128_64px", OP_CONVT, 128, 64, 4, 64, 2},
    {"groupnorm32_128_128px", OP_GN, 128, 128, 0, 128, 1},
    {"silu_128_128px", OP_SILU, 128, 128, 0, 128, 1},
    {"attention_128_16px", OP_ATTN, 128, 128, 0, 16, 1},
    {"attention_64_32px", OP_ATTN, 64, 64, 0, 32, 1},
    {"upsample_bilinear_64_128px", OP_UP, 64, 64, 0, 128, 1},
    {"maxpool2_64_256px", OP_POOL, 64, 64, 0, 256, 1},
};

typedef struct {
    const op_spec *s;
    const ae_backend *be;
    ae_conv2d_desc cd;
    ae_convT2d_desc td;
    ae_attn_block attn;
    ae_arena *A;
    ae_tensor x, y;
    float *w, *bias, *ws;
    size_t wsb;
} op_ctx;

static ae_status op_run(void *p) {
    op_ctx *c = p;
    const ae_backend *be = c->be;
    ae_pool_desc pool = {AE_POOL_MAX, 2, 2, 2, 2, 0, 0};
    switch (c->s->kind) {
    case OP_CONV: return be->conv2d(be, &c->cd, &c->x, c->w, c->bias, &c->y, c->ws, c->wsb);
    case OP_CONVT: return be->conv_transpose2d(be, &c->td, &c->x, c->w, c->bias, &c->y, c->ws, c->wsb);
    case OP_GN: return be->groupnorm(be, &c->x, 32, c->w, c->bias, 1e-5f, &c->y);
    case OP_SILU: return be->activation(be, AE_ACT_SILU, 0.0f, &c->x, &c->y);
    case OP_UP: return be->upsample(be, AE_UPSAMPLE_BILINEAR, &c->x, &c->y);
    case OP_POOL: return be->pool(be, &pool, &c->x, &c->y);
    case OP_ATTN:
        ae_arena_reset(c->A);
        return ae_attn_block_forward(be, c->A, &c->attn, &c->x, &c->y);
    }
    return AE_ERR_ARG;
}

static float *rand_floats(size_t n, float scale) {
    float *p = malloc((n ? n : 1) * sizeof(float));
    unsigned s = 1234567u;
    for (size_t i = 0; p && i < n; i++) {
        s = s * 1664525u + 1013904223u;
        p[i] = ((float)(s >> 8) / 16777216.0f - 0.5f) * scale;
    }
    return p;
}

/* Shapes, weights and workspace for one op; returns the op's GFLOP (0: not a GEMM op). */
static double op_setup(op_ctx *c, const op_spec *s) {
    int px = s->px, oh = px, ow = px;
    double gflop = 0;
    c->s = s;
    c->be = ae_backend_cpu();
    c->x = ae_tensor_make(rand_floats((size_t)s->cin * px * px, 2.0f), 1, s->cin, px, px);
    size_t wn = (size_t)s->cout * s->cin * (s->k ? s->k * s->k : 1);
    if (s->kind == OP_ATTN) wn = (size_t)4 * s->cin * s->cin;
    c->w = rand_floats(wn, 0.1f);
    c->bias = rand_floats((size_t)s->cout > wn ? (size_t)s->cout : wn, 0.1f);
    if (s->kind == OP_CONV) {
        c->cd = (ae_conv2d_desc){s->cin, s->cout, s->k, s->k, s->stride, s->stride, s->k / 2, s->k / 2, 1, 1, 1};
        ae_conv2d_out_hw(&c->cd, px, px, &oh, &ow);
        gflop = 2e-9 * s->cout * (double)oh * ow * s->cin * s->k * s->k;
    } else if (s->kind == OP_CONVT) {
        c->td = (ae_convT2d_desc){s->cin, s->cout, s->k, s->k, 2, 2, 1, 1, 0, 0, 1, 1, 1};
        ae_convT2d_out_hw(&c->td, px, px, &oh, &ow);
        gflop = 2e-9 * s->cin * (double)s->cout * s->k * s->k * px * px;
    } else if (s->kind == OP_UP) {
        oh = ow = 2 * px;
    } else if (s->kind == OP_POOL) {
        oh = ow = px / 2;
    } else if (s->kind == OP_ATTN) {
        int C = s->cin;
        double P = (double)px * px;
        c->attn.c = C;
        c->attn.norm = (ae_gn){c->bias, c->bias, C, 32, 1e-5f, 0};
        c->attn.qkv = (ae_conv){c->w, NULL, {C, 3 * C, 1, 1, 1, 1, 0, 0, 1, 1, 1}};
        c->attn.out = (ae_conv){c->w + (size_t)3 * C * C, c->bias, {C, C, 1, 1, 1, 1, 0, 0, 1, 1, 1}};
        c->attn.d = (ae_attn_desc){1, C, 1.0f / sqrtf((float)C), 0, C, 2 * C, 3 * C};
        gflop = 1e-9 * (8.0 * C * C * P + 4.0 * P * P * C);
    }
    c->y = ae_tensor_make(malloc((size_t)s->cout * oh * ow * sizeof(float)), 1, s->cout, oh, ow);
    return gflop;
}

static ae_status op_prepare_ws(op_ctx *c) {
    free(c->ws);
    c->ws = NULL;
    c->wsb = 0;
    if (c->s->kind == OP_CONV) c->wsb = c->be->conv2d_ws(c->be, &c->cd, &c->x);
    if (c->s->kind == OP_CONVT) c->wsb = c->be->conv_transpose2d_ws(c->be, &c->td, &c->x);
    if (c->wsb && !(c->ws = malloc(c->wsb))) return ae_error_set(AE_ERR_NOMEM, "bench workspace");
    if (c->s->kind != OP_ATTN || c->A) return AE_OK;
    ae_status st = ae_arena_create(&c->A, c->be);
    if (!st) st = ae_attn_block_forward(c->be, c->A, &c->attn, &c->x, &c->y);
    if (!st) st = ae_arena_commit(c->A);
    return st;
}

/* The sgemm strategy AUTO did not pick: with the direct AVX-512 kernel, the
 * one AUTO took before it (implicit sgemm at >= 32 channels, else im2col);
 * without it, the other of implicit sgemm and im2col. */
static int other_strategy(const op_spec *s) {
    if (ae_conv2d_cpu_direct_available()) return s->cin >= 32 ? AE_CONV_IMPLICIT_SGEMM : AE_CONV_IM2COL;
    return s->cin >= 32 ? AE_CONV_IM2COL : AE_CONV_IMPLICIT;
}

static void bench_ops(bench *b) {
    for (size_t i = 0; i < sizeof k_ops / sizeof *k_ops; i++) {
        op_ctx c = {0};
        double gflop = op_setup(&c, &k_ops[i]), ms = -1, ms_impl = -1, cpu = -1;
        if (c.x.data && c.y.data && c.w && c.bias && op_prepare_ws(&c) == AE_OK) {
            ms = time_ms2(op_run, &c, b->reps, &cpu);
            if (k_ops[i].kind == OP_CONV && k_ops[i].stride == 1 && k_ops[i].k > 1) {
                ae_conv2d_cpu_set_strategy(other_strategy(&k_ops[i]));
                if (op_prepare_ws(&c) == AE_OK) ms_impl = time_ms(op_run, &c, b->reps);
                ae_conv2d_cpu_set_strategy(AE_CONV_AUTO);
            }
        }
        char label[80];
        snprintf(label, sizeof label, "op:%s", k_ops[i].name);
        if (ms < 0)
            printf("  %s failed: %s\n", k_ops[i].name, ae_error_message());
        else
            eng_record(b, k_ops[i].name, label, ms, cpu, ms_impl, gflop, NULL);
        ae_arena_free(c.A);
        free(c.x.data), free(c.y.data), free(c.w), free(c.bias), free(c.ws);
    }
}

/* ---- networks --------------------------------------------------------------- */

typedef struct {
    const ae_backend *be;
    ae_arena *A;
    int is_unet;
    const void *net;
    ae_tensor x;
    const float *x_host, *gamma;
    ae_tensor y;
    bench_stats stats;
} net_ctx;

static ae_status net_run(void *p) {
    net_ctx *c = p;
    ae_arena_reset(c->A);
    ae_status st = ae_arena_tensor(c->A, &c->x, c->x.n, c->x.c, c->x.h, c->x.w);
    if (!st) st = ae_nn_upload(c->be, c->A, &c->x, c->x_host);
    if (st) return st;
    if (c->is_unet) return bench_unet_forward(c->be, c->A, c->net, &c->x, &c->y, &c->stats);
    return bench_sr3_forward(c->be, c->A, c->net, &c->x, c->gamma, &c->y, &c->stats);
}

static void bench_net(bench *b, ae_weights *W, int is_unet) {
    const char *name = is_unet ? "unet" : "sr3", *label = is_unet ? "net:unet" : "net:sr3";
    char key[64];
    net_ctx c = {0};
    void *net = NULL;
    ae_tensor in, ref;
    int64_t sh[4] = {-1, -1, -1, -1}, sg[1] = {-1};
    snprintf(key, sizeof key, "%s.input", name);
    ae_status st = ae_weights_get(W, key, 4, sh, &c.x_host);
    in = ae_tensor_make(NULL, (int)sh[0], (int)sh[1], (int)sh[2], (int)sh[3]);
    snprintf(key, sizeof key, "%s.output", name);
    int64_t so[4] = {-1, -1, -1, -1};
    const float *ref_data = NULL;
    if (!st) st = ae_weights_get(W, key, 4, so, &ref_data);
    ref = ae_tensor_make((float *)ref_data, (int)so[0], (int)so[1], (int)so[2], (int)so[3]);
    if (!st && !is_unet) st = ae_weights_get(W, "sr3.gamma", 1, sg, &c.gamma);
    if (!st) st = is_unet ? bench_unet_load((bench_unet **)&net, W) : bench_sr3_load((bench_sr3 **)&net, W);
    if (!st) st = ae_arena_create(&c.A, ae_backend_cpu());
    c.be = ae_backend_cpu();
    c.is_unet = is_unet;
    c.net = net;
    c.x = in;
    if (!st) st = net_run(&c); /* planning pass: peak, FLOPs, largest layer */
    if (!st) st = ae_arena_commit(c.A);
    double cpu = -1, ms = st ? -1.0 : time_ms2(net_run, &c, b->net_reps, &cpu);
    if (st || ms < 0) {
        printf("  %s failed: %s\n", label, ae_error_message());
    } else {
        char what[64], note[512];
        snprintf(what, sizeof what, "%s %dx%d", label, in.h, in.w);
        double maxerr = 0;
        for (size_t i = 0; i < ae_tensor_numel(&ref); i++) {
            double e = fabs((double)c.y.data[i] - ref.data[i]);
            maxerr = e > maxerr ? e : maxerr;
        }
        snprintf(note, sizeof note, "    %.2f GFLOP; output vs PyTorch: max abs err %.2g\n    arena peak "
                 "%.1f MiB (live tensors+scratch at most %.1f MiB), largest layer in+out %.1f MiB: "
                 "peak/largest %.2f\n", c.stats.flops * 1e-9, maxerr, ae_arena_peak_bytes(c.A) / 1048576.0,
                 ae_arena_peak_live_bytes(c.A) / 1048576.0, c.stats.max_layer_bytes / 1048576.0,
                 (double)ae_arena_peak_bytes(c.A) / (double)c.stats.max_layer_bytes);
        eng_record(b, what, label, ms, cpu, -1.0, c.stats.flops * 1e-9, note);
    }
    ae_arena_free(c.A);
    if (is_unet) bench_unet_free(net); else bench_sr3_free(net);
}

/* ---- the shipped upscaling networks ------------------------------------------ */

/* models/fast_x<s>.safetensors loaded as the upscale stage loads it (arch=rdn:
 * ae_rdn_load, else ae_srfast_load) and run by its model code. */
typedef struct {
    const ae_backend *be;
    ae_arena *A;
    ae_weights *W;
    ae_srfast fast;
    ae_rdn *rdn;
    int scale;
    ae_tensor x, y;
    const float *x_host;
    float *y_host;
} fast_ctx;

static ae_status fast_run(void *p) {
    fast_ctx *c = p;
    ae_arena_reset(c->A);
    ae_status st = ae_arena_tensor(c->A, &c->x, 1, 1, c->x.h, c->x.w);
    if (!st) st = ae_arena_tensor(c->A, &c->y, 1, 1, c->x.h * c->scale, c->x.w * c->scale);
    if (!st) st = ae_nn_upload(c->be, c->A, &c->x, c->x_host);
    if (!st) st = c->rdn ? ae_rdn_forward(c->rdn, c->be, c->A, &c->x, &c->y)
                         : ae_srfast_forward(&c->fast, c->be, c->A, &c->x, &c->y);
    if (!st && !ae_arena_planning(c->A)) st = ae_nn_download(c->be, c->A, &c->y, c->y_host);
    return st;
}

static double conv_gflop(const ae_conv *c, int h, int w) {
    return 2e-9 * c->d.cout * (double)h * w * (c->d.cin / c->d.groups) * c->d.kh * c->d.kw;
}

/* Multiply-adds x 2 of the convolutions on an h x w input. */
static double fast_gflop(const fast_ctx *c, int h, int w) {
    double g = 0;
    if (c->rdn) {
        const ae_rdn *m = c->rdn;
        g = conv_gflop(&m->sfe1, h, w) + conv_gflop(&m->sfe2, h, w) + conv_gflop(&m->gff[0], h, w) +
            conv_gflop(&m->gff[1], h, w) + conv_gflop(&m->sr, h * m->scale, w * m->scale);
        for (int i = 0; i < 3; i++) g += conv_gflop(&m->upn[i], h, w);
        for (int d = 0; d < m->D; d++) {
            g += conv_gflop(&m->lff[d], h, w);
            for (int k = 0; k < m->C; k++) g += conv_gflop(&m->dense[d][k], h, w);
        }
        return g;
    }
    const ae_srfast *m = &c->fast;
    g = conv_gflop(&m->head, h, w) + conv_gflop(&m->body_end, h, w) + conv_gflop(&m->tail, h * m->scale, w * m->scale);
    for (int i = 0; i < m->n_blocks; i++) g += conv_gflop(&m->body[i][0], h, w) + conv_gflop(&m->body[i][1], h, w);
    for (int i = 0; i < (m->scale == 4 ? 2 : 1); i++) g += conv_gflop(&m->up[i], h << i, w << i);
    return g;
}

/* Opens models/fast_x<s>, checks it is the arch PyTorch ran (bench file
 * metadata fast_x<s>.arch), loads it; *arch names it. */
static ae_status fast_load(fast_ctx *c, const bench *b, ae_weights *BW, int s, const char **arch) {
    char path[512], key[64];
    snprintf(path, sizeof path, "%s/fast_x%d.safetensors", b->models, s);
    snprintf(key, sizeof key, "fast_x%d.arch", s);
    ae_status st = ae_weights_open(&c->W, path);
    if (st) return st;
    *arch = ae_rdn_is(c->W) ? "rdn" : "srfast";
    const char *torch_arch = ae_weights_meta(BW, key);
    if (!torch_arch || strcmp(torch_arch, *arch))
        return ae_error_set(AE_ERR_FORMAT, "%s is arch %s, PyTorch ran %s (file changed during the run?)", path,
                            *arch, torch_arch ? torch_arch : "nothing");
    if (ae_rdn_is(c->W)) {
        if (!(c->rdn = ae_malloc(sizeof *c->rdn, "rdn model"))) return AE_ERR_NOMEM;
        st = ae_rdn_load(c->rdn, c->W);
        c->scale = c->rdn->scale;
    } else {
        st = ae_srfast_load(&c->fast, c->W);
        c->scale = c->fast.scale;
    }
    if (!st && c->scale != s) st = ae_error_set(AE_ERR_FORMAT, "%s: metadata scale %d", path, c->scale);
    return st;
}

static void bench_fast(bench *b, ae_weights *W, int s) {
    char label[64], key[64];
    fast_ctx c = {.be = ae_backend_cpu()};
    const char *arch = "?";
    const float *ref = NULL;
    int64_t sx[4] = {1, 1, -1, -1}, sy[4] = {1, 1, -1, -1};
    snprintf(label, sizeof label, "net:fast_x%d", s);
    snprintf(key, sizeof key, "fast_x%d.input", s);
    ae_status st = ae_weights_get(W, key, 4, sx, &c.x_host);
    snprintf(key, sizeof key, "fast_x%d.output", s);
    if (!st) st = ae_weights_get(W, key, 4, sy, &ref);
    c.x = ae_tensor_make(NULL, 1, 1, (int)sx[2], (int)sx[3]);
    if (!st) st = fast_load(&c, b, W, s, &arch);
    if (!st && (sy[2] != sx[2] * s || sy[3] != sx[3] * s))
        st = ae_error_set(AE_ERR_SHAPE, "%s: PyTorch's output is not %d x the input", label, s);
    if (!st && !(c.y_host = malloc((size_t)sy[2] * sy[3] * sizeof(float)))) st = AE_ERR_NOMEM;
    if (!st) st = ae_arena_create(&c.A, c.be);
    if (!st) st = fast_run(&c); /* planning pass */
    if (!st) st = ae_arena_commit(c.A);
    double cpu = -1, ms = st ? -1.0 : time_ms2(fast_run, &c, b->net_reps, &cpu);
    if (st || ms < 0) {
        printf("  %s skipped: %s\n", label, ae_error_message());
    } else {
        char what[80], note[512];
        double maxerr = 0, mp = (double)sy[2] * sy[3] * 1e-6;
        for (size_t i = 0; i < (size_t)(sy[2] * sy[3]); i++) {
            double e = fabs((double)c.y_host[i] - ref[i]);
            maxerr = e > maxerr ? e : maxerr;
        }
        snprintf(what, sizeof what, "fast_x%d %s %dx%d", s, arch, c.x.h, c.x.w);
        snprintf(note, sizeof note, "    %s/fast_x%d.safetensors (arch %s), %dx%d -> %dx%d; output vs PyTorch: max abs "
                 "err %.2g (network units, [-1,1])\n", b->models, s, arch, c.x.h, c.x.w, (int)sy[2], (int)sy[3], maxerr);
        eng_row *r = eng_record(b, what, label, ms, cpu, -1.0, fast_gflop(&c, c.x.h, c.x.w), note);
        if (r) r->out_mp = mp;
    }
    ae_arena_free(c.A);
    free(c.y_host);
    free(c.rdn);
    ae_weights_close(c.W);
}

/* The per-megapixel line of a shipped network's row. */
static void print_per_mp(const eng_row *r, double torch, double torch_cpu) {
    char t[96] = "PyTorch -", ratio[96] = "-";
    if (torch > 0 && torch_cpu > 0)
        snprintf(t, sizeof t, "PyTorch %.0f ms/MP (cpu %.0f)", torch / r->out_mp, torch_cpu / r->out_mp);
    if (torch_cpu > 0 && r->cpu_ms > 0)
        snprintf(ratio, sizeof ratio, "%.2fx (wall %.2fx)", torch_cpu / r->cpu_ms, torch / r->ms);
    printf("    per output megapixel (%.3f MP): engine %.0f ms/MP (cpu %.0f), %s; PyTorch/engine cpu %s\n",
           r->out_mp, r->ms / r->out_mp, r->cpu_ms / r->out_mp, t, ratio);
}

static const char k_usage[] =
    "usage: astroenh bench [--threads N] [--rounds N] [--reps N] [--net-reps N] [--no-torch]\n"
    "                      [--no-ops] [--python PY] [--weights FILE] [--sgemm N]\n"
    "                      [--models DIR] [--fast-px N]\n"
    "Times the engine's ops and two networks (a U-Net at 256x256, one SR3-like\n"
    "denoising step at 128x128) against PyTorch on the CPU with the same threads,\n"
    "and the shipped upscaling networks DIR/fast_x2 and fast_x4.safetensors\n"
    "(default DIR models; arch srfast or rdn, loaded as `astroenh upscale\n"
    "--model fast` loads them) on one fixed N x N plane (default 128): rows\n"
    "'fast_x<s> <arch> NxN', each with its output checked against PyTorch's and\n"
    "a line of ms per output megapixel on both sides (wall, and process CPU\n"
    "time over all threads) and the ratio PyTorch/engine (> 1 = faster).\n"
    "PyTorch and the engine take turns for --rounds rounds (default 3); each figure\n"
    "is the best of all its runs, so both sides sample the machine's load alike.\n"
    "Run from the repository root (scripts/bench_engine.py, build/).\n";

static int parse_args(bench *b, int argc, char **argv, int *no_ops) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        /* --name=value: the value after '=', no further entry */
        char name[32];
        const char *eq = strchr(a, '=');
        int next = 1;
        if (eq && (size_t)(eq - a) < sizeof name) {
            snprintf(name, sizeof name, "%.*s", (int)(eq - a), a);
            a = name, v = eq + 1, next = 0;
        }
        if (next && !strcmp(a, "--no-torch")) b->torch = 0;
        else if (next && !strcmp(a, "--no-ops")) *no_ops = 1;
        else if (next && (!strcmp(a, "--help") || !strcmp(a, "-h"))) return fputs(k_usage, stdout), 1;
        else if (v && !strcmp(a, "--threads")) b->threads = atoi(v), i += next;
        else if (v && !strcmp(a, "--reps")) b->reps = atoi(v), i += next;
        else if (v && !strcmp(a, "--rounds")) b->rounds = atoi(v), i += next;
        else if (v && !strcmp(a, "--net-reps")) b->net_reps = atoi(v), i += next;
        else if (v && !strcmp(a, "--sgemm")) b->sgemm_n = atoi(v), i += next;
        else if (v && !strcmp(a, "--python")) b->python = v, i += next;
        else if (v && !strcmp(a, "--weights")) b->weights = v, i += next;
        else if (v && !strcmp(a, "--models")) b->models = v, i += next;
        else if (v && !strcmp(a, "--fast-px")) b->fast_px = atoi(v), i += next;
        else return fprintf(stderr, "astroenh bench: bad option '%s'\n%s", argv[i], k_usage), 2;
    }
    if (b->threads < 0 || b->reps < 1 || b->net_reps < 1 || b->sgemm_n < 64 || b->rounds < 1 ||
        b->fast_px < 8 || b->fast_px > 2048)
        return fprintf(stderr, "astroenh bench: invalid numeric option\n"), 2;
    return 0;
}

int ae_cmd_bench(int argc, char **argv) {
    static bench b;
    int no_ops = 0;
    const char *py = getenv("PYTHON");
    b = (bench){.threads = 0, .reps = 3, .net_reps = 2, .torch = 1, .sgemm_n = 2048, .rounds = 3,
                .python = py && *py ? py : "/usr/bin/python3", .weights = "build/bench_engine.safetensors",
                .models = "models", .fast_px = 128};
    int rc = parse_args(&b, argc, argv, &no_ops);
    if (rc) return rc == 1 ? 0 : rc;
    b.threads = ae_backend_set_threads(b.threads, NULL);
    const char *wp = getenv("OMP_WAIT_POLICY");
    printf("astroenh engine benchmark: %d threads, OMP_WAIT_POLICY=%s (PyTorch inherits it), best of "
           "%d runs (networks: %d)\n", b.threads, wp ? wp : "(unset)", b.reps, b.net_reps);
    ae_weights *W = NULL;
    for (int r = 0; r < b.rounds; r++) {
        printf("round %d/%d\n", r + 1, b.rounds);
        fflush(stdout);
        if (b.torch) run_python(&b, r == 0, no_ops);
        measure_peak(&b);
        if (!no_ops) bench_ops(&b);
        if (!W && ae_weights_open(&W, b.weights) != AE_OK) {
            printf("  networks skipped: %s (written by scripts/bench_engine.py)\n", ae_error_message());
            continue;
        }
        bench_net(&b, W, 1);
        bench_net(&b, W, 0);
        bench_fast(&b, W, 2);
        bench_fast(&b, W, 4);
    }
    ae_weights_close(W);
    printf("\nsgemm peak (best OpenBLAS %dx%dx%d with %d threads): %.1f GFLOP/s\n", b.sgemm_n, b.sgemm_n,
           b.sgemm_n, b.threads, b.peak_gflops);
    printf("conv strategy: %s; 'other': %s\n",
           ae_conv2d_cpu_direct_available() ? "direct AVX-512 (AVX2: cin x taps <= 576) kernel for stride-1 convs"
                                            : "implicit GEMM (>= 32 input channels) or im2col",
           ae_conv2d_cpu_direct_available() ? "sgemm per tap (>= 32 input channels) or im2col"
                                            : "the other of implicit GEMM and im2col");
    printf("speedup = torch ms / engine ms; GFLOP/s and %%peak for engine ms\n");
    printf("cpu: best process CPU ms (all threads; time preempted by other processes not counted),\n"
           "cpu speedup = torch cpu / engine cpu (at 1 thread the preemption-free speed ratio)\n");
    printf("%-28s %10s %10s %10s %9s %8s %7s %9s %9s %8s\n", "op", "engine ms", "other ms", "torch ms",
           "speedup", "GFLOP/s", "%peak", "eng cpu", "torch cpu", "cpu spd");
    for (int i = 0; i < b.n_rows; i++) {
        const eng_row *r = &b.rows[i];
        print_row(&b, r->name, r->ms, r->alt_ms, torch_ms(&b, r->torch_label, 0), r->gflop, r->cpu_ms,
                  torch_ms(&b, r->torch_label, 1));
        if (r->note[0]) fputs(r->note, stdout);
        if (r->out_mp > 0) print_per_mp(r, torch_ms(&b, r->torch_label, 0), torch_ms(&b, r->torch_label, 1));
    }
    return 0;
}
