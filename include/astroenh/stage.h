/* stage.h - how a processing stage plugs into the CLI and the batch runner.
 *
 * The CLI knows stages only through this table, so a stage lives entirely in
 * its own folder (src/denoise/, src/colorize/, src/upscale/) plus one line in
 * the CLI's table, src/cli/stages.c.
 *
 * Per file, the batch runner loads the input, calls run(), and writes *out
 * to a temporary file beside the target and renames it. Side outputs (masks,
 * catalogues, confidence maps) are written by the stage through
 * ae_output_write_*() below, which are atomic in the same way.
 */
#ifndef ASTROENH_STAGE_H
#define ASTROENH_STAGE_H

#include <stdio.h>
#include "astroenh/image.h"

/* Settings every stage sees (global CLI options). */
typedef struct {
    const char *device;   /* "auto" | "cpu" | "cuda" */
    int threads;          /* the count ae_backend_set_threads applied (0: not applied) */
    int verbose, quiet;
    unsigned long long seed;
    int tile;             /* 0 = choose from the memory budget */
} ae_global_opts;

/* What a stage tells the runner about one file, for the --json line and the
 * HISTORY card. Stages append `"key": value` pairs to json (no braces). */
typedef struct {
    char json[1024];      /* extra JSON members, comma-separated, may be empty */
    char history[512];    /* parameters for HISTORY, e.g. "method=all sigma_r=0.05" */
    char model_path[512]; /* model file used, for its SHA-256 in HISTORY; "" if none */
} ae_result;

/* Append a formatted member to res->json (adds the comma). */
void ae_result_json(ae_result *res, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

typedef struct {
    const char *in_path;   /* the input file */
    const char *out_path;  /* the final output path (side files derive from it) */
    const ae_global_opts *g;
} ae_stage_ctx;

typedef struct ae_stage_def {
    const char *name;        /* "denoise", "colorize", "upscale" */
    const char *summary;     /* one line for --help */
    /* The stage's options (src/pipeline/options.h), read by the one parser
     * and printed by `astroenh NAME --help`; opts_init sets the defaults. */
    const struct ae_opt *options;
    size_t opts_size;
    void (*opts_init)(void *opts);
    /* Check options once all are parsed and load models (called once per
     * process, before any file); may be NULL. `state` is stage-owned. */
    ae_status (*prepare)(void *opts, const ae_global_opts *g, void **state);
    /* Process one image. Must not modify `in`. On error, *out stays NULL. */
    ae_status (*run)(void *state, const void *opts, const ae_image *in, ae_image **out,
                     const ae_stage_ctx *ctx, ae_result *res);
    void (*release)(void *state);
} ae_stage_def;

/* The stages the CLI offers (NULL-terminated), defined by src/cli/stages.c. */
extern const ae_stage_def *const ae_stages[];
const ae_stage_def *ae_stage_find(const char *name);

/* Parses the stage option at argv[i] into opts (by def->options): the argv
 * entries used (1 or 2), 0 if not one of the stage's, -1 (message set,
 * AE_ERR_ARG) on a missing or bad value. */
int ae_stage_parse_opt(const ae_stage_def *def, void *opts, int argc, char **argv, int i);

/* Atomic side-output writers: write to a temp file in the same directory and
 * rename over `path`. Never overwrite `protect` (the input path) if given. */
ae_status ae_output_write_image(const ae_image *img, const char *path, const char *protect);
ae_status ae_output_write_text(const char *text, size_t len, const char *path, const char *protect);

#endif
