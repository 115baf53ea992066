/* options.c - the options every file command shares (input/output and
 * global), declared as tables for the one parser (src/pipeline/options.h),
 * and their help, printed from the same tables.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"

#define OFF(field) offsetof(cli_opts, field)

static int parse_format(void *p, const char *v) {
    if (!ae_format_ext(v)) return ae_error_set(AE_ERR_ARG, "bad value '%s' for --format (fits, png or jpg)", v), -1;
    ((cli_opts *)p)->format = v;
    return 0;
}

static int parse_shard(void *p, const char *v) {
    cli_opts *o = p;
    return cli_parse_shard(v, &o->shard_index, &o->shard_count);
}

static int parse_seed(void *p, const char *v) {
    char *end;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    if (errno || end == v || *end || v[0] == '-')
        return ae_error_set(AE_ERR_ARG, "bad value '%s' for --seed (a non-negative integer)", v), -1;
    ((cli_opts *)p)->g.seed = x;
    return 0;
}

static int parse_device(void *p, const char *v) {
    if (strcmp(v, "auto") && strcmp(v, "cpu") && strcmp(v, "cuda"))
        return ae_error_set(AE_ERR_ARG, "bad value '%s' for --device (auto, cpu or cuda)", v), -1;
    ((cli_opts *)p)->g.device = v;
    return 0;
}

static const ae_opt_choice k_stretches[] = {{"linear", AE_STRETCH_LINEAR}, {"asinh", AE_STRETCH_ASINH},
                                            {"auto", AE_STRETCH_MTF},      {"mtf", AE_STRETCH_MTF},
                                            {"none", AE_STRETCH_NONE},     {NULL, 0}};

static const ae_opt_choice k_precisions[] = {{"fp32", 0}, {"fp16", 1}, {NULL, 0}};

static const ae_opt k_io_options[] = {
    {.name = "--output", .alias = "-o", .kind = AE_OPT_PATH, .off = OFF(out), .arg = "OUT",
     .help = "output file; a directory when there are several inputs or a directory input (created if needed; "
             "relative paths kept)"},
    {.name = "--recursive", .alias = "-r", .kind = AE_OPT_FLAG, .off = OFF(recursive), .flag_value = 1,
     .help = "descend into subdirectories of directory inputs"},
    {.name = "--format", .kind = AE_OPT_FUNC, .parse = parse_format, .arg = "fits|png|jpg",
     .help = "output format in directory mode (replaces the extension)"},
    {.name = "--skip-existing", .kind = AE_OPT_FLAG, .off = OFF(skip_existing), .flag_value = 1,
     .help = "leave files whose output exists (status \"skipped\")"},
    {.name = "--jobs", .alias = "-j", .kind = AE_OPT_INT, .off = OFF(jobs), .lo = 1, .hi = 64, .arg = "N",
     .help = "process N files at once"},
    {.name = "--wait-lock", .kind = AE_OPT_FLAG, .off = OFF(wait_lock), .flag_value = 1,
     .help = "wait for another run's lock on the output directory"},
    {.name = "--shard", .kind = AE_OPT_FUNC, .parse = parse_shard, .arg = "I/N|auto",
     .help = "only the files of shard I (0..N-1) of N, split by a hash of their relative path; auto: the Slurm "
             "array task's (SLURM_ARRAY_TASK_ID/_MIN/_COUNT); see 'astroenh slurm'"},
    {.name = "--stretch", .kind = AE_OPT_ENUM, .off = OFF(stretch), .choices = k_stretches,
     .seen = AE_OPT_SEEN(cli_opts, stretch_set), .arg = "linear|asinh|auto|none",
     .help = "stretch of linear (FITS) data written to PNG/JPEG; auto (also: mtf) is the MTF auto-stretch"},
    {.name = NULL}};

static const ae_opt k_global_options[] = {
    {.name = "--device", .kind = AE_OPT_FUNC, .parse = parse_device, .arg = "auto|cpu|cuda", .def = "auto",
     .help = "where the networks run"},
    {.name = "--precision", .kind = AE_OPT_ENUM, .off = OFF(precision), .choices = k_precisions,
     .help = "arithmetic of the CUDA backend (a GPU build with --device cuda or auto): fp32 with TF32, or fp16 "
             "convolutions and GEMMs; the CPU always computes in fp32"},
    {.name = "--threads", .kind = AE_OPT_INT, .off = OFF(g.threads), .lo = 1, .hi = 1024, .arg = "N",
     .def = "all cores; in a Slurm task SLURM_CPUS_PER_TASK", .help = "threads per process"},
    {.name = "--seed", .kind = AE_OPT_FUNC, .parse = parse_seed, .arg = "N", .def = "0",
     .help = "seed of the random choices (SR3 sampling, inpainting texture)"},
    {.name = "--tile", .kind = AE_OPT_INT, .off = OFF(g.tile), .lo = 0, .hi = AE_MAX_DIM, .arg = "N",
     .def = "0: each stage's own", .help = "tile size in pixels for the networks"},
    {.name = "--quiet", .alias = "-q", .kind = AE_OPT_FLAG, .off = OFF(g.quiet), .flag_value = 1,
     .help = "no progress or summary lines"},
    {.name = "--verbose", .alias = "-v", .kind = AE_OPT_FLAG, .off = OFF(g.verbose), .flag_value = 1,
     .help = "more detail on stderr"},
    {.name = "--json", .kind = AE_OPT_FLAG, .off = OFF(json), .flag_value = 1,
     .help = "one JSON object per file on stdout"},
    {.name = "--help", .alias = "-h", .kind = AE_OPT_FLAG, .off = OFF(help), .flag_value = 1,
     .help = "this help"},
    {.name = NULL}};

void cli_opts_init(cli_opts *o, const char *cmd) {
    memset(o, 0, sizeof *o);
    o->cmd = cmd;
    o->g.device = "auto";
    o->jobs = 1;
    o->stretch = AE_STRETCH_MTF;
}

const char *cli_precision_name(const cli_opts *o) { return k_precisions[o->precision ? 1 : 0].name; }

int cli_parse_table(const ae_opt *table, cli_opts *o, int argc, char **argv, int i) {
    ae_error_clear();
    int n = ae_opts_parse(table, o, argc, argv, i, 0);
    if (n < 0) cli_usage_error(o->cmd, "%s", ae_error_message());
    return n;
}

int cli_parse_common(cli_opts *o, int argc, char **argv, int i) {
    int n = cli_parse_table(k_io_options, o, argc, argv, i);
    return n ? n : cli_parse_table(k_global_options, o, argc, argv, i);
}

void cli_print_common_help(void) {
    cli_opts d;
    cli_opts_init(&d, NULL);
    printf("Input and output:\n"
           "  IN...                 files or directories (a directory gives its image files:\n"
           "                        .fits .fit .fts .fz .png .jpg .jpeg, sorted)\n");
    ae_opts_help(stdout, k_io_options, &d);
    printf("Global:\n");
    ae_opts_help(stdout, k_global_options, &d);
}
