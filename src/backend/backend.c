/* backend.c - picks a backend by name and sets the thread counts.
 *
 * CUDA hook: builds with AE_HAVE_CUDA link src/backend/cuda.c, which defines
 * ae_backend_cuda_create(); it is called once, on the first request for
 * "cuda" or "auto", and the table lives until exit. Without AE_HAVE_CUDA,
 * "cuda" is AE_ERR_UNAVAILABLE and "auto" is the CPU.
 */
#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "astroenh/backend.h"
#include "../nn/cpu_ops.h"

static int g_quiet;

void ae_backend_set_quiet(int quiet) { g_quiet = quiet; }

static const char *g_precision = "fp32";

ae_status ae_backend_set_precision(const char *name) {
    if (!name || (strcmp(name, "fp32") && strcmp(name, "fp16")))
        return ae_error_set(AE_ERR_ARG, "precision '%s': expected fp32 or fp16", name ? name : "");
    g_precision = !strcmp(name, "fp16") ? "fp16" : "fp32";
    return AE_OK;
}

const char *ae_backend_precision(void) { return g_precision; }

static const char *const g_op_names[AE_OP_COUNT] = {
    "conv2d", "conv_transpose2d", "linear", "batchnorm", "groupnorm", "instancenorm",
    "activation", "add", "mul", "scale_shift", "concat", "upsample", "pool", "pixel_shuffle",
    "attention", "noise_embed", "copy",
};

const char *ae_op_name(ae_op op) { return op >= 0 && op < AE_OP_COUNT ? g_op_names[op] : "?"; }

#ifdef AE_HAVE_CUDA
static ae_status cuda_get(const ae_backend **out) {
    static ae_backend *be;
    static ae_status st = AE_OK;
    static char msg[512];
    static int tried;
#pragma omp critical(ae_backend_cuda)
    if (!tried) {
        tried = 1;
        st = ae_backend_cuda_create(&be);
        if (st) strncpy(msg, ae_error_message(), sizeof msg - 1);
    }
    if (st) return ae_error_set(st, "%s", msg);
    *out = be;
    return AE_OK;
}

/* --device auto in a CUDA build without a usable GPU: say once why. */
static void auto_notice(const char *why) {
    static int said;
    int first;
    if (g_quiet) return;
#pragma omp critical(ae_backend_notice)
    {
        first = !said;
        said = 1;
    }
    if (first) fprintf(stderr, "astroenh: --device auto: running on the CPU: %s\n", why);
}
#else
static ae_status cuda_get(const ae_backend **out) {
    (void)out;
    return ae_error_set(AE_ERR_UNAVAILABLE, "CUDA backend not built");
}
#endif

ae_status ae_backend_get(const char *name, const ae_backend **out) {
    if (!name || !out) return ae_error_set(AE_ERR_ARG, "backend: no name given");
    if (!strcmp(name, "cpu")) {
        *out = ae_backend_cpu();
        return AE_OK;
    }
    if (!strcmp(name, "cuda")) return cuda_get(out);
    if (!strcmp(name, "auto")) {
        if (cuda_get(out) == AE_OK) return AE_OK;
#ifdef AE_HAVE_CUDA
        auto_notice(ae_error_message());
#endif
        ae_error_clear();
        *out = ae_backend_cpu();
        return AE_OK;
    }
    return ae_error_set(AE_ERR_ARG, "unknown device '%s' (expected cpu, cuda or auto)", name);
}

/* OpenMP's own default (OMP_NUM_THREADS, else all cores), read before the
 * first omp_set_num_threads changes what omp_get_max_threads() says. */
static int openmp_default(void) {
    static int initial;
    if (!initial) initial = omp_get_max_threads();
    return initial;
}

/* SLURM_CPUS_PER_TASK as a count, or 0 when unset or not one. */
static int slurm_cpus(void) {
    const char *v = getenv("SLURM_CPUS_PER_TASK");
    char *end;
    long n = v ? strtol(v, &end, 10) : 0;
    return v && end != v && !*end && n >= 1 && n <= 1024 ? (int)n : 0;
}

int ae_backend_set_threads(int threads, const char **source) {
    const char *from = "--threads";
    int def = openmp_default();
    if (threads <= 0 && (threads = slurm_cpus()) > 0) from = "SLURM_CPUS_PER_TASK";
    if (threads <= 0) {
        threads = def;
        from = "default";
    }
    if (source) *source = from;
    omp_set_num_threads(threads);
    openblas_set_num_threads(1); /* GEMMs run inside our OpenMP threads */
    return threads;
}

void ae_blas_single_thread(void) {
    if (openblas_get_num_threads() != 1) openblas_set_num_threads(1);
}

int ae_backend_threads(void) { return omp_get_max_threads(); }
