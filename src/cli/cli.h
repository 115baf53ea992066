/* cli.h - what the subcommand files of src/cli/ share: the parsed command
 * line and the option helpers. Only src/cli/ prints usage and exits.
 */
#ifndef ASTROENH_CLI_H
#define ASTROENH_CLI_H

#include "astroenh/batch.h"
#include "../pipeline/options.h"

#define CLI_EXIT_OK 0
#define CLI_EXIT_FAILED 1
#define CLI_EXIT_USAGE 2

typedef struct {
    const char *cmd;        /* subcommand name, for messages */
    ae_global_opts g;       /* --device --threads --seed --tile --quiet --verbose */
    int json;
    int jobs;
    int precision;          /* --precision: 0 fp32, 1 fp16 */
    const char *out;        /* -o */
    const char *format;     /* --format */
    int recursive, skip_existing, wait_lock;
    ae_stretch_kind stretch;
    int stretch_set;
    int bit_depth, quality; /* convert */
    const char *stages;     /* run */
    int help;
    int shard_index, shard_count; /* --shard I/N (count 0: every file) */
    char **inputs;          /* positional arguments (pointers into argv) */
    int n_inputs;
} cli_opts;

void cli_opts_init(cli_opts *o, const char *cmd);

/* Parses the global/batch option at argv[i]. Returns the argv entries used,
 * 0 if it is not one of them, -1 after printing a usage error. */
int cli_parse_common(cli_opts *o, int argc, char **argv, int i);

/* The same for an option of `table` (over cli_opts): convert's, run's. */
int cli_parse_table(const ae_opt *table, cli_opts *o, int argc, char **argv, int i);

/* --precision's value as the backend takes it: "fp32" | "fp16". */
const char *cli_precision_name(const cli_opts *o);

/* Prints the help of the common options (from their tables). */
void cli_print_common_help(void);

/* Prints "astroenh: [cmd: ]msg" and the --help hint; returns CLI_EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Applies --quiet to the backends' notices, --precision to the CUDA backend
 * made afterwards and --threads by the thread rule (ae_backend_set_threads:
 * --threads, else SLURM_CPUS_PER_TASK, else OpenMP's default); g.threads is
 * then the count. Once per command. */
void cli_apply_globals(cli_opts *o);

/* Parses the value of --shard: "I/N" (0 <= I < N) or "auto" (the Slurm
 * array task: SLURM_ARRAY_TASK_ID, _MIN, _COUNT, _STEP). 0, or -1 with the
 * message set (AE_ERR_ARG). */
int cli_parse_shard(const char *v, int *index, int *count);

/* With --json and --shard: the lines that frame a shard's per-file lines,
 * {"event": "start", ...} before the first (with the number of its files)
 * and {"event": "end", ...} after the last, so that `slurm-summary` tells a
 * finished shard from a killed one. No-ops otherwise. */
void cli_shard_json_start(const cli_opts *o, int files);
void cli_shard_json_end(const cli_opts *o, int ok, int failed, int skipped, double seconds);

/* Monotonic clock, seconds. */
double cli_now_s(void);

int cli_cmd_info(int argc, char **argv);
int cli_cmd_convert(int argc, char **argv);
int cli_cmd_stage(const char *name, int argc, char **argv);
int cli_cmd_run(int argc, char **argv);
int cli_cmd_slurm(int argc, char **argv);
int cli_cmd_slurm_summary(int argc, char **argv);
/* slurm-summary's work, also run by `slurm --wait`: prints the summary of
 * the logs in `dir` (with `per_file`, every file's line too); returns 0
 * when every file is done, 1 when not, 2 when `dir` holds no shard logs. */
int cli_slurm_summary(const char *dir, int per_file);

#endif
